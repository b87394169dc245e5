"""`python -m autograder check NOTEBOOK`: a student's self-check before submitting.

Runs the notebook top to bottom in a fresh kernel (as nbgrader's validate does, with
``NBGRADER_EXECUTION=validate`` so long training is shortened), with the grader's executor
(:class:`autograder.execution.GradingClient`) and each test cell in its grading form
(:func:`autograder.evidence.grading_source`, expected values kept: the comparison happens
here), then prints each test cell's pass/fail and points by the grader's pass rule. Only the
visible tests exist in a student's notebook, so passing here does not guarantee full marks: the
hidden tests run when the instructor grades.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
from .course import CELL_TIMEOUT_S
from .evidence import grading_source
from .execution import GradingClient
from .verdict import cell_passed, is_test_cell


def run_check(path: Path, timeout: int = CELL_TIMEOUT_S * 5, out=sys.stdout, as_json: bool = False) -> int:
    if not path.exists():
        print(f"error: {path} does not exist", file=sys.stderr)
        return 2
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as exc:
        print(f"error: {path} is not a readable notebook: {exc}", file=sys.stderr)
        return 2
    tests = [c for c in nb.cells if c.cell_type == "code" and is_test_cell(c)]
    if not tests:
        print(f"error: {path} has no autograded test cells (is it a course assignment?)", file=sys.stderr)
        return 2

    originals = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and is_test_cell(cell):
            originals[i] = cell.source
            cell.source = grading_source(cell.source, withhold=False)
        elif cell.cell_type == "code":
            cell.metadata.pop("tags", None)       # the grader runs every cell
    env = dict(os.environ, NBGRADER_EXECUTION="validate")
    env.pop("AUTOGRADER_EVIDENCE", None)
    client = GradingClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent.resolve())}})
    try:
        # the kernel's own log (e.g. "running over TCP without encryption") is noise here
        client.execute(env=env, stderr=subprocess.DEVNULL)
    except Exception as exc:
        print(f"warning: execution stopped early: {type(exc).__name__}: {exc}", file=sys.stderr)
    for i, source in originals.items():
        nb.cells[i].source = source

    if as_json:   # {grade_id: {"passed", "why"}} of the visible tests, for tools and tests
        verdicts = {}
        for cell in tests:
            if _has_code(cell.source):
                ok, why = cell_passed(cell.get("outputs", []), cell.get("execution_count"))
                verdicts[cell.metadata["nbgrader"]["grade_id"]] = {"passed": ok, "why": why}
        print(json.dumps(verdicts), file=out)
        return 1 if not all(v["passed"] for v in verdicts.values()) else 0

    earned = total = hidden_points = 0.0
    failed = 0
    width = max(len(c.metadata["nbgrader"]["grade_id"]) for c in tests)
    print(f"Self-check of {path.name} (visible tests only)\n", file=out)
    for cell in tests:
        meta = cell.metadata["nbgrader"]
        points = float(meta.get("points", 0))
        if not _has_code(cell.source):  # a hidden test's placeholder in the student version
            hidden_points += points
            print(f"  ----  {meta['grade_id']:<{width}}  hidden, {points:g} points: runs when your notebook is graded", file=out)
            continue
        ok, why = cell_passed(cell.get("outputs", []), cell.get("execution_count"))
        total += points
        earned += points if ok else 0
        failed += not ok
        status = "PASS" if ok else "FAIL"
        print(f"  {status}  {meta['grade_id']:<{width}}  {points if ok else 0:g}/{points:g}", file=out)
        if not ok:
            print(f"        {_indent(why)}", file=out)
    visible = len(tests) - sum(not _has_code(c.source) for c in tests)
    print(f"\nVisible tests: {earned:g}/{total:g} points, {visible - failed}/{visible} passed."
          + (f" Hidden tests worth {hidden_points:g} more points run when you are graded." if hidden_points else ""),
          file=out)
    written = [c.metadata["nbgrader"] for c in nb.cells if c.cell_type == "markdown"
               and c.metadata.get("nbgrader", {}).get("grade") and c.metadata["nbgrader"].get("solution")]
    if written:   # not checked here: an instructor scores them
        print(f"Written answers ({', '.join(m['grade_id'] for m in written)}), worth "
              f"{sum(float(m.get('points', 0)) for m in written):g} points, are graded by hand by your instructor.",
              file=out)
    return 1 if failed else 0


def _has_code(source: str) -> bool:
    return any(line.strip() and not line.strip().startswith("#") for line in source.splitlines())


def _indent(text: str) -> str:
    return str(text).strip().replace("\n", "\n        ")
