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


def write_mutant_class(root: Path, assignment: str, submitted: Path, mutants: list[Mutant]) -> None:
    """One student per mutant under ``submitted/<mutant.name>/<assignment>/``."""
    for m in mutants:
        nb = submission_with(root, assignment, [m])
        notebooks.write(nb, submitted / m.name / assignment / f"{assignment}.ipynb")
