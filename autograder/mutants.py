"""The grader's own test harness: submissions made from the solution with one cell swapped.

A *mutant* replaces one solution cell (by grade_id) with another implementation:
- a wrong one (a classic mistake) must lose points on its question, and only there
  (``affects`` lists other questions that legitimately depend on it);
- a correct alternative (einsum instead of matmul, a loop instead of vectorised code, ...)
  must keep full marks.

Each assignment keeps its catalogue in ``mutants/<assignment>.py`` as a list ``MUTANTS``.
The test-suite grades them all through ``python -m autograder grade``; the demo's partially
correct student is made of a few of them.
"""
from __future__ import annotations

import importlib.util
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from . import notebooks


@dataclass(frozen=True)
class Mutant:
    name: str               # short id, used as the student id when graded
    grade_id: str           # the solution cell it replaces
    source: str             # the cell's new source
    correct: bool = False   # True: an alternative correct implementation
    description: str = ""
    affects: tuple[str, ...] = field(default_factory=tuple)  # other questions allowed to lose points

    def __post_init__(self):
        object.__setattr__(self, "source", textwrap.dedent(self.source).strip("\n") + "\n")


def load_mutants(root: Path, assignment: str) -> list[Mutant]:
    path = root / "mutants" / f"{assignment}.py"
    if not path.exists():
        return []
    spec = importlib.util.spec_from_file_location(f"course_mutants_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    mutants = list(module.MUTANTS)
    names = [m.name for m in mutants]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: mutant names must be unique")
    return mutants


def submission_with(root: Path, assignment: str, mutants: list[Mutant] = ()):
    """The released notebook, solved, with the given mutants swapped in."""
    release = notebooks.read(root / "assignments" / assignment / f"{assignment}.ipynb")
    solution = notebooks.read(root / "solutions" / assignment / f"{assignment}.ipynb")
    return notebooks.student_submission(release, solution, {m.grade_id: m.source for m in mutants})


def touched(m: Mutant) -> set[str]:
    """Questions (grade_ids) whose score a mutant may change."""
    return {m.grade_id, *m.affects}


def pack(mutants: list[Mutant]) -> list[list[Mutant]]:
    """Group mutants so that no two in a group touch the same question.

    Questions are graded independently, so one notebook can carry one mutant per question:
    grading 5 notebooks instead of 30 gives the same verdicts in a sixth of the time.
    """
    groups: list[list[Mutant]] = []
    for m in mutants:
        for group in groups:
            if not any(touched(m) & touched(other) for other in group):
                group.append(m)
                break
        else:
            groups.append([m])
    return groups


def write_mutant_class(root: Path, assignment: str, submitted: Path, mutants: list[Mutant]) -> dict[str, list[Mutant]]:
    """Packed mutant submissions under ``submitted/mutants-NN/<assignment>/``; returns who holds which."""
    students = {}
    for i, group in enumerate(pack(mutants)):
        student = f"mutants-{i:02d}"
        notebooks.write(submission_with(root, assignment, group), submitted / student / assignment / f"{assignment}.ipynb")
        students[student] = group
    return students


def verdicts(mutants_by_student: dict[str, list[Mutant]],
             scores: dict[str, dict[str, tuple[float, float]]]) -> list[str]:
    """Problems found in graded mutant submissions (empty = the grader behaves).

    ``scores[student][grade_id] = (score, max_score)``. A wrong mutant must lose points on its
    own question; a correct one must keep them; no question may lose points unless a wrong
    mutant in that notebook touches it.
    """
    def question_cells(cells, name):
        return {g for g in cells if g == f"test_{name}" or g.startswith(f"test_{name}_")}

    problems = []
    for student, group in mutants_by_student.items():
        cells = scores[student]
        lost = {g for g, (s, mx) in cells.items() if s < mx and g.startswith("test_")}  # test cells only
        allowed = set()
        for m in group:
            own = question_cells(cells, m.grade_id)
            if not own:
                problems.append(f"{m.name}: no test cells named test_{m.grade_id}*")
            if m.correct and lost & own:
                problems.append(f"{m.name} (correct: {m.description}) lost points on {sorted(lost & own)}")
            if not m.correct:
                if not lost & own:
                    problems.append(f"{m.name} (wrong: {m.description}) kept full marks on {sorted(own)}")
                allowed |= set().union(*(question_cells(cells, q) for q in touched(m)))
        if lost - allowed:
            names = ", ".join(m.name for m in group)
            problems.append(f"{student} [{names}] lost points on questions no wrong mutant touches: {sorted(lost - allowed)}")
    return problems
