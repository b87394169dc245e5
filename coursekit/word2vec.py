"""Data preparation for word2vec-style training (skip-gram and CBOW).

The models themselves are what students write in hw1; this module only turns a corpus into
training examples, so the lecture and the homework share one, tested, data pipeline.
"""
from __future__ import annotations

import torch


def skipgram_pairs(sentences: list[list[int]], window: int) -> torch.Tensor:
    """All (center, context) pairs with ``0 < |i - j| <= window`` inside each sentence.

    Returns a LongTensor of shape ``(N, 2)``.
    """
    pairs = []
    for sent in sentences:
        for i, center in enumerate(sent):
            for j in range(max(0, i - window), min(len(sent), i + window + 1)):
                if j != i:
                    pairs.append((center, sent[j]))
    return torch.tensor(pairs, dtype=torch.long).reshape(-1, 2)


def cbow_examples(sentences: list[list[int]], window: int, pad_id: int | None = None):
    """(context, target) examples for CBOW: the ``2 * window`` neighbours predict the middle word.

    Positions whose window runs past the sentence are skipped unless ``pad_id`` is given, in
    which case missing neighbours are filled with ``pad_id``.
    Returns ``contexts (N, 2*window)`` and ``targets (N,)`` as LongTensors.
    """
    contexts, targets = [], []
    for sent in sentences:
        for i, target in enumerate(sent):
            ctx = []
            for j in range(i - window, i + window + 1):
                if j == i:
                    continue
                if 0 <= j < len(sent):
                    ctx.append(sent[j])
                elif pad_id is not None:
                    ctx.append(pad_id)
                else:
                    break
            if len(ctx) == 2 * window:
                contexts.append(ctx)
                targets.append(target)
    return (torch.tensor(contexts, dtype=torch.long).reshape(-1, 2 * window),
            torch.tensor(targets, dtype=torch.long))


def unigram_table(counts: list[int], power: float = 0.75) -> torch.Tensor:
    """Negative-sampling distribution ``P(w) ∝ count(w)^power`` (Mikolov et al., 2013)."""
    probs = torch.tensor(counts, dtype=torch.float64) ** power
    return (probs / probs.sum()).float()


def sample_negatives(probs: torch.Tensor, batch_size: int, k: int,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """``(batch_size, k)`` word ids drawn from ``probs`` with replacement."""
    flat = torch.multinomial(probs, batch_size * k, replacement=True, generator=generator)
    return flat.view(batch_size, k)
