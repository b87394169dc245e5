"""hw2 mutants: typical mistakes (must lose points on their question) and correct alternatives
(must keep full marks). Each replaces one whole solution cell; see autograder/mutants.py.

The solution's SelfAttention and MultiHeadAttention do not call scaled_dot_product_attention and
the tests build their masks with plain torch, so no mutant needs ``affects``.
"""
from autograder.mutants import Mutant

# Module mutants replace the whole cell, so they repeat the given constructor.
_SELF_ATTENTION_INIT = """
class SelfAttention(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.query = nn.Linear(d_in, d_out, bias=False)
        self.key = nn.Linear(d_in, d_out, bias=False)
        self.value = nn.Linear(d_in, d_out, bias=False)
"""

_MHA_INIT = """
class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, num_heads, bias=True):
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError("d_model must be a multiple of num_heads")
        self.d_model, self.num_heads = d_model, num_heads
        self.head_dim = d_model // num_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
"""


def _self_attention(forward: str) -> str:
    return _SELF_ATTENTION_INIT + "\n" + forward


def _mha(forward: str, init: str = _MHA_INIT) -> str:
    return init + "\n" + forward


# The solution's MHA forward, with one line changed by each wrong mutant.
_MHA_FORWARD = """
    def forward(self, query, key, value, mask=None):
        B, Lq, _ = query.shape
        Lk = key.shape[1]
        H, dh = self.num_heads, self.head_dim
        q = self.q_proj(query).view(B, Lq, H, dh).transpose(1, 2)
        k = self.k_proj(key).view(B, Lk, H, dh).transpose(1, 2)
        v = self.v_proj(value).view(B, Lk, H, dh).transpose(1, 2)
        scores = q @ k.transpose(-2, -1) / math.sqrt(dh)
        if mask is not None:
            if mask.dim() == 3:
                mask = mask[:, None]
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        o = (weights @ v).transpose(1, 2).reshape(B, Lq, self.d_model)
        return self.out_proj(o), weights
"""


def _mha_with(old: str, new: str) -> str:
    assert old in _MHA_FORWARD, old
    return _mha(_MHA_FORWARD.replace(old, new))


MUTANTS = [
    # ---------------------------------------------------------------- scaled_dot_product_attention
    Mutant("sdpa_no_scaling", "scaled_dot_product_attention", """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = torch.softmax(scores, dim=-1)
            return weights @ v, weights
        """, description="forgets the 1/sqrt(d_k) scaling"),
    Mutant("sdpa_scale_by_dk", "scaled_dot_product_attention", """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / q.shape[-1]
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = torch.softmax(scores, dim=-1)
            return weights @ v, weights
        """, description="divides by d_k instead of sqrt(d_k)"),
    Mutant("sdpa_softmax_over_queries", "scaled_dot_product_attention", """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = torch.softmax(scores, dim=-2)
            return weights @ v, weights
        """, description="softmax over the queries (dim=-2) instead of the keys"),
    Mutant("sdpa_inverted_mask", "scaled_dot_product_attention", """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(mask, float("-inf"))
            weights = torch.softmax(scores, dim=-1)
            return weights @ v, weights
        """, description="blocks where the mask is True (nn.MultiheadAttention's convention)"),
    Mutant("sdpa_ignores_mask", "scaled_dot_product_attention", """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            weights = torch.softmax(scores, dim=-1)
            return weights @ v, weights
        """, description="never applies the mask"),
    Mutant("sdpa_soft_mask", "scaled_dot_product_attention", """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores - 20.0 * (~mask).float()
            weights = torch.softmax(scores, dim=-1)
            return weights @ v, weights
        """, description="soft mask (subtracts 20): blocked weights are tiny but not exactly 0"),
    Mutant("sdpa_transpose_1_2", "scaled_dot_product_attention", """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = torch.softmax(scores, dim=-1)
            return weights @ v, weights
        """, description="transpose(1, 2): right for (B, L, d) only, wrong for (B, H, L, d)"),
    Mutant("sdpa_einsum", "scaled_dot_product_attention", """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = torch.einsum("...qd,...kd->...qk", q, k) / q.shape[-1] ** 0.5
            if mask is not None:
                scores = torch.where(mask, scores, torch.tensor(float("-inf")))
            weights = scores.softmax(-1)
            return torch.einsum("...qk,...kd->...qd", weights, v), weights
        """, correct=True, description="einsum and torch.where"),
    Mutant("sdpa_torch_functional", "scaled_dot_product_attention", """
        def scaled_dot_product_attention(q, k, v, mask=None):
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(mask.logical_not(), -math.inf)
            return out, F.softmax(scores, dim=-1)
        """, correct=True, description="F.scaled_dot_product_attention for the output, weights computed separately"),
    Mutant("sdpa_minus_1e9", "scaled_dot_product_attention", """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(k.size(-1)))
            if mask is not None:
                scores = scores.masked_fill(mask == 0, -1e9)
            weights = F.softmax(scores, dim=-1)
            return torch.matmul(weights, v), weights
        """, correct=True, description="-1e9 instead of -inf (the Annotated Transformer's way)"),
    Mutant("sdpa_manual_softmax", "scaled_dot_product_attention", """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            e = torch.exp(scores - scores.amax(dim=-1, keepdim=True))
            if mask is not None:
                e = e * mask
            weights = e / e.sum(dim=-1, keepdim=True)
            return weights @ v, weights
        """, correct=True, description="softmax written out, blocked entries multiplied by 0"),
    Mutant("sdpa_numpy", "scaled_dot_product_attention", """
        import numpy as np

        def scaled_dot_product_attention(q, k, v, mask=None):
            qn, kn, vn = q.numpy(), k.numpy(), v.numpy()
            scores = qn @ np.swapaxes(kn, -1, -2) / np.sqrt(qn.shape[-1])
            if mask is not None:
                scores = np.where(mask.numpy(), scores, -np.inf)
            e = np.exp(scores - scores.max(axis=-1, keepdims=True))
            weights = (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
            return torch.from_numpy(weights @ vn), torch.from_numpy(weights)
        """, correct=True, description="numpy"),
    Mutant("sdpa_naive_softmax", "scaled_dot_product_attention", """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            e = torch.exp(scores)                          # inf for scores above ~88 in float32
            weights = e / e.sum(dim=-1, keepdim=True)
            return weights @ v, weights
        """, description="softmax written as exp(s) / sum(exp(s)) without subtracting the row maximum: overflows for large scores"),
    Mutant("sdpa_global_max", "scaled_dot_product_attention", """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            e = torch.exp(scores - scores.max())           # one maximum for the whole tensor, not per row
            weights = e / e.sum(dim=-1, keepdim=True)
            return weights @ v, weights
        """, description="subtracts the global maximum instead of each row's: rows far below it underflow to 0 / 0"),
    Mutant("sdpa_mask_after_softmax", "scaled_dot_product_attention", """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            weights = torch.softmax(scores, dim=-1)
            if mask is not None:
                weights = weights * mask                   # zero the blocked weights, then renormalise
                weights = weights / weights.sum(dim=-1, keepdim=True)
            return weights @ v, weights
        """, description="masks after the softmax and renormalises: 0 / 0 when the blocked keys dominate a row"),
    Mutant("sdpa_bmm", "scaled_dot_product_attention", """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = torch.bmm(q, k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = torch.softmax(scores, dim=-1)
            return torch.bmm(weights, v), weights
        """, description="torch.bmm: only (B, L, d) inputs work, not (B, H, L, d) or unbatched (L, d)"),
    Mutant("sdpa_float64_finfo_min", "scaled_dot_product_attention", """
        def scaled_dot_product_attention(q, k, v, mask=None):
            q, k, v = q.double(), k.double(), v.double()
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
            weights = torch.softmax(scores, dim=-1)
            return weights @ v, weights
        """, correct=True, description="computes in float64 (float64 results), torch.finfo(dtype).min for blocked scores"),
    Mutant("sdpa_logsumexp", "scaled_dot_product_attention", """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = torch.matmul(q, k.transpose(-2, -1)) * q.shape[-1] ** -0.5
            if mask is not None:
                scores = scores.masked_fill(mask.logical_not(), float("-inf"))
            weights = torch.exp(scores - torch.logsumexp(scores, dim=-1, keepdim=True))
            return torch.matmul(weights, v), weights
        """, correct=True, description="weights as exp(s - logsumexp(s)), the stable softmax written out"),
    # ---------------------------------------------------------------- causal_mask
    Mutant("causal_triu", "causal_mask", """
        def causal_mask(length):
            return torch.ones(length, length, dtype=torch.bool).triu()
        """, description="upper triangle: lets every query see the future, not the past"),
    Mutant("causal_strict", "causal_mask", """
        def causal_mask(length):
            return torch.ones(length, length, dtype=torch.bool).tril(-1)
        """, description="excludes the diagonal (a position cannot see itself; row 0 fully blocked)"),
    Mutant("causal_float", "causal_mask", """
        def causal_mask(length):
            return torch.tril(torch.ones(length, length))
        """, description="returns a float tensor, not bool"),
    Mutant("causal_broadcast", "causal_mask", """
        def causal_mask(length):
            i = torch.arange(length)
            return i[None, :] <= i[:, None]
        """, correct=True, description="broadcast comparison of positions"),
    Mutant("causal_loops", "causal_mask", """
        def causal_mask(length):
            m = torch.zeros(length, length, dtype=torch.bool)
            for i in range(length):
                for j in range(i + 1):
                    m[i, j] = True
            return m
        """, correct=True, description="python loops"),
    Mutant("causal_squeeze", "causal_mask", """
        def causal_mask(length):
            return torch.tril(torch.ones(1, length, length)).bool().squeeze()   # (L, L) ... but () for L=1
        """, description="builds (1, L, L) and squeeze()s: causal_mask(1) is 0-d, not (1, 1)"),
    Mutant("causal_block_size_buffer", "causal_mask", """
        _BLOCK = torch.tril(torch.ones(32, 32, dtype=torch.bool))    # precomputed for block_size = 32

        def causal_mask(length):
            return _BLOCK[:length, :length]
        """, description="slices a precomputed (32, 32) table (as nanoGPT does): too small for L > 32"),
    # ---------------------------------------------------------------- window_mask
    Mutant("window_strict", "window_mask", """
        def window_mask(length, window):
            i = torch.arange(length)
            return (i[:, None] - i[None, :]).abs() < window
        """, description="off by one: |i - j| < window"),
    Mutant("window_one_sided", "window_mask", """
        def window_mask(length, window):
            i = torch.arange(length)
            d = i[:, None] - i[None, :]
            return (d >= 0) & (d <= window)
        """, description="only looks back (a causal window)"),
    Mutant("window_float", "window_mask", """
        def window_mask(length, window):
            i = torch.arange(length)
            return ((i[:, None] - i[None, :]).abs() <= window).float()
        """, description="returns a float tensor, not bool"),
    Mutant("window_tril_triu", "window_mask", """
        def window_mask(length, window):
            ones = torch.ones(length, length, dtype=torch.bool)
            return ones.triu(-window) & ones.tril(window)
        """, correct=True, description="band from triu and tril"),
    Mutant("window_loops", "window_mask", """
        def window_mask(length, window):
            m = torch.zeros(length, length, dtype=torch.bool)
            for i in range(length):
                m[i, max(0, i - window):i + window + 1] = True
            return m
        """, correct=True, description="python loops with slices"),
    Mutant("window_diagonals", "window_mask", """
        def window_mask(length, window):
            band = sum(torch.diag(torch.ones(length - abs(o)), o) for o in range(-window, window + 1))
            return band.bool()                               # torch.ones(negative) once window > L
        """, description="sums the 2w+1 diagonals: fails once the window exceeds the length"),
    Mutant("window_negative_slice", "window_mask", """
        def window_mask(length, window):
            m = torch.zeros(length, length, dtype=torch.bool)
            for i in range(length):
                m[i, i - window:i + window + 1] = True       # a negative start wraps around
            return m
        """, description="slice i - window without max(0, .): a negative start counts from the end"),
    # ---------------------------------------------------------------- padding_mask
    Mutant("padding_le", "padding_mask", """
        def padding_mask(lengths, max_len):
            lengths = torch.as_tensor(lengths)
            return torch.arange(max_len)[None, :] <= lengths[:, None]
        """, description="off by one: position <= length"),
    Mutant("padding_inverted", "padding_mask", """
        def padding_mask(lengths, max_len):
            lengths = torch.as_tensor(lengths)
            return torch.arange(max_len)[None, :] >= lengths[:, None]
        """, description="True for the padding (nn.MultiheadAttention's key_padding_mask convention)"),
    Mutant("padding_transposed", "padding_mask", """
        def padding_mask(lengths, max_len):
            lengths = torch.as_tensor(lengths)
            return torch.arange(max_len)[:, None] < lengths[None, :]
        """, description="returns (max_len, B)"),
    Mutant("padding_loop", "padding_mask", """
        def padding_mask(lengths, max_len):
            m = torch.zeros(len(lengths), max_len, dtype=torch.bool)
            for b, n in enumerate(lengths):
                m[b, :int(n)] = True
            return m
        """, correct=True, description="loop over the batch"),
    Mutant("padding_torch_tensor_warns", "padding_mask", """
        def padding_mask(lengths, max_len):
            lengths = torch.tensor(lengths)      # warns for a tensor input (copy-construct), but works
            return torch.arange(max_len).unsqueeze(0) < lengths.unsqueeze(1)
        """, correct=True, description="correct, but torch.tensor(tensor) prints a UserWarning to stderr (must keep full marks)"),
    Mutant("padding_expand", "padding_mask", """
        def padding_mask(lengths, max_len):
            lengths = torch.tensor(list(map(int, lengths)))
            pos = torch.arange(max_len).expand(len(lengths), max_len)
            return pos < lengths.unsqueeze(1)
        """, correct=True, description="expand and unsqueeze"),
    Mutant("padding_squeeze_lengths", "padding_mask", """
        def padding_mask(lengths, max_len):
            lengths = torch.as_tensor(lengths).squeeze()     # 'make sure it is 1-D': 0-d for a batch of one
            return torch.arange(max_len)[None, :] < lengths[:, None]
        """, description="squeeze()s the lengths: a batch of one becomes 0-d and cannot be indexed"),
    Mutant("padding_pad_sequence", "padding_mask", """
        from torch.nn.utils.rnn import pad_sequence

        def padding_mask(lengths, max_len):
            return pad_sequence([torch.ones(int(n), dtype=torch.bool) for n in lengths], batch_first=True)
        """, description="pad_sequence pads to the longest length, not to max_len"),
    Mutant("padding_cumsum", "padding_mask", """
        def padding_mask(lengths, max_len):
            lengths = torch.as_tensor(lengths).reshape(-1, 1)
            return torch.ones(lengths.shape[0], max_len, dtype=torch.long).cumsum(dim=1) <= lengths
        """, correct=True, description="cumulative positions 1..max_len compared with the lengths"),
    # ---------------------------------------------------------------- SelfAttention
    Mutant("self_attention_key_as_query", "SelfAttention", _self_attention("""
    def forward(self, x, mask=None):
        q, k, v = self.key(x), self.key(x), self.value(x)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        return weights @ v, weights
    """), description="uses the key projection for the queries"),
    Mutant("self_attention_no_scaling", "SelfAttention", _self_attention("""
    def forward(self, x, mask=None):
        q, k, v = self.query(x), self.key(x), self.value(x)
        scores = q @ k.transpose(-2, -1)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        return weights @ v, weights
    """), description="forgets the 1/sqrt(d_out) scaling"),
    Mutant("self_attention_scale_by_d_in", "SelfAttention", _self_attention("""
    def forward(self, x, mask=None):
        q, k, v = self.query(x), self.key(x), self.value(x)
        scores = q @ k.transpose(-2, -1) / math.sqrt(x.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        return weights @ v, weights
    """), description="scales by sqrt(d_in) instead of sqrt(d_out)"),
    Mutant("self_attention_softmax_dim1", "SelfAttention", _self_attention("""
    def forward(self, x, mask=None):
        q, k, v = self.query(x), self.key(x), self.value(x)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        return weights @ v, weights
    """), description="softmax over dim=1 (the queries)"),
    Mutant("self_attention_ignores_mask", "SelfAttention", _self_attention("""
    def forward(self, x, mask=None):
        q, k, v = self.query(x), self.key(x), self.value(x)
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
        return weights @ v, weights
    """), description="never applies the mask"),
    Mutant("self_attention_torch_sdpa", "SelfAttention", _self_attention("""
    def forward(self, x, mask=None):
        q, k, v = self.query(x), self.key(x), self.value(x)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        scores = torch.bmm(q, k.transpose(1, 2)) / math.sqrt(q.size(-1))
        if mask is not None:
            scores = scores.masked_fill(~mask, -1e9)
        return out, scores.softmax(-1)
    """), correct=True, description="F.scaled_dot_product_attention for the output, bmm and -1e9 for the weights"),
    Mutant("self_attention_einsum", "SelfAttention", _self_attention("""
    def forward(self, x, mask=None):
        q, k, v = self.query(x), self.key(x), self.value(x)
        scores = torch.einsum("bid,bjd->bij", q / math.sqrt(q.shape[-1]), k)
        if mask is not None:
            scores = torch.where(mask, scores, float("-inf"))
        weights = scores.softmax(dim=2)
        return torch.einsum("bij,bjd->bid", weights, v), weights
    """), correct=True, description="einsum, queries pre-scaled"),
    Mutant("self_attention_naive_softmax", "SelfAttention", _self_attention("""
    def forward(self, x, mask=None):
        q, k, v = self.query(x), self.key(x), self.value(x)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        e = scores.exp()                                    # overflows for scores above ~88
        weights = e / e.sum(dim=-1, keepdim=True)
        return weights @ v, weights
    """), description="softmax written as exp(s) / sum(exp(s)): overflows for large scores"),
    Mutant("self_attention_mask_after_softmax", "SelfAttention", _self_attention("""
    def forward(self, x, mask=None):
        q, k, v = self.query(x), self.key(x), self.value(x)
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
        if mask is not None:
            weights = weights * mask
            weights = weights / weights.sum(dim=-1, keepdim=True)
        return weights @ v, weights
    """), description="masks after the softmax and renormalises: 0 / 0 when the blocked keys dominate a row"),
    Mutant("self_attention_float64_minus_1e9", "SelfAttention", _self_attention("""
    def forward(self, x, mask=None):
        q, k, v = (layer(x).double() for layer in (self.query, self.key, self.value))
        scores = torch.einsum("bid,bjd->bij", q, k) / math.sqrt(q.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e9)
        weights = F.softmax(scores, dim=-1)
        return torch.einsum("bij,bjd->bid", weights, v), weights
    """), correct=True, description="float64 scores (float64 results), einsum, -1e9 for blocked scores"),
    Mutant("self_attention_logsumexp", "SelfAttention", _self_attention("""
    def forward(self, x, mask=None):
        q, k, v = self.query(x), self.key(x), self.value(x)
        scores = q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = (scores - scores.logsumexp(dim=-1, keepdim=True)).exp()
        return weights @ v, weights
    """), correct=True, description="weights as exp(s - logsumexp(s)) (stable, slightly less precise for large scores)"),
    # ---------------------------------------------------------------- MultiHeadAttention
    Mutant("mha_wrong_split", "MultiHeadAttention", _mha_with(
        """q = self.q_proj(query).view(B, Lq, H, dh).transpose(1, 2)
        k = self.k_proj(key).view(B, Lk, H, dh).transpose(1, 2)
        v = self.v_proj(value).view(B, Lk, H, dh).transpose(1, 2)""",
        """q = self.q_proj(query).view(B, Lq, dh, H).permute(0, 3, 1, 2)
        k = self.k_proj(key).view(B, Lk, dh, H).permute(0, 3, 1, 2)
        v = self.v_proj(value).view(B, Lk, dh, H).permute(0, 3, 1, 2)"""),
        description="splits the heads as view(B, L, dh, H): head h gets every H-th feature"),
    Mutant("mha_view_without_transpose", "MultiHeadAttention", _mha_with(
        """q = self.q_proj(query).view(B, Lq, H, dh).transpose(1, 2)
        k = self.k_proj(key).view(B, Lk, H, dh).transpose(1, 2)
        v = self.v_proj(value).view(B, Lk, H, dh).transpose(1, 2)""",
        """q = self.q_proj(query).view(B, H, Lq, dh)
        k = self.k_proj(key).view(B, H, Lk, dh)
        v = self.v_proj(value).view(B, H, Lk, dh)"""),
        description="view(B, H, L, dh) directly: mixes positions and heads"),
    Mutant("mha_wrong_merge", "MultiHeadAttention", _mha_with(
        "o = (weights @ v).transpose(1, 2).reshape(B, Lq, self.d_model)",
        "o = (weights @ v).reshape(B, Lq, self.d_model)"),
        description="merges the heads without the transpose back"),
    Mutant("mha_no_out_proj", "MultiHeadAttention", _mha_with(
        "return self.out_proj(o), weights", "return o, weights"),
        description="forgets the output projection W_O"),
    Mutant("mha_scale_by_d_model", "MultiHeadAttention", _mha_with(
        "/ math.sqrt(dh)", "/ math.sqrt(self.d_model)"),
        description="scales by sqrt(d_model) instead of sqrt(d_h)"),
    Mutant("mha_mask_not_broadcast", "MultiHeadAttention", _mha_with(
        """            if mask.dim() == 3:
                mask = mask[:, None]
""", ""),
        description="a (B, Lq, Lk) mask is not given a head dimension"),
    Mutant("mha_averaged_weights", "MultiHeadAttention", _mha_with(
        "return self.out_proj(o), weights", "return self.out_proj(o), weights.mean(dim=1)"),
        description="returns the weights averaged over the heads (B, Lq, Lk)"),
    Mutant("mha_no_value_error", "MultiHeadAttention", _mha(_MHA_FORWARD, init=_MHA_INIT.replace(
        """        if d_model % num_heads != 0:
            raise ValueError("d_model must be a multiple of num_heads")
""", "")), description="does not raise ValueError when d_model % num_heads != 0"),
    Mutant("mha_assert_instead_of_value_error", "MultiHeadAttention", _mha(_MHA_FORWARD, init=_MHA_INIT.replace(
        """        if d_model % num_heads != 0:
            raise ValueError("d_model must be a multiple of num_heads")
""", """        assert d_model % num_heads == 0, "d_model must be a multiple of num_heads"
""")), description="an assert (AssertionError) instead of ValueError"),
    Mutant("mha_ignores_bias_flag", "MultiHeadAttention", _mha(_MHA_FORWARD, init=_MHA_INIT.replace(
        "bias=bias)", "bias=True)")), description="always creates biases, whatever bias= says"),
    Mutant("mha_out_proj_first", "MultiHeadAttention", _mha(_MHA_FORWARD, init=_MHA_INIT.replace(
        "        self.out_proj = nn.Linear(d_model, d_model, bias=bias)\n", "").replace(
        "        self.q_proj = nn.Linear(d_model, d_model, bias=bias)\n",
        "        self.out_proj = nn.Linear(d_model, d_model, bias=bias)\n"
        "        self.q_proj = nn.Linear(d_model, d_model, bias=bias)\n")), correct=True,
           description="creates out_proj before the other projections (different default weights)"),
    Mutant("mha_head_loop", "MultiHeadAttention", _mha("""
    def forward(self, query, key, value, mask=None):
        dh = self.head_dim
        q, k, v = self.q_proj(query), self.k_proj(key), self.v_proj(value)
        outs, weights = [], []
        for h in range(self.num_heads):
            sl = slice(h * dh, (h + 1) * dh)
            scores = q[..., sl] @ k[..., sl].transpose(1, 2) / dh ** 0.5      # (B, Lq, Lk)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            w = scores.softmax(-1)
            outs.append(w @ v[..., sl])
            weights.append(w)
        return self.out_proj(torch.cat(outs, dim=-1)), torch.stack(weights, dim=1)
    """), correct=True, description="a loop over the heads with slices, cat and stack"),
    Mutant("mha_torch_sdpa", "MultiHeadAttention", _mha("""
    def forward(self, query, key, value, mask=None):
        B, Lq, d = query.shape
        H = self.num_heads
        split = lambda t: t.unflatten(-1, (H, -1)).transpose(1, 2)         # (B, H, L, dh)
        q, k, v = split(self.q_proj(query)), split(self.k_proj(key)), split(self.v_proj(value))
        if mask is not None and mask.dim() == 3:
            mask = mask.unsqueeze(1)
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        scores = torch.einsum("bhqd,bhkd->bhqk", q, k) * q.shape[-1] ** -0.5
        if mask is not None:
            scores = scores.masked_fill(~mask, -1e9)
        return self.out_proj(o.transpose(1, 2).flatten(2)), scores.softmax(-1)
    """), correct=True, description="F.scaled_dot_product_attention, unflatten/flatten, weights by einsum"),
    Mutant("mha_functional_mha", "MultiHeadAttention", _mha("""
    def forward(self, query, key, value, mask=None):
        B, Lq, d = query.shape
        H = self.num_heads
        attn_mask = None
        if mask is not None:
            attn_mask = ~mask if mask.dim() == 2 else (~mask).repeat_interleave(H, dim=0)
        biases = [self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]
        out, weights = F.multi_head_attention_forward(
            query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1), d, H,
            in_proj_weight=torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight]),
            in_proj_bias=None if biases[0] is None else torch.cat(biases),
            bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0,
            out_proj_weight=self.out_proj.weight, out_proj_bias=self.out_proj.bias,
            training=False, need_weights=True, attn_mask=attn_mask, average_attn_weights=False)
        return out.transpose(0, 1), weights
    """), correct=True, description="F.multi_head_attention_forward with the inverted mask"),
    Mutant("mha_mask_kind_by_batch_size", "MultiHeadAttention", _mha_with(
        """            if mask.dim() == 3:
                mask = mask[:, None]
""", """            if mask.shape[0] == B:             # tells a (B, Lq, Lk) mask by its first size ...
                mask = mask.unsqueeze(1)         # ... and so also an (Lq, Lk) mask when Lq == B
"""), description="tells a (B, Lq, Lk) mask from an (Lq, Lk) one by mask.shape[0] == B: wrong when Lq == B"),
    Mutant("mha_naive_softmax", "MultiHeadAttention", _mha_with(
        "weights = torch.softmax(scores, dim=-1)",
        "weights = scores.exp() / scores.exp().sum(dim=-1, keepdim=True)"),
        description="softmax written as exp(s) / sum(exp(s)): overflows for large scores"),
    Mutant("mha_logsumexp_weights", "MultiHeadAttention", _mha_with(
        "weights = torch.softmax(scores, dim=-1)",
        "weights = torch.exp(scores - torch.logsumexp(scores, dim=-1, keepdim=True))"),
        correct=True, description="weights as exp(s - logsumexp(s)) (stable, slightly less precise for large scores)"),
    # ---------------------------------------------------------------- sinusoidal_positional_encoding
    Mutant("pe_not_interleaved", "sinusoidal_positional_encoding", """
        def sinusoidal_positional_encoding(max_len, d_model):
            p = torch.arange(max_len, dtype=torch.float32)[:, None]
            angle = p / 10000.0 ** (torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
            return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)
        """, description="all sines, then all cosines (not interleaved)"),
    Mutant("pe_exponent_i", "sinusoidal_positional_encoding", """
        def sinusoidal_positional_encoding(max_len, d_model):
            p = torch.arange(max_len, dtype=torch.float32)[:, None]
            i = torch.arange(d_model // 2, dtype=torch.float32)
            angle = p / 10000.0 ** (i / d_model)
            pe = torch.zeros(max_len, d_model)
            pe[:, 0::2], pe[:, 1::2] = torch.sin(angle), torch.cos(angle)
            return pe
        """, description="exponent i/d instead of 2i/d"),
    Mutant("pe_cos_even", "sinusoidal_positional_encoding", """
        def sinusoidal_positional_encoding(max_len, d_model):
            p = torch.arange(max_len, dtype=torch.float32)[:, None]
            angle = p / 10000.0 ** (torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
            pe = torch.zeros(max_len, d_model)
            pe[:, 0::2], pe[:, 1::2] = torch.cos(angle), torch.sin(angle)
            return pe
        """, description="cos in the even columns, sin in the odd ones"),
    Mutant("pe_float64", "sinusoidal_positional_encoding", """
        def sinusoidal_positional_encoding(max_len, d_model):
            p = torch.arange(max_len, dtype=torch.float64)[:, None]
            angle = p / 10000.0 ** (torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
            return torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1).reshape(max_len, d_model)
        """, description="right values but float64 (the contract asks for float32)"),
    Mutant("pe_numpy", "sinusoidal_positional_encoding", """
        import numpy as np

        def sinusoidal_positional_encoding(max_len, d_model):
            pos = np.arange(max_len)[:, None]
            div = np.exp(np.arange(0, d_model, 2) * (-np.log(10000.0) / d_model))
            pe = np.zeros((max_len, d_model))
            pe[:, 0::2] = np.sin(pos * div)
            pe[:, 1::2] = np.cos(pos * div)
            return torch.from_numpy(pe).float()
        """, correct=True, description="numpy, exp(-log(10000) 2i/d) as in the Annotated Transformer"),
    Mutant("pe_loops", "sinusoidal_positional_encoding", """
        def sinusoidal_positional_encoding(max_len, d_model):
            pe = torch.zeros(max_len, d_model)
            for p in range(max_len):
                for i in range(d_model // 2):
                    pe[p, 2 * i] = math.sin(p / 10000 ** (2 * i / d_model))
                    pe[p, 2 * i + 1] = math.cos(p / 10000 ** (2 * i / d_model))
            return pe
        """, correct=True, description="python loops with math.sin/cos"),
    Mutant("pe_stack_float32_exp", "sinusoidal_positional_encoding", """
        def sinusoidal_positional_encoding(max_len, d_model):
            pos = torch.arange(max_len).unsqueeze(1).float()
            div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
            return torch.stack([torch.sin(pos * div_term), torch.cos(pos * div_term)], dim=-1).flatten(1)
        """, correct=True, description="float32 exp/log frequencies, stack and flatten to interleave"),
    Mutant("pe_tutorial_squeeze", "sinusoidal_positional_encoding", """
        def sinusoidal_positional_encoding(max_len, d_model):
            position = torch.arange(max_len).unsqueeze(1)
            div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
            pe = torch.zeros(max_len, 1, d_model)                 # the PyTorch tutorial's (max_len, 1, d) buffer
            pe[:, 0, 0::2] = torch.sin(position * div_term)
            pe[:, 0, 1::2] = torch.cos(position * div_term)
            return pe.squeeze()                                   # (d,) when max_len == 1
        """, description="the PyTorch tutorial's (max_len, 1, d) table, squeeze()d: max_len=1 gives (d,), not (1, d)"),
]
