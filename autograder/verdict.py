"""Verdict: scores from an executed notebook, taken as untrusted data (runs in the grader).

The one pass rule of the course: a test cell earns its points when it **ran and raised
nothing** (stderr output and a last value do not matter) **and** its evidence records match the
solution's (:func:`autograder.evidence.verify`). Anything else scores 0 with a message; a score
is always either 0 or the cell's points, so no submission can score above the maximum.

Which cell is which test comes from the grader's own :class:`~autograder.intake.GradedNotebook`
(cell index -> grade_id), never from the executor's answer; malformed parts of the answer
(outputs, records) fail the cell they belong to, with a message.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import evidence


@dataclass
class CellVerdict:
    grade_id: str
    points: float
    score: float = 0.0
    message: str = ""          # why the points were lost ('' when earned)


@dataclass
class NotebookVerdict:
    cells: dict[str, CellVerdict] = field(default_factory=dict)   # grade_id -> verdict, in notebook order

    @property
    def score(self) -> float:
        return sum(c.score for c in self.cells.values())

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.cells.values())


def is_test_cell(cell) -> bool:
    """An autograded test cell by its nbgrader metadata (used where the metadata is the course's:
    the self-check, nbgrader's pipeline; the grader itself takes it from its answer key)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def error_of(outputs) -> str:
    """'' when a cell's outputs hold no error, else ``"ename: evalue"`` of the first one."""
    if not isinstance(outputs, list):
        return "GraderError: the outputs of this cell could not be read"
    for out in outputs:
        if isinstance(out, dict) and out.get("output_type") == "error":
            return f"{str(out.get('ename', 'Error'))[:100]}: {str(out.get('evalue', ''))[:2000]}"
    return ""


def cell_passed(outputs, execution_count) -> tuple[bool, str]:
    """The pass rule's first half, shared by the grader and the nbgrader preprocessors."""
    why = error_of(outputs)
    if why:
        return False, why
    if execution_count is None:
        return False, "TestNotRun: this test cell was not executed"
    return True, ""


def decide(tests: dict[int, str], points: dict[str, float], reference: dict[str, list],
           answer: dict) -> NotebookVerdict:
    """Score every test cell of a graded notebook from the executor's ``answer``."""
    verdict = NotebookVerdict()
    cells = answer.get("cells") if isinstance(answer.get("cells"), list) else []
    records = answer.get("records") if isinstance(answer.get("records"), dict) else {}
    for index, gid in sorted(tests.items()):
        v = CellVerdict(gid, float(points[gid]))
        verdict.cells[gid] = v
        cell = cells[index] if index < len(cells) and isinstance(cells[index], dict) else {}
        ok, why = cell_passed(cell.get("outputs", []), cell.get("execution_count"))
        if ok:
            found = records.get(str(index), [])
            why = evidence.verify(found if isinstance(found, list) else [None], reference.get(gid, []))
        if why:
            v.message = why
        else:
            v.score = v.points
    return verdict
