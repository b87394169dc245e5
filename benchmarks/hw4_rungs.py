"""Fair rungs for hw4: how much a reference configuration's test accuracy varies with the
training seed and the number of torch threads, next to the rung it is meant to reach.

    .venv/bin/python benchmarks/hw4_rungs.py [--data data/speakers] [--configs simple,medium,strong,boss]
        [--seeds 0,1,2] [--threads 1,2] [--steps 2500] [--csv runs.csv] [--markdown]

Each (configuration, seed, thread count) is one run of the ladder's recipe
(``benchmarks/speaker_ladder.py``: same models, steps, batch 32, AdamW 1e-3, warm-up + cosine,
validation every 250 steps, best checkpoint), with ``torch.manual_seed(seed)`` for the initial
weights, crops and shuffling. The train/valid split stays the notebook's (seed 0), so runs differ
only in what a student's rerun would change. Thread counts matter too: float sums in a
different order give another training trajectory. Accuracy is measured on the hidden test
labels, as the grader measures ``predictions.csv``.

The table gives per configuration the mean, minimum, maximum and spread (max - min) of test
accuracy, and how many runs reach the configuration's rung in ``autograder/course.py``: a rung
is fair when the reference configuration reaches it in (nearly) every run, not only in the run
that set the threshold. The full matrix (4 configurations x 3 seeds x 2 thread counts at 2500
steps) takes about 2.5 hours on 2 cores; ``--csv`` appends each run as it finishes, so a long
matrix can be split over several invocations and read back with ``--from-csv``.
"""
from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from speaker_ladder import PARTS, SOLUTION, dataset_paths, make_model  # noqa: E402
from tables import print_table  # noqa: E402
from autograder.course import PREDICTION_TASKS  # noqa: E402
from autograder.notebooks import reference_namespace  # noqa: E402
from coursekit.speaker_data import (SpeakerDataset, accuracy_from_files,  # noqa: E402
                                    train_valid_split, write_predictions)
from coursekit.speaker_models import predict, train_speaker_model  # noqa: E402

RUN_FIELDS = ("config", "seed", "threads", "steps", "train_s", "valid_acc", "best_step", "test_acc")
RUNGS = {r.label.lower(): r for r in PREDICTION_TASKS["hw4_speaker_id"].rungs}


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def run_one(name: str, seed: int, threads: int, steps: int, data: Path, answers: Path, parts: dict,
            dataset: SpeakerDataset, train_set, valid_set) -> dict:
    """Train one configuration with one seed and thread count; its test accuracy and times."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = make_model(name, dataset.num_speakers, parts)
    result = train_speaker_model(model, train_set, valid_set, steps=steps, seed=seed, device="cpu",
                                 valid_every=min(250, steps), progress=sys.stderr.isatty())
    paths, speakers = predict(model, data, dataset.id2speaker, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        write_predictions(Path(tmp) / "predictions.csv", paths, speakers)
        test_acc = accuracy_from_files(Path(tmp) / "predictions.csv", answers)
    return {"config": name, "seed": seed, "threads": threads, "steps": steps, "train_s": round(result.seconds, 1),
            "valid_acc": round(result.best_accuracy, 4), "best_step": result.best_step, "test_acc": round(test_acc, 4)}


def summary_rows(runs: list[dict]) -> list[tuple]:
    """One row per configuration (in first-seen order): runs, mean, min, max, spread, sd, rung."""
    rows = []
    for name in dict.fromkeys(r["config"] for r in runs):
        acc = [float(r["test_acc"]) for r in runs if r["config"] == name]
        rung = RUNGS.get(name)
        reached = f"{sum(a >= rung.threshold for a in acc)}/{len(acc)}" if rung else "-"
        rows.append((name, str(len(acc)), f"{statistics.mean(acc):.3f}", f"{min(acc):.3f}", f"{max(acc):.3f}",
                     f"{max(acc) - min(acc):.3f}", f"{statistics.stdev(acc):.3f}" if len(acc) > 1 else "-",
                     f"{rung.threshold:.2f}" if rung else "-", reached))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=None, help="hw4 data folder (default: $HW4_DATA or data/speakers)")
    p.add_argument("--answers", type=Path, default=None, help="hidden labels (default: <data>-answers.csv)")
    p.add_argument("--configs", default="simple,medium,strong,boss")
    p.add_argument("--seeds", default="0,1,2", help="training seeds, comma-separated")
    p.add_argument("--threads", default="1,2", help="torch thread counts, comma-separated")
    p.add_argument("--steps", type=int, default=2500)
    p.add_argument("--csv", type=Path, default=None, help="append each finished run to this CSV")
    p.add_argument("--from-csv", type=Path, default=None, help="only print the table of the runs in this CSV")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown (for the README)")
    args = p.parse_args(argv)

    header = ("config", "runs", "mean test acc", "min", "max", "spread", "sd", "rung", "runs reaching it")
    if args.from_csv:
        with open(args.from_csv, newline="") as f:
            runs = list(csv.DictReader(f))
        print_table(header, summary_rows(runs), args.markdown)
        return 0

    data, answers = dataset_paths(args.data, args.answers)
    if data is None:
        return 2
    configs = [c for c in args.configs.split(",") if c]
    unknown = [c for c in configs if c not in RUNGS]
    if unknown:
        print(f"error: unknown configuration(s) {unknown}; expected some of {sorted(RUNGS)}", file=sys.stderr)
        return 2
    parts = reference_namespace(SOLUTION, PARTS)
    dataset = SpeakerDataset(data)
    train_set, valid_set = train_valid_split(dataset, valid_fraction=0.1, seed=0)    # the notebook's split
    if args.csv and not args.csv.exists():
        with open(args.csv, "w", newline="") as f:
            csv.writer(f).writerow(RUN_FIELDS)
    runs = []
    start = time.perf_counter()
    for name in configs:
        for threads in _ints(args.threads):
            for seed in _ints(args.seeds):
                print(f"== {name}, seed {seed}, {threads} thread(s), {args.steps} steps", file=sys.stderr, flush=True)
                run = run_one(name, seed, threads, args.steps, data, answers, parts, dataset, train_set, valid_set)
                runs.append(run)
                print(f"   test {run['test_acc']:.3f}, valid {run['valid_acc']:.3f} (step {run['best_step']}), "
                      f"{run['train_s']:.0f} s", file=sys.stderr, flush=True)
                if args.csv:
                    with open(args.csv, "a", newline="") as f:
                        csv.DictWriter(f, RUN_FIELDS).writerow(run)
    print(f"{len(runs)} runs in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    print_table(header, summary_rows(runs), args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
