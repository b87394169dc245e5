"""hw4 mutants: typical mistakes (must lose points on their question) and correct alternatives
(must keep full marks). Each replaces one solution cell; see autograder/mutants.py."""
from autograder.mutants import Mutant

_FF_INIT = """
class ConformerFeedForward(nn.Module):
    def __init__(self, d_model, expansion=4, dropout=0.0):
        super().__init__()
        self.layer_norm = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, expansion * d_model)
        self.linear2 = nn.Linear(expansion * d_model, d_model)
        self.dropout = nn.Dropout(dropout)
"""

_CONV_INIT = """
class ConformerConvModule(nn.Module):
    def __init__(self, d_model, kernel_size=31, dropout=0.0):
        super().__init__()
        self.layer_norm = nn.LayerNorm(d_model)
        self.pointwise_conv1 = nn.Conv1d(d_model, 2 * d_model, kernel_size=1)
        self.depthwise_conv = nn.Conv1d(d_model, d_model, kernel_size, padding=kernel_size // 2, groups=d_model)
        self.batch_norm = nn.BatchNorm1d(d_model)
        self.pointwise_conv2 = nn.Conv1d(d_model, d_model, kernel_size=1)
        self.dropout = nn.Dropout(dropout)
"""

_BLOCK_INIT = """
class ConformerBlock(nn.Module):
    def __init__(self, d_model, nhead, ff_expansion=4, kernel_size=31, dropout=0.0):
        super().__init__()
        self.ff1 = ConformerFeedForward(d_model, ff_expansion, dropout)
        self.attn_norm = nn.LayerNorm(d_model)
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.conv = ConformerConvModule(d_model, kernel_size, dropout)
        self.ff2 = ConformerFeedForward(d_model, ff_expansion, dropout)
        self.final_norm = nn.LayerNorm(d_model)
"""

_SAP_INIT = """
class SelfAttentionPooling(nn.Module):
    def __init__(self, d_model):
        super().__init__()
        self.attention = nn.Linear(d_model, 1)
"""

_AMS_INIT = """
class AMSoftmax(nn.Module):
    def __init__(self, in_features, num_classes, s=30.0, m=0.35):
        super().__init__()
        self.s, self.m = s, m
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        nn.init.xavier_uniform_(self.weight)
"""

_FF = _FF_INIT + """
    def forward(self, x):
        h = {act}(self.linear1({norm}))
        return {ret}
"""


def _ff(act="F.silu", norm="self.layer_norm(x)", ret="self.dropout(self.linear2(self.dropout(h)))"):
    return _FF.format(act=act, norm=norm, ret=ret)


_CONV = _CONV_INIT + """
    def forward(self, x, pad_mask=None):
        h = self.layer_norm(x).transpose(1, 2)
        h = {glu}
        if pad_mask is not None:
            h = {mask}
        h = {bn_act}
        h = self.dropout(self.pointwise_conv2(h))
        return {ret}
"""


def _conv(glu="F.glu(self.pointwise_conv1(h), dim=1)", bn_act="F.silu(self.batch_norm(self.depthwise_conv(h)))",
          ret="h.transpose(1, 2)", mask="h.masked_fill(~pad_mask.unsqueeze(1), 0.0)"):
    return _CONV.format(glu=glu, bn_act=bn_act, ret=ret, mask=mask)


_BLOCK = _BLOCK_INIT + """
    def forward(self, x, pad_mask=None):
        kpm = None if pad_mask is None else {kpm}
        x = x + {half} * self.ff1(x)
        h = {attn_in}
        x = x + self.dropout(self.self_attn(h, h, h, key_padding_mask=kpm, need_weights=False)[0])
        x = x + {conv}
        x = x + {half} * self.ff2(x)
        return {ret}
"""


def _block(kpm="~pad_mask", half="0.5", attn_in="self.attn_norm(x)", ret="self.final_norm(x)",
           conv="self.conv(x, pad_mask)"):
    return _BLOCK.format(kpm=kpm, half=half, attn_in=attn_in, ret=ret, conv=conv)


_SAP = _SAP_INIT + """
    def forward(self, x, pad_mask=None):
        scores = self.attention(x).squeeze(-1)
        if pad_mask is not None:
            scores = {fill}
        w = torch.softmax(scores, dim={dim})
        return (w.unsqueeze(-1) * x).sum(dim=1)
"""


def _sap(fill='scores.masked_fill(~pad_mask, float("-inf"))', dim="1"):
    return _SAP.format(fill=fill, dim=dim)


_AMS = _AMS_INIT + """
    def forward(self, x, labels=None):
        cos = {cos}
        if labels is None:
            return self.s * cos
        return {ret}
"""


def _ams(cos="F.normalize(x, dim=1) @ F.normalize(self.weight, dim=1).T",
         ret="self.s * (cos - self.m * F.one_hot(labels, cos.size(1)).float())"):
    return _AMS.format(cos=cos, ret=ret)


MUTANTS = [
    # ---------------------------------------------------------------- ConformerFeedForward
    Mutant("ff_relu", "ConformerFeedForward", _ff(act="F.relu"), description="ReLU instead of swish"),
    Mutant("ff_residual", "ConformerFeedForward", _ff(ret="x + self.dropout(self.linear2(self.dropout(h)))"),
           description="adds the residual inside the module (the block adds it, halved)"),
    Mutant("ff_no_layer_norm", "ConformerFeedForward", _ff(norm="x"), description="forgets the layer norm"),
    Mutant("ff_no_dropout", "ConformerFeedForward", _ff(ret="self.linear2(h)"), description="never applies dropout"),
    Mutant("ff_manual_swish", "ConformerFeedForward", _FF_INIT + """
    def forward(self, x):
        h = self.linear1(self.layer_norm(x))
        h = h * torch.sigmoid(h)
        return self.dropout(self.linear2(self.dropout(h)))
    """, correct=True, description="swish written out as z * sigmoid(z)"),
    Mutant("ff_linear2_first", "ConformerFeedForward", _ff().replace(
        "        self.linear1 = nn.Linear(d_model, expansion * d_model)\n", "").replace(
        "        self.linear2 = nn.Linear(expansion * d_model, d_model)\n",
        "        self.linear2 = nn.Linear(expansion * d_model, d_model)\n"
        "        self.linear1 = nn.Linear(d_model, expansion * d_model)\n"), correct=True,
           description="creates linear2 before linear1 (different default weights)"),
    Mutant("ff_sequential", "ConformerFeedForward", _FF_INIT + """
        self.net = nn.Sequential(self.layer_norm, self.linear1, nn.SiLU(), self.dropout, self.linear2, self.dropout)

    def forward(self, x):
        return self.net(x)
    """, correct=True, description="an nn.Sequential of the same modules"),
    Mutant("ff_unbatched_squeeze", "ConformerFeedForward", _FF_INIT + """
    def forward(self, x):
        if x.dim() == 2:
            x = x.unsqueeze(0)
        h = F.silu(self.linear1(self.layer_norm(x)))
        return self.dropout(self.linear2(self.dropout(h))).squeeze(0)
    """, description="accepts an unbatched (T, d) input by squeezing dim 0 at the end, which drops a batch of 1"),
    # ---------------------------------------------------------------- ConformerConvModule
    Mutant("conv_glu_wrong_axis", "ConformerConvModule", _conv(glu="F.glu(self.pointwise_conv1(h), dim=-1)"),
           description="GLU over time instead of channels"),
    Mutant("conv_glu_swapped_halves", "ConformerConvModule",
           _conv(glu="(lambda g: g[:, g.size(1) // 2:] * torch.sigmoid(g[:, :g.size(1) // 2]))(self.pointwise_conv1(h))"),
           description="gates the first half with the second half reversed (sigma on the wrong half)"),
    Mutant("conv_relu", "ConformerConvModule", _conv(bn_act="F.relu(self.batch_norm(self.depthwise_conv(h)))"),
           description="ReLU instead of swish"),
    Mutant("conv_bn_always_eval", "ConformerConvModule", _conv(
        bn_act="F.silu(F.batch_norm(self.depthwise_conv(h), self.batch_norm.running_mean, self.batch_norm.running_var, "
               "self.batch_norm.weight, self.batch_norm.bias, training=False))"),
           description="batch norm with running statistics even in training mode"),
    Mutant("conv_no_batch_norm", "ConformerConvModule", _conv(bn_act="F.silu(self.depthwise_conv(h))"),
           description="skips batch norm"),
    Mutant("conv_residual", "ConformerConvModule", _conv(ret="x + h.transpose(1, 2)"),
           description="adds the residual inside the module"),
    Mutant("conv_reshape_not_transpose", "ConformerConvModule", _CONV_INIT + """
    def forward(self, x, pad_mask=None):
        B, T, d = x.shape
        h = self.layer_norm(x).reshape(B, d, T)
        h = F.glu(self.pointwise_conv1(h), dim=1)
        h = F.silu(self.batch_norm(self.depthwise_conv(h)))
        return self.dropout(self.pointwise_conv2(h)).reshape(B, T, d)
    """, description="reshape instead of transpose (scrambles time and channels)"),
    Mutant("conv_glu_before_transpose", "ConformerConvModule", _CONV_INIT + """
    def forward(self, x, pad_mask=None):
        h = self.pointwise_conv1(self.layer_norm(x).transpose(1, 2)).transpose(1, 2)   # (B, T, 2d)
        h = F.glu(h, dim=-1)                                                           # (B, T, d)
        if pad_mask is not None:
            h = h * pad_mask.unsqueeze(-1)
        h = self.depthwise_conv(h.transpose(1, 2))                                     # (B, d, T)
        h = self.batch_norm(h)
        h = h * torch.sigmoid(h)
        return self.dropout(self.pointwise_conv2(h)).transpose(1, 2)
    """, correct=True, description="GLU over the last axis before transposing, mask multiplied in (B, T, d), swish written out"),
    Mutant("conv_permute_manual_glu", "ConformerConvModule", _CONV_INIT + """
    def forward(self, x, pad_mask=None):
        h = self.layer_norm(x).permute(0, 2, 1)
        a, b = self.pointwise_conv1(h).chunk(2, dim=1)
        h = a * torch.sigmoid(b)
        if pad_mask is not None:
            h = torch.where(pad_mask[:, None, :], h, torch.zeros_like(h))
        h = nn.SiLU()(self.batch_norm(self.depthwise_conv(h)))
        return self.dropout(self.pointwise_conv2(h)).permute(0, 2, 1)
    """, correct=True, description="permute, chunk and a*sigmoid(b), torch.where for the mask"),
    Mutant("conv_pad_mask_ignored", "ConformerConvModule", _conv(mask="h"),
           description="takes pad_mask but ignores it: padded frames leak into the real frames next to them"),
    Mutant("conv_mask_after_depthwise", "ConformerConvModule", _conv(
        mask="h", bn_act="F.silu(self.batch_norm(self.depthwise_conv(h) * (1.0 if pad_mask is None else pad_mask.unsqueeze(1))))"),
           description="zeroes the padded frames after the depthwise convolution (too late: they were already mixed in)"),
    Mutant("conv_mask_on_input", "ConformerConvModule", _conv(mask="h").replace(
        "h = self.layer_norm(x).transpose(1, 2)",
        "h = self.layer_norm(x if pad_mask is None else x * pad_mask.unsqueeze(-1)).transpose(1, 2)"),
           description="zeroes the padded input frames, which layer norm and GLU turn into non-zero values again"),
    Mutant("conv_mask_not_inverted", "ConformerConvModule", _conv(mask="h.masked_fill(pad_mask.unsqueeze(1), 0.0)"),
           description="zeroes the real frames (True = real, not padding)"),
    Mutant("conv_squeezed_output", "ConformerConvModule", _conv(ret="h.transpose(1, 2).squeeze()"),
           description=".squeeze() on the result drops a batch or time dimension of 1"),
    Mutant("conv_same_padding_flat_batch_norm", "ConformerConvModule", _CONV_INIT + """
    def forward(self, x, pad_mask=None):
        B, T, d = x.shape
        h = F.glu(self.pointwise_conv1(self.layer_norm(x).transpose(1, 2)), dim=1)
        if pad_mask is not None:
            h = h * pad_mask.to(h.dtype)[:, None]
        h = F.conv1d(h, self.depthwise_conv.weight, self.depthwise_conv.bias, padding="same", groups=d)
        h = self.batch_norm(h.transpose(1, 2).reshape(B * T, d)).reshape(B, T, d).transpose(1, 2)
        return self.dropout(self.pointwise_conv2(F.silu(h))).transpose(1, 2)
    """, correct=True, description="padding='same' (kernel longer than T too) and batch norm over (B*T, d) rows"),
    # ---------------------------------------------------------------- ConformerBlock
    Mutant("block_full_step_ff", "ConformerBlock", _block(half="1.0"), description="full-step feed-forwards"),
    Mutant("block_mask_not_inverted", "ConformerBlock", _block(kpm="pad_mask"),
           description="passes the True=real mask as key_padding_mask (True=padding)"),
    Mutant("block_no_final_norm", "ConformerBlock", _block(ret="x"), description="forgets the final layer norm"),
    Mutant("block_attention_unnormalised", "ConformerBlock", _block(attn_in="x"),
           description="attends over x instead of attn_norm(x)"),
    Mutant("block_conv_first", "ConformerBlock", _BLOCK_INIT + """
    def forward(self, x, pad_mask=None):
        x = x + 0.5 * self.ff1(x)
        x = x + self.conv(x, pad_mask)
        h = self.attn_norm(x)
        x = x + self.self_attn(h, h, h, key_padding_mask=None if pad_mask is None else ~pad_mask)[0]
        x = x + 0.5 * self.ff2(x)
        return self.final_norm(x)
    """, description="convolution before attention"),
    Mutant("block_logical_not", "ConformerBlock", _block(kpm="torch.logical_not(pad_mask)").replace(
        "x = x + 0.5 * self.ff1(x)", "x = x + self.ff1(x) / 2"), correct=True,
           description="logical_not for the mask, ff1(x) / 2"),
    Mutant("block_float_mask", "ConformerBlock", _BLOCK_INIT + """
    def forward(self, x, pad_mask=None):
        residual = x
        x = residual + 0.5 * self.ff1(residual)
        h = self.attn_norm(x)
        kpm = None
        if pad_mask is not None:
            kpm = torch.zeros(pad_mask.shape, dtype=x.dtype).masked_fill(~pad_mask, float("-inf"))
        attended, _ = self.self_attn(h, h, h, key_padding_mask=kpm)
        x = x + self.dropout(attended)
        x = x + self.conv(x, pad_mask=pad_mask)
        x = x + 0.5 * self.ff2(x)
        return self.final_norm(x)
    """, correct=True, description="a float key_padding_mask with -inf"),
    Mutant("block_conv_without_mask", "ConformerBlock", _block(conv="self.conv(x)"),
           description="does not pass pad_mask on to the convolution module (padded frames leak into real ones)"),
    Mutant("block_mask_squeezed", "ConformerBlock", _block(kpm="~pad_mask.squeeze()"),
           description="squeezes pad_mask (as if it were (B, 1, T)), which drops a batch or a length of 1"),
    # ---------------------------------------------------------------- SelfAttentionPooling
    Mutant("sap_mean", "SelfAttentionPooling", _SAP_INIT + """
    def forward(self, x, pad_mask=None):
        if pad_mask is None:
            return x.mean(dim=1)
        w = pad_mask.float().unsqueeze(-1)
        return (x * w).sum(1) / w.sum(1)
    """, description="mean pooling (ignores the attention scores)"),
    Mutant("sap_softmax_over_batch", "SelfAttentionPooling", _sap(dim="0"), description="softmax over the batch axis"),
    Mutant("sap_mask_ignored", "SelfAttentionPooling", _sap(fill="scores"), description="ignores pad_mask"),
    Mutant("sap_mask_zero_fill", "SelfAttentionPooling", _sap(fill="scores.masked_fill(~pad_mask, 0.0)"),
           description="sets padded scores to 0 (weight exp(0) > 0) instead of -inf"),
    Mutant("sap_mask_after_softmax", "SelfAttentionPooling", _SAP_INIT + """
    def forward(self, x, pad_mask=None):
        w = torch.softmax(self.attention(x).squeeze(-1), dim=1)
        if pad_mask is not None:
            w = w * pad_mask
        return (w.unsqueeze(-1) * x).sum(dim=1)
    """, description="zeroes padded weights after the softmax without renormalising"),
    Mutant("sap_big_negative", "SelfAttentionPooling", _sap(fill="scores.masked_fill(~pad_mask, -1e9)"), correct=True,
           description="-1e9 instead of -inf"),
    Mutant("sap_bmm_loop", "SelfAttentionPooling", _SAP_INIT + """
    def forward(self, x, pad_mask=None):
        rows = []
        for b in range(x.size(0)):
            xb = x[b] if pad_mask is None else x[b][pad_mask[b]]          # (T_b, d)
            w = torch.softmax(self.attention(xb), dim=0)                   # (T_b, 1)
            rows.append((w.T @ xb)[0])
        return torch.stack(rows)
    """, correct=True, description="a loop over the batch keeping only real frames"),
    Mutant("sap_naive_exp", "SelfAttentionPooling", _SAP_INIT + """
    def forward(self, x, pad_mask=None):
        e = torch.exp(self.attention(x).squeeze(-1))
        if pad_mask is not None:
            e = torch.where(pad_mask, e, torch.zeros_like(e))
        w = e / e.sum(dim=1, keepdim=True)
        return (w.unsqueeze(-1) * x).sum(dim=1)
    """, description="softmax written as exp / sum: overflows (inf / inf = nan) for scores above ~88"),
    Mutant("sap_logsumexp_bmm", "SelfAttentionPooling", _SAP_INIT + """
    def forward(self, x, pad_mask=None):
        s = self.attention(x).squeeze(-1)
        if pad_mask is not None:
            s = s.masked_fill(~pad_mask, -1e9)
        w = torch.exp(s - torch.logsumexp(s, dim=1, keepdim=True))
        return torch.bmm(w.unsqueeze(1), x).squeeze(1)
    """, correct=True, description="exp(s - logsumexp(s)) with -1e9 for padding, bmm"),
    # ---------------------------------------------------------------- AMSoftmax
    Mutant("ams_margin_all_classes", "AMSoftmax", _ams(ret="self.s * (cos - self.m)"),
           description="subtracts the margin from every class"),
    Mutant("ams_weight_not_normalised", "AMSoftmax", _ams(cos="F.normalize(x, dim=1) @ self.weight.T"),
           description="does not normalise the class weights"),
    Mutant("ams_weight_normalised_columns", "AMSoftmax", _ams(cos="F.normalize(x, dim=1) @ F.normalize(self.weight, dim=0).T"),
           description="normalises the weight's columns instead of its rows"),
    Mutant("ams_margin_unscaled", "AMSoftmax", _ams(ret="self.s * cos - self.m * F.one_hot(labels, cos.size(1)).float()"),
           description="subtracts m after scaling by s"),
    Mutant("ams_x_not_normalised", "AMSoftmax", _ams(cos="x @ F.normalize(self.weight, dim=1).T"),
           description="does not normalise the embeddings"),
    Mutant("ams_linear_scatter", "AMSoftmax", _AMS_INIT + """
    def forward(self, x, labels=None):
        cos = F.linear(F.normalize(x), F.normalize(self.weight))
        if labels is not None:
            cos = cos.scatter_add(1, labels[:, None], torch.full((len(labels), 1), -self.m))
        return cos * self.s
    """, correct=True, description="F.linear and scatter_add"),
    Mutant("ams_manual_norms", "AMSoftmax", _AMS_INIT + """
    def forward(self, x, labels=None):
        xn = x / torch.sqrt((x ** 2).sum(dim=1, keepdim=True))
        wn = self.weight / torch.sqrt((self.weight ** 2).sum(dim=1, keepdim=True))
        logits = self.s * torch.einsum("bd,cd->bc", xn, wn)
        if labels is not None:
            logits = logits.clone()
            logits[torch.arange(len(labels)), labels] -= self.s * self.m
        return logits
    """, correct=True, description="hand-written norms, einsum, indexed margin"),
    Mutant("ams_norm_clamped_at_one", "AMSoftmax", _ams(
        cos="(x / x.norm(dim=1, keepdim=True).clamp(min=1.0)) @ F.normalize(self.weight, dim=1).T"),
           description="divides x by its norm clamped at 1 (clamp(min=1.0) instead of a tiny eps): short rows are not normalised"),
    Mutant("ams_squeezed_cosines", "AMSoftmax", _ams(
        cos="(F.normalize(x, dim=1).unsqueeze(1) * F.normalize(self.weight, dim=1).unsqueeze(0)).sum(-1).squeeze()"),
           description="cosines by broadcasting, then .squeeze(), which drops a batch of 1"),
    Mutant("ams_weight_renorm_trick", "AMSoftmax", _ams(cos="F.normalize(x, dim=1) @ self.weight.renorm(2, 0, 1e-5).mul(1e5).T"),
           correct=True, description="the original AM-softmax code's weight.renorm(2, 0, 1e-5).mul(1e5) for unit rows"),
]
