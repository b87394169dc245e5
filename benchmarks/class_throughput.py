"""Class-scale grading throughput: the kit (sandboxed) vs plain serial `nbgrader autograde`.

    .venv/bin/python benchmarks/class_throughput.py [--students 40] [--markdown]

Builds a class of hw2_attention submissions (the solution and single mutants from
``mutants/hw2_attention.py``, round robin) and grades the same folder three ways:

1. ``python -m autograder grade --jobs 1`` (sandbox on where the platform allows it);
2. ``python -m autograder grade --jobs 2``;
3. plain ``nbgrader autograde hw2_attention`` over the same submissions, in a scratch course
   folder holding the same gradebook (nbgrader's own serial loop; no feedback, no sandbox,
   no evidence checks).

Each is a fresh process timed end to end (wall clock), after one untimed warm-up run of the
kit that fills the answer-key cache, so all three start with the same gradebook. Prints
seconds per submission and throughput relative to plain nbgrader. The kit's runs include what
plain nbgrader does not do: feedback HTML for every student, evidence re-checks and the
sandbox.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from tables import print_table  # noqa: E402
from autograder import notebooks  # noqa: E402
from autograder.build import generate_gradebook  # noqa: E402
from autograder.mutants import load_mutants, submission_with  # noqa: E402

HW = "hw2_attention"


def make_class(submitted: Path, n: int) -> None:
    mutants = load_mutants(ROOT, HW)
    for i in range(n):
        chosen = [] if i % 4 == 0 else [mutants[i % len(mutants)]]
        notebooks.write(submission_with(ROOT, HW, chosen), submitted / f"student{i:03d}" / HW / f"{HW}.ipynb")


def env() -> dict:
    bindir = os.path.dirname(sys.executable)
    return dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))


def timed(cmd: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True)
    return time.perf_counter() - t0, proc


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--students", type=int, default=40)
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    n = args.students
    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp:
        tmp = Path(tmp)
        make_class(tmp / "submitted", n)
        kit = [sys.executable, "-m", "autograder", "grade", str(tmp / "submitted"), "--assignment", HW, "--quiet"]
        _, warm = timed(kit + ["--out", str(tmp / "warmup"), "--jobs", "2"], ROOT)   # fills the answer-key cache
        if warm.returncode != 0:
            print(warm.stderr, file=sys.stderr)
            return 1
        rows = []
        for jobs in (1, 2):
            seconds, proc = timed(kit + ["--out", str(tmp / f"kit{jobs}"), "--jobs", str(jobs)], ROOT)
            assert proc.returncode == 0, proc.stderr
            rows.append((f"kit, --jobs {jobs}", seconds))
        # plain nbgrader: a scratch course with the same gradebook and submissions
        course = tmp / "plain"
        generate_gradebook(ROOT, HW, course / "release", course / "gradebook.db")
        (course / "source" / HW).mkdir(parents=True)
        shutil.copytree(tmp / "submitted", course / "submitted")
        seconds, proc = timed([sys.executable, "-m", "nbgrader", "autograde", HW, "--force", "--create",
                               f"--CourseDirectory.root={course}", "--Execute.timeout=60",
                               f"--CourseDirectory.db_url=sqlite:///{course / 'gradebook.db'}",
                               "--CourseDirectory.ignore=['*.py','.ipynb_checkpoints']"], course)
        graded = len(list((course / "autograded").glob(f"*/{HW}/{HW}.ipynb")))
        if proc.returncode != 0 or graded != n:
            print(f"plain nbgrader graded {graded} of {n} (exit {proc.returncode})", file=sys.stderr)
        rows.append(("plain nbgrader autograde (serial)", seconds))

    base = rows[-1][1]
    header = ("grader", "submissions", "total s", "s / submission", "throughput vs plain nbgrader")
    lines = [(name, str(n), f"{s:.0f}", f"{s / n:.2f}", f"{base / s:.2f}x") for name, s in rows]
    info = f"{os.cpu_count()} CPUs, load before start {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print_table(header, lines, args.markdown)
    print(info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
