"""The hw4 ladder: train the four reference speaker classifiers and print a table.

    .venv/bin/python benchmarks/speaker_ladder.py [--data data/speakers] [--steps 2500] [--markdown]

Simple = the course's sample model (Transformer encoder layer, mean pooling, softmax head);
Medium = that Transformer tuned (two layers, four heads); Strong = Conformer blocks with
self-attention pooling and a softmax head; Boss = the same Conformer with self-attention pooling
and AM-softmax. Two configurations without a rung show what each Boss part adds on its own:
``conformer`` (the Conformer blocks with mean pooling and a softmax head, the Strong of the
first rungs) and ``conformer_ams`` (mean pooling and AM-softmax). Every configuration gets the
same recipe (steps, batch 32, AdamW 1e-3 with warm-up and cosine decay, validation every 250
steps on whole utterances, best checkpoint), so the table compares models, not effort. The
Conformer parts are the hw4 reference answers, taken from
``solutions/hw4_speaker_id/hw4_speaker_id.py`` (one copy of the answers).

Accuracy is measured on the hidden test utterances (``<data>-answers.csv``), exactly as the
grader measures a student's ``predictions.csv``. Training time is wall-clock on this machine
with ``--threads`` torch threads (default 2: the course's 2-core budget).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from tables import print_table  # noqa: E402
from autograder.notebooks import reference_namespace  # noqa: E402
from coursekit.speaker_data import (SpeakerDataset, accuracy_from_files, default_data_dir,  # noqa: E402
                                    train_valid_split, write_predictions)
from coursekit.speaker_models import (conformer_classifier, count_parameters, predict,  # noqa: E402
                                      sample_model, train_speaker_model)
from coursekit.speakers import default_answers_path  # noqa: E402

SOLUTION = ROOT / "solutions" / "hw4_speaker_id" / "hw4_speaker_id.py"
PARTS = ("ConformerFeedForward", "ConformerConvModule", "ConformerBlock", "SelfAttentionPooling", "AMSoftmax")
CONFIGS = ("simple", "medium", "strong", "boss", "conformer", "conformer_ams")
ORIGINAL_THRESHOLDS = {"simple": 0.61, "medium": 0.70, "strong": 0.78, "boss": 0.865}   # ML2022 HW4, public


def make_model(name: str, n_speakers: int, parts: dict, d_model: int = 80, dim_feedforward: int = 256,
               kernel_size: int = 15) -> torch.nn.Module:
    """Configuration ``name`` (one of CONFIGS) built from ``parts``; the sizes are the ladder's
    unless a test asks for a small copy."""
    conformer = dict(d_model=d_model, num_blocks=2, nhead=2, ff_expansion=2, kernel_size=kernel_size, dropout=0.1)
    block, pooling, margin = parts["ConformerBlock"], parts["SelfAttentionPooling"], parts["AMSoftmax"]
    if name == "simple":
        return sample_model(n_speakers, d_model=d_model, nhead=2, dim_feedforward=dim_feedforward)
    if name == "medium":
        return sample_model(n_speakers, d_model=d_model, nhead=4, dim_feedforward=dim_feedforward, num_layers=2)
    if name == "strong":
        return conformer_classifier(n_speakers, block, pooling, None, **conformer)
    if name == "boss":
        return conformer_classifier(n_speakers, block, pooling, margin, **conformer)
    if name == "conformer":                 # no rung: the Conformer alone (mean pooling, softmax head)
        return conformer_classifier(n_speakers, block, None, None, **conformer)
    if name == "conformer_ams":             # no rung: mean pooling with AM-softmax
        return conformer_classifier(n_speakers, block, None, margin, **conformer)
    raise ValueError(f"unknown configuration {name!r}; expected one of {', '.join(CONFIGS)}")


def dataset_paths(data: Path | None, answers: Path | None) -> tuple[Path | None, Path | None]:
    """The hw4 data folder and its hidden labels (defaults as the notebook's); (None, None),
    saying why, when either is missing."""
    data = data or default_data_dir()
    answers = answers or default_answers_path(data)
    if not (data / "metadata.json").is_file() or not answers.is_file():
        print(f"error: need a hw4 dataset in {data} and its answers in {answers}; "
              "make them with `python -m coursekit.speakers data/speakers`", file=sys.stderr)
        return None, None
    return data, answers


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=None, help="hw4 data folder (default: $HW4_DATA or data/speakers)")
    p.add_argument("--answers", type=Path, default=None, help="hidden labels (default: <data>-answers.csv)")
    p.add_argument("--configs", default="simple,medium,strong,boss")
    p.add_argument("--steps", type=int, default=2500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown (for the README)")
    args = p.parse_args(argv)

    data, answers = dataset_paths(args.data, args.answers)
    if data is None:
        return 2
    torch.set_num_threads(args.threads)
    parts = reference_namespace(SOLUTION, PARTS)
    torch.set_num_threads(args.threads)          # the notebook's setup cell may change it
    dataset = SpeakerDataset(data)
    train_set, valid_set = train_valid_split(dataset, valid_fraction=0.1, seed=args.seed)
    rows = []
    for name in args.configs.split(","):
        torch.manual_seed(args.seed)
        model = make_model(name, dataset.num_speakers, parts)
        print(f"== {name}: {count_parameters(model):,} parameters, {args.steps} steps", file=sys.stderr, flush=True)
        result = train_speaker_model(model, train_set, valid_set, steps=args.steps, seed=args.seed,
                                     device="cpu", progress=sys.stderr.isatty())
        start = time.perf_counter()
        paths, speakers = predict(model, data, dataset.id2speaker, device="cpu")
        with tempfile.TemporaryDirectory() as tmp:
            write_predictions(Path(tmp) / "predictions.csv", paths, speakers)
            test_acc = accuracy_from_files(Path(tmp) / "predictions.csv", answers)
        rows.append((name, count_parameters(model), args.steps, result.seconds,
                     time.perf_counter() - start, result.best_accuracy, result.best_step, test_acc))
        print(f"   {name}: valid {result.best_accuracy:.3f} (step {result.best_step}), test {test_acc:.3f}, "
              f"{result.seconds:.0f} s training", file=sys.stderr, flush=True)

    header = ("config", "params", "steps", "train s", "predict s", "valid acc", "best step", "test acc",
              "original threshold")
    lines = [(r[0], f"{r[1]:,}", str(r[2]), f"{r[3]:.0f}", f"{r[4]:.1f}", f"{r[5]:.3f}", str(r[6]),
              f"{r[7]:.3f}", f"{ORIGINAL_THRESHOLDS[r[0]]:.3f}" if r[0] in ORIGINAL_THRESHOLDS else "-")
             for r in rows]
    print_table(header, lines, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
