# %% [markdown] locked: intro
# # Homework 3: the Transformer, layer by layer
#
# You build the encoder and decoder layers of the Transformer, check that they compute exactly
# what PyTorch's own layers compute, write the two classic decoders, and finally train a small
# Transformer made of *your* layers on a toy sequence-to-sequence task. Three written questions
# ask why the decoder is built and run the way it is.
#
# | part | you implement / answer | graded automatically | graded by hand |
# | --- | --- | --- | --- |
# | 1 | `shift_right` (teacher forcing) | 2 | |
# | 2 | `EncoderLayer` | 6 | |
# | 3 | `DecoderLayer`; written question `written_causal` | 6 | 2 |
# | 4 | `greedy_decode`; written question `written_exposure_bias` | 4 | 3 |
# | 5 | `beam_search`; written question `written_beam` | 6 | 3 |
# | | **total: 32 points** | **24** | **8** |
#
# Every question is graded on its own: the decoding tests use a small stand-in model, not your
# layers, so one mistake costs one question. Visible tests are here; hidden tests with other
# sizes, padding and both layer-norm placements run when your notebook is graded. Self-check:
# `!{sys.executable} -m autograder check hw3_transformer.ipynb` in a cell of this notebook (it runs a fresh
# copy of the saved notebook as the grader does, visible tests only; save first), or
# `python -m autograder check hw3_transformer.ipynb` in a terminal of the course's environment (JupyterLab's
# terminal when it was started with `make lab`).
#
# **Written questions** (graded by hand). Write your answer in the Markdown cell under each
# question, in place of `YOUR ANSWER HERE` (a few sentences; formulas as `$...$`). Your instructor
# scores them after the deadline: until then your feedback lists them as *needs manual grading*,
# and the self-check lists them without checking them.
#
# Conventions: batch-first tensors, float32. **Every boolean mask in this course means
# True = real token / may attend.** PyTorch's `nn.MultiheadAttention` wants the opposite for
# `key_padding_mask` and boolean `attn_mask` (True = *blocked*), so convert with `~mask`.
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

import torch
import torch.nn as nn
import torch.nn.functional as F

from autograder.checks import (check_close, check_equal, check_implemented, check_shape, check_true, randomise_,
                               seeded)

torch.manual_seed(0)
torch.set_num_threads(1)  # small models: one thread is fastest inside Jupyter on few cores
# Set by nbgrader while grading: training at the end is shortened then.
GRADING = os.environ.get("NBGRADER_EXECUTION") in ("autograde", "validate")


class ToySeq2Seq(nn.Module):
    """A stand-in for a trained encoder-decoder, with the same decoding interface.

    ``encode(src) -> memory`` and ``decode(tgt_in, memory) -> logits (B, Lt, V)``, where
    ``logits[:, t]`` scores the token that follows ``tgt_in[:, :t + 1]``. Here the next token's
    score depends on the source's first token, the previous token and the position, so a
    decoder that forgets the history it has generated gets different answers.
    """

    def __init__(self, vocab_size: int, n_sources: int = 4, seed: int = 0, scale: float = 2.0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("transition", scale * torch.randn(n_sources, vocab_size, vocab_size, generator=g))
        self.register_buffer("position_bias", scale * torch.randn(64, vocab_size, generator=g))

    def encode(self, src: torch.Tensor) -> torch.Tensor:
        return self.transition[src[:, 0]]                                         # (B, V, V)

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        B, Lt = tgt_in.shape
        V = memory.size(-1)
        rows = torch.gather(memory, 1, tgt_in.unsqueeze(-1).expand(B, Lt, V))   # (B, Lt, V)
        return rows + self.position_bias[:Lt]                                    # (B, Lt, V)


# %% [markdown] locked: part1
# ## Part 1. Teacher forcing input (2 points)
#
# During training the decoder sees the *correct* previous tokens: its input is the target
# shifted one step to the right, starting with BOS. For `tgt = [y1, y2, y3]` the decoder input is
# `[BOS, y1, y2]` and it is trained to output `[y1, y2, y3]`.
#
# `shift_right(tgt, bos_id)`: `tgt (B, Lt)` LongTensor -> same shape, `[bos, tgt[:, :-1]]`.
# Do not modify `tgt` in place.

# %% solution: shift_right
def shift_right(tgt: torch.Tensor, bos_id: int) -> torch.Tensor:
    """(B, Lt) -> (B, Lt): BOS followed by all but the last target token."""
    ### BEGIN SOLUTION
    bos = torch.full_like(tgt[:, :1], bos_id)        # (B, 1)
    return torch.cat([bos, tgt[:, :-1]], dim=1)      # (B, Lt)
    ### END SOLUTION


# %% test: test_shift_right (1 point)
out = check_implemented(shift_right, torch.tensor([[5, 6, 7], [8, 9, 2]]), 1)
check_equal(out, torch.tensor([[1, 5, 6], [1, 8, 9]]), "shift_right([[5, 6, 7], [8, 9, 2]], bos_id=1)",
            hint="prepend BOS and drop the LAST token, so the shape stays (B, Lt)")

# %% test: test_shift_right_hidden (1 point)
# Hidden tests (other shapes, length 1, no in-place change) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_tgt = torch.randint(3, 20, (3, 6), generator=torch.Generator().manual_seed(5))
_copy = _tgt.clone()
_out = shift_right(_tgt, 1)
check_equal(_out, torch.cat([torch.ones(3, 1, dtype=torch.long), _copy[:, :-1]], 1), "shift_right of a (3, 6) batch, bos_id=1")
check_equal(_tgt, _copy, "the target after calling shift_right (it must not change)", hint="work on a copy, not in place")
check_equal(shift_right(torch.tensor([[7], [9]]), 4), torch.tensor([[4], [4]]), "shift_right of a (2, 1) batch, bos_id=4")
# Edge cases: a batch of one (of length 1 and 5); token ids stay integers
check_equal(shift_right(torch.tensor([[7]]), 4), torch.tensor([[4]]), "shift_right of a (1, 1) batch, bos_id=4",
            hint="keep both dimensions: no .squeeze(), the result has the shape of tgt")
_row = torch.randint(3, 20, (1, 5), generator=torch.Generator().manual_seed(6))
_out1 = shift_right(_row, 2)
check_equal(_out1, torch.cat([torch.full((1, 1), 2), _row[:, :-1]], 1), "shift_right of a (1, 5) batch, bos_id=2",
            hint="keep the batch dimension even when B = 1: no .squeeze()")
check_true(not _out1.is_floating_point(),
           f"shift_right must return integer token ids (like tgt), got dtype {_out1.dtype}: "
           "torch.ones / torch.zeros make float tensors; use torch.full_like(tgt[:, :1], bos_id)")
### END HIDDEN TESTS

# %% [markdown] locked: part2
# ## Part 2. The encoder layer (6 points)
#
# One encoder layer is self-attention and a position-wise feed-forward network, each wrapped in
# a residual connection and layer normalisation. Two placements of the normalisation exist:
#
# | | self-attention sub-layer | feed-forward sub-layer |
# | --- | --- | --- |
# | post-LN (`norm_first=False`, the 2017 paper) | $x \leftarrow \mathrm{LN}_1(x + \mathrm{SA}(x))$ | $x \leftarrow \mathrm{LN}_2(x + \mathrm{FF}(x))$ |
# | pre-LN (`norm_first=True`) | $x \leftarrow x + \mathrm{SA}(\mathrm{LN}_1(x))$ | $x \leftarrow x + \mathrm{FF}(\mathrm{LN}_2(x))$ |
#
# with $\mathrm{FF}(x) = W_2\,\mathrm{dropout}(\mathrm{ReLU}(W_1 x + b_1)) + b_2$ and dropout
# after each sub-layer. `pad_mask (B, L)` is True for real tokens: padded positions must not be
# attended to. The constructor is given (its attribute names match `nn.TransformerEncoderLayer`,
# so we can load your weights into PyTorch's layer and compare); write `forward`.

# %% solution: EncoderLayer
class EncoderLayer(nn.Module):
    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float = 0.0,
                 norm_first: bool = False):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, L, d), pad_mask (B, L) bool, True = real token -> (B, L, d)."""
        ### BEGIN SOLUTION
        key_padding_mask = None if pad_mask is None else ~pad_mask      # PyTorch: True = padding

        def self_attention(h):                                           # (B, L, d)
            return self.dropout(self.self_attn(h, h, h, key_padding_mask=key_padding_mask, need_weights=False)[0])

        def feed_forward(h):                                             # (B, L, d)
            return self.dropout(self.linear2(self.dropout(F.relu(self.linear1(h)))))

        if self.norm_first:
            x = x + self_attention(self.norm1(x))
            x = x + feed_forward(self.norm2(x))
        else:
            x = self.norm1(x + self_attention(x))
            x = self.norm2(x + feed_forward(x))
        return x
        ### END SOLUTION


# %% test: test_EncoderLayer (2 points)
layer = randomise_(check_implemented(EncoderLayer, 8, 2, 16), seed=1).eval()   # weights by parameter name
x = torch.randn(2, 5, 8, generator=seeded(1))
out = check_implemented(layer, x)
check_shape(out, (2, 5, 8), "EncoderLayer(8, 2, 16) output for x of shape (2, 5, 8)")
### BEGIN REFERENCE
reference = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True).eval()
reference.load_state_dict(layer.state_dict())
with torch.enable_grad():  # PyTorch's fused inference path is skipped when grad is on
    expected = reference(x)
### END REFERENCE
check_close(out, expected, "EncoderLayer(8, 2, 16) vs nn.TransformerEncoderLayer with the same weights (post-LN, no padding)",
            atol=1e-5, hint="post-LN: x = norm1(x + SA(x)); x = norm2(x + FF(x)), with ReLU in FF")

# %% test: test_EncoderLayer_hidden (4 points)
# Hidden tests (pre-LN, padding masks, other sizes) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_g = seeded(2)
for _norm_first in (False, True):
    _layer = randomise_(EncoderLayer(12, 3, 20, norm_first=_norm_first), seed=2).eval()
    ### BEGIN REFERENCE
    _ref = nn.TransformerEncoderLayer(12, 3, 20, dropout=0.0, batch_first=True, norm_first=_norm_first).eval()
    ### END REFERENCE
    check_equal(sorted(_layer.state_dict()), sorted(_ref.state_dict()), "parameter names of EncoderLayer(12, 3, 20)",
                hint="the same names as nn.TransformerEncoderLayer: self_attn, linear1, linear2, norm1, norm2")
    _x = torch.randn(3, 7, 12, generator=_g)
    _lengths = torch.tensor([7, 4, 1])
    _pad = torch.arange(7) < _lengths[:, None]                         # (B, L) True = real
    ### BEGIN REFERENCE
    _ref.load_state_dict(_layer.state_dict())
    with torch.enable_grad():
        _expected = _ref(_x, src_key_padding_mask=~_pad)
        _expected_nopad = _ref(_x)
    ### END REFERENCE
    _kind = "pre-LN" if _norm_first else "post-LN"
    check_close(_layer(_x, _pad), _expected, f"EncoderLayer(12, 3, 20, norm_first={_norm_first}) with padding (B=3, L=7)",
                atol=1e-5, hint=f"{_kind}; pad_mask is True for REAL tokens, PyTorch's key_padding_mask wants True for padding")
    check_close(_layer(_x), _expected_nopad, f"EncoderLayer(12, 3, 20, norm_first={_norm_first}) without a mask", atol=1e-5,
                hint=_kind + (": x = x + SA(norm1(x)); x = x + FF(norm2(x))" if _norm_first else ": x = norm1(x + SA(x)); x = norm2(x + FF(x))"))
    # padded positions must not influence real ones
    _x2 = _x.clone()
    _x2[1, 4:] = 100.0
    check_close(_layer(_x2, _pad)[1, :4], _layer(_x, _pad)[1, :4], "real positions' outputs after changing the PADDED inputs",
                atol=1e-5, hint="padded keys must be masked out of the attention")
# Edge cases: one head, a batch of one, length 1, a row with a single real token
for _norm_first in (False, True):
    _layer1 = randomise_(EncoderLayer(8, 1, 12, norm_first=_norm_first), seed=5).eval()
    ### BEGIN REFERENCE
    _ref1 = nn.TransformerEncoderLayer(8, 1, 12, dropout=0.0, batch_first=True, norm_first=_norm_first).eval()
    _ref1.load_state_dict(_layer1.state_dict())
    ### END REFERENCE
    for _B, _L, _lengths in ((1, 1, [1]), (1, 5, [1]), (2, 1, [1, 1]), (2, 4, [4, 1])):
        _xe = torch.randn(_B, _L, 8, generator=_g, dtype=torch.float32)
        _pade = torch.arange(_L) < torch.tensor(_lengths)[:, None]         # (B, L) True = real
        ### BEGIN REFERENCE
        with torch.enable_grad():
            _expected_e = _ref1(_xe, src_key_padding_mask=~_pade)
        ### END REFERENCE
        check_close(_layer1(_xe, _pade), _expected_e,
                    f"EncoderLayer(8, nhead=1, 12, norm_first={_norm_first}) with x of shape ({_B}, {_L}, 8), lengths {_lengths}",
                    atol=1e-5, hint="a batch of 1 or a length of 1 is no special case: keep pad_mask's (B, L) shape "
                                    "(no .squeeze()) and pass ~pad_mask as key_padding_mask")
### END HIDDEN TESTS

# %% [markdown] locked: part3
# ## Part 3. The decoder layer (6 points)
#
# A decoder layer has three sub-layers, each with a residual connection and layer norm (same
# pre/post placement as the encoder): **masked** self-attention over the target (position $t$
# may attend to positions $\le t$ only: it must not see the future it is asked to predict),
# **cross-attention** (queries from the decoder, keys and values from the encoder output
# `memory`), and the feed-forward network. Self-attention is always causal here.
#
# `tgt_pad_mask (B, Lt)` and `memory_pad_mask (B, Ls)` are True for real tokens. Attribute names
# match `nn.TransformerDecoderLayer`, except that PyTorch calls our `cross_attn` `multihead_attn`.

# %% solution: DecoderLayer
class DecoderLayer(nn.Module):
    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float = 0.0,
                 norm_first: bool = False):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, y: torch.Tensor, memory: torch.Tensor, tgt_pad_mask: torch.Tensor | None = None,
                memory_pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """y (B, Lt, d), memory (B, Ls, d), masks True = real token -> (B, Lt, d)."""
        ### BEGIN SOLUTION
        Lt = y.size(1)
        blocked_future = torch.ones(Lt, Lt, dtype=torch.bool, device=y.device).triu(1)  # (Lt, Lt) True = blocked
        tgt_kpm = None if tgt_pad_mask is None else ~tgt_pad_mask
        mem_kpm = None if memory_pad_mask is None else ~memory_pad_mask

        def self_attention(h):
            return self.dropout(self.self_attn(h, h, h, attn_mask=blocked_future, key_padding_mask=tgt_kpm,
                                               need_weights=False)[0])

        def cross_attention(h):
            return self.dropout(self.cross_attn(h, memory, memory, key_padding_mask=mem_kpm, need_weights=False)[0])

        def feed_forward(h):
            return self.dropout(self.linear2(self.dropout(F.relu(self.linear1(h)))))

        if self.norm_first:
            y = y + self_attention(self.norm1(y))
            y = y + cross_attention(self.norm2(y))
            y = y + feed_forward(self.norm3(y))
        else:
            y = self.norm1(y + self_attention(y))
            y = self.norm2(y + cross_attention(y))
            y = self.norm3(y + feed_forward(y))
        return y
        ### END SOLUTION


# %% test: test_DecoderLayer (2 points)
dec = randomise_(check_implemented(DecoderLayer, 8, 2, 16), seed=3).eval()   # weights by parameter name
y, memory = torch.randn(2, 5, 8, generator=seeded(3)), torch.randn(2, 7, 8, generator=seeded(33))
out = check_implemented(dec, y, memory)
check_shape(out, (2, 5, 8), "DecoderLayer(8, 2, 16) output for y (2, 5, 8) and memory (2, 7, 8)")
### BEGIN REFERENCE
reference = nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True).eval()
reference.load_state_dict({k.replace("cross_attn.", "multihead_attn."): v for k, v in dec.state_dict().items()})
with torch.enable_grad():
    expected = reference(y, memory, tgt_mask=torch.ones(5, 5, dtype=torch.bool).triu(1))
### END REFERENCE
check_close(out, expected, "DecoderLayer(8, 2, 16) vs nn.TransformerDecoderLayer with the same weights (post-LN, causal, no padding)",
            atol=1e-5, hint="masked self-attention, then cross-attention (queries from y, keys/values from memory), then FF")

# %% test: test_DecoderLayer_hidden (4 points)
# Hidden tests (pre-LN, target and memory padding, causality) run when your notebook is graded.
### BEGIN HIDDEN TESTS
_g = seeded(4)
for _norm_first in (False, True):
    _dec = randomise_(DecoderLayer(12, 3, 20, norm_first=_norm_first), seed=4).eval()
    ### BEGIN REFERENCE
    _ref = nn.TransformerDecoderLayer(12, 3, 20, dropout=0.0, batch_first=True, norm_first=_norm_first).eval()
    _torch_names = sorted(k.replace("multihead_attn.", "cross_attn.") for k in _ref.state_dict())
    ### END REFERENCE
    check_equal(sorted(_dec.state_dict()), _torch_names, "parameter names of DecoderLayer(12, 3, 20)",
                hint="the same names as nn.TransformerDecoderLayer, with cross_attn for its multihead_attn")
    _y, _mem = torch.randn(3, 6, 12, generator=_g), torch.randn(3, 9, 12, generator=_g)
    _tgt_pad = torch.arange(6) < torch.tensor([6, 3, 5])[:, None]       # (B, Lt)
    _mem_pad = torch.arange(9) < torch.tensor([9, 2, 6])[:, None]       # (B, Ls)
    _causal_blocked = torch.ones(6, 6, dtype=torch.bool).triu(1)
    ### BEGIN REFERENCE
    _ref.load_state_dict({k.replace("cross_attn.", "multihead_attn."): v for k, v in _dec.state_dict().items()})
    with torch.enable_grad():
        _expected = _ref(_y, _mem, tgt_mask=_causal_blocked, tgt_key_padding_mask=~_tgt_pad,
                         memory_key_padding_mask=~_mem_pad)
    ### END REFERENCE
    _kind = "pre-LN" if _norm_first else "post-LN"
    check_close(_dec(_y, _mem, _tgt_pad, _mem_pad), _expected,
                f"DecoderLayer(12, 3, 20, norm_first={_norm_first}) with target and memory padding (B=3, Lt=6, Ls=9)",
                atol=1e-5, hint=f"{_kind}; masks are True for REAL tokens; PyTorch's padding masks want True for padding")
    # causality: changing future target inputs must not change earlier outputs
    _y2 = _y.clone()
    _y2[:, 3:] = torch.randn(3, 3, 12, generator=_g)
    check_close(_dec(_y2, _mem)[:, :3], _dec(_y, _mem)[:, :3],
                "outputs at positions 0..2 after changing the target inputs at positions 3..5",
                atol=1e-5, hint="self-attention must be causal: position t attends to positions <= t only")
# Edge cases: one head, a batch of one, a target of length 1, a target LONGER than the memory,
# a memory row with a single real position
for _norm_first in (False, True):
    _dec1 = randomise_(DecoderLayer(8, 1, 12, norm_first=_norm_first), seed=6).eval()
    ### BEGIN REFERENCE
    _ref1 = nn.TransformerDecoderLayer(8, 1, 12, dropout=0.0, batch_first=True, norm_first=_norm_first).eval()
    _ref1.load_state_dict({k.replace("cross_attn.", "multihead_attn."): v for k, v in _dec1.state_dict().items()})
    ### END REFERENCE
    for _B, _Lt, _Ls, _tgt_lengths, _mem_lengths in ((1, 1, 3, [1], [3]), (1, 4, 4, [4], [1]), (2, 5, 2, [5, 3], [2, 1])):
        _ye = torch.randn(_B, _Lt, 8, generator=_g, dtype=torch.float32)
        _meme = torch.randn(_B, _Ls, 8, generator=_g, dtype=torch.float32)
        _tgt_pade = torch.arange(_Lt) < torch.tensor(_tgt_lengths)[:, None]     # (B, Lt) True = real
        _mem_pade = torch.arange(_Ls) < torch.tensor(_mem_lengths)[:, None]     # (B, Ls) True = real
        ### BEGIN REFERENCE
        with torch.enable_grad():
            _expected_e = _ref1(_ye, _meme, tgt_mask=torch.ones(_Lt, _Lt, dtype=torch.bool).triu(1),
                                tgt_key_padding_mask=~_tgt_pade, memory_key_padding_mask=~_mem_pade)
        ### END REFERENCE
        check_close(_dec1(_ye, _meme, _tgt_pade, _mem_pade), _expected_e,
                    f"DecoderLayer(8, nhead=1, 12, norm_first={_norm_first}) with B={_B}, Lt={_Lt}, Ls={_Ls}, "
                    f"target lengths {_tgt_lengths}, memory lengths {_mem_lengths}", atol=1e-5,
                    hint="the causal mask is (Lt, Lt), sized by the TARGET; keep the masks' (B, L) shapes (no .squeeze())")
### END HIDDEN TESTS

# %% [markdown] locked: written_causal_question
# ### Written question 1 (2 points, graded by hand)
#
# In your `DecoderLayer` the self-attention is always causal, while the cross-attention only masks
# padding. Why is each the right choice? Say what would go wrong, in training and then at test time,
# if the decoder's self-attention were not causal.

# %% [markdown] answer: written_causal (2 points)
# **Model answer.** The decoder is trained with teacher forcing: the whole shifted target goes in at once, so the
# input at position $t + 1$ is the very token $y_t$ that position $t$ must predict. Without the causal
# mask, position $t$ could attend to it and copy it: the training loss drops to almost zero while the
# model learns nothing about predicting. At test time the decoder generates left to right and the
# future tokens do not exist yet, so the model faces inputs it never had to do without, and its
# outputs are wrong (the train/test mismatch makes it useless). Cross-attention looks at the encoder's
# output, the *source*, which is entirely known before decoding starts; attending to all of it
# leaks nothing about the target, so every target position may use every source position (only
# padding, which is not part of the source, is masked).
#
# **Rubric (2 points).**
# - 1 point: causal self-attention: with teacher forcing the next target token is in the decoder's
#   input; without the mask the model copies it (near-zero training loss) and fails at inference, where
#   the future is unknown.
# - 1 point: cross-attention reads the source, fully known in advance, so no mask is needed except for
#   padding.

# %% [markdown] locked: part4
# ## Part 4. Greedy decoding (4 points)
#
# At test time there is no target to feed: the decoder starts from BOS and feeds back what it
# generated, one token at a time, always taking the most likely next token.
#
# `greedy_decode(model, src, bos_id, eos_id, max_len)` works with any model that has
# `encode(src) -> memory` and `decode(tgt_in, memory) -> logits (B, Lt, |V|)` (the logits at the
# last position score the next token). For each source row return the list of generated token
# ids **without** BOS, ending with EOS if EOS was produced within `max_len` tokens (a row stops
# at its own EOS; other rows go on). Return `list[list[int]]`.
#
# The tests use `ToySeq2Seq` (defined in the setup cell), not your Transformer.

# %% solution: greedy_decode
@torch.no_grad()
def greedy_decode(model, src: torch.Tensor, bos_id: int, eos_id: int, max_len: int) -> list[list[int]]:
    """One list of generated token ids per source row (no BOS; EOS included if generated)."""
    ### BEGIN SOLUTION
    memory = model.encode(src)
    B = src.size(0)
    ys = torch.full((B, 1), bos_id, dtype=torch.long, device=src.device)   # (B, 1)
    finished = torch.zeros(B, dtype=torch.bool, device=src.device)
    outputs = [[] for _ in range(B)]
    for _ in range(max_len):
        next_token = model.decode(ys, memory)[:, -1].argmax(-1)            # (B,)
        for b in range(B):
            if not finished[b]:
                outputs[b].append(int(next_token[b]))
        finished |= next_token == eos_id
        if finished.all():
            break
        ys = torch.cat([ys, next_token.unsqueeze(1)], dim=1)               # (B, t + 1)
    return outputs
    ### END SOLUTION


# %% test: test_greedy_decode (1 point)
toy = ToySeq2Seq(vocab_size=6, seed=1)
result = check_implemented(greedy_decode, toy, torch.tensor([[0, 3], [2, 5]]), 1, 2, 6)
check_true(isinstance(result, list) and len(result) == 2 and all(isinstance(r, list) for r in result),
           f"greedy_decode must return a list with one list of token ids per source row; got {type(result).__name__}: {result!r:.80}")
check_equal([[int(t) for t in r] for r in result], [[3, 5, 3, 5, 2], [2]],
            "greedy_decode(ToySeq2Seq(6, seed=1), src=[[0, 3], [2, 5]], bos_id=1, eos_id=2, max_len=6)",
            hint="start from BOS, feed back every generated token, stop a row at its EOS (kept), at most max_len tokens")

# %% test: test_greedy_decode_hidden (3 points)
# Hidden tests (other models, batches, early EOS, max_len cut) run when your notebook is graded.
### BEGIN HIDDEN TESTS
### BEGIN REFERENCE
def _greedy_reference(model, src, bos, eos, max_len):
    out = []
    for b in range(src.size(0)):
        memory = model.encode(src[b:b + 1])
        seq = [bos]
        for _ in range(max_len):
            nxt = int(model.decode(torch.tensor([seq]), memory)[0, -1].argmax())
            seq.append(nxt)
            if nxt == eos:
                break
        out.append(seq[1:])
    return out
### END REFERENCE

for _seed, _V, _max_len in ((11, 7, 8), (12, 5, 3), (13, 9, 10)):
    _toy = ToySeq2Seq(vocab_size=_V, seed=_seed)
    _src = torch.tensor([[0, 1], [1, 1], [2, 0], [3, 2]])
    _got = greedy_decode(_toy, _src, 0, 2, _max_len)
    check_equal([[int(t) for t in r] for r in _got], _greedy_reference(_toy, _src, 0, 2, _max_len),
                f"greedy_decode on ToySeq2Seq(V={_V}, seed={_seed}) for 4 sources, bos=0, eos=2, max_len={_max_len}",
                hint="each row stops at its own EOS (included); rows without EOS have exactly max_len tokens; no BOS")

# Edge cases: a batch of one (EOS late, EOS as the very first token, no EOS within max_len),
# max_len=1, and rows of one batch that end at different steps (one at the first step)
for _seed, _V, _rows, _max_len in ((51, 6, [[2, 0]], 6), (56, 7, [[2, 1]], 6), (56, 6, [[2, 3]], 4),
                                   (50, 7, [[0, 1], [1, 1], [2, 0], [3, 2]], 1),
                                   (55, 7, [[0, 1], [1, 1], [2, 0], [3, 2]], 6)):
    _toy = ToySeq2Seq(vocab_size=_V, seed=_seed)
    _src = torch.tensor(_rows)
    _got = greedy_decode(_toy, _src, 0, 2, _max_len)
    check_equal([[int(t) for t in r] for r in _got], _greedy_reference(_toy, _src, 0, 2, _max_len),
                f"greedy_decode on ToySeq2Seq(V={_V}, seed={_seed}) for src={_rows}, bos=0, eos=2, max_len={_max_len}",
                hint="one list per source row, also for a batch of one (no .squeeze()); a row that starts with EOS is "
                     "[eos]; at most max_len tokens (BOS does not count)")
### END HIDDEN TESTS

# %% [markdown] locked: written_exposure_bias_question
# ### Written question 2 (3 points, graded by hand)
#
# The model is trained with teacher forcing (part 1), but `greedy_decode` runs it *free*: it feeds
# back its own predictions. Explain **exposure bias**: what does the decoder see during training that
# it does not see at test time, and why can one early mistake spoil the rest of the output? Name one
# remedy from lecture 5 and explain how it works (and what it costs a Transformer).

# %% [markdown] answer: written_exposure_bias (3 points)
# **Model answer.** In training, the decoder's input at every step is the *correct* previous token; at test time it
# is its own previous output, which may be wrong. The model has never seen its own mistakes during
# training, so after one wrong token it is conditioned on a prefix unlike any it was trained on, and
# it is likely to make further errors: one step wrong, every step wrong (error propagation). A remedy
# is **scheduled sampling**: during training, replace each ground-truth input token by the model's
# own prediction with a probability that grows over training, so the model learns to continue from
# its own mistakes. For a Transformer this costs parallelism: the model's predictions must first be
# computed (an extra decoding pass) before the mixed input can be fed. (Adding noise to the decoder
# input, or training on the model's own samples, are other answers.)
#
# **Rubric (3 points).**
# - 1 point: training inputs are ground-truth tokens, test inputs are the model's own predictions
#   (the mismatch).
# - 1 point: a wrong token leads to prefixes never seen in training, so errors compound (error
#   propagation).
# - 1 point: a remedy explained (scheduled sampling with its increasing schedule, or noisy/own-sample
#   inputs); 0.5 for naming it without how it works. Beam search alone is not a remedy for the
#   mismatch (0.5).

# %% [markdown] locked: part5
# ## Part 5. Beam search (6 points)
#
# Greedy decoding commits to the best token at every step; the best *sequence* can start with
# a token that looked worse. Beam search keeps the `beam_size` best partial hypotheses, ranked by
# their total log-probability $\sum_t \log p(y_t \mid y_{<t}, x)$, expands each by every token,
# and keeps the best `beam_size` again. A hypothesis that emits EOS is finished and competes with
# the others on its score (no length normalisation here); a hypothesis also ends after `max_len`
# tokens.
#
# `beam_search(model, src, bos_id, eos_id, beam_size, max_len)` for one source `src (1, Ls)`
# returns `(tokens, score)`: the best finished hypothesis (token ids without BOS, EOS included if
# produced) and its total log-probability (EOS's included). With `beam_size=1` it is greedy
# decoding; with `beam_size >= |V| ** max_len` ($\lvert\mathcal{V}\rvert$ the vocabulary size) it is exhaustive search.

# %% solution: beam_search
@torch.no_grad()
def beam_search(model, src: torch.Tensor, bos_id: int, eos_id: int, beam_size: int, max_len: int):
    """Best hypothesis for one source (1, Ls): (list of token ids, total log-probability)."""
    ### BEGIN SOLUTION
    memory = model.encode(src)
    beams = [([bos_id], 0.0)]                  # live hypotheses: (tokens with BOS, log-prob)
    finished = []
    for _ in range(max_len):
        tokens = torch.tensor([seq for seq, _ in beams], device=src.device)          # (k, t)
        mem = memory.expand(len(beams), *memory.shape[1:])                           # (k, ...)
        log_probs = F.log_softmax(model.decode(tokens, mem)[:, -1], dim=-1)           # (k, V)
        scores = torch.tensor([s for _, s in beams], device=src.device)[:, None] + log_probs
        top = scores.flatten().topk(min(beam_size, scores.numel()))
        V = log_probs.size(-1)
        beams = []
        for score, flat in zip(top.values.tolist(), top.indices.tolist()):
            seq = tokens[flat // V].tolist() + [flat % V]
            (finished if flat % V == eos_id else beams).append((seq, score))
        if not beams:
            break
    finished += beams                          # hypotheses cut at max_len
    best_seq, best_score = max(finished, key=lambda h: h[1])
    return best_seq[1:], best_score
    ### END SOLUTION


# %% test: test_beam_search (2 points)
toy = ToySeq2Seq(vocab_size=6, seed=1)
tokens, score = check_implemented(beam_search, toy, torch.tensor([[0, 5]]), 1, 2, 1, 6)
check_equal([int(t) for t in tokens], [3, 5, 3, 5, 2], "beam_search with beam_size=1 (must equal greedy decoding)",
            hint="with one beam, keep only the best expansion at each step")
check_close(torch.tensor(float(score)), torch.tensor(-1.450467), "its score (total log-probability, EOS included)",
            atol=1e-4, hint="sum of log_softmax(logits) of the chosen tokens, including EOS")
tokens, score = beam_search(toy, torch.tensor([[0, 5]]), 1, 2, 3, 6)
check_equal([int(t) for t in tokens], [2], "beam_search with beam_size=3 on the same source",
            hint="a hypothesis ended by EOS is finished: keep it and compare it with the others by total log-probability")
check_close(torch.tensor(float(score)), torch.tensor(-0.918410), "its score", atol=1e-4)

# %% test: test_beam_search_hidden (4 points)
# Hidden tests (exhaustive search, greedy equivalence on other models) run when your notebook is graded.
### BEGIN HIDDEN TESTS
### BEGIN REFERENCE
def _exhaustive(model, src, bos, eos, max_len):
    memory = model.encode(src)
    _champion = (None, -float("inf"))
    frontier = [([bos], 0.0)]
    for _ in range(max_len):
        tokens = torch.tensor([s for s, _ in frontier])
        lp = F.log_softmax(model.decode(tokens, memory.expand(len(frontier), *memory.shape[1:]))[:, -1].double(), -1)
        nxt = []
        for (seq, score), row in zip(frontier, lp):
            for v, l in enumerate(row.tolist()):
                cand = (seq + [v], score + l)
                if v == eos:
                    _champion = max(_champion, cand, key=lambda h: h[1])
                else:
                    nxt.append(cand)
        frontier = nxt
    for cand in frontier:
        _champion = max(_champion, cand, key=lambda h: h[1])
    return _champion[0][1:], _champion[1]
### END REFERENCE

for _seed, _V, _max_len, _src0 in ((22, 4, 4, 2), (21, 5, 3, 3), (30, 4, 4, 1), (87, 4, 3, 3)):
    _toy = ToySeq2Seq(vocab_size=_V, seed=_seed, scale=1.0)
    _src = torch.tensor([[_src0, 0]])
    ### BEGIN REFERENCE
    _want_tokens, _want_score = _exhaustive(_toy, _src, 0, 2, _max_len)
    ### END REFERENCE
    _tokens, _score = beam_search(_toy, _src, 0, 2, _V ** _max_len, _max_len)
    _what = f"beam_search with beam_size=V**max_len={_V ** _max_len} (exhaustive) on ToySeq2Seq(V={_V}, seed={_seed}), max_len={_max_len}"
    check_equal([int(t) for t in _tokens], _want_tokens, _what + ": tokens",
                hint="keep finished hypotheses, rank by total log-probability, no length normalisation")
    check_close(torch.tensor(float(_score)), torch.tensor(_want_score), _what + ": score", atol=1e-4)
    _tokens1, _ = beam_search(_toy, _src, 0, 2, 1, _max_len)
    ### BEGIN REFERENCE
    _memory = _toy.encode(_src)
    _seq = [0]
    for _ in range(_max_len):
        _seq.append(int(_toy.decode(torch.tensor([_seq]), _memory)[0, -1].argmax()))
        if _seq[-1] == 2:
            break
    ### END REFERENCE
    check_equal([int(t) for t in _tokens1], _seq[1:], f"beam_search with beam_size=1 on ToySeq2Seq(V={_V}, seed={_seed}) (greedy)")

# Edge cases where every correct beam search finds the exhaustive optimum: max_len=1 (the best first
# token, with EOS second), EOS as the best first token (any beam size), beam_size >= |V| with max_len=2
for _seed, _V, _src0, _beam, _max_len in ((23, 5, 0, 3, 1), (62, 6, 3, 2, 5), (67, 6, 0, 3, 4), (21, 5, 1, 7, 2)):
    _toy = ToySeq2Seq(vocab_size=_V, seed=_seed, scale=1.0)
    _src = torch.tensor([[_src0, 0]])
    ### BEGIN REFERENCE
    _want_tokens, _want_score = _exhaustive(_toy, _src, 0, 2, _max_len)
    ### END REFERENCE
    _tokens, _score = beam_search(_toy, _src, 0, 2, _beam, _max_len)
    _what = f"beam_search with beam_size={_beam}, max_len={_max_len} on ToySeq2Seq(V={_V}, seed={_seed}), src={_src.tolist()}"
    check_equal([int(t) for t in _tokens], _want_tokens, _what + ": tokens",
                hint="hypotheses cut at max_len compete with finished ones; a hypothesis that ends with EOS is finished "
                     "(also at the first step); more beams than tokens is allowed")
    check_close(torch.tensor(float(_score)), torch.tensor(_want_score), _what + ": score", atol=1e-4)

# Ties: tokens 3 and 4 score the same everywhere (and what follows them too), so several hypotheses share
# the best score. Any of them is right: the tokens are compared with 4 written as 3, and the score.
_tie = ToySeq2Seq(vocab_size=5, seed=101, scale=1.0)
with torch.no_grad():
    _tie.transition[:, :, 4] = _tie.transition[:, :, 3]
    _tie.transition[:, 4, :] = _tie.transition[:, 3, :]
    _tie.position_bias[:, 4] = _tie.position_bias[:, 3]
_src = torch.tensor([[0, 0]])
### BEGIN REFERENCE
_want_tokens, _want_score = _exhaustive(_tie, _src, 0, 2, 3)
### END REFERENCE
for _beam in (5 ** 3, 1):
    _tokens, _score = beam_search(_tie, _src, 0, 2, _beam, 3)
    _what = f"beam_search with beam_size={_beam}, max_len=3 on a model with tied hypotheses (tokens 3 and 4 interchangeable)"
    check_equal([3 if int(t) == 4 else int(t) for t in _tokens], [3 if t == 4 else t for t in _want_tokens],
                _what + ": tokens, 4 written as 3",
                hint="equal scores must not break your ranking (sorting (score, tensor) tuples compares the tensors "
                     "on a tie); sort by the score only")
    check_close(torch.tensor(float(_score)), torch.tensor(_want_score), _what + ": score", atol=1e-4)
### END HIDDEN TESTS

# %% [markdown] locked: written_beam_question
# ### Written question 3 (3 points, graded by hand)
#
# (a) Give a small example (two steps, with probabilities) where greedy decoding does not return the
# most probable sequence and beam search with `beam_size=2` does.
# (b) Your beam search ranks hypotheses by total log-probability, without length normalisation.
# Which outputs does that favour, and how would you correct it?
# (c) When (lecture 5) is beam search *not* what you want, and what is used instead?

# %% [markdown] answer: written_beam (3 points)
# **Model answer.** (a) Vocabulary {A, B, EOS}. Step 1: $p(A) = 0.6$, $p(B) = 0.4$. After A the model is unsure:
# $p(\cdot \mid A) = (0.4, 0.3, 0.3)$; after B it is sure: $p(EOS \mid B) = 0.9$. Greedy takes A and
# then its best continuation: probability $0.6 \times 0.4 = 0.24$. A beam of 2 keeps both A and B and
# finds B EOS with $0.4 \times 0.9 = 0.36 > 0.24$.
# (b) Every token multiplies the probability by a factor $\le 1$ (adds a negative log-probability), so
# shorter hypotheses score higher: it favours ending early. Dividing the log-probability by the length
# (or by $\text{length}^\alpha$) corrects it.
# (c) Beam search suits tasks with one right answer (translation, speech recognition, our dates). For
# open-ended generation (stories, dialogue, text-to-speech) the most probable sequences are dull and
# repetitive (loops of the same phrase), so sampling with some randomness (top-$k$, nucleus sampling,
# temperature) works better.
#
# **Rubric (3 points).**
# - 1 point: (a) a correct numerical example: greedy's best first token leads to a lower total
#   probability, and the beam of 2 finds the better sequence.
# - 1 point: (b) no length normalisation favours short outputs (each token multiplies by $p \le 1$);
#   normalise by length.
# - 1 point: (c) open-ended / creative generation, where beam search gives repetitive, dull output;
#   sampling is used instead (and beam search is good when there is one correct answer).

# %% [markdown] locked: part6
# ## Part 6. A Transformer made of your layers (not graded)
#
# The course's toy task is **date normalisation** (`coursekit.seq2seq`): a date in one of many
# surface forms goes in, the ISO date comes out, character by character, e.g.
# `"the 3rd of March, 2021" -> "2021-03-03"`. The output is *reordered* with respect to the input
# (the year comes first), so cross-attention has real work to do.
#
# `TransformerFromYourLayers` is the course's reference model (`Seq2SeqTransformer`) with its
# layers replaced by **your** `EncoderLayer` and `DecoderLayer`; it keeps the decoding interface
# `encode(src)` / `decode(tgt_in, memory)`, so your `greedy_decode` and `beam_search` work on it.
# Training uses teacher forcing: the decoder input is `shift_right(tgt)`, the loss is the
# cross-entropy of every position against `tgt`, padding ignored. With the settings below a
# correct solution reaches about **99% exact match** (BLEU 99.7) on the 1000 held-out test dates in
# about a minute on 2 CPU cores (measured: 800 steps, 0.991 exact match). While the notebook is
# graded, training is skipped.

# %% locked: train_model
from coursekit.seq2seq import (BOS_ID, EOS_ID, PAD_ID, Seq2SeqTransformer, corpus_bleu, exact_match,
                               make_date_task, sequence_loss)


class TransformerFromYourLayers(Seq2SeqTransformer):
    """coursekit's Seq2SeqTransformer with its encoder and decoder layers replaced by yours."""

    def __init__(self, src_vocab, tgt_vocab, d_model=64, nhead=4, num_encoder_layers=2, num_decoder_layers=2,
                 dim_feedforward=256, dropout=0.0, max_len=64, norm_first=True):
        super().__init__(src_vocab, tgt_vocab, d_model, nhead, num_encoder_layers, num_decoder_layers,
                         dim_feedforward, dropout, max_len, norm_first)
        self.encoder_layers = nn.ModuleList([EncoderLayer(d_model, nhead, dim_feedforward, dropout, norm_first)
                                             for _ in range(num_encoder_layers)])
        self.decoder_layers = nn.ModuleList([DecoderLayer(d_model, nhead, dim_feedforward, dropout, norm_first)
                                             for _ in range(num_decoder_layers)])
        self._reset_parameters()

    def encode(self, src):                                        # (B, Ls) -> (B, Ls, d)
        real = src != PAD_ID                                      # (B, Ls) True = real token
        x = self.embed(src, "source")
        for layer in self.encoder_layers:
            x = layer(x, real)
        memory = self.encoder_norm(x)
        self._memory_pad_mask, self._memory = real, memory.detach()   # used by decode
        return memory

    def decode(self, tgt_in, memory):                             # (B, Lt), (B, Ls, d) -> (B, Lt, V)
        real = self._memory_mask_for(memory)                      # source mask of these memory rows
        y = self.embed(tgt_in, "target")
        for layer in self.decoder_layers:
            y = layer(y, memory, memory_pad_mask=real)            # your layer: causal self-attention
        return self.generator(self.decoder_norm(y))

    def forward(self, src, tgt_in):
        return self.decode(tgt_in, self.encode(src))


task = make_date_task(seed=0)
print(f"{len(task.train)} training pairs, e.g. {task.train[0]}")
torch.manual_seed(0)
model = TransformerFromYourLayers(task.src_vocab, task.tgt_vocab)
steps = 0 if GRADING else 800
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, betas=(0.9, 0.98), eps=1e-9) if steps else None
batches = task.batches("train", batch_size=64, shuffle=True, seed=0, epochs=None)
model.train()
for step in range(1, steps + 1):
    src, tgt = next(batches)                                      # (B, Ls), (B, Lt) ending in EOS
    for group in optimizer.param_groups:                          # warm-up, then linear decay
        group["lr"] = 3e-3 * min(step / 100, (steps - step + 1) / (steps - 100))
    logits = model(src, shift_right(tgt, BOS_ID))                 # (B, Lt, V), teacher forcing
    loss = sequence_loss(logits, tgt)                             # cross-entropy, PAD ignored
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    if step % 100 == 0:
        print(f"step {step:4d}  loss {loss.item():.4f}")
model.eval();

# %% locked: evaluate_model
test = task.test[:100] if GRADING else task.test
predictions = []
for start in range(0, len(test), 250):
    src, _ = task.make_batch(test[start:start + 250])
    for ids in greedy_decode(model, src, BOS_ID, EOS_ID, max_len=12):
        predictions.append(task.tgt_vocab.decode(ids))               # stops at EOS
references = [target for _, target in test]
print(f"greedy decoding on {len(test)} test dates: exact match {exact_match(predictions, references):.3f}, "
      f"BLEU {corpus_bleu(predictions, references):.1f}")
for (source, target), guess in list(zip(test, predictions))[:5]:
    print(f"  {source!r:>32} -> {guess!r}  (reference {target!r})")

# Beam search on a few inputs: where does it disagree with greedy decoding?
differ = 0
for (source, target), guess in list(zip(test, predictions))[:20 if GRADING else 200]:
    src, _ = task.make_batch([(source, target)])
    ids, score = beam_search(model, src, BOS_ID, EOS_ID, beam_size=4, max_len=12)
    beam_text = task.tgt_vocab.decode(ids)
    if beam_text != guess:
        differ += 1
        print(f"  beam differs: {source!r} -> greedy {guess!r}, beam {beam_text!r} (log-prob {float(score):.2f}), "
              f"reference {target!r}")
print(f"beam search (4 beams) differs from greedy on {differ} of {20 if GRADING else 200} inputs")

# %% [markdown] locked: questions
# ### Things to try (not graded)
# 1. Train with `norm_first=False` (post-LN, the 2017 layout) and the same learning rate. What
#    happens in the first 100 steps, and why does the warm-up matter more there?
# 2. Which test dates does the model still get wrong? Are they ambiguous (`03/04/21`)?
# 3. Plot the cross-attention weights of the last decoder layer for one input
#    (`need_weights=True, average_attn_weights=False`): which input characters does the model
#    read while it writes the year? the month?
