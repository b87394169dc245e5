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

The first table gives per configuration the mean, minimum, maximum, spread (max - min) and
standard deviation of test accuracy, the rung of ``autograder/course.py``, how far the lowest
run is above it, the fair rung (``MARGIN`` = 0.02 below the lowest run, rounded down to 0.01:
what the course's rungs are set to) and how many runs reach the rung; the second, each thread
count's runs and mean training time; the configurations without a rung (the Conformer alone,
and with AM-softmax only: what one Boss part adds), where the CSV has them; then whether the
ladder's order holds on every run (each configuration's lowest run above the highest run of the
one below, and no run reaching the next configuration's rung). ``tests/test_ladder.py`` checks
all of that against the runs kept in ``benchmarks/results/hw4_rungs.csv``.

A run took 4-19 minutes on the 2-core development machine, two runs at a time (Simple fastest,
Boss slowest; the README's table has each configuration's times), so a matrix is long: ``--csv``
appends each run as it finishes, and separate invocations (for example one per core, each with
one thread) can write separate files that are concatenated and read back with ``--from-csv``.
"""
from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from speaker_ladder import CONFIGS, PARTS, SOLUTION, dataset_paths, make_model  # noqa: E402
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


MARGIN = 0.02     # a rung sits at least this far below its configuration's lowest run (12 of 600 utterances)


def fair_threshold(lowest: float, margin: float = MARGIN) -> float:
    """The rung for a configuration whose lowest run scored ``lowest``: ``margin`` below it,
    rounded down to 0.01."""
    return math.floor(round((lowest - margin) * 100, 6)) / 100


def by_config(runs: list[dict]) -> dict[str, list[float]]:
    """Test accuracies per configuration, in ladder order (the rungs' order)."""
    acc: dict[str, list[float]] = {}
    for name in RUNGS:
        found = [float(r["test_acc"]) for r in runs if r["config"] == name]
        if found:
            acc[name] = found
    return acc


def summary_rows(runs: list[dict]) -> list[tuple]:
    """One row per configuration: runs, mean, min, max, spread, sd, the rung (course.py), its
    margin below the lowest run, the fair rung at MARGIN, and how many runs reach the rung."""
    rows = []
    for name, acc in by_config(runs).items():
        rung = RUNGS[name]
        rows.append((name, str(len(acc)), f"{statistics.mean(acc):.3f}", f"{min(acc):.3f}", f"{max(acc):.3f}",
                     f"{max(acc) - min(acc):.3f}", f"{statistics.stdev(acc):.3f}" if len(acc) > 1 else "-",
                     f"{rung.threshold:.2f}", f"{min(acc) - rung.threshold:+.3f}", f"{fair_threshold(min(acc)):.2f}",
                     f"{sum(a >= rung.threshold for a in acc)}/{len(acc)}"))
    return rows


def unranked_rows(runs: list[dict]) -> list[tuple]:
    """The configurations without a rung (``speaker_ladder.CONFIGS``: what one Boss part adds on
    its own): runs, mean, min and max test accuracy."""
    rows = []
    for name in CONFIGS:
        acc = [float(r["test_acc"]) for r in runs if r["config"] == name]
        if name not in RUNGS and acc:
            rows.append((name, str(len(acc)), f"{statistics.mean(acc):.3f}", f"{min(acc):.3f}", f"{max(acc):.3f}"))
    return rows


def ladder_problems(runs: list[dict]) -> list[str]:
    """Where the ladder is not honest: a configuration whose lowest run is not above every run of
    the configuration below it, or a rung reached by a run of the configuration below it."""
    acc = by_config(runs)
    names = list(acc)
    problems = []
    for lower, upper in zip(names, names[1:]):
        if min(acc[upper]) <= max(acc[lower]):
            problems.append(f"{upper}'s lowest run {min(acc[upper]):.3f} is not above {lower}'s highest {max(acc[lower]):.3f}")
        if max(acc[lower]) >= RUNGS[upper].threshold:
            problems.append(f"a {lower} run ({max(acc[lower]):.3f}) reaches the {upper} rung ({RUNGS[upper].threshold:.2f})")
    return problems


def per_thread_rows(runs: list[dict]) -> list[tuple]:
    """Mean test accuracy and training time per configuration and thread count."""
    rows = []
    for name in by_config(runs):
        for threads in sorted({int(r["threads"]) for r in runs if r["config"] == name}):
            sel = [r for r in runs if r["config"] == name and int(r["threads"]) == threads]
            rows.append((name, str(threads), ",".join(sorted(str(r["seed"]) for r in sel)),
                         " ".join(f"{float(r['test_acc']):.3f}" for r in sel),
                         f"{statistics.mean(float(r['train_s']) for r in sel):.0f}"))
    return rows


def report(runs: list[dict], markdown: bool) -> None:
    print_table(("config", "runs", "mean test acc", "min", "max", "spread", "sd", "rung", "lowest - rung",
                 f"rung at {MARGIN} below lowest", "runs reaching it"), summary_rows(runs), markdown)
    print()
    print_table(("config", "threads", "seeds", "test acc", "train s (mean)"), per_thread_rows(runs), markdown)
    unranked = unranked_rows(runs)
    if unranked:
        print("\nwithout a rung:\n")
        print_table(("config", "runs", "mean test acc", "min", "max"), unranked, markdown)
    problems = ladder_problems(runs)
    print("\nladder order: " + ("holds on every run" if not problems else "; ".join(problems)))


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

    if args.from_csv:
        with open(args.from_csv, newline="") as f:
            runs = list(csv.DictReader(f))
        report(runs, args.markdown)
        return 0

    data, answers = dataset_paths(args.data, args.answers)
    if data is None:
        return 2
    configs = [c for c in args.configs.split(",") if c]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        print(f"error: unknown configuration(s) {unknown}; expected some of {', '.join(CONFIGS)}", file=sys.stderr)
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
    report(runs, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
