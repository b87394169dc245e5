"""Wall time to grade ONE correct submission, end to end, as an instructor runs it.

    .venv/bin/python benchmarks/grade_time.py [--runs 3] [--assignment hw1_embeddings]

Each run is a fresh `python -m autograder grade` process (answer key rebuilt from solutions/,
kernel started, hidden tests run, feedback written), so the time includes every fixed cost.
Prints a markdown table (it goes in the README). Target for hw1: under 15 s on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from autograder.course import available_assignments  # noqa: E402
from autograder.course import PREDICTION_TASKS  # noqa: E402
from autograder.mutants import submission_with  # noqa: E402
from autograder import notebooks  # noqa: E402


def time_grade(assignment: str, runs: int, cold: bool) -> list[float]:
    """cold: every run starts with an empty answer-key cache (as after editing solutions/)."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        sub = Path(tmp) / "submitted"
        notebooks.write(submission_with(ROOT, assignment), sub / "student" / assignment / f"{assignment}.ipynb")
        extra = []
        task = PREDICTION_TASKS.get(assignment)
        if task:   # hw4: a perfect predictions.csv and the labels it is graded against (the task's example hooks)
            task.hook("example_predictions")(sub / "student" / assignment / task.filename, 1.0)
            task.hook("example_answers")(Path(tmp) / "answers.csv")
            extra = ["--answers", str(Path(tmp) / "answers.csv")]
        env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
        for i in range(runs):
            if cold:
                env["XDG_CACHE_HOME"] = tempfile.mkdtemp(dir=tmp)
            out = Path(tmp) / f"out{i}"
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(sub), "--out", str(out),
                                   "--assignment", assignment, "--quiet", *extra], cwd=ROOT, env=env,
                                  capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            if proc.returncode != 0 or ",student," in (out / "grades.csv").read_text():
                sys.exit(f"grading failed:\n{proc.stdout}\n{proc.stderr}")
            score, max_score = (out / "grades.csv").read_text().splitlines()[1].split(",")[2:]
            if score != max_score:
                sys.exit(f"the correct submission scored {score}/{max_score}")
            shutil.rmtree(out)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--assignment", action="append")
    args = parser.parse_args()
    hws = args.assignment or available_assignments(ROOT)
    print(f"machine: {os.cpu_count()} cores; {args.runs} runs each; wall seconds per `grade` of one correct submission\n")
    print("| assignment | answer-key cache | runs | min (s) | median (s) | max (s) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for hw in hws:
        for cold in (True, False):
            t = time_grade(hw, args.runs, cold)
            print(f"| {hw} | {'cold (key built)' if cold else 'warm'} | {len(t)} | {min(t):.1f} | "
                  f"{statistics.median(t):.1f} | {max(t):.1f} |", flush=True)


if __name__ == "__main__":
    main()
