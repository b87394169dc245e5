# %% [markdown] locked: intro
# # Homework 4: speaker identification with a Conformer
#
# Given a few seconds of speech, say which of the known speakers is talking. The input is a
# sequence of 40-dimensional log-mel frames (one every 10 ms), the output one of the speakers.
# The course's sample model (a Transformer encoder and mean pooling) is the baseline; you build
# the three things that beat it (as in NTU ML2022 HW4), and write a short report on what each
# bought in your own runs:
#
# | part | you implement / answer | graded automatically | graded by hand |
# | --- | --- | --- | --- |
# | 1 | `ConformerFeedForward`: the Macaron half-step feed-forward module | 3 | |
# | 2 | `ConformerConvModule`: pointwise conv, GLU, depthwise conv, batch norm, swish | 4 | |
# | 3 | `ConformerBlock`: ½FF, self-attention, convolution, ½FF, final norm | 5 | |
# | 4 | `SelfAttentionPooling`: a learned weighted average over frames | 4 | |
# | 5 | `AMSoftmax`: additive-margin softmax | 4 | |
# | 6 | train a model, write `predictions.csv` (graded against hidden labels, Kaggle style) | 8 | |
# | 7 | report: `report_1` (a Transformer variant), `report_2` (convolution), `report_3` (pooling and AM-softmax) | | 13 |
# | | **total: 41 points** | **28** | **13** |
#
# Parts 1-5 are graded on their own: the block test replaces your feed-forward and convolution
# modules by stand-ins, so one mistake costs one question. Visible tests are here; hidden tests
# with other sizes and padding run when your notebook is graded. Self-check:
# `!{sys.executable} -m autograder check hw4_speaker_id.ipynb` in a cell of this notebook (it runs a fresh
# copy of the saved notebook as the grader does, visible tests only; save first), or
# `python -m autograder check hw4_speaker_id.ipynb` in a terminal of the course's environment (JupyterLab's
# terminal when it was started with `make lab`).
#
# **Part 6** is graded from the `predictions.csv` you hand in next to the notebook: the grader
# compares it with the test labels (which you never see) and gives 2 points for each threshold
# your accuracy reaches: **Simple, Medium, Strong, Boss** (the thresholds are at the end of part 6;
# they were measured by training the four reference models on the default dataset). Training
# does not run while the notebook is graded, so the file you submit is the one graded.
#
# **Part 7, the report,** is graded by hand: answer each report question in the Markdown cell
# under it, in place of `YOUR ANSWER HERE`. Your instructor scores it after the deadline; until then
# your feedback lists it as *needs manual grading*, and the self-check lists it without checking it.
#
# Conventions: batch-first tensors `(B, T, d)`, float32. **Every boolean mask in this course
# means True = real frame.** `nn.MultiheadAttention`'s `key_padding_mask` wants True = padding,
# so pass `~pad_mask`. Here $T$ is the number of frames (the sequence length $L$ of the table).
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
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from autograder.checks import (check_close, check_implemented, check_shape, check_true, randomise_, seeded)

torch.manual_seed(0)
# Set by nbgrader while grading: training is skipped then, and the submitted predictions are graded.
GRADING = os.environ.get("NBGRADER_EXECUTION") in ("autograde", "validate")

# %% [markdown] locked: part1
# ## Part 1. The feed-forward module (3 points)
#
# The Conformer (Gulati et al., 2020) sandwiches each block between two feed-forward modules,
# each contributing half a step (the "Macaron" layout, Part 3). One module is
#
# $$\mathrm{FF}(x) = \mathrm{Dropout}\big(W_2\,\mathrm{Dropout}(\mathrm{Swish}(W_1\,\mathrm{LayerNorm}(x) + b_1)) + b_2\big),
# \qquad \mathrm{Swish}(z) = z\,\sigma(z)$$
#
# with $W_1$: d -> `expansion`·d and $W_2$ back to d. Swish is `F.silu`. Return $\mathrm{FF}(x)$
# **without** the residual (the block adds it, scaled by ½). `(B, T, d) -> (B, T, d)`.

# %% solution: ConformerFeedForward
class ConformerFeedForward(nn.Module):
    def __init__(self, d_model: int, expansion: int = 4, dropout: float = 0.0):
        super().__init__()
        self.layer_norm = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, expansion * d_model)
        self.linear2 = nn.Linear(expansion * d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, d) -> (B, T, d), no residual."""
        ### BEGIN SOLUTION
        h = F.silu(self.linear1(self.layer_norm(x)))            # (B, T, expansion*d)
        return self.dropout(self.linear2(self.dropout(h)))      # (B, T, d)
        ### END SOLUTION


# %% test: test_ConformerFeedForward (1 point)
ff = randomise_(check_implemented(ConformerFeedForward, 8, 3), seed=1).eval()
x = torch.randn(2, 5, 8, generator=seeded(2))
out = check_implemented(ff, x)
check_shape(out, (2, 5, 8), "ConformerFeedForward(8, expansion=3) output for x of shape (2, 5, 8)")
h = F.layer_norm(x, (8,), ff.layer_norm.weight, ff.layer_norm.bias)
expected = F.linear(F.silu(F.linear(h, ff.linear1.weight, ff.linear1.bias)), ff.linear2.weight, ff.linear2.bias)
check_close(out, expected, "ConformerFeedForward(8, expansion=3) in eval mode", atol=1e-5,
            hint="linear2(swish(linear1(layer_norm(x)))), swish = F.silu, and no residual")

# %% test: test_ConformerFeedForward_hidden (2 points)
# Hidden tests (other sizes, dropout in training mode) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_ff = randomise_(ConformerFeedForward(12, 2, dropout=0.5), seed=3).eval()
_x = 3.0 * torch.randn(3, 7, 12, generator=seeded(4)) + 1.0
### BEGIN REFERENCE
_h = F.layer_norm(_x, (12,), _ff.layer_norm.weight, _ff.layer_norm.bias)
_expected = F.linear(F.silu(F.linear(_h, _ff.linear1.weight, _ff.linear1.bias)), _ff.linear2.weight, _ff.linear2.bias)
### END REFERENCE
_eval_out = _ff(_x)
check_close(_eval_out, _expected, "ConformerFeedForward(12, expansion=2, dropout=0.5) in eval mode", atol=1e-5,
            hint="layer norm first, swish between the linears, no residual")
check_shape(_ff.linear1.weight, (24, 12), "linear1.weight of ConformerFeedForward(12, expansion=2)")
_ff.train()
torch.manual_seed(5)
_a = _ff(_x)
check_true(not torch.allclose(_a, _eval_out, atol=1e-4),
           "ConformerFeedForward(dropout=0.5) in training mode gave the eval-mode output: apply self.dropout")
_ff.eval()
check_close(_ff(_x), _expected, "ConformerFeedForward in eval mode after a training-mode call", atol=1e-5)
# Edge cases: a batch of one, a single frame
_ff1 = randomise_(ConformerFeedForward(6, 3), seed=7).eval()
for _shape in ((1, 1, 6), (1, 4, 6), (3, 1, 6)):
    _xe = torch.randn(*_shape, generator=seeded(32), dtype=torch.float32)
    ### BEGIN REFERENCE
    _he = F.layer_norm(_xe, (6,), _ff1.layer_norm.weight, _ff1.layer_norm.bias)
    _expected_e = F.linear(F.silu(F.linear(_he, _ff1.linear1.weight, _ff1.linear1.bias)), _ff1.linear2.weight, _ff1.linear2.bias)
    ### END REFERENCE
    check_close(_ff1(_xe), _expected_e, f"ConformerFeedForward(6, expansion=3) for x of shape {_shape}", atol=1e-5,
                hint="the output has the shape of x, also when B = 1 or T = 1: no .squeeze()")
### END HIDDEN TESTS

# %% [markdown] locked: part2
# ## Part 2. The convolution module (4 points)
#
# Attention relates every frame to every other frame; a convolution sees a short window of
# neighbouring frames, which is where local patterns (a formant transition, a pitch glide) are.
# The module, on `(B, T, d)`:
#
# 1. `layer_norm` over features;
# 2. `pointwise_conv1`: `Conv1d(d, 2d, 1)` (a linear map per frame to 2d channels);
# 3. GLU over channels: $\mathrm{GLU}(a, b) = a \odot \sigma(b)$ with $a$ the first d channels,
#    $b$ the last d (`F.glu(h, dim=1)` on `(B, 2d, T)`);
# 4. `depthwise_conv`: `Conv1d(d, d, k, padding=k//2, groups=d)`: each channel filtered in time
#    on its own (k frames);
# 5. `batch_norm`: `BatchNorm1d(d)`; 6. swish; 7. `pointwise_conv2`: `Conv1d(d, d, 1)`; 8. dropout.
#
# `nn.Conv1d` wants `(B, channels, T)`: transpose in and out. Return the result **without** the
# residual. `(B, T, d) -> (B, T, d)`. With a `pad_mask` `(B, T)` (True = real frame), set the
# padded frames to 0 just before the depthwise convolution, so that they do not leak into the
# real frames next to them (a padded batch then gives what each utterance alone gives).

# %% solution: ConformerConvModule
class ConformerConvModule(nn.Module):
    def __init__(self, d_model: int, kernel_size: int = 31, dropout: float = 0.0):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd so that padding k//2 keeps the length, got {kernel_size}")
        self.layer_norm = nn.LayerNorm(d_model)
        self.pointwise_conv1 = nn.Conv1d(d_model, 2 * d_model, kernel_size=1)
        self.depthwise_conv = nn.Conv1d(d_model, d_model, kernel_size, padding=kernel_size // 2, groups=d_model)
        self.batch_norm = nn.BatchNorm1d(d_model)
        self.pointwise_conv2 = nn.Conv1d(d_model, d_model, kernel_size=1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, d), pad_mask (B, T) bool, True = real frame, or None -> (B, T, d), no residual.
        Padded frames are zeroed before the depthwise convolution."""
        ### BEGIN SOLUTION
        h = self.layer_norm(x).transpose(1, 2)                  # (B, d, T)
        h = F.glu(self.pointwise_conv1(h), dim=1)               # (B, 2d, T) -> (B, d, T)
        if pad_mask is not None:                                # the zeros an utterance alone is padded with
            h = h.masked_fill(~pad_mask.unsqueeze(1), 0.0)      # (B, d, T)
        h = F.silu(self.batch_norm(self.depthwise_conv(h)))     # (B, d, T)
        h = self.dropout(self.pointwise_conv2(h))               # (B, d, T)
        return h.transpose(1, 2)                                # (B, T, d)
        ### END SOLUTION


# %% test: test_ConformerConvModule (1 point)
def conv_module_reference(m, x, training=False, pad_mask=None):
    """What ConformerConvModule computes with m's weights (functional form)."""
    d = x.shape[-1]
    h = F.layer_norm(x, (d,), m.layer_norm.weight, m.layer_norm.bias).transpose(1, 2)       # (B, d, T)
    h = F.conv1d(h, m.pointwise_conv1.weight, m.pointwise_conv1.bias)                       # (B, 2d, T)
    h = h[:, :d] * torch.sigmoid(h[:, d:])                                                  # GLU
    if pad_mask is not None:
        h = h * pad_mask.unsqueeze(1)                                                       # padded frames -> 0
    k = m.depthwise_conv.kernel_size[0]
    h = F.conv1d(h, m.depthwise_conv.weight, m.depthwise_conv.bias, padding=k // 2, groups=d)
    bn = m.batch_norm
    h = F.batch_norm(h, bn.running_mean.clone(), bn.running_var.clone(), bn.weight, bn.bias,
                     training=training, eps=bn.eps)
    h = F.conv1d(F.silu(h), m.pointwise_conv2.weight, m.pointwise_conv2.bias)
    return h.transpose(1, 2)                                                                # (B, T, d)


conv = randomise_(check_implemented(ConformerConvModule, 6, 5), seed=6).eval()
x = torch.randn(2, 9, 6, generator=seeded(7))
out = check_implemented(conv, x)
check_shape(out, (2, 9, 6), "ConformerConvModule(6, kernel_size=5) output for x of shape (2, 9, 6)")
check_close(out, conv_module_reference(conv, x), "ConformerConvModule(6, kernel_size=5) in eval mode", atol=1e-5,
            hint="layer_norm -> transpose to (B, d, T) -> pointwise_conv1 -> GLU over channels (dim=1) -> "
                 "depthwise_conv -> batch_norm -> swish -> pointwise_conv2 -> transpose back; no residual")
pad_mask = torch.arange(9) < torch.tensor([9, 5])[:, None]                 # (B, T) True = real: row 1 has 5 frames
# Both sides against the equations (not one against the other: a check's expected value never
# comes from the code under test, so this cell and the grader judge alike).
alone = conv_module_reference(conv, x[1:, :5])                            # (1, 5, 6) the utterance alone
check_close(conv(x, pad_mask)[1, :5], alone[0],
            "ConformerConvModule(6, kernel_size=5): row 1 (5 real frames of 9) with pad_mask vs that utterance alone",
            atol=1e-5, hint="zero the padded frames right before depthwise_conv: h.masked_fill(~pad_mask.unsqueeze(1), 0.0)")
check_close(conv(x[1:, :5]), alone, "ConformerConvModule(6, kernel_size=5) on that utterance alone, x of shape (1, 5, 6)",
            atol=1e-5)

# %% test: test_ConformerConvModule_hidden (3 points)
# Hidden tests (other sizes, training-mode batch norm, locality in time, padding) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_conv = randomise_(ConformerConvModule(10, 7), seed=8).eval()
_x = 2.0 * torch.randn(3, 11, 10, generator=seeded(9)) - 0.5
check_close(_conv(_x), conv_module_reference(_conv, _x), "ConformerConvModule(10, kernel_size=7) in eval mode (B=3, T=11)",
            atol=1e-5, hint="GLU over the channel axis, depthwise conv over time, batch norm, swish, pointwise conv")
# Locality: frame t only sees frames t-3 .. t+3 (kernel 7) in eval mode.
_x2 = _x.clone()
_x2[:, 0] = torch.randn(3, 10, generator=seeded(31))   # (a constant shift would vanish in the layer norm)
_diff = (_conv(_x2) - _conv(_x)).abs().amax(dim=(0, 2))                      # (T,)
check_true(bool((_diff[4:] < 1e-5).all()) and bool(_diff[0] > 1e-4),
           "ConformerConvModule(10, kernel_size=7): changing frame 0 must change frames 0..3 only "
           f"(changed: {[int(t) for t in (_diff > 1e-5).nonzero().flatten()]}); the depthwise conv must run over TIME")
# Padding (eval mode): each row's real frames equal the module run on that utterance alone,
# whatever the padded frames hold.
_lengths = [11, 6, 1]
_pad = torch.arange(11) < torch.tensor(_lengths)[:, None]                   # (B, T) True = real
_x3 = _x.clone()
_x3[~_pad] = 50.0
_out = _conv(_x3, _pad)
check_shape(_out, (3, 11, 10), "ConformerConvModule(10, kernel_size=7) output for x (3, 11, 10) with a pad_mask")
for _b, _n in enumerate(_lengths):
    check_close(_out[_b, :_n], _conv(_x3[_b:_b + 1, :_n])[0],
                f"ConformerConvModule(10, kernel_size=7) with pad_mask, row {_b} (length {_n} of 11) vs that utterance alone",
                atol=1e-5, hint="set the padded frames (pad_mask False) to 0 after the GLU, right before depthwise_conv: "
                                "h.masked_fill(~pad_mask.unsqueeze(1), 0.0) on (B, d, T)")
check_close(_conv(_x, torch.ones(3, 11, dtype=torch.bool)), _conv(_x),
            "ConformerConvModule with an all-True pad_mask vs without a mask", atol=1e-5)
# Training mode: batch norm uses the batch's statistics.
_conv.train()
### BEGIN REFERENCE
_expected = conv_module_reference(_conv, _x, training=True)
### END REFERENCE
check_close(_conv(_x), _expected, "ConformerConvModule(10, kernel_size=7) in training mode (batch statistics)", atol=1e-4,
            hint="use self.batch_norm, the module, so it switches between batch and running statistics")
# Edge cases: a batch of one, a single frame, a kernel longer than the sequence (eval mode),
# and batch statistics over the frames of a single utterance (training mode, B = 1)
_conv1 = randomise_(ConformerConvModule(4, 7), seed=10).eval()
for _shape in ((1, 1, 4), (1, 3, 4), (2, 1, 4)):
    _xe = torch.randn(*_shape, generator=seeded(33), dtype=torch.float32)
    check_close(_conv1(_xe), conv_module_reference(_conv1, _xe),
                f"ConformerConvModule(4, kernel_size=7) in eval mode for x of shape {_shape} (kernel longer than T)",
                atol=1e-5, hint="the output has the shape of x, also when B = 1 or T = 1: no .squeeze(); "
                                "padding k // 2 keeps the length")
_conv1.train()
_xe = torch.randn(1, 5, 4, generator=seeded(34), dtype=torch.float32)
check_close(_conv1(_xe), conv_module_reference(_conv1, _xe, training=True),
            "ConformerConvModule(4, kernel_size=7) in training mode for x of shape (1, 5, 4)", atol=1e-4,
            hint="batch norm's statistics are over the batch AND time: a batch of one still has 5 frames")
### END HIDDEN TESTS

# %% [markdown] locked: part3
# ## Part 3. The Conformer block (5 points)
#
# $$\begin{aligned}
# x &\leftarrow x + \tfrac12\,\mathrm{FF}_1(x) \\
# x &\leftarrow x + \mathrm{Dropout}(\mathrm{MHSA}(\mathrm{LayerNorm}_{attn}(x))) \\
# x &\leftarrow x + \mathrm{Conv}(x) \\
# x &\leftarrow x + \tfrac12\,\mathrm{FF}_2(x) \\
# y &= \mathrm{LayerNorm}_{final}(x)
# \end{aligned}$$
#
# `forward(x, pad_mask=None)`: `pad_mask (B, T)` is True at real frames; padded frames must not be
# attended to (`key_padding_mask=~pad_mask`). Call the modules as `self.ff1(x)`, `self.conv(x, pad_mask)`
# (the mask passed on), `self.ff2(x)`: the tests swap in stand-ins for them, so this question does not
# depend on Parts 1-2.

# %% solution: ConformerBlock
class ConformerBlock(nn.Module):
    def __init__(self, d_model: int, nhead: int, ff_expansion: int = 4, kernel_size: int = 31,
                 dropout: float = 0.0):
        super().__init__()
        self.ff1 = ConformerFeedForward(d_model, ff_expansion, dropout)
        self.attn_norm = nn.LayerNorm(d_model)
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.conv = ConformerConvModule(d_model, kernel_size, dropout)
        self.ff2 = ConformerFeedForward(d_model, ff_expansion, dropout)
        self.final_norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, d), pad_mask (B, T) bool, True = real frame -> (B, T, d)."""
        ### BEGIN SOLUTION
        x = x + 0.5 * self.ff1(x)                                                # (B, T, d)
        h = self.attn_norm(x)
        key_padding_mask = None if pad_mask is None else ~pad_mask               # PyTorch: True = padding
        h = self.self_attn(h, h, h, key_padding_mask=key_padding_mask, need_weights=False)[0]
        x = x + self.dropout(h)                                                  # (B, T, d)
        x = x + self.conv(x, pad_mask)                                           # (B, T, d)
        x = x + 0.5 * self.ff2(x)                                                # (B, T, d)
        return self.final_norm(x)
        ### END SOLUTION


# %% test: test_ConformerBlock (2 points)
class StandIn(nn.Module):
    """A stand-in for ff1 / ff2 / conv: a fixed nonlinear map that also mixes neighbouring frames."""

    def __init__(self, d, seed):
        super().__init__()
        self.A = nn.Parameter(torch.randn(d, d, generator=seeded(seed)) / d ** 0.5)

    def forward(self, x, pad_mask=None):
        if pad_mask is not None:                          # like the convolution module: padding -> 0
            x = x * pad_mask.unsqueeze(-1)
        return torch.tanh(x @ self.A) + 0.3 * torch.roll(x, 1, dims=1)


def block_reference(block, x, pad_mask=None):
    """The block's equations, computed with block's modules."""
    x = x + 0.5 * block.ff1(x)
    h = block.attn_norm(x)
    h = block.self_attn(h, h, h, key_padding_mask=None if pad_mask is None else ~pad_mask, need_weights=False)[0]
    x = x + h
    x = x + block.conv(x, pad_mask)
    x = x + 0.5 * block.ff2(x)
    return block.final_norm(x)


torch.manual_seed(10)
block = randomise_(check_implemented(ConformerBlock, 8, 2, 2, 3), seed=11).eval()
block.ff1, block.conv, block.ff2 = StandIn(8, 12), StandIn(8, 13), StandIn(8, 14)
x = torch.randn(2, 5, 8, generator=seeded(15))
out = check_implemented(block, x)
check_shape(out, (2, 5, 8), "ConformerBlock(8, nhead=2) output for x of shape (2, 5, 8)")
check_close(out, block_reference(block, x), "ConformerBlock(8, nhead=2) in eval mode, no padding", atol=1e-5,
            hint="x + ½ff1(x); x + MHSA(attn_norm(x)); x + conv(x); x + ½ff2(x); final_norm(x)")

# %% test: test_ConformerBlock_hidden (3 points)
# Hidden tests (padding masks, other sizes) run when your notebook is graded.
### BEGIN HIDDEN TESTS
torch.manual_seed(16)
_block = randomise_(ConformerBlock(12, 4, 2, 5), seed=17).eval()
_block.ff1, _block.conv, _block.ff2 = StandIn(12, 18), StandIn(12, 19), StandIn(12, 20)
_x = torch.randn(3, 7, 12, generator=seeded(21))
_pad = torch.arange(7) < torch.tensor([7, 4, 2])[:, None]                 # (B, T) True = real
check_close(_block(_x, _pad)[_pad], block_reference(_block, _x, _pad)[_pad],
            "ConformerBlock(12, nhead=4) with padding (lengths 7, 4, 2), real frames", atol=1e-5,
            hint="pad_mask is True for REAL frames; key_padding_mask wants True for padding: pass ~pad_mask; "
                 "and pass pad_mask on to the convolution: self.conv(x, pad_mask)")
check_close(_block(_x), block_reference(_block, _x), "ConformerBlock(12, nhead=4) without a mask", atol=1e-5,
            hint="half-step feed-forwards (0.5 * ff), attention on attn_norm(x), then conv, then final_norm")
# Edge cases: one head, a batch of one, a single frame, a row with a single real frame
torch.manual_seed(22)
_block1 = randomise_(ConformerBlock(8, 1, 2, 3), seed=23).eval()
_block1.ff1, _block1.conv, _block1.ff2 = StandIn(8, 24), StandIn(8, 25), StandIn(8, 26)
for _B, _T, _lengths in ((1, 1, [1]), (1, 4, [1]), (2, 1, [1, 1]), (2, 3, [3, 1])):
    _xe = torch.randn(_B, _T, 8, generator=seeded(35), dtype=torch.float32)
    _pade = torch.arange(_T) < torch.tensor(_lengths)[:, None]             # (B, T) True = real
    check_close(_block1(_xe, _pade)[_pade], block_reference(_block1, _xe, _pade)[_pade],
                f"ConformerBlock(8, nhead=1) for x of shape ({_B}, {_T}, 8), lengths {_lengths}, real frames", atol=1e-5,
                hint="keep pad_mask's (B, T) shape (no .squeeze()) and pass ~pad_mask as key_padding_mask")
    check_close(_block1(_xe), block_reference(_block1, _xe),
                f"ConformerBlock(8, nhead=1) for x of shape ({_B}, {_T}, 8) without a mask", atol=1e-5)
### END HIDDEN TESTS

# %% [markdown] locked: part4
# ## Part 4. Self-attention pooling (4 points)
#
# The classifier needs one vector per utterance. Mean pooling weighs every frame the same,
# silence and noise included. Self-attention pooling (Okabe et al., 2018; Safari et al., 2020)
# learns a score per frame and averages with softmax weights:
#
# $$e_t = w^\top x_t + b, \qquad \alpha_t = \frac{\exp e_t}{\sum_{s\ \mathrm{real}} \exp e_s}, \qquad
# z = \sum_t \alpha_t\, x_t$$
#
# with `attention = nn.Linear(d, 1)` computing $e_t$. Padded frames (`pad_mask` False) get
# weight exactly 0. `forward(x (B, T, d), pad_mask=None) -> (B, d)`.

# %% solution: SelfAttentionPooling
class SelfAttentionPooling(nn.Module):
    def __init__(self, d_model: int):
        super().__init__()
        self.attention = nn.Linear(d_model, 1)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, d), pad_mask (B, T) True = real frame -> (B, d)."""
        ### BEGIN SOLUTION
        scores = self.attention(x).squeeze(-1)                                   # (B, T)
        if pad_mask is not None:
            scores = scores.masked_fill(~pad_mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)                                   # (B, T)
        return torch.einsum("bt,btd->bd", weights, x)                            # (B, d)
        ### END SOLUTION


# %% test: test_SelfAttentionPooling (1 point)
pool = randomise_(check_implemented(SelfAttentionPooling, 5), seed=24)
x = torch.randn(2, 6, 5, generator=seeded(25))
out = check_implemented(pool, x)
check_shape(out, (2, 5), "SelfAttentionPooling(5) output for x of shape (2, 6, 5)")
alpha = torch.softmax(x @ pool.attention.weight[0] + pool.attention.bias, dim=1)   # (B, T)
check_close(out, (alpha.unsqueeze(-1) * x).sum(dim=1), "SelfAttentionPooling(5) without a mask", atol=1e-5,
            hint="softmax over TIME (dim=1) of attention(x), then the weighted sum of the frames")

# %% test: test_SelfAttentionPooling_hidden (3 points)
# Hidden tests (padding, other sizes) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_pool = randomise_(SelfAttentionPooling(7), seed=26)
_x = torch.randn(3, 8, 7, generator=seeded(27))
_lengths = [8, 5, 1]
_pad = torch.arange(8) < torch.tensor(_lengths)[:, None]
_out = _pool(_x, _pad)
check_shape(_out, (3, 7), "SelfAttentionPooling(7) output for x of shape (3, 8, 7) with a mask")
for _b, _n in enumerate(_lengths):
    _alone = _pool(_x[_b:_b + 1, :_n])                                       # the real frames only
    check_close(_out[_b], _alone[0], f"pooled row {_b} (length {_n}) vs pooling its {_n} real frames alone", atol=1e-5,
                hint="padded frames must get weight exactly 0: masked_fill(~pad_mask, -inf) before the softmax")
_x2 = _x.clone()
_x2[~_pad] = 1e4
check_close(_pool(_x2, _pad), _out, "SelfAttentionPooling after changing the PADDED frames", atol=1e-4)
check_true(not torch.allclose(_pool(_x), _x.mean(dim=1), atol=1e-3),
           "SelfAttentionPooling returned the plain mean of the frames: weight them with softmax(attention(x))")
# Edge cases: a batch of one (with and without a mask), a single real frame, a single frame
_pool1 = randomise_(SelfAttentionPooling(4), seed=38)
_xe = torch.randn(1, 5, 4, generator=seeded(39), dtype=torch.float32)
### BEGIN REFERENCE
_alpha_e = torch.softmax(_xe.double() @ _pool1.attention.weight.double()[0] + _pool1.attention.bias.double(), dim=1)
### END REFERENCE
check_close(_pool1(_xe), (_alpha_e.unsqueeze(-1) * _xe.double()).sum(dim=1), "SelfAttentionPooling(4) for x of shape (1, 5, 4)",
            atol=1e-5, hint="keep the batch dimension: squeeze(-1) the scores, not squeeze()")
check_close(_pool1(_xe, torch.arange(5)[None] < 1), _xe[:, 0], "SelfAttentionPooling(4), x (1, 5, 4), only frame 0 real",
            atol=1e-5, hint="the only real frame gets weight 1")
check_close(_pool1(_xe[:, :1]), _xe[:, 0], "SelfAttentionPooling(4) for x of shape (1, 1, 4)", atol=1e-5)
# Large attention logits (scores in the hundreds): exp overflows in float32, softmax does not
_pool_big = randomise_(SelfAttentionPooling(4), seed=37)
with torch.no_grad():
    _pool_big.attention.weight.mul_(400.0)
_xb = torch.randn(2, 6, 4, generator=seeded(47), dtype=torch.float32)
_padb = torch.arange(6) < torch.tensor([6, 3])[:, None]
### BEGIN REFERENCE
_scores_b = _xb.double() @ _pool_big.attention.weight.double()[0] + _pool_big.attention.bias.double()     # (B, T)
_expected_b = torch.einsum("bt,btd->bd", torch.softmax(_scores_b.masked_fill(~_padb, float("-inf")), dim=1), _xb.double())
_expected_b1 = torch.einsum("bt,btd->bd", torch.softmax(_scores_b[:1], dim=1), _xb[:1].double())
### END REFERENCE
check_close(_pool_big(_xb, _padb), _expected_b, "SelfAttentionPooling with attention scores of a few hundred, masked (B=2, T=6)",
            atol=1e-4, hint="exp(score) overflows to inf in float32 above ~88: use torch.softmax (it subtracts the "
                            "row's maximum), with masked_fill(~pad_mask, -inf or -1e9) before it")
check_close(_pool_big(_xb[:1]), _expected_b1, "SelfAttentionPooling with attention scores of a few hundred, no mask (B=1)",
            atol=1e-4)
### END HIDDEN TESTS

# %% [markdown] locked: part5
# ## Part 5. Additive-margin softmax (4 points)
#
# A softmax classifier only needs the right class to score highest. AM-softmax (Wang et al.,
# 2018) asks for a margin: with $\hat z$ the L2-normalised embedding and $\hat w_c$ the
# normalised rows of `weight` `(C, d)`, the logits are
#
# $$\ell_c = s\,(\cos\theta_c - m\,[c = y]), \qquad \cos\theta_c = \hat w_c^\top \hat z$$
#
# so in training the true class $y$ must beat the others by $m$ in cosine. Without labels (at
# prediction time) the logits are $s\cos\theta_c$. `forward(x (B, d), labels (B,) or None) -> (B, C)`.
# Train with `F.cross_entropy` on these logits.

# %% solution: AMSoftmax
class AMSoftmax(nn.Module):
    def __init__(self, in_features: int, num_classes: int, s: float = 30.0, m: float = 0.35):
        super().__init__()
        self.s, self.m = s, m
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, d), labels (B,) long or None -> logits (B, C)."""
        ### BEGIN SOLUTION
        cos = F.normalize(x, dim=1) @ F.normalize(self.weight, dim=1).T         # (B, C)
        if labels is None:
            return self.s * cos
        margin = self.m * F.one_hot(labels, cos.size(1)).to(cos.dtype)           # (B, C)
        return self.s * (cos - margin)
        ### END SOLUTION


# %% test: test_AMSoftmax (1 point)
ams = check_implemented(AMSoftmax, 6, 4)
check_shape(ams.weight, (4, 6), "AMSoftmax(6, 4).weight")
randomise_(ams, seed=27)     # weights that do not depend on how the constructor initialised them
x = torch.randn(3, 6, generator=seeded(28))
out = check_implemented(ams, x)
check_shape(out, (3, 4), "AMSoftmax(6, 4) logits for x of shape (3, 6)")
cos = (x / x.norm(dim=1, keepdim=True)) @ (ams.weight / ams.weight.norm(dim=1, keepdim=True)).T
check_close(out, 30.0 * cos, "AMSoftmax(6, 4) without labels (s=30)", atol=1e-4,
            hint="s * cosine between the L2-normalised rows of x and of weight")

# %% test: test_AMSoftmax_hidden (3 points)
# Hidden tests (labels and the margin, other s and m) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_ams = AMSoftmax(5, 7, s=10.0, m=0.2)
with torch.no_grad():
    _ams.weight.copy_(3.0 * torch.randn(7, 5, generator=seeded(29)))
_x = torch.randn(4, 5, generator=seeded(30))
_labels = torch.tensor([2, 0, 6, 2])
### BEGIN REFERENCE
_cos = (_x / _x.norm(dim=1, keepdim=True)) @ (_ams.weight / _ams.weight.norm(dim=1, keepdim=True)).T
_expected = 10.0 * _cos
_expected[torch.arange(4), _labels] -= 10.0 * 0.2
### END REFERENCE
check_close(_ams(_x, _labels), _expected, "AMSoftmax(5, 7, s=10, m=0.2) with labels", atol=1e-4,
            hint="subtract m from the TRUE class's cosine only, then scale everything by s")
check_close(_ams(_x), 10.0 * _cos, "AMSoftmax(5, 7, s=10, m=0.2) without labels", atol=1e-4)
check_close(_ams(5.0 * _x, _labels), _expected, "AMSoftmax logits for 5 * x (they depend on directions only)", atol=1e-4,
            hint="normalise x and the weight rows")
_loss = F.cross_entropy(_ams(_x, _labels), _labels)
_loss.backward()
### BEGIN REFERENCE
_w = _ams.weight.detach().clone().requires_grad_()
_logits = 10.0 * (F.normalize(_x, dim=1) @ F.normalize(_w, dim=1).T - 0.2 * F.one_hot(_labels, 7))
F.cross_entropy(_logits, _labels).backward()
### END REFERENCE
check_close(_ams.weight.grad, _w.grad, "gradient of the cross-entropy of AMSoftmax(x, labels) with respect to weight",
            atol=1e-5, hint="compute the logits from self.weight with differentiable torch operations (no .detach())")
# Edge cases: embeddings and class weights of very different norms (~0.1 .. 1e4), a batch of one
_ams1 = AMSoftmax(5, 7, s=10.0, m=0.2)
with torch.no_grad():
    _ams1.weight.copy_(torch.randn(7, 5, generator=seeded(40), dtype=torch.float32)
                       * torch.tensor([[0.05], [0.3], [1.0], [10.0], [100.0], [1e3], [1e4]]))
_xe = torch.randn(3, 5, generator=seeded(41), dtype=torch.float32) * torch.tensor([[0.05], [1.0], [1e4]])
_labels_e = torch.tensor([6, 0, 3])
### BEGIN REFERENCE
_cos_e = F.normalize(_xe.double(), dim=1) @ F.normalize(_ams1.weight.double(), dim=1).T
_expected_e = 10.0 * (_cos_e - 0.2 * F.one_hot(_labels_e, 7))
### END REFERENCE
with torch.no_grad():
    check_close(_ams1(_xe, _labels_e), _expected_e, "AMSoftmax(5, 7, s=10, m=0.2) with labels, rows of x with norms ~0.1, 2, 2e4 "
                "and weight rows with norms ~0.1 .. 2e4", atol=1e-4,
                hint="normalise every row to unit length (F.normalize, or divide by the norm): do not clamp the norm "
                     "at 1, do not skip the weight")
    check_close(_ams1(_xe), 10.0 * _cos_e, "the same AMSoftmax without labels", atol=1e-4)
    check_close(_ams1(_xe[2:], _labels_e[2:]), _expected_e[2:], "AMSoftmax with labels for a batch of one", atol=1e-4,
                hint="logits are (B, C) also when B = 1: no .squeeze()")
    check_close(_ams1(_xe[:1]), 10.0 * _cos_e[:1], "AMSoftmax without labels for a batch of one", atol=1e-4)
### END HIDDEN TESTS

# %% [markdown] locked: part6
# ## Part 6. Train a speaker classifier and predict (8 points, from `predictions.csv`)
#
# **Data.** The kit makes its own dataset in the course's format, from a seed (no download):
# `python -m coursekit.speakers data/speakers` in the course folder (100 speakers, 30
# utterances each, about a minute). Your instructor may give you another folder: set the
# environment variable `HW4_DATA` to it. The original course's data folder works too.
# Training items are random 128-frame crops; validation and prediction use whole utterances,
# batched by length with padding masks.
#
# **Model.** `conformer_classifier` assembles **your** parts: a linear prenet to d, your
# Conformer blocks, your pooling (mean pooling if you pass `None`) and your AM-softmax head (a
# softmax head if `None`). `train_speaker_model` trains it (AdamW, warm-up and cosine decay,
# tqdm progress bar), validates every 250 steps on whole utterances, keeps a *copy* of the best
# weights and loads them at the end; it uses the GPU when there is one. The defaults below are
# the course's Boss configuration: about 7 minutes on 2 CPU cores. Try the others (the README's
# ladder table) and see what each part buys.
#
# **Predictions.** The last cell writes `predictions.csv` (`Id,Category`: each test utterance's
# `feature_path` and the speaker you predict) next to this notebook. Submit it with the notebook.
# While the notebook is graded these cells do nothing; the grader scores the file you submitted.

# %% locked: train_model
from coursekit.speaker_data import SpeakerDataset, default_data_dir, train_valid_split, write_predictions
from coursekit.speaker_models import conformer_classifier, count_parameters, predict, train_speaker_model

DATA_DIR = default_data_dir()
STEPS = 2500                     # the ladder's setting; more steps help, at a cost in time
model = None
if GRADING:
    print("Training is skipped while grading; your submitted predictions.csv is graded.")
elif not (DATA_DIR / "metadata.json").is_file():
    raise FileNotFoundError(f"no hw4 data in {DATA_DIR}: run `python -m coursekit.speakers data/speakers` "
                            "in the course folder, or set HW4_DATA to your data folder")
else:
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    dataset = SpeakerDataset(DATA_DIR)
    train_set, valid_set = train_valid_split(dataset, valid_fraction=0.1, seed=0)
    print(f"{dataset.num_speakers} speakers: {len(train_set)} training and {len(valid_set)} validation utterances")
    torch.manual_seed(0)
    model = conformer_classifier(dataset.num_speakers, ConformerBlock, SelfAttentionPooling, AMSoftmax,
                                 d_model=80, num_blocks=2, nhead=2, ff_expansion=2, kernel_size=15, dropout=0.1)
    print(f"{count_parameters(model):,} parameters")
    result = train_speaker_model(model, train_set, valid_set, steps=STEPS, batch_size=32, lr=1e-3)
    print(f"best validation accuracy {result.best_accuracy:.3f} at step {result.best_step} "
          f"({result.seconds / 60:.1f} min)")

# %% locked: write_predictions
if model is not None:
    paths, speakers = predict(model, DATA_DIR, dataset.id2speaker)
    write_predictions("predictions.csv", paths, speakers)
    print(f"wrote predictions.csv: {len(paths)} test utterances, e.g. {paths[0]} -> {speakers[0]}")

# %% [markdown] task: predictions_simple (2 points)
# **Rung Simple** (2 points): the test accuracy of your `predictions.csv` is at least **0.56** (reached by the sample model: one Transformer encoder layer, mean pooling, a softmax head). The course trained this configuration with seeds 0, 1, 2 on 1, 2 and 4 threads: it scored 0.585–0.625 over 5 runs, and the rung sits 0.02 or more below the lowest.

# %% [markdown] task: predictions_medium (2 points)
# **Rung Medium** (2 points): the test accuracy of your `predictions.csv` is at least **0.63** (a tuned Transformer: two layers, four heads). The course trained this configuration with seeds 0, 1, 2 on 1, 2 and 4 threads: it scored 0.655–0.723 over 5 runs, and the rung sits 0.02 or more below the lowest.

# %% [markdown] task: predictions_strong (2 points)
# **Rung Strong** (2 points): the test accuracy of your `predictions.csv` is at least **0.74** (two of your Conformer blocks, your self-attention pooling, a softmax head). The course trained this configuration with seeds 0, 1, 2 on 1, 2 and 4 threads: it scored 0.762–0.772 over 5 runs, and the rung sits 0.02 or more below the lowest.

# %% [markdown] task: predictions_boss (2 points)
# **Rung Boss** (2 points): the test accuracy of your `predictions.csv` is at least **0.83** (the same Conformer with your self-attention pooling and your AM-softmax: the defaults above). The course trained this configuration with seeds 0, 1, 2 on 1, 2 and 4 threads: it scored 0.857–0.872 over 5 runs, and the rung sits 0.02 or more below the lowest.

# %% [markdown] locked: part7
# ## Part 7. Report (13 points, graded by hand)
#
# As in the original course's HW4 report: three questions about *your* model and *your* runs. Train
# the configurations you compare in cells of your own below part 6 (copy its training cell, keep the
# `if GRADING` guard so that grading skips training, and change the model line):
#
# | configuration | model line |
# | --- | --- |
# | Simple | `sample_model(dataset.num_speakers)` (`from coursekit.speaker_models import sample_model`) |
# | Medium | `sample_model(dataset.num_speakers, nhead=4, num_layers=2)` |
# | Strong | `conformer_classifier(dataset.num_speakers, ConformerBlock, SelfAttentionPooling, None, d_model=80, num_blocks=2, nhead=2, ff_expansion=2, kernel_size=15, dropout=0.1)` |
# | Boss | part 6's cell as it is |
# | the Conformer alone (no rung; reports 2 and 3) | `conformer_classifier(dataset.num_speakers, ConformerBlock, None, None, d_model=80, num_blocks=2, nhead=2, ff_expansion=2, kernel_size=15, dropout=0.1)` |
#
# Each takes 3-7 minutes on 2 CPU cores (the README's ladder table has the reference numbers). Quote
# the numbers your runs print (`result.best_accuracy`, `result.history`: a list of
# `(step, training loss, validation accuracy)`). **Figures**: save them as image files next to this notebook
# (`plt.savefig("report_3.png")`), show them in your answer with `![validation accuracy](report_3.png)`
# and hand the files in with the notebook (an image pasted into a cell is not kept when your
# notebook is graded). A diagram may also be drawn as text in a code block (three backquotes).

# %% [markdown] locked: report_1_question
# ### Report question 1 (5 points)
#
# Introduce one **variant of the Transformer**: the Conformer you built, or another one (Longformer,
# Linformer, Reformer, Performer, Branchformer, ...). Include a **diagram of its structure** (an image
# file or a text drawing, see above), say how it **differs from the original Transformer encoder**
# layer, and what problem the change addresses (and at what cost).

# %% [markdown] answer: report_1 (5 points)
# **Model answer.** The **Conformer** (Gulati et al., 2020), a Transformer encoder for speech:
#
# ```
# x (B, T, d)
#  ├─> ½ × FeedForward: LayerNorm, Linear d→4d, Swish, Dropout, Linear 4d→d, Dropout ──> (+) residual
#  ├─> Multi-head self-attention: LayerNorm, MHSA, Dropout ──────────────────────────> (+) residual
#  ├─> Convolution module: LayerNorm, pointwise conv d→2d, GLU, depthwise conv (k),
#  │   BatchNorm, Swish, pointwise conv d→d, Dropout ─────────────────────────────────> (+) residual
#  ├─> ½ × FeedForward (as above) ────────────────────────────────────────────────────> (+) residual
#  └─> LayerNorm ──> y (B, T, d)
# ```
#
# Differences from the original encoder layer (self-attention then one feed-forward network, each
# with a residual connection and a post-LN, ReLU): a **convolution module** after the attention,
# **two half-step feed-forward modules** around them (the "Macaron" sandwich, each added with weight
# ½), layer norm **before** each module (pre-LN) plus a final layer norm, Swish instead of ReLU
# (and, in the paper, relative positional encodings). Problem addressed: self-attention relates
# every frame to every other (global context: who is speaking over the whole utterance), but is poor
# at local patterns over a few neighbouring frames (formant transitions, pitch continuity), which a
# convolution captures with few parameters. Combining both gave better speech recognition with fewer
# parameters than a Transformer or a CNN alone. Cost: more layers per block (slower per block), a
# kernel size to choose, and batch norm statistics to take care of with padding.
#
# **Rubric (5 points).**
# - 2 points: a diagram of the variant's structure, blocks in the right order with the residual
#   connections (1 if incomplete or partly wrong; 0 without a diagram).
# - 2 points: the differences from the original Transformer encoder named precisely (Conformer: the
#   convolution module, the half-step feed-forward modules, pre-LN and the final norm; an efficient
#   Transformer: what replaces full attention and its cost in $L$, e.g. $O(L w)$ for Longformer's window,
#   $O(L k)$ for Linformer's projection).
# - 1 point: the problem it addresses and what it costs (local vs global patterns; time and memory on
#   long inputs).

# %% [markdown] locked: report_2_question
# ### Report question 2 (4 points)
#
# Why does adding **convolution** to the Transformer help on this task? Support your answer with
# **your own runs**: train at least a Transformer configuration (Simple or Medium) and the Conformer
# alone (the same recipe with your Conformer blocks, mean pooling and a softmax head: the table's
# last line), and give a table of each one's parameters and validation accuracy (and test accuracy
# if you have it). Explain the difference with
# what a convolution over frames sees that self-attention does not, and say whether the comparison is
# fair (parameters, time).

# %% [markdown] answer: report_2 (4 points)
# **Model answer.** My runs (2500 steps each, the recipe of part 6):
#
# | configuration | parameters | best valid acc | test acc |
# | --- | --- | --- | --- |
# | Simple (1 Transformer layer) | 85,396 | 0.590 | 0.585 |
# | Medium (2 Transformer layers, 4 heads) | 152,932 | 0.715 | 0.692 |
# | Conformer alone (2 Conformer blocks, mean pooling) | 216,420 | 0.700 | 0.747 |
#
# The Conformer beats the tuned Transformer on the test set by 5.5 points (on the small validation
# split the two are within one utterance per speaker). A speaker shows in local spectral patterns that
# last a few frames: formant positions and transitions, pitch and its movement, breathiness. The
# depthwise convolution (kernel 15 frames = 150 ms) is a learned filter over exactly such
# neighbourhoods, with the same weights at every position, so it extracts them with few parameters and
# is insensitive to where they occur. Self-attention, without positions, compares frames regardless of
# distance: it must learn locality from the data, with attention weights spread over all frames. With
# both, attention gathers utterance-level evidence from features that the convolution has made local
# and robust. The comparison is not perfectly fair: the Conformer has 40% more parameters than Medium
# and took about as long to train (390 s vs 413 s), so part of the gain could be size; a Medium with
# more parameters would settle it.
#
# **Rubric (4 points).**
# - 1 point: a table (or list) of at least two of the student's own runs with parameters and
#   accuracies, including one Transformer configuration and one Conformer configuration. Numbers that
#   are obviously copied from the README without runs: 0 for this point.
# - 2 points: the explanation: convolution captures local patterns over neighbouring frames (formants,
#   pitch, a small receptive field with shared weights), complementary to attention's global view.
#   1 point for "convolution is local" without relating it to speech or to attention.
# - 1 point: the conclusion is supported by the numbers, and fairness is discussed (parameter count,
#   training time, single seed / small validation set).

# %% [markdown] locked: report_3_question
# ### Report question 3 (4 points)
#
# What do **self-attention pooling** and **AM-softmax** change? Compare the Conformer alone (report 2),
# Strong (with self-attention pooling) and Boss (with AM-softmax as well), and, if you can, a run with
# AM-softmax only (pass `None, AMSoftmax` to `conformer_classifier`). Include **a plot from your runs**: validation accuracy against training
# step for each configuration, from `result.history`. Explain what each part changes in the model and
# why that helps speaker identification.

# %% [markdown] answer: report_3 (4 points)
# **Model answer.** ![validation accuracy against step for the Conformer alone, Strong and Boss](report_3.png)
#
# | configuration | best valid acc | test acc |
# | --- | --- | --- |
# | Conformer alone (mean pooling, softmax head) | 0.700 | 0.747 |
# | Strong (self-attention pooling, softmax head) | 0.770 | 0.762 |
# | Boss (self-attention pooling, AM-softmax) | 0.860 | 0.857 |
# | AM-softmax only (mean pooling), seed 1 | 0.820 | 0.825 |
#
# Self-attention pooling adds 1.5 points of test accuracy to the Conformer alone (7 of validation
# accuracy), and AM-softmax another 9.5 on top of it. AM-softmax alone (one run with another seed, so only a rough
# comparison) reaches 0.825: of the two parts, the margin head does more here.
# **Self-attention pooling** replaces the plain average of the frames by a learned weighted average:
# a score per frame, a softmax over time (padding excluded). Silent, noisy or unvoiced frames carry
# little about the speaker; mean pooling mixes them in with the same weight as voiced frames, while
# attention pooling learns to give them little weight, so the utterance vector is cleaner.
# **AM-softmax** classifies by the cosine between the normalised utterance vector and each speaker's
# normalised weight vector, scaled by $s$, and during training subtracts a margin $m$ from the true
# class's cosine. A plain softmax only needs the right speaker to score highest; with the margin the
# right speaker must win by $m$, so utterances of one speaker cluster tightly and speakers are pushed
# apart on the sphere. That generalises better to unseen utterances (the test set), at the price of a
# training loss that stays higher and two hyper-parameters ($s$, $m$) to tune.
#
# **Rubric (4 points).**
# - 1 point: a plot from the student's own runs (validation accuracy or loss against step, at least two
#   configurations, labelled axes), with the numbers it shows quoted.
# - 1 point: self-attention pooling: learned weights over frames, so uninformative frames (silence,
#   noise) count less than in mean pooling.
# - 1 point: AM-softmax: cosine of normalised features and weights, scale $s$, a margin $m$ on the true
#   class, hence more compact classes with larger gaps between speakers.
# - 1 point: the explanation is tied to the student's evidence (which part helped how much, or an
#   honest account when their runs disagree).

# %% [markdown] locked: questions
# ### Things to try (not graded)
# 1. Train with `SelfAttentionPooling=None` (mean pooling): plot the pooling weights of your
#    model for one utterance next to its spectrogram. Which frames does it ignore?
# 2. Change AM-softmax's margin `m` (0, 0.2, 0.35, 0.5) and the scale `s`. What happens to the
#    training loss and to validation accuracy when `m` is too large?
# 3. The convolution module's kernel size is 15 frames here (150 ms). Try 3 and 31.
