# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lecture 5: Training and decoding
#
# Lecture 4 built the encoder-decoder Transformer and trained it on the date-normalisation
# task. This lecture looks closely at the two halves of using such a model:
#
# 1. **Training**: cross-entropy per output step with teacher forcing.
# 2. The **train/test mismatch** (exposure bias) and **scheduled sampling**.
# 3. The **copy mechanism** (pointer networks).
# 4. **Guided attention**: a monotonic prior for speech.
# 5. **Decoding**: greedy, **beam search**, **sampling** (temperature, top-k), measured on our model.
# 6. When beam search **hurts**: degenerate repetition in open-ended generation.
# 7. Why we **train on cross-entropy but evaluate with BLEU** (and exact match).
#
# English–中文 glossary: [glossary.md](glossary.md). The original course's video for this
# lecture: Hung-yi Lee, ML 2021, "Transformer (下)", the part on training and decoding (teacher
# forcing, copy mechanism, guided attention, beam search, scheduled sampling)
# ([course page](https://speech.ee.ntu.edu.tw/~hylee/ml/2021-spring.php)).
#
# **Notation** (the course's symbol table, [notation.md](notation.md)). Batch-first tensors: $B$
# batch, $L_s$ / $L_t$ source / target length, $d$ model size, $H$ heads, $\lvert\mathcal{V}\rvert$
# vocabulary size (`|V|` in shape comments), $\mathbf{A}$ attention weights. $x$ is the source, $y_1 \dots y_{L_t}$ the target (the last
# token is EOS), $y_0$ = BOS. Every boolean mask means **True = may attend / is a real position**.

# %%
import copy
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from coursekit.attention_plots import plot_attention
from coursekit.corpus import generate_sentences
from coursekit.seq2seq import (BOS_ID, EOS_ID, PAD_ID, Seq2SeqTransformer, corpus_bleu, exact_match,
                               make_date_task, sequence_loss, teacher_forcing_input, train)

torch.manual_seed(0)
np.random.seed(0)
# One thread: for these small models one thread trained as fast as two or faster on a 2-core
# machine (measured in a notebook), and it avoids the large slow-downs of threads competing for
# the cores with other work.
torch.set_num_threads(1)
plt.rcParams["figure.dpi"] = 100

task = make_date_task(seed=0)
src_vocab, tgt_vocab = task.src_vocab, task.tgt_vocab
print(f"{len(task.train)} training pairs, e.g. {task.train[1]}")

# %% [markdown]
# ## 1. Training: cross-entropy per step, with teacher forcing
#
# The decoder defines $p(y \mid x) = \prod_t p(y_t \mid y_{<t}, x)$, so maximising the
# log-likelihood of the training pairs is minimising a **sum of per-step cross-entropies**:
#
# $$\mathcal{L}(x, y) = -\log p(y \mid x) = -\sum_{t=1}^{L_t} \log p(y_t \mid y_0, \dots, y_{t-1}, x) .$$
#
# Every step is a $\lvert\mathcal{V}\rvert$-way classification whose correct class is the next target token. With
# **teacher forcing** the decoder input is the *correct* prefix at every step, the target shifted
# right (`teacher_forcing_input(tgt)` = `[BOS, y_1, ..., y_{Lt-1}]`), so all $L_t$ steps are
# computed in one parallel pass. Padded positions are excluded from the mean. By hand, on an
# untrained model, against `F.cross_entropy(..., ignore_index=PAD_ID)`:

# %%
CONFIG = dict(d_model=64, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=256,
              dropout=0.0, max_len=64, norm_first=True)       # the model of lecture 4
torch.manual_seed(0)
model = Seq2SeqTransformer(src_vocab, tgt_vocab, **CONFIG)
src, tgt = task.make_batch(task.train[:8])                    # (B, Ls), (B, Lt) tgt ends with EOS, then PAD
tgt_in = teacher_forcing_input(tgt)                           # (B, Lt) [BOS, y_1, ..., y_{Lt-1}]
with torch.no_grad():
    logits = model(src, tgt_in)                               # (B, Lt, |V|) all steps at once
log_probs = logits.log_softmax(-1)                            # (B, Lt, |V|)
token_nll = -log_probs.gather(-1, tgt[..., None])[..., 0]     # (B, Lt) -log p(y_t | y_<t, x)
real = tgt != PAD_ID                                          # (B, Lt) True = real target token
by_hand = token_nll[real].mean()                              # mean over the real tokens
ce_check = (by_hand.item(), sequence_loss(logits, tgt).item())   # (by hand, F.cross_entropy)
print(f"by hand {ce_check[0]:.4f}   F.cross_entropy {ce_check[1]:.4f}   "
      f"(untrained; ln |V| = {math.log(len(tgt_vocab)):.4f})")

# %% [markdown]
# Now the training run of lecture 4 (same configuration, same seed). Every 100 steps a callback
# measures, on 400 validation pairs, the teacher-forced cross-entropy, the exact match and the
# BLEU of greedy decoding (section 7 plots them), and it keeps a copy of the model after 300 steps,
# a half-trained model that section 5 needs.

# %%
@torch.no_grad()
def greedy(model, src, max_len=11, prefix=None):
    """Most probable token at every step.

    src (B, Ls) -> (generated ids (B, <= max_len), their total log-prob (B,)). prefix (B, P):
    optional tokens forced after BOS (a prompt); they are not part of the returned output."""
    model.eval()
    memory = model.encode(src)                                # (B, Ls, d)
    ys = torch.full((src.shape[0], 1), BOS_ID)                # (B, 1)
    if prefix is not None:
        ys = torch.cat([ys, prefix], dim=1)                   # (B, 1 + P)
    start = ys.shape[1]
    total = torch.zeros(src.shape[0])                         # (B,) log p of the output so far
    done = torch.zeros(src.shape[0], dtype=torch.bool)        # (B,)
    for _ in range(max_len):
        logp = model.decode(ys, memory)[:, -1].log_softmax(-1)   # (B, |V|)
        next_token = logp.argmax(-1).masked_fill(done, PAD_ID)   # (B,) PAD after EOS
        total += torch.where(done, 0.0, logp.gather(1, next_token[:, None])[:, 0])
        ys = torch.cat([ys, next_token[:, None]], dim=1)      # (B, t+1)
        done |= next_token == EOS_ID
        if done.all():
            break
    return ys[:, start:], total


def decode_pairs(decoder, model, pairs, chunk=250, **kw):
    """Run a batched decoder over (source, target) pairs, sorted by length (less padding).

    Returns the predicted strings and their total log-probabilities, in the order of `pairs`."""
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]))
    preds, scores = [None] * len(pairs), torch.zeros(len(pairs))
    for start in range(0, len(order), chunk):
        idx = order[start:start + chunk]
        src, _ = task.make_batch([pairs[i] for i in idx])
        ids, total = decoder(model, src, **kw)
        for j, i in enumerate(idx):
            preds[i] = tgt_vocab.decode(ids[j])
        scores[idx] = total
    return preds, scores


valid = task.valid[:400]
valid_refs = [t for _, t in valid]
history = {"step": [], "train_loss": [], "valid_ce": [], "valid_em": [], "valid_bleu": []}
snapshots = {}


def evaluate(step, train_loss):
    with torch.no_grad():
        src, tgt = task.make_batch(valid)
        model.eval()
        ce = sequence_loss(model(src, teacher_forcing_input(tgt)), tgt).item()
    preds, _ = decode_pairs(greedy, model, valid)
    for key, value in zip(history, [step, train_loss, ce, exact_match(preds, valid_refs),
                                    corpus_bleu(preds, valid_refs)]):
        history[key].append(value)
    if step == 300:
        snapshots[300] = copy.deepcopy(model)


TRAIN = dict(steps=800, lr=3e-3, warmup=100, batch_size=64, log_every=100, seed=0)
torch.manual_seed(0)
model = Seq2SeqTransformer(src_vocab, tgt_vocab, **CONFIG)
t0 = time.perf_counter()
losses = train(model, task, callback=evaluate, **TRAIN)
print(f"trained {TRAIN['steps']} steps in {time.perf_counter() - t0:.0f} s (including the evaluations)")

test_refs = [t for _, t in task.test]
greedy_preds, greedy_scores = decode_pairs(greedy, model, task.test)
print(f"test: exact match {exact_match(greedy_preds, test_refs):.1%}, "
      f"character BLEU {corpus_bleu(greedy_preds, test_refs):.1f} (greedy)")

# %% [markdown]
# The per-step losses of one test example under the trained model: most steps are nearly
# certain, and the loss of the sequence is concentrated on a few positions.

# %%
i = max(range(200), key=lambda j: -greedy_scores[j].item())   # the least certain of 200 test outputs
source, target = task.test[i]
src, tgt = task.make_batch([task.test[i]])
with torch.no_grad():
    step_nll = F.cross_entropy(model(src, teacher_forcing_input(tgt))[0], tgt[0], reduction="none")   # (Lt,)
fig, ax = plt.subplots(figsize=(7, 2.8))
ax.bar(range(len(step_nll)), step_nll.numpy())
ax.set_xticks(range(len(step_nll)), tgt_vocab.tokens(tgt[0]))
ax.set(xlabel="target token $y_t$", ylabel="$-\\log p(y_t \\mid y_{<t}, x)$",
       title=f"{source!r} -> {target}: per-step cross-entropy (sum {step_nll.sum():.2f})")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 2. Exposure bias: the train/test mismatch
#
# With teacher forcing the decoder always sees **correct** prefixes. At test time it sees **its
# own** outputs. A model that has never seen a wrong prefix does not know what to do after one:
# this mismatch is called **exposure bias** (Ranzato et al., 2016, "Sequence level training with
# recurrent neural networks", [arXiv:1511.06732](https://arxiv.org/abs/1511.06732)). Two measurements on the
# trained model.
#
# First, per-position token accuracy when the prefix is the truth (teacher forcing) and when it
# is the model's own output (free running, greedy). Differences come from errors made earlier
# in the same output.

# %%
src, tgt = task.make_batch(task.test)                         # (B, Ls), (B, Lt)
with torch.no_grad():
    forced = model(src, teacher_forcing_input(tgt)).argmax(-1)   # (B, Lt) next-token guesses, true prefix
free, _ = greedy(model, src)                                  # (B, <= Lt) the model's own outputs
acc_forced = (forced == tgt).float().mean(0)                  # (Lt,)
acc_free = (free[:, :tgt.shape[1]] == tgt).float().mean(0)    # (Lt,)
print("position        ", " ".join(f"{t:5d}" for t in range(tgt.shape[1])))
print("teacher forcing ", " ".join(f"{a:5.3f}" for a in acc_forced))
print("free running    ", " ".join(f"{a:5.3f}" for a in acc_free))

# %% [markdown]
# Second, a stress test: put one **wrong** digit into the prefix (the correct digit + 1) at
# position $t$, let the model continue greedily, and count how often the rest of the output is
# still right.

# %%
@torch.no_grad()
def continue_from(model, src, prefixes, max_len=11):
    """Greedy continuation of forced prefixes (one list of ids per row of src, all the same length)."""
    model.eval()
    memory = model.encode(src)                                # (B, Ls, d)
    ys = torch.tensor([[BOS_ID] + p for p in prefixes])       # (B, 1 + len(prefix))
    while ys.shape[1] <= max_len:
        next_token = model.decode(ys, memory)[:, -1].argmax(-1)   # (B,)
        ys = torch.cat([ys, next_token[:, None]], dim=1)
    return [tgt_vocab.decode(row[1:]) for row in ys]


probe = task.valid[400:800]                                   # 400 pairs not used above
probe_src, _ = task.make_batch(probe)
POSITIONS = [0, 2, 5, 8]                                      # century, decade, month, day


def recovery(model, positions=POSITIONS):
    """Fraction of outputs whose rest is right after a wrong digit is forced at position t."""
    rates = []
    for t in positions:
        prefixes = [tgt_vocab.encode(y[:t] + str((int(y[t]) + 1) % 10)) for _, y in probe]
        outs = continue_from(model, probe_src, prefixes)
        rates.append(np.mean([o[t + 1:] == y[t + 1:] for o, (_, y) in zip(outs, probe)]))
    return rates


base_recovery = recovery(model)                               # one rate per position in POSITIONS
print("rest still right after a forced wrong digit at position", POSITIONS, ":",
      " ".join(f"{r:.0%}" for r in base_recovery))

# %% [markdown]
# Under teacher forcing and free running the accuracies are almost the same (within 2 points at
# every position): the model rarely errs, so it rarely sees its own mistakes. But when a mistake
# *is* in the prefix, the model often follows it (after a wrong century or month digit, the rest
# is right in fewer than half of the cases) (lecture 4 showed that a wrong century digit turns into a consistent but wrong
# year). It was trained on gold prefixes only.
#
# ### 2.1 Scheduled sampling
#
# **Scheduled sampling** (Bengio et al., 2015, [arXiv:1506.03099](https://arxiv.org/abs/1506.03099)) trains on prefixes that contain the model's own
# predictions: at each position, with probability $p$, the decoder input is the model's
# prediction instead of the gold token ($p$ grows during training, the "schedule"). For an RNN
# this is done step by step. A Transformer computes all positions in parallel, so we use two
# passes (Mihaylova and Martins, 2019, "Scheduled sampling for Transformers",
# [arXiv:1906.07651](https://arxiv.org/abs/1906.07651)): a teacher-forced pass to get the model's predictions at
# every position, then the training pass on the mixed input.
#
# We fine-tune copies of the trained model for 100 steps with (a) scheduled sampling, $p$ growing
# linearly from 0 to 0.25 over the 100 steps, predictions **sampled** from the model, and (b) a
# cruder relative: a constant $p = 0.15$ of the input tokens replaced by **random** digits, i.e.
# deliberately wrong prefixes.

# %%
def mixed_decoder_input(model, src, tgt, p, source, generator):
    """Teacher-forcing input with a fraction p of the tokens (never BOS or PAD) replaced.

    source="model": by the model's own predictions (sampled), "random": by random non-special tokens."""
    tgt_in = teacher_forcing_input(tgt)                       # (B, Lt)
    if source == "model":
        with torch.no_grad():                                 # first pass: the model's predictions
            logits = model(src, tgt_in)                       # (B, Lt, |V|) prediction for y_1 .. y_Lt
            pred = torch.multinomial(logits.softmax(-1).flatten(0, 1), 1, generator=generator).view(tgt.shape)
        candidates = torch.cat([tgt_in[:, :1], pred[:, :-1]], dim=1)   # (B, Lt) aligned with tgt_in
    else:
        candidates = torch.randint(4, len(tgt_vocab), tgt.shape, generator=generator)
    replace = (torch.rand(tgt.shape, generator=generator) < p) & (tgt_in != PAD_ID)
    replace[:, 0] = False                                     # keep BOS
    return torch.where(replace, candidates, tgt_in)           # (B, Lt)


def fine_tune(model, p, source, steps=100, lr=3e-4, seed=1, ramp=False):
    """A fine-tuned copy of model; p is the replacement probability (with ramp: its final value,
    reached linearly from 0, the schedule of scheduled sampling)."""
    model = copy.deepcopy(model)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98))
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / steps)   # linear decay to 0
    gen = torch.Generator().manual_seed(seed)
    batches = task.batches("train", batch_size=64, seed=seed, epochs=None)
    for step in range(steps):
        src, tgt = next(batches)
        model.train()
        p_now = p * (step + 1) / steps if ramp else p         # the schedule
        tgt_in = mixed_decoder_input(model, src, tgt, p_now, source, gen)   # (B, Lt)
        loss = sequence_loss(model(src, tgt_in), tgt)         # still predict the gold next token
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    return model.eval()


t0 = time.perf_counter()
variants = {"teacher forcing only": model,
            "+ scheduled sampling (own predictions, p→0.25)": fine_tune(model, 0.25, "model", ramp=True),
            "+ random wrong tokens (p=0.15)": fine_tune(model, 0.15, "random")}
print(f"two fine-tunings in {time.perf_counter() - t0:.0f} s\n")
variant_results = {}                                          # name: (valid EM, recovery per position)
print(f"{'':48} valid EM  | rest right after a wrong digit at {POSITIONS}")
for name, m in variants.items():
    preds, _ = decode_pairs(greedy, m, valid)
    variant_results[name] = (exact_match(preds, valid_refs), recovery(m))
    print(f"{name:48} {variant_results[name][0]:6.1%}   | " + "  ".join(f"{r:4.0%}" for r in variant_results[name][1]))

# %% [markdown]
# On this task the model's own predictions are almost always **right**, so scheduled sampling
# hardly ever shows it a wrong prefix and changes little (exact match within a point, recovery
# within 10 points). Scheduled sampling matters when the model's errors are frequent (long
# outputs, hard tasks, early in training). Feeding deliberately wrong tokens does teach the model
# to **recover**: after a wrong digit it goes back to the source and gets the rest right far more
# often (at every position tested), but it costs some exact match: the model now
# trusts its own prefix less, also when the prefix is right. Both make training look more like
# test time; neither is standard for Transformers today, where large data and strong models keep
# the first error rare.
#
# ## 3. The copy mechanism
#
# Many outputs contain pieces of the input verbatim: names in a reply ("Hi, I am Ada Lovelace"
# → "Nice to meet you, Ada Lovelace"), rare words in a summary, numbers in our dates. A
# softmax over a fixed output vocabulary can only produce words it has a row for. **Pointer
# networks** (Vinyals et al., 2015, [arXiv:1506.03134](https://arxiv.org/abs/1506.03134)) instead
# output a position in the **input**, and the **pointer-generator** (See et al., 2017, "Get to
# the point", [arXiv:1704.04368](https://arxiv.org/abs/1704.04368)) mixes the two with a learned gate $p_{\text{gen}}$:
#
# $$P(w) = p_{\text{gen}}\, P_{\text{vocab}}(w) + (1 - p_{\text{gen}}) \sum_{i:\, x_i = w} \alpha_{i},$$
#
# where $\alpha_i$ are the cross-attention weights over the source positions. A word in the input
# but not in the vocabulary ("Lovelace") gets probability through the second term. A made-up
# example:

# %%
source_words = ["hi", "i", "am", "ada", "lovelace"]
vocab_words = ["nice", "to", "meet", "you", "hi", "i", "am", "<unk>"]    # "ada", "lovelace" are not in it
p_vocab = torch.tensor([0.05, 0.02, 0.02, 0.06, 0.05, 0.05, 0.05, 0.70])   # decoder's softmax: unsure, <unk>
alpha = torch.tensor([0.02, 0.02, 0.03, 0.08, 0.85])          # cross-attention at this step: on "lovelace"
p_gen = 0.3                                                   # gate: sigmoid(w^T [state; context; input])
extended = vocab_words + [w for w in source_words if w not in vocab_words]   # vocabulary + source words
p_final = torch.zeros(len(extended))
p_final[:len(vocab_words)] = p_gen * p_vocab                  # generate
for a, w in zip(alpha, source_words):
    p_final[extended.index(w)] += (1 - p_gen) * a             # copy: scatter-add attention by word
fig, axes = plt.subplots(1, 3, figsize=(13, 2.8))
for ax, values, labels, title in [(axes[0], p_vocab, vocab_words, "$P_{vocab}$ (decoder softmax)"),
                                  (axes[1], alpha, source_words, "attention $\\alpha$ over the source"),
                                  (axes[2], p_final, extended, f"final $P(w)$, $p_{{gen}} = {p_gen}$")]:
    ax.bar(range(len(values)), values.numpy(), color=["tab:orange" if l == "lovelace" else "tab:blue" for l in labels])
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set(title=title, ylim=(0, 1))
plt.tight_layout()
plt.show()
print(f"P('lovelace') = {p_final[extended.index('lovelace')]:.3f}; it sums to {p_final.sum():.3f}")

# %% [markdown]
# Our date model has no explicit copy mechanism, but copying digits is most of its job, and its
# cross-attention has learned to **point**: we check, for every output digit of the test set,
# where the last decoder layer's attention (mean over heads) goes. We capture the weights with a
# forward hook, as in lecture 4.

# %%
captured = {}


def capture_last_layer(module, args, kwargs, output):
    query, key, value = args[:3]
    _, weights = module.forward(query, key, value, key_padding_mask=kwargs.get("key_padding_mask"),
                                need_weights=True, average_attn_weights=True)
    captured["weights"] = weights.detach()                    # (B, Lt, Ls) mean over heads


handle = model.decoder_layers[-1].multihead_attn.register_forward_hook(capture_last_layer, with_kwargs=True)
pairs = [(s, t) for s, t in task.test if s[:1].isdigit()]     # inputs written with digits only
src, tgt = task.make_batch(pairs)                             # (B, Ls), (B, Lt)
with torch.no_grad():
    model(src, teacher_forcing_input(tgt))                    # teacher-forced pass fills `captured`
handle.remove()
w = captured["weights"]                                       # (B, Lt, Ls)
out_chars = [[tgt_vocab.itos[i] for i in row] for row in tgt.tolist()]
src_chars = [[src_vocab.itos[i] for i in row] for row in src.tolist()]
same_char = torch.tensor([[[o == s for s in srow] for o in orow] for orow, srow in zip(out_chars, src_chars)])
is_digit = torch.tensor([[c.isdigit() for c in row] for row in out_chars])   # (B, Lt)
mass_on_same = (w * same_char).sum(-1)[is_digit]              # attention mass on identical characters
argmax_same = same_char.gather(-1, w.argmax(-1, keepdim=True))[..., 0][is_digit]
print(f"{len(pairs)} numeric test inputs, {is_digit.sum().item()} output digits:")
print(f"  mean attention mass on source characters equal to the output digit: {mass_on_same.mean():.0%}")
print(f"  most-attended source character is the output digit itself: {argmax_same.float().mean():.0%}")

# %% [markdown]
# The most-attended source character is usually the very digit being written: the attention is
# a learned pointer. A pointer-generator would turn that into probability directly, which
# matters when the copied symbols are rare or unseen (names, numbers); here every digit is in the
# output vocabulary, so the plain softmax suffices.
#
# ## 4. Guided attention: a monotonic prior
#
# In speech recognition and speech synthesis the alignment between input and output is
# **monotonic**: the $t$-th output frame of a TTS model corresponds to a character a bit further
# along the text than frame $t-1$. Learning that from scratch is slow and sometimes fails
# (the attention skips or repeats words, and the synthesised speech skips or stutters).
# **Guided attention** (Tachibana et al., 2018, [arXiv:1710.08969](https://arxiv.org/abs/1710.08969)) adds a loss that penalises attention far from
# the diagonal:
#
# $$W_{t,n} = 1 - \exp\!\left(-\frac{(n/N - t/T)^2}{2 g^2}\right), \qquad
#   \mathcal{L}_{\text{att}} = \frac{1}{NT}\sum_{t,n} A_{t,n} W_{t,n},$$
#
# for attention weights $A \in \mathbb{R}^{T \times N}$ (output step $t$, input position $n$) and
# a width $g$ (0.2 in the paper). Related ideas constrain the attention directly: location-aware
# attention, monotonic attention, and in ASR training the encoder jointly with CTC.

# %%
def guided_attention_weights(T, N, g=0.2):
    """(T, N) penalty W[t, n] = 1 - exp(-(n/N - t/T)^2 / (2 g^2))."""
    t = torch.arange(T, dtype=torch.float32)[:, None] / T     # (T, 1)
    n = torch.arange(N, dtype=torch.float32)[None, :] / N     # (1, N)
    return 1 - torch.exp(-(n - t) ** 2 / (2 * g ** 2))       # (T, N)


T, N = 40, 25                                                 # e.g. 40 speech frames, 25 characters
W = guided_attention_weights(T, N)
centre = (torch.arange(T, dtype=torch.float32)[:, None] + 0.5) * N / T   # (T, 1) diagonal position
good = torch.softmax(-((torch.arange(N)[None, :] - centre) ** 2) / 2.0, dim=-1)   # (T, N) near-diagonal
torch.manual_seed(0)
bad = torch.softmax(torch.randn(T, N) * 2, dim=-1)            # (T, N) scattered attention
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
plot_attention(W, ax=axes[0], title="penalty $W$ (g = 0.2)", annotate=False, cmap="Reds")
for ax, A, name in [(axes[1], good, "monotonic attention"), (axes[2], bad, "scattered attention")]:
    loss = (A * W).mean()
    plot_attention(A, ax=ax, title=f"{name}: $L_{{att}}$ = {loss:.3f}", annotate=False)
for ax in axes:
    ax.set(xlabel="input position n (characters)", ylabel="output step t (frames)")
plt.tight_layout()
plt.show()

# %% [markdown]
# The prior is right for speech and wrong for our dates, whose alignment is **not** monotonic:
# the year is written first but read last. The guided-attention loss of our model's own
# cross-attention (last layer, mean over heads), on an input that is already in ISO order and on
# one that must be reordered:

# %%
guided_losses = {}                                            # source: guided-attention loss
for source in ["2021-03-04", "4th of March, 2021"]:
    src = torch.tensor([src_vocab.encode(source)])            # (1, Ls)
    out, _ = greedy(model, src)
    tgt_in = torch.cat([torch.tensor([[BOS_ID]]), out[:, :-1]], dim=1)   # (1, Lt)
    handle = model.decoder_layers[-1].multihead_attn.register_forward_hook(capture_last_layer, with_kwargs=True)
    with torch.no_grad():
        model.decode(tgt_in, model.encode(src))
    handle.remove()
    A = captured["weights"][0]                                # (Lt, Ls)
    guided_losses[source] = (A * guided_attention_weights(*A.shape)).mean().item()
    print(f"{source!r:22} -> {tgt_vocab.decode(out[0])}: guided-attention loss {guided_losses[source]:.3f}")

# %% [markdown]
# The reordered input's loss is about twice that of the input in ISO order: a guided-attention
# term would push the second alignment towards the diagonal, against what the task needs. Priors help when they are true.
#
# ## 5. Decoding: greedy, beam search, sampling
#
# Training gives us $p(y_t \mid y_{<t}, x)$. Decoding has to turn it into **one** output. The
# ideal is the most probable sequence, $\hat y = \arg\max_y \prod_t p(y_t \mid y_{<t}, x)$, but
# there are $\lvert\mathcal{V}\rvert^{L_t}$ candidates.
#
# ### 5.1 Greedy is not the most probable sequence
#
# Greedy decoding takes the best token at each step. A two-step example where that fails:
# A is the better first token (0.6 vs 0.4), but after A the model is unsure, after B it is sure.

# %%
first = {"A": 0.6, "B": 0.4}
second = {"A": {"A": 0.4, "B": 0.3, "EOS": 0.3}, "B": {"A": 0.05, "B": 0.9, "EOS": 0.05}}
paths = {(a, b): first[a] * second[a][b] for a in first for b in second[a]}
greedy_first = max(first, key=first.get)
greedy_path = (greedy_first, max(second[greedy_first], key=second[greedy_first].get))
best_path = max(paths, key=paths.get)
print(f"greedy: {greedy_path} with p = {paths[greedy_path]:.2f};  best: {best_path} with p = {paths[best_path]:.2f}")

# %% [markdown]
# ### 5.2 Beam search
#
# Beam search keeps the $k$ best **partial** outputs (the beam) instead of one. At each step it
# extends every hypothesis by every token, scores each extension by its total log-probability
# $\sum_t \log p(y_t \mid y_{<t}, x)$, and keeps the $k$ best. A hypothesis that produced EOS is
# finished: it stays in the beam with its score. With $k = 1$ it is greedy decoding; with $k \ge
# \lvert\mathcal{V}\rvert^{L_t}$ it is exhaustive search. The version below decodes a whole **batch** of sources at
# once: the $B$ sources times $k$ beams form one batch of $B k$ rows, and `topk` over the
# $k \cdot \lvert\mathcal{V}\rvert$ extensions of each source picks the new beams.

# %%
@torch.no_grad()
def beam(model, src, k=5, max_len=11, prefix=None):
    """Batched beam search. src (B, Ls) -> (best ids (B, <= max_len), their total log-prob (B,)).

    prefix (B, P): optional tokens forced after BOS, as in `greedy`."""
    model.eval()
    B = src.shape[0]
    memory = model.encode(src).repeat_interleave(k, dim=0)    # (B*k, Ls, d) k copies of each source
    ys = torch.full((B * k, 1), BOS_ID)                       # (B*k, 1)
    if prefix is not None:
        ys = torch.cat([ys, prefix.repeat_interleave(k, dim=0)], dim=1)   # (B*k, 1 + P)
    start = ys.shape[1]
    scores = torch.full((B, k), float("-inf"))                # (B, k) total log-prob of each beam
    scores[:, 0] = 0.0                                        # at the start, one live beam per source
    finished = torch.zeros(B * k, dtype=torch.bool)           # (B*k,) has produced EOS
    for _ in range(max_len):
        logp = model.decode(ys, memory)[:, -1].log_softmax(-1)   # (B*k, |V|)
        n_vocab = logp.shape[-1]
        logp[finished] = float("-inf")                        # a finished beam is only extended by PAD,
        logp[finished, PAD_ID] = 0.0                          # at no cost: it keeps its score
        candidates = (scores.view(B * k, 1) + logp).view(B, k * n_vocab)   # (B, k*|V|) every extension's score
        scores, index = candidates.topk(k, dim=1)             # (B, k) the k best extensions
        parent = (torch.arange(B)[:, None] * k + index // n_vocab).view(-1)   # (B*k,) row each one extends
        token = (index % n_vocab).view(-1, 1)                 # (B*k, 1) the token it adds
        ys = torch.cat([ys[parent], token], dim=1)            # (B*k, t+1)
        finished = finished[parent] | (token[:, 0] == EOS_ID)
        if finished.all():
            break
    best = scores.argmax(dim=1)                               # (B,)
    rows = torch.arange(B) * k + best
    return ys[rows, start:], scores[torch.arange(B), best]


src, _ = task.make_batch(task.test[:300])
beam1_is_greedy = torch.equal(beam(model, src, k=1)[0], greedy(model, src)[0])
print("beam size 1 == greedy on 300 test inputs:", beam1_is_greedy)

# %% [markdown]
# ### 5.3 Greedy vs beam on the test set
#
# Exact match, character BLEU, and how often beam search outputs something other than greedy,
# for beam sizes 1, 3 and 5, for the trained model and for the half-trained copy saved after 300
# steps. "Higher log p" counts the inputs where beam search found an output the model considers
# **more probable** than the greedy one.

# %%
results = {}
for name, m, pairs in [("trained (800 steps)", model, task.test),
                       ("half-trained (300 steps)", snapshots[300], task.test[:500])]:
    refs = [t for _, t in pairs]
    g_preds, g_scores = (greedy_preds, greedy_scores) if m is model else decode_pairs(greedy, m, pairs)
    print(f"{name}, {len(pairs)} test inputs:")
    print(f"  {'decoder':8} {'EM':>6} {'BLEU':>6} {'differ':>7} {'higher log p':>13} {'lower':>6} {'fixed':>6} "
          f"{'broken':>7} {'time':>6}")
    print(f"  {'greedy':8} {exact_match(g_preds, refs):6.1%} {corpus_bleu(g_preds, refs):6.1f}")
    for k in [1, 3, 5]:
        t0 = time.perf_counter()
        b_preds, b_scores = decode_pairs(beam, m, pairs, k=k)
        seconds = time.perf_counter() - t0
        differ = [i for i in range(len(refs)) if b_preds[i] != g_preds[i]]
        higher, lower = int((b_scores > g_scores + 1e-4).sum()), int((b_scores < g_scores - 1e-4).sum())
        fixed = [i for i in differ if b_preds[i] == refs[i]]
        broken = [i for i in differ if g_preds[i] == refs[i]]
        results[(name, k)] = dict(differ=differ, fixed=fixed, broken=broken, higher=higher, lower=lower,
                                  seconds=seconds, g=(g_preds, g_scores), b=(b_preds, b_scores))
        print(f"  {'beam ' + str(k):8} {exact_match(b_preds, refs):6.1%} {corpus_bleu(b_preds, refs):6.1f} "
              f"{len(differ):7d} {higher:13d} {lower:6d} {len(fixed):6d} {len(broken):7d} {seconds:5.1f}s")

# %% [markdown]
# One input on which beam search (k = 5) and greedy disagree, with the total log-probability of
# each output under the model: from the trained model if there is one, else from the
# half-trained one, and where possible one that beam search gets right.

# %%
name = next(n for n in ["trained (800 steps)", "half-trained (300 steps)"] if results[(n, 5)]["differ"])
r = results[(name, 5)]
i = (r["fixed"] or r["differ"])[0]
print(f"{name}: {task.test[i][0]!r}   (reference {test_refs[i]})")
print(f"  greedy : {r['g'][0][i]}   log p = {r['g'][1][i]:.3f}")
print(f"  beam 5 : {r['b'][0][i]}   log p = {r['b'][1][i]:.3f}")

# %% [markdown]
# Where the two differ, beam search's output is the more probable one (it can be the other way
# round: the greedy hypothesis may drop out of the beam), and it is more often right than wrong.
# But it only matters where the model is unsure: the trained model is confident on almost every
# input, so beam search changes few outputs or none, while for the half-trained model it changes
# more of them. Beam search decodes $k$ rows per input, $k$ times the computation of greedy
# decoding: the time column grows with $k$ (how much depends on the machine and its load, and
# beams that all finish early stop early).
#
# ### 5.4 Sampling: temperature and top-k
#
# Instead of searching for the most probable output we can **sample** from the model, token by
# token. Two knobs reshape the next-token distribution before sampling:
#
# * **temperature** $\tau$: $p_i \propto \exp(z_i / \tau)$ for logits $z$; $\tau < 1$ sharpens
#   (towards greedy), $\tau > 1$ flattens (towards uniform);
# * **top-k**: keep the $k$ most probable tokens, renormalise, sample among them (Fan et al.,
#   2018, [arXiv:1805.04833](https://arxiv.org/abs/1805.04833)); top-p, or nucleus sampling
#   (Holtzman et al., 2020, [arXiv:1904.09751](https://arxiv.org/abs/1904.09751)), keeps the
#   smallest set with total probability $\ge p$ instead.

# %%
logits = torch.tensor([3.0, 2.2, 1.5, 0.5, 0.0, -1.0])        # (|V|,) some next-token logits
fig, axes = plt.subplots(1, 4, figsize=(13, 2.6), sharey=True)
for ax, (tau, top_k) in zip(axes, [(0.5, None), (1.0, None), (2.0, None), (1.0, 3)]):
    z = logits / tau
    if top_k:
        z = z.masked_fill(z < z.topk(top_k).values[-1], float("-inf"))   # drop all but the top k
    ax.bar(range(len(z)), z.softmax(-1).numpy())
    ax.set(title=f"τ = {tau}" + (f", top-k = {top_k}" if top_k else ""), xlabel="token")
axes[0].set_ylabel("probability")
plt.tight_layout()
plt.show()

# %%
@torch.no_grad()
def sample(model, src, temperature=1.0, top_k=None, max_len=11, generator=None, prefix=None):
    """Ancestral sampling. src (B, Ls) -> (ids (B, <= max_len), total log-prob (B,) under the model).

    prefix (B, P): optional tokens forced after BOS, as in `greedy`."""
    model.eval()
    memory = model.encode(src)                                # (B, Ls, d)
    ys = torch.full((src.shape[0], 1), BOS_ID)                # (B, 1)
    if prefix is not None:
        ys = torch.cat([ys, prefix], dim=1)                   # (B, 1 + P)
    start = ys.shape[1]
    total = torch.zeros(src.shape[0])
    done = torch.zeros(src.shape[0], dtype=torch.bool)
    for _ in range(max_len):
        logits = model.decode(ys, memory)[:, -1]              # (B, |V|)
        z = logits / temperature
        if top_k is not None:
            z = z.masked_fill(z < z.topk(top_k, dim=-1).values[:, -1:], float("-inf"))
        next_token = torch.multinomial(z.softmax(-1), 1, generator=generator)[:, 0]   # (B,)
        next_token = next_token.masked_fill(done, PAD_ID)
        total += torch.where(done, 0.0, logits.log_softmax(-1).gather(1, next_token[:, None])[:, 0])
        ys = torch.cat([ys, next_token[:, None]], dim=1)
        done |= next_token == EOS_ID
        if done.all():
            break
    return ys[:, start:], total


gen = torch.Generator().manual_seed(0)
sample_em = {}                                                # (tau, top_k): exact match on 500 test inputs
hard = task.test[i][0]                                       # the input of the example above
print(f"10 samples each for {hard!r}:")
print(f"  {'setting':18} {'EM, 500 test inputs':>19}  distinct of 10   samples")
for tau, top_k in [(0.5, None), (1.0, None), (2.0, None), (2.0, 2)]:
    preds, _ = decode_pairs(sample, model, task.test[:500], temperature=tau, top_k=top_k, generator=gen)
    ids, _ = sample(model, torch.tensor([src_vocab.encode(hard)] * 10), tau, top_k, generator=gen)
    outs = [tgt_vocab.decode(row) for row in ids]
    setting = f"τ = {tau}" + (f", top-k {top_k}" if top_k else "")
    sample_em[(tau, top_k)] = exact_match(preds, test_refs[:500])
    print(f"  {setting:18} {exact_match(preds, test_refs[:500]):19.1%}  {len(set(outs)):15d}   {', '.join(sorted(set(outs))[:4])}")

# %% [markdown]
# For a task with **one** correct answer, sampling only adds errors, and more so the higher the
# temperature; top-k limits the damage by never choosing unlikely tokens. Sampling is for tasks
# where many outputs are acceptable and **diversity** is wanted: dialogue, story writing,
# text-to-speech (the same sentence should not always sound identical), or generating several
# candidates to rerank.
#
# ## 6. When beam search hurts
#
# Beam search finds outputs of **high probability**. For open-ended generation the most
# probable text is often **not** good text: it is bland and repetitive (Holtzman et al., 2020,
# "The curious case of neural text degeneration", [arXiv:1904.09751](https://arxiv.org/abs/1904.09751)). A small demonstration: a seq2seq model with
# an empty input (a single dummy source token) is a **language model**. We train one on the
# course corpus of lecture 1 (sentences from templates, concatenated into one stream of words;
# the last 10% held out) for 250 steps on windows of 32 words. Then, for 50 prompts of 8 words
# from the held-out part, it continues with 24 words by greedy decoding, beam search and
# sampling (the `prefix` argument of our decoders forces the prompt after BOS).

# %%
sentences = generate_sentences(3000, seed=0)
lm_itos = ["<pad>", "<bos>", "<eos>", "<unk>"] + sorted({w for s in sentences for w in s})   # specials first
lm_stoi = {w: i for i, w in enumerate(lm_itos)}
stream = torch.tensor([lm_stoi[w] for s in sentences for w in s])   # the whole corpus, one sequence
train_end = int(0.9 * len(stream))                            # the rest is held out for prompts
WINDOW = 32


def lm_batches(batch_size=64, seed=0):
    """Random windows of the training stream as targets; the source is one dummy token."""
    gen = torch.Generator().manual_seed(seed)
    while True:
        starts = torch.randint(0, train_end - WINDOW, (batch_size,), generator=gen).tolist()
        tgt = torch.stack([stream[s:s + WINDOW] for s in starts])   # (B, WINDOW)
        yield torch.full((batch_size, 1), 4), tgt             # src (B, 1): any non-PAD token


torch.manual_seed(0)
lm = Seq2SeqTransformer(5, len(lm_itos), d_model=64, nhead=4, num_encoder_layers=1, num_decoder_layers=1,
                        dim_feedforward=256, dropout=0.0, max_len=64, norm_first=True)
t0 = time.perf_counter()
lm_losses = train(lm, lm_batches(), steps=250, lr=3e-3, warmup=50, log_every=None)
print(f"language model: {len(lm_itos)} words, trained in {time.perf_counter() - t0:.0f} s, "
      f"final loss {np.mean(lm_losses[-20:]):.2f} nats / word")

# %%
def repeated_4grams(words):
    """Fraction of the 4-grams of a text that already occurred earlier in it."""
    grams = [tuple(words[i:i + 4]) for i in range(len(words) - 3)]
    return 1 - len(set(grams)) / len(grams)


P, N_WORDS = 8, 24
starts = list(range(train_end, len(stream) - P - N_WORDS, 43))[:50]
prompts = torch.stack([stream[s:s + P] for s in starts])      # (50, P) held-out prompts
truth = torch.stack([stream[s + P:s + P + N_WORDS] for s in starts])   # (50, N_WORDS) the real continuations
dummy = torch.full((len(starts), 1), 4)                       # (50, 1) the "input"
with torch.no_grad():                                         # log p of the real text under the model
    tgt = torch.cat([prompts, truth], dim=1)                  # (50, P + N_WORDS)
    logp = lm(dummy, teacher_forcing_input(tgt)).log_softmax(-1).gather(-1, tgt[..., None])[..., 0]
    truth_logp = logp[:, P:].sum(1)                           # (50,) only the continuation
gen = torch.Generator().manual_seed(0)
outputs = {"greedy": greedy(lm, dummy, max_len=N_WORDS, prefix=prompts),
           "beam, k = 5": beam(lm, dummy, k=5, max_len=N_WORDS, prefix=prompts),
           "sampling, τ = 1": sample(lm, dummy, max_len=N_WORDS, generator=gen, prefix=prompts),
           "real continuation": (truth, truth_logp)}
lm_stats = {}                                                 # name: (mean log p per word, repeated 4-grams)
print(f"{'':18} {'log p / word':>12} {'repeated 4-grams':>17}   (means over {len(starts)} prompts)")
for name, (ids, total) in outputs.items():
    texts = [[lm_itos[i] for i in row.tolist()] for row in ids]
    lm_stats[name] = (total.mean().item() / N_WORDS, float(np.mean([repeated_4grams(t) for t in texts])))
    print(f"{name:18} {lm_stats[name][0]:12.2f} {lm_stats[name][1]:17.0%}")
print("\nprompt:", " ".join(lm_itos[i] for i in prompts[0].tolist()), "...")
for name, (ids, _) in outputs.items():
    print(f"  {name:18}", " ".join(lm_itos[i] for i in ids[0].tolist()))

# %% [markdown]
# Greedy decoding and beam search produce text that is **more probable** under the model than
# the real continuation, and it is worse: it repeats itself (the same phrase comes back, the
# most probable sentence pattern is written again and again), while real text of this corpus
# hardly repeats a 4-gram. Sampled text has about the log-probability and the repetition rate
# of real text. Open-ended generation should look like a *typical* sample of the distribution,
# not like its mode. Likewise in speech synthesis, decoding the most probable frames gives flat,
# robotic output, which is why TTS systems inject randomness (Tacotron keeps dropout on in its
# pre-net at inference time). In machine translation, translation quality drops as the beam
# grows, largely because very large beams prefer too **short** outputs (every extra token lowers
# the total log-probability): Koehn and Knowles (2017, "Six challenges for neural machine
# translation", [arXiv:1706.03872](https://arxiv.org/abs/1706.03872)) list it as one of the six
# challenges, and Yang et al. (2018, "Breaking the beam search curse") named it the "beam search
# curse"; hence length normalisation of the scores. Exact search makes it plain: for more than
# half of the sentences of a test set, the single most probable translation was the **empty**
# one (Stahlberg and Byrne, 2019, [arXiv:1908.10090](https://arxiv.org/abs/1908.10090)), and
# Eikema and Aziz (2020, "Is MAP decoding all you need? The inadequacy of the mode",
# [arXiv:2005.10283](https://arxiv.org/abs/2005.10283)) argue that the mode of a translation
# model is the wrong thing to look for. The lesson: beam
# search is for tasks with one right answer (our dates, ASR, translation with moderate beams);
# for open-ended generation, sample (with top-k or top-p to avoid the unlikely tail).
#
# ## 7. Train on cross-entropy, evaluate with BLEU and exact match
#
# What we care about is the quality of the **decoded** output: exact match (all or nothing) for
# dates, BLEU for translation (precision of n-grams $n = 1..4$ against the reference, times a
# brevity penalty; computed here by `sacrebleu` on characters). Why not train on that directly?
#
# * These metrics are computed on the **decoded** sequence, i.e. after `argmax` or a search:
#   they are piecewise constant in the parameters and their gradient is 0 almost everywhere.
# * They are defined on **whole outputs** (BLEU even on the whole corpus), not per token.
#
# Cross-entropy is a smooth, per-token surrogate. It tracks the metrics, but loosely; the
# validation curves recorded during training:

# %%
fig, ax1 = plt.subplots(figsize=(8, 3.6))
ax1.semilogy(history["step"], history["valid_ce"], "o-", color="tab:blue", label="valid cross-entropy")
ax1.set(xlabel="step", ylabel="cross-entropy (nats / token, log scale)")
ax2 = ax1.twinx()
ax2.plot(history["step"], [100 * e for e in history["valid_em"]], "s-", color="tab:orange", label="valid exact match (%)")
ax2.plot(history["step"], history["valid_bleu"], "^-", color="tab:green", label="valid character BLEU")
ax2.set(ylabel="exact match (%) / BLEU", ylim=(0, 102))
fig.legend(loc="center right", bbox_to_anchor=(0.88, 0.5))
ax1.set_title("Validation metrics during training (greedy decoding)")
plt.tight_layout()
plt.show()
for step, ce, em, bleu in zip(history["step"], history["valid_ce"], history["valid_em"], history["valid_bleu"]):
    print(f"step {step:4d}: cross-entropy {ce:.4f}   exact match {em:6.1%}   BLEU {bleu:5.1f}")

# %% [markdown]
# BLEU gives partial credit: it is already high (above 75) when more than half of the outputs are
# still wrong in a digit or two, while exact match only counts perfect outputs. Over the last 200
# steps cross-entropy still falls by a factor of about 5 while BLEU, already near its maximum,
# gains less than 5 points: the model mostly becomes more *confident* in outputs it already gets
# right. And the relation is not exact: an output can have a low loss and still be wrong, or a
# sequence with one wrong digit can cost little cross-entropy but a whole point of exact match.

# %%
print(f"{'reference':12} {'prediction':12} {'EM':>3} {'char BLEU':>10}")
for pred in ["2021-03-04", "2021-03-14", "2012-03-04", "2021-04-03", "0000-00-00"]:
    print(f"{'2021-03-04':12} {pred:12} {int(pred == '2021-03-04'):3d} {corpus_bleu([pred], ['2021-03-04']):10.1f}")

# %% [markdown]
# To optimise the metric itself one can treat decoding as a **policy** and the metric as a
# **reward**: minimum risk training or REINFORCE (Ranzato et al., 2016; Shen et al., 2016,
# [arXiv:1512.02433](https://arxiv.org/abs/1512.02433)) sample
# outputs, score them with BLEU, and raise the probability of the good ones. It works, but it is
# noisy and slow, so in practice it is a fine-tuning step after cross-entropy training; "when you
# do not know how to optimise something, use reinforcement learning" is the usual rule.
#
# ## Summary
#
# * **Training** maximises $\sum_t \log p(y_t \mid y_{<t}, x)$: one cross-entropy per output step,
#   all steps in parallel with **teacher forcing** (decoder input = target shifted right), PAD
#   ignored.
# * **Exposure bias**: training sees gold prefixes, test sees the model's own. A forced wrong
#   token is often followed rather than corrected. **Scheduled sampling** mixes the model's own
#   predictions into the training prefixes (two passes for a Transformer); it matters when
#   errors are frequent. Deliberately wrong tokens teach the model to recover.
# * **Copy mechanism**: $P(w) = p_{\text{gen}} P_{\text{vocab}}(w) + (1 - p_{\text{gen}})\sum_{i: x_i = w}
#   \alpha_i$ lets the model output input words that are not in its vocabulary. Our date model's
#   cross-attention already points at the digit it copies.
# * **Guided attention** penalises attention far from the diagonal, a prior for monotonic tasks
#   (TTS, ASR); it would be wrong for reordering tasks such as ours.
# * **Decoding**: greedy is not the most probable sequence; **beam search** keeps $k$ hypotheses
#   and finds more probable outputs, which helps where the model is unsure (few or no test
#   inputs for the trained model, more for the half-trained one). **Sampling** with temperature and top-k
#   trades accuracy for diversity.
# * **Beam search hurts** in open-ended generation: the most probable text is repetitive; there
#   we sample. Very large beams in translation favour short outputs unless normalised by length.
# * We **train on cross-entropy** (smooth, per token) and **evaluate with exact match / BLEU**
#   (on decoded outputs, not differentiable); they agree roughly, not exactly. RL-style training
#   can optimise the metric directly.
#
# ## Exercises
#
# Each exercise has a hint and a worked answer; click to open them, after you have tried.
#
# 1. **Length normalisation.** Add an option to `beam` that ranks finished hypotheses by
#    $\frac{1}{|y|^\alpha}\sum_t \log p(y_t \mid y_{<t}, x)$. Does it change anything on the date
#    task? Why not? Try it on the language model of section 6 with an EOS token added after every
#    sentence.
#
# <details><summary>Hint</summary>
#
# Keep the raw sums for the search and normalise only when choosing the best finished
# hypothesis at the end: divide each beam's score by (its number of tokens up to EOS)$^\alpha$.
# </details>
#
# <details><summary>Answer</summary>
#
# On the date task nothing changes: every correct output has the same length (10 characters +
# EOS), and the model is confident, so all hypotheses that compete at the end have the same
# length and dividing by the same $|y|^\alpha$ does not change their order. Length normalisation
# matters when hypotheses of different lengths compete; with EOS after every sentence the
# language model's beam prefers to stop early (a short sentence has fewer negative terms), and
# $\alpha \approx 0.6$–$1$ gives longer outputs.
# </details>
#
# 2. **Beam size.** Plot exact match and decoding time against $k \in \{1, 2, 3, 5, 10, 20\}$ for the
#    half-trained model. Where does the gain stop?
#
# <details><summary>Hint</summary>
#
# `decode_pairs(beam, snapshots[300], task.test[:500], k=k)` returns the predictions; time it
# with `time.perf_counter()` as in section 5.3.
# </details>
#
# <details><summary>Answer</summary>
#
# Section 5.3 already shows the pattern: from $k = 1$ to $3$ exact match rises a little, and $k = 5$
# gives the same result as $k = 3$. Larger beams find outputs of even higher model probability
# only rarely, so the curve is flat beyond a few beams while the time keeps growing roughly in
# proportion to $k$. The search is not the bottleneck; the model is.
# </details>
#
# 3. **Scheduled sampling from scratch.** Train a new model for 300 steps with scheduled sampling
#    from the start, $p$ rising linearly from 0 to 0.5, and compare it with 300 steps of teacher
#    forcing, in exact match and in recovery after a forced wrong digit.
#
# <details><summary>Hint</summary>
#
# `fine_tune(Seq2SeqTransformer(src_vocab, tgt_vocab, **CONFIG), 0.5, "model", steps=300, lr=3e-3,
# ramp=True)` is almost it (add a warm-up); compare with `snapshots[300]`.
# </details>
#
# <details><summary>Answer</summary>
#
# Early in training the model's predictions are often wrong, so scheduled sampling now does
# feed it wrong prefixes: expect better recovery after a forced wrong digit than the
# teacher-forced model at the same step, and an exact match that is similar or somewhat lower
# (the training signal is noisier, and with $p = 0.5$ half of the inputs are the model's guesses).
# That is the trade-off Bengio et al. report: the schedule starts at $p = 0$ so that the model
# first learns from gold prefixes.
# </details>
#
# 4. **Nucleus sampling.** Implement top-p sampling in `sample` and compare the repetition rate and
#    the log-probability of 20 texts from the language model for $p \in \{0.5, 0.9, 1.0\}$.
#
# <details><summary>Hint</summary>
#
# Sort the probabilities in decreasing order, take the cumulative sum, and mask every token whose
# cumulative sum *before* it is already $\ge p$; always keep the first.
# </details>
#
# <details><summary>Answer</summary>
#
# ```python
# probs, order = z.softmax(-1).sort(dim=-1, descending=True)
# drop = probs.cumsum(-1) - probs >= top_p                     # mass before this token already >= p
# z = z.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
# ```
# $p = 1$ is plain sampling (about the statistics of real text, section 6); as $p$ falls the texts
# become more probable under the model and more repetitive, approaching greedy decoding at small
# $p$. A value around 0.9 cuts the unlikely tail and keeps most of the diversity.
# </details>
#
# 5. **Guided attention.** Train the date model on the ISO-to-ISO part of the data only (sources
#    in ISO form) with the guided-attention loss of section 4 added to the cross-entropy (use a
#    hook to get the weights with gradients). Does it learn faster? What happens on the full task?
#
# <details><summary>Hint</summary>
#
# In the hook, call `module.forward(..., need_weights=True)` *without* `detach()` and store the
# weights; add `lam * (A * guided_attention_weights(*A.shape[-2:])).mean()` to the loss.
# </details>
#
# <details><summary>Answer</summary>
#
# On ISO-to-ISO pairs the alignment is the diagonal, the prior is true, and the extra loss helps
# the cross-attention find it sooner: expect the loss to drop earlier. On the full task most
# sources must be reordered (the year comes last), so the prior fights the alignment the task
# needs: with a large weight the model learns more slowly or settles on worse exact match; section
# 4 measured that our trained model's attention on a reordered input already costs about twice
# the guided-attention loss of an ISO input.
# </details>
#
# 6. **Metrics.** Find two validation outputs where the one with the lower cross-entropy is wrong
#    and the one with the higher cross-entropy is right. What does that say about using the loss
#    for model selection?
#
# <details><summary>Hint</summary>
#
# Compute the per-sequence cross-entropy with `F.cross_entropy(..., reduction="none")` summed over
# the real positions, and the greedy prediction of each validation pair, with `snapshots[300]`
# (the final model makes too few mistakes).
# </details>
#
# <details><summary>Answer</summary>
#
# Such pairs exist: a sequence whose tokens are all fairly likely but one digit is wrong under
# greedy decoding (the correct digit had, say, 0.45 and the wrong one 0.5) costs little
# cross-entropy, while a correct sequence can have one unsure position that costs more. Loss and
# exact match rank *models* similarly on average (section 7), but not individual outputs, so select
# models on the metric you will report, measured on validation data.
# </details>

# %% [markdown]
# ## 摘要
#
# **繁體中文**
#
# * **訓練**：最大化 $\sum_t \log p(y_t \mid y_{<t}, x)$，也就是每個輸出步驟一個交叉熵（Cross Entropy）；
#   用**教師強制（Teacher Forcing）**（解碼器輸入為右移一格的正確答案）一次平行算完所有步驟，忽略填充。
# * **曝光偏差（Exposure Bias）**：訓練時看到的是正確的前綴，測試時看到的是模型自己的輸出。強制塞進一個
#   錯誤的字，模型常常跟著錯下去而不是改正。**Scheduled Sampling** 在訓練時把模型自己的預測混進前綴
#   （機率 $p$ 逐漸增加；Transformer 要做兩次前向計算）；模型常犯錯時才有用。故意放進錯誤的字，能教模型回頭看輸入、
#   從錯誤中恢復。
# * **複製機制（Copy Mechanism）**：$P(w) = p_{\text{gen}} P_{\text{vocab}}(w) + (1 - p_{\text{gen}})\sum_{i: x_i = w} \alpha_i$，
#   讓模型能輸出詞彙表裡沒有、但輸入裡有的字。我們的日期模型的交叉注意力本來就會指向它要複製的數字。
# * **引導式注意力（Guided Attention）** 懲罰偏離對角線的注意力，適合單調對齊的任務（語音合成、語音辨識），
#   不適合需要重新排序的任務（例如我們的日期）。
# * **解碼**：貪婪解碼找到的不一定是機率最高的序列；**束搜索（Beam Search）** 保留 $k$ 個假設，能找到機率更高的
#   輸出，在模型不確定時有幫助。**採樣（Sampling）** 配合溫度與 top-k，用準確率換多樣性。
# * 在開放式生成中**束搜索反而有害**：機率最高的文字會不斷重複，這時應該採樣。翻譯中束寬太大會偏好過短的輸出，
#   需要長度正規化。
# * 我們**用交叉熵訓練**（平滑、逐字），卻**用完全匹配率或 BLEU 評估**（在解碼後的輸出上計算、不可微分）；兩者大致
#   一致但不完全一致。用強化學習（RL）可以直接最佳化評估指標。
#
# **简体中文**
#
# * **训练**：最大化 $\sum_t \log p(y_t \mid y_{<t}, x)$，也就是每个输出步骤一个交叉熵（Cross Entropy）；
#   用**教师强制（Teacher Forcing）**（解码器输入为右移一格的正确答案）一次并行算完所有步骤，忽略填充。
# * **曝光偏差（Exposure Bias）**：训练时看到的是正确的前缀，测试时看到的是模型自己的输出。强制塞进一个
#   错误的字，模型常常跟着错下去而不是改正。**Scheduled Sampling** 在训练时把模型自己的预测混进前缀
#   （概率 $p$ 逐渐增加；Transformer 要做两次前向计算）；模型常犯错时才有用。故意放进错误的字，能教模型回头看输入、
#   从错误中恢复。
# * **复制机制（Copy Mechanism）**：$P(w) = p_{\text{gen}} P_{\text{vocab}}(w) + (1 - p_{\text{gen}})\sum_{i: x_i = w} \alpha_i$，
#   让模型能输出词汇表里没有、但输入里有的字。我们的日期模型的交叉注意力本来就会指向它要复制的数字。
# * **引导注意力（Guided Attention）** 惩罚偏离对角线的注意力，适合单调对齐的任务（语音合成、语音识别），
#   不适合需要重新排序的任务（例如我们的日期）。
# * **解码**：贪心解码找到的不一定是概率最高的序列；**束搜索（Beam Search）** 保留 $k$ 个假设，能找到概率更高的
#   输出，在模型不确定时有帮助。**采样（Sampling）** 配合温度与 top-k，用准确率换多样性。
# * 在开放式生成中**束搜索反而有害**：概率最高的文字会不断重复，这时应该采样。翻译中束宽太大会偏好过短的输出，
#   需要长度归一化。
# * 我们**用交叉熵训练**（平滑、逐字），却**用完全匹配率或 BLEU 评估**（在解码后的输出上计算、不可微分）；两者大致
#   一致但不完全一致。用强化学习（RL）可以直接优化评估指标。
