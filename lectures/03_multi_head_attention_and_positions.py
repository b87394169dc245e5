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
# # Lecture 3: Multi-head attention and positions
#
# [English–中文 glossary](glossary.md) · Original course: Hung-yi Lee, ML 2021, *Self-attention (下)*
# ([video](https://www.youtube.com/watch?v=gmsMY5kc-zw); course page
# https://speech.ee.ntu.edu.tw/~hylee/ml/2021-spring.php): multi-head self-attention, positional
# encoding, truncated self-attention, self-attention for images and graphs, vs CNN and RNN.
# Paper: Vaswani et al. (2017), [arXiv:1706.03762](https://arxiv.org/abs/1706.03762) (multi-head
# attention, sinusoidal positional encoding); the others are linked in their sections.
#
# Lecture 2 built one self-attention layer: every output $b^i = \sum_j \alpha'_{i,j} v^j$ with
# $\alpha'_{i,\cdot} = \mathrm{softmax}_j(q^i \cdot k^j / \sqrt{d_k})$. This lecture completes it
# and puts it in context:
#
# 1. **Multi-head** attention: several kinds of relevance side by side; a from-scratch version
#    that matches `torch.nn.MultiheadAttention` number for number.
# 2. Self-attention has **no notion of order**, measured.
# 3. **Positional encoding**: the sinusoidal table, its geometry, adding vs concatenating,
#    learned embeddings, and a tiny model that needs positions.
# 4. **Truncated** (windowed) self-attention for long inputs such as speech, with measured time
#    and memory.
# 5. Self-attention on **images** and on **graphs**.
# 6. Self-attention vs **CNN** and vs **RNN**.
#
# **Notation** (the course's symbol table is in lecture 1). Batch-first tensors: $B$ batch, $L$
# ($L_q$, $L_k$) sequence length, $d$ = $d_{\text{model}}$ model size, $H$ heads, $d_h = d/H$ head
# size, $\mathbf{S}$ scores, $\mathbf{A} = \mathrm{softmax}(\mathbf{S})$ weights, $\mathbf{P}$ the
# positional encoding table (row $p$ is $\mathrm{PE}[p]$, the vector $e^p$ of the lecture). In code
# the vocabulary size is `vocab_size`. Shapes are comments on the line that creates a tensor. Every boolean mask means **True = may attend / is a real position**
# (the convention of `torch.nn.functional.scaled_dot_product_attention`).

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from coursekit.attention_plots import plot_attention, plot_attention_heads
from coursekit.corpus import generate_sentences, load_corpus

torch.manual_seed(0)
np.random.seed(0)
# One thread: the tensors are small (threads would mostly add overhead), and the timings of
# sections 4 and 6 stay comparable from run to run and machine to machine.
torch.set_num_threads(1)
plt.rcParams["figure.dpi"] = 100

# %% [markdown]
# The attention function of lecture 2, unchanged. It works for any number of leading batch
# dimensions, so the same code serves `(B, L, d)` and `(B, H, L, dh)` tensors.

# %%
def attention(q, k, v, keep=None):
    """softmax(q k^T / sqrt(dk)) v over the last two dims; keep: True = may attend.

    q (..., Lq, dk), k (..., Lk, dk), v (..., Lk, dv) -> output (..., Lq, dv), weights (..., Lq, Lk).
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])   # (..., Lq, Lk)
    if keep is not None:
        scores = scores.masked_fill(~keep, float("-inf"))       # blocked -> weight exactly 0
    weights = torch.softmax(scores, dim=-1)                     # (..., Lq, Lk) rows sum to 1
    return weights @ v, weights                                 # (..., Lq, dv), (..., Lq, Lk)

# %% [markdown]
# ## 1. Multi-head attention
#
# One softmax per query produces **one** weighted average, so a single head has to decide on one
# notion of "relevant". Language has several at once: the previous word, the subject of this
# verb, the noun this adjective belongs to, words with a similar meaning. **Multi-head**
# attention runs $H$ attention computations side by side, each with its own projections, and
# combines their outputs:
#
# $$q^{i,h} = W^{q,h} a^i,\quad k^{j,h} = W^{k,h} a^j,\quad v^{j,h} = W^{v,h} a^j,\qquad
#   b^{i,h} = \sum_j \mathrm{softmax}_j\!\left(\frac{q^{i,h}\cdot k^{j,h}}{\sqrt{d_h}}\right) v^{j,h},$$
# $$b^i = W^O \left[b^{i,1}; \dots; b^{i,H}\right] \qquad(\text{concatenate the heads, then project}).$$
#
# Queries of head $h$ only meet keys of head $h$. In code we do not keep $H$ separate small
# matrices: one $d \times d$ projection computes all heads at once and we **split** its output
# into $H$ chunks of size $d_h = d/H$. The cost is therefore the same as one head of size $d$.
#
# In the row convention (batch-first, $X$ is $(B, L, d)$):
#
# $$Q = X W_q,\ K = X W_k,\ V = X W_v \ \to\ \text{split into } (B, H, L, d_h),\qquad
#   O_h = \mathrm{softmax}\!\left(\frac{Q_h K_h^\top}{\sqrt{d_h}}\right) V_h,\qquad
#   \mathrm{MHA}(X) = [O_1, \dots, O_H]\, W_O .$$

# %%
class MHA(nn.Module):
    """Multi-head self-attention, batch-first, written out (lecture version)."""

    def __init__(self, d_model, n_heads):
        super().__init__()
        assert d_model % n_heads == 0, "d_model must be a multiple of the number of heads"
        self.H, self.dh = n_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model)            # all heads' W_q side by side
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)          # W_O

    def forward(self, x, keep=None):
        """x (B, L, d); keep broadcastable to (B, H, L, L), True = may attend."""
        B, L, d = x.shape
        H, dh = self.H, self.dh
        q = self.q_proj(x).view(B, L, H, dh).transpose(1, 2)  # (B, H, L, dh)
        k = self.k_proj(x).view(B, L, H, dh).transpose(1, 2)  # (B, H, L, dh)
        v = self.v_proj(x).view(B, L, H, dh).transpose(1, 2)  # (B, H, L, dh)
        o, weights = attention(q, k, v, keep)                 # (B, H, L, dh), (B, H, L, L)
        o = o.transpose(1, 2).reshape(B, L, d)                # (B, L, H*dh) concatenate the heads
        return self.out_proj(o), weights                      # (B, L, d), (B, H, L, L)

# %% [markdown]
# ### 1.1 Same numbers as `torch.nn.MultiheadAttention`
#
# PyTorch's layer stores the three input projections **stacked** in one matrix,
# `in_proj_weight` $= [W_q; W_k; W_v]$ of shape $(3d, d)$ (each block in `nn.Linear` layout,
# `(out, in)`), the biases likewise in `in_proj_bias`, and $W_O$ in `out_proj`. We copy our
# weights in and compare, on a batch of two sequences where the second is padded.
#
# **Mask convention.** Our masks mean *True = real / may attend* (here `real`, shape `(B, L)`,
# which `MHA` receives as `keep` of shape `(B, 1, 1, L)`). `nn.MultiheadAttention`'s
# `key_padding_mask` (and its boolean `attn_mask`) use the **opposite** convention, *True =
# ignore this key*, so we pass `~real`.

# %%
torch.manual_seed(0)
B, L, d_model, H = 2, 6, 16, 4
x = torch.randn(B, L, d_model)                                # (B, L, d)
lengths = torch.tensor([6, 4])
real = torch.arange(L)[None, :] < lengths[:, None]            # (B, L) True = real token

mha = MHA(d_model, H)
ref = nn.MultiheadAttention(d_model, H, batch_first=True)
with torch.no_grad():
    ref.in_proj_weight.copy_(torch.cat([mha.q_proj.weight, mha.k_proj.weight, mha.v_proj.weight]))  # (3d, d)
    ref.in_proj_bias.copy_(torch.cat([mha.q_proj.bias, mha.k_proj.bias, mha.v_proj.bias]))          # (3d,)
    ref.out_proj.weight.copy_(mha.out_proj.weight)           # (d, d) W_O
    ref.out_proj.bias.copy_(mha.out_proj.bias)

out, w = mha(x, keep=real[:, None, None, :])                   # keep: (B, 1, 1, Lk)
out_ref, w_ref = ref(x, x, x, key_padding_mask=~real,         # PyTorch: True = ignore
                     need_weights=True, average_attn_weights=False)
mha_vs_torch = [(out - out_ref).abs().max().item(), (w - w_ref).abs().max().item()]   # outputs, weights
print("outputs  max |diff|:", mha_vs_torch[0])
print("weights  max |diff|:", mha_vs_torch[1], " shape", tuple(w.shape))
print("padded keys get weight:", w[1, :, :, 4:].abs().max().item())

# %% [markdown]
# The parameter count is $4d^2 + 4d$ (four $d \times d$ matrices plus biases), **whatever $H$
# is**: more heads means smaller heads, not more parameters.

# %%
for heads in [1, 2, 4, 8]:
    print(f"H = {heads}: dh = {d_model // heads:2d}, parameters = {sum(p.numel() for p in MHA(d_model, heads).parameters())}")

# %% [markdown]
# ### 1.2 Per-head weights
#
# The weights of each head on a corpus sentence, for an **untrained** layer with random word
# vectors. The heads already differ (no two heads put their largest weight on the same key for
# every query), because their projections differ, but nothing here means
# anything yet; section 3.5 shows heads after training.

# %%
sentences = generate_sentences(3000, seed=0)
corpus_ids, vocab = load_corpus(3000, seed=0)
vocab_size = len(vocab)

torch.manual_seed(1)
word_vectors = nn.Embedding(vocab_size, 32)                  # random, untrained
sent = sentences[2]                                           # "the queen walked the yellow horse near the river ."
ids = torch.tensor(vocab.encode(sent))[None]                  # (1, L)
layer = MHA(32, 4)                                            # untrained, d = 32, H = 4
with torch.no_grad():
    _, w_untrained = layer(word_vectors(ids))                  # (1, H, L, L)
plot_attention_heads(w_untrained[0], sent, sent, suptitle="An untrained 4-head layer: different, and meaningless")
plt.show()

# %% [markdown]
# ## 2. Self-attention does not know the order
#
# Nothing in $q^i \cdot k^j$ depends on *where* $i$ and $j$ are. If we shuffle the input rows
# with a permutation matrix $\Pi$, the scores become $\Pi \mathbf{S} \Pi^\top$ (and so do the weights)
# and the output is shuffled the same way:
#
# $$\mathrm{MHA}(\Pi \mathbf{X}) = \Pi\, \mathrm{MHA}(\mathbf{X}) \qquad (\text{permutation equivariance}).$$

# %%
torch.manual_seed(0)
x = torch.randn(1, 8, d_model)                                # (B, L, d)
perm = torch.randperm(8)
with torch.no_grad():
    out, _ = mha(x)                                           # (1, 8, d)
    out_perm, _ = mha(x[:, perm])                             # (1, 8, d) shuffled input
print("permutation:", perm.tolist())
print("max |MHA(ΠX) - Π MHA(X)| =", (out_perm - out[:, perm]).abs().max().item())

# %% [markdown]
# The difference is float32 rounding. A consequence: "the dog chased the cat" and "the cat
# chased the dog" give **the same set** of output vectors; the output at "dog" is identical in
# both sentences although "dog" is the chaser in one and the chased in the other.

# %%
s1, s2 = "the dog chased the cat .".split(), "the cat chased the dog .".split()
with torch.no_grad():
    o1, _ = layer(word_vectors(torch.tensor(vocab.encode(s1))[None]))   # (1, L, 32)
    o2, _ = layer(word_vectors(torch.tensor(vocab.encode(s2))[None]))   # (1, L, 32)
print("output at 'dog' identical in both sentences:",
      torch.allclose(o1[0, s1.index("dog")], o2[0, s2.index("dog")], atol=1e-6))

# %% [markdown]
# ## 3. Positional encoding
#
# The fix is to put the position into the input: $a^i \leftarrow a^i + e^i$ with a vector $e^i$
# that depends only on the position $i$. Vaswani et al. (2017) use a fixed table of sines and
# cosines of geometrically spaced frequencies, interleaved (the table $\mathbf{P}$, $L \times d$):
#
# $$\mathrm{PE}[p, 2i] = \sin\!\left(\frac{p}{10000^{2i/d}}\right),\qquad
#   \mathrm{PE}[p, 2i+1] = \cos\!\left(\frac{p}{10000^{2i/d}}\right),\qquad i = 0, \dots, d/2 - 1 .$$
#
# ### 3.1 The table

# %%
def positional_encoding_table(L, d, base=10000.0):
    """(L, d) sinusoidal table, sin in even columns, cos in odd columns (d even)."""
    p = torch.arange(L, dtype=torch.float32)[:, None]         # (L, 1) positions
    two_i = torch.arange(0, d, 2, dtype=torch.float32)        # (d/2,) the even indices 2i
    angle = p / base ** (two_i / d)                           # (L, d/2)  p / 10000^(2i/d)
    pe = torch.zeros(L, d)                                    # (L, d)
    pe[:, 0::2] = torch.sin(angle)                            # PE[p, 2i]
    pe[:, 1::2] = torch.cos(angle)                            # PE[p, 2i+1]
    return pe


pe = positional_encoding_table(100, 64)                       # (L, d) = (100, 64)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4), gridspec_kw={"width_ratios": [1.3, 1]})
im = ax1.imshow(pe.numpy(), cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
ax1.set(xlabel="dimension", ylabel="position $p$", title="PE[p, :] for L = 100, d = 64")
fig.colorbar(im, ax=ax1, fraction=0.04)
for dim in [0, 1, 10, 30]:
    ax2.plot(pe[:, dim].numpy(), label=f"dim {dim}")
ax2.set(xlabel="position $p$", ylabel="value", title="Some columns: fast to slow waves")
ax2.legend(fontsize=8, loc="lower left")
plt.tight_layout()
plt.show()

# %% [markdown]
# Each column is a wave; the wavelength grows geometrically from $2\pi$ (dimensions 0-1) to
# $2\pi \cdot 10000^{(d-2)/d}$ (the last pair), about $2\pi \cdot 7500$ for $d = 64$. Going down the table (increasing $p$), the first
# dimensions oscillate fast and the last ones hardly change, a bit like the digits of a counter. Every position gets a
# different vector, the values stay in $[-1, 1]$ whatever the length, and the table can be
# computed for positions never seen in training.
#
# ### 3.2 Similarity depends on distance only
#
# Using $\sin a \sin b + \cos a \cos b = \cos(a - b)$ pair by pair,
#
# $$\mathrm{PE}[p] \cdot \mathrm{PE}[q] = \sum_{i=0}^{d/2-1} \cos\!\big(\omega_i (p - q)\big),
#   \qquad \omega_i = 10000^{-2i/d},$$
#
# a function of the offset $p - q$ alone (and symmetric in it), with its maximum $d/2$ at offset 0.
# The curves for three different $p$ lie on top of each other:

# %%
pe = positional_encoding_table(200, 64)                       # (200, 64)
gram = pe @ pe.T                                              # (200, 200) PE[p]·PE[q]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4), gridspec_kw={"width_ratios": [1.4, 1]})
for p, style in [(40, "-"), (100, "--"), (150, ":")]:
    offsets = torch.arange(-40, 41)
    ax1.plot(offsets.numpy(), gram[p, p + offsets].numpy(), style, lw=2, label=f"p = {p}")
ax1.set(xlabel="offset $q - p$", ylabel="PE[p] · PE[q]", title="Dot product vs offset (d = 64)")
ax1.legend()
im = ax2.imshow(gram.numpy(), cmap="viridis")
ax2.set(xlabel="q", ylabel="p", title="PE PE$^T$: constant along diagonals")
fig.colorbar(im, ax=ax2, fraction=0.046)
plt.tight_layout()
plt.show()

# %% [markdown]
# Nearby positions are the most similar, and the similarity falls off (with ripples) as the
# distance grows: it drops from 32 at offset 0 to about 23 at offset 5 and 21 at offset 10.
# Since it is symmetric, the plain dot product cannot tell *left* from *right*;
# after the learned projections, $(W^q \mathrm{PE}[p]) \cdot (W^k \mathrm{PE}[q])$ can.
#
# ### 3.3 An offset is a rotation
#
# Why this particular table? For every fixed offset $k$ there is a matrix $R_k$, the same for all
# $p$, with $\mathrm{PE}[p + k] = R_k\, \mathrm{PE}[p]$: it rotates each (sin, cos) pair by the angle
# $\omega_i k$. A linear layer can therefore learn "look $k$ positions back" once, for all
# positions. We build $R_k$ and check.

# %%
def offset_rotation(k, d, base=10000.0):
    """(d, d) block-diagonal matrix R_k with PE[p + k] = R_k PE[p] for every p."""
    omega = base ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)   # (d/2,)
    c, s = torch.cos(omega * k), torch.sin(omega * k)
    R = torch.zeros(d, d)
    R[0::2, 0::2] = torch.diag(c)                             # sin(a+b) = sin a cos b + cos a sin b
    R[0::2, 1::2] = torch.diag(s)
    R[1::2, 0::2] = torch.diag(-s)                            # cos(a+b) = cos a cos b - sin a sin b
    R[1::2, 1::2] = torch.diag(c)
    return R


pe = positional_encoding_table(200, 64)
R3 = offset_rotation(3, 64)
print("max |PE[p+3] - R_3 PE[p]| over p = 0..196:", (pe[3:] - pe[:-3] @ R3.T).abs().max().item())

# %% [markdown]
# ### 3.4 Adding or concatenating?
#
# Adding $e^i$ to $a^i$ looks like it mixes two different things. Concatenating,
# $[a^i; e^i]$, keeps them apart, but the first thing attention does is a linear projection,
# and a linear map of a concatenation is a **sum** of two linear maps:
#
# $$W \begin{bmatrix} a \\ e \end{bmatrix} = W_a a + W_e e, \qquad W = [W_a \; W_e].$$
#
# So concatenation is the same as adding a *linearly transformed* positional vector; adding
# directly saves the extra width. In a space of many dimensions the model can also keep word
# and position information in (nearly) separate subspaces by itself.

# %%
torch.manual_seed(0)
d_word, d_pos, d_out = 16, 16, 8
a, e = torch.randn(d_word), torch.randn(d_pos)                # (d_word,), (d_pos,)
W = torch.randn(d_out, d_word + d_pos)                        # (d_out, d_word + d_pos) W = [W_a W_e]
W_a, W_e = W[:, :d_word], W[:, d_word:]
print("W [a; e] == W_a a + W_e e:", torch.allclose(W @ torch.cat([a, e]), W_a @ a + W_e @ e, atol=1e-5))

# %% [markdown]
# **Learned positional embeddings.** Instead of a fixed formula, the positions can have an
# embedding table of their own, `nn.Embedding(max_len, d)`, trained with the model (BERT,
# GPT-2). It fits the data but knows nothing about positions beyond `max_len`. Learned and
# hand-crafted encodings are compared by Liu et al. (2020,
# [arXiv:2003.09229](https://arxiv.org/abs/2003.09229)), the paper the original lecture points to.
# Many later models encode **relative** positions directly in the attention scores instead: Shaw
# et al. (2018, [arXiv:1803.02155](https://arxiv.org/abs/1803.02155)), the T5 bias (Raffel et al.,
# [arXiv:1910.10683](https://arxiv.org/abs/1910.10683)), rotary embeddings (RoPE, Su et al. 2021,
# [arXiv:2104.09864](https://arxiv.org/abs/2104.09864), which builds on exactly the rotation
# property of section 3.3) and ALiBi (Press et al. 2022, [arXiv:2108.12409](https://arxiv.org/abs/2108.12409)).

# %%
max_len = 512
learned_pe = nn.Embedding(max_len, d_model)                   # one trainable vector per position
tokens = torch.randn(2, 10, d_model)                          # (B, L, d) word vectors
x = tokens + learned_pe(torch.arange(10))                     # (B, L, d) broadcast over the batch
print("input with learned positions:", tuple(x.shape), "  parameters:", learned_pe.weight.numel())

# %% [markdown]
# ### 3.5 A task that needs positions
#
# A tiny experiment: a sequence of 10 random words goes in, and at every position the model must
# output the **previous** word and the **next** word (two classifiers on the same output vector).
# The words are drawn at random from the corpus vocabulary, so content cannot help: only
# positions can. The model is an embedding, optionally plus the sinusoidal table, one 2-head
# `MHA`, and two linear read-outs. We train it with and without positional encoding.

# %%
class NeighbourModel(nn.Module):
    def __init__(self, vocab_size, d_model, n_heads, max_len, use_positions):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.attn = MHA(d_model, n_heads)
        self.prev_word = nn.Linear(d_model, vocab_size)
        self.next_word = nn.Linear(d_model, vocab_size)
        pe = positional_encoding_table(max_len, d_model) if use_positions else torch.zeros(max_len, d_model)
        self.register_buffer("pe", pe)                        # (max_len, d) fixed, not trained

    def forward(self, ids):                                   # ids: (B, L)
        x = self.embed(ids) + self.pe[: ids.shape[1]]         # (B, L, d) word + position
        h, weights = self.attn(x)                             # (B, L, d), (B, H, L, L)
        return self.prev_word(h), self.next_word(h), weights  # (B, L, |V|), (B, L, |V|), (B, H, L, L)


def train_neighbour_model(use_positions, steps=400, L=10, seed=0):
    torch.manual_seed(seed)
    model = NeighbourModel(vocab_size, 32, 2, L, use_positions)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        ids = torch.randint(0, vocab_size, (128, L), generator=gen)  # (B, L) random words
        prev_logits, next_logits, _ = model(ids)
        loss = (F.cross_entropy(prev_logits[:, 1:].reshape(-1, vocab_size), ids[:, :-1].reshape(-1))
                + F.cross_entropy(next_logits[:, :-1].reshape(-1, vocab_size), ids[:, 1:].reshape(-1)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    ids = torch.randint(0, vocab_size, (1000, L), generator=gen)  # fresh test sequences
    with torch.no_grad():
        prev_logits, next_logits, _ = model(ids)
    acc_prev = (prev_logits[:, 1:].argmax(-1) == ids[:, :-1]).float().mean().item()
    acc_next = (next_logits[:, :-1].argmax(-1) == ids[:, 1:]).float().mean().item()
    return model, acc_prev, acc_next


neighbour_accuracy = {}                                       # use_positions -> (previous, next)
for use_positions in [False, True]:
    model, acc_prev, acc_next = train_neighbour_model(use_positions)
    neighbour_accuracy[use_positions] = (acc_prev, acc_next)
    print(f"positional encoding {'on ' if use_positions else 'off'}: accuracy previous word {acc_prev:6.1%}, "
          f"next word {acc_next:6.1%}   (chance {1 / vocab_size:.1%})")
neighbour_model = model                                       # the one with positions

# %% [markdown]
# Without positions a word cannot tell which of the other words is next to it, so the best it can
# do is guess one of the other nine words of the sequence: 1 in 9, or a little better by picking
# a word that occurs twice among them. We estimate that best possible accuracy on random
# sequences.

# %%
gen = torch.Generator().manual_seed(1)
ids_rand = torch.randint(0, vocab_size, (2000, 10), generator=gen)   # (N, L) random sequences
hits = []
for seq in ids_rand.tolist():
    for i in range(1, 10):                                    # the query at i predicts the word at i - 1
        others = seq[:i] + seq[i + 1:]                        # the 9 words it sees, order unknown
        guess = max(set(others), key=others.count)            # the most frequent of them
        hits.append(others.count(guess) / 9)                  # chance that the true neighbour is that word
best_without_positions = float(np.mean(hits))
print(f"best accuracy without positions: {best_without_positions:.1%} (1/9 = {1 / 9:.1%})")

# %% [markdown]
# The model without positions reaches that bound (about 15%, more than ten times chance but nowhere
# near solving the task). With the sinusoidal table it solves the task (over 99%). Its two heads on a
# sentence of the corpus (the model never saw real sentences, only positions matter here):

# %%
sent = sentences[2]
with torch.no_grad():
    _, _, w_heads = neighbour_model(torch.tensor(vocab.encode(sent))[None])   # (1, H, L, L)
plot_attention_heads(w_heads[0], sent, sent, panel_size=3.4, suptitle="Trained heads (with positional encoding)")
plt.show()
L_s = len(sent)
head_offsets = []                                             # per head: median offset of its most-attended key
for h in range(w_heads.shape[1]):
    offset = (w_heads[0, h].argmax(-1) - torch.arange(L_s)).float()   # most-attended key minus query position
    head_offsets.append(int(offset.median().item()))
    print(f"head {h}: most-attended key is at offset {head_offsets[-1]:+d} (median over queries)")

# %% [markdown]
# The heads split the work: one looks one position **back**, the other one position
# **forward**, a division of labour that a single head could not express with one softmax
# (it would have to average the two neighbours). This is the multi-head story of section 1 in
# miniature, and it only works because the positions are in the input.

# %% [markdown]
# ## 4. Truncated self-attention for long sequences
#
# Speech comes at 100 frames per second (25 ms windows every 10 ms, lecture 1), so 10 s of audio
# is $L = 998$ vectors (lecture 1's $T = \lfloor (N - \text{win}) / \text{hop} \rfloor + 1$) and the
# attention matrix has $L^2 \approx 10^6$ entries, per head, per layer, per utterance in the batch,
# and it is kept for the backward pass. Time and memory grow as $O(L^2)$.

# %%
L_10s = (10 * 16_000 - 400) // 160 + 1                        # frames in 10 s: N = 160 000, win 400, hop 160
print(f"10 s of speech: L = {L_10s} frames, L^2 = {L_10s ** 2:,} scores per head and layer")

# %% [markdown]
# For recognising a phoneme the frames around it are what matters, so **truncated**
# self-attention lets each frame attend only to a window $|i - j| \le w$ (used for speech
# recognition e.g. in the Transformer-Transducer, Yeh et al. 2019,
# [arXiv:1910.12977](https://arxiv.org/abs/1910.12977), which the original lecture cites). As a mask (True = may
# attend):

# %%
def band_mask(L, w):
    """(L, L) boolean, True where |i - j| <= w (may attend)."""
    i = torch.arange(L)
    return (i[:, None] - i[None, :]).abs() <= w               # (L, L)


fig, ax = plt.subplots(figsize=(4.2, 4))
plot_attention(band_mask(12, 2).float(), range(12), range(12), ax=ax, title="band_mask(12, w=2): True = may attend",
               annotate=False, colorbar=False)
plt.tight_layout()
plt.show()

# %% [markdown]
# Passing this mask to `attention` gives the right answer but **saves nothing**: the full
# $L \times L$ score matrix is still computed and then mostly overwritten with $-\infty$.
# To save work we compute only the band: pad the keys and values by $w$ on both sides and use
# `unfold` to view, for every query $i$, its $2w + 1$ keys $i - w, \dots, i + w$ as an extra
# dimension. The scores are then an $(L, 2w + 1)$ tensor: $O(L w)$ instead of $O(L^2)$.

# %%
def banded_attention(q, k, v, w):
    """Attention restricted to |i - j| <= w, computing only the band. q, k (B, L, dk), v (B, L, dv)."""
    B, L, dk = q.shape
    k_win = F.pad(k, (0, 0, w, w)).unfold(1, 2 * w + 1, 1)    # (B, L, dk, 2w+1) keys i-w .. i+w (a view)
    v_win = F.pad(v, (0, 0, w, w)).unfold(1, 2 * w + 1, 1)    # (B, L, dv, 2w+1)
    scores = torch.einsum("bld,bldw->blw", q, k_win) / math.sqrt(dk)   # (B, L, 2w+1) q^i · k^j
    key_pos = torch.arange(L)[:, None] + torch.arange(-w, w + 1)       # (L, 2w+1) absolute key index
    keep = (key_pos >= 0) & (key_pos < L)                     # (L, 2w+1) False = padding past the ends
    weights = torch.softmax(scores.masked_fill(~keep, float("-inf")), dim=-1)   # (B, L, 2w+1)
    return torch.einsum("blw,bldw->bld", weights, v_win), weights      # (B, L, dv), (B, L, 2w+1)


torch.manual_seed(0)
q, k, v = (torch.randn(2, 50, 8) for _ in range(3))            # (B, L, d) each
out_masked, _ = attention(q, k, v, keep=band_mask(50, 4))     # full matrix, masked
out_band, w_band = banded_attention(q, k, v, 4)               # band only
print("banded == masked full: max |diff| =", (out_band - out_masked).abs().max().item())
print("weights stored:", tuple(w_band.shape), "instead of", (2, 50, 50))

# %% [markdown]
# ### 4.1 Measured time and memory
#
# Now the three versions side by side for $L$ from 128 to 2048 ($d = 64$, window $w = 16$, one
# sequence, one thread): full attention, the masked full matrix, and the banded computation.
# Time is the best of seven runs. For memory we count the bytes of **every new tensor** the
# call allocates (a small `TorchDispatchMode` sees each ATen operation; views such as `unfold`
# are free). That total is an upper bound on the extra peak memory; the score matrix alone,
# $4L^2$ bytes in float32, is drawn for reference.

# %%
class AllocationMeter(TorchDispatchMode):
    """Adds up the bytes of every tensor created by an ATen op inside the `with` block."""

    def __init__(self):
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        outs = out if isinstance(out, (tuple, list)) else (out,)
        for result, spec in zip(outs, func._schema.returns):
            if isinstance(result, torch.Tensor) and spec.alias_info is None:   # a new tensor, not a view
                self.bytes += result.untyped_storage().nbytes()
        return out


def best_time(f, repeats=7):
    """Fastest of `repeats` runs after a warm-up (the least disturbed by other processes)."""
    f()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


# %%
d_bench, w_bench = 64, 16
Ls = [128, 256, 512, 1024, 2048]
results = {name: {"time": [], "bytes": []} for name in ["full", "masked full", "banded"]}
t_start = time.perf_counter()
with torch.no_grad():
    for L in Ls:
        q, k, v = (torch.randn(1, L, d_bench) for _ in range(3))   # (1, L, d)
        keep = band_mask(L, w_bench)                          # (L, L) built once, outside the timing
        runs = {"full": lambda: attention(q, k, v),
                "masked full": lambda: attention(q, k, v, keep),
                "banded": lambda: banded_attention(q, k, v, w_bench)}
        for name, f in runs.items():
            with AllocationMeter() as meter:
                f()
            results[name]["bytes"].append(meter.bytes)
            results[name]["time"].append(best_time(f))
print(f"measured in {time.perf_counter() - t_start:.1f} s")
print(f"{'L':>6} | " + " | ".join(f"{n:>22}" for n in results))
for i, L in enumerate(Ls):
    print(f"{L:6d} | " + " | ".join(f"{1e3 * r['time'][i]:8.2f} ms {r['bytes'][i] / 2**20:8.2f} MiB"
                                     for r in results.values()))

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
for name, style in zip(results, ["o-", "s--", "^-"]):
    ax1.loglog(Ls, [1e3 * t for t in results[name]["time"]], style, label=name)
    ax2.loglog(Ls, [b / 2**20 for b in results[name]["bytes"]], style, label=name)
ax2.loglog(Ls, [4 * L**2 / 2**20 for L in Ls], "k:", label="one $L \\times L$ float32 matrix")
ax1.set(xlabel="sequence length L", ylabel="time (ms)", title=f"Time, d = {d_bench}, w = {w_bench}")
ax2.set(xlabel="sequence length L", ylabel="allocated (MiB)", title="Memory allocated by the call")
for ax in (ax1, ax2):
    ax.minorticks_off()
    ax.set_xticks(Ls, [str(L) for L in Ls])
    ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Full attention grows as $L^2$: each doubling of $L$ multiplies the memory by almost four, and
# the time by four or more once the matrix no longer fits in the CPU's caches. Masking the full
# matrix allocates *more* than no mask (one more $L \times L$ pass and a boolean mask) and is no
# faster. The banded version grows linearly: each doubling of $L$ doubles its memory. That memory
# is the padded keys and values, the output and a few $(L, 2w + 1)$ tensors, $O(L(d + w))$;
# `unfold` and `einsum` never copy the $(L, d, 2w + 1)$ windows, which alone would take more
# than the whole call allocates. For short sequences it is not faster: its fixed overheads
# (padding, `unfold`, `einsum` bookkeeping) dominate when $2w + 1$ is not much smaller than $L$.
# On long inputs, and on a GPU where memory is the binding limit, the $L^2$ matrix is what stops
# you. Other ways around it (surveyed by Tay et al. 2020, [arXiv:2009.06732](https://arxiv.org/abs/2009.06732)):
# attention over a down-sampled sequence, sparse patterns (Longformer,
# [arXiv:2004.05150](https://arxiv.org/abs/2004.05150); BigBird,
# [arXiv:2007.14062](https://arxiv.org/abs/2007.14062)), low-rank or kernel approximations
# (Linformer, [arXiv:2006.04768](https://arxiv.org/abs/2006.04768); Performer,
# [arXiv:2009.14794](https://arxiv.org/abs/2009.14794)), and exact but memory-aware kernels
# (FlashAttention, [arXiv:2205.14135](https://arxiv.org/abs/2205.14135)) that never store the
# full matrix.

# %% [markdown]
# ## 5. Self-attention beyond text
#
# ### 5.1 Images
#
# A colour image, or the feature map of a CNN, is a channels × height × width tensor: a set of
# height · width vectors, one per pixel, each with one entry per channel. Reshape
# `(B, channels, height, width)` to `(B, height*width, channels)` and it is a sequence like any
# other (SAGAN, Zhang et al. 2019, [arXiv:1805.08318](https://arxiv.org/abs/1805.08318); DETR,
# Carion et al. 2020, [arXiv:2005.12872](https://arxiv.org/abs/2005.12872); the Vision Transformer
# uses 16×16 patches instead of pixels to keep $L$ small).
#
# A synthetic 24×24 image with two red squares far apart, a green disc and a blue background; the
# pixel's colour is its feature vector (3 channels). With identity projections and a small
# temperature ($\tau = 0.1$), a pixel in one red square attends to **all** red pixels, including
# the far-away square (over 90% of its weight is on red pixels, close to half on the other
# square); a 3×3 convolution at the same pixel sees only its 3×3 neighbourhood.

# %%
Himg = Wimg = 24
img = torch.zeros(1, 3, Himg, Wimg)                           # (B, channels, height, width)
img[0, 2] = 1.0                                               # blue background
img[0, :, 2:8, 2:8] = torch.tensor([1.0, 0, 0])[:, None, None]       # red square, top left
img[0, :, 15:21, 16:22] = torch.tensor([1.0, 0, 0])[:, None, None]   # red square, bottom right
yy, xx = torch.meshgrid(torch.arange(Himg), torch.arange(Wimg), indexing="ij")
disc = (yy - 6) ** 2 + (xx - 17) ** 2 <= 12
img[0, :, disc] = torch.tensor([0, 0.8, 0])[:, None]           # green disc
img = img + 0.05 * torch.randn(img.shape, generator=torch.Generator().manual_seed(0))

x = img.flatten(2).transpose(1, 2)                            # (B, height*width, 3) one vector per pixel
tau = 0.1
_, w_img = attention(x / tau, x, x)                           # (B, HW, HW) identity projections
query = 4 * Wimg + 4                                          # pixel (row 4, col 4), in the top-left square
attn_map = w_img[0, query].view(Himg, Wimg)                   # (height, width) where that pixel looks
is_red = (img[0, 0] > 0.5) & (img[0, 1] < 0.5)                # (height, width) the two red squares
far_square = torch.zeros(Himg, Wimg, dtype=torch.bool)
far_square[15:21, 16:22] = True                               # the bottom-right square

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
axes[0].imshow(img[0].permute(1, 2, 0).clamp(0, 1).numpy())
axes[0].set_title("input image (each pixel = a vector of 3)")
axes[1].imshow(attn_map.numpy(), cmap="magma")
axes[1].set_title("self-attention weights of the marked pixel")
conv_field = torch.zeros(Himg, Wimg)
conv_field[3:6, 3:6] = 1
axes[2].imshow(conv_field.numpy(), cmap="magma")
axes[2].set_title("what a 3×3 convolution sees there")
for ax in axes:
    ax.plot(4, 4, "c+", ms=14, mew=2)
    ax.set_xticks([])
    ax.set_yticks([])
plt.tight_layout()
plt.show()
print(f"L = H*W = {Himg * Wimg} pixels -> {(Himg * Wimg) ** 2:,} scores; "
      f"a 224x224 image would need {(224 * 224) ** 2:,}")

# %% [markdown]
# ### 5.2 Graphs
#
# A graph gives a set of node vectors **and** tells which nodes are related. We can use the
# adjacency matrix (plus self-loops) directly as the attention mask: a node attends only to its
# neighbours. This is the idea behind graph attention networks (GAT, Veličković et al. 2018,
# [arXiv:1710.10903](https://arxiv.org/abs/1710.10903), which use an additive score): a message-passing step in which the weights on the edges are
# computed from the node features instead of being fixed. The projections below are random, so
# only the *pattern* of the weights (zero off the edges) is meaningful.

# %%
edges = [(0, 1), (0, 2), (0, 3), (1, 2), (3, 4), (4, 5), (4, 6), (5, 6)]
n_nodes, d_node = 7, 8
adjacency = torch.zeros(n_nodes, n_nodes, dtype=torch.bool)
for i, j in edges:
    adjacency[i, j] = adjacency[j, i] = True
keep = adjacency | torch.eye(n_nodes, dtype=torch.bool)       # (N, N) True = may attend (edge or self)

torch.manual_seed(0)
node_x = torch.randn(1, n_nodes, d_node)                      # (B, N, d) node features
Wq_g, Wk_g = (torch.randn(d_node, d_node) / math.sqrt(d_node) for _ in range(2))   # random, untrained
h_nodes, w_graph = attention(node_x @ Wq_g, node_x @ Wk_g, node_x, keep=keep)   # (B, N, d), (B, N, N)
print("weight outside the edges:", w_graph[0][~keep].abs().max().item())

# %%
angles = torch.arange(n_nodes) * 2 * math.pi / n_nodes
xy = torch.stack([angles.cos(), angles.sin()], 1).numpy()      # (N, 2) node positions for drawing
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
for i, j in edges:
    ax1.plot(*xy[[i, j]].T, color="lightgrey", lw=2, zorder=0)
for j in range(n_nodes):
    if keep[0, j] and j != 0:
        ax1.annotate("", xy[0], xy[j], arrowprops=dict(arrowstyle="->", lw=1 + 10 * w_graph[0, 0, j].item(),
                                                       color="tab:red", shrinkA=12, shrinkB=12))
ax1.scatter(*xy.T, s=500, color="tab:blue", zorder=1)
for n in range(n_nodes):
    ax1.text(*xy[n], str(n), color="white", ha="center", va="center", fontsize=11)
ax1.set_title("graph; arrows into node 0, width = its weight\n(its weight on itself is not drawn)")
ax1.axis("equal")
ax1.axis("off")
plot_attention(w_graph[0], range(n_nodes), range(n_nodes), ax=ax2, title="weights (adjacency as mask)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 6. Self-attention vs CNN and RNN
#
# ### 6.1 CNN: self-attention with a fixed, local window
#
# A convolution computes each output from a **fixed** neighbourhood with **fixed** weights that
# depend only on the relative position; self-attention chooses its receptive field from the
# data. The two meet in multi-head attention: a convolution with a kernel of width $K$ is
# multi-head self-attention with **one head per kernel offset** ($K$ heads; $K^2$ for a $K \times K$
# image kernel), each head putting all its weight on the key at its offset, whatever the content.
# One head is not enough: it produces a single average with a single value projection, while a
# convolution applies a different matrix to each neighbour. We check the 1-D case with $K = 3$. Below, the influence $\lVert \partial y_i / \partial x_j \rVert$ of each input on
# each output, for two stacked 1-D convolutions (kernel 3) and for one self-attention layer
# (both untrained).

# %%
torch.manual_seed(0)
L_rf, d_rf = 24, 8
x_rf = torch.randn(L_rf, d_rf)                                 # (L, d)

conv1 = nn.Conv1d(d_rf, d_rf, 3, padding=1)                    # weight (d_out, d_in, 3), y_i = b + Σ_t W_t x_{i+t-1}
pos = torch.arange(L_rf)
A_heads = torch.stack([(pos[None, :] - pos[:, None] == t - 1).float() for t in range(3)])   # (3, L, L) head t: key i+t-1
V_heads = torch.stack([x_rf @ conv1.weight[:, :, t].T for t in range(3)])  # (3, L, d) value projection = kernel tap t
y_heads = (A_heads @ V_heads).sum(0) + conv1.bias               # (L, d) sum over heads (W_O = [I I I]) + bias
y_conv = conv1(x_rf.T[None])[0].T                               # (L, d) Conv1d wants (B, d, L)
conv_as_heads_diff = (y_heads - y_conv).abs().max().item()
print("Conv1d(kernel 3) == 3 heads with fixed offset weights: max |diff| =", conv_as_heads_diff)

# %% [markdown]
# (At the two ends a head whose offset falls outside the sequence has no key, which matches the
# convolution's zero padding.) Below, the influence $\lVert \partial y_i / \partial x_j \rVert$ of
# each input on each output, for two stacked 1-D convolutions (kernel 3) and for one
# self-attention layer (both untrained).

# %%
torch.manual_seed(0)
conv = nn.Sequential(nn.Conv1d(d_rf, d_rf, 3, padding=1), nn.Tanh(), nn.Conv1d(d_rf, d_rf, 3, padding=1))
attn_layer = MHA(d_rf, 2)


def influence(f):
    jac = torch.autograd.functional.jacobian(f, x_rf)          # (L, d, L, d) dy_i / dx_j
    return jac.permute(0, 2, 1, 3).flatten(2).norm(dim=-1)     # (L, L)


infl_conv = influence(lambda x: conv(x.T[None])[0].T)          # Conv1d wants (B, d, L)
infl_attn = influence(lambda x: attn_layer(x[None])[0][0])
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
for ax, infl, title in [(axes[0], infl_conv, "2 conv layers, kernel 3: a band of width 5"),
                        (axes[1], infl_attn, "1 self-attention layer: every input")]:
    plot_attention(infl / infl.max(), ax=ax, title=title, annotate=False, cmap="Greys")
    ax.set(xlabel="input position j", ylabel="output position i")
plt.tight_layout()
plt.show()

# %% [markdown]
# Cordonnier et al. (2020, [arXiv:1911.03584](https://arxiv.org/abs/1911.03584)) prove the image
# case: a multi-head self-attention layer with $K^2$ heads and a relative positional encoding can
# express any $K \times K$ convolution. Attention is the **more flexible** model, and so it
# needs **more data**. The Vision Transformer (Dosovitskiy et al., 2021,
# [arXiv:2010.11929](https://arxiv.org/abs/2010.11929)) loses to a CNN when
# trained on ImageNet alone, and wins once pre-trained on hundreds of millions of images: the
# CNN's built-in locality is a good prior when data is scarce.
#
# ### 6.2 RNN: sequential vs parallel
#
# An RNN reads the sequence one step at a time, $h_t = \tanh(W_x x_t + W_h h_{t-1})$; step $t$
# cannot start before step $t-1$ is done. Self-attention computes all outputs from all inputs
# in a few large matrix products. Two consequences:
#
# 1. **Parallelism.** The $L$ dependent small steps of an RNN cannot be spread over the many
#    cores of a GPU; the same arithmetic done as one batched product can. Even on one CPU thread
#    the difference is visible: below, the same multiplications once as a loop of $L$ dependent
#    steps and once as single matrix products (which is only possible because we dropped the
#    dependence; it is no longer an RNN), next to full self-attention, which does $O(L^2)$ work.

# %%
torch.manual_seed(0)
L_seq, d_seq = 1000, 64
x_seq = torch.randn(L_seq, d_seq)                             # (L, d)
W_x, W_h = torch.randn(d_seq, d_seq) / 8, torch.randn(d_seq, d_seq) / 8


def rnn_loop():
    h = torch.zeros(1, d_seq)                                 # (1, d)
    for t in range(L_seq):                                    # L dependent steps
        h = torch.tanh(x_seq[t:t + 1] @ W_x + h @ W_h)        # h_t = tanh(W_x x_t + W_h h_{t-1})
    return h


def same_flops_batched():
    return torch.tanh(x_seq @ W_x + x_seq @ W_h)              # (L, d) no dependence between rows


def self_attention_full():
    return attention(x_seq[None] @ W_x, x_seq[None] @ W_h, x_seq[None])[0]   # (1, L, d)


madds_rnn = 2 * L_seq * d_seq**2                               # x_t W_x and h W_h for every t
madds_attn = madds_rnn + 2 * L_seq**2 * d_seq                 # + Q K^T and A V
seq_times = {}                                                # name -> best time (s)
for name, f, madds in [("RNN, L dependent steps", rnn_loop, madds_rnn),
                       ("same products, batched", same_flops_batched, madds_rnn),
                       ("self-attention (L^2 scores)", self_attention_full, madds_attn)]:
    seq_times[name] = best_time(f)
    print(f"{name:>28}: {1e3 * seq_times[name]:7.2f} ms  for {madds / 1e6:6.1f} M multiply-adds")

# %% [markdown]
# The loop is far slower than the same arithmetic done in one go: every step is a tiny product
# that has to wait for the previous one. Self-attention does about 17 times more arithmetic than
# the RNN here, yet its time is of the same order as the loop's, or less, because it is a few
# large products. On a GPU, which runs such products in parallel, the gap in favour of attention
# can only grow (not measured here), while the RNN's loop stays sequential.

# %% [markdown]
# 2. **Long-range memory.** In an RNN, information from step $t$ reaches step $L$ only through
#    $L - t$ multiplications by $W_h$ and $\tanh'$, and tends to fade (or explode). In
#    self-attention every input is **one step** away from every output. We measure
#    $\lVert \partial y_L / \partial x_t \rVert$, how much the last output depends on each input,
#    for untrained PyTorch layers with their default initialisation.

# %%
torch.manual_seed(0)
L_mem, d_mem = 200, 32
layers = {"RNN (tanh)": nn.RNN(d_mem, d_mem, batch_first=True),
          "GRU": nn.GRU(d_mem, d_mem, batch_first=True),
          "self-attention (MHA)": MHA(d_mem, 4)}
x_mem = torch.randn(1, L_mem, d_mem)                          # (B, L, d)
memory_grads = {}                                             # name -> (L,) ||dy_L / dx_t||
fig, ax = plt.subplots(figsize=(8, 3.8))
for name, layer in layers.items():
    x_in = x_mem.clone().requires_grad_(True)
    y = layer(x_in)[0]                                        # (1, L, d) all outputs
    y[0, -1].sum().backward()                                 # depend on the last output only
    grad = x_in.grad[0].norm(dim=-1)                          # (L,) ||dy_L / dx_t||
    memory_grads[name] = grad
    ax.semilogy(np.arange(L_mem), grad.clamp_min(1e-30).numpy(), label=name)
ax.set(xlabel="input position t", ylabel="||∂ y_L / ∂ x_t||  (log scale)", ylim=(1e-25, 1e2),
       title=f"How much the last output (t = {L_mem - 1}) depends on each input")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# For the recurrent layers the dependence decays exponentially with distance: by twenty orders
# of magnitude within about 60 steps for the plain RNN and about 100 for the GRU (gating slows the
# decay but does not remove it; training can change the picture somewhat). For self-attention it is flat: a word 199
# positions back is as reachable as the one next door. The price is the $O(L^2)$ cost of section 4,
# and an RNN remains cheaper per step when generating one token at a time.

# %% [markdown]
# ## Summary
#
# * **Multi-head attention** splits $d$ into $H$ heads of size $d_h = d/H$, runs attention in each
#   (`(B, H, L, dh)` tensors), concatenates and projects with $W_O$. Same parameter count for
#   every $H$; our short `MHA` class matches `nn.MultiheadAttention` once its stacked
#   `in_proj_weight` $= [W_q; W_k; W_v]$ and `out_proj` are filled in. Its `key_padding_mask` uses
#   True = *ignore*, so pass `~keep`.
# * Self-attention is **permutation equivariant**: without positional information, word order is
#   invisible.
# * **Sinusoidal positional encoding** adds $\sin/\cos$ waves of geometrically spaced frequencies;
#   $\mathrm{PE}[p]\cdot\mathrm{PE}[q]$ depends only on $p - q$, and an offset is a fixed rotation,
#   so relative positions are easy to learn. Concatenating $[x; p]$ before a linear layer equals
#   adding a projected $p$. Learned position embeddings and relative schemes (RoPE, ALiBi) are
#   the common alternatives. A 2-head model trained with positions learns a "previous" head and a
#   "next" head; without positions it cannot learn the task.
# * Attention costs $O(L^2)$ time and memory. **Truncated** attention keeps $|i - j| \le w$; a
#   mask alone saves nothing, computing only the band (`unfold`) makes it $O(L w)$.
# * **Images**: `(B, C, H, W)` → `(B, H*W, C)`. **Graphs**: the adjacency matrix is the mask.
# * A **convolution** of kernel width $K$ is multi-head self-attention with one head per kernel
#   offset ($K$ heads, $K^2$ for images) and fixed, content-independent weights: a strong prior
#   that helps with little data. An **RNN** is sequential (hard to parallelise) and its memory of
#   distant inputs fades; self-attention is parallel and every input is one step away.

# %% [markdown]
# ## Exercises
#
# Each exercise has a hint and a worked answer; open them only after trying.
#
# 1. **Heads.** Repeat the comparison of section 1.1 with $H = 1$ and $H = 8$. Then write the
#    per-head projections as $H$ separate `nn.Linear(d, d/H)` layers and show how to pack them into
#    the single `q_proj` of `MHA`.
#
# <details><summary>Hint</summary>
#
# `MHA.forward` reshapes `q_proj(x)` with `.view(B, L, H, dh)`: output features
# `h * dh ... (h + 1) * dh - 1` belong to head $h$, i.e. rows of `q_proj.weight`.
# </details>
#
# <details><summary>Answer</summary>
#
# ```python
# for heads in [1, 8]:
#     mha_h, ref_h = MHA(d_model, heads), nn.MultiheadAttention(d_model, heads, batch_first=True)
#     with torch.no_grad():
#         ref_h.in_proj_weight.copy_(torch.cat([mha_h.q_proj.weight, mha_h.k_proj.weight, mha_h.v_proj.weight]))
#         ref_h.in_proj_bias.copy_(torch.cat([mha_h.q_proj.bias, mha_h.k_proj.bias, mha_h.v_proj.bias]))
#         ref_h.out_proj.weight.copy_(mha_h.out_proj.weight)
#         ref_h.out_proj.bias.copy_(mha_h.out_proj.bias)
#     x_h = torch.randn(*real.shape, d_model)                    # (B, L, d) as in section 1.1
#     print(heads, (mha_h(x_h, keep=real[:, None, None, :])[0] - ref_h(x_h, x_h, x_h, key_padding_mask=~real)[0]).abs().max())
#
# H_, dh_ = 4, d_model // 4
# per_head = [nn.Linear(d_model, dh_) for _ in range(H_)]       # W^{q,h}, one per head
# packed = MHA(d_model, H_)
# with torch.no_grad():
#     packed.q_proj.weight.copy_(torch.cat([lin.weight for lin in per_head]))   # (H*dh, d): head h = rows h*dh..
#     packed.q_proj.bias.copy_(torch.cat([lin.bias for lin in per_head]))
# x_h = torch.randn(2, 5, d_model)
# q_heads = packed.q_proj(x_h).view(2, 5, H_, dh_)
# assert all(torch.allclose(q_heads[:, :, h], per_head[h](x_h), atol=1e-6) for h in range(H_))
# ```
#
# Both head counts match `nn.MultiheadAttention` to float32 rounding. Stacking the $H$ weight
# matrices along the output dimension is exactly the split that `.view(B, L, H, dh)` undoes.
# </details>
#
# 2. **Causal attention.** Build a boolean mask that lets position $i$ attend only to $j \le i$
#    (True = may attend), use it with `MHA` and with `nn.MultiheadAttention` (remember the
#    inverted convention of its boolean `attn_mask`), and check that the output at position $i$
#    does not change when you modify inputs after $i$.
#
# <details><summary>Hint</summary>
#
# `torch.tril(torch.ones(L, L, dtype=torch.bool))` is True on and below the diagonal. `MHA` wants
# it broadcastable to `(B, H, L, L)`; `nn.MultiheadAttention` wants `attn_mask=~causal`.
# </details>
#
# <details><summary>Answer</summary>
#
# ```python
# B_c, L_c = 2, 6
# causal = torch.tril(torch.ones(L_c, L_c, dtype=torch.bool))    # (L, L) True = key j <= query i
# x_c = torch.randn(B_c, L_c, d_model)
# out_c, _ = mha(x_c, keep=causal)
# out_ref_c, _ = ref(x_c, x_c, x_c, attn_mask=~causal)           # PyTorch: True = blocked
# assert torch.allclose(out_c, out_ref_c, atol=1e-6)
# x_c2 = x_c.clone(); x_c2[:, 3:] = torch.randn(B_c, L_c - 3, d_model)   # change positions 3, 4, 5
# out_c2, _ = mha(x_c2, keep=causal)
# assert torch.allclose(out_c[:, :3], out_c2[:, :3])              # positions 0-2 unchanged
# ```
# </details>
#
# 3. **Positions.** In section 3.5 replace the sinusoidal table by a learned
#    `nn.Embedding(10, 32)`. Does it still learn the task? Then evaluate both models on sequences
#    of length 20. Which one can even run, and how well does it do?
#
# <details><summary>Hint</summary>
#
# Add `self.pos = nn.Embedding(max_len, d_model)` and use `self.embed(ids) + self.pos(torch.arange(ids.shape[1]))`.
# For the sinusoidal model, recompute `model.pe = positional_encoding_table(20, 32)`.
# </details>
#
# <details><summary>Answer</summary>
#
# ```python
# class LearnedNeighbourModel(NeighbourModel):
#     def __init__(self, vocab_size, d_model, n_heads, max_len):
#         super().__init__(vocab_size, d_model, n_heads, max_len, use_positions=False)
#         self.pos = nn.Embedding(max_len, d_model)              # one trained vector per position
#
#     def forward(self, ids):                                    # ids: (B, L)
#         h, weights = self.attn(self.embed(ids) + self.pos(torch.arange(ids.shape[1])))
#         return self.prev_word(h), self.next_word(h), weights
# ```
#
# Train it with a copy of `train_neighbour_model` that builds `LearnedNeighbourModel(vocab_size, 32, 2, L)`.
# It does learn the task, but more slowly: after the same 400 steps it is still far from the
# sinusoidal model (about 60% against over 99% in our run); more steps close the gap. On
# sequences of length 20 the learned model cannot even run: `nn.Embedding(10, 32)` has no row for
# positions 10-19 (`IndexError`). The sinusoidal model runs (`model.pe = positional_encoding_table(20, 32)`)
# but it never saw positions beyond 9: there its accuracy collapses (below 10% in our run), and
# even positions 1-9 lose accuracy (below 90%), because keys at unseen positions now compete in
# their softmax. A formula that *can* be evaluated anywhere is not the same as one the model has
# learned to use everywhere; relative schemes (RoPE, ALiBi) were designed with this in mind.
# </details>
#
# 4. **Frequencies.** Plot $\mathrm{PE}[p]\cdot\mathrm{PE}[q]$ against $|p - q|$ for $d = 16, 64, 256$
#    and for base $100$ instead of $10000$. What does the base control?
#
# <details><summary>Hint</summary>
#
# Use `positional_encoding_table(L, d, base=...)` and row 0 of the Gram matrix; divide by $d/2$ to
# compare dimensions.
# </details>
#
# <details><summary>Answer</summary>
#
# ```python
# for d_f, base_f in [(16, 1e4), (64, 1e4), (256, 1e4), (64, 100.0)]:
#     pe_f = positional_encoding_table(400, d_f, base=base_f)
#     plt.plot((pe_f @ pe_f[0]) / (d_f / 2), label=f"d = {d_f}, base = {base_f:g}")
# plt.xlabel("|p - q|"); plt.legend(); plt.show()
# ```
#
# The base sets the **longest wavelength**, $2\pi \cdot \text{base}^{(d-2)/d}$, i.e. the range of
# distances over which positions remain distinguishable: with base 100 and $d = 64$ the slowest
# wave repeats after $2\pi \cdot 100^{62/64} \approx 540$ positions, so far-apart positions start to
# look alike again; with base 10000 that happens only after about 47 000. More dimensions put more
# frequencies in between, so the curve falls off more smoothly and its ripples are smaller.
# </details>
#
# 5. **Truncated attention.** Extend `banded_attention` to a batch with padding (a `keep` mask of
#    shape `(B, L)`). Then repeat the measurement of section 4.1 with $w = 64$: from which $L$ on
#    is the banded version cheaper than the full one?
#
# <details><summary>Hint</summary>
#
# Pad and unfold the mask like the keys: `F.pad(keep, (w, w)).unfold(1, 2 * w + 1, 1)` gives
# `(B, L, 2w+1)`, True where the windowed key is real.
# </details>
#
# <details><summary>Answer</summary>
#
# ```python
# def banded_attention_masked(q, k, v, w, keep):
#     B, L, dk = q.shape
#     k_win = F.pad(k, (0, 0, w, w)).unfold(1, 2 * w + 1, 1)     # (B, L, dk, 2w+1)
#     v_win = F.pad(v, (0, 0, w, w)).unfold(1, 2 * w + 1, 1)     # (B, L, dv, 2w+1)
#     keep_win = F.pad(keep, (w, w)).unfold(1, 2 * w + 1, 1)     # (B, L, 2w+1); padding past the ends is False
#     scores = torch.einsum("bld,bldw->blw", q, k_win) / math.sqrt(dk)
#     weights = torch.softmax(scores.masked_fill(~keep_win, float("-inf")), dim=-1)
#     return torch.einsum("blw,bldw->bld", weights, v_win), weights
#
# keep_b = torch.arange(50)[None, :] < torch.tensor([50, 30])[:, None]   # (B, L)
# q, k, v = (torch.randn(2, 50, 8) for _ in range(3))
# out_ref, _ = attention(q, k, v, keep=band_mask(50, 4) & keep_b[:, None, :])
# out_b, _ = banded_attention_masked(q, k, v, 4, keep_b)
# assert torch.allclose(out_b[0], out_ref[0], atol=1e-5) and torch.allclose(out_b[1, :30], out_ref[1, :30], atol=1e-5)
# ```
#
# Padding `keep` with False also covers the ends of the sequence, so the separate `key_pos`
# test is no longer needed. For $w = 64$ rerun the benchmark cell with `w_bench = 64` and `Ls`
# up to 4096: the band has $2w + 1 = 129$ keys, so the banded version can only win once $L$ is
# several times larger than that; memory crosses over earlier than time.
# </details>
#
# 6. **Images.** Replace the identity projections of section 5.1 by projections that make a red
#    pixel attend to green pixels. Hint: $q \cdot k$ should be large for (red, green) pairs.
#
# <details><summary>Hint</summary>
#
# A projection can pick one channel: a $1 \times 3$ matrix $[1, 0, 0]$ reads "how red", $[0, 1, 0]$
# "how green".
# </details>
#
# <details><summary>Answer</summary>
#
# ```python
# Wq_img = torch.tensor([[1.0, 0.0, 0.0]])                       # (1, 3) query: how red am I
# Wk_img = torch.tensor([[0.0, 1.0, 0.0]])                       # (1, 3) key: how green are you
# _, w_rg = attention(x @ Wq_img.T / tau, x @ Wk_img.T, x)       # (B, HW, HW)
# on_disc = w_rg[0, query].view(Himg, Wimg)[disc].sum()
# print(f"weight of the red pixel on the green disc: {on_disc:.3f}")
# ```
#
# The score of a red query with a key is $10 \times$ (greenness of the key): about 8 on the disc,
# about 0 elsewhere, so after the softmax nearly all the weight sits on the green disc.
# </details>

# %% [markdown]
# ## 摘要
#
# **繁體中文**
#
# * **多頭注意力**（multi-head self-attention）把 $d$ 切成 $H$ 個大小為 $d_h = d/H$ 的頭（head），每個頭各自做注意力
#   （張量形狀 `(B, H, L, dh)`），再拼接起來並乘上 $W^o$。參數量與 $H$ 無關；本講的 `MHA` 類別在填入
#   `in_proj_weight` $= [W_q; W_k; W_v]$ 與 `out_proj` 後，與 `nn.MultiheadAttention` 的結果完全相同。
#   注意 `key_padding_mask` 的 True 表示*忽略*，所以要傳入 `~keep`。
# * 自注意力機制對排列是**等變的**（permutation equivariant）：沒有位置資訊就看不到詞序。
# * **位置編碼**（positional encoding）把頻率呈幾何級數的 sin/cos 波加到輸入上；$\mathrm{PE}[p]\cdot\mathrm{PE}[q]$ 只與
#   $p - q$ 有關，位移是一個固定的旋轉，因此相對位置容易學。先拼接 $[x; p]$ 再做線性層，等於加上投影過的 $p$。
#   常見的替代方案是可學習的位置嵌入與相對位置編碼（RoPE、ALiBi）。加上位置後，2 個頭的模型學會一個看「前一個」、
#   一個看「後一個」的頭；沒有位置則學不會這個任務。
# * 注意力的時間與記憶體都是 $O(L^2)$。**截斷自注意力**（truncated self-attention）只保留 $|i - j| \le w$；
#   只加遮罩（mask）什麼也省不了，只計算帶狀部分（`unfold`）才能降到 $O(Lw)$。
# * **圖片**：`(B, channels, height, width)` → `(B, height*width, channels)`。**圖**（graph）：鄰接矩陣就是遮罩。
# * 核寬為 $K$ 的**卷積**（CNN）就是每個核位移各用一個頭（$K$ 個頭，影像為 $K^2$ 個）、權重固定且與內容無關的多頭自注意力：
#   這是很強的先驗，資料少時有幫助；自注意力更有彈性，需要更多資料。**RNN** 必須依序計算、難以平行化，
#   對遠處輸入的記憶會衰減；自注意力可以平行計算，每個輸入與每個輸出都只隔一步。
#
# **简体中文**
#
# * **多头注意力**（multi-head self-attention）把 $d$ 切成 $H$ 个大小为 $d_h = d/H$ 的头（head），每个头各自做注意力
#   （张量形状 `(B, H, L, dh)`），再拼接起来并乘以 $W^o$。参数量与 $H$ 无关；本讲的 `MHA` 类在填入
#   `in_proj_weight` $= [W_q; W_k; W_v]$ 与 `out_proj` 后，与 `nn.MultiheadAttention` 的结果完全相同。
#   注意 `key_padding_mask` 的 True 表示*忽略*，所以要传入 `~keep`。
# * 自注意力机制对排列是**等变的**（permutation equivariant）：没有位置信息就看不到词序。
# * **位置编码**（positional encoding）把频率呈几何级数的 sin/cos 波加到输入上；$\mathrm{PE}[p]\cdot\mathrm{PE}[q]$ 只与
#   $p - q$ 有关，位移是一个固定的旋转，因此相对位置容易学。先拼接 $[x; p]$ 再做线性层，等于加上投影过的 $p$。
#   常见的替代方案是可学习的位置嵌入与相对位置编码（RoPE、ALiBi）。加上位置后，2 个头的模型学会一个看"前一个"、
#   一个看"后一个"的头；没有位置则学不会这个任务。
# * 注意力的时间与内存都是 $O(L^2)$。**截断自注意力**（truncated self-attention）只保留 $|i - j| \le w$；
#   只加掩码（mask）什么也省不了，只计算带状部分（`unfold`）才能降到 $O(Lw)$。
# * **图像**：`(B, channels, height, width)` → `(B, height*width, channels)`。**图**（graph）：邻接矩阵就是掩码。
# * 核宽为 $K$ 的**卷积**（CNN）就是每个核位移各用一个头（$K$ 个头，图像为 $K^2$ 个）、权重固定且与内容无关的多头自注意力：
#   这是很强的先验，数据少时有帮助；自注意力更灵活，需要更多数据。**RNN** 必须依序计算、难以并行化，
#   对远处输入的记忆会衰减；自注意力可以并行计算，每个输入与每个输出都只隔一步。
