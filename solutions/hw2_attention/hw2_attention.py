# %% [markdown] locked: intro
# # Homework 2: self-attention, multi-head attention and positions
#
# In this homework you write, from scratch, the pieces of lectures 2 and 3 that every
# Transformer is made of, check them against PyTorch's own implementations, and answer three
# written questions on why they are built that way:
#
# | part | you implement / answer | graded automatically | graded by hand |
# | --- | --- | --- | --- |
# | 1 | `scaled_dot_product_attention`; written question `written_scaling` | 6 | 3 |
# | 2 | `causal_mask` | 3 | |
# | 3 | `window_mask` (truncated self-attention) | 3 | |
# | 4 | `padding_mask` | 3 | |
# | 5 | `SelfAttention` (one head, learned $W^q, W^k, W^v$) | 3 | |
# | 6 | `MultiHeadAttention`; written question `written_heads` | 9 | 3 |
# | 7 | `sinusoidal_positional_encoding`; written question `written_positions` | 3 | 2 |
# | | **total: 38 points** | **30** | **8** |
#
# Then (part 8, not graded) you put your multi-head attention, your positional encoding and your
# causal mask together in a tiny model that learns to copy the previous token, and look at its
# attention weights.
#
# **How this notebook is graded.** Write your code between the `# YOUR CODE HERE` markers (replace
# the `raise NotImplementedError()`). The cells named `test_...` check your work: the visible
# ones are here for you, and more (hidden) tests with other sizes, masks and edge cases run when
# your notebook is graded, among them comparisons with `torch.nn.functional.scaled_dot_product_attention`
# and `torch.nn.MultiheadAttention`. Every question is graded independently.
#
# **Written questions** (graded by hand). Write your answer in the Markdown cell under each
# question, in place of `YOUR ANSWER HERE` (a few sentences; formulas as `$...$`). Your instructor
# scores them after the deadline: until then your feedback lists them as *needs manual grading*,
# and the self-check lists them without checking them.
#
# Check yourself before submitting: *Kernel → Restart & Run All*, then
# `!{sys.executable} -m autograder check hw2_attention.ipynb` in a cell of this notebook (it runs a fresh
# copy of the saved notebook as the grader does, visible tests only; save first), or
# `python -m autograder check hw2_attention.ipynb` in a terminal of the course's environment (JupyterLab's
# terminal when it was started with `make lab`).
#
# **Notation.** The course's one symbol table (`lectures/notation.md`, the same in every lecture and
# homework):
#
# | symbol | meaning |
# | --- | --- |
# | $B$ | batch size (tensors are batch-first) |
# | $L$; $L_q$, $L_k$ | sequence length; query and key lengths when they differ |
# | $\mathcal{V}$, $\lvert\mathcal{V}\rvert$ | the vocabulary and its size |
# | $\mathbf{C}$ | word–word co-occurrence counts, $\lvert\mathcal{V}\rvert \times \lvert\mathcal{V}\rvert$ |
# | $\mathbf{E}$ | embedding matrix, one row per word, $\lvert\mathcal{V}\rvert \times d$ |
# | $d$ = $d_{\text{model}}$ | model (embedding) size |
# | $d_k$, $d_v$ | query/key size, value size |
# | $H$, $d_h = d / H$ | number of heads, size of one head |
# | $\mathbf{X}$ | the input sequence, one row per position, $L \times d$ |
# | $W^q, W^k, W^v, W^o$ | learned projections to queries, keys, values, and back to $d$ |
# | $\mathbf{Q}, \mathbf{K}, \mathbf{V}$ | queries, keys, values: $\mathbf{X}W^q$, $\mathbf{X}W^k$, $\mathbf{X}W^v$ |
# | $\mathbf{S} = \mathbf{Q}\mathbf{K}^\top / \sqrt{d_k}$ | attention scores (logits), $L_q \times L_k$ |
# | $\mathbf{A} = \mathrm{softmax}(\mathbf{S})$ | attention weights, each row sums to 1 |
# | $\mathbf{A}\mathbf{V}$ | the attention output, $L_q \times d_v$ |
# | mask | boolean, **True = may attend / is a real position** |
# | $\mathbf{P}$ | positional encoding, $L \times d$, added to the embeddings |
#
# Terms in both languages: [English–Chinese glossary of the course's terms](../../lectures/glossary.md).
#
# **Conventions** (as in the lectures). Tensors are batch-first and float32.
# **Every boolean mask means True = may attend / is a real position**, the convention of
# `torch.nn.functional.scaled_dot_product_attention`. (`torch.nn.MultiheadAttention`'s
# `key_padding_mask` and boolean `attn_mask` use the opposite convention, True = *blocked*: to
# give it one of our masks, pass `~mask`.)

# %% locked: install
# Outside the course's environment (Colab, a fresh Jupyter) this installs the course kit first;
# where it is installed already, it does nothing. Your instructor tells you what KIT is: a wheel
# file or URL (`attention_course_kit-0.1.0-py3-none-any.whl`) or a git URL of the course.
import importlib.util
import sys

KIT = "attention-course-kit"
if importlib.util.find_spec("autograder") is None or importlib.util.find_spec("coursekit") is None:
    get_ipython().run_line_magic("pip", f"install --quiet {KIT}")

# %% locked: setup
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from autograder.checks import (CheckFailure, check_close, check_dtype, check_equal, check_implemented,
                               check_masked_zero, check_probabilities, check_raises, check_shape,
                               check_true, randomise_)

torch.manual_seed(0)
torch.set_num_threads(1)  # our tensors are tiny: one thread avoids the threading overhead
# Set by nbgrader while grading: the demo at the end is shortened then.
GRADING = os.environ.get("NBGRADER_EXECUTION") in ("autograde", "validate")


def attempt(what, fn, *args, hint=None, **kwargs):
    """Call fn(*args, **kwargs) for a test. An error raised by your code becomes a test failure that
    names the call and the shapes of its inputs (scroll up in the traceback to see your line)."""
    try:
        return check_implemented(fn, *args, **kwargs)
    except CheckFailure:
        raise
    except Exception as exc:
        show = lambda a: (f"{'bool ' if a.dtype == torch.bool else ''}tensor of shape {tuple(a.shape)}"
                          if isinstance(a, torch.Tensor) else repr(a))
        inputs = ", ".join([show(a) for a in args] + [f"{key}={show(a)}" for key, a in kwargs.items()])
        raise CheckFailure(f"{what}: your code raised {type(exc).__name__}: {exc}\n  inputs: {inputs}"
                           + (f"\n  Hint: {hint}" if hint else ""))


def attempt_pair(what, fn, *args, hint=None, **kwargs):
    """attempt(...) for the attention functions of this homework, which return a pair (output, weights)."""
    result = attempt(what, fn, *args, hint=hint, **kwargs)
    check_true(isinstance(result, (tuple, list)) and len(result) == 2,
               f"{what}: expected a pair (output, weights), got "
               f"{type(result).__name__}{' of length ' + str(len(result)) if isinstance(result, (tuple, list)) else ''}.")
    return result

# %% [markdown] locked: part1
# ## Part 1. Scaled dot-product attention (6 points)
#
# In the batch-first row convention of lecture 2 (row $i$ of $\mathbf{Q}$ is the query $q^i$, row $j$ of
# $\mathbf{K}$ and $\mathbf{V}$ the key $k^j$ and value $v^j$), the scores $\mathbf{S}$ and the weights $\mathbf{A}$ are
#
# $$\mathbf{S} = \frac{\mathbf{Q} \mathbf{K}^\top}{\sqrt{d_k}},\qquad
#   \mathbf{A} = \mathrm{softmax}(\mathbf{S}) \ \text{(over each row, i.e. over the keys)},
#   \qquad \text{output} = \mathbf{A} \mathbf{V} .$$
#
# Implement `scaled_dot_product_attention(q, k, v, mask=None)`:
#
# * `q` has shape `(..., Lq, dk)`, `k` `(..., Lk, dk)`, `v` `(..., Lk, dv)`, where `...` is any
#   number of leading batch dimensions, e.g. `(B,)` or `(B, H)`: work on the **last two**
#   dimensions only (`k.transpose(-2, -1)`, not `k.T` or `transpose(1, 2)`).
# * `mask` is an optional **boolean** tensor broadcastable to `(..., Lq, Lk)`, True where query
#   $i$ may attend to key $j$. Blocked scores become $-\infty$ (or a very large negative number)
#   **before** the softmax, so that their weight is **exactly 0**. The tests never block a whole row.
# * Return the pair `(output, weights)`: `output` `(..., Lq, dv)` and `weights` `(..., Lq, Lk)`,
#   each row of `weights` sums to 1.
#
# Do not call `F.scaled_dot_product_attention` for the weights: it does not return them (you may
# use it for the output if you like).

# %% solution: scaled_dot_product_attention
def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T / sqrt(dk)) v over the last two dimensions.

    Inputs:
    - q: (..., Lq, dk) queries
    - k: (..., Lk, dk) keys
    - v: (..., Lk, dv) values
    - mask: optional bool tensor broadcastable to (..., Lq, Lk); True = may attend

    Returns a tuple of:
    - output: (..., Lq, dv)
    - weights: (..., Lq, Lk), rows sum to 1, exactly 0 where mask is False
    """
    ### BEGIN SOLUTION
    dk = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(dk)              # (..., Lq, Lk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))         # blocked -> weight exactly 0
    weights = torch.softmax(scores, dim=-1)                       # (..., Lq, Lk) over the keys
    return weights @ v, weights                                   # (..., Lq, dv), (..., Lq, Lk)
    ### END SOLUTION


# %% test: test_scaled_dot_product_attention (2 points)
# Shapes: B=2, Lq=5, Lk=7, dk=8, dv=6 (all different, so that a transpose shows).
g = torch.Generator().manual_seed(0)
q, k, v = (torch.randn(2, 5, 8, generator=g, dtype=torch.float32), torch.randn(2, 7, 8, generator=g, dtype=torch.float32),
           torch.randn(2, 7, 6, generator=g, dtype=torch.float32))
out, weights = attempt_pair("scaled_dot_product_attention(q, k, v)", scaled_dot_product_attention, q, k, v)
check_shape(out, (2, 5, 6), "output for q (2, 5, 8), k (2, 7, 8), v (2, 7, 6)")
check_shape(weights, (2, 5, 7), "weights for q (2, 5, 8), k (2, 7, 8), v (2, 7, 6)")
check_probabilities(weights, dim=-1, name="weights (B=2, Lq=5, Lk=7)")

# A worked example, dk = 4 so the scores are divided by sqrt(4) = 2.
q = torch.tensor([[[2., 0., 0., 0.], [0., 0., 2., 2.]]])           # (1, 2, 4)
k = torch.tensor([[[1., 0., 0., 0.], [0., 0., 1., 0.], [0., 0., 0., 1.]]])   # (1, 3, 4)
v = torch.tensor([[[1., 0.], [0., 1.], [1., 1.]]])                 # (1, 3, 2)
# scaled scores: query 0 -> [1, 0, 0], query 1 -> [0, 1, 1]
# weights: [e, 1, 1] / (e + 2) and [1, e, e] / (1 + 2e)
out, weights = attempt_pair("scaled_dot_product_attention(q, k, v)", scaled_dot_product_attention, q, k, v)
check_close(weights, torch.tensor([[[0.576117, 0.211942, 0.211942], [0.155362, 0.422319, 0.422319]]]),
            "weights of the worked example (dk=4)", atol=1e-5,
            hint="divide the scores by sqrt(dk) (not dk) and take the softmax over the keys (dim=-1)")
check_close(out, torch.tensor([[[0.788058, 0.423883], [0.577681, 0.844638]]]),
            "output of the worked example (dk=4)", atol=1e-5, hint="output = weights @ v")

# The same with a mask: query 0 may not see key 2, query 1 may not see key 1.
mask = torch.tensor([[True, True, False], [True, False, True]])    # (Lq, Lk), True = may attend
# weights: [e, 1, 0] / (e + 1) and [1, 0, e] / (1 + e)
out, weights = attempt_pair("scaled_dot_product_attention(q, k, v, mask)", scaled_dot_product_attention, q, k, v, mask)
check_masked_zero(weights, mask, "weights of the worked example with a mask")
check_close(weights, torch.tensor([[[0.731059, 0.268941, 0.0], [0.268941, 0.0, 0.731059]]]),
            "weights of the worked example with mask [[T, T, F], [T, F, T]]", atol=1e-5,
            hint="True = may attend: fill the scores where the mask is *False* with -inf before the softmax")
check_close(out, torch.tensor([[[0.731059, 0.268941], [1.0, 0.731059]]]),
            "output of the worked example with a mask", atol=1e-5)

# %% test: test_scaled_dot_product_attention_hidden (4 points)
# Hidden tests (comparison with torch.nn.functional.scaled_dot_product_attention, masks of several
# shapes, (B, H, L, d) inputs, inputs without batch dimensions, one query or one key, a single real key in
# a row, large scores) run when your notebook is graded.
### BEGIN HIDDEN TESTS
### BEGIN REFERENCE
def _reference_weights(_qq, _kk, _mask=None):
    _s = _qq.double() @ _kk.double().transpose(-2, -1) / math.sqrt(_qq.shape[-1])
    if _mask is not None:
        _s = _s.masked_fill(~_mask, float("-inf"))
    return torch.softmax(_s, dim=-1)
### END REFERENCE


def _keep(_shape, _gen):
    """A random boolean mask of `_shape` (..., Lq, Lk) that never blocks a whole row."""
    _mm = torch.rand(_shape, generator=_gen, dtype=torch.float32) > 0.4
    _mm[..., torch.arange(_shape[-2]), torch.arange(_shape[-2]) % _shape[-1]] = True
    return _mm


_HINT = ("softmax(q k^T / sqrt(dk)) over the keys (dim=-1), on the last two dimensions only; "
         "True in the mask = may attend")
_g = torch.Generator().manual_seed(101)
_cases = [
    ("B=2, Lq=5, Lk=7, dk=8, dv=6, no mask", (2,), 5, 7, 8, 6, None),
    ("B=2, H=3, Lq=4, Lk=6, dk=5, dv=7, no mask", (2, 3), 4, 6, 5, 7, None),
    ("B=2, H=3, Lq=4, Lk=6, dk=5, dv=7, mask (Lq, Lk)", (2, 3), 4, 6, 5, 7, (4, 6)),
    ("B=2, H=3, Lq=4, Lk=6, dk=5, dv=7, mask (B, 1, Lq, Lk) broadcast over heads", (2, 3), 4, 6, 5, 7, (2, 1, 4, 6)),
    ("B=3, Lq=6, Lk=4, dk=7, dv=5, mask (B, Lq, Lk)", (3,), 6, 4, 7, 5, (3, 6, 4)),
    ("B=1, Lq=Lk=9, dk=dv=16, causal mask (Lq, Lk)", (1,), 9, 9, 16, 16, "causal"),
    # Edge cases: one query and one key; no batch dimensions at all; Lq=1; a single real key in every row.
    ("B=1, Lq=1, Lk=1, dk=4, dv=3, no mask", (1,), 1, 1, 4, 3, None),
    ("no batch dimensions: q (3, 4), k (5, 4), v (5, 2), mask (Lq, Lk)", (), 3, 5, 4, 2, (3, 5)),
    ("B=2, H=1, Lq=1, Lk=6, dk=dv=4, mask (B, 1, Lq, Lk)", (2, 1), 1, 6, 4, 4, (2, 1, 1, 6)),
    ("B=2, Lq=4, Lk=5, dk=3, dv=2, one real key per row, mask (B, Lq, Lk)", (2,), 4, 5, 3, 2, "one key"),
]
for _what, _batch, _lq, _lk, _dk, _dv, _mshape in _cases:
    _q = torch.randn(*_batch, _lq, _dk, generator=_g, dtype=torch.float32) * 1.5
    _k = torch.randn(*_batch, _lk, _dk, generator=_g, dtype=torch.float32) * 1.5
    _v = torch.randn(*_batch, _lk, _dv, generator=_g, dtype=torch.float32)
    if _mshape is None:
        _m = None
    elif _mshape == "causal":
        _m = torch.ones(_lq, _lk).tril().bool()
    elif _mshape == "one key":
        _m = torch.zeros(*_batch, _lq, _lk, dtype=torch.bool)
        _m[..., torch.arange(_lq), torch.randint(0, _lk, (_lq,), generator=_g)] = True
    else:
        _m = _keep(_mshape, _g)
    _out, _w = attempt_pair(f"scaled_dot_product_attention ({_what})", scaled_dot_product_attention,
                            _q, _k, _v, *([] if _m is None else [_m]),
                            hint="with (B, H, L, d) inputs, work on the last two dimensions only (k.transpose(-2, -1), not k.T "
                                 "or transpose(1, 2)); the mask broadcasts against the (..., Lq, Lk) scores")
    check_shape(_out, (*_batch, _lq, _dv), f"output ({_what})")
    check_shape(_w, (*_batch, _lq, _lk), f"weights ({_what})")
    check_probabilities(_w, dim=-1, name=f"weights ({_what})")
    if _m is not None:
        check_masked_zero(_w, _m, f"weights ({_what})")
    check_close(_w, _reference_weights(_q, _k, _m), f"weights ({_what})", rtol=1e-4, atol=1e-5, hint=_HINT)
    check_close(_out, F.scaled_dot_product_attention(_q, _k, _v, attn_mask=_m),
                f"output ({_what}) compared with F.scaled_dot_product_attention", rtol=1e-4, atol=1e-5, hint=_HINT)

# Edge cases: large scores. Integer q and k with dk=16 (scores and 1/sqrt(16) are exact in float32): the first
# feature adds +100 or -100 to a score (0 for query 2 of batch 0), the others up to +-15; so scores stay below
# 128 in size, where float32 still resolves 1e-5. exp() of such scores overflows unless each row's own maximum
# is subtracted first (torch.softmax does), and query 1 of batch 0 scores 200 below query 0. With the mask,
# the real keys of two rows score 200 below the blocked ones: blocked scores must become -inf (or -1e9)
# *before* the softmax; zeroing weights after it leaves 0 / 0.
_q = torch.randint(-2, 3, (2, 3, 16), generator=_g).to(torch.float32)
_k = torch.randint(-2, 3, (2, 5, 16), generator=_g).to(torch.float32)
_v = torch.randn(2, 5, 3, generator=_g, dtype=torch.float32)
_q[..., 0] = torch.tensor([[20.0, -20.0, 0.0], [-20.0, 20.0, 20.0]])
_k[..., 0] = torch.tensor([[20.0, 20.0, 20.0, 20.0, 20.0], [20.0, 20.0, -20.0, -20.0, 20.0]])
_m = torch.tensor([[[True, False, True, True, False], [True, True, True, True, True], [True, True, False, True, True]],
                   [[False, False, False, False, True], [False, False, True, True, False], [True, True, True, True, True]]])
for _what, _mm in (("no mask", None), ("mask (B, Lq, Lk), real keys scoring 200 below the blocked ones", _m)):
    _what = f"large scores (+-100), B=2, Lq=3, Lk=5, dk=16, dv=3, {_what}"
    _out, _w = attempt_pair(f"scaled_dot_product_attention ({_what})", scaled_dot_product_attention,
                            _q, _k, _v, *([] if _mm is None else [_mm]))
    _hint = ("subtract each row's maximum before exp() (torch.softmax does it for you); fill blocked scores with -inf "
             "before the softmax, do not zero the weights after it")
    check_probabilities(_w, dim=-1, name=f"weights ({_what})")
    if _mm is not None:
        check_masked_zero(_w, _mm, f"weights ({_what})")
    check_close(_w, _reference_weights(_q, _k, _mm), f"weights ({_what})", rtol=1e-4, atol=1e-5, hint=_hint)
    check_close(_out, F.scaled_dot_product_attention(_q, _k, _v, attn_mask=_mm),
                f"output ({_what}) compared with F.scaled_dot_product_attention", rtol=1e-4, atol=1e-5, hint=_hint)
### END HIDDEN TESTS

# %% [markdown] locked: written_scaling_question
# ### Written question 1 (3 points, graded by hand)
#
# Why are the scores divided by $\sqrt{d_k}$? Suppose the entries of a query $q$ and a key $k$ are
# independent, with mean 0 and variance 1. What are the mean and the variance of $q \cdot k$ for
# $d_k$ entries? What would happen to $\mathbf{A} = \mathrm{softmax}(\mathbf{S})$, and to its
# gradients, with $d_k = 512$ and no scaling? (You may check it in a scratch cell:
# `torch.softmax(torch.randn(512) @ torch.randn(512, 10), -1)` with and without `/ 512 ** 0.5`.)

# %% [markdown] answer: written_scaling (3 points)
# **Model answer.** $q \cdot k = \sum_{i=1}^{d_k} q_i k_i$ is a sum of $d_k$ independent terms, each with mean
# $0$ and variance $\mathrm{E}[q_i^2]\,\mathrm{E}[k_i^2] = 1$, so $q \cdot k$ has mean 0 and variance
# $d_k$ (standard deviation $\sqrt{d_k}$, about 22.6 for $d_k = 512$). Without scaling, the scores of
# one query differ by tens, and the softmax saturates: almost all the weight goes to the largest score
# and $\mathbf{A}$ is nearly one-hot. A saturated softmax has tiny gradients
# ($\partial a_i / \partial s_j = a_i(\delta_{ij} - a_j) \approx 0$ when every $a$ is 0 or 1), so the
# projections $W^q, W^k$ barely learn. Dividing by $\sqrt{d_k}$ gives the scores variance 1 whatever
# $d_k$, so the softmax stays in its sensitive range, at least at initialisation.
#
# **Rubric (3 points).**
# - 1 point: the variance of the dot product grows with $d_k$ (it is $d_k$: mean 0, std $\sqrt{d_k}$), with
#   the one-line reason (sum of $d_k$ independent unit-variance terms).
# - 1 point: large scores make the softmax saturate (weights close to one-hot).
# - 1 point: a saturated softmax has vanishing gradients, so learning stalls; dividing by $\sqrt{d_k}$
#   restores variance 1 for any $d_k$. ("It keeps numbers small" or "avoids overflow" alone: 0 for this
#   point.)

# %% [markdown] locked: part2
# ## Part 2. The causal mask (3 points)
#
# A decoder that generates a sequence left to right must not look at the future: query $i$ may
# attend to key $j$ only when $j \le i$. Implement `causal_mask(length)`: a **bool** tensor of
# shape `(L, L)` with `mask[i, j] = True` exactly where $j \le i$ (rows are queries, columns keys).
#
# Example, `causal_mask(3)`:
# ```
# [[ True, False, False],
#  [ True,  True, False],
#  [ True,  True,  True]]
# ```

# %% solution: causal_mask
def causal_mask(length: int) -> torch.Tensor:
    """(L, L) bool tensor, True where key j <= query i (may attend)."""
    ### BEGIN SOLUTION
    return torch.ones(length, length, dtype=torch.bool).tril()
    ### END SOLUTION


# %% test: test_causal_mask (1 point)
m = attempt("causal_mask(3)", causal_mask, 3)
check_dtype(m, torch.bool, "causal_mask(3)")
check_shape(m, (3, 3), "causal_mask(3)")
check_equal(m, torch.tensor([[True, False, False], [True, True, False], [True, True, True]]), "causal_mask(3)",
            hint="row i is the query: it may see keys j <= i (lower triangle, diagonal included)")

# %% test: test_causal_mask_hidden (2 points)
# Hidden tests (other lengths, including 1 and a long one) run when your notebook is graded.
### BEGIN HIDDEN TESTS
# Edge cases: length 1 (a (1, 1) mask, not a 0-d tensor) and a length beyond a precomputed block size.
for _L in (1, 2, 5, 8, 40):
    _m = attempt(f"causal_mask({_L})", causal_mask, _L)
    check_dtype(_m, torch.bool, f"causal_mask({_L})")
    _i = torch.arange(_L)
    check_equal(_m, _i[None, :] <= _i[:, None], f"causal_mask({_L})",
                hint="row i is the query: it may see keys j <= i (lower triangle, diagonal included)")
### END HIDDEN TESTS

# %% [markdown] locked: part3
# ## Part 3. Truncated self-attention: the window mask (3 points)
#
# For long inputs such as speech (100 frames per second), lecture 3 let each position attend only
# to its neighbours: **truncated** self-attention with a window $w$ keeps the pairs with
# $|i - j| \le w$. Implement `window_mask(length, window)`: a **bool** `(L, L)` tensor, True where
# $|i - j| \le$ `window`. `window=0` lets each position see only itself; a window $\ge L - 1$
# lets everyone see everyone.
#
# Example, `window_mask(4, 1)`:
# ```
# [[ True,  True, False, False],
#  [ True,  True,  True, False],
#  [False,  True,  True,  True],
#  [False, False,  True,  True]]
# ```

# %% solution: window_mask
def window_mask(length: int, window: int) -> torch.Tensor:
    """(L, L) bool tensor, True where |i - j| <= window (may attend)."""
    ### BEGIN SOLUTION
    i = torch.arange(length)
    return (i[:, None] - i[None, :]).abs() <= window          # (L, L)
    ### END SOLUTION


# %% test: test_window_mask (1 point)
m = attempt("window_mask(4, 1)", window_mask, 4, 1)
check_dtype(m, torch.bool, "window_mask(4, 1)")
check_shape(m, (4, 4), "window_mask(4, 1)")
check_equal(m, torch.tensor([[True, True, False, False], [True, True, True, False],
                             [False, True, True, True], [False, False, True, True]]), "window_mask(4, 1)",
            hint="|i - j| <= window, on both sides of the diagonal, the distance `window` itself included")

# %% test: test_window_mask_hidden (2 points)
# Hidden tests (other lengths and windows, window 0, windows longer than the sequence, length 1 and 2)
# run when your notebook is graded.
### BEGIN HIDDEN TESTS
# Edge cases: length 1 with a window longer than the sequence, length 2, window = L - 1 (all True).
for _L, _w in ((1, 0), (5, 0), (6, 2), (7, 3), (5, 4), (4, 9), (1, 5), (2, 1), (8, 7), (3, 2)):
    _m = attempt(f"window_mask({_L}, {_w})", window_mask, _L, _w)
    check_dtype(_m, torch.bool, f"window_mask({_L}, {_w})")
    _i = torch.arange(_L)
    check_equal(_m, (_i[:, None] - _i[None, :]).abs() <= _w, f"window_mask({_L}, window={_w})",
                hint="|i - j| <= window, on both sides of the diagonal, the distance `window` itself included")
### END HIDDEN TESTS

# %% [markdown] locked: part4
# ## Part 4. The padding mask (3 points)
#
# Sequences of different lengths are padded to a common length `max_len` to form a batch. The
# padding positions must be ignored as keys. Implement `padding_mask(lengths, max_len)`:
# `lengths` holds the real length of each sequence, as a LongTensor of shape `(B,)` **or** a list
# of ints (`torch.as_tensor` turns both into a tensor); return a **bool** `(B, max_len)` tensor,
# True for the real positions $p <$ `lengths[b]`, False for padding.
#
# Example, `padding_mask(torch.tensor([2, 4, 1]), 4)`:
# ```
# [[ True,  True, False, False],
#  [ True,  True,  True,  True],
#  [ True, False, False, False]]
# ```
# To use it as an attention mask over the keys, `padding_mask(...)[:, None, :]` has shape
# `(B, 1, Lk)` and broadcasts to `(B, Lq, Lk)`.

# %% solution: padding_mask
def padding_mask(lengths, max_len: int) -> torch.Tensor:
    """(B, max_len) bool tensor, True where position < lengths[b] (a real token).

    lengths: LongTensor of shape (B,) or a list of B ints.
    """
    ### BEGIN SOLUTION
    lengths = torch.as_tensor(lengths)
    return torch.arange(max_len)[None, :] < lengths[:, None]      # (B, max_len)
    ### END SOLUTION


# %% test: test_padding_mask (1 point)
m = attempt("padding_mask(tensor([2, 4, 1]), 4)", padding_mask, torch.tensor([2, 4, 1]), 4)
check_dtype(m, torch.bool, "padding_mask(tensor([2, 4, 1]), 4)")
check_shape(m, (3, 4), "padding_mask(tensor([2, 4, 1]), 4)")
expected = torch.tensor([[True, True, False, False], [True, True, True, True], [True, False, False, False]])
check_equal(m, expected, "padding_mask(tensor([2, 4, 1]), 4)",
            hint="True for the real positions p < lengths[b] (strictly less), False for the padding")
check_equal(attempt("padding_mask([2, 4, 1], 4)", padding_mask, [2, 4, 1], 4,
                    hint="lengths may be a list: torch.as_tensor(lengths) accepts both a list and a tensor"), expected, "padding_mask([2, 4, 1], 4) with a list of lengths",
            hint="torch.as_tensor(lengths) accepts both a list and a tensor")

# %% test: test_padding_mask_hidden (2 points)
# Hidden tests (other batches, a length equal to max_len, a length of 0, lists, a batch of one) run when
# your notebook is graded.
### BEGIN HIDDEN TESTS
# Edge cases: a batch of one (tensor or list), max_len longer than every length, all lengths 0.
for _lengths, _max_len in ((torch.tensor([3, 7, 0, 5]), 7), (torch.tensor([1]), 1), (torch.tensor([6, 2]), 9),
                           ([1, 2], 4), ([5, 5, 3], 5), (torch.tensor([3]), 6), ([4], 4), (torch.tensor([0, 0]), 3)):
    _what = f"padding_mask({'tensor(' + str(_lengths.tolist()) + ')' if torch.is_tensor(_lengths) else _lengths}, {_max_len})"
    _m = attempt(_what, padding_mask, _lengths, _max_len,
                 hint="lengths may be a list or a tensor: torch.as_tensor(lengths) accepts both")
    check_dtype(_m, torch.bool, _what)
    ### BEGIN REFERENCE
    _ref = torch.arange(_max_len)[None, :] < torch.as_tensor(_lengths)[:, None]
    ### END REFERENCE
    check_equal(_m, _ref, _what, hint="True for the real positions p < lengths[b] (strictly less), False for the padding")
### END HIDDEN TESTS

# %% [markdown] locked: part5
# ## Part 5. A self-attention layer (3 points)
#
# One head of self-attention with learned projections (lecture 2, section 4.2). For an input
# $\mathbf{X}$ of shape `(B, L, d_in)`:
#
# $$\mathbf{Q} = \mathbf{X} W^q,\quad \mathbf{K} = \mathbf{X} W^k,\quad \mathbf{V} = \mathbf{X} W^v \quad (B, L, d_{out}),\qquad
#   \mathbf{A} = \mathrm{softmax}\!\left(\frac{\mathbf{Q} \mathbf{K}^\top}{\sqrt{d_{out}}}\right),\qquad \text{out} = \mathbf{A} \mathbf{V} .$$
#
# The projections are given: `self.query`, `self.key`, `self.value` are
# `nn.Linear(d_in, d_out, bias=False)` (so $d_k = d_v = d_{out}$). Write `forward(x, mask=None)`,
# which returns `(out, weights)` with `out` `(B, L, d_out)` and `weights` `(B, L, L)`. `mask` is an
# optional bool tensor of shape `(L, L)` or `(B, L, L)`, True = may attend. You may call your
# `scaled_dot_product_attention`, but note that this question is graded on its own: a mistake in
# part 1 then costs points here too.

# %% solution: SelfAttention
class SelfAttention(nn.Module):
    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.query = nn.Linear(d_in, d_out, bias=False)   # W_q
        self.key = nn.Linear(d_in, d_out, bias=False)     # W_k
        self.value = nn.Linear(d_in, d_out, bias=False)   # W_v

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Single-head self-attention.

        Inputs:
        - x: (B, L, d_in)
        - mask: optional bool tensor (L, L) or (B, L, L); True = may attend

        Returns a tuple of:
        - out: (B, L, d_out)
        - weights: (B, L, L)
        """
        ### BEGIN SOLUTION
        q, k, v = self.query(x), self.key(x), self.value(x)          # (B, L, d_out) each
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])    # (B, L, L)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)                      # (B, L, L)
        return weights @ v, weights                                  # (B, L, d_out), (B, L, L)
        ### END SOLUTION


# %% test: test_SelfAttention (1 point)
layer = attempt("SelfAttention(4, 6)", SelfAttention, 4, 6)
check_true(all(isinstance(getattr(layer, n, None), nn.Linear) for n in ("query", "key", "value")),
           "SelfAttention needs attributes query, key and value, each nn.Linear(d_in, d_out, bias=False); got "
           + ", ".join(f"{n}={type(getattr(layer, n, None)).__name__}" for n in ("query", "key", "value")))
randomise_(layer, seed=1)    # weights that depend on the parameter names only (the grader compares outputs)
x = torch.randn(2, 5, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float32)       # (B, L, d_in)
out, weights = attempt_pair("SelfAttention(4, 6)(x)", layer, x)
check_shape(out, (2, 5, 6), "SelfAttention(d_in=4, d_out=6) output for x (2, 5, 4)")
check_shape(weights, (2, 5, 5), "SelfAttention(d_in=4, d_out=6) weights for x (2, 5, 4)")
check_probabilities(weights, dim=-1, name="SelfAttention weights (B=2, L=5)")

# A worked example: W^q = 2 I, W^k = I, W^v swaps the two features.
layer = SelfAttention(2, 2)
with torch.no_grad():
    layer.query.weight.copy_(torch.tensor([[2., 0.], [0., 2.]]))
    layer.key.weight.copy_(torch.eye(2))
    layer.value.weight.copy_(torch.tensor([[0., 1.], [1., 0.]]))
x = torch.tensor([[[1., 0.], [0., 1.], [1., 1.]]])                         # (1, 3, 2)
# Q K^T / sqrt(2) = sqrt(2) * [[1, 0, 1], [0, 1, 1], [1, 1, 2]]; row 0 -> [a, b, a], a = e^√2 / (2e^√2 + 1)
out, weights = attempt_pair("SelfAttention(2, 2)(x)", layer, x)
check_close(weights, torch.tensor([[[0.445808, 0.108383, 0.445808], [0.108383, 0.445808, 0.445808],
                                    [0.163579, 0.163579, 0.672842]]]),
            "SelfAttention weights of the worked example", atol=1e-5,
            hint="queries from self.query, keys from self.key; divide by sqrt(d_out); softmax over the keys (dim=-1)")
check_close(out, torch.tensor([[[0.554192, 0.891617], [0.891617, 0.554192], [0.836421, 0.836421]]]),
            "SelfAttention output of the worked example", atol=1e-5, hint="out = weights @ self.value(x)")
# With a causal mask (built with plain torch: lower triangle = may attend).
out, weights = attempt_pair("SelfAttention(2, 2)(x, causal mask)", layer, x, torch.ones(3, 3).tril().bool())
check_close(weights, torch.tensor([[[1.0, 0.0, 0.0], [0.195570, 0.804430, 0.0], [0.163579, 0.163579, 0.672842]]]),
            "SelfAttention weights of the worked example with a causal mask", atol=1e-5,
            hint="True = may attend: fill the scores where the mask is *False* with -inf before the softmax")

# %% test: test_SelfAttention_hidden (2 points)
# Hidden tests (random weights and sizes, masks, causality, permutation equivariance, a batch of one, a
# sequence of one, a single real key in a row, large scores) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(201)
_B, _L, _din, _dout = 2, 7, 5, 3
_layer = SelfAttention(_din, _dout).eval()
with torch.no_grad():
    for _lin in (_layer.query, _layer.key, _layer.value):
        _lin.weight.copy_(torch.randn(_dout, _din, generator=_g, dtype=torch.float32))
_x = torch.randn(_B, _L, _din, generator=_g, dtype=torch.float32)


### BEGIN REFERENCE
def _reference_self_attention(_xx, _mask=None):
    _W = {_n: getattr(_layer, _n).weight.detach().double() for _n in ("query", "key", "value")}
    _qq, _kk, _vv = (_xx.double() @ _W[_n].T for _n in ("query", "key", "value"))
    _s = torch.einsum("bid,bjd->bij", _qq, _kk) / math.sqrt(_dout)
    if _mask is not None:
        _s = _s.masked_fill(~_mask, float("-inf"))
    _ww = torch.softmax(_s, dim=-1)
    return _ww @ _vv, _ww
### END REFERENCE


_HINT = ("queries from self.query, keys from self.key, values from self.value; divide by sqrt(d_out); "
         "softmax over the keys (dim=-1); True in the mask = may attend")
_m_batch = torch.rand(_B, _L, _L, generator=_g, dtype=torch.float32) > 0.5
_m_batch[:, torch.arange(_L), torch.arange(_L)] = True                    # never a whole row blocked
for _what, _m in (("no mask", None), ("causal mask (L, L)", torch.ones(_L, _L).tril().bool()),
                  ("random mask (B, L, L)", _m_batch)):
    _out, _w = attempt_pair(f"SelfAttention forward on x (B={_B}, L={_L}, d_in={_din}), {_what}",
                            _layer, _x, *([] if _m is None else [_m]))
    ### BEGIN REFERENCE
    _ref_out, _ref_w = _reference_self_attention(_x, _m)
    ### END REFERENCE
    _name = f"SelfAttention(d_in={_din}, d_out={_dout}) on x (B={_B}, L={_L}), {_what}"
    check_shape(_out, (_B, _L, _dout), f"output of {_name}")
    check_probabilities(_w, dim=-1, name=f"weights of {_name}")
    if _m is not None:
        check_masked_zero(_w, _m, f"weights of {_name}")
    check_close(_w, _ref_w, f"weights of {_name}", rtol=1e-4, atol=1e-5, hint=_HINT)
    check_close(_out, _ref_out, f"output of {_name}", rtol=1e-4, atol=1e-5, hint=_HINT)

# Causality: with a causal mask, changing the inputs after position t leaves outputs 0..t unchanged.
_causal = torch.ones(_L, _L).tril().bool()
_out, _ = _layer(_x, _causal)
for _t in (0, 3):
    _x2 = _x.clone()
    _x2[:, _t + 1:] = torch.randn(_B, _L - _t - 1, _din, generator=_g, dtype=torch.float32) * 3
    _out2, _ = _layer(_x2, _causal)
    check_close(_out2[:, :_t + 1], _out[:, :_t + 1],
                f"SelfAttention outputs at positions 0..{_t} with a causal mask after changing the inputs after position {_t}",
                atol=1e-6, hint="a causal mask must stop every position from seeing later positions")

# Permutation equivariance: without positions, shuffling the inputs shuffles the outputs the same way.
_perm = torch.tensor([3, 0, 6, 1, 5, 2, 4])
_out, _w = _layer(_x)
_out_p, _w_p = _layer(_x[:, _perm])
check_close(_out_p, _out[:, _perm], "SelfAttention(x[:, perm]) compared with SelfAttention(x)[:, perm]",
            rtol=1e-4, atol=1e-5, hint="self-attention without positional information is permutation equivariant")
check_close(_w_p, _w[:, _perm][:, :, _perm], "SelfAttention weights for x[:, perm] compared with the permuted weights",
            rtol=1e-4, atol=1e-5)

# Edge cases: B=1 and L=1 (one position attends to itself with weight 1); a (B, L, L) mask with a single real
# key in some rows; large scores: integer weights and inputs with d_out=16 (scores and 1/sqrt(16) exact) give
# scores up to 122, where exp(s) / sum(exp(s)) overflows, and where the real keys of some rows score
# 108-170 below the blocked ones (zeroing blocked weights after the softmax leaves 0 / 0).
### BEGIN REFERENCE
def _reference_sa(_mod, _xx, _mask=None):
    _W = {_n: getattr(_mod, _n).weight.detach().double() for _n in ("query", "key", "value")}
    _qq, _kk, _vv = (_xx.double() @ _W[_n].T for _n in ("query", "key", "value"))
    _s = _qq @ _kk.transpose(-2, -1) / math.sqrt(_qq.shape[-1])
    if _mask is not None:
        _s = _s.masked_fill(~_mask, float("-inf"))
    _ww = torch.softmax(_s, dim=-1)
    return _ww @ _vv, _ww
### END REFERENCE


_g = torch.Generator().manual_seed(202)
_sa_small = randomise_(SelfAttention(3, 4), seed=202)
_sa_large = randomise_(SelfAttention(4, 16), seed=203)
with torch.no_grad():
    for _p in _sa_large.parameters():
        _p.mul_(5.0).round_()                                   # integer weights
_x_int = torch.randint(-3, 4, (2, 4, 4), generator=_g).to(torch.float32)
_one_key = torch.tensor([[[False, False, True, False], [False, True, True, False], [False, False, True, False], [True, False, False, False]],
                         [[False, False, False, True], [True, True, False, False], [False, False, True, False], [True, False, True, True]]])
_edge = [("B=1, L=1", _sa_small, torch.randn(1, 1, 3, generator=_g, dtype=torch.float32), None),
         ("B=1, L=5, mask (1, L, L) with one real key in rows 0 and 3", _sa_small,
          torch.randn(1, 5, 3, generator=_g, dtype=torch.float32),
          torch.tensor([[[False, False, True, False, False], [True, True, False, False, False], [True, True, True, True, True],
                         [False, False, False, False, True], [False, True, True, False, True]]])),
         ("large scores (integer weights and inputs, d_out=16), B=2, L=4, no mask", _sa_large, _x_int, None),
         ("large scores (integer weights and inputs, d_out=16), B=2, L=4, mask (B, L, L) with single real keys", _sa_large, _x_int, _one_key)]
for _what, _mod, _xx, _mm in _edge:
    _name = f"SelfAttention(d_in={_xx.shape[-1]}, d_out={_mod.query.weight.shape[0]}), {_what}"
    _out, _w = attempt_pair(f"{_name}: forward", _mod, _xx, *([] if _mm is None else [_mm]))
    ### BEGIN REFERENCE
    _ref_out, _ref_w = _reference_sa(_mod, _xx, _mm)
    ### END REFERENCE
    check_shape(_out, (*_xx.shape[:2], _mod.query.weight.shape[0]), f"output of {_name}")
    check_shape(_w, (_xx.shape[0], _xx.shape[1], _xx.shape[1]), f"weights of {_name}")
    check_probabilities(_w, dim=-1, name=f"weights of {_name}")
    if _mm is not None:
        check_masked_zero(_w, _mm, f"weights of {_name}")
    _hint = _HINT + "; torch.softmax subtracts each row's maximum (a hand-written exp() overflows)"
    check_close(_w, _ref_w, f"weights of {_name}", rtol=1e-4, atol=1e-5, hint=_hint)
    # with integer weights the values are in the tens: float32 resolves scores of ~120 to ~4e-6, hence atol=1e-3
    check_close(_out, _ref_out, f"output of {_name}", rtol=1e-4, atol=1e-3 if _mod is _sa_large else 1e-5, hint=_hint)
### END HIDDEN TESTS

# %% [markdown] locked: part6
# ## Part 6. Multi-head attention (9 points)
#
# Lecture 3: $H$ heads side by side, each with its own projections, concatenated and projected by
# $W^o$. As in `torch.nn.MultiheadAttention`, one `(d, d)` projection computes all heads at once
# and its output is **split** into $H$ chunks of size $d_h = d / H$: head $h$ uses the features
# `[h * dh, (h + 1) * dh)` of each projection.
#
# $$\mathbf{Q} = \mathbf{X}_q W^q,\ \mathbf{K} = \mathbf{X}_k W^k,\ \mathbf{V} = \mathbf{X}_v W^v \ \to\ \text{split into } (B, H, L, d_h),\qquad
#   O_h = \mathrm{softmax}\!\left(\frac{\mathbf{Q}_h \mathbf{K}_h^\top}{\sqrt{d_h}}\right) \mathbf{V}_h,\qquad
#   \mathrm{MHA} = [O_1, \dots, O_H]\, W^o + b^o .$$
#
# `MultiHeadAttention(d_model, num_heads, bias=True)`:
#
# * The constructor is given except for one check that you write: raise a **`ValueError`** when
#   `d_model` is not a multiple of `num_heads`. The projections `q_proj`, `k_proj`, `v_proj`,
#   `out_proj` are `nn.Linear(d_model, d_model, bias=bias)`.
# * `forward(query, key, value, mask=None)`: `query` `(B, Lq, d)`, `key` and `value` `(B, Lk, d)`
#   (self-attention when all three are the same tensor, cross-attention otherwise). `mask` is an
#   optional bool tensor `(Lq, Lk)` or `(B, Lq, Lk)`, True = may attend, **the same for every head**
#   (a `(B, Lq, Lk)` mask needs a head dimension, `mask[:, None]`, to broadcast against
#   `(B, H, Lq, Lk)` scores). Return `(out, weights)`: `out` `(B, Lq, d)` and the weights of every
#   head, `(B, H, Lq, Lk)`.
#
# Shapes to keep in mind: `(B, L, d)` → `view(B, L, H, dh)` → `transpose(1, 2)` → `(B, H, L, dh)`;
# and back, `(B, H, Lq, dh)` → `transpose(1, 2)` → `reshape(B, Lq, d)` → `out_proj`.
#
# **Checked against PyTorch.** The hidden tests copy your weights into
# `nn.MultiheadAttention(d_model, H, bias=bias, batch_first=True)` (its `in_proj_weight` is
# `[W_q; W_k; W_v]` stacked, `in_proj_bias` likewise, and `out_proj`) and compare outputs and
# per-head weights (`need_weights=True, average_attn_weights=False`). Its boolean `attn_mask`
# means True = *blocked*, so it receives `~mask`; a `(B, Lq, Lk)` mask must be given to it as
# `(B * H, Lq, Lk)`, `(~mask).repeat_interleave(H, dim=0)`.

# %% solution: MultiHeadAttention
class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int, bias: bool = True):
        super().__init__()
        # Raise a ValueError if d_model is not a multiple of num_heads.
        ### BEGIN SOLUTION
        if d_model % num_heads != 0:
            raise ValueError(f"d_model={d_model} is not a multiple of num_heads={num_heads}")
        ### END SOLUTION
        self.d_model, self.num_heads = d_model, num_heads
        self.head_dim = d_model // num_heads                       # dh
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)       # all heads' W_q side by side
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)     # W_O

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Multi-head attention.

        Inputs:
        - query: (B, Lq, d_model)
        - key, value: (B, Lk, d_model)
        - mask: optional bool tensor (Lq, Lk) or (B, Lq, Lk), True = may attend, shared by all heads

        Returns a tuple of:
        - out: (B, Lq, d_model)
        - weights: (B, H, Lq, Lk), the attention weights of every head
        """
        ### BEGIN SOLUTION
        B, Lq, _ = query.shape
        Lk = key.shape[1]
        H, dh = self.num_heads, self.head_dim
        q = self.q_proj(query).view(B, Lq, H, dh).transpose(1, 2)    # (B, H, Lq, dh)
        k = self.k_proj(key).view(B, Lk, H, dh).transpose(1, 2)      # (B, H, Lk, dh)
        v = self.v_proj(value).view(B, Lk, H, dh).transpose(1, 2)    # (B, H, Lk, dh)
        scores = q @ k.transpose(-2, -1) / math.sqrt(dh)             # (B, H, Lq, Lk)
        if mask is not None:
            if mask.dim() == 3:
                mask = mask[:, None]                                 # (B, 1, Lq, Lk) same for every head
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)                      # (B, H, Lq, Lk)
        o = (weights @ v).transpose(1, 2).reshape(B, Lq, self.d_model)   # (B, Lq, H*dh) heads concatenated
        return self.out_proj(o), weights                             # (B, Lq, d), (B, H, Lq, Lk)
        ### END SOLUTION


# %% test: test_MultiHeadAttention (3 points)
mha = attempt("MultiHeadAttention(12, 3)", MultiHeadAttention, 12, 3)
for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
    check_true(isinstance(getattr(mha, name, None), nn.Linear),
               f"MultiHeadAttention needs an attribute {name} = nn.Linear(d_model, d_model, bias=bias); "
               f"got {type(getattr(mha, name, None)).__name__}")
randomise_(mha, seed=2)      # weights that depend on the parameter names only (the grader compares outputs)
# Cross-attention: B=2, Lq=5, Lk=7, d_model=12, H=3 (dh=4).
g = torch.Generator().manual_seed(2)
query, key, value = (torch.randn(2, 5, 12, generator=g, dtype=torch.float32), torch.randn(2, 7, 12, generator=g, dtype=torch.float32),
                     torch.randn(2, 7, 12, generator=g, dtype=torch.float32))
out, weights = attempt_pair("MultiHeadAttention(12, 3)(query, key, value)", mha, query, key, value)
check_shape(out, (2, 5, 12), "MultiHeadAttention output (B=2, Lq=5, d_model=12)")
check_shape(weights, (2, 3, 5, 7), "MultiHeadAttention weights (B=2, H=3, Lq=5, Lk=7)")
check_probabilities(weights, dim=-1, name="MultiHeadAttention weights (B=2, H=3, Lq=5, Lk=7)")
mask = torch.rand(5, 7, generator=g, dtype=torch.float32) > 0.5                                 # (Lq, Lk), shared by the batch
mask[:, 0] = True                                                          # never a whole row blocked
out, weights = attempt_pair("MultiHeadAttention(12, 3)(query, key, value, mask (Lq, Lk))", mha, query, key, value, mask)
check_shape(weights, (2, 3, 5, 7), "MultiHeadAttention weights with a (Lq, Lk) mask")
check_masked_zero(weights, mask, "MultiHeadAttention weights with a (Lq=5, Lk=7) mask, every head")
mask = torch.rand(2, 5, 7, generator=g, dtype=torch.float32) > 0.5                              # (B, Lq, Lk), one per sequence
mask[:, :, 0] = True
out, weights = attempt_pair("MultiHeadAttention(12, 3)(query, key, value, mask (B, Lq, Lk))", mha, query, key, value, mask,
                             hint="a (B, Lq, Lk) mask needs a head dimension to broadcast against (B, H, Lq, Lk): mask[:, None]")
check_shape(weights, (2, 3, 5, 7), "MultiHeadAttention weights with a (B, Lq, Lk) mask")
check_masked_zero(weights, mask[:, None], "MultiHeadAttention weights with a (B=2, Lq=5, Lk=7) mask, every head")

# A worked example: d_model=4, H=2 (dh=2), identity q/k/v projections, W_O = 2 I, b_O = [1, 0, 0, -1].
mha = MultiHeadAttention(4, 2)
with torch.no_grad():
    for lin in (mha.q_proj, mha.k_proj, mha.v_proj):
        lin.weight.copy_(torch.eye(4))
        lin.bias.zero_()
    mha.out_proj.weight.copy_(2 * torch.eye(4))
    mha.out_proj.bias.copy_(torch.tensor([1., 0., 0., -1.]))
x = torch.tensor([[[2., 0., 0., 1.], [0., 2., 1., 0.]]])                   # (1, 2, 4)
# head 0 sees features 0-1: [2, 0] and [0, 2] -> scaled scores [[4, 0], [0, 4]] / √2 -> diagonal weight σ(2√2) = 0.944193
# head 1 sees features 2-3: [0, 1] and [1, 0] -> scaled scores [[1, 0], [0, 1]] / √2 -> diagonal weight σ(1/√2) = 0.669762
out, weights = attempt_pair("MultiHeadAttention(4, 2)(x, x, x)", mha, x, x, x)
check_close(weights, torch.tensor([[[[0.944193, 0.055807], [0.055807, 0.944193]],
                                    [[0.669762, 0.330238], [0.330238, 0.669762]]]]),
            "MultiHeadAttention weights of the worked example (B=1, H=2, Lq=Lk=2)", atol=1e-5,
            hint="head h uses features [h*dh, (h+1)*dh): view(B, L, H, dh).transpose(1, 2); divide by sqrt(dh)")
# heads concatenated: [[1.888386, 0.111614, 0.330238, 0.669762], [0.111614, 1.888386, 0.669762, 0.330238]], then out_proj
check_close(out, torch.tensor([[[4.776771, 0.223229, 0.660477, 0.339523], [1.223229, 3.776771, 1.339523, -0.339523]]]),
            "MultiHeadAttention output of the worked example", atol=1e-5,
            hint="(B, H, L, dh) -> transpose(1, 2) -> reshape(B, L, d) puts the heads side by side; then apply out_proj")

# %% test: test_MultiHeadAttention_hidden (2 points)
# Hidden tests (ValueError, bias=False, masks shared by the heads, permutation equivariance, large
# scores) run when your notebook is graded.
### BEGIN HIDDEN TESTS
check_raises(ValueError, MultiHeadAttention, 10, 3, name="MultiHeadAttention(d_model=10, num_heads=3)")
check_raises(ValueError, MultiHeadAttention, 6, 4, name="MultiHeadAttention(d_model=6, num_heads=4)")
_m0 = attempt("MultiHeadAttention(8, 2, bias=False)", MultiHeadAttention, 8, 2, bias=False)
check_true(all(getattr(_m0, _n).bias is None for _n in ("q_proj", "k_proj", "v_proj", "out_proj")),
           "MultiHeadAttention(8, 2, bias=False): q_proj, k_proj, v_proj and out_proj must have no bias; got biases on "
           + str([_n for _n in ("q_proj", "k_proj", "v_proj", "out_proj") if getattr(_m0, _n).bias is not None]))
# ... and its output shows it (a value the grader compares; any bias would be randomised too).
randomise_(_m0, seed=300)
_x0 = torch.randn(2, 3, 8, generator=torch.Generator().manual_seed(300), dtype=torch.float32)
_out0, _ = attempt_pair("MultiHeadAttention(8, 2, bias=False)(x, x, x)", _m0, _x0, _x0, _x0)
### BEGIN REFERENCE
_twin0 = nn.MultiheadAttention(8, 2, bias=False, batch_first=True).eval()
with torch.no_grad():
    _twin0.in_proj_weight.copy_(torch.cat([_m0.q_proj.weight, _m0.k_proj.weight, _m0.v_proj.weight]))
    _twin0.out_proj.weight.copy_(_m0.out_proj.weight)
    _want0 = _twin0(_x0, _x0, _x0, need_weights=False)[0]
### END REFERENCE
check_close(_out0, _want0, "MultiHeadAttention(8, 2, bias=False) self-attention output (B=2, L=3)", rtol=1e-4,
            atol=1e-5, hint="bias=False: none of the four projections has a bias")

_g = torch.Generator().manual_seed(301)
_B, _Lq, _Lk, _d, _H = 3, 4, 6, 10, 2
_mha = randomise_(MultiHeadAttention(_d, _H), seed=301).eval()   # weights by name: any registration order
_xq, _xk, _xv = (torch.randn(_B, _Lq, _d, generator=_g, dtype=torch.float32), torch.randn(_B, _Lk, _d, generator=_g, dtype=torch.float32),
                 torch.randn(_B, _Lk, _d, generator=_g, dtype=torch.float32))
_m2 = torch.rand(_Lq, _Lk, generator=_g, dtype=torch.float32) > 0.5
_m2[torch.arange(_Lq), torch.arange(_Lq)] = True
_m3 = torch.rand(_B, _Lq, _Lk, generator=_g, dtype=torch.float32) > 0.5
_m3[:, torch.arange(_Lq), (torch.arange(_Lq) + 2) % _Lk] = True
for _what, _m, _mh in (("mask (Lq, Lk)", _m2, _m2), ("mask (B, Lq, Lk)", _m3, _m3[:, None])):
    _name = f"MultiHeadAttention({_d}, {_H}) weights (B={_B}, H={_H}, Lq={_Lq}, Lk={_Lk}), {_what}"
    _out, _w = attempt_pair(f"MultiHeadAttention({_d}, {_H}) forward, B={_B}, Lq={_Lq}, Lk={_Lk}, {_what}", _mha, _xq, _xk, _xv, _m,
                            hint="a mask is shared by all heads: a (B, Lq, Lk) mask needs a head dimension, mask[:, None]")
    check_shape(_out, (_B, _Lq, _d), f"MultiHeadAttention({_d}, {_H}) output (B={_B}, Lq={_Lq}), {_what}")
    check_shape(_w, (_B, _H, _Lq, _Lk), _name)
    check_probabilities(_w, dim=-1, name=_name)
    check_masked_zero(_w, _mh, _name)

# Permutation equivariance of self-attention (no positional information).
_x = torch.randn(2, 7, _d, generator=_g, dtype=torch.float32)
_perm = torch.tensor([6, 2, 0, 5, 1, 3, 4])
_out, _w = _mha(_x, _x, _x)
_xp = _x[:, _perm]
_out_p, _w_p = _mha(_xp, _xp, _xp)
check_close(_out_p, _out[:, _perm], "MultiHeadAttention self-attention on x[:, perm] compared with the permuted output",
            rtol=1e-4, atol=1e-5, hint="multi-head self-attention without positional information is permutation equivariant")
check_close(_w_p, _w[:, :, _perm][:, :, :, _perm], "MultiHeadAttention weights on x[:, perm] compared with the permuted weights",
            rtol=1e-4, atol=1e-5)

# Edge cases: large scores. Integer weights, biases and inputs with d_head=16 (scores and 1/sqrt(16) exact) give
# scores up to 125, where exp(s) / sum(exp(s)) overflows; a causal mask leaves query 0 a single real key.
### BEGIN REFERENCE
def _reference_mha(_mod, _xx, _mask=None):
    _lin = lambda _l, _t: _t.double() @ _l.weight.detach().double().T + _l.bias.detach().double()
    _BB, _LL, _dd = _xx.shape
    _hh = _mod.num_heads
    _split = lambda _t: _t.view(_BB, _LL, _hh, _dd // _hh).transpose(1, 2)
    _qq, _kk, _vv = _split(_lin(_mod.q_proj, _xx)), _split(_lin(_mod.k_proj, _xx)), _split(_lin(_mod.v_proj, _xx))
    _s = _qq @ _kk.transpose(-2, -1) / math.sqrt(_dd // _hh)
    if _mask is not None:
        _s = _s.masked_fill(~_mask, float("-inf"))
    _ww = torch.softmax(_s, dim=-1)
    return _lin(_mod.out_proj, (_ww @ _vv).transpose(1, 2).reshape(_BB, _LL, _dd)), _ww
### END REFERENCE


_mha_large = randomise_(MultiHeadAttention(32, 2), seed=302).eval()
with torch.no_grad():
    for _p in _mha_large.parameters():
        _p.mul_(3.0).round_()                                   # integer weights and biases
_x_int = torch.randint(-3, 4, (2, 5, 32), generator=torch.Generator().manual_seed(302)).to(torch.float32)
for _what, _mm in (("no mask", None), ("causal mask (L, L)", torch.ones(5, 5).tril().bool())):
    _name = f"MultiHeadAttention(32, 2) self-attention with large scores (integer weights and inputs), B=2, L=5, {_what}"
    _out, _w = attempt_pair(f"{_name}: forward", _mha_large, _x_int, _x_int, _x_int, *([] if _mm is None else [_mm]))
    ### BEGIN REFERENCE
    _ref_out, _ref_w = _reference_mha(_mha_large, _x_int, _mm)
    ### END REFERENCE
    check_probabilities(_w, dim=-1, name=f"weights of {_name}")
    check_close(_w, _ref_w, f"weights of {_name}", rtol=1e-4, atol=1e-5,
                hint="torch.softmax subtracts each row's maximum before exp(); a hand-written exp() overflows")
    # outputs are in the hundreds: float32 resolves scores of ~125 to ~4e-6, hence atol=1e-2
    check_close(_out, _ref_out, f"output of {_name}", rtol=1e-4, atol=1e-2)
### END HIDDEN TESTS

# %% test: test_MultiHeadAttention_torch_equivalence (4 points)
# Hidden tests: your MultiHeadAttention against torch.nn.MultiheadAttention with the same weights
# (self- and cross-attention, masks, bias=False, one head, a batch of one, one query, one key, a batch
# as large as the number of queries) run when your notebook is graded.
### BEGIN HIDDEN TESTS
### BEGIN REFERENCE
def _torch_twin(_mine, _dd, _hh, _with_bias):
    """nn.MultiheadAttention holding the weights of `_mine`."""
    _twin = nn.MultiheadAttention(_dd, _hh, bias=_with_bias, batch_first=True).eval()
    with torch.no_grad():
        _twin.in_proj_weight.copy_(torch.cat([_mine.q_proj.weight, _mine.k_proj.weight, _mine.v_proj.weight]))  # (3d, d)
        _twin.out_proj.weight.copy_(_mine.out_proj.weight)
        if _with_bias:
            _twin.in_proj_bias.copy_(torch.cat([_mine.q_proj.bias, _mine.k_proj.bias, _mine.v_proj.bias]))      # (3d,)
            _twin.out_proj.bias.copy_(_mine.out_proj.bias)
    return _twin
### END REFERENCE


_HINT = ("head h uses features [h*dh, (h+1)*dh) of each projection (view(B, L, H, dh).transpose(1, 2)); scale by "
         "1/sqrt(dh); merge with transpose(1, 2).reshape(B, Lq, d) and apply out_proj; a mask is shared by all heads")
_g = torch.Generator().manual_seed(401)
# Edge cases (the last four): B=1 with a single query (a decoding step), a single key, B=1 with one head, and
# B == Lq, where an (Lq, Lk) mask must not be taken for a (B, Lk) one.
for _B, _Lq, _Lk, _d, _H, _bias, _kind in ((2, 5, 5, 12, 3, True, "self"), (2, 5, 7, 12, 3, True, "cross"),
                                         (3, 4, 6, 8, 4, False, "cross"), (2, 6, 6, 16, 1, True, "self"),
                                         (1, 1, 5, 8, 2, True, "cross"), (2, 3, 1, 8, 4, True, "cross"),
                                         (1, 4, 4, 6, 1, False, "self"), (3, 3, 4, 12, 3, True, "cross")):
    _mha = randomise_(MultiHeadAttention(_d, _H, bias=_bias), seed=400 + _Lk + _d + _H).eval()
    ### BEGIN REFERENCE
    _ref = _torch_twin(_mha, _d, _H, _bias)
    ### END REFERENCE
    if _kind == "self":
        _xq = _xk = _xv = torch.randn(_B, _Lq, _d, generator=_g, dtype=torch.float32)
    else:
        _xq, _xk, _xv = (torch.randn(_B, _Lq, _d, generator=_g, dtype=torch.float32),
                         torch.randn(_B, _Lk, _d, generator=_g, dtype=torch.float32),
                         torch.randn(_B, _Lk, _d, generator=_g, dtype=torch.float32))
    _m2 = torch.rand(_Lq, _Lk, generator=_g, dtype=torch.float32) > 0.5
    _m2[torch.arange(_Lq), torch.arange(_Lq) % _Lk] = True
    _m3 = torch.rand(_B, _Lq, _Lk, generator=_g, dtype=torch.float32) > 0.5
    _m3[:, torch.arange(_Lq), (torch.arange(_Lq) + 1) % _Lk] = True
    _masks = [("no mask", None, None), ("mask (Lq, Lk)", _m2, ~_m2),
              ("mask (B, Lq, Lk)", _m3, (~_m3).repeat_interleave(_H, dim=0))]
    if _kind == "self":
        _masks.append(("causal mask", torch.ones(_Lq, _Lq).tril().bool(), ~torch.ones(_Lq, _Lq).tril().bool()))
    for _what, _m, _torch_mask in _masks:
        _name = f"MultiHeadAttention({_d}, {_H}, bias={_bias}) {_kind}-attention, B={_B}, Lq={_Lq}, Lk={_Lk}, {_what}"
        with torch.no_grad():
            _out, _w = attempt_pair(f"forward of {_name}", _mha, _xq, _xk, _xv, *([] if _m is None else [_m]), hint=_HINT)
            ### BEGIN REFERENCE
            _out_ref, _w_ref = _ref(_xq, _xk, _xv, attn_mask=_torch_mask, need_weights=True, average_attn_weights=False)
            ### END REFERENCE
        check_close(_w, _w_ref, f"weights of {_name}, compared with nn.MultiheadAttention", rtol=1e-4, atol=1e-5, hint=_HINT)
        check_close(_out, _out_ref, f"output of {_name}, compared with nn.MultiheadAttention", rtol=1e-4, atol=1e-5, hint=_HINT)
### END HIDDEN TESTS

# %% [markdown] locked: written_heads_question
# ### Written question 2 (3 points, graded by hand)
#
# Your `MultiHeadAttention` with $H$ heads of size $d_h = d / H$ has exactly as many parameters as one
# head of size $d$: $4d^2$ weights (plus biases). So what do several heads buy? Explain what one head
# can compute for a query that $H$ heads improve on, give one concrete example of two things a layer
# may want to attend to at once (part 8's copy model or a sentence), and say what each head gives up.

# %% [markdown] answer: written_heads (3 points)
# **Model answer.** One head computes, for each query, *one* softmax distribution over the keys, so its output is
# a single weighted average of the values: to take information from two places it must split its
# weight between them and blur them into one vector. $H$ heads compute $H$ independent distributions,
# each comparing queries and keys in its own $d_h$-dimensional subspace, and the concatenation keeps
# their results apart for $W^o$ to combine. Example: in *"the cat that chased the dog was hungry"*,
# *was* wants its subject *cat* (agreement) and also its neighbour *dog*'s position (local order);
# in the copy task of part 8, one head can look at position $t - 1$ while another looks at $t$. The
# price is not parameters or time (same $4d^2$ weights, about the same compute) but rank: each head's
# scores use only $d_h = d/H$ dimensions, so with too many heads each head becomes too small to
# express fine comparisons.
#
# **Rubric (3 points).**
# - 1 point: one head gives one attention distribution per query, so one weighted average
#   (attending to two places means averaging them).
# - 1 point: $H$ heads give $H$ independent distributions in different subspaces (different relations
#   at once), with a concrete example.
# - 1 point: the cost: same number of parameters and similar compute, but each head works in
#   $d_h = d/H$ dimensions (lower-rank scores), so more heads is not always better.

# %% [markdown] locked: part7
# ## Part 7. Sinusoidal positional encoding (3 points)
#
# Self-attention is permutation equivariant (the hidden tests of parts 5 and 6 check that yours
# is): it needs the positions in its input. Implement the table of Vaswani et al. (2017), with sines
# in the even columns and cosines in the odd columns (**interleaved**):
#
# $$\mathrm{PE}[p, 2i] = \sin\!\left(\frac{p}{10000^{2i/d}}\right),\qquad
#   \mathrm{PE}[p, 2i+1] = \cos\!\left(\frac{p}{10000^{2i/d}}\right),\qquad
#   p = 0, \dots, \texttt{max\_len} - 1,\quad i = 0, \dots, d/2 - 1 .$$
#
# `sinusoidal_positional_encoding(max_len, d_model)` returns a **float32** tensor of shape
# `(max_len, d_model)`; `d_model` is even. Example: row $p = 1$ of the table for $d = 4$ is
# $[\sin 1, \cos 1, \sin(1/100), \cos(1/100)]$.

# %% solution: sinusoidal_positional_encoding
def sinusoidal_positional_encoding(max_len: int, d_model: int) -> torch.Tensor:
    """(max_len, d_model) float32 table: sin in the even columns, cos in the odd columns."""
    ### BEGIN SOLUTION
    p = torch.arange(max_len, dtype=torch.float32)[:, None]          # (max_len, 1) positions
    two_i = torch.arange(0, d_model, 2, dtype=torch.float32)        # (d/2,) the even indices 2i
    angle = p / 10000.0 ** (two_i / d_model)                        # (max_len, d/2)
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(angle)                                  # PE[p, 2i]
    pe[:, 1::2] = torch.cos(angle)                                  # PE[p, 2i+1]
    return pe
    ### END SOLUTION


# %% test: test_sinusoidal_positional_encoding (1 point)
pe = attempt("sinusoidal_positional_encoding(3, 4)", sinusoidal_positional_encoding, 3, 4)
check_shape(pe, (3, 4), "sinusoidal_positional_encoding(3, 4)")
check_dtype(pe, torch.float32, "sinusoidal_positional_encoding(3, 4)")
# columns: sin(p), cos(p), sin(p / 100), cos(p / 100)   (10000^(2/4) = 100)
check_close(pe, torch.tensor([[0.0, 1.0, 0.0, 1.0],
                              [0.841471, 0.540302, 0.010000, 0.999950],
                              [0.909297, -0.416147, 0.019999, 0.999800]]),
            "sinusoidal_positional_encoding(3, 4)", atol=1e-5,
            hint="interleaved: sin in columns 0, 2, 4, ..., cos in columns 1, 3, 5, ...; "
                 "columns 2i and 2i+1 share the frequency 1 / 10000^(2i/d)")

# %% test: test_sinusoidal_positional_encoding_hidden (2 points)
# Hidden tests (other sizes, max_len=1, d_model=2, a wide table) run when your notebook is graded.
### BEGIN HIDDEN TESTS
### BEGIN REFERENCE
def _reference_pe(_n, _d):
    _angle = torch.arange(_n, dtype=torch.float64)[:, None] * 10000.0 ** (-torch.arange(0, _d, 2, dtype=torch.float64) / _d)
    _table = torch.empty(_n, _d, dtype=torch.float64)
    _table[:, 0::2] = _angle.sin()
    _table[:, 1::2] = _angle.cos()
    return _table
### END REFERENCE


# Edge cases: one position (a (1, d) table, not (d,)), the smallest d_model (2), a wide table, d/2 odd.
for _max_len, _d in ((50, 16), (7, 6), (1, 8), (20, 2), (1, 2), (3, 64), (5, 10)):
    _pe = attempt(f"sinusoidal_positional_encoding({_max_len}, {_d})", sinusoidal_positional_encoding, _max_len, _d)
    check_dtype(_pe, torch.float32, f"sinusoidal_positional_encoding({_max_len}, {_d})")
    check_close(_pe, _reference_pe(_max_len, _d), f"sinusoidal_positional_encoding({_max_len}, {_d})", rtol=0, atol=1e-4,
                hint="PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(p / 10000^(2i/d)), interleaved")
### END HIDDEN TESTS

# %% [markdown] locked: written_positions_question
# ### Written question 3 (2 points, graded by hand)
#
# Without a positional encoding, self-attention is *permutation equivariant*. Let $\Pi$ be a
# permutation matrix and feed $\Pi\mathbf{X}$ instead of $\mathbf{X}$: show in a few lines what
# happens to $\mathbf{Q}, \mathbf{K}, \mathbf{V}$, to $\mathbf{S}$, to $\mathbf{A}$ and to the output
# $\mathbf{A}\mathbf{V}$. Then give an example of two inputs such a model cannot tell apart although
# the difference matters, and say how $\mathbf{P}$ (added to the embeddings) fixes it.

# %% [markdown] answer: written_positions (2 points)
# **Model answer.** $\Pi\mathbf{X}$ gives $\Pi\mathbf{Q}$, $\Pi\mathbf{K}$, $\Pi\mathbf{V}$ (the projections act on each
# row), so $\mathbf{S}' = \Pi\mathbf{Q}\mathbf{K}^\top \Pi^\top / \sqrt{d_k} = \Pi\mathbf{S}\Pi^\top$. A row-wise
# softmax does not care in which order rows and columns come, so $\mathbf{A}' = \Pi\mathbf{A}\Pi^\top$,
# and the output is $\Pi\mathbf{A}\Pi^\top \Pi\mathbf{V} = \Pi\mathbf{A}\mathbf{V}$ since $\Pi^\top \Pi = I$: the
# same vectors, reordered. Each word gets the same output wherever it stands, so *"dog bites man"* and
# *"man bites dog"* give the same vector for *dog*, and a model that pools over positions cannot tell
# the two sentences apart (in part 8, a position cannot find "the previous token"). Adding
# $\mathbf{P}$ makes the input of a word depend on its position, so the equality breaks and order
# becomes visible.
#
# **Rubric (2 points).**
# - 1 point: the derivation: $\mathbf{S} \to \Pi\mathbf{S}\Pi^\top$, $\mathbf{A} \to \Pi\mathbf{A}\Pi^\top$,
#   output $\to \Pi \cdot$ output (using $\Pi^\top \Pi = I$ and that a row-wise softmax commutes with
#   permutations).
# - 1 point: the consequence with an example (word order invisible: "dog bites man", or part 8's task)
#   and how adding $\mathbf{P}$ breaks the symmetry.

# %% [markdown] locked: part8
# ## Part 8. Put it together: a model that copies the previous token (not graded)
#
# A sequence of random tokens goes in; at every position $t \ge 1$ the model must output the token
# at position $t - 1$. The content of a token says nothing about its neighbours, so only
# **positions** can solve this. The model: an embedding plus your sinusoidal table, one layer of
# your `MultiHeadAttention` with your `causal_mask` (it may look back, never ahead), and a linear
# read-out. While the notebook is being graded, training is cut short.

# %% locked: demo_train
class PreviousTokenModel(nn.Module):
    def __init__(self, vocab_size, d_model, num_heads, max_len):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.register_buffer("pe", sinusoidal_positional_encoding(max_len, d_model))   # (max_len, d) fixed
        self.attn = MultiHeadAttention(d_model, num_heads)
        self.readout = nn.Linear(d_model, vocab_size)

    def forward(self, ids):                                   # ids: (B, L)
        L = ids.shape[1]
        x = self.embed(ids) + self.pe[:L]                     # (B, L, d) token + position
        h, weights = self.attn(x, x, x, causal_mask(L))       # (B, L, d), (B, H, L, L)
        return self.readout(h), weights                       # (B, L, V), (B, H, L, L)


def copy_loss(logits, ids):
    """Cross-entropy of the prediction at t >= 1 against the token at t - 1."""
    return F.cross_entropy(logits[:, 1:].reshape(-1, logits.shape[-1]), ids[:, :-1].reshape(-1))


vocab_size, seq_len = 16, 12
# While grading, the model is only run, not trained (creating a torch.optim optimizer alone
# takes seconds of imports).
steps = 0 if GRADING else 400
torch.manual_seed(0)
copier = PreviousTokenModel(vocab_size, 32, 2, seq_len)
gen = torch.Generator().manual_seed(0)
if steps:
    optimizer = torch.optim.Adam(copier.parameters(), lr=1e-2)
for step in range(steps):
    ids = torch.randint(0, vocab_size, (64, seq_len), generator=gen)   # (B, L) random tokens
    logits, _ = copier(ids)
    loss = copy_loss(logits, ids)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

ids = torch.randint(0, vocab_size, (500, seq_len), generator=gen)      # fresh test sequences
with torch.no_grad():
    logits, test_weights = copier(ids)                                 # (500, L, V), (500, H, L, L)
accuracy = (logits[:, 1:].argmax(-1) == ids[:, :-1]).float().mean().item()
print(f"after {steps} training steps: test loss {copy_loss(logits, ids).item():.3f}, accuracy on fresh sequences "
      f"{accuracy:.1%} (chance {1 / vocab_size:.1%}; a correct implementation reaches about 100% after 400 steps)")

# %% locked: demo_plot
if not GRADING:
    import matplotlib.pyplot as plt

    from coursekit.attention_plots import plot_attention_heads

    labels = [f"{p}:{int(t)}" for p, t in enumerate(ids[0])]          # position:token
    plot_attention_heads(test_weights[0], labels, labels, suptitle="Your trained heads on a test sequence (position:token)")
    plt.show()
    for h in range(test_weights.shape[1]):
        offset = (test_weights[0, h, 1:].argmax(-1) - torch.arange(1, seq_len)).float()
        print(f"head {h}: most-attended key at offset {offset.median().item():+.0f} (median over queries 1..{seq_len - 1})")

# %% [markdown] locked: questions
# ### Things to try (not graded)
# 1. Train the model without the positional encoding (replace `self.pe[:L]` by 0). What accuracy
#    do you get, and why is it about what you get? (Hint: with a causal mask, what can query $t$
#    still tell about its position?)
# 2. Replace `causal_mask(L)` by `window_mask(L, 1)`. The task is still solvable; is it learned
#    faster? Now ask for the **next** token instead: which of the two masks can solve it?
# 3. Pad the test sequences: give each a random length with `padding_mask`, combine it with the
#    causal mask (`causal_mask(L) & padding_mask(lengths, L)[:, None, :]`, shape `(B, L, L)`) and
#    check that the padded keys get weight 0 in every head.
# 4. Compare the speed of your `MultiHeadAttention` with `nn.MultiheadAttention` for
#    $L \in \{128, 512, 2048\}$ (use `torch.utils.benchmark` or `time.perf_counter`).
