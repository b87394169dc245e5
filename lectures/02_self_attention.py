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
# # Lecture 2: Self-attention
#
# [English–中文 glossary](glossary.md) · Original course: Hung-yi Lee, ML 2021, *Self-attention (上)*
# ([video](https://www.youtube.com/watch?v=hYdO9CscNes)) for sections 1-3 and *Self-attention (下)*
# ([video](https://www.youtube.com/watch?v=gmsMY5kc-zw)) for section 4; course page
# https://speech.ee.ntu.edu.tw/~hylee/ml/2021-spring.php . Paper: Vaswani et al. (2017), *Attention
# is all you need*, [arXiv:1706.03762](https://arxiv.org/abs/1706.03762).
#
# Lecture 1 turned words, audio frames and graph nodes into **a sequence of vectors**
# $a^1, \dots, a^L$. This lecture builds the layer that reads such a sequence and returns a
# new sequence $b^1, \dots, b^L$ in which **every output has looked at every input**:
# self-attention, the core of the Transformer (Vaswani et al., 2017).
#
# We follow the structure of Hung-yi Lee's lecture *Self-attention* (ML 2021) and the style of
# harvardnlp's *Annotated Transformer*: every equation stands next to the line of code that
# computes it.
#
# 1. Why a fully connected layer over a window of neighbours is not enough.
# 2. How to measure the **relevance** $\alpha$ of two vectors: dot product and additive.
# 3. **Queries, keys and values**, softmax, weighted sum, for a single output $b^1$.
# 4. The same in **matrix form** (both the lecture's column convention and PyTorch's
#    batch-first row convention), which parameters are learned, and why we divide by
#    $\sqrt{d_k}$.
# 5. Attention **heat maps** on sentences of the course corpus, and what they do (and do not) mean.
# 6. An interactive explorer.
#
# **Notation** (the course's symbol table is in lecture 1). Tensors are batch-first: $B$ batch,
# $L$ sequence length ($L_q$, $L_k$ when queries and keys differ), $d$ input size, $d_k$ query/key
# size, $d_v$ value size. The inputs $a^1, \dots, a^L$ are the rows of $\mathbf{X}$. Following the
# lecture, $\alpha_{i,j}$ is a **score** (an entry of $\mathbf{S}$) and $\alpha'_{i,j}$ a **weight**
# (an entry of $\mathbf{A} = \mathrm{softmax}(\mathbf{S})$). In code the vocabulary size is
# `vocab_size`; `V` is always a value matrix. Shapes are comments on the line that creates a
# tensor. Every boolean mask means **True = may attend / is a real position**, the convention of
# `torch.nn.functional.scaled_dot_product_attention`.

# %%
import math

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from IPython.display import display

from coursekit.attention_plots import plot_attention, plot_weight_bars
from coursekit.corpus import CATEGORIES, category_of, generate_sentences, load_corpus

torch.manual_seed(0)
np.random.seed(0)
torch.set_num_threads(1)   # our tensors are tiny: one thread avoids the threading overhead
plt.rcParams["figure.dpi"] = 100

# %% [markdown]
# ## 1. Why not a fully connected layer over a window?
#
# Take the first kind of task of lecture 1: **one label per vector** (part-of-speech tagging,
# a phoneme for each audio frame). The simplest model applies the same fully connected (FC)
# network to each vector separately. It fails as soon as the label depends on the context:
# in *"I saw a saw"* the first "saw" is a verb, the second a noun, but the two inputs are the
# same vector, so the outputs are the same.

# %%
torch.manual_seed(0)
words = ["I", "saw", "a", "saw"]
word_vec = {w: torch.randn(8) for w in set(words)}
x = torch.stack([word_vec[w] for w in words])               # (L, d) = (4, 8)

fc = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))   # 2 classes: verb / noun
out_fc = fc(x)                                              # (L, 2) the same FC on every vector
print("outputs of the two 'saw's identical:", torch.allclose(out_fc[1], out_fc[3]))

# %% [markdown]
# The classic fix is to feed the FC network a **window** of neighbours: the vector itself and
# $m$ vectors on each side, concatenated into one input of size $(2m+1)\,d$. With $m = 1$ the two
# "saw"s now see different neighbourhoods (`I saw a` vs `a saw <pad>`) and can get different
# labels.

# %%
def windows(x, m):
    """Concatenate each vector with its m left and m right neighbours (zero-padded)."""
    L, d = x.shape
    xp = F.pad(x, (0, 0, m, m))                             # (L + 2m, d)
    return xp.unfold(0, 2 * m + 1, 1).transpose(1, 2).reshape(L, (2 * m + 1) * d)   # (L, (2m+1)d)


m = 1
fc_window = nn.Sequential(nn.Linear((2 * m + 1) * 8, 16), nn.ReLU(), nn.Linear(16, 2))
out_window = fc_window(windows(x, m))                       # (L, 2)
print("outputs of the two 'saw's identical:", torch.allclose(out_window[1], out_window[3]))

# %% [markdown]
# But *how large* a window? Some decisions need the whole sequence (is "it" the animal or the
# street? which speaker is talking?). To be sure the window covers the whole sequence it must
# span the **longest sequence** in the data set, and the first layer's weight matrix grows with
# the window:
#
# $$\#\text{params of the first layer} = (2m+1)\, d \, h + h .$$
#
# For speech with 100 frames per second (80 filter-bank values per frame, $h = 256$ hidden units)
# a window that sees 10 s of audio on each side ($m = 1000$) has $2001 \cdot 80 \cdot 256 \approx 41$ M
# weights in one layer, mostly wasted on short utterances, and it still cannot handle an 11 s input.
# Self-attention needs three $d \times d_k$ matrices **whatever the length** (61 440 weights here,
# with $d_k = 256$).

# %%
d_in, h = 80, 256                                           # filter-bank features, hidden units
m_values = np.array([1, 5, 10, 50, 100, 500, 1000])         # neighbours on each side
fc_params = (2 * m_values + 1) * d_in * h + h
attn_params = 3 * d_in * h                                  # W^q, W^k, W^v with d_k = d_v = h

fig, ax = plt.subplots(figsize=(7, 3.6))
ax.loglog(m_values / 100, fc_params, "o-", label="FC over a window of $2m+1$ frames")
ax.axhline(attn_params, color="tab:orange", ls="--", label="self-attention (any length)")
for mv, p in zip(m_values, fc_params):
    if mv in (10, 100, 1000):
        ax.annotate(f"{p / 1e6:.1f} M", (mv / 100, p), xytext=(4, -12), textcoords="offset points")
ax.set(xlabel="seconds of audio seen on each side ($m$ / 100 frames per s)",
       ylabel="parameters of the first layer", title="The window-size trade-off")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# What we want instead: a layer that takes **all** $L$ vectors, whatever $L$ is, and lets every
# output $b^i$ decide for itself **which** inputs are relevant to it. That layer is
# self-attention; it can be stacked with FC layers (FC processes one position, self-attention
# mixes positions).

# %% [markdown]
# ## 2. Relevance between two vectors
#
# To compute $b^1$, we first ask for every $a^j$: *how relevant is $a^j$ to $a^1$?* The answer
# is a number $\alpha_{1,j}$ computed by a small function of the two vectors. Two common
# choices, both with learned matrices $W^q, W^k \in \mathbb{R}^{d_k \times d}$:
#
# * **Dot product** (used in the Transformer):
#   $q = W^q a^1,\; k = W^k a^j,\; \alpha = q \cdot k$.
# * **Additive** (Bahdanau et al., 2015, [arXiv:1409.0473](https://arxiv.org/abs/1409.0473)):
#   $\alpha = w^\top \tanh(W^q a^1 + W^k a^j)$ with one more learned vector $w \in \mathbb{R}^{d_k}$.
#
# We use the column-vector convention of the lecture here: a vector is a column, a matrix
# multiplies it from the left, $W^q a$.

# %%
torch.manual_seed(0)
d, dk = 4, 3
a1, a2 = torch.randn(d), torch.randn(d)                     # (d,) two input vectors
Wq, Wk = torch.randn(dk, d), torch.randn(dk, d)             # (dk, d) learned in practice
w = torch.randn(dk)                                         # (dk,)   additive attention only


def dot_relevance(a_query, a_key):
    q = Wq @ a_query                                        # q = W^q a        (dk,)
    k = Wk @ a_key                                          # k = W^k a        (dk,)
    return q @ k                                            # α = q · k


def additive_relevance(a_query, a_key):
    return w @ torch.tanh(Wq @ a_query + Wk @ a_key)        # α = w^T tanh(W^q a + W^k a')


print(f"dot product: α_12 = {dot_relevance(a1, a2):+.3f}")
print(f"additive:    α_12 = {additive_relevance(a1, a2):+.3f}")

# %% [markdown]
# Both are differentiable, so $W^q, W^k$ (and $w$) are learned by back-propagation. The dot
# product wins in practice because all $L^2$ scores are **one matrix multiplication**; the
# additive form needs an $(L, L, d_k)$ tensor of $\tanh$ values. Below both are computed for all
# pairs at once (row convention, $X$ is $(L, d)$); watch the shape of the intermediate tensor.

# %%
L = 6
X = torch.randn(L, d)                                       # (L, d) rows are a^1..a^L
Q, K = X @ Wq.T, X @ Wk.T                                   # (L, dk) each
dot_scores = Q @ K.T                                        # (L, L)      α_ij = q^i · k^j
hidden = torch.tanh(Q[:, None, :] + K[None, :, :])          # (L, L, dk)  all pairs at once
additive_scores = hidden @ w                                # (L, L)      α_ij = w^T tanh(q^i + k^j)
print("dot:", tuple(dot_scores.shape), " additive:", tuple(additive_scores.shape),
      " intermediate:", tuple(hidden.shape))
print("pairwise loop agrees:", torch.isclose(dot_scores[0, 1], dot_relevance(X[0], X[1])).item(),
      torch.isclose(additive_scores[0, 1], additive_relevance(X[0], X[1])).item())

# %% [markdown]
# ## 3. Queries, keys and values
#
# Self-attention gives every input vector three roles, each with its own learned matrix:
#
# $$q^i = W^q a^i \quad(\text{query: what am I looking for?}),\qquad
#   k^i = W^k a^i \quad(\text{key: what do I offer?}),\qquad
#   v^i = W^v a^i \quad(\text{value: what do I pass on?}).$$
#
# For the output $b^1$:
#
# 1. scores $\alpha_{1,j} = q^1 \cdot k^j$ for every $j$, **including $j = 1$** (a vector may
#    attend to itself);
# 2. normalise with a softmax, $\alpha'_{1,j} = \dfrac{\exp(\alpha_{1,j})}{\sum_{j'} \exp(\alpha_{1,j'})}$;
# 3. weighted sum of the values, $b^1 = \sum_j \alpha'_{1,j}\, v^j$.
#
# Here it is with four input vectors $a^1, \dots, a^4$, step by step.

# %%
torch.manual_seed(1)
d, dk, dv = 4, 3, 3
a = [torch.randn(d) for _ in range(4)]                      # a^1 .. a^4, each (d,)
Wq, Wk, Wv = torch.randn(dk, d), torch.randn(dk, d), torch.randn(dv, d)

q1 = Wq @ a[0]                                              # q^1 = W^q a^1        (dk,)
k = [Wk @ a_j for a_j in a]                                 # k^j = W^k a^j        (dk,) each
v = [Wv @ a_j for a_j in a]                                 # v^j = W^v a^j        (dv,) each
alpha = torch.stack([q1 @ k_j for k_j in k])                # α_1j = q^1 · k^j      (4,)
alpha_prime = torch.exp(alpha) / torch.exp(alpha).sum()     # α'_1j = softmax       (4,)
b1 = sum(alpha_prime[j] * v[j] for j in range(4))           # b^1 = Σ_j α'_1j v^j   (dv,)

print("α_1j  =", alpha.numpy().round(3))
print("α'_1j =", alpha_prime.numpy().round(3), " sum =", round(alpha_prime.sum().item(), 6))
print("b^1   =", b1.numpy().round(3))

# %% [markdown]
# The key with the largest score dominates the sum: here $\alpha'_{1,4} \approx 0.7$, so $b^1$ is
# $0.7\, v^4$ plus small shares of the other three values. Computing $b^2, b^3, b^4$ works the same way with $q^2, q^3, q^4$, and
# the four computations do not depend on one another: they can run **in parallel**.
#
# ### Why softmax? Other normalisations, numerically
#
# The softmax is not the only way to turn scores into weights. Let's compare it on a few score
# vectors with:
#
# * **ReLU-normalised**: $\alpha'_j = \mathrm{ReLU}(\alpha_j) / \sum_{j'} \mathrm{ReLU}(\alpha_{j'})$;
# * **sum-normalised**: $\alpha'_j = \alpha_j / \sum_{j'} \alpha_{j'}$;
# * **none**: $\alpha'_j = \alpha_j$.

# %%
normalisations = {
    "softmax": lambda s: torch.softmax(s, dim=-1),
    "relu / sum": lambda s: F.relu(s) / F.relu(s).sum(-1, keepdim=True),
    "s / sum": lambda s: s / s.sum(-1, keepdim=True),
    "none": lambda s: s,
}
score_rows = {
    "typical": torch.tensor([2.0, -1.0, 0.5, -0.3]),
    "sums to ~0": torch.tensor([2.0, -1.0, 0.5, -1.6]),
    "all negative": torch.tensor([-2.0, -1.0, -0.5, -3.0]),
}
for row_name, s in score_rows.items():
    print(f"scores {row_name!r}: {s.numpy()}")
    for name, f in normalisations.items():
        weights = f(s)
        print(f"   {name:>10}: {np.array2string(weights.numpy(), precision=3, suppress_small=True):<36}"
              f" sum = {weights.sum().item():+.3g}")

# %% [markdown]
# * **softmax** always gives positive weights that sum to 1, keeps the *ranking* of the scores,
#   is smooth (useful gradients everywhere) and does not change when a constant is added to all
#   scores.
# * **sum-normalised** weights can be negative, and blow up when the scores nearly cancel
#   (weights of $\pm 20$ above): the output is no longer an average of the values. With all
#   scores negative they even invert the ranking: the least relevant key ($-3$) gets the
#   largest weight.
# * **ReLU-normalised** weights are fine for the first row but give $0/0 = $ NaN when no score
#   is positive, and zero gradient for every negative score.
# * **no normalisation**: the output's size grows with the number of keys. Below, the norm of
#   $b$ for random unit-variance queries, keys and values (averaged over 200 draws): with raw
#   scores it grows without bound (like $\sqrt{L}$ here, because random terms partly cancel: 16
#   times longer for 256 times more keys); with softmax $b$ is an average of the values, so it can
#   never be longer than the longest value, whatever the length (here it even shrinks, as
#   averaging many random vectors cancels them out).
#
# (ReLU or sigmoid attention *can* be trained with extra care, e.g. dividing by $L$ instead of the
# sum; softmax is the default because it needs no such care.)

# %%
torch.manual_seed(0)
dk, n_draws = 16, 200
norms = {}                                                  # L -> (mean ||b|| raw, mean ||b|| softmax)
soft_within_values = True                                   # softmax output never longer than the longest value
for L in [4, 16, 64, 256, 1024]:
    q, K, V = torch.randn(n_draws, 1, dk), torch.randn(n_draws, L, dk), torch.randn(n_draws, L, dk)
    s = q @ K.transpose(1, 2) / math.sqrt(dk)               # (n, 1, L) scaled scores
    b_raw = s @ V                                           # Σ_j α_j v^j      (n, 1, dk)
    b_soft = torch.softmax(s, dim=-1) @ V                   # Σ_j α'_j v^j     (n, 1, dk)
    soft_within_values &= bool((b_soft.norm(dim=-1) <= V.norm(dim=-1).max(-1, keepdim=True).values + 1e-6).all())
    norms[L] = (b_raw.norm(dim=-1).mean().item(), b_soft.norm(dim=-1).mean().item())
    print(f"L = {L:5d}:  mean ||b|| without normalisation = {norms[L][0]:6.1f}   with softmax = {norms[L][1]:5.2f}")

# %% [markdown]
# ## 4. Matrix form
#
# ### 4.1 The lecture's column convention
#
# Put the inputs side by side as the **columns** of a matrix $I = [a^1 \cdots a^L] \in
# \mathbb{R}^{d \times L}$. Then all queries, keys and values are three matrix products, and all
# $L^2$ scores are one more:
#
# $$Q = W^q I,\quad K = W^k I,\quad V = W^v I \qquad (d_k \times L,\ d_k \times L,\ d_v \times L)$$
# $$S = K^\top Q \in \mathbb{R}^{L \times L},\qquad S_{j,i} = k^j \cdot q^i = \alpha_{i,j} \quad(\text{column } i \text{ belongs to query } i)$$
# $$A = \mathrm{softmax}(S) \ \text{ over each column},\qquad O = V A = [b^1 \cdots b^L].$$
#
# $S$ holds the scores $\alpha$, $A$ the weights $\alpha'$, in both conventions.
#
# The Transformer also divides the scores by $\sqrt{d_k}$ before the softmax (section 4.4); we
# include it here so that both conventions compute exactly the same thing.

# %%
torch.manual_seed(0)
d, dk, dv, L = 4, 3, 3, 5
I = torch.randn(d, L)                                       # (d, L)   columns a^1..a^L
Wq, Wk, Wv = torch.randn(dk, d), torch.randn(dk, d), torch.randn(dv, d)

Q = Wq @ I                                                  # Q = W^q I          (dk, L)
K = Wk @ I                                                  # K = W^k I          (dk, L)
V = Wv @ I                                                  # V = W^v I          (dv, L)
S_col = K.T @ Q / math.sqrt(dk)                             # S = K^T Q / √dk    (L, L) column i = query i
A_col = torch.softmax(S_col, dim=0)                         # A = softmax(S) over each column
O_col = V @ A_col                                           # O = V A            (dv, L) column i = b^i
print("columns of A sum to 1:", torch.allclose(A_col.sum(0), torch.ones(L)))

# %% [markdown]
# ### 4.2 PyTorch's row convention (batch-first)
#
# In code the sequence is a tensor $X \in \mathbb{R}^{L \times d}$ whose **rows** are the
# vectors ($X = I^\top$), with a batch dimension in front. Transposing every equation above:
#
# $$Q = X W_q,\quad K = X W_k,\quad V = X W_v,\qquad
#   S = \frac{Q K^\top}{\sqrt{d_k}},\qquad A = \mathrm{softmax}(S) \ \text{(over each row)},\qquad
#   O = A V,$$
#
# with $W_q = (W^q)^\top \in \mathbb{R}^{d \times d_k}$. Now **row** $i$ of $A$ belongs to query
# $i$, and the row convention's $S$ and $A$ are the transposes of the column convention's.

# %%
X = I.T                                                     # (L, d)   rows a^1..a^L
Q_r = X @ Wq.T                                              # Q = X W_q          (L, dk)
K_r = X @ Wk.T                                              # K = X W_k          (L, dk)
V_r = X @ Wv.T                                              # V = X W_v          (L, dv)
S_row = Q_r @ K_r.T / math.sqrt(dk)                         # S = QK^T/√dk       (Lq, Lk) row i = query i
A_row = torch.softmax(S_row, dim=-1)                        # A = softmax(S) over each row
O_row = A_row @ V_r                                         # O = A V            (L, dv)

print("A (rows) == A (columns) transposed:", torch.allclose(A_row, A_col.T, atol=1e-6))
print("outputs agree, max |diff| =", (O_row - O_col.T).abs().max().item())

# %% [markdown]
# `nn.Linear(d, dk, bias=False)` computes `x @ weight.T` and stores `weight` with shape
# `(dk, d)`: its weight **is** the lecture's $W^q$. Here is the same layer, batch-first, with
# `nn.Linear` projections, and checked against PyTorch's fused kernel
# `F.scaled_dot_product_attention`.

# %%
q_proj, k_proj, v_proj = (nn.Linear(d, n, bias=False) for n in (dk, dk, dv))
with torch.no_grad():
    q_proj.weight.copy_(Wq)                                 # weight (dk, d) = W^q
    k_proj.weight.copy_(Wk)
    v_proj.weight.copy_(Wv)

x = X[None]                                                 # (B, L, d) with B = 1
q, k, v = q_proj(x), k_proj(x), v_proj(x)                   # (B, L, dk), (B, L, dk), (B, L, dv)
scores = q @ k.transpose(-2, -1) / math.sqrt(dk)            # (B, Lq, Lk)
out = torch.softmax(scores, dim=-1) @ v                     # (B, Lq, dv)
print("nn.Linear version agrees:", torch.allclose(out[0], O_row, atol=1e-6))
print("F.scaled_dot_product_attention agrees:",
      torch.allclose(F.scaled_dot_product_attention(q, k, v), out, atol=1e-6))

# %% [markdown]
# We keep this as a small function for the rest of the lecture. `keep` is an optional boolean
# mask, broadcastable to `(B, Lq, Lk)`, **True where the query may attend** to the key (e.g. a
# real token rather than padding); blocked scores become $-\infty$ before the softmax, so their
# weight is exactly 0.

# %%
def attention(q, k, v, keep=None):
    """softmax(q k^T / sqrt(dk)) v for batch-first q (B, Lq, dk), k (B, Lk, dk), v (B, Lk, dv).

    Returns the output (B, Lq, dv) and the weights (B, Lq, Lk).
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])   # (B, Lq, Lk)
    if keep is not None:
        scores = scores.masked_fill(~keep, float("-inf"))       # True = may attend
    weights = torch.softmax(scores, dim=-1)                     # (B, Lq, Lk) rows sum to 1
    return weights @ v, weights                                 # (B, Lq, dv), (B, Lq, Lk)


out2, _ = attention(q, k, v)
print("attention() agrees:", torch.allclose(out2, out))

# %% [markdown]
# ### 4.3 What is learned?
#
# In the whole computation the **only parameters are $W^q, W^k, W^v$**: $S$, $A$ and $O$ are
# computed from them and the input. Their size does not depend on $L$, which is how one layer
# handles sequences of any length (contrast with section 1).

# %%
for name, W_ in [("W^q", Wq), ("W^k", Wk), ("W^v", Wv)]:
    print(f"{name}: {tuple(W_.shape)} -> {W_.numel()} parameters")
print(f"total: {Wq.numel() + Wk.numel() + Wv.numel()} parameters, for L = 5 or L = 5000 alike")

# %% [markdown]
# A first warning, picked up in lecture 3: nothing in these equations knows **where** a vector
# sits in the sequence. Back to "I saw a saw": the two "saw"s have the same query and see the
# same set of keys and values, so self-attention gives them the **same** output, exactly like the
# per-vector FC of section 1. Positional information has to be added to the input.

# %%
torch.manual_seed(0)
x_saw = torch.stack([word_vec[w] for w in ["I", "saw", "a", "saw"]])[None]   # (1, 4, 8)
proj = [nn.Linear(8, 8, bias=False) for _ in range(3)]
b_saw, _ = attention(*(p(x_saw) for p in proj))            # (1, 4, 8)
print("self-attention outputs of the two 'saw's identical:", torch.allclose(b_saw[0, 1], b_saw[0, 3]))

# %% [markdown]
# ### 4.4 Why divide by $\sqrt{d_k}$?
#
# If the entries of $q$ and $k$ are independent with mean 0 and variance 1, then
# $q \cdot k = \sum_{i=1}^{d_k} q_i k_i$ is a sum of $d_k$ terms of variance 1:
#
# $$\operatorname{Var}(q \cdot k) = d_k, \qquad \operatorname{Var}\!\left(\frac{q \cdot k}{\sqrt{d_k}}\right) = 1 .$$
#
# Large scores push the softmax into saturation: almost all weight on one key, and since the
# softmax Jacobian is $\operatorname{diag}(\alpha') - \alpha'\alpha'^\top$, almost zero gradient.
# We measure the variance, the largest weight and the size of the Jacobian for 16 keys.

# %%
torch.manual_seed(0)
dks = [4, 16, 64, 256, 1024]
n_trials, L = 2000, 16
rows = []
for dk in dks:
    q = torch.randn(n_trials, 1, dk)                        # (N, 1, dk)
    K = torch.randn(n_trials, L, dk)                        # (N, L, dk)
    s = (q * K).sum(-1)                                     # (N, L) raw dot products
    stats = {"dk": dk, "var": s.var().item()}
    for tag, scale in [("raw", 1.0), ("scaled", 1 / math.sqrt(dk))]:
        p = torch.softmax(s * scale, dim=-1)                # (N, L)
        jac = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]   # (N, L, L) d softmax / d scores
        stats[f"max_{tag}"] = p.max(-1).values.mean().item()
        stats[f"jac_{tag}"] = jac.flatten(1).norm(dim=-1).mean().item()
    rows.append(stats)

print(f"{'dk':>5} {'Var(q·k)':>9} | {'max weight raw':>14} {'scaled':>7} | {'||Jacobian|| raw':>16} {'scaled':>7}")
for r in rows:
    print(f"{r['dk']:5d} {r['var']:9.1f} | {r['max_raw']:14.3f} {r['max_scaled']:7.3f} |"
          f" {r['jac_raw']:16.4f} {r['jac_scaled']:7.4f}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
axes[0].loglog(dks, [r["var"] for r in rows], "o-", label="measured")
axes[0].loglog(dks, dks, "k--", lw=1, label="$d_k$")
axes[0].set(xlabel="$d_k$", ylabel="Var($q \\cdot k$)", title="Dot-product variance grows like $d_k$")
axes[0].legend()
for ax, key, title in [(axes[1], "max", "average largest weight (16 keys)"),
                       (axes[2], "jac", "average ||softmax Jacobian||")]:
    ax.semilogx(dks, [r[f"{key}_raw"] for r in rows], "o-", label="$q \\cdot k$")
    ax.semilogx(dks, [r[f"{key}_scaled"] for r in rows], "s-", label="$q \\cdot k / \\sqrt{d_k}$")
    ax.set(xlabel="$d_k$", title=title)
    ax.legend()
axes[1].axhline(1 / L, color="grey", ls=":", lw=1)
axes[1].text(dks[0], 1 / L + 0.02, "uniform 1/16", color="grey", fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# The measured variance of $q \cdot k$ is $d_k$, as computed. Without scaling, at $d_k = 256$ the
# softmax is already nearly one-hot (the largest of 16 weights is above 0.9) and the size of its
# Jacobian has dropped to about a third of its value with scaling, at $d_k = 1024$ to about a
# sixth; with scaling the behaviour is the same for every $d_k$. (The argument assumes
# unit-variance queries and keys, which is roughly what initialisation and normalisation layers
# provide.)

# %% [markdown]
# ## 5. Attention weights on real sentences
#
# Now real sentences. As inputs $a^i$ we use the **count-based word embeddings of lecture 1**:
# co-occurrence counts in a window of $\pm 2$, truncated SVD $U_k \Sigma_k^{1/2}$, here with $k = 16$.
# We additionally centre them (subtract the mean vector, which mostly encodes word frequency),
# normalise each to unit length, and multiply by $\sqrt{k}$ so that the entries have roughly
# unit variance.

# %%
corpus_ids, vocab = load_corpus(3000, seed=0)
sentences = generate_sentences(3000, seed=0)
vocab_size = len(vocab)

C = torch.zeros(vocab_size, vocab_size)                     # (|V|, |V|) co-occurrence counts
for sent in corpus_ids:
    for i, w_i in enumerate(sent):
        for j in range(max(0, i - 2), min(len(sent), i + 3)):
            if j != i:
                C[w_i, sent[j]] += 1
U, sigma, _ = torch.linalg.svd(C)
k_emb = 16
E = U[:, :k_emb] * sigma[:k_emb].sqrt()                     # (|V|, k) E = U_k Σ_k^{1/2}
E = F.normalize(E - E.mean(0), dim=1) * math.sqrt(k_emb)    # (|V|, k) centred, norm √k


def embed(words):
    return E[[vocab.stoi[w] for w in words]][None]          # (1, L, k)


print("embedding table:", tuple(E.shape))

# %% [markdown]
# ### 5.1 Identity projections: weights = embedding similarity
#
# With $W^q$, $W^k$, $W^v$ all equal to the identity matrix, the score is $a^i \cdot a^j / \sqrt{k}$,
# i.e. a scaled cosine similarity. The heat map then shows **which words have similar embeddings**, nothing
# more: no training has happened. Rows are queries, columns are keys, each row sums to 1.

# %%
sent = sentences[54]                                        # "the farmer and the queen ate the rice ."
x = embed(sent)                                             # (1, L, k)
_, A_id = attention(x, x, x)                                # (1, L, L)
plot_attention(A_id[0], sent, sent, title="Identity projections: softmax(a_i · a_j / √k)")
plt.tight_layout()
plt.show()

# %% [markdown]
# Every word attends most to **itself** (a vector is most similar to itself) and to copies of
# itself (the three "the"s have identical rows). Beyond that the weights follow the categories:
# "farmer" and "queen" (both *person*) attend to each other. This is a useful sanity check but
# not a useful layer: a learned $W^q \neq W^k$ is what lets a word look for something *other*
# than itself (a verb for its object, a noun for its adjective).
#
# ### 5.2 Random projections: meaningless weights
#
# With random (seeded, untrained) $W^q, W^k$ the map has structure, but the structure is
# arbitrary: with another seed most queries put their largest weight on a different key. Weights of an untrained model
# **mean nothing**. Never read meaning into them.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
A_rand = {}                                                 # seed -> (L, L) weights
for ax, seed in zip(axes, [0, 1]):
    torch.manual_seed(seed)
    Wq_r, Wk_r = torch.randn(k_emb, k_emb) / math.sqrt(k_emb), torch.randn(k_emb, k_emb) / math.sqrt(k_emb)
    A_rand[seed] = attention(x @ Wq_r.T, x @ Wk_r.T, x)[1][0]   # (L, L)
    plot_attention(A_rand[seed], sent, sent, ax=ax, title=f"random $W^q, W^k$, seed {seed}", annotate=False)
plt.tight_layout()
plt.show()

# %% [markdown]
# ### 5.3 A tiny trained model
#
# To see *learned* weights we need a task. We mask one content word of each sentence, replace it
# by a learned `[MASK]` vector, and ask for the masked word's **category** (person, food, ...).
# The model is a single attention step: the `[MASK]` position's query attends over all positions
# (padding excluded by the mask), and a linear layer reads the category from the output $b$. The
# embeddings stay fixed; only $W^q, W^k, W^v$, the `[MASK]` vector and the classifier are trained.
# There is no information about word order, so the model must solve the task from **which words
# are present**.

# %%
CATS = list(CATEGORIES) + ["function"]
cat_of_id = torch.tensor([CATS.index(category_of(w)) for w in vocab.itos])   # (|V|,)

rng = np.random.default_rng(0)
N, Lmax = len(corpus_ids), max(map(len, corpus_ids))
tokens = torch.zeros(N, Lmax, dtype=torch.long)             # (N, Lmax) word ids, 0-padded
real = torch.zeros(N, Lmax, dtype=torch.bool)               # (N, Lmax) True = real token
mask_pos = torch.zeros(N, dtype=torch.long)                 # (N,) which position is masked
for n, s in enumerate(corpus_ids):
    tokens[n, : len(s)] = torch.tensor(s)
    real[n, : len(s)] = True
    content = [i for i, t in enumerate(s) if category_of(vocab.itos[t]) != "function"]
    mask_pos[n] = int(rng.choice(content))
target = cat_of_id[tokens[torch.arange(N), mask_pos]]       # (N,) category of the masked word
print("tokens:", tuple(tokens.shape), " e.g.", " ".join(vocab.decode(tokens[0, :int(real[0].sum())])),
      "-> masked position", int(mask_pos[0]), "category", CATS[target[0]])

# %%
class MaskedCategory(nn.Module):
    def __init__(self, k, n_classes):
        super().__init__()
        self.mask_vec = nn.Parameter(0.3 * torch.randn(k))
        self.W_q = nn.Linear(k, k, bias=False)
        self.W_k = nn.Linear(k, k, bias=False)
        self.W_v = nn.Linear(k, k, bias=False)
        self.classify = nn.Linear(k, n_classes)

    def forward(self, tokens, real, mask_pos):              # (B, L), (B, L), (B,)
        B = tokens.shape[0]
        a = E[tokens].clone()                               # (B, L, k) fixed embeddings
        a[torch.arange(B), mask_pos] = self.mask_vec        # put [MASK] in
        q = self.W_q(a[torch.arange(B), mask_pos])[:, None] # (B, 1, k) one query: the [MASK]
        b, weights = attention(q, self.W_k(a), self.W_v(a), keep=real[:, None, :])  # (B, 1, k), (B, 1, L)
        return self.classify(b[:, 0]), weights[:, 0]        # (B, n_classes), (B, L)


# %%
torch.manual_seed(0)
model = MaskedCategory(k_emb, len(CATS))
opt = torch.optim.Adam(model.parameters(), lr=5e-2)
n_train = 2500
for step in range(300):
    logits, _ = model(tokens[:n_train], real[:n_train], mask_pos[:n_train])
    loss = F.cross_entropy(logits, target[:n_train])
    opt.zero_grad()
    loss.backward()
    opt.step()

with torch.no_grad():
    logits, test_weights = model(tokens[n_train:], real[n_train:], mask_pos[n_train:])
accuracy = (logits.argmax(-1) == target[n_train:]).float().mean().item()
print(f"final training loss {loss.item():.3f};  held-out accuracy {accuracy:.1%} "
      f"(always guessing the most common category: {target[n_train:].bincount().max().item() / (N - n_train):.1%})")

# %% [markdown]
# On held-out sentences the model finds the category about 95% of the time, against about 20% for
# always guessing the most common category. The weights of the `[MASK]` query on held-out sentences:

# %%
fig, axes = plt.subplots(2, 2, figsize=(12, 6))
for ax, n in zip(axes.flat, range(n_train, n_train + 4)):
    L_n = int(real[n].sum())
    words_n = vocab.decode(tokens[n, :L_n])
    words_n[mask_pos[n]] = "[MASK]"
    pred = CATS[logits[n - n_train].argmax().item()]
    plot_weight_bars(test_weights[n - n_train, :L_n], words_n, ax=ax, highlight=int(mask_pos[n]),
                     title=f"true: {CATS[target[n]]}, predicted: {pred}", ylim=(0, 0.5))
plt.tight_layout()
plt.show()

# %% [markdown]
# Four sentences are anecdotes. Over all 500 held-out sentences, the average weight that each
# kind of key receives, relative to uniform attention ($1 = $ the weight $1/L$ every key would
# get if the query looked everywhere equally):

# %%
relative = {}                                               # kind of key -> list of L * weight
for n in range(n_train, N):
    L_n = int(real[n].sum())
    for j in range(L_n):
        word = vocab.itos[tokens[n, j]]
        cat = category_of(word)
        if j == mask_pos[n]:
            kind = "[MASK] itself"
        elif word in ("the", "a", "."):
            kind = f"'{word}'"
        elif cat == "function":
            kind = "other function words"
        elif cat.endswith("verb"):
            kind = "verbs"
        else:
            kind = "colours" if cat == "colour" else "nouns"
        relative.setdefault(kind, []).append(L_n * test_weights[n - n_train, j].item())
for kind, r in sorted(relative.items(), key=lambda kv: -np.mean(kv[1])):
    print(f"{kind:>22}: {np.mean(r):4.2f} x uniform  ({len(r)} keys)")

# %% [markdown]
# Now the weights do carry meaning, because the task made them useful. The `[MASK]` gives
# "the", "." and itself about half of the uniform share (its own vector is the same in every
# sentence, so it says nothing about the answer) and the most to the words that **determine the
# missing category**: verbs get twice the uniform share ("ate" implies a food or an eater), then
# the other nouns (with a person and a food present, the missing word is probably the verb) and
# "a", which in this corpus is always followed by a colour. The weights stay soft: on average the
# largest weight of a sentence is well below one half, so the model averages several clues
# instead of picking one.
#
# Even so, read trained attention maps with care: a weight says *where information was taken
# from*, not *why*, and with several layers and heads the picture gets much murkier (Jain &
# Wallace, 2019, "Attention is not explanation", [arXiv:1902.10186](https://arxiv.org/abs/1902.10186)).

# %% [markdown]
# ## 6. Explorer
#
# Pick a query word, a **temperature** $\tau$ (weights $= \mathrm{softmax}(q \cdot k / (\tau
# \sqrt{d_k}))$) and a projection. Left: the query's weights. Right: the value vectors of the
# sentence in 2-D (PCA), the plain mean of the values (×), and the output $b$ (★), which is the
# weighted average of the values. A small $\tau$ sharpens the softmax towards the single best
# key and $b$ jumps onto that value; a large $\tau$ flattens it and $b$ slides to the mean.

# %%
explore_sent = sentences[2]                                 # "the queen walked the yellow horse near the river ."
x_explore = embed(explore_sent)                             # (1, L, k)
torch.manual_seed(0)
projections = {
    "identity (similarity)": (torch.eye(k_emb),) * 3,
    "random (seed 0)": tuple(torch.randn(k_emb, k_emb) / math.sqrt(k_emb) for _ in range(3)),
    "trained [MASK] model": (model.W_q.weight.detach(), model.W_k.weight.detach(), model.W_v.weight.detach()),
}


def explore_weights(query, tau, projection):
    """The chosen query's weights (L,), its output b (k,), the values (L, k) and their mean (k,)."""
    Wq_, Wk_, Wv_ = projections[projection]
    q, k, v = x_explore @ Wq_.T, x_explore @ Wk_.T, x_explore @ Wv_.T   # (1, L, k) each
    _, weights = attention(q / tau, k, v)                   # (1, L, L); dividing q by τ divides the scores
    w_q = weights[0, query]                                 # (L,)
    return w_q, w_q @ v[0], v[0], v[0].mean(0)              # b = Σ_j α'_j v^j


def explore(query=5, tau=1.0, projection="identity (similarity)"):
    w_q, b, values, centre = explore_weights(query, tau, projection)
    v = values[None]                                        # (1, L, k)
    _, _, Vh = torch.linalg.svd(v[0] - centre, full_matrices=False)
    to2d = lambda z: ((z - centre) @ Vh[:2].T).numpy()      # project onto 2 principal directions

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.8))
    plot_weight_bars(w_q, explore_sent, ax=ax1, highlight=query,
                     title=f"query '{explore_sent[query]}' (position {query}), τ = {tau:.2f}")
    P = to2d(v[0])
    ax2.scatter(P[:, 0], P[:, 1], s=30 + 400 * w_q.numpy(), alpha=0.6, label="values $v^j$ (size = weight)")
    for j, word in enumerate(explore_sent):
        ax2.annotate(f"{word}", P[j], fontsize=8, xytext=(3, 3), textcoords="offset points")
    ax2.scatter(*to2d(centre), marker="x", s=80, color="black", label="mean of values")
    ax2.scatter(*to2d(b), marker="*", s=250, color="tab:red", label="output $b$")
    ax2.set(title=f"values and output ({projection})", xlabel="PC 1", ylabel="PC 2")
    ax2.legend(fontsize=8, loc="best")
    plt.tight_layout()
    plt.show()


explore(query=5, tau=1.0)                                   # static pictures (also in the exported notebook)
explore(query=5, tau=5.0)

# %% [markdown]
# With identity projections "horse" mostly attends to itself (more than half of its weight), so
# $b$ sits near its own value; at $\tau = 5$ the weights are much flatter and $b$ has moved towards
# the mean.
#
# The interactive version (needs a running kernel). Try other queries with $\tau$ from 0.05 to
# 20, then switch the projection to "random" and to the trained model's $W^q, W^k, W^v$ (trained
# only for the `[MASK]` query, so for ordinary words its weights are a by-product).

# %%
query_options = [(f"{i}: {word}", i) for i, word in enumerate(explore_sent)]
explorer = widgets.interactive(
    explore,
    query=widgets.Dropdown(options=query_options, value=5, description="query"),
    tau=widgets.FloatLogSlider(value=1.0, base=10, min=-1.3, max=1.3, step=0.05, description="τ"),
    projection=widgets.Dropdown(options=list(projections), description="projection"),
)
display(explorer)

# %% [markdown]
# ## Summary
#
# * A per-vector FC layer ignores the context; a window of neighbours helps, but covering the
#   whole sequence needs a window as long as the longest sequence and a weight matrix that grows
#   with it.
# * Self-attention computes for every pair a **relevance** $\alpha_{i,j} = q^i \cdot k^j$ (dot
#   product; the additive form $w^\top\tanh(W^q a^i + W^k a^j)$ is the older alternative), with
#   $q^i = W^q a^i$, $k^j = W^k a^j$.
# * The scores are normalised with a **softmax** (positive, sums to 1, smooth; other
#   normalisations misbehave), and the output is the weighted sum of **values**,
#   $b^i = \sum_j \alpha'_{i,j} v^j$, $v^j = W^v a^j$.
# * In matrix form: $Q = W^q I$, scores $S = K^\top Q / \sqrt{d_k}$, weights $A = \mathrm{softmax}(S)$
#   per column, $O = V A$ (column convention) or, batch-first in PyTorch, $Q = X W_q$,
#   $S = Q K^\top / \sqrt{d_k}$, $A = \mathrm{softmax}(S)$ per row, $O = A V$. Same numbers, transposed.
# * The only parameters are $W^q, W^k, W^v$; their size does not depend on $L$. All outputs
#   are computed in parallel.
# * Dividing by $\sqrt{d_k}$ keeps the score variance at 1, so the softmax neither saturates nor
#   loses its gradient as $d_k$ grows.
# * Attention maps of untrained projections mean nothing; identity projections show embedding
#   similarity; trained ones show where the model took information from, for the task it was
#   trained on.
# * Self-attention is blind to **order** (the two "saw"s got identical outputs): lecture 3 adds
#   positions, several heads, and looks at cost and at other data (images, graphs).

# %% [markdown]
# ## Exercises
#
# Each exercise has a hint and a worked answer; open them only after trying.
#
# 1. **Additive vs dot product.** Time `dot_scores` and `additive_scores` of section 2 for
#    $L \in \{64, 256, 1024\}$ and $d_k = 64$. How does the memory of the intermediate tensor grow?
#    Show that for $W^q = W^k$ the dot-product scores are symmetric, $\alpha_{i,j} = \alpha_{j,i}$.
#    Are the softmax weights symmetric too?
#
# <details><summary>Hint</summary>
#
# The additive form materialises `hidden` of shape $(L, L, d_k)$. For the symmetry, write
# $\alpha_{i,j} = (W a^i)^\top (W a^j)$. A softmax row is divided by that row's own sum.
# </details>
#
# <details><summary>Answer</summary>
#
# ```python
# import time
# d_x, dk_x = 16, 64
# Wq_x, Wk_x, w_x = torch.randn(dk_x, d_x), torch.randn(dk_x, d_x), torch.randn(dk_x)
# for L_x in [64, 256, 1024]:
#     X_x = torch.randn(L_x, d_x)
#     Q_x, K_x = X_x @ Wq_x.T, X_x @ Wk_x.T                      # (L, dk)
#     t0 = time.perf_counter(); Q_x @ K_x.T; t1 = time.perf_counter()
#     hidden_x = torch.tanh(Q_x[:, None] + K_x[None]); hidden_x @ w_x; t2 = time.perf_counter()
#     print(L_x, f"dot {1e3 * (t1 - t0):.2f} ms, additive {1e3 * (t2 - t1):.2f} ms, "
#                f"hidden {hidden_x.numel() * 4 / 2**20:.0f} MiB")
# ```
#
# The intermediate tensor has $L^2 d_k$ entries: $4 L^2 d_k$ bytes in float32, i.e. 256 MiB at
# $L = 1024$, $d_k = 64$, against 4 MiB for the $L \times L$ dot-product scores; the time grows
# the same way. With $W^q = W^k = W$, $\alpha_{i,j} = (W a^i)\cdot(W a^j) = \alpha_{j,i}$. The weights
# are not symmetric in general: $\alpha'_{i,j} = e^{\alpha_{i,j}} / Z_i$ and
# $\alpha'_{j,i} = e^{\alpha_{i,j}} / Z_j$ with different row sums $Z_i \ne Z_j$.
# </details>
#
# 2. **Masking.** Extend the example of section 4.2 to a batch of two sequences of lengths 5 and
#    3 (pad the second). Build the `keep` mask (True = real key), check that the padded keys get
#    weight exactly 0 and that the outputs of the real positions do not depend on what the padded
#    vectors contain. What happens to the output of a *query* at a padded position?
#
# <details><summary>Hint</summary>
#
# `keep = torch.arange(5)[None, :] < torch.tensor([5, 3])[:, None]` has shape `(B, Lk)`; give it
# a query dimension, `keep[:, None, :]`, so that it broadcasts to `(B, Lq, Lk)`.
# </details>
#
# <details><summary>Answer</summary>
#
# ```python
# torch.manual_seed(0)
# x_b = torch.randn(2, 5, 4)                                     # (B, L, d), second sequence: 3 real
# keep = torch.arange(5)[None, :] < torch.tensor([5, 3])[:, None]   # (B, Lk) True = real key
# proj_x = [nn.Linear(4, 3, bias=False) for _ in range(3)]
# out_a, w_a = attention(*(p(x_b) for p in proj_x), keep=keep[:, None, :])
# assert (w_a[1, :, 3:] == 0).all()                              # padded keys: weight exactly 0
# x_b2 = x_b.clone(); x_b2[1, 3:] = 100 * torch.randn(2, 4)      # change the padding
# out_b, _ = attention(*(p(x_b2) for p in proj_x), keep=keep[:, None, :])
# assert torch.allclose(out_a[1, :3], out_b[1, :3])              # real positions unchanged
# ```
#
# A query at a padded position still attends to the real keys, so its output is a finite but
# meaningless vector; the loss and any pooling must ignore it (with the same mask). If a mask
# blocked *every* key of a row, the softmax would divide 0 by 0 and give `nan`, which is why
# padding masks are applied to keys, not to queries.
# </details>
#
# 3. **Temperature.** Show that $\mathrm{softmax}(s / \tau)$ tends to the uniform distribution as
#    $\tau \to \infty$ and to a one-hot vector on $\arg\max s$ as $\tau \to 0$. Why is the
#    argmax version useless for training?
#
# <details><summary>Hint</summary>
#
# Divide numerator and denominator by $e^{s_{\max} / \tau}$.
# </details>
#
# <details><summary>Answer</summary>
#
# $\mathrm{softmax}(s/\tau)_j = e^{(s_j - s_{\max})/\tau} / \sum_{j'} e^{(s_{j'} - s_{\max})/\tau}$. As
# $\tau \to \infty$ every exponent tends to 0, every term to 1, and each weight to $1/L$. As
# $\tau \to 0$ the exponent is 0 for the maximum and tends to $-\infty$ for every smaller score,
# so the weight of the (unique) maximum tends to 1 and all others to 0. The argmax is piecewise
# constant in the scores: its derivative is 0 almost everywhere (and undefined at ties), so no
# gradient reaches $W^q$ and $W^k$ and they cannot be learned by back-propagation.
# </details>
#
# 4. **Scaling.** Redo the table of section 4.4 with queries and keys whose entries have
#    variance $\sigma^2 = 4$. Which scaling factor restores unit variance?
#
# <details><summary>Hint</summary>
#
# For independent zero-mean $q_i, k_i$, $\operatorname{Var}(q_i k_i) = \operatorname{Var}(q_i)\operatorname{Var}(k_i)$.
# </details>
#
# <details><summary>Answer</summary>
#
# Each product has variance $\sigma^4 = 16$, so $\operatorname{Var}(q \cdot k) = d_k \sigma^4 = 16\, d_k$
# and the factor is $1 / (\sigma^2 \sqrt{d_k}) = 1 / (4\sqrt{d_k})$. With only $1/\sqrt{d_k}$ the
# scores have variance 16 and the softmax saturates like the unscaled $d_k = 256$ row. In code:
# `q = 2 * torch.randn(n_trials, 1, dk)`, `K = 2 * torch.randn(n_trials, L, dk)`, and compare
# `s.var()` with `16 * dk`.
# </details>
#
# 5. **Trained model.** In section 5.3 remove the value projection (use $v = a$) and retrain. Then
#    let *every* position be a query but keep the loss only at the `[MASK]` position; do the other
#    rows of the weight matrix look meaningful? Why (not)?
#
# <details><summary>Hint</summary>
#
# Replace `self.W_v(a)` by `a` in `forward`. For all queries, call `attention(self.W_q(a), self.W_k(a), a, keep=real[:, None, :])`
# and read the `[MASK]` row for the loss.
# </details>
#
# <details><summary>Answer</summary>
#
# Without $W^v$ the classifier reads a weighted average of the fixed embeddings directly; the
# category information is already linearly readable from them (section 5.1 showed that words of a
# category have similar embeddings), so the model still learns the task, with the linear
# classifier doing the work $W^v$ did. With every position as a query, only the `[MASK]` row
# receives a gradient: the other rows use the same $W^q$, but nothing asks them to be useful, so
# their weights are a by-product of projections tuned for the `[MASK]` vector and should not be
# read as meaningful.
# </details>
#
# 6. **Column convention.** Write the column-convention computation of section 4.1 for a batch
#    $I \in \mathbb{R}^{B \times d \times L}$ using `torch.bmm`, and check it against `attention`.
#
# <details><summary>Hint</summary>
#
# `W @ I` broadcasts a `(dk, d)` matrix over the batch; the scores are `torch.bmm(K.transpose(1, 2), Q)`
# and the softmax runs over dimension 1 (the keys, down each column).
# </details>
#
# <details><summary>Answer</summary>
#
# ```python
# torch.manual_seed(0)
# B_c, d_c, dk_c, L_c = 2, 4, 3, 5
# I_b = torch.randn(B_c, d_c, L_c)                               # (B, d, L) columns a^1..a^L
# Wq_c, Wk_c, Wv_c = (torch.randn(dk_c, d_c) for _ in range(3))
# Q_b, K_b, V_b = Wq_c @ I_b, Wk_c @ I_b, Wv_c @ I_b              # (B, dk, L) each
# S_b = torch.bmm(K_b.transpose(1, 2), Q_b) / math.sqrt(dk_c)    # (B, Lk, Lq) column i = query i
# O_b = torch.bmm(V_b, torch.softmax(S_b, dim=1))                # (B, dv, L)
# X_b = I_b.transpose(1, 2)                                      # (B, L, d) row convention
# out_ref, _ = attention(X_b @ Wq_c.T, X_b @ Wk_c.T, X_b @ Wv_c.T)
# assert torch.allclose(O_b.transpose(1, 2), out_ref, atol=1e-5)
# ```
# </details>

# %% [markdown]
# ## 摘要
#
# **繁體中文**
#
# * 對每個向量各自套用全連接層（fully connected layer）看不到上下文；開一個窗口（window）可以參考鄰居，
#   但要涵蓋整個序列，窗口就得和最長的序列一樣長，參數量也隨之變大。
# * 自注意力機制（self-attention）為每一對向量計算**相關性**：注意力分數（attention score）
#   $\alpha_{i,j} = q^i \cdot k^j$（點積 dot product；加性 additive 形式 $w^\top\tanh(W^q a^i + W^k a^j)$ 是較早的做法），
#   其中查詢（query）$q^i = W^q a^i$、鍵（key）$k^j = W^k a^j$。
# * 分數經過 **softmax** 正規化成注意力權重（為正、總和為 1、平滑；其他正規化方式會出問題），
#   輸出是值（value）的加權和 $b^i = \sum_j \alpha'_{i,j} v^j$，$v^j = W^v a^j$。
# * 矩陣形式：分數 $\mathbf{S} = \mathbf{Q}\mathbf{K}^\top / \sqrt{d_k}$，權重 $\mathbf{A} = \mathrm{softmax}(\mathbf{S})$，
#   輸出 $\mathbf{A}\mathbf{V}$（課堂上的行向量寫法與 PyTorch 的列寫法只差一個轉置）。
# * 唯一要學的參數只有 $W^q, W^k, W^v$ 三個矩陣，大小與序列長度 $L$ 無關；所有輸出可以平行計算。
# * 除以 $\sqrt{d_k}$ 讓分數的變異數保持為 1，softmax 不會飽和，梯度也不會消失。
# * 未訓練的投影所得的注意力圖沒有意義；單位矩陣投影只顯示嵌入的相似度；訓練過的權重顯示模型為了該任務從哪裡取得資訊。
# * 自注意力機制看不到**順序**（兩個 "saw" 的輸出相同）：第 3 講加入位置編碼（positional encoding）與多頭注意力。
#
# **简体中文**
#
# * 对每个向量各自套用全连接层（fully connected layer）看不到上下文；开一个窗口（window）可以参考邻居，
#   但要覆盖整个序列，窗口就得和最长的序列一样长，参数量也随之变大。
# * 自注意力机制（self-attention）为每一对向量计算**相关性**：注意力分数（attention score）
#   $\alpha_{i,j} = q^i \cdot k^j$（点积 dot product；加性 additive 形式 $w^\top\tanh(W^q a^i + W^k a^j)$ 是较早的做法），
#   其中查询（query）$q^i = W^q a^i$、键（key）$k^j = W^k a^j$。
# * 分数经过 **softmax** 归一化成注意力权重（为正、总和为 1、平滑；其他归一化方式会出问题），
#   输出是值（value）的加权和 $b^i = \sum_j \alpha'_{i,j} v^j$，$v^j = W^v a^j$。
# * 矩阵形式：分数 $\mathbf{S} = \mathbf{Q}\mathbf{K}^\top / \sqrt{d_k}$，权重 $\mathbf{A} = \mathrm{softmax}(\mathbf{S})$，
#   输出 $\mathbf{A}\mathbf{V}$（课堂上的列向量写法与 PyTorch 的行写法只差一个转置）。
# * 唯一需要学习的参数只有 $W^q, W^k, W^v$ 三个矩阵，大小与序列长度 $L$ 无关；所有输出可以并行计算。
# * 除以 $\sqrt{d_k}$ 让分数的方差保持为 1，softmax 不会饱和，梯度也不会消失。
# * 未训练的投影所得的注意力图没有意义；单位矩阵投影只显示嵌入的相似度；训练过的权重显示模型为了该任务从哪里获取信息。
# * 自注意力机制看不到**顺序**（两个 "saw" 的输出相同）：第 3 讲加入位置编码（positional encoding）与多头注意力。
