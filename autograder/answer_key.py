"""The answer key of an assignment: its cells and the solution's evidence records (trusted).

Built from the course's own files only: ``solutions/<hw>/<hw>.ipynb`` (hidden tests, points)
and ``assignments/<hw>/<hw>.ipynb`` (what students see). The reference records come from
running the solution notebook exactly as a submission is run (same intake, same executor, same
sandbox: :func:`reference_run`), once per content of what they depend on, cached in the
grader's cache folder (never visible to a kernel).
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import evidence, notebooks
from .course import PREDICTION_TASKS, PredictionTask, nbgrader_config
from .intake import GradedNotebook, KeyCell, graded_notebook


class GradingError(Exception):
    """The grader itself cannot do its job (not: a submission is broken). ``results``: what it
    did grade and write before it found out, if anything."""

    def __init__(self, message: str, results=None):
        super().__init__(message)
        self.results = results


@dataclass
class AnswerKey:
    assignment: str
    cells: list[KeyCell]
    stub: str                                   # what a solution cell holds before the student writes it
    reference: dict[str, list] = field(default_factory=dict)   # test grade_id -> the solution's records
    predictions: PredictionTask | None = None
    answers_path: Path | None = None
    release_metadata: dict = field(default_factory=dict)     # grade_id -> the release cell's nbgrader metadata

    @property
    def notebook(self) -> str:
        return self.assignment

    @property
    def tests(self) -> dict[str, float]:
        return {k.grade_id: k.points for k in self.cells if k.role == "test"}

    @property
    def answers(self) -> dict[str, float]:
        """Hand-graded answer cells (written questions): grade_id -> points."""
        return {k.grade_id: k.points for k in self.cells if k.role == "answer"}

    @property
    def max_score(self) -> float:
        return (sum(self.tests.values()) + sum(self.answers.values())
                + (self.predictions.max_score if self.predictions else 0.0))


def _role(meta: dict) -> str:
    if meta.get("solution") and meta.get("grade"):
        return "answer"          # written by the student, graded by hand
    if meta.get("solution"):
        return "solution"
    if meta.get("grade"):
        return "test"
    return "locked"


def load_cells(root: Path, assignment: str) -> list[KeyCell]:
    """The key's cells, in the release's order, from the solution and the release notebooks."""
    solution_path = root / "solutions" / assignment / f"{assignment}.ipynb"
    release_path = root / "assignments" / assignment / f"{assignment}.ipynb"
    for path in (solution_path, release_path):
        if not path.exists():
            raise GradingError(f"{path} does not exist: cannot grade {assignment} (run `python -m autograder build`)")
    solution, release = notebooks.read(solution_path), notebooks.read(release_path)
    released = {notebooks.grade_id(c): c for c in release.cells if notebooks.grade_id(c)}
    cells = []
    for c in solution.cells:
        meta = c.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if not gid:
            raise GradingError(f"{solution_path}: every cell needs a grade_id (nbgrader metadata); one has none")
        visible = released[gid].source if gid in released else ""
        role = _role(meta)
        cells.append(KeyCell(gid, c.cell_type, role, c.source if role != "locked" else visible or c.source,
                             visible, float(meta.get("points", 0) or 0) if role in ("test", "answer") else 0.0))
    return cells


def code_stub() -> str:
    return nbgrader_config(Path(".")).ClearSolutions.code_stub["python"]


def runnable_cells(gnb: GradedNotebook) -> list[dict]:
    """The cells as the kernel gets them: test cells in their grading form, no reference side."""
    out = []
    for i, cell in enumerate(gnb.cells):
        source = evidence.grading_source(cell["source"]) if i in gnb.tests else cell["source"]
        out.append({"cell_type": cell["cell_type"], "source": source})
    return out


def solution_as_submission(cells: list[KeyCell]) -> list[dict]:
    return [{"cell_type": k.cell_type, "grade_id": k.grade_id,
             "source": notebooks.fill_in(k.source) if k.role in ("solution", "answer") else k.source} for k in cells]


def digest(root: Path, assignment: str) -> str:
    """What the reference records depend on: the notebooks, the grader and course code, the
    versions of Python, torch and numpy."""
    from importlib.metadata import version
    h = hashlib.sha256()
    for path in [root / "solutions" / assignment / f"{assignment}.ipynb", root / "assignments" / assignment / f"{assignment}.ipynb",
                 *sorted((Path(__file__).parent).glob("*.py")), *sorted((root / "coursekit").glob("*.py"))]:
        if path.exists():
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    for pkg in ("torch", "numpy", "nbclient", "ipykernel"):
        try:
            h.update(f"{pkg}={version(pkg)}".encode())
        except Exception:
            pass
    h.update(platform.python_version().encode())
    return h.hexdigest()[:24]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "attention-course-autograder"


def reference_run(key: AnswerKey, execute, prelude: str | None = None) -> dict[str, list]:
    """Run the solution as a submission is run; return ``{test grade_id: records}``.

    ``execute(gnb_cells, tests, files) -> answer`` is the grader's executor call. ``prelude``:
    code run after the first code cell (the tests use it to perturb the global RNG)."""
    from .verdict import cell_passed
    gnb = graded_notebook(key.cells, solution_as_submission(key.cells), key.stub)
    cells = runnable_cells(gnb)
    tests = dict(gnb.tests)
    if prelude:
        first = next(i for i, c in enumerate(cells) if c["cell_type"] == "code")
        cells.insert(first + 1, {"cell_type": "code", "source": prelude})
        tests = {(i + 1 if i > first else i): g for i, g in tests.items()}
    answer = execute(cells, tests, {})
    if answer.get("error"):
        raise GradingError(f"the solution of {key.assignment} could not be run to record the reference: {answer['error']}")
    out = {}
    for index, gid in tests.items():
        cell = answer["cells"][index]
        ok, why = cell_passed(cell.get("outputs", []), cell.get("execution_count"))
        if not ok:
            raise GradingError(f"the solution of {key.assignment} fails its own test {gid}: {why}")
        out[gid] = answer.get("records", {}).get(str(index), [])
        if not out[gid]:
            raise GradingError(f"the solution's test {gid} ({key.assignment}) records no value: the grader "
                               "could not verify a submission's")
    return out


def load_answer_key(root: Path, assignment: str, execute, answers: Path | None = None) -> AnswerKey:
    """The answer key, with reference records from the cache or a fresh reference run."""
    key = AnswerKey(assignment, load_cells(root, assignment), code_stub(), predictions=PREDICTION_TASKS.get(assignment))
    release = notebooks.read(root / "assignments" / assignment / f"{assignment}.ipynb")
    key.release_metadata = {notebooks.grade_id(c): dict(c.metadata["nbgrader"]) for c in release.cells
                            if notebooks.grade_id(c)}
    cached = cache_dir() / f"{assignment}-{digest(root, assignment)}.reference.json"
    try:
        key.reference = json.loads(cached.read_text())
    except (OSError, ValueError):
        key.reference = reference_run(key, execute)
        try:   # best effort: a read-only home only costs the reference run again
            cached.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cached.parent, suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                json.dump(key.reference, f)
            os.replace(tmp, cached)
        except OSError:
            pass
    if set(key.reference) != set(key.tests):
        raise GradingError(f"the reference records of {assignment} do not cover its tests; delete {cached} and retry")
    return key
