"""hw3 mutants: typical mistakes (must lose points on their question) and correct alternatives
(must keep full marks). Each replaces one solution cell; see autograder/mutants.py."""
from autograder.mutants import Mutant

_ENCODER_INIT = """
class EncoderLayer(nn.Module):
    def __init__(self, d_model, nhead, dim_feedforward, dropout=0.0, norm_first=False):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first
"""

_DECODER_INIT = """
class DecoderLayer(nn.Module):
    def __init__(self, d_model, nhead, dim_feedforward, dropout=0.0, norm_first=False):
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
"""


def _encoder(forward: str) -> str:
    return _ENCODER_INIT + forward


def _decoder(forward: str) -> str:
    return _DECODER_INIT + forward


_ENC_OK = """
    def forward(self, x, pad_mask=None):
        kpm = None if pad_mask is None else {kpm}
        sa = lambda h: self.self_attn(h, h, h, key_padding_mask=kpm, need_weights=False)[0]
        ff = lambda h: self.linear2(F.relu(self.linear1(h)))
        if self.norm_first:
            x = x + sa(self.norm1(x))
            return x + ff(self.norm2(x))
        x = self.norm1(x + sa(x))
        return self.norm2(x + ff(x))
"""

_DEC_BODY = """
    def forward(self, y, memory, tgt_pad_mask=None, memory_pad_mask=None):
        L = y.size(1)
        causal = {causal}
        tk = None if tgt_pad_mask is None else ~tgt_pad_mask
        mk = None if memory_pad_mask is None else ~memory_pad_mask
        sa = lambda h: self.self_attn(h, h, h, attn_mask=causal, key_padding_mask=tk, need_weights=False)[0]
        ca = lambda h: self.cross_attn({cross_q}, {cross_kv}, {cross_kv}, key_padding_mask=mk, need_weights=False)[0]
        ff = lambda h: self.linear2(F.relu(self.linear1(h)))
        if self.norm_first:
            y = y + sa(self.norm1(y))
            y = y + ca(self.norm2(y))
            return y + ff(self.norm3(y))
        y = self.norm1(y + sa(y))
        y = self.norm2(y + ca(y))
        return self.norm3(y + ff(y))
"""

_TRIU = "torch.ones(L, L, dtype=torch.bool).triu(1)"

MUTANTS = [
    # ---------------------------------------------------------------- shift_right
    Mutant("shift_right_roll", "shift_right", """
        def shift_right(tgt, bos_id):
            return torch.roll(tgt, 1, dims=1)
        """, description="rolls the last token to the front instead of inserting BOS"),
    Mutant("shift_right_left", "shift_right", """
        def shift_right(tgt, bos_id):
            return torch.cat([tgt[:, 1:], torch.full_like(tgt[:, :1], bos_id)], dim=1)
        """, description="shifts left"),
    Mutant("shift_right_in_place", "shift_right", """
        def shift_right(tgt, bos_id):
            tgt[:, 1:] = tgt[:, :-1].clone()
            tgt[:, 0] = bos_id
            return tgt
        """, description="modifies the caller's target in place"),
    Mutant("shift_right_new_empty", "shift_right", """
        def shift_right(tgt, bos_id):
            out = tgt.new_empty(tgt.shape)
            out[:, 0] = bos_id
            out[:, 1:] = tgt[:, :-1]
            return out
        """, correct=True, description="fills a new tensor"),
    Mutant("shift_right_squeeze_batch", "shift_right", """
        def shift_right(tgt, bos_id):
            bos = torch.full_like(tgt[:, :1], bos_id)
            return torch.cat([bos, tgt[:, :-1]], dim=1).squeeze(0)
        """, description=".squeeze(0) (meant for one unbatched sequence) drops a batch dimension of 1"),
    Mutant("shift_right_float_bos", "shift_right", """
        def shift_right(tgt, bos_id):
            return torch.cat([torch.ones(tgt.size(0), 1) * bos_id, tgt[:, :-1]], dim=1)
        """, description="a BOS column from torch.ones makes the token ids float"),
    Mutant("shift_right_pad", "shift_right", """
        def shift_right(tgt, bos_id):
            return F.pad(tgt[:, :-1], (1, 0), value=bos_id)
        """, correct=True, description="F.pad of tgt[:, :-1] with BOS (an empty slice when L = 1)"),
    # ---------------------------------------------------------------- EncoderLayer
    Mutant("encoder_mask_not_inverted", "EncoderLayer", _encoder(_ENC_OK.format(kpm="pad_mask")),
           description="passes the True=real mask as PyTorch's key_padding_mask (True=padding)"),
    Mutant("encoder_always_post_ln", "EncoderLayer", _encoder("""
    def forward(self, x, pad_mask=None):
        kpm = None if pad_mask is None else ~pad_mask
        x = self.norm1(x + self.self_attn(x, x, x, key_padding_mask=kpm, need_weights=False)[0])
        return self.norm2(x + self.linear2(F.relu(self.linear1(x))))
    """), description="ignores norm_first"),
    Mutant("encoder_no_ff_residual", "EncoderLayer", _encoder("""
    def forward(self, x, pad_mask=None):
        kpm = None if pad_mask is None else ~pad_mask
        sa = lambda h: self.self_attn(h, h, h, key_padding_mask=kpm, need_weights=False)[0]
        ff = lambda h: self.linear2(F.relu(self.linear1(h)))
        if self.norm_first:
            x = x + sa(self.norm1(x))
            return ff(self.norm2(x))
        x = self.norm1(x + sa(x))
        return self.norm2(ff(x))
    """), description="forgets the feed-forward residual connection"),
    Mutant("encoder_layers_in_another_order", "EncoderLayer", _ENCODER_INIT.replace(
        "        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)\n", "").replace(
        "        self.dropout = nn.Dropout(dropout)\n",
        "        self.dropout = nn.Dropout(dropout)\n"
        "        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)\n")
        + _ENC_OK.format(kpm="~pad_mask"), correct=True,
           description="creates self_attn after the feed-forward and norms (different default weights)"),
    Mutant("encoder_gelu", "EncoderLayer", _encoder(_ENC_OK.replace("F.relu", "F.gelu").format(kpm="~pad_mask")),
           description="GELU instead of ReLU"),
    Mutant("encoder_float_attn_mask", "EncoderLayer", _encoder("""
    def forward(self, x, pad_mask=None):
        mask = None
        if pad_mask is not None:
            B, L = pad_mask.shape
            H = self.self_attn.num_heads
            blocked = (~pad_mask)[:, None, None, :].expand(B, H, L, L).reshape(B * H, L, L)
            mask = torch.zeros(B * H, L, L).masked_fill(blocked, float("-inf"))
        sa = lambda h: self.self_attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        ff = lambda h: self.linear2(F.relu(self.linear1(h)))
        if self.norm_first:
            x = x + sa(self.norm1(x))
            return x + ff(self.norm2(x))
        x = self.norm1(x + sa(x))
        return self.norm2(x + ff(x))
    """), correct=True, description="padding as a per-head float attn_mask instead of key_padding_mask"),
    Mutant("encoder_mask_squeezed", "EncoderLayer", _encoder(_ENC_OK.format(kpm="~pad_mask.squeeze()")),
           description="squeezes pad_mask (as if it were (B, 1, L)), which drops a batch or a length of 1"),
    # ---------------------------------------------------------------- DecoderLayer
    Mutant("decoder_not_causal", "DecoderLayer", _decoder(_DEC_BODY.format(causal="None", cross_q="h", cross_kv="memory")),
           description="self-attention without the causal mask"),
    Mutant("decoder_causal_inverted", "DecoderLayer",
           _decoder(_DEC_BODY.format(causal="torch.ones(L, L, dtype=torch.bool).tril()", cross_q="h", cross_kv="memory")),
           description="passes the True=may-attend causal mask where PyTorch wants True=blocked"),
    Mutant("decoder_cross_swapped", "DecoderLayer", _decoder(_DEC_BODY.format(causal=_TRIU, cross_q="h", cross_kv="h")),
           description="cross-attention attends to the decoder itself instead of the memory"),
    Mutant("decoder_ignores_memory_padding", "DecoderLayer", _decoder(_DEC_BODY.format(causal=_TRIU, cross_q="h", cross_kv="memory")
                                                                      .replace("key_padding_mask=mk", "key_padding_mask=None")),
           description="ignores memory_pad_mask"),
    Mutant("decoder_is_causal_float_mask", "DecoderLayer", _decoder(_DEC_BODY.format(
        causal="nn.Transformer.generate_square_subsequent_mask(L)", cross_q="h", cross_kv="memory")),
        correct=True, description="PyTorch's float -inf causal mask"),
    Mutant("decoder_causal_sized_by_memory", "DecoderLayer", _decoder(_DEC_BODY.format(
        causal="torch.ones(memory.size(1), memory.size(1), dtype=torch.bool).triu(1)[:L, :L]", cross_q="h", cross_kv="memory")),
        description="sizes the causal mask by the memory length (works only while Lt <= Ls)"),
    Mutant("decoder_masks_squeezed", "DecoderLayer", _decoder(_DEC_BODY.format(causal=_TRIU, cross_q="h", cross_kv="memory")
                                                              .replace("~tgt_pad_mask", "~tgt_pad_mask.squeeze()")
                                                              .replace("~memory_pad_mask", "~memory_pad_mask.squeeze()")),
           description="squeezes the padding masks, which drops a batch dimension of 1"),
    # ---------------------------------------------------------------- greedy_decode
    Mutant("greedy_ignores_eos", "greedy_decode", """
        @torch.no_grad()
        def greedy_decode(model, src, bos_id, eos_id, max_len):
            memory = model.encode(src)
            ys = torch.full((src.size(0), 1), bos_id, dtype=torch.long)
            for _ in range(max_len):
                nxt = model.decode(ys, memory)[:, -1].argmax(-1, keepdim=True)
                ys = torch.cat([ys, nxt], 1)
            return ys[:, 1:].tolist()
        """, description="never stops at EOS"),
    Mutant("greedy_last_token_only", "greedy_decode", """
        @torch.no_grad()
        def greedy_decode(model, src, bos_id, eos_id, max_len):
            memory = model.encode(src)
            out = [[] for _ in range(src.size(0))]
            done = [False] * src.size(0)
            last = torch.full((src.size(0), 1), bos_id, dtype=torch.long)
            for _ in range(max_len):
                last = model.decode(last, memory)[:, -1].argmax(-1, keepdim=True)
                for b, t in enumerate(last[:, 0].tolist()):
                    if not done[b]:
                        out[b].append(t)
                        done[b] = t == eos_id
            return out
        """, description="feeds back only the last token, losing the history"),
    Mutant("greedy_stops_batch_at_first_eos", "greedy_decode", """
        @torch.no_grad()
        def greedy_decode(model, src, bos_id, eos_id, max_len):
            memory = model.encode(src)
            ys = torch.full((src.size(0), 1), bos_id, dtype=torch.long)
            for _ in range(max_len):
                nxt = model.decode(ys, memory)[:, -1].argmax(-1, keepdim=True)
                ys = torch.cat([ys, nxt], 1)
                if (nxt == eos_id).any():
                    break
            return ys[:, 1:].tolist()
        """, description="stops every row when one row emits EOS"),
    Mutant("greedy_one_row_at_a_time", "greedy_decode", """
        @torch.no_grad()
        def greedy_decode(model, src, bos_id, eos_id, max_len):
            results = []
            for b in range(src.size(0)):
                memory = model.encode(src[b:b + 1])
                seq = [bos_id]
                for _ in range(max_len):
                    seq.append(int(model.decode(torch.tensor([seq]), memory)[0, -1].argmax()))
                    if seq[-1] == eos_id:
                        break
                results.append(seq[1:])
            return results
        """, correct=True, description="one source at a time"),
    Mutant("greedy_squeezed_batch", "greedy_decode", """
        @torch.no_grad()
        def greedy_decode(model, src, bos_id, eos_id, max_len):
            memory = model.encode(src)
            ys = torch.full((src.size(0), 1), bos_id, dtype=torch.long)
            done = torch.zeros(src.size(0), dtype=torch.bool)
            for _ in range(max_len):
                nxt = model.decode(ys, memory)[:, -1].argmax(-1)
                ys = torch.cat([ys, nxt[:, None]], 1)
                done |= nxt == eos_id
                if done.all():
                    break
            rows = ys[:, 1:].squeeze().tolist()
            return [r[:r.index(eos_id) + 1] if eos_id in r else r for r in rows]
        """, description="ys.squeeze() before tolist(): a batch of one gives a flat list of ints"),
    Mutant("greedy_first_step_outside_loop", "greedy_decode", """
        @torch.no_grad()
        def greedy_decode(model, src, bos_id, eos_id, max_len):
            memory = model.encode(src)
            ys = torch.full((src.size(0), 1), bos_id, dtype=torch.long)
            nxt = model.decode(ys, memory)[:, -1].argmax(-1)
            ys = torch.cat([ys, nxt[:, None]], 1)
            for _ in range(max_len - 1):
                if (ys == eos_id).any(1).all():
                    break
                nxt = model.decode(ys, memory)[:, -1].argmax(-1)
                ys = torch.cat([ys, nxt[:, None]], 1)
            out = []
            for row in ys[:, 1:].tolist():
                out.append(row[:row.index(eos_id) + 1] if eos_id in row else row)
            return out
        """, correct=True, description="first token before the loop, max_len - 1 more, rows cut at their first EOS"),
    # ---------------------------------------------------------------- beam_search
    Mutant("beam_finished_stay_in_beam", "beam_search", """
        @torch.no_grad()
        def beam_search(model, src, bos_id, eos_id, beam_size, max_len):
            memory = model.encode(src)
            beams = [([bos_id], 0.0)]
            for _ in range(max_len):
                cands = []
                for seq, score in beams:
                    if seq[-1] == eos_id:
                        cands.append((seq, score))
                        continue
                    lp = F.log_softmax(model.decode(torch.tensor([seq]), memory)[0, -1], -1)
                    cands += [(seq + [v], score + float(lp[v])) for v in range(lp.numel())]
                beams = sorted(cands, key=lambda h: -h[1])[:beam_size]
            best = max(beams, key=lambda h: h[1])   # finished or cut at max_len
            return best[0][1:], best[1]
        """, correct=True, description="finished hypotheses stay in the beam (a common correct variant)"),
    Mutant("beam_length_normalised", "beam_search", """
        @torch.no_grad()
        def beam_search(model, src, bos_id, eos_id, beam_size, max_len):
            memory = model.encode(src)
            beams, finished = [([bos_id], 0.0)], []
            for _ in range(max_len):
                cands = []
                for seq, score in beams:
                    lp = F.log_softmax(model.decode(torch.tensor([seq]), memory)[0, -1], -1)
                    cands += [(seq + [v], score + float(lp[v])) for v in range(lp.numel())]
                cands.sort(key=lambda h: -h[1] / (len(h[0]) - 1))
                beams = []
                for h in cands[:beam_size]:
                    (finished if h[0][-1] == eos_id else beams).append(h)
                if not beams:
                    break
            best = max(finished + beams, key=lambda h: h[1] / (len(h[0]) - 1))
            return best[0][1:], best[1]
        """, description="ranks by log-probability per token (length normalisation)"),
    Mutant("beam_forgets_finished", "beam_search", """
        @torch.no_grad()
        def beam_search(model, src, bos_id, eos_id, beam_size, max_len):
            memory = model.encode(src)
            beams, last_finished = [([bos_id], 0.0)], None
            for _ in range(max_len):
                cands = []
                for seq, score in beams:
                    lp = F.log_softmax(model.decode(torch.tensor([seq]), memory)[0, -1], -1)
                    cands += [(seq + [v], score + float(lp[v])) for v in range(lp.numel())]
                cands.sort(key=lambda h: -h[1])
                beams = [h for h in cands[:beam_size] if h[0][-1] != eos_id]
                done = [h for h in cands[:beam_size] if h[0][-1] == eos_id]
                if done:
                    last_finished = done[0]
                if not beams:
                    break
            best = last_finished if last_finished and not beams else max(beams, key=lambda h: h[1])
            return best[0][1:], best[1]
        """, description="returns the best live hypothesis, forgetting earlier finished ones"),
    Mutant("beam_per_beam_topk", "beam_search", """
        @torch.no_grad()
        def beam_search(model, src, bos_id, eos_id, beam_size, max_len):
            memory = model.encode(src)
            beams, finished = [([bos_id], 0.0)], []
            for _ in range(max_len):
                cands = []
                for seq, score in beams:
                    lp = F.log_softmax(model.decode(torch.tensor([seq]), memory)[0, -1], -1)
                    v = int(lp.argmax())
                    cands.append((seq + [v], score + float(lp[v])))
                beams = []
                for h in cands[:beam_size]:
                    (finished if h[0][-1] == eos_id else beams).append(h)
                if not beams:
                    break
            best = max(finished + beams, key=lambda h: h[1])
            return best[0][1:], best[1]
        """, description="keeps only each beam's own best expansion (never branches)"),
    Mutant("beam_score_without_eos", "beam_search", """
        @torch.no_grad()
        def beam_search(model, src, bos_id, eos_id, beam_size, max_len):
            memory = model.encode(src)
            beams, finished = [([bos_id], 0.0)], []
            for _ in range(max_len):
                cands = []
                for seq, score in beams:
                    lp = F.log_softmax(model.decode(torch.tensor([seq]), memory)[0, -1], -1)
                    cands += [(seq + [v], score + (0.0 if v == eos_id else float(lp[v]))) for v in range(lp.numel())]
                cands.sort(key=lambda h: -h[1])
                beams = []
                for h in cands[:beam_size]:
                    (finished if h[0][-1] == eos_id else beams).append(h)
                if not beams:
                    break
            best = max(finished + beams, key=lambda h: h[1])
            return best[0][1:], best[1]
        """, description="does not count EOS's log-probability"),
    Mutant("beam_sorts_tensor_tuples", "beam_search", """
        @torch.no_grad()
        def beam_search(model, src, bos_id, eos_id, beam_size, max_len):
            memory = model.encode(src)
            beams, finished = [(0.0, torch.tensor([bos_id]))], []
            for _ in range(max_len):
                cands = []
                for score, seq in beams:
                    lp = F.log_softmax(model.decode(seq[None], memory)[0, -1], -1)
                    for v in range(lp.numel()):
                        cands.append((score + lp[v].item(), torch.cat([seq, torch.tensor([v])])))
                cands.sort(reverse=True)
                beams = []
                for score, seq in cands[:beam_size]:
                    (finished if int(seq[-1]) == eos_id else beams).append((score, seq))
                if not beams:
                    break
            score, seq = max(finished + beams, key=lambda h: h[0])
            return seq[1:].tolist(), score
        """, description="sorts (score, token tensor) tuples: equal scores compare the tensors and raise"),
    Mutant("beam_clamps_to_vocab", "beam_search", """
        @torch.no_grad()
        def beam_search(model, src, bos_id, eos_id, beam_size, max_len):
            memory = model.encode(src)
            beams, finished = [([bos_id], 0.0)], []
            for _ in range(max_len):
                cands = []
                for seq, score in beams:
                    lp = F.log_softmax(model.decode(torch.tensor([seq]), memory)[0, -1], -1)
                    beam_size = min(beam_size, lp.numel())
                    cands += [(seq + [v], score + float(lp[v])) for v in range(lp.numel())]
                cands.sort(key=lambda h: -h[1])
                beams = []
                for h in cands[:beam_size]:
                    (finished if h[0][-1] == eos_id else beams).append(h)
                if not beams:
                    break
            best = max(finished + beams, key=lambda h: h[1])
            return best[0][1:], best[1]
        """, description="caps beam_size at the vocabulary size (after step 1 there are more candidates than V)"),
    Mutant("beam_keeps_beam_size_live", "beam_search", """
        @torch.no_grad()
        def beam_search(model, src, bos_id, eos_id, beam_size, max_len):
            memory = model.encode(src)
            beams, finished = [([bos_id], 0.0)], []
            for _ in range(max_len):
                cands = []
                for seq, score in beams:
                    lp = F.log_softmax(model.decode(torch.tensor([seq]), memory)[0, -1], -1)
                    cands += [(seq + [v], score + float(lp[v])) for v in range(lp.numel())]
                cands.sort(key=lambda h: -h[1])
                beams = []
                for h in cands:
                    if h[0][-1] == eos_id:
                        finished.append(h)
                    elif len(beams) < beam_size:
                        beams.append(h)
                    if len(beams) == beam_size:
                        break
                if not beams:
                    break
            best = max(finished + beams, key=lambda h: h[1])
            return best[0][1:], best[1]
        """, correct=True, description="finished hypotheses do not take beam slots: beam_size live ones are kept (fairseq style)"),
]
