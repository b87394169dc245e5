"""Loading the hw4 speaker-identification data (NTU ML2022 HW4 format) and scoring predictions.

The same code reads the kit's synthetic dataset (:mod:`coursekit.speakers`) and the original
course's dataset unchanged: it relies only on the format below, never on how the files were
made.

    data_dir/mapping.json    {"speaker2id": {name: id}, "id2speaker": {"id": name}}
    data_dir/metadata.json   {"n_mels": 40, "speakers": {name: [{"feature_path", "mel_len"}]}}
    data_dir/testdata.json   {"n_mels": 40, "utterances": [{"feature_path", "mel_len"}]}
    data_dir/uttr-*.pt       float tensors (mel_len, 40) of log mel energies

Conventions (as in the course's sample code and everywhere in the kit):

* training items are random 128-frame crops (shorter utterances are kept whole and padded);
* batches are padded with ``PAD_VALUE = -20``, below every real log-mel value;
* masks are boolean with **True = real frame** (``nn.MultiheadAttention``'s
  ``key_padding_mask`` wants the opposite: pass ``~mask``).

Predictions are a CSV ``Id,Category``: one row per test utterance, its ``feature_path`` and
the predicted speaker name. :func:`accuracy_from_files` scores one against the hidden answers.
"""
from __future__ import annotations

import csv
import os
import json
from pathlib import Path
from typing import Iterable, Sequence

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset, Subset

PAD_VALUE = -20.0
PREDICTION_HEADER = ["Id", "Category"]
DATA_ENV = "HW4_DATA"


def default_data_dir() -> Path:
    """``$HW4_DATA`` if set, else ``data/speakers`` in the course folder (where
    ``python -m coursekit.speakers data/speakers`` puts the default dataset)."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return Path(__file__).resolve().parents[1] / "data" / "speakers"


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {path.parent} a hw4 data folder "
                                "(mapping.json, metadata.json, testdata.json, uttr-*.pt)?")
    with open(path) as f:
        return json.load(f)


def _load_mel(path: Path) -> torch.Tensor:
    return torch.load(path, map_location="cpu", weights_only=True).float()


class SpeakerDataset(Dataset):
    """Labelled utterances from ``mapping.json`` + ``metadata.json``.

    ``dataset[i]`` is ``(mel, speaker_id)``: ``mel`` a float32 ``(segment_len, 40)`` random crop,
    or the whole utterance when it is shorter or when ``segment_len`` is None (validation).
    The crop start comes from torch's global generator (so ``torch.manual_seed`` makes a run
    repeatable and DataLoader workers get different crops) unless ``generator`` is given.
    """

    def __init__(self, data_dir, segment_len: int | None = 128,
                 generator: torch.Generator | None = None):
        self.data_dir = Path(data_dir)
        mapping = _load_json(self.data_dir / "mapping.json")
        self.speaker2id: dict[str, int] = {k: int(v) for k, v in mapping["speaker2id"].items()}
        self.id2speaker: dict[int, str] = {int(k): v for k, v in mapping["id2speaker"].items()}
        metadata = _load_json(self.data_dir / "metadata.json")
        self.n_mels = int(metadata.get("n_mels", 40))
        self.items: list[tuple[str, int, int]] = []     # (feature_path, speaker_id, mel_len)
        for name, utterances in metadata["speakers"].items():
            if name not in self.speaker2id:
                raise ValueError(f"metadata.json names speaker {name!r}, which mapping.json lacks")
            for u in utterances:
                self.items.append((u["feature_path"], self.speaker2id[name], int(u["mel_len"])))
        self.segment_len = segment_len
        self.generator = generator

    @property
    def num_speakers(self) -> int:
        return len(self.speaker2id)

    @property
    def labels(self) -> list[int]:
        return [label for _, label, _ in self.items]

    @property
    def lengths(self) -> list[int]:
        return [n for _, _, n in self.items]

    def with_segment_len(self, segment_len: int | None) -> "SpeakerDataset":
        """A view of the same utterances with another crop length (None: full length)."""
        view = object.__new__(SpeakerDataset)
        view.__dict__.update(self.__dict__)
        view.segment_len = segment_len
        return view

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        path, label, _ = self.items[index]
        mel = _load_mel(self.data_dir / path)
        if self.segment_len is not None and len(mel) > self.segment_len:
            start = int(torch.randint(0, len(mel) - self.segment_len + 1, (1,),
                                      generator=self.generator))
            mel = mel[start:start + self.segment_len]
        return mel, label


def train_valid_split(dataset: SpeakerDataset, valid_fraction: float = 0.1, seed: int = 0,
                      valid_segment_len: int | None = None) -> tuple[Subset, Subset]:
    """Split ``dataset`` into ``(train, valid)`` subsets, stratified by speaker, deterministic in ``seed``.

    Every speaker keeps ``round(valid_fraction * n)`` of its ``n`` utterances for validation
    (at least one when ``n >= 2`` and ``valid_fraction > 0``), so no speaker is missing from
    either side. ``train`` uses ``dataset`` as it is (random crops); ``valid`` is a
    :meth:`~SpeakerDataset.with_segment_len` view with ``valid_segment_len`` (default None:
    full-length utterances, to be batched with :func:`collate_pad` and masks).
    """
    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    g = torch.Generator().manual_seed(seed)
    by_speaker: dict[int, list[int]] = {}
    for i, label in enumerate(dataset.labels):
        by_speaker.setdefault(label, []).append(i)
    train, valid = [], []
    for label in sorted(by_speaker):
        idx = by_speaker[label]
        perm = [idx[j] for j in torch.randperm(len(idx), generator=g).tolist()]
        k = int(round(valid_fraction * len(idx)))
        if valid_fraction > 0 and len(idx) >= 2:
            k = min(max(k, 1), len(idx) - 1)
        valid += perm[:k]
        train += perm[k:]
    return Subset(dataset, sorted(train)), Subset(dataset.with_segment_len(valid_segment_len), sorted(valid))


def lengths_to_mask(lengths, max_len: int | None = None) -> torch.Tensor:
    """``(B, max_len)`` bool mask, True at real frames (position ``t < lengths[b]``)."""
    lengths = torch.as_tensor(lengths)
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def collate_pad(batch):
    """``[(mel (T_i, 40), label)]`` -> ``(mels (B, T, 40) padded with -20, lengths (B,), labels (B,))``."""
    mels, labels = zip(*batch)
    lengths = torch.tensor([len(m) for m in mels], dtype=torch.long)
    return (pad_sequence(list(mels), batch_first=True, padding_value=PAD_VALUE), lengths,
            torch.tensor(labels, dtype=torch.long))


class InferenceDataset(Dataset):
    """The unlabelled test utterances of ``testdata.json``: ``(feature_path, mel (T, 40))``, full length."""

    def __init__(self, data_dir):
        self.data_dir = Path(data_dir)
        testdata = _load_json(self.data_dir / "testdata.json")
        self.n_mels = int(testdata.get("n_mels", 40))
        self.items = [(u["feature_path"], int(u["mel_len"])) for u in testdata["utterances"]]

    @property
    def lengths(self) -> list[int]:
        return [n for _, n in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        path, _ = self.items[index]
        return path, _load_mel(self.data_dir / path)


def collate_inference(batch):
    """``[(feature_path, mel)]`` -> ``(feature_paths, mels (B, T, 40) padded with -20, lengths (B,))``."""
    paths, mels = zip(*batch)
    lengths = torch.tensor([len(m) for m in mels], dtype=torch.long)
    return list(paths), pad_sequence(list(mels), batch_first=True, padding_value=PAD_VALUE), lengths


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Index batches of similar length (longest first): little padding in full-length
    inference. Use as ``DataLoader(ds, batch_sampler=length_sorted_batches(ds.lengths, 32))``.
    Memory grows with the longest utterances: :func:`frame_budget_batches` bounds it."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


# Padded frames per batch in full-length evaluation and prediction (coursekit.speaker_models).
DEFAULT_MAX_FRAMES = 4096


def frame_budget_batches(lengths: Sequence[int], max_frames: int = DEFAULT_MAX_FRAMES,
                         max_batch_size: int | None = None) -> list[list[int]]:
    """Index batches of similar length whose padded size ``len(batch) * longest`` is at most
    ``max_frames``; an utterance longer than ``max_frames`` makes a batch alone.

    Utterances are sorted longest first (ties by index) and each batch takes the next ones while
    the budget (and ``max_batch_size``, if given) allows, so memory per batch is bounded
    whatever the lengths: attention's ``B * L * L`` scores are at most
    ``max(max_frames, L) * L`` for a batch whose longest utterance has ``L`` frames.
    """
    if max_frames < 1:
        raise ValueError(f"max_frames must be at least 1, got {max_frames}")
    if max_batch_size is not None and max_batch_size < 1:
        raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    for i in order:
        batch = batches[-1] if batches else None
        # The batch's first index is its longest utterance: padded size = (n + 1) * that length.
        if (batch and (len(batch) + 1) * max(1, lengths[batch[0]]) <= max_frames
                and (max_batch_size is None or len(batch) < max_batch_size)):
            batch.append(i)
        else:
            batches.append([i])
    return batches


# --------------------------------------------------------------------------------------------
# Predictions
# --------------------------------------------------------------------------------------------

def write_predictions(path, feature_paths: Iterable[str], speaker_names: Iterable[str]) -> None:
    """Write the predictions CSV: header ``Id,Category``, one ``feature_path,speaker`` row each."""
    feature_paths, speaker_names = list(feature_paths), list(speaker_names)
    if len(feature_paths) != len(speaker_names):
        raise ValueError(f"{len(feature_paths)} feature paths but {len(speaker_names)} speaker names")
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(PREDICTION_HEADER)
        writer.writerows(zip(feature_paths, speaker_names))


def read_predictions(path) -> dict[str, str]:
    """Read an ``Id,Category`` CSV into ``{feature_path: speaker}`` (file order).

    Raises ``ValueError`` naming the likely cause for the usual near-misses: a header in
    another case or separated by ``;`` or tabs, no header at all, an extra first column
    (pandas' index), a row without exactly two fields, an empty field, a repeated Id.
    """
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as f:       # tolerate a BOM (Excel)
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"{path} is empty; expected the header 'Id,Category' and one row per test utterance")
    _check_header(path, rows)
    out: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue                                             # blank line
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise ValueError(f"{path}, line {line}: expected two fields 'feature_path,speaker', got {row!r}")
        key, value = row[0].strip(), row[1].strip()
        if key in out and value.endswith(".pt") and not key.endswith(".pt"):
            raise ValueError(f"{path}, line {line}: Id {key!r} with Category {value!r}: are the columns swapped? "
                             "Each row is 'feature_path,speaker' (Id first)")
        if key in out:
            raise ValueError(f"{path}, line {line}: Id {key!r} appears twice (first on line {first_line[key]}); "
                             "expected one row per test utterance")
        out[key] = value
        first_line[key] = line
    return out


def _check_header(path: Path, rows: list[list[str]]) -> None:
    """``ValueError`` with the likely cause unless the first row is exactly ``Id,Category``."""
    got = [h.strip() for h in rows[0]]
    if got == PREDICTION_HEADER:
        return
    text = ",".join(rows[0])
    expected = f"{path}: expected the header 'Id,Category', got {text!r}"
    joined = text.replace(" ", "")
    if len(got) == 1 and any(sep in got[0] for sep in (";", "\t")):
        sep = "';'" if ";" in got[0] else "tabs"
        raise ValueError(f"{expected}: the fields are separated by {sep}; the file must be comma-separated "
                         "(write it with write_predictions, or csv.writer)")
    if [h.lower() for h in got] == ["id", "category"]:
        raise ValueError(f"{expected}: the header is case-sensitive")
    if len(got) == 3 and got[1:] == PREDICTION_HEADER:
        raise ValueError(f"{expected}: an extra first column (a pandas index?); write the DataFrame with "
                         "index=False, or use write_predictions")
    if len(got) == 2 and (got[0].endswith(".pt") or "uttr-" in joined):
        raise ValueError(f"{expected}: the first line is already a prediction; the file needs the header line "
                         "'Id,Category' first")
    raise ValueError(expected)


def _some(items, n: int = 3) -> str:
    items = sorted(items)
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def _id_mismatch(pred_csv, pred: dict[str, str], truth: dict[str, str]) -> str | None:
    """Why the predictions' Ids are not the test utterances' (None when they are)."""
    missing = truth.keys() - pred.keys()
    unknown = pred.keys() - truth.keys()
    if not missing and not unknown:
        return None
    if not pred:
        return (f"{pred_csv} has the header but no rows; expected one row per test utterance "
                f"({len(truth)} of them)")
    example = sorted(truth)[0]
    # Near-misses: the same utterances written another way.
    basename = {k: k.replace("\\", "/").rsplit("/", 1)[-1] for k in unknown}
    if unknown and sum(b in missing for b in basename.values()) >= len(unknown) / 2:
        k = sorted(k for k in unknown if basename[k] in missing)[0]
        return (f"{pred_csv}: Ids carry a folder ({k!r}); Id must be the feature_path exactly as in "
                f"testdata.json ({basename[k]!r}), without a folder")
    if unknown and sum(f"{k}.pt" in missing for k in unknown) >= len(unknown) / 2:
        k = sorted(k for k in unknown if f"{k}.pt" in missing)[0]
        return (f"{pred_csv}: Ids lack the '.pt' extension ({k!r}); Id must be the feature_path exactly as "
                f"in testdata.json ({k + '.pt'!r})")
    if unknown and sum(v in truth for v in pred.values()) >= len(pred) / 2:
        return (f"{pred_csv}: the Category column holds feature paths ({_some(v for v in pred.values() if v in truth)}): "
                "are the columns swapped? Each row is 'feature_path,speaker' (Id first)")
    if missing and unknown and not (pred.keys() & truth.keys()):
        return (f"{pred_csv}: none of its {len(pred)} Ids is a test utterance of this dataset (e.g. "
                f"{_some(unknown, 2)}; expected e.g. {example!r}): predictions for another data folder or seed?")
    if missing:
        return (f"{pred_csv}: no prediction for {len(missing)} of {len(truth)} test utterances "
                f"({_some(missing)}); expected one row per entry of testdata.json")
    return (f"{pred_csv}: {len(unknown)} Ids are not test utterances ({_some(unknown)}); "
            "expected the feature_path values of testdata.json")


def _category_mismatch(pred_csv, pred: dict[str, str], truth: dict[str, str]) -> str | None:
    """Why no Category is a speaker name at all (None when some are): the file would score 0."""
    speakers = set(truth.values())
    categories = set(pred.values())
    if categories & speakers:
        return None
    example = sorted(speakers)[0]
    if all(c.lstrip("+-").isdigit() for c in categories):
        return (f"{pred_csv}: Category holds integers ({_some(categories, 2)}): class indices? It must be the "
                f"speaker name, as in mapping.json (e.g. {example!r}): map a predicted index i to "
                "id2speaker[str(i)] (dataset.id2speaker[i]) before writing")
    return (f"{pred_csv}: no Category is the speaker of any test utterance (got e.g. {_some(categories, 2)}; "
            f"expected speaker names as in mapping.json, e.g. {example!r})")


def accuracy_from_files(pred_csv, answers_csv) -> float:
    """Fraction of test utterances whose predicted speaker equals the answer.

    Both files are ``Id,Category`` CSVs. The predictions must have exactly the answers' Ids,
    and a file none of whose categories is a speaker name scores nothing: both raise
    ``ValueError`` naming the likely cause (missing or unknown Ids, Ids with a folder or without
    ``.pt``, swapped columns, class indices instead of speaker names).
    """
    pred, truth = read_predictions(pred_csv), read_predictions(answers_csv)
    if not truth:
        raise ValueError(f"{answers_csv} has no rows")
    why = _id_mismatch(pred_csv, pred, truth) or _category_mismatch(pred_csv, pred, truth)
    if why:
        raise ValueError(why)
    return sum(pred[k] == v for k, v in truth.items()) / len(truth)
