"""A toy sequence-to-sequence task and a reference Transformer for lectures 4-5 and hw3.

The task: **date normalisation**. A date written in one of many surface forms goes in, the
same date in ISO 8601 comes out, character by character::

    "the 3rd of March, 2021"   -> "2021-03-03"
    "Wed, Mar 3rd 2021"        -> "2021-03-03"
    "03/03/2021"               -> "2021-03-03"     (slashes: month/day/year, US order)
    "3.3.21"                   -> "2021-03-03"     (dots: day.month.year, European order)

Why this task: it ships with the kit (generated from a seed, no download), it is learnt to
high exact-match accuracy by a small Transformer in about a minute on a laptop CPU, and it
still needs everything an encoder-decoder has: the output is *reordered* with respect to the
input (the year comes first in the output, last in most inputs), month names must be turned
into numbers, ordinals ("3rd") and weekdays must be read or ignored, and the order of day and
month depends on a separator seen elsewhere in the input. Cross-attention maps are therefore
interesting (not a plain diagonal). Beam search changes the output where the model is unsure:
on many inputs early in training (28 of 500 test inputs after 300 steps of the reference run,
beam search more probable on all of them and right more often than greedy), on almost none once
it is trained (0 of 1000). Two-digit years are resolved with a fixed window: ``yy >= 50``
means 19yy, else 20yy; all dates lie in 1950-01-01 ... 2049-12-31.

Splits are by **date**: a date that appears in the test set appears in no other split, in
any surface form, so test accuracy measures generalisation to unseen day/month/year
combinations, not memorisation.

Contents
--------
Data
    ``PAD_ID, BOS_ID, EOS_ID, UNK_ID`` (0, 1, 2, 3), :class:`Vocab` (character level),
    :func:`format_date` / :data:`STYLES`, :func:`generate_pairs`, :func:`make_date_task` ->
    :class:`Seq2SeqTask` (splits, vocabularies, ``make_batch``, ``batches``), :func:`make_batch`,
    :func:`iterate_batches`, :func:`teacher_forcing_input`.
Metrics
    :func:`exact_match`, :func:`corpus_bleu` (sacrebleu).
Model and training
    :class:`Seq2SeqTransformer` (``encode(src)``, ``decode(tgt_in, memory)``, ``embed``),
    :func:`sinusoidal_table`, :func:`sequence_loss`, :func:`train`.

Reference run (lectures 4 and 5): ``Seq2SeqTransformer(src_vocab, tgt_vocab, d_model=64, nhead=4,
num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=256, dropout=0.0, norm_first=True)``
trained with ``train(model, task)`` (800 steps of 64 pairs, lr 3e-3, 100 warm-up steps, linear
decay): about 40 s on 2 CPU cores, 98.3% exact match and character BLEU 99.6 on the test set with
greedy decoding (seed 0; 98.6% and 99.1% with seeds 1 and 2).

Decoding (greedy, beam search) is deliberately *not* here: students write it in hw3, and the
lectures write their own versions.

Conventions: batch-first tensors; ``B`` batch, ``Ls``/``Lt`` source/target length, ``d`` model
size, ``V`` vocabulary size. Boolean masks mean **True = real token / may attend**; where a
PyTorch module wants the opposite (``src_key_padding_mask``, ``memory_key_padding_mask``,
boolean ``tgt_mask``: True = blocked) the code inverts with ``~`` and says so.
"""
from __future__ import annotations

import datetime
import math
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]

Pair = tuple[str, str]

# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------


@dataclass
class Vocab:
    """Character-level vocabulary with four special ids first.

    ``itos = ["<pad>", "<bos>", "<eos>", "<unk>", c_1, c_2, ...]``, so ``PAD_ID = 0``,
    ``BOS_ID = 1``, ``EOS_ID = 2``, ``UNK_ID = 3`` in every vocabulary of the kit. A token is
    one character (a space is a token too).

    >>> v = Vocab.build(["2021-03-03"])
    >>> v.decode(v.encode("2021-03-03", add_eos=True))
    '2021-03-03'
    """

    itos: list[str]
    stoi: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self):
        if self.itos[: len(SPECIALS)] != SPECIALS:
            raise ValueError(f"a Vocab must start with the specials {SPECIALS}")
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    @classmethod
    def build(cls, texts: Iterable[str]) -> "Vocab":
        """Specials, then every character that occurs in ``texts``, sorted (deterministic)."""
        chars = sorted({c for text in texts for c in text})
        return cls(itos=SPECIALS + chars)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Characters -> ids (unknown characters -> ``UNK_ID``), optionally framed by BOS/EOS."""
        ids = [self.stoi.get(c, UNK_ID) for c in text]
        return ([BOS_ID] if add_bos else []) + ids + ([EOS_ID] if add_eos else [])

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text. Stops at the first EOS; skips PAD and BOS; UNK becomes ``"?"``.

        Accepts a list, a 1-D tensor, or a generated sequence with or without BOS/EOS.
        """
        out = []
        for i in ids:
            i = int(i)
            if i == EOS_ID:
                break
            if i in (PAD_ID, BOS_ID):
                continue
            out.append("?" if i == UNK_ID else self.itos[i])
        return "".join(out)

    def tokens(self, ids: Iterable[int]) -> list[str]:
        """One printable label per id, specials included (tick labels for attention plots)."""
        return [self.itos[int(i)] if int(i) >= len(SPECIALS) else self.itos[int(i)].strip("<>").upper()
                for i in ids]


# --------------------------------------------------------------------------------------------
# The date-normalisation task
# --------------------------------------------------------------------------------------------

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december"]
MONTH_ABBR = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
FIRST_DATE, LAST_DATE = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)

#: The surface forms; ``format_date(d, rng, style)`` picks one of these by name.
STYLES = ("iso", "compact", "us_slash", "eu_dot", "month_day_year", "day_month_year", "nth_of_month")


def ordinal(n: int) -> str:
    """1 -> '1st', 2 -> '2nd', 3 -> '3rd', 11 -> '11th', 22 -> '22nd'."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _year(y: int, rng: random.Random, two_digit_p: float) -> str:
    return f"{y % 100:02d}" if rng.random() < two_digit_p else str(y)


def _title(text: str) -> str:
    words = text.split(" ")
    return " ".join(w if (i and w in ("of", "the")) or not w[:1].isalpha() else w[:1].upper() + w[1:]
                    for i, w in enumerate(words))


def _case(text: str, rng: random.Random) -> str:
    r = rng.random()
    return text if r < 0.6 else (_title(text) if r < 0.9 else text.upper())


def format_date(d: datetime.date, rng: random.Random, style: str | None = None) -> str:
    """One random surface form of ``d`` (``style`` from :data:`STYLES`, random when None).

    Word styles (month names) have four-digit years, may start with the (correct) weekday and
    come in lower, Title or UPPER case. The numeric styles: slashes mean month/day/year, dots
    day.month.year, with or without leading zeros; their year has two digits half of the time,
    and a two-digit year ``yy`` means 19yy if ``yy >= 50`` and 20yy otherwise.
    """
    style = style or rng.choice(STYLES)
    y, m, day = d.year, d.month, d.day
    pad = rng.random() < 0.5
    if style == "iso":
        return f"{y:04d}-{m:02d}-{day:02d}"
    if style == "compact":
        return f"{y:04d}{m:02d}{day:02d}"
    if style == "us_slash":
        return (f"{m:02d}/{day:02d}/" if pad else f"{m}/{day}/") + _year(y, rng, 0.5)
    if style == "eu_dot":
        return (f"{day:02d}.{m:02d}." if pad else f"{day}.{m}.") + _year(y, rng, 0.5)
    month = MONTHS[m - 1] if rng.random() < 0.5 else MONTH_ABBR[m - 1] + ("." if rng.random() < 0.2 else "")
    day_s = ordinal(day) if rng.random() < 0.4 else str(day)
    year = str(y)
    if style == "month_day_year":
        text = f"{month} {day_s}{',' if rng.random() < 0.6 else ''} {year}"
    elif style == "day_month_year":
        text = f"{day_s} {month} {year}"
    elif style == "nth_of_month":
        text = f"{'the ' if rng.random() < 0.5 else ''}{ordinal(day)} of {month}{',' if rng.random() < 0.5 else ''} {year}"
    else:
        raise ValueError(f"unknown style {style!r}; choose one of {STYLES}")
    if rng.random() < 0.25:
        weekday = WEEKDAYS[d.weekday()]
        text = (weekday if rng.random() < 0.5 else weekday[:3]) + (", " if rng.random() < 0.5 else " ") + text
    return _case(text, rng)


def _all_dates() -> list[datetime.date]:
    n = (LAST_DATE - FIRST_DATE).days + 1
    return [FIRST_DATE + datetime.timedelta(days=i) for i in range(n)]


def generate_pairs(dates: Sequence[datetime.date], seed: int = 0, per_date: int = 1) -> list[Pair]:
    """``(source_text, target_text)`` pairs: ``per_date`` random surface forms of every date."""
    rng = random.Random(seed)
    return [(format_date(d, rng), d.isoformat()) for d in dates for _ in range(per_date)]


@dataclass
class Seq2SeqTask:
    """Splits and vocabularies of a seq2seq task.

    Attributes
    ----------
    train, valid, test : list of (source_text, target_text)
    src_vocab, tgt_vocab : Vocab
        Character-level; built from *all* characters the task can produce, so no split has
        unknown characters.
    name : str
    """

    train: list[Pair]
    valid: list[Pair]
    test: list[Pair]
    src_vocab: Vocab
    tgt_vocab: Vocab
    name: str = "seq2seq"

    def split(self, name: str) -> list[Pair]:
        """``"train"``, ``"valid"`` or ``"test"``."""
        if name not in ("train", "valid", "test"):
            raise ValueError(f"unknown split {name!r}")
        return getattr(self, name)

    def make_batch(self, pairs: Sequence[Pair], device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """:func:`make_batch` with this task's vocabularies."""
        return make_batch(pairs, self.src_vocab, self.tgt_vocab, device=device)

    def batches(self, split: str = "train", batch_size: int = 64, shuffle: bool = True, seed: int = 0,
                epochs: int | None = 1, bucket: int | None = 16,
                device=None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """:func:`iterate_batches` over one split (``epochs=None``: repeat forever)."""
        return iterate_batches(self.split(split), self.src_vocab, self.tgt_vocab, batch_size, shuffle=shuffle,
                               seed=seed, epochs=epochs, bucket=bucket, device=device)


def make_date_task(n_train: int = 20000, n_valid: int = 1000, n_test: int = 1000, seed: int = 0) -> Seq2SeqTask:
    """The date-normalisation task, deterministic in ``seed``.

    The 36,525 dates of 1950-2049 are shuffled; the first ``n_test`` are the test dates, the
    next ``n_valid`` the validation dates, and the training pairs are drawn from the rest (one
    surface form per date; more than one per date when ``n_train`` exceeds the dates left).

    >>> task = make_date_task(n_train=100, n_valid=10, n_test=10)
    >>> len(task.train), task.test[0][1][4]
    (100, '-')
    """
    dates = _all_dates()
    random.Random(seed).shuffle(dates)
    test_dates, valid_dates = dates[:n_test], dates[n_test:n_test + n_valid]
    pool = dates[n_test + n_valid:]
    if n_train > len(pool) * 4:
        raise ValueError(f"n_train = {n_train} is too large for {len(pool)} training dates")
    per_date = -(-n_train // len(pool))
    train_dates = pool[: -(-n_train // per_date)]
    train = generate_pairs(train_dates, seed=seed + 1, per_date=per_date)[:n_train]
    valid = generate_pairs(valid_dates, seed=seed + 2)
    test = generate_pairs(test_dates, seed=seed + 3)
    src_chars = ("abcdefghijklmnopqrstuvwxyz" + "abcdefghijklmnopqrstuvwxyz".upper() + "0123456789" + " ,./-")
    src_vocab = Vocab.build([src_chars])
    tgt_vocab = Vocab.build(["0123456789-"])
    return Seq2SeqTask(train, valid, test, src_vocab, tgt_vocab, name="dates")


# --------------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------------


def pad_sequences(seqs: Sequence[Sequence[int]], pad_id: int = PAD_ID) -> torch.Tensor:
    """List of id lists -> ``(B, L_max)`` LongTensor, right-padded with ``pad_id``."""
    width = max((len(s) for s in seqs), default=0)
    out = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    for b, s in enumerate(seqs):
        out[b, : len(s)] = torch.as_tensor(list(s), dtype=torch.long)
    return out


def make_batch(pairs: Sequence[Pair], src_vocab: Vocab, tgt_vocab: Vocab,
               device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode and pad a list of ``(source, target)`` pairs.

    Returns
    -------
    src : (B, Ls) LongTensor
        Source ids, right-padded with ``PAD_ID`` (no BOS/EOS on the source).
    tgt : (B, Lt) LongTensor
        Target ids followed by ``EOS_ID``, right-padded with ``PAD_ID``. The decoder input for
        teacher forcing is :func:`teacher_forcing_input` ``(tgt)``.
    """
    src = pad_sequences([src_vocab.encode(s) for s, _ in pairs])              # (B, Ls)
    tgt = pad_sequences([tgt_vocab.encode(t, add_eos=True) for _, t in pairs])  # (B, Lt)
    if device is not None:
        src, tgt = src.to(device), tgt.to(device)
    return src, tgt


def iterate_batches(pairs: Sequence[Pair], src_vocab: Vocab, tgt_vocab: Vocab, batch_size: int = 64,
                    shuffle: bool = True, seed: int = 0, epochs: int | None = 1, bucket: int | None = 16,
                    device=None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``make_batch`` batches ``(src (B, Ls), tgt (B, Lt))`` over ``pairs``.

    Shuffled with ``random.Random(seed)`` (a new order each epoch, the same orders on every
    run) when ``shuffle``; ``epochs=None`` repeats forever. The last batch of an epoch may be
    smaller.

    ``bucket`` (with ``shuffle``): the shuffled pairs are cut into pools of
    ``bucket * batch_size``, each pool is sorted by source length and cut into batches, and
    the batches of a pool are yielded in random order. Batches then hold sources of similar
    length, so little compute is spent on padding (about 2x faster training on this task),
    while the data stays shuffled. ``bucket=None`` or 1: plain shuffled batches.
    """
    rng = random.Random(seed)
    order = list(range(len(pairs)))
    pool = batch_size * (bucket or 1)
    epoch = 0
    while epochs is None or epoch < epochs:
        if shuffle:
            rng.shuffle(order)
        for start in range(0, len(order), pool):
            chunk = order[start:start + pool]
            if shuffle and bucket and bucket > 1:
                chunk = sorted(chunk, key=lambda i: len(pairs[i][0]))
            starts = list(range(0, len(chunk), batch_size))
            if shuffle and bucket and bucket > 1:
                rng.shuffle(starts)
            for b in starts:
                yield make_batch([pairs[i] for i in chunk[b:b + batch_size]], src_vocab, tgt_vocab, device)
        epoch += 1


def teacher_forcing_input(tgt: torch.Tensor, bos_id: int = BOS_ID) -> torch.Tensor:
    """Decoder input for teacher forcing: ``[BOS, tgt[:, :-1]]``, same shape as ``tgt``.

    Position ``t`` of the decoder sees the *correct* tokens ``y_0 .. y_{t-1}`` and is trained
    to predict ``tgt[:, t]`` (the last one being EOS).
    """
    bos = torch.full_like(tgt[:, :1], bos_id)                 # (B, 1)
    return torch.cat([bos, tgt[:, :-1]], dim=1)               # (B, Lt)


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Fraction (0..1) of predictions equal to their reference string."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not references:
        return 0.0
    return sum(p == r for p, r in zip(predictions, references)) / len(references)


def _char_tokens(text: str) -> str:
    # one token per character; a space becomes the visible token "▁" so that it is kept
    return " ".join("▁" if c == " " else c for c in text)


def corpus_bleu(predictions: Sequence[str], references: Sequence[str], level: str = "char") -> float:
    """Corpus BLEU (0..100) computed by **sacrebleu** (one reference per prediction).

    ``level="char"`` (default): every character is a token. The strings are re-written as
    space-separated characters and scored with ``tokenize="none"``, so BLEU counts character
    n-grams (n = 1..4). Why: our outputs are short strings without spaces ("2021-03-03");
    word-level BLEU would see one or a few "words" per output and give 0 to any output
    with one wrong digit, while character n-grams give partial credit for a correct year and a
    wrong day, the way BLEU gives partial credit to a translation with one wrong word.
    (The result is character BLEU, which is not comparable with word BLEU numbers in papers.)

    ``level="word"``: sacrebleu's standard ``13a`` tokenisation, for word-level outputs.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    import sacrebleu

    if level == "char":
        hyps = [_char_tokens(p) for p in predictions]
        refs = [_char_tokens(r) for r in references]
        return float(sacrebleu.corpus_bleu(hyps, [refs], tokenize="none").score)
    if level == "word":
        return float(sacrebleu.corpus_bleu(list(predictions), [list(references)], tokenize="13a").score)
    raise ValueError(f"level must be 'char' or 'word', got {level!r}")


# --------------------------------------------------------------------------------------------
# Reference model
# --------------------------------------------------------------------------------------------


def sinusoidal_table(max_len: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """``(max_len, d_model)``: ``PE[p, 2i] = sin(p / base^(2i/d))``, ``PE[p, 2i+1] = cos(...)``."""
    p = torch.arange(max_len, dtype=torch.float32)[:, None]   # (L, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float32)  # (d/2,)
    angle = p / base ** (two_i / d_model)                     # (L, d/2)
    pe = torch.zeros(max_len, d_model)                        # (L, d)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return pe


class Seq2SeqTransformer(nn.Module):
    """Encoder-decoder Transformer (Vaswani et al., 2017) from PyTorch's layers, batch-first.

    ``src ids (B, Ls) -> embedding * sqrt(d) + PE -> encoder layers -> memory (B, Ls, d)``;
    ``tgt_in ids (B, Lt) -> embedding * sqrt(d) + PE -> decoder layers (causal self-attention,
    cross-attention to memory) -> linear -> logits (B, Lt, V)``.

    Parameters
    ----------
    src_vocab, tgt_vocab : int or Vocab
        Vocabulary sizes (a ``Vocab`` counts as its length).
    d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, dropout :
        As in ``torch.nn.Transformer``.
    max_len : int
        Longest source or target sequence the positional table covers.
    norm_first : bool
        Pre-LN layers (plus a final LayerNorm after each stack) instead of the original post-LN.

    Attributes
    ----------
    encoder_layers : nn.ModuleList of ``nn.TransformerEncoderLayer``
    decoder_layers : nn.ModuleList of ``nn.TransformerDecoderLayer``
        Each has ``self_attn`` and ``multihead_attn`` (the cross-attention), both
        ``nn.MultiheadAttention`` with ``batch_first=True``.

    Padding
    -------
    ``encode(src)`` computes ``src != PAD_ID`` (True = real token) and **stores** it as
    ``self._memory_pad_mask`` (B, Ls), with the memory it returns as ``self._memory``. A later
    ``decode(tgt_in, memory)`` uses it so that cross-attention ignores the padded source
    positions. ``decode`` therefore takes only ``(tgt_in, memory)``, the interface decoding
    functions rely on, but ``memory`` must come from the **last** ``encode``: either that
    tensor itself or rows of it (repeated for beams, reordered, finished rows dropped; each
    row is matched to its source row by content). A memory from an older ``encode`` raises an
    error when the source had padding; without padding no mask is needed at all.
    The target needs no padding mask: padding only follows the real tokens, the causal mask
    already hides it from every real position, and the loss ignores padded positions.
    """

    def __init__(self, src_vocab, tgt_vocab, d_model: int = 64, nhead: int = 4, num_encoder_layers: int = 2,
                 num_decoder_layers: int = 2, dim_feedforward: int = 256, dropout: float = 0.1,
                 max_len: int = 64, norm_first: bool = False):
        super().__init__()
        self.src_vocab_size = len(src_vocab) if hasattr(src_vocab, "__len__") else int(src_vocab)
        self.tgt_vocab_size = len(tgt_vocab) if hasattr(tgt_vocab, "__len__") else int(tgt_vocab)
        self.d_model, self.max_len = d_model, max_len
        self.src_embed = nn.Embedding(self.src_vocab_size, d_model, padding_idx=PAD_ID)
        self.tgt_embed = nn.Embedding(self.tgt_vocab_size, d_model, padding_idx=PAD_ID)
        self.register_buffer("pe", sinusoidal_table(max_len, d_model), persistent=False)   # (max_len, d)
        self.dropout = nn.Dropout(dropout)
        self.encoder_layers = nn.ModuleList([
            nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True,
                                       norm_first=norm_first) for _ in range(num_encoder_layers)])
        self.decoder_layers = nn.ModuleList([
            nn.TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True,
                                       norm_first=norm_first) for _ in range(num_decoder_layers)])
        # pre-LN leaves the residual stream un-normalised: one LayerNorm closes each stack
        self.encoder_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.decoder_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.generator = nn.Linear(d_model, self.tgt_vocab_size)
        self._memory_pad_mask: torch.Tensor | None = None        # (B, Ls) True = real, set by encode
        self._memory: torch.Tensor | None = None                 # (B, Ls, d) the last encoded memory
        self._reset_parameters()

    def _reset_parameters(self):
        # Xavier-uniform for every matrix, as nn.Transformer and the Annotated Transformer do.
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        with torch.no_grad():
            self.src_embed.weight[PAD_ID].zero_()
            self.tgt_embed.weight[PAD_ID].zero_()

    def embed(self, ids: torch.Tensor, side: str) -> torch.Tensor:
        """``ids (B, L)`` -> ``(B, L, d)``: token embedding * sqrt(d) + positional encoding (+ dropout).

        ``side`` is ``"source"`` or ``"target"`` (the two sides have separate embedding tables).
        """
        table = {"source": self.src_embed, "target": self.tgt_embed}[side]
        L = ids.shape[1]
        if L > self.max_len:
            raise ValueError(f"sequence of length {L} is longer than max_len = {self.max_len}")
        x = table(ids) * math.sqrt(self.d_model) + self.pe[:L]   # (B, L, d)  E[x] * sqrt(d) + PE
        return self.dropout(x)

    def encode(self, src: torch.Tensor) -> torch.Tensor:
        """``src (B, Ls)`` ids -> ``memory (B, Ls, d)``; stores ``self._memory_pad_mask`` (B, Ls)."""
        real = src != PAD_ID                                      # (B, Ls) True = real token
        x = self.embed(src, "source")                      # (B, Ls, d)
        for layer in self.encoder_layers:
            x = layer(x, src_key_padding_mask=~real)              # PyTorch: True = padding (ignore)
        memory = self.encoder_norm(x)                             # (B, Ls, d)
        self._memory_pad_mask, self._memory = real, memory.detach()   # for decode(tgt_in, memory)
        return memory

    def _memory_mask_for(self, memory: torch.Tensor) -> torch.Tensor | None:
        """The source mask (True = real) of the rows of ``memory``; None when nothing is padded.

        ``memory`` is usually the tensor the last :meth:`encode` returned. Decoding code often
        passes a *rearranged* copy: rows repeated for beams (``repeat_interleave``, ``expand``),
        finished rows dropped, rows reordered. Each row of ``memory`` is therefore matched, by
        content, to a row of the last encoded memory and gets that row's mask.
        """
        real, stored = self._memory_pad_mask, self._memory
        if real is None or stored is None or bool(real.all()):
            return None                                           # no padding: no mask needed
        if memory.data_ptr() == stored.data_ptr() and memory.shape == stored.shape:
            return real                                           # the very tensor encode returned
        if memory.shape[1:] != stored.shape[1:]:
            raise ValueError(f"memory of shape {tuple(memory.shape)} does not come from the last encode() "
                             f"(shape {tuple(stored.shape)}): call model.encode(src) for this source first")
        # Match rows by content: 8 random projections of each row give a fingerprint; the stored
        # row with the nearest fingerprint is its source (the fingerprints of different rows
        # differ by orders of magnitude more than float rounding).
        gen = torch.Generator().manual_seed(0)
        probe = torch.randn(memory.shape[1] * memory.shape[2], 8, generator=gen).to(memory.device, memory.dtype)
        key_new = memory.detach().reshape(memory.shape[0], -1) @ probe   # (B', 8)
        key_old = stored.reshape(stored.shape[0], -1) @ probe            # (B, 8)
        dist, rows = torch.cdist(key_new, key_old).min(dim=1)            # (B',) nearest stored row
        if bool((dist > 1e-3 * (1.0 + key_old.norm(dim=1).max())).any()):
            raise ValueError("the rows of memory do not come from the last encode(): call "
                             "model.encode(src) for this source first")
        return real[rows]                                         # (B', Ls)

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """``tgt_in (B, Lt)`` ids (starting with BOS), ``memory (B, Ls, d)`` -> logits ``(B, Lt, V)``.

        Position ``t`` sees ``tgt_in[:, :t+1]`` only (causal self-attention) and all real source
        positions (the mask stored by the last :meth:`encode`).
        """
        Lt = tgt_in.shape[1]
        may_attend = torch.ones(Lt, Lt, dtype=torch.bool, device=tgt_in.device).tril()   # (Lt, Lt) j <= i
        real = self._memory_mask_for(memory)                      # (B, Ls) or None
        y = self.embed(tgt_in, "target")                   # (B, Lt, d)
        for layer in self.decoder_layers:
            y = layer(y, memory,
                      tgt_mask=~may_attend,                       # PyTorch: True = blocked
                      tgt_is_causal=True,
                      memory_key_padding_mask=None if real is None else ~real)   # True = padding
        return self.generator(self.decoder_norm(y))               # (B, Lt, V)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced pass: ``decode(tgt_in, encode(src))`` -> logits ``(B, Lt, V)``."""
        return self.decode(tgt_in, self.encode(src))


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def sequence_loss(logits: torch.Tensor, tgt: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean token cross-entropy of ``logits (B, Lt, V)`` against ``tgt (B, Lt)``, PAD ignored."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=PAD_ID,
                           label_smoothing=label_smoothing)


def train(model: nn.Module, data, steps: int = 800, lr: float = 3e-3, warmup: int = 100, decay: bool = True,
          batch_size: int = 64, label_smoothing: float = 0.0, clip_norm: float | None = 1.0,
          log_every: int | None = 200, seed: int = 0, callback: Callable[[int, float], None] | None = None,
          device=None) -> list[float]:
    """Train ``model`` with teacher forcing; returns the loss of every step (model left in eval mode).

    Each step: ``logits = model(src, teacher_forcing_input(tgt))``, cross-entropy against
    ``tgt`` ignoring PAD (:func:`sequence_loss`), Adam (betas 0.9, 0.98), gradient-norm
    clipping at ``clip_norm``. The learning rate rises linearly from 0 to ``lr`` over ``warmup``
    steps, then falls linearly to 0 at the last step (``decay=True``; a short run gains a few
    points of accuracy from the low-learning-rate end) or stays at ``lr`` (``decay=False``).
    The defaults are the lectures' reference run (about 40 s on 2 CPU cores for the date task).

    Parameters
    ----------
    data : Seq2SeqTask or iterable of (src, tgt) batches
        A task means its training split, shuffled with ``seed``, ``batch_size`` pairs per batch,
        repeated as long as needed. An iterable is cycled when it runs out.
    steps : int
        Number of optimiser steps.
    log_every : int or None
        Print (to stdout) the mean loss of the last ``log_every`` steps, the step and the
        elapsed time; None: silent.
    callback : callable(step, mean_loss), optional
        Called at every logging point (e.g. to evaluate on the validation set; the model is
        put back in training mode afterwards).
    """
    device = device or next(model.parameters()).device
    if isinstance(data, Seq2SeqTask):
        batches = data.batches("train", batch_size, shuffle=True, seed=seed, epochs=None, device=device)
    else:
        batches = _cycle(data)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-9)

    def lr_factor(s: int) -> float:                           # s = 0 .. steps - 1
        up = (s + 1) / max(1, warmup)
        down = (steps - s) / max(1, steps - warmup) if decay else 1.0
        return max(0.0, min(1.0, up, down))

    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    model.train()
    losses: list[float] = []
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        src, tgt = next(batches)
        src, tgt = src.to(device), tgt.to(device)
        logits = model(src, teacher_forcing_input(tgt))            # (B, Lt, V)
        loss = sequence_loss(logits, tgt, label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        opt.step()
        schedule.step()
        losses.append(loss.item())
        if log_every and (step % log_every == 0 or step == steps):
            recent = losses[-log_every:]
            mean = sum(recent) / len(recent)
            print(f"step {step:5d}  loss {mean:.4f}  ({time.perf_counter() - t0:.1f} s)", file=sys.stdout, flush=True)
            if callback is not None:
                callback(step, mean)
                model.train()
    model.eval()
    return losses


def _cycle(batches: Iterable) -> Iterator:
    """Cycle an iterable of batches (a list, a re-iterable such as a DataLoader, or an endless generator)."""
    seen = 0
    while True:
        before = seen
        for batch in batches:
            seen += 1
            yield batch
        if seen == before:
            raise ValueError(f"ran out of batches after {seen}: pass a list, a re-iterable or an endless generator"
                             if seen else "no batches to train on")
