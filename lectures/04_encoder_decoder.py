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
# # Lecture 4: Encoder and decoder
#
# Lectures 2 and 3 built the layer that turns a sequence of vectors into another sequence of the
# **same** length. Many tasks want an output sequence whose length the model decides itself:
# a sentence in another language, the characters of an utterance, the frames of a spoken
# sentence. This lecture assembles the full **encoder-decoder Transformer** (Vaswani et al.,
# 2017) for such sequence-to-sequence (seq2seq) tasks:
#
# 1. **Seq2seq** and where it is used, and the toy task of this lecture and the next.
# 2. The **encoder** block: residual connection, layer normalisation, position-wise
#    feed-forward network; **post-LN vs pre-LN** and what it does to the gradients.
# 3. The **autoregressive decoder**: BOS and EOS, masked (causal) self-attention, error
#    propagation.
# 4. **Cross-attention**: decoder queries, encoder keys and values.
# 5. **Training** a small model on the toy task and looking at its cross-attention.
# 6. **Non-autoregressive** decoding: all output tokens at once.
#
# English–中文 glossary: [glossary.md](glossary.md). The original course's videos for this
# lecture: Hung-yi Lee, ML 2021, "Transformer (上)" and "Transformer (下)"
# ([course page](https://speech.ee.ntu.edu.tw/~hylee/ml/2021-spring.php)). Paper: Vaswani et al.
# (2017), "Attention is all you need", [arXiv:1706.03762](https://arxiv.org/abs/1706.03762).
#
# **Notation** (the course's symbol table, [notation.md](notation.md)). Batch-first tensors: $B$
# batch, $L_s$ source length, $L_t$ target length, $d$ = $d_{\text{model}}$, $H$ heads,
# $\lvert\mathcal{V}\rvert$ vocabulary size (written `|V|` in shape comments); $\mathbf{Q}, \mathbf{K},
# \mathbf{V}$ are queries, keys and values, $\mathbf{S}$ the attention scores and $\mathbf{A}$ the
# attention weights. Shapes are comments on the line that creates a tensor. Every boolean mask means **True = may attend / is a real position**; PyTorch's
# `src_key_padding_mask`, `memory_key_padding_mask` and boolean `tgt_mask` mean the opposite
# (True = ignore), so we pass `~mask` and say so.

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from matplotlib.patches import FancyBboxPatch

from coursekit.attention_plots import plot_attention, plot_attention_heads
from coursekit.seq2seq import (BOS_ID, EOS_ID, PAD_ID, Seq2SeqTransformer, corpus_bleu, exact_match,
                               make_date_task, sinusoidal_table, teacher_forcing_input, train)

torch.manual_seed(0)
np.random.seed(0)
# One thread: for these small models one thread trained as fast as two or faster on a 2-core
# machine (measured in a notebook), and it avoids the large slow-downs of threads competing for
# the cores with other work.
torch.set_num_threads(1)
plt.rcParams["figure.dpi"] = 100

# %% [markdown]
# ## 1. Sequence to sequence
#
# Input: a sequence of $L_s$ vectors. Output: a sequence of $L_t$ tokens, where $L_t$ is **not**
# fixed by $L_s$; the model itself decides when to stop. Many tasks fit this mould, some of them
# surprisingly:
#
# | task | input sequence | output sequence |
# | --- | --- | --- |
# | speech recognition (ASR) | audio frames, 100 per second | characters or word pieces |
# | machine translation | words of one language | words of another |
# | speech translation | audio in one language | text in another (also for languages without a standard writing system) |
# | text-to-speech (TTS) | characters or phonemes | acoustic frames (then a vocoder makes the waveform) |
# | chatbot, question answering | the dialogue so far / question + context | the reply / the answer |
# | syntactic parsing | a sentence | its parse tree written as a bracketed string |
# | multi-label classification | a document | the set of its labels, as a sequence of any length |
# | object detection (DETR, Pix2Seq) | image patches | the set of boxes: class and coordinates |
#
# The last three are not "sequence" problems at first sight. A **tree** becomes a sequence by
# writing it in brackets (Vinyals et al., 2015, "Grammar as a foreign language",
# [arXiv:1412.7449](https://arxiv.org/abs/1412.7449)); a **set of
# labels** becomes a sequence by listing them, and the model learns how many to output (Yang
# et al., 2018); a set of **boxes** is a list of numbers (Chen et al., 2022, Pix2Seq,
# [arXiv:2109.10852](https://arxiv.org/abs/2109.10852)). A
# general-purpose seq2seq model is a strong baseline for all of them, though a model built for
# the task usually does better.

# %%
tree = ("S", [("NP", ["the", "cat"]), ("VP", ["chased", ("NP", ["the", "dog"])])])


def linearise(node):
    """A parse tree as a bracketed token sequence: the target of parsing-as-seq2seq."""
    if isinstance(node, str):
        return [node]
    label, children = node
    return [f"({label}"] + [tok for child in children for tok in linearise(child)] + [")"]


print("parsing   :", "the cat chased the dog", "->", " ".join(linearise(tree)))
labels = {"sports": 0.91, "politics": 0.08, "economy": 0.64, "science": 0.02}   # a classifier's scores
print("multi-label: document ->", " ".join(sorted([l for l, p in labels.items() if p > 0.5])) + " <eos>",
      "(the model decides how many labels)")

# %% [markdown]
# ### 1.1 The architecture at a glance
#
# The **encoder** reads the whole input and turns it into a sequence of vectors, the
# **memory** $(B, L_s, d)$. The **decoder** produces the output one token at a time; at every
# step it looks at the tokens produced so far (masked self-attention) and at the memory
# (cross-attention), and predicts a distribution over the next token.

# %%
def box(ax, x, y, w, h, text, color, fontsize=9):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                fc=color, ec="black", lw=1))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize)


def arrow(ax, x0, y0, x1, y1, color="black", style="-|>", rad=0.0):
    ax.annotate("", (x1, y1), (x0, y0), arrowprops=dict(arrowstyle=style, color=color, lw=1.3,
                                                        connectionstyle=f"arc3,rad={rad}"))


fig, ax = plt.subplots(figsize=(10, 6.2))
# encoder column
box(ax, 0.5, 0.2, 3, 0.6, "source tokens  $x_1 \\dots x_{L_s}$", "white")
box(ax, 0.5, 1.2, 3, 0.6, "embedding $\\cdot\\sqrt{d}$ + positional enc.", "#e8e8e8", fontsize=8.5)
ax.add_patch(plt.Rectangle((0.3, 2.1), 3.4, 2.5, fill=False, ls="--"))
ax.text(3.8, 2.15, "× N", fontsize=11)
box(ax, 0.5, 2.3, 3, 0.6, "self-attention + add & norm", "#cfe2f3")
box(ax, 0.5, 3.3, 3, 0.6, "feed-forward + add & norm", "#d9ead3")
box(ax, 0.5, 5.0, 3, 0.6, "memory $(B, L_s, d)$", "#fff2cc")
for y0, y1 in [(0.8, 1.2), (1.8, 2.3), (2.9, 3.3), (3.9, 5.0)]:
    arrow(ax, 2.0, y0, 2.0, y1)
# decoder column
box(ax, 5.5, 0.2, 3.6, 0.6, "BOS $y_1 \\dots y_{t-1}$  (shifted right)", "white")
box(ax, 5.5, 1.2, 3.6, 0.6, "embedding $\\cdot\\sqrt{d}$ + positional enc.", "#e8e8e8", fontsize=8.5)
ax.add_patch(plt.Rectangle((5.3, 2.1), 4.0, 3.5, fill=False, ls="--"))
ax.text(4.75, 2.15, "N ×", fontsize=11)
box(ax, 5.5, 2.3, 3.6, 0.6, "masked self-attention + add & norm", "#cfe2f3")
box(ax, 5.5, 3.3, 3.6, 0.6, "cross-attention + add & norm", "#f4cccc")
box(ax, 5.5, 4.3, 3.6, 0.6, "feed-forward + add & norm", "#d9ead3")
box(ax, 5.5, 6.0, 3.6, 0.6, "linear + softmax: $p(y_t \\mid y_{<t}, x)$", "#fff2cc")
for y0, y1 in [(0.8, 1.2), (1.8, 2.3), (2.9, 3.3), (3.9, 4.3), (4.9, 6.0)]:
    arrow(ax, 7.3, y0, 7.3, y1)
arrow(ax, 3.5, 5.3, 5.5, 3.6, color="tab:red", rad=0.25)
ax.text(4.0, 4.75, "keys, values", color="tab:red", fontsize=9)
arrow(ax, 9.1, 6.3, 9.1, 0.5, color="grey", rad=-0.3)
ax.text(10.3, 3.3, "output $y_t$ is\nfed back as\nthe next input", color="grey", fontsize=9, va="center")
ax.set(xlim=(0, 11.9), ylim=(0, 6.8), title="Encoder-decoder Transformer")
ax.axis("off")
plt.show()

# %% [markdown]
# ### 1.2 The toy task: date normalisation
#
# A task we can train in a minute on a laptop CPU but which still needs everything above:
# dates written in many ways go in, the ISO form comes out, character by character.
# `coursekit.seq2seq` generates it from a seed (no download). Slashes mean month/day/year
# (US order), dots mean day.month.year; a two-digit year $yy$ means 19$yy$ if $yy \ge 50$ and
# 20$yy$ otherwise. The test dates occur in no other split, in any form.

# %%
task = make_date_task(seed=0)                                 # 20000 train, 1000 valid, 1000 test pairs
src_vocab, tgt_vocab = task.src_vocab, task.tgt_vocab
print(f"train {len(task.train)}, valid {len(task.valid)}, test {len(task.test)} pairs; "
      f"|V_src| = {len(src_vocab)}, |V_tgt| = {len(tgt_vocab)}  ({''.join(tgt_vocab.itos[4:])} + specials)")
for source, target in task.train[:10]:
    print(f"  {source!r:38} -> {target}")

# %% [markdown]
# The output has to be **reordered** (the year comes first in the output and usually last in the
# input), month names must become numbers, ordinals like "3rd" must be read, and whether "3.4."
# is the 3rd of April or the 4th of March depends on the separator. A batch is a pair of padded
# id tensors; the target ends with EOS:

# %%
src, tgt = task.make_batch(task.train[:3])                    # (B, Ls), (B, Lt)
print("src", tuple(src.shape), "\n", src)
print("tgt", tuple(tgt.shape), "(EOS =", EOS_ID, ", PAD =", PAD_ID, ")\n", tgt)

# %% [markdown]
# ## 2. The encoder
#
# The encoder maps the source tokens to embeddings (scaled by $\sqrt{d}$, plus the sinusoidal
# positional encoding of lecture 3) and applies $N$ identical **blocks**. Each block has two
# sub-layers, multi-head self-attention and a position-wise feed-forward network, and wraps
# each in a **residual connection** and **layer normalisation**.
#
# ### 2.1 Residual connection
#
# Instead of $x \mapsto f(x)$, a sub-layer computes $x \mapsto x + f(x)$: it only has to learn
# a **correction** to its input, and the gradient has a path through the $+$ that bypasses $f$
# ($\partial (x + f(x)) / \partial x = I + \partial f / \partial x$). This is what makes deep
# stacks trainable (He et al., 2016, [arXiv:1512.03385](https://arxiv.org/abs/1512.03385)). It requires $f$ to keep the size $d$.
#
# ### 2.2 Layer normalisation
#
# **Layer normalisation** (Ba et al., 2016, [arXiv:1607.06450](https://arxiv.org/abs/1607.06450)) normalises each vector over its $d$ features, with a
# learned scale $\gamma$ and shift $\beta$:
#
# $$\mathrm{LN}(x) = \gamma \odot \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta, \qquad
#   \mu = \frac{1}{d}\sum_{k=1}^d x_k,\quad \sigma^2 = \frac{1}{d}\sum_{k=1}^d (x_k - \mu)^2 .$$
#
# Batch normalisation would instead normalise each feature over the batch (and positions). That
# mixes different sequences, depends on how much padding the batch holds, and behaves
# differently at training and test time (running averages); layer normalisation treats every
# position of every sequence on its own. (Shen et al., 2020, "PowerNorm: rethinking batch
# normalization in Transformers", [arXiv:2003.07845](https://arxiv.org/abs/2003.07845), measure
# why batch statistics fit text badly. Lecture 6 meets a place where batch normalisation *is*
# used: the Conformer's convolution module.)

# %%
torch.manual_seed(0)
x = torch.randn(2, 5, 8) * 3 + 1                              # (B, L, d)
ln = nn.LayerNorm(8)                                          # gamma = 1, beta = 0 at init
mu = x.mean(-1, keepdim=True)                                 # (B, L, 1) mean over the features
var = x.var(-1, unbiased=False, keepdim=True)                 # (B, L, 1)
by_hand = (x - mu) / torch.sqrt(var + ln.eps) * ln.weight + ln.bias   # (B, L, d)
print("LN by hand == nn.LayerNorm:", torch.allclose(by_hand, ln(x), atol=1e-5))
print(f"one position after LN: mean {ln(x)[0, 0].mean():.4f}, std {ln(x)[0, 0].std(unbiased=False):.4f}")
print("changing sequence 1 changes LN of sequence 0?",
      not torch.allclose(ln(torch.cat([x[:1], 10 * x[1:]]))[0], ln(x)[0]))

# %% [markdown]
# ### 2.3 Position-wise feed-forward network
#
# After attention has mixed information **between** positions, a two-layer MLP processes every
# position **separately** with the same weights:
#
# $$\mathrm{FFN}(x) = W_2\, \mathrm{ReLU}(W_1 x + b_1) + b_2, \qquad W_1 \in \mathbb{R}^{d_{ff} \times d},
#   \ W_2 \in \mathbb{R}^{d \times d_{ff}},\ d_{ff} = 4d \text{ typically}.$$
#
# Applied to a $(B, L, d)$ tensor, `nn.Linear` acts on the last dimension, so this *is*
# position-wise: the output at position $i$ depends only on the input at position $i$.

# %%
torch.manual_seed(0)
d, d_ff = 8, 32
ffn = nn.Sequential(nn.Linear(d, d_ff), nn.ReLU(), nn.Linear(d_ff, d))
x = torch.randn(2, 5, d)                                      # (B, L, d)
out_all = ffn(x)                                              # (B, L, d) all positions at once
out_one = ffn(x[:, 3])                                        # (B, d) position 3 alone
print("FFN at position 3 computed alone == in the sequence:", torch.allclose(out_all[:, 3], out_one, atol=1e-6))

# %% [markdown]
# ### 2.4 The block, post-LN and pre-LN
#
# The original Transformer puts the normalisation **after** the residual addition (post-LN):
#
# $$h = \mathrm{LN}\big(x + \mathrm{MHA}(x)\big), \qquad y = \mathrm{LN}\big(h + \mathrm{FFN}(h)\big).$$
#
# Most recent models put it **before** the sub-layer, inside the residual branch (pre-LN), and
# add one final LayerNorm after the last block:
#
# $$h = x + \mathrm{MHA}\big(\mathrm{LN}(x)\big), \qquad y = h + \mathrm{FFN}\big(\mathrm{LN}(h)\big).$$
#
# Written with the sub-modules of PyTorch's `nn.TransformerEncoderLayer` (which has both
# variants, `norm_first=False/True`), and checked against it. The source padding mask says which
# keys are real (True); `nn.MultiheadAttention` wants the opposite, so we pass `~keep`.

# %%
def encoder_block(layer, x, keep, pre_ln):
    """One encoder block with the weights of `layer`; x (B, L, d), keep (B, L) True = real token."""
    def self_attention(z):
        return layer.self_attn(z, z, z, key_padding_mask=~keep, need_weights=False)[0]   # PyTorch: True = pad

    def feed_forward(z):
        return layer.linear2(F.relu(layer.linear1(z)))        # W2 ReLU(W1 z + b1) + b2

    if pre_ln:
        x = x + self_attention(layer.norm1(x))                # (B, L, d)
        return x + feed_forward(layer.norm2(x))               # (B, L, d)
    x = layer.norm1(x + self_attention(x))                    # (B, L, d)
    return layer.norm2(x + feed_forward(x))                   # (B, L, d)


torch.manual_seed(0)
x = torch.randn(2, 6, 16)                                     # (B, L, d)
keep = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])   # (B, L) second sequence padded
for pre_ln in [False, True]:
    layer = nn.TransformerEncoderLayer(16, 4, 64, dropout=0.0, batch_first=True, norm_first=pre_ln).eval()
    ours = encoder_block(layer, x, keep, pre_ln)
    ref = layer(x, src_key_padding_mask=~keep)                # PyTorch: True = padding
    print(f"{'pre' if pre_ln else 'post'}-LN block == nn.TransformerEncoderLayer on real positions:",
          torch.allclose(ours[keep], ref[keep], atol=1e-5))

# %% [markdown]
# In the pre-LN block the residual stream $x \to h \to y$ is **never normalised**: every block
# only *adds* to it. There is an identity path from the last layer straight to the first, for
# the signal and for the gradient. In the post-LN block every LayerNorm sits on that path and
# rescales the gradient passing through it.
#
# **Why it matters.** Xiong et al. (2020), "On layer normalization in the Transformer
# architecture" ([arXiv:2002.04745](https://arxiv.org/abs/2002.04745)), show that at initialisation the gradients of post-LN
# Transformers are **larger in the layers near the output** than in those near the input, so a large
# learning rate at the start breaks training: post-LN needs a **learning-rate warm-up** (start
# near 0 and increase over the first few thousand steps). In pre-LN the gradients are about the
# same in every layer, and training works with little or no warm-up. The price: the final
# quality of well-tuned post-LN models is sometimes slightly better (the residual stream of
# pre-LN grows with depth, and the deep layers contribute relatively less).
#
# We measure the gradient norm of the first FFN matrix $W_1$ of every layer at initialisation,
# for 12-layer stacks of each kind, on random inputs with a cross-entropy loss on top.

# %%
def gradient_norms(norm_first, n_layers=12, d=64, seed=0):
    """||dLoss/dW1|| of each layer of an untrained stack of nn.TransformerEncoderLayer."""
    torch.manual_seed(seed)
    layers = nn.ModuleList([nn.TransformerEncoderLayer(d, 4, 4 * d, dropout=0.0, batch_first=True,
                                                       norm_first=norm_first) for _ in range(n_layers)])
    final_norm = nn.LayerNorm(d) if norm_first else nn.Identity()   # pre-LN ends with one LayerNorm
    readout = nn.Linear(d, 10)
    x = torch.randn(32, 20, d)                                # (B, L, d) random inputs
    labels = torch.randint(0, 10, (32, 20))                   # (B, L) random classes
    h = x
    for layer in layers:
        h = layer(h)                                          # (B, L, d)
    loss = F.cross_entropy(readout(final_norm(h)).flatten(0, 1), labels.flatten())
    loss.backward()
    return [layer.linear1.weight.grad.norm().item() for layer in layers]


grad_ratio = {}                                               # last layer / first layer, per kind
fig, ax = plt.subplots(figsize=(7, 3.6))
for norm_first, name in [(False, "post-LN"), (True, "pre-LN")]:
    norms = np.mean([gradient_norms(norm_first, seed=s) for s in range(3)], axis=0)   # mean of 3 inits
    ax.plot(range(1, 13), norms, "o-", label=name)
    grad_ratio[name] = norms[-1] / norms[0]
    print(f"{name}: last layer / first layer gradient = {grad_ratio[name]:.2f}")
ax.set(xlabel="layer (1 = next to the input)", ylabel="$\\|\\partial L / \\partial W_1\\|$ at init",
       title="Gradient norm per layer at initialisation (12 layers)")
ax.set_ylim(bottom=0)
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Post-LN: the layers near the output get larger gradients than those near the input, about 1.6
# times larger at layer 12 than at layer 1 in this small stack (Xiong et al. analyse how the
# effect depends on the model). With
# Adam every parameter moves by about the learning rate per step anyway, but the **large,
# fast-changing** gradients of the top layers make the first updates erratic, and warm-up
# keeps those steps small until the statistics settle. Pre-LN: the gradient is about the same
# in every layer (last / first within 10 %).
#
# A short training run makes the point. A 6-layer encoder (no decoder) on a deliberately easy
# toy tagging task, at every position output $(3 x_i + 1) \bmod 10$ for random digits $x$ (a fixed
# relabelling of each token, so that only the optimisation can fail), trained with Adam at a high
# learning rate, $3 \cdot 10^{-2}$: post-LN without warm-up, post-LN with 50 warm-up steps, pre-LN
# without warm-up.

# %%
def short_run(norm_first, warmup, steps=100, n_layers=6, d=64, lr=3e-2, seed=0):
    """Train a stack of encoder layers on y_i = (3 x_i + 1) mod 10; returns the loss of every step."""
    torch.manual_seed(seed)
    embed, readout = nn.Embedding(10, d), nn.Linear(d, 10)
    layers = nn.ModuleList([nn.TransformerEncoderLayer(d, 4, 2 * d, dropout=0.0, batch_first=True,
                                                       norm_first=norm_first) for _ in range(n_layers)])
    final_norm = nn.LayerNorm(d) if norm_first else nn.Identity()
    pe = sinusoidal_table(16, d)                              # (L, d)
    params = [*embed.parameters(), *layers.parameters(), *final_norm.parameters(), *readout.parameters()]
    opt = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.98))
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))   # linear warm-up
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        x = torch.randint(0, 10, (32, 16), generator=gen)     # (B, L) random digits
        y = (3 * x + 1) % 10                                  # (B, L) target: a fixed relabelling
        h = embed(x) * math.sqrt(d) + pe                      # (B, L, d)
        for layer in layers:
            h = layer(h)
        loss = F.cross_entropy(readout(final_norm(h)).flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        losses.append(loss.item())
    return losses


t0 = time.perf_counter()
runs = {"post-LN, no warm-up": short_run(False, 1), "post-LN, warm-up 50 steps": short_run(False, 50),
        "pre-LN, no warm-up": short_run(True, 1)}
print(f"3 short runs in {time.perf_counter() - t0:.1f} s")
fig, ax = plt.subplots(figsize=(7, 3.6))
final_loss = {name: float(np.mean(losses[-20:])) for name, losses in runs.items()}   # mean of the last 20 steps
for (name, losses), style in zip(runs.items(), ["--", ":", "-"]):
    ax.plot(np.convolve(losses, np.ones(10) / 10, mode="valid"), style, lw=2, label=name)
    print(f"{name:>26}: mean loss of the last 20 steps {final_loss[name]:.3f}")
ax.axhline(math.log(10), color="grey", lw=0.8)
ax.text(len(runs["pre-LN, no warm-up"]) - 10, math.log(10) + 0.004, "chance: ln 10", color="grey", fontsize=8,
        ha="right", va="bottom")
ax.set(xlabel="step", ylabel="training loss (moving average of 10)", title="6 encoder layers, lr 3e-2, Adam")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Post-LN without warm-up stays at chance level ($\ln 10 \approx 2.30$): the first large
# updates push it into a state it does not leave within this run. With warm-up it learns the
# task (final loss near 0); pre-LN learns it without any. (Three short runs are an illustration,
# not a benchmark: at the learning rate $10^{-2}$ all three learn this task.
# Exercise 2 asks you to vary depth, learning rate and seed.) Our date model below is pre-LN
# and uses a short warm-up anyway.
#
# ## 3. The autoregressive decoder
#
# The decoder generates the output **one token at a time**. It starts from a special
# begin-of-sequence token **BOS**, predicts a distribution over the vocabulary, picks a token
# (here the most probable one), appends it to its input and predicts again, until it produces
# the end-of-sequence token **EOS** (or a maximum length is reached). EOS is how the model
# decides the output length:
#
# $$p(y_1, \dots, y_{L_t} \mid x) = \prod_{t=1}^{L_t} p(y_t \mid y_0, \dots, y_{t-1}, x), \qquad
#   y_0 = \text{BOS},\ y_{L_t} = \text{EOS} .$$
#
# `Seq2SeqTransformer` (in `coursekit.seq2seq`) has the two halves as methods:
# `encode(src) -> memory (B, Ls, d)` runs once per input, `decode(tgt_in, memory) -> logits
# (B, Lt, |V|)` runs once per generated token. The loop, "greedy" decoding:

# %%
@torch.no_grad()
def greedy(model, src, max_len=12):
    """Most probable token at every step. src (B, Ls) -> generated ids (B, <= max_len), after BOS."""
    model.eval()
    memory = model.encode(src)                                # (B, Ls, d) once
    ys = torch.full((src.shape[0], 1), BOS_ID)                # (B, 1) start with BOS
    done = torch.zeros(src.shape[0], dtype=torch.bool)        # (B,) has produced EOS
    for _ in range(max_len):
        logits = model.decode(ys, memory)[:, -1]              # (B, |V|) prediction for the next position
        next_token = logits.argmax(-1).masked_fill(done, PAD_ID)   # (B,) PAD after EOS
        ys = torch.cat([ys, next_token[:, None]], dim=1)      # (B, t+1) feed it back
        done |= next_token == EOS_ID
        if done.all():
            break
    return ys[:, 1:]                                          # drop BOS


CONFIG = dict(d_model=64, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=256,
              dropout=0.0, max_len=64, norm_first=True)
torch.manual_seed(0)
untrained = Seq2SeqTransformer(src_vocab, tgt_vocab, **CONFIG)
src, _ = task.make_batch(task.test[:3])
for (source, target), out in zip(task.test[:3], greedy(untrained, src)):
    print(f"{source!r:32} -> {tgt_vocab.decode(out)!r:16} (untrained; tokens {out.tolist()})")

# %% [markdown]
# The untrained model outputs nonsense and may never produce EOS; `max_len` stops it. Two
# details of the loop: the encoder runs **once**, the decoder runs once **per output token**
# on the whole prefix; and rows that have finished keep receiving PAD.
#
# ### 3.1 Masked self-attention: why
#
# At **generation** time the future does not exist yet: position $t$ can only attend to
# positions $0 \dots t$. At **training** time we know the whole target and want to train all
# positions in one pass (**teacher forcing**: the decoder input is the correct target shifted
# right by one, `[BOS, y_1, ..., y_{Lt-1}]`, and position $t$ is trained to predict $y_{t+1}$).
# Without a mask, position $t$ would simply look at the next input token, which *is* the answer,
# learn to copy it, and be useless at generation time. The **causal mask** makes training match
# generation:
#
# $$\text{keep}_{ij} = [\, j \le i \,], \qquad A_{ij} = \frac{\exp(S_{ij})\,\text{keep}_{ij}}
#   {\sum_{j'} \exp(S_{ij'})\,\text{keep}_{ij'}} ,$$
#
# for the scores $\mathbf{S}$ and weights $\mathbf{A}$ of the decoder's self-attention.

# %%
Lt = 6
keep_causal = torch.ones(Lt, Lt, dtype=torch.bool).tril()     # (Lt, Lt) True = may attend (j <= i)
fig, ax = plt.subplots(figsize=(3.8, 3.4))
plot_attention(keep_causal.float(), [f"q{i}" for i in range(Lt)], [f"k{j}" for j in range(Lt)], ax=ax,
               title="causal mask (True = may attend)", colorbar=False, annotate=False)
plt.tight_layout()
plt.show()

# %% [markdown]
# A check on the (untrained) model: change the decoder input **after** position $t$; the
# outputs at positions $\le t$ do not move. The same layer **without** the mask changes
# everywhere (we call the decoder layers directly, passing `tgt_mask=None`).

# %%
src, tgt = task.make_batch(task.test[:4])                     # (B, Ls), (B, Lt)
tgt_in = teacher_forcing_input(tgt)                           # (B, Lt) [BOS, y_1, ..., y_{Lt-1}]
t = 4
changed = tgt_in.clone()
changed[:, t + 1:] = torch.randint(4, len(tgt_vocab), changed[:, t + 1:].shape)   # new future tokens


def decode_without_mask(model, tgt_in, memory, keep_src):
    """Like model.decode, but without the causal mask. keep_src (B, Ls): True = real source token."""
    y = model.embed(tgt_in, "target")                         # (B, Lt, d) embedding * sqrt(d) + PE
    for layer in model.decoder_layers:
        y = layer(y, memory, tgt_mask=None,                   # no causal mask: every position sees all
                  memory_key_padding_mask=~keep_src)          # PyTorch: True = padding
    return model.generator(model.decoder_norm(y))             # (B, Lt, |V|)


mask_changes = {}                                             # name: (max change at <= t, max change after t)
with torch.no_grad():
    memory = untrained.encode(src)                            # (B, Ls, d)
    for name, dec in [("with causal mask", untrained.decode),
                      ("without mask", lambda a, m: decode_without_mask(untrained, a, m, src != PAD_ID))]:
        diff = (dec(changed, memory) - dec(tgt_in, memory)).abs().amax(dim=(0, 2))   # (Lt,) per position
        mask_changes[name] = (diff[:t + 1].max().item(), diff[t + 1:].max().item())
        print(f"{name:>17}: max |change| at positions 0..{t}: {diff[:t + 1].max():.1e},  after: {diff[t + 1:].max():.1e}")

# %% [markdown]
# ### 3.2 Error propagation
#
# Generation feeds the model **its own** outputs. One wrong token becomes part of the input of
# every later step, and the model was only ever trained on correct prefixes (teacher forcing), so
# one mistake can cause more. Lecture 5 returns to this train/test mismatch (exposure bias) and
# to ways of reducing it; after training (section 5) we force a wrong token into the prefix and
# watch what the model does.
#
# ## 4. Cross-attention
#
# The decoder layer has a **second** attention sub-layer between masked self-attention and the
# FFN. Its **queries** come from the decoder (one per target position), its **keys and values**
# from the encoder's memory (one per source position):
#
# $$\mathbf{Q} = \mathbf{Y} W^q \in \mathbb{R}^{L_t \times d},\quad \mathbf{K} = \mathbf{M} W^k,\ \mathbf{V} = \mathbf{M} W^v
#   \in \mathbb{R}^{L_s \times d}, \qquad \mathrm{CrossAttn}(\mathbf{Y}, \mathbf{M}) = \mathbf{A}\mathbf{V},\quad
#   \mathbf{A} = \mathrm{softmax}(\mathbf{S}),\ \mathbf{S} = \frac{\mathbf{Q} \mathbf{K}^\top}{\sqrt{d_h}}
#   \quad (\text{per head}),$$
#
# with $\mathbf{Y}$ the decoder's states and $\mathbf{M}$ the encoder's memory.
#
# The weights form an $L_t \times L_s$ matrix: for each output position, a distribution over the
# **source** positions. This is how information flows from the input to the output, and it is
# the attention of the original seq2seq models with RNNs (Bahdanau et al., 2015,
# [arXiv:1409.0473](https://arxiv.org/abs/1409.0473)), where it was
# first used to *align* the words of a translation with the source. Padded source positions
# must get weight 0 (`memory_key_padding_mask`, True = padding in PyTorch).
#
# In `nn.TransformerDecoderLayer` the sub-layer is called `multihead_attn`. We compute it by
# hand from its weights (`in_proj_weight` stacks $[W^q; W^k; W^v]$, lecture 3) and compare with
# the module called with `need_weights=True`.

# %%
def cross_attention_by_hand(mha, y, memory, keep):
    """y (B, Lt, d) decoder states, memory (B, Ls, d), keep (B, Ls) True = real source token."""
    B, Lt, d = y.shape
    H = mha.num_heads
    Wq, Wk, Wv = mha.in_proj_weight.chunk(3)                  # each (d, d)
    bq, bk, bv = mha.in_proj_bias.chunk(3)
    q = (y @ Wq.T + bq).view(B, Lt, H, d // H).transpose(1, 2)               # (B, H, Lt, dh) from the decoder
    k = (memory @ Wk.T + bk).view(B, -1, H, d // H).transpose(1, 2)          # (B, H, Ls, dh) from the encoder
    v = (memory @ Wv.T + bv).view(B, -1, H, d // H).transpose(1, 2)          # (B, H, Ls, dh)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d // H)      # (B, H, Lt, Ls)
    scores = scores.masked_fill(~keep[:, None, None, :], float("-inf"))      # padded source: weight 0
    weights = scores.softmax(-1)                              # (B, H, Lt, Ls) each row sums to 1
    out = (weights @ v).transpose(1, 2).reshape(B, Lt, d)     # (B, Lt, d) concatenate the heads
    return mha.out_proj(out), weights


torch.manual_seed(0)
mha = untrained.decoder_layers[0].multihead_attn
src, tgt = task.make_batch(task.test[:4])                     # (B, Ls) with padding
keep_src = src != PAD_ID                                      # (B, Ls) True = real source token
with torch.no_grad():
    memory = untrained.encode(src)                            # (B, Ls, d)
    y = torch.randn(4, tgt.shape[1], CONFIG["d_model"])       # (B, Lt, d) some decoder states
    out, w = cross_attention_by_hand(mha, y, memory, keep_src)
    out_ref, w_ref = mha(y, memory, memory, key_padding_mask=~keep_src,   # PyTorch: True = padding
                         need_weights=True, average_attn_weights=False)
cross_check = dict(output=(out - out_ref).abs().max().item(), weights=(w - w_ref).abs().max().item(),
                   on_padding=w.masked_select(~keep_src[:, None, None, :]).abs().max().item())
print("output max |diff|:", cross_check["output"], "  weights max |diff|:", cross_check["weights"])
print("weights", tuple(w.shape), "= (B, H, Lt, Ls);  weight on padded source positions:", cross_check["on_padding"])

# %% [markdown]
# ## 5. Training the model on the date task
#
# `coursekit.seq2seq.train` does the standard recipe: teacher forcing (decoder input
# `[BOS, y_1, ..., y_{Lt-1}]` from `teacher_forcing_input`), token-level cross-entropy that ignores
# PAD, Adam with a short warm-up and a linear decay of the learning rate to 0. The model
# (`CONFIG` above): $d = 64$, $H = 4$, 2 encoder and 2 decoder layers, $d_{ff} = 256$, pre-LN, no
# dropout (the data is plentiful and we train for less than 3 epochs).

# %%
TRAIN = dict(steps=800, lr=3e-3, warmup=100, batch_size=64, log_every=200, seed=0)
torch.manual_seed(0)
model = Seq2SeqTransformer(src_vocab, tgt_vocab, **CONFIG)
print(f"{sum(p.numel() for p in model.parameters()):,} parameters")
t0 = time.perf_counter()
losses = train(model, task, **TRAIN)
train_seconds = time.perf_counter() - t0
print(f"trained {TRAIN['steps']} steps in {train_seconds:.0f} s")

# %%
def predict(model, pairs, chunk=250):
    """Greedy predictions (strings) for a list of (source, target) pairs."""
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]))   # similar lengths: less padding
    preds = [None] * len(pairs)
    for start in range(0, len(order), chunk):
        idx = order[start:start + chunk]
        src, _ = task.make_batch([pairs[i] for i in idx])
        for i, out in zip(idx, greedy(model, src)):
            preds[i] = tgt_vocab.decode(out)
    return preds


test_refs = [t for _, t in task.test]
test_preds = predict(model, task.test)
test_em, test_bleu = exact_match(test_preds, test_refs), corpus_bleu(test_preds, test_refs)
print(f"test exact match {test_em:.1%}, character BLEU {test_bleu:.1f}  (greedy decoding, {len(test_refs)} unseen dates)")

fig, ax = plt.subplots(figsize=(7, 3.2))
ax.semilogy(losses, lw=0.6, alpha=0.5)
ax.semilogy(np.convolve(losses, np.ones(25) / 25, mode="valid"), lw=1.5)
ax.set(xlabel="step", ylabel="cross-entropy (nats / token)", title="Training loss")
plt.tight_layout()
plt.show()

# %%
wrong = [i for i, (p, r) in enumerate(zip(test_preds, test_refs)) if p != r]
print("some test inputs:")
for (source, target), pred in list(zip(task.test, test_preds))[:6]:
    print(f"  {source!r:38} -> {pred}  {'ok' if pred == target else 'WRONG, expected ' + target}")
print(f"\n{len(wrong)} errors, e.g.:")
for i in wrong[:6]:
    print(f"  {task.test[i][0]!r:38} -> {test_preds[i]}  expected {test_refs[i]}")


def is_copy_error(pred, ref):
    """Every wrong character is the correct character of a neighbouring position (a swap, a repeat)."""
    wrong_at = [k for k, (p, r) in enumerate(zip(pred, ref)) if p != r]
    return len(pred) == len(ref) and all(pred[k] in ref[max(0, k - 1):k + 2] for k in wrong_at)


copy_error_share = float(np.mean([is_copy_error(test_preds[i], test_refs[i]) for i in wrong]))
print(f"copy errors (each wrong digit is the right digit of a neighbouring position): {copy_error_share:.0%} of the errors")

# %% [markdown]
# Most of the remaining errors are **copy** errors: two neighbouring digits swapped or one digit
# repeated (12 → 21, 02 → 22); the model's cross-attention looked at the wrong source character.
#
# ### 5.1 Cross-attention of the trained model
#
# The decoder layers call `multihead_attn` with `need_weights=False` (faster). To see the
# weights we register a **forward hook** on each cross-attention module: it receives the
# module's inputs and recomputes the attention with `need_weights=True`. Calling
# `module.forward(...)` directly inside the hook does not trigger the hook again.

# %%
captured = {}


def capture_weights(name):
    def hook(module, args, kwargs, output):
        query, key, value = args[:3]
        _, weights = module.forward(query, key, value, key_padding_mask=kwargs.get("key_padding_mask"),
                                    need_weights=True, average_attn_weights=False)
        captured[name] = weights.detach()                     # (B, H, Lt, Ls)
    return hook


handles = [layer.multihead_attn.register_forward_hook(capture_weights(f"layer {i}"), with_kwargs=True)
           for i, layer in enumerate(model.decoder_layers)]


def cross_attention_maps(model, source):
    """Greedy output for one source string and the cross-attention weights of every decoder layer."""
    src = torch.tensor([src_vocab.encode(source)])            # (1, Ls)
    out = greedy(model, src)[0]                               # generated ids, ending with EOS
    tgt_in = torch.cat([torch.tensor([BOS_ID]), out[:-1]])[None]   # (1, Lt) what the decoder saw
    with torch.no_grad():
        model.decode(tgt_in, model.encode(src))               # one teacher-forced pass fills `captured`
    return out, {name: w[0] for name, w in captured.items()}  # {layer: (H, Lt, Ls)}


example = "Wednesday, the 3rd of March, 2021"
out, maps = cross_attention_maps(model, example)
example_maps = maps                                           # {layer: (H, Lt, Ls)}, kept for the checks
out_labels = tgt_vocab.tokens(out)                            # the token produced at each position
src_labels = list(example)
fig, axes = plt.subplots(1, 2, figsize=(15, 4.8))
for ax, (name, w) in zip(axes, maps.items()):
    plot_attention(w.mean(0), out_labels, src_labels, ax=ax, annotate=False,
                   title=f"decoder {name}: cross-attention, mean of the {w.shape[0]} heads")
    ax.set(xlabel="source character (key)", ylabel="output token (query)")
plt.tight_layout()
plt.show()

# %% [markdown]
# Rows are output tokens (the token produced at that position), columns source characters.
# The model has learned an **alignment**: the year digits attend to the year at the **end** of
# the source, the month digits to the month **name**, the day digits to "3rd" near the start,
# and the weekday, which does not matter for the date, gets less weight than its share of the
# characters. The alignment is **non-monotonic** (the output is
# reordered), something no fixed window could do. The individual heads of the last layer split
# the work:

# %%
w_last = maps[f"layer {len(model.decoder_layers) - 1}"]       # (H, Lt, Ls)
plot_attention_heads(w_last, out_labels, src_labels, panel_size=3.4,
                     suptitle=f"{example!r}: heads of the last decoder layer")
plt.show()

# %% [markdown]
# The same model on the two numeric conventions: "04/03/21" (US: April 3rd) and "04.03.21"
# (European: 4 March). Only the separator differs, and so does the alignment of the month and
# day digits.

# %%
convention_outputs = {}                                       # source: greedy output
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
for ax, source in zip(axes, ["04/03/21", "04.03.21"]):
    out, maps = cross_attention_maps(model, source)
    convention_outputs[source] = tgt_vocab.decode(out)
    w = maps[f"layer {len(model.decoder_layers) - 1}"].mean(0)   # (Lt, Ls) mean over heads
    plot_attention(w, tgt_vocab.tokens(out), list(source), ax=ax, annotate=False,
                   title=f"{source!r} -> {tgt_vocab.decode(out)}")
    ax.set(xlabel="source character", ylabel="output token")
plt.tight_layout()
plt.show()
for h in handles:
    h.remove()                                                # no more recomputation on every call

# %% [markdown]
# ### 5.2 Error propagation, seen
#
# We force a wrong **first** token into the prefix (a "1" instead of a "2" for a 21st-century
# date, or the other way round) and let the model continue greedily. Does it repair the
# century, or does it build on its mistake?

# %%
@torch.no_grad()
def continue_from(model, src, prefixes, max_len=11):
    """Greedy continuation of forced prefixes (one list of ids per row of src (B, Ls), same lengths)."""
    memory = model.encode(src)                                # (B, Ls, d)
    ys = torch.tensor([[BOS_ID] + p for p in prefixes])       # (B, 1 + len(prefix))
    while ys.shape[1] <= max_len:
        next_token = model.decode(ys, memory)[:, -1].argmax(-1)   # (B,)
        ys = torch.cat([ys, next_token[:, None]], dim=1)      # (B, t+1)
    return [tgt_vocab.decode(row[1:]) for row in ys]


sample = task.test[:300]
src, _ = task.make_batch(sample)
wrong_first = [tgt_vocab.encode("1" if t.startswith("2") else "2") for _, t in sample]   # the wrong century
outs = continue_from(model, src, wrong_first)
rest_correct = np.mean([o[1:] == t[1:] for o, (_, t) in zip(outs, sample)])
print(f"after a forced wrong first digit, the other 9 characters are still right in {rest_correct:.0%} "
      f"of {len(sample)} cases")
for o, (s, t) in list(zip(outs, sample))[:4]:
    print(f"  {s!r:36} forced {o[0]}: {o}   (correct {t})")

# %% [markdown]
# The model does **not** repair the century. It trusts its own prefix and continues it into a
# *plausible* year: after a forced "2" it writes a 20xx year, after a forced "1" a 19xx year
# (often with other digits changed too, because 19xx years in this data are never below 1950).
# Every later step is conditioned on the mistake. Training never showed it a wrong prefix
# (teacher forcing always feeds the correct one), so it has never learnt to recover from one.
#
# ## 6. Non-autoregressive decoding
#
# The autoregressive decoder needs $L_t$ **sequential** passes. A **non-autoregressive** (NAT)
# decoder (Gu et al., 2018, [arXiv:1711.02281](https://arxiv.org/abs/1711.02281)) produces all output tokens in **one** pass: its input is not the
# previous outputs but a sequence of $L_t$ placeholder tokens (for example all BOS, plus the
# positional encoding), and every position predicts its token independently:
#
# $$p(y \mid x) = p(L_t \mid x) \prod_{t=1}^{L_t} p(y_t \mid x) \qquad \text{(NAT)}\quad\text{vs}\quad
#   \prod_{t} p(y_t \mid y_{<t}, x) \qquad \text{(AT)}.$$
#
# How does it know $L_t$? Two ways:
#
# 1. **Predict the length** first, with a classifier on the encoder output (e.g. on the mean of
#    the memory vectors), then feed that many placeholders.
# 2. **Output long and cut**: feed a fixed maximum number of placeholders, and ignore everything
#    after the first EOS.
#
# NAT decoding is parallel and its latency does not grow with $L_t$; the controllable length is
# useful in TTS (speed up or slow down speech by scaling the predicted durations, FastSpeech,
# [arXiv:1905.09263](https://arxiv.org/abs/1905.09263)).
# But it is usually **worse**: the positions cannot coordinate. If the data has several valid
# outputs (*multi-modality*), each position picks from the mixture on its own. A minimal example:
# "thank you" is translated as "vielen Dank" or "danke schön", half the time each.

# %%
outputs = {("vielen", "Dank"): 0.5, ("danke", "schön"): 0.5}  # the true p(y | x): two modes
pos1, pos2 = {}, {}
for (a, b), p in outputs.items():                             # what a NAT can learn: per-position marginals
    pos1[a] = pos1.get(a, 0) + p
    pos2[b] = pos2.get(b, 0) + p
nat = {(a, b): pa * pb for a, pa in pos1.items() for b, pb in pos2.items()}   # p(y1) p(y2), independent
for y, p in sorted(nat.items(), key=lambda kv: -kv[1]):
    print(f"  NAT p({' '.join(y):14}) = {p:.2f}   true p = {outputs.get(y, 0.0):.2f}")
print("probability that a NAT sample is one of the two valid outputs:", sum(nat[y] for y in outputs))

# %% [markdown]
# Half of the NAT's samples are "vielen schön" or "danke Dank". An autoregressive decoder has
# no such problem: once it has written "danke", $p(y_2 \mid \text{danke})$ puts all its mass on
# "schön". Remedies: knowledge distillation from an AT teacher (its outputs are less
# multi-modal), iterative refinement (Mask-Predict, [arXiv:1904.09324](https://arxiv.org/abs/1904.09324)),
# CTC-style alignment.
#
# The speed side of the trade-off, measured on our trained model: the autoregressive loop
# calls the decoder once per output token; a NAT would call it once. We time one decoder pass
# over the full target length against the greedy loop, for the 1000 test inputs.

# %%
src, tgt = task.make_batch(task.test)                         # (B, Ls), (B, Lt)
with torch.no_grad():
    memory = model.encode(src)
    t0 = time.perf_counter()
    model.decode(teacher_forcing_input(tgt), memory)          # one parallel pass, as a NAT decoder would
    t_parallel = time.perf_counter() - t0
    t0 = time.perf_counter()
    greedy(model, src)                                        # 11 sequential passes
    t_sequential = time.perf_counter() - t0
print(f"one parallel decoder pass: {1e3 * t_parallel:.0f} ms;  greedy loop ({tgt.shape[1]} steps): {1e3 * t_sequential:.0f} ms")

# %% [markdown]
# Here the greedy loop takes several times as long as the single pass (not the full 11 times:
# its early passes run on short prefixes). On a GPU, which computes all positions of a pass in
# parallel, the single pass costs little more than one step of the loop: that is the point of NAT.
#
# ## Summary
#
# * **Seq2seq**: an input sequence to an output sequence whose length the model chooses; ASR,
#   translation, speech translation, TTS, chat, and (by writing the output as a sequence)
#   parsing, multi-label classification and object detection.
# * The **encoder** block: self-attention and a position-wise FFN, each wrapped in a residual
#   connection and **LayerNorm** (per position, over the features). **Post-LN**
#   $\mathrm{LN}(x + f(x))$ is the original; **pre-LN** $x + f(\mathrm{LN}(x))$ keeps an identity
#   path through the whole stack, has similar gradient norms in every layer at initialisation,
#   and trains without (or with little) warm-up; post-LN has larger gradients near the output and
#   needs warm-up.
# * The **decoder** is autoregressive: it starts from BOS, feeds back its own outputs, and stops
#   at EOS. Training uses **teacher forcing** (decoder input = target shifted right) and a
#   **causal mask** so that position $t$ cannot see the token it must predict; at generation
#   time the future does not exist, so training and generation see the same thing. A wrong
#   output is fed back: errors can propagate.
# * **Cross-attention**: queries from the decoder, keys and values from the encoder's memory,
#   padded source positions masked; its weights are an alignment between output and input.
#   Our model learns a non-monotonic alignment (year last in, first out).
# * The model (`coursekit.seq2seq.Seq2SeqTransformer`, 2 + 2 layers, $d = 64$) gets over 90 % of
#   the unseen test dates exactly right after 800 training steps on a CPU.
# * **Non-autoregressive** decoding predicts all tokens in parallel (length predicted, or output
#   long and cut at EOS): fast, but the positions are independent, which fails on multi-modal
#   outputs.
#
# **Next:** lecture 5 looks at training and decoding more closely: exposure bias, copying,
# guided attention, beam search and sampling, and why we train on cross-entropy but report BLEU.
#
# ## Exercises
#
# Each exercise has a hint and a worked answer; click to open them, after you have tried.
#
# 1. **Parameters.** Write the number of parameters of one encoder layer and one decoder layer
#    as a formula in $d$ and $d_{ff}$ (attention: $4d^2 + 4d$; FFN; LayerNorm: $2d$ each) and check
#    it against `sum(p.numel() for p in layer.parameters())` for the layers of `model`. Which part
#    dominates when $d_{ff} = 4d$?
#
# <details><summary>Hint</summary>
#
# `nn.Linear(a, b)` has $ab + b$ parameters. The FFN is two of them, $d \to d_{ff} \to d$. A
# decoder layer has two attention sub-layers (self and cross) and three LayerNorms.
# </details>
#
# <details><summary>Answer</summary>
#
# Encoder layer: $(4d^2 + 4d) + (2 d\, d_{ff} + d_{ff} + d) + 2 \cdot 2d = 4d^2 + 2d\,d_{ff} + d_{ff} + 9d$.
# Decoder layer: $2(4d^2 + 4d) + (2 d\, d_{ff} + d_{ff} + d) + 3 \cdot 2d = 8d^2 + 2d\,d_{ff} + d_{ff} + 15d$.
# With $d = 64$, $d_{ff} = 256$: 49,984 and 66,752.
#
# ```python
# enc, dec = model.encoder_layers[0], model.decoder_layers[0]
# d, dff = 64, 256
# print(sum(p.numel() for p in enc.parameters()), 4*d*d + 2*d*dff + dff + 9*d)
# print(sum(p.numel() for p in dec.parameters()), 8*d*d + 2*d*dff + dff + 15*d)
# ```
#
# With $d_{ff} = 4d$ the FFN has about $8d^2$ parameters against $4d^2$ for one attention
# sub-layer: two thirds of an encoder layer, half of a decoder layer.
# </details>
#
# 2. **Warm-up.** Repeat the short runs of section 2.4 with 12 layers, learning rates
#    $10^{-2}$ and $3 \cdot 10^{-2}$, and three seeds each. When does post-LN without warm-up fail,
#    how much warm-up does it need, and does pre-LN ever fail?
#
# <details><summary>Hint</summary>
#
# `short_run(norm_first, warmup, n_layers=12, lr=..., seed=...)` returns the losses; compare the
# mean of the last 20 with $\ln 10 \approx 2.30$ (chance). Try warm-ups of 10, 25, 50 steps.
# </details>
#
# <details><summary>Answer</summary>
#
# Count a run as failed when its final loss stays near 2.30. Post-LN without warm-up is the
# setting that fails first as the learning rate or the depth grows (section 2.4 shows it failing
# at 6 layers and $3 \cdot 10^{-2}$); a warm-up of a few tens of steps rescues it, more for deeper
# stacks and larger learning rates. Pre-LN tolerates larger learning rates without warm-up, but it
# is not immune: at a large enough learning rate it fails too, which is why pre-LN models still
# usually use a short warm-up (as our date model does). The exact thresholds depend on the seed,
# so report how many of the three seeds fail in each cell of the table.
# </details>
#
# 3. **No mask.** Train the model for 200 steps with the causal mask removed from the decoder
#    (use `decode_without_mask` inside a small training loop). What happens to the training loss,
#    and what does greedy decoding produce? Explain both.
#
# <details><summary>Hint</summary>
#
# Without the mask, position $t$ of the teacher-forced input can see position $t + 1$, which is
# the token it must predict.
# </details>
#
# <details><summary>Answer</summary>
#
# Expect the training loss to fall much faster than with the mask, towards 0: the model learns to copy
# the next input token, which is the answer (the last position, which has no next input, is the
# only one that must really predict). At generation time the next token does not exist yet, so
# the copying the model learned has nothing to copy; greedy decoding gives wrong dates
# (repeated or arbitrary digits), and the exact match is far below that of the masked model. The
# mask is what makes training look like generation.
# </details>
#
# 4. **Cross-attention.** Find a test input where the model is wrong and plot its cross-attention
#    maps. Does the attention explain the mistake?
#
# <details><summary>Hint</summary>
#
# `wrong` holds the indices of the errors; call `cross_attention_maps(model, task.test[i][0])`
# and plot the last layer as in section 5.1.
# </details>
#
# <details><summary>Answer</summary>
#
# For most errors, yes: they are copy errors (section 5), and the row of the wrong output digit
# puts its weight on the neighbouring source digit (the one that should have been copied one step
# earlier or later), or spreads it over both. The attention shows *where* the model looked; it does
# not always show *why*, and for some errors the map looks right and the mistake is in the layers
# after it.
# </details>
#
# 5. **Non-autoregressive.** Train a NAT version: the decoder input is all BOS (length 11; the
#    targets are cut at EOS), so `decode` never sees previous outputs. Compare its exact match
#    with the autoregressive model after the same number of steps. Why does this task suffer
#    less from multi-modality than translation?
#
# <details><summary>Hint</summary>
#
# Replace `teacher_forcing_input(tgt)` by `torch.full_like(tgt, BOS_ID)` in a copy of the training
# loop; the positional encoding is then the only thing that tells the positions apart. Decode
# with one pass and an argmax at every position.
# </details>
#
# <details><summary>Answer</summary>
#
# Expect the NAT model to learn the task but to reach a lower exact match than the autoregressive
# one after the same steps: each position must find its own source characters through cross-attention
# alone, without knowing what the previous positions wrote. Multi-modality hurts less here because
# every input has exactly **one** correct output (the ISO date) of a fixed length 10 + EOS: the
# per-position distributions have a single mode, so independent choices are consistent. In
# translation one input has many valid outputs and independent positions mix them.
# </details>

# %% [markdown]
# ## 摘要
#
# **繁體中文**
#
# * **序列到序列（Seq2seq）**：輸入一個序列，輸出一個長度由模型自己決定的序列；語音辨識、機器翻譯、
#   語音翻譯、語音合成、聊天機器人，以及（把輸出寫成序列後的）句法剖析、多標籤分類、物件偵測都可以用它。
# * **編碼器（Encoder）** 的每個 block：自注意力與逐位置的前饋網路，各自包上**殘差連接**與
#   **層標準化（Layer Norm）**。原始 Transformer 用 **post-LN** $\mathrm{LN}(x + f(x))$；**pre-LN**
#   $x + f(\mathrm{LN}(x))$ 保留一條貫穿整個網路的恆等路徑，初始化時各層梯度大小相近，不需要（或只需要很少）
#   學習率暖身；post-LN 靠近輸出的層梯度較大，需要暖身。
# * **解碼器（Decoder）** 是**自迴歸**的：從 BOS 開始，把自己的輸出當作下一步的輸入，產生 EOS 時停止。
#   訓練時用**教師強制（Teacher Forcing）**（解碼器輸入為右移一格的正確答案）與**遮罩自注意力**
#   （Masked Self-attention），讓位置 $t$ 看不到它要預測的字。輸出錯一步，後面可能步步錯（錯誤傳播）。
# * **交叉注意力（Cross-attention）**：query 來自解碼器，key 與 value 來自編碼器的輸出；注意力權重就是
#   輸出與輸入之間的對齊。我們的模型學到非單調的對齊（年份在輸入最後、在輸出最前）。
# * **非自迴歸（NAT）** 解碼一次平行產生所有輸出（先預測長度，或輸出夠長再從 EOS 截斷）：快，但各位置彼此
#   獨立，遇到有多種正確輸出的資料（多峰性）就會出錯。
#
# **简体中文**
#
# * **序列到序列（Seq2seq）**：输入一个序列，输出一个长度由模型自己决定的序列；语音识别、机器翻译、
#   语音翻译、语音合成、聊天机器人，以及（把输出写成序列后的）句法分析、多标签分类、目标检测都可以用它。
# * **编码器（Encoder）** 的每个 block：自注意力与逐位置的前馈网络，各自包上**残差连接**与
#   **层标准化（Layer Norm）**。原始 Transformer 用 **post-LN** $\mathrm{LN}(x + f(x))$；**pre-LN**
#   $x + f(\mathrm{LN}(x))$ 保留一条贯穿整个网络的恒等路径，初始化时各层梯度大小相近，不需要（或只需要很少）
#   学习率预热；post-LN 靠近输出的层梯度较大，需要预热。
# * **解码器（Decoder）** 是**自回归**的：从 BOS 开始，把自己的输出当作下一步的输入，产生 EOS 时停止。
#   训练时用**教师强制（Teacher Forcing）**（解码器输入为右移一格的正确答案）与**掩码自注意力**
#   （Masked Self-attention），让位置 $t$ 看不到它要预测的字。输出错一步，后面可能步步错（错误传播）。
# * **交叉注意力（Cross-attention）**：query 来自解码器，key 与 value 来自编码器的输出；注意力权重就是
#   输出与输入之间的对齐。我们的模型学到非单调的对齐（年份在输入最后、在输出最前）。
# * **非自回归（NAT）** 解码一次并行产生所有输出（先预测长度，或输出足够长再从 EOS 截断）：快，但各位置彼此
#   独立，遇到有多种正确输出的数据（多峰性）就会出错。
