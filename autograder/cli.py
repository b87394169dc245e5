"""Command line: python -m autograder build | grade | check | demo | site."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .course import CELL_TIMEOUT_S, course_root


def cmd_build(args) -> int:
    from . import build
    root = course_root()
    if args.check:
        drift = build.check(root)
        if drift:
            print("assignments/ (or another generated file) drifted from its source; run "
                  "`python -m autograder build` and commit:", file=sys.stderr)
            for line in drift:
                print(f"  {line}", file=sys.stderr)
            return 1
        print("build check: every generated file matches its source.")
        return 0
    t0 = time.perf_counter()
    try:
        build.build(root, force=args.force)
    except build.BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"built lectures, solutions, assignments, gradebook and examples in {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_grade(args) -> int:
    from .grade import GradingError, Interrupted, grade, gradebook_table
    from .outputs import OutputError
    from .sandbox import SandboxBroken
    try:
        results = grade(course_root(), Path(args.submitted), Path(args.out), args.assignment, args.jobs,
                        args.timeout, args.cell_timeout, progress=not args.quiet,
                        answers=Path(args.answers) if args.answers else None,
                        memory_mb=args.memory_limit or None, isolate=not args.no_sandbox,
                        gradebook_url=args.gradebook, write_gradebook=not args.no_gradebook)
    except (GradingError, OutputError, SandboxBroken) as exc:
        if getattr(exc, "results", None):
            print(gradebook_table(exc.results))
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (Interrupted, KeyboardInterrupt):
        print("interrupted: every executor and kernel of this run was stopped; no CSV files were written",
              file=sys.stderr)
        return 130
    print(gradebook_table(results))
    print(f"\n{len(results)} submission(s) graded -> {args.out}/grades.csv, scores.csv, feedback/")
    return 0


def cmd_check(args) -> int:
    from .selfcheck import run_check
    return run_check(Path(args.notebook), as_json=args.json)


def cmd_demo(args) -> int:
    from . import build
    from .grade import GradingError, grade, gradebook_table
    from .outputs import OutputError
    root = course_root()
    print("== build: solutions/ -> assignments/, gradebook, example class")
    try:
        build.build(root)
    except build.BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out)
    print(f"== grade the example class in examples/submitted/ -> {out}/")
    out.mkdir(parents=True, exist_ok=True)
    answers = build.example_answers(root, out)      # the hidden labels of each prediction task's example dataset
    try:
        results = grade(root, root / "examples" / "submitted", out, jobs=args.jobs, answers=answers or None)
    except (GradingError, OutputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n== gradebook\n")
    print(gradebook_table(results))
    print(f"\nwrote {out}/grades.csv, {out}/scores.csv and {out}/feedback/<student>/<assignment>/*.html")
    return 0


def cmd_site(args) -> int:
    from .site import SiteError, build_site, execute_lectures
    root = course_root()
    out = Path(args.out)
    t0 = time.perf_counter()
    try:
        if args.executed:
            executed = Path(args.executed)
        else:
            executed = out.parent / "executed"
            print(f"== execute the lectures ({args.jobs} at a time) -> {executed}/")
            execute_lectures(root, executed, jobs=args.jobs)
        print(f"== write the site -> {out}/")
        build_site(root, out, executed)
    except SiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"site built in {time.perf_counter() - t0:.0f} s: open {(out / 'index.html').resolve().as_uri()}")
    return 0


def _answers_help() -> str:
    """``grade --answers``: which files it is for, from the course configuration."""
    from .course import PREDICTION_TASKS
    parts = [f"{hw}'s {task.filename}: {task.labels_hint}" for hw, task in PREDICTION_TASKS.items()]
    text = (f"hidden test labels for the parts graded from a predictions file ({'; '.join(parts)})" if parts
            else "hidden test labels (no part of this course is graded from a predictions file)")
    return text.replace("%", "%%")


def _venv_on_path() -> None:
    """nbgrader shells out to `alembic` and jupyter finds kernels via PATH: make sure this
    interpreter's scripts are found even when the virtual environment is not activated."""
    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def main(argv: list[str] | None = None) -> int:
    _venv_on_path()
    parser = argparse.ArgumentParser(prog="python -m autograder",
                                     description="Build, self-check and grade the course's nbgrader assignments.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="regenerate notebooks, assignments/, the gradebook and the example class")
    p.add_argument("--check", action="store_true", help="only report generated files that drifted from their sources")
    p.add_argument("--force", action="store_true", help="overwrite notebooks edited by hand since they were generated")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("grade", help="grade SUBMITTED/<student_id>/<assignment>/<notebook>.ipynb")
    p.add_argument("submitted")
    p.add_argument("--out", required=True, help="writes grades.csv, scores.csv and feedback/ here")
    p.add_argument("--assignment", help="grade only this assignment")
    p.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    p.add_argument("--timeout", type=float, default=600, help="whole-notebook time limit in seconds (default 600)")
    p.add_argument("--cell-timeout", type=int, default=CELL_TIMEOUT_S, help=f"per-cell limit (default {CELL_TIMEOUT_S})")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--memory-limit", type=int, default=4096, metavar="MB",
                   help="address-space limit per submission in MB (default 4096; 0: none)")
    p.add_argument("--no-sandbox", action="store_true",
                   help="do not run kernels in the sandbox (by default, where bubblewrap works: each kernel sees "
                        "only the Python installation and the course packages, read-only, no network, its own "
                        "/proc and private temporary folders, under an unprivileged uid)")
    p.add_argument("--gradebook", metavar="DB_URL",
                   help="nbgrader gradebook to write the results into (default: CourseDirectory.db_url of the course's "
                        "nbgrader_config.py, i.e. gradebook.db in the course root; $AUTOGRADER_GRADEBOOK overrides)")
    p.add_argument("--no-gradebook", action="store_true", help="write only OUT (CSV files and feedback)")
    p.add_argument("--answers", help=_answers_help())
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("check", help="self-check a notebook: run it and report the visible tests")
    p.add_argument("notebook")
    p.add_argument("--json", action="store_true", help="print {grade_id: {passed, why}} of the visible tests as JSON")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("demo", help="build, grade the bundled example class, print the gradebook")
    p.add_argument("--out", default="demo_output")
    p.add_argument("--jobs", type=int, default=2)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("site", help="the course website for self-study: static HTML of the lectures (executed), "
                                    "the released homework and the overview, offline")
    p.add_argument("--out", default="build/site", help="the site's folder, emptied first (default build/site)")
    p.add_argument("--executed", metavar="DIR", help="take the executed lectures from DIR/<lecture>.ipynb instead of "
                                                     "executing them (into OUT/../executed)")
    p.add_argument("--jobs", type=int, default=2, help="lectures executed at once (default 2)")
    p.set_defaults(func=cmd_site)

    args = parser.parse_args(argv)
    return args.func(args)
