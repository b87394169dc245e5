"""Speaker classifiers for hw4 and lecture 6: the course's sample model, the model assembly
that hw4's Conformer parts plug into, and the training / validation / prediction loop.

Every model here maps log-mel frames to speaker logits::

    mels (B, T, 40) --prenet--> (B, T, d) --blocks--> (B, T, d) --pooling--> (B, d) --head--> (B, n_speakers)

A block is any module called as ``block(x, pad_mask)``, a pooling ``pooling(x, pad_mask)`` and
the head either ``head(z)`` or, for a margin head such as AM-softmax, ``head(z, labels)``.
``pad_mask`` is ``(B, T)`` bool with **True = real frame** (the course convention).

The training loop is given code in hw4 (students write the parts, not the loop); it is written
to be correct in the places that usually go wrong: validation on full-length utterances with
masks (not crops, not batch size 1), a best checkpoint that is a *copy* of the weights (a bare
``state_dict()`` keeps references that later steps overwrite), eval mode for validation,
and the GPU when there is one.

**Memory of full-length evaluation.** Attention over a padded batch of ``B`` utterances of up to
``L`` frames holds ``B * H * L * L`` scores per layer (``H`` heads, float32); PyTorch's attention
keeps two such tensors at its peak (the scores and their softmax). :func:`evaluate` and
:func:`predict` therefore batch by a *frame budget* (:func:`~coursekit.speaker_data.frame_budget_batches`:
at most ``max_frames`` padded frames per batch, a longer utterance alone), so a batch's peak is

    8 * H * max(max_frames, L) * L bytes  (+ the activations, B * L * d * 4 bytes each)

with ``L`` its longest utterance. With the default ``max_frames = 4096`` that is the memory of
the longest utterance alone whenever it has more than 4,096 frames: for the original course's
data (up to about 7,000 frames) 8 * 2 * 7000^2 bytes = 0.78 GB with 2 heads (the sample model and
the Conformer), 1.6 GB with 4 heads, where 32 utterances padded to 2,000 frames together
would need 2 GB and to 7,000 frames 25 GB. Measured on CPU (peak RSS, ``tests/test_speaker_models.py``);
on a GPU the same tensors are allocated, or fewer where PyTorch's fused attention kernels do not
build the score matrix. No batching can go below the longest utterance alone: that floor
needs attention computed in chunks of queries.
"""
from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from coursekit.speaker_data import (DEFAULT_MAX_FRAMES, InferenceDataset, collate_inference, collate_pad,
                                    frame_budget_batches, lengths_to_mask)

N_MELS = 40


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else CUDA when available, else Apple's MPS, else CPU."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


class TransformerBlock(nn.Module):
    """``nn.TransformerEncoderLayer`` called the course's way: ``block(x, pad_mask)``, True = real."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float = 0.1):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout,
                                                batch_first=True)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        # PyTorch's key_padding_mask is True = ignore: the opposite of ours.
        return self.layer(x, src_key_padding_mask=None if pad_mask is None else ~pad_mask)  # (B, T, d)


class MeanPooling(nn.Module):
    """The sample model's pooling: the average of the real frames (padding excluded)."""

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        if pad_mask is None:
            return x.mean(dim=1)                                              # (B, d)
        w = pad_mask.to(x.dtype).unsqueeze(-1)                                # (B, T, 1)
        return (x * w).sum(dim=1) / w.sum(dim=1).clamp_min(1.0)               # (B, d)


class SpeakerClassifier(nn.Module):
    """prenet ``Linear(n_mels, d)`` -> ``blocks`` -> ``pooling`` -> ``head``.

    ``margin_head=True`` says the head takes the labels while training (AM-softmax); it is
    then called ``head(z, labels)`` in training and ``head(z)`` to predict.
    """

    def __init__(self, d_model: int, blocks, pooling: nn.Module, head: nn.Module,
                 n_mels: int = N_MELS, margin_head: bool = False):
        super().__init__()
        self.prenet = nn.Linear(n_mels, d_model)
        self.blocks = nn.ModuleList(blocks)
        self.pooling = pooling
        self.head = head
        self.margin_head = margin_head

    def embed(self, mels: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, n_mels) -> (B, d): the utterance embedding the head classifies."""
        x = self.prenet(mels)                                                 # (B, T, d)
        for block in self.blocks:
            x = block(x, pad_mask)                                            # (B, T, d)
        return self.pooling(x, pad_mask)                                      # (B, d)

    def forward(self, mels: torch.Tensor, pad_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None) -> torch.Tensor:
        z = self.embed(mels, pad_mask)                                        # (B, d)
        if self.margin_head and labels is not None:
            return self.head(z, labels)                                       # (B, n_speakers)
        return self.head(z)                                                   # (B, n_speakers)


def sample_model(n_speakers: int, d_model: int = 80, nhead: int = 2, dim_feedforward: int = 256,
                 num_layers: int = 1, dropout: float = 0.1) -> SpeakerClassifier:
    """The course's sample model (ML2022 HW4 sample code): a linear prenet to d=80, one
    Transformer encoder layer (2 heads, feed-forward 256), mean pooling over time and a
    two-layer softmax head. ``num_layers`` and the sizes are there to tune it (Medium)."""
    blocks = [TransformerBlock(d_model, nhead, dim_feedforward, dropout) for _ in range(num_layers)]
    head = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(), nn.Linear(d_model, n_speakers))
    return SpeakerClassifier(d_model, blocks, MeanPooling(), head)


def conformer_classifier(n_speakers: int, block_class, pooling_class=None, margin_class=None,
                         d_model: int = 80, num_blocks: int = 2, nhead: int = 2,
                         ff_expansion: int = 2, kernel_size: int = 15,
                         dropout: float = 0.1) -> SpeakerClassifier:
    """A Conformer speaker classifier assembled from hw4's parts (yours, or the reference).

    ``block_class`` is called as ``ConformerBlock(d_model, nhead, ff_expansion, kernel_size,
    dropout)``; ``pooling_class(d_model)`` replaces mean pooling when given (self-attention
    pooling); ``margin_class(d_model, n_speakers)`` replaces the softmax head when given
    (AM-softmax, which then gets the labels while training).
    """
    blocks = [block_class(d_model, nhead, ff_expansion, kernel_size, dropout) for _ in range(num_blocks)]
    pooling = pooling_class(d_model) if pooling_class is not None else MeanPooling()
    if margin_class is not None:
        head = margin_class(d_model, n_speakers)
    else:
        head = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(), nn.Linear(d_model, n_speakers))
    return SpeakerClassifier(d_model, blocks, pooling, head, margin_head=margin_class is not None)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------

def warmup_cosine(optimizer, warmup_steps: int, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up to the base rate, then cosine decay to 0 (the sample code's schedule)."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def dataset_lengths(dataset) -> list[int]:
    """Frames per item, from the metadata when it has them (no file is read)."""
    if hasattr(dataset, "lengths"):
        return list(dataset.lengths)
    if isinstance(dataset, Subset):
        base = dataset_lengths(dataset.dataset)
        return [base[i] for i in dataset.indices]
    return [len(dataset[i][0]) for i in range(len(dataset))]


def snapshot_weights(model: nn.Module) -> dict:
    """A copy of the model's weights that later training steps cannot change.

    ``model.state_dict()`` alone returns the live parameter tensors: a "best checkpoint" kept
    that way silently becomes the last one (a classic bug in training loops)."""
    return copy.deepcopy(model.state_dict())


def _batches_forever(loader):
    while True:
        yield from loader


@contextlib.contextmanager
def _eval_mode(model: nn.Module):
    """Eval mode for the block; the model's previous mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _predicted_ids(model: nn.Module, mels: torch.Tensor, lengths: torch.Tensor, device) -> list[int]:
    """Argmax speaker ids of a padded batch, with its padding mask."""
    mels = mels.to(device)
    mask = lengths_to_mask(lengths, mels.size(1)).to(device)                  # (B, T)
    return model(mels, mask).argmax(dim=-1).tolist()                          # (B,)


@torch.no_grad()
def evaluate(model: nn.Module, dataset, batch_size: int = 32, device=None,
             max_frames: int = DEFAULT_MAX_FRAMES) -> float:
    """Accuracy on ``dataset`` items ``(mel, label)``, whole utterances batched by length with
    padding masks, in eval mode (the model's mode is restored afterwards).

    A batch holds at most ``batch_size`` utterances and ``max_frames`` padded frames (an
    utterance longer than that alone), which bounds memory: see the module docstring."""
    device = pick_device(device)
    batches = frame_budget_batches(dataset_lengths(dataset), max_frames, batch_size)
    loader = DataLoader(dataset, batch_sampler=batches, collate_fn=collate_pad)
    correct = total = 0
    with _eval_mode(model):
        for mels, lens, labels in loader:
            pred = _predicted_ids(model, mels, lens, device)
            correct += sum(p == y for p, y in zip(pred, labels.tolist()))
            total += len(pred)
    return correct / max(1, total)


@dataclass
class TrainResult:
    best_accuracy: float
    best_step: int
    seconds: float
    history: list = field(default_factory=list)      # (step, train loss, valid accuracy)


def train_speaker_model(model: nn.Module, train_set, valid_set, steps: int = 2000,
                        batch_size: int = 32, lr: float = 1e-3, warmup_steps: int | None = None,
                        weight_decay: float = 1e-2, valid_every: int = 250, device=None,
                        progress: bool = True, seed: int = 0, num_workers: int = 0) -> TrainResult:
    """Train with AdamW and warm-up + cosine decay; validate every ``valid_every`` steps and at
    the end; keep and finally load the weights of the best validation accuracy.

    ``train_set`` yields ``(mel crop, label)``; ``valid_set`` full-length ``(mel, label)``.
    ``progress`` shows a tqdm bar (``tqdm.auto``: a widget in Jupyter).
    """
    from tqdm.auto import tqdm

    device = pick_device(device)
    torch.manual_seed(seed)
    model.to(device).train()
    g = torch.Generator().manual_seed(seed)
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, drop_last=True,
                        collate_fn=collate_pad, generator=g, num_workers=num_workers)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    warmup_steps = max(1, steps // 10) if warmup_steps is None else warmup_steps
    scheduler = warmup_cosine(optimizer, warmup_steps, steps)
    margin = getattr(model, "margin_head", False)

    best_acc, best_step, best_state = -1.0, 0, None
    history, running = [], []
    start = time.perf_counter()
    bar = tqdm(total=steps, desc="training", unit="step", disable=not progress)
    batches = _batches_forever(loader)
    for step in range(1, steps + 1):
        mels, lens, labels = next(batches)
        mels, labels = mels.to(device), labels.to(device)
        mask = lengths_to_mask(lens, mels.size(1)).to(device)                 # (B, T)
        logits = model(mels, mask, labels) if margin else model(mels, mask)   # (B, n_speakers)
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        running.append(loss.item())
        bar.update()
        if step % valid_every == 0 or step == steps:
            acc = evaluate(model, valid_set, batch_size, device)
            history.append((step, sum(running) / len(running), acc))
            running = []
            if acc > best_acc:
                best_acc, best_step = acc, step
                best_state = snapshot_weights(model)
            bar.set_postfix(loss=f"{history[-1][1]:.3f}", valid=f"{acc:.3f}", best=f"{best_acc:.3f}")
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    return TrainResult(best_acc, best_step, time.perf_counter() - start, history)


@torch.no_grad()
def predict(model: nn.Module, data_dir, id2speaker: dict, batch_size: int = 32,
            device=None, max_frames: int = DEFAULT_MAX_FRAMES) -> tuple[list[str], list[str]]:
    """Predict a speaker for every utterance of ``data_dir/testdata.json``, whole utterances
    batched by length with masks (at most ``batch_size`` utterances and ``max_frames`` padded
    frames per batch, as in :func:`evaluate`). Returns ``(feature_paths, speaker_names)`` in
    file order, ready for :func:`coursekit.speaker_data.write_predictions`."""
    device = pick_device(device)
    dataset = InferenceDataset(data_dir)
    batches = frame_budget_batches(dataset.lengths, max_frames, batch_size)
    loader = DataLoader(dataset, batch_sampler=batches, collate_fn=collate_inference)
    model.to(device)
    found: dict[str, str] = {}
    with _eval_mode(model):
        for paths, mels, lens in loader:
            found.update({p: id2speaker[i] for p, i in zip(paths, _predicted_ids(model, mels, lens, device))})
    paths = [path for path, _ in dataset.items]
    return paths, [found[p] for p in paths]
