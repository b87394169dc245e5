"""Notebook files: text sources -> clean .ipynb, and student versions made from solutions.

Notebooks are authored as jupytext percent-format ``.py`` files (they review as text; the
nbgrader metadata sits in each cell header). The ``.ipynb`` files are generated from them with
deterministic cell ids and no outputs, so a rebuild gives byte-identical files and drift shows.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import jupytext
import nbformat
from nbformat import NotebookNode

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
_JUPYTEXT_CELL_KEYS = {"lines_to_next_cell", "lines_to_end_of_cell_marker", "cell_marker", "title"}
_SOLUTION_BLOCK = re.compile(r"^[ \t]*### BEGIN SOLUTION[ \t]*\n(.*?)^[ \t]*### END SOLUTION[ \t]*\n?",
                             re.MULTILINE | re.DOTALL)


def text_to_notebook(text: str) -> NotebookNode:
    """Parse a percent-format source into a normalised notebook; compact question headers
    (``# %% test: test_x (2 points)``, see :mod:`autograder.questions`) become nbgrader metadata."""
    from .questions import expand
    return normalise(jupytext.reads(expand(text), fmt="py:percent"))


def normalise(nb: NotebookNode) -> NotebookNode:
    """Deterministic ids, no outputs or execution counts, minimal metadata."""
    nb.nbformat, nb.nbformat_minor = 4, 5
    stamp = nb.metadata.get(STAMP)
    nb.metadata = NotebookNode({"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}})
    if stamp:
        nb.metadata[STAMP] = stamp
    seen: dict[str, int] = {}
    for cell in nb.cells:
        for key in _JUPYTEXT_CELL_KEYS:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        base = grade_id or hashlib.sha1((cell.cell_type + cell.source).encode()).hexdigest()[:10]
        base = re.sub(r"[^A-Za-z0-9_-]", "-", base)[:60]
        n = seen.get(base, 0)
        seen[base] = n + 1
        cell.id = base if n == 0 else f"{base}-{n}"
    return nb


STAMP = "autograder"   # notebook metadata: what the .ipynb was generated from, to detect hand edits


def content_digest(nb: NotebookNode) -> str:
    """A digest of what a notebook *says*: each cell's type, source and nbgrader metadata.
    What Jupyter rewrites on save or run (outputs, execution counts, kernel and language
    metadata, cell ids, UI metadata) does not change it."""
    import json
    parts = [[c.cell_type, c.source, c.get("metadata", {}).get("nbgrader", {})] for c in nb.cells]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def stamped(nb: NotebookNode, source_text: str) -> NotebookNode:
    """``nb`` with its origin recorded: the digest of its text source and of its content."""
    nb.metadata[STAMP] = {"generated_from": hashlib.sha256(source_text.encode()).hexdigest()[:16],
                          "content": content_digest(nb)[:16]}
    return nb


def edited_by_hand(path: Path) -> bool:
    """True when a generated notebook's content changed since it was generated (an edit in
    Jupyter or formgrader's Edit link), False when only what Jupyter rewrites changed."""
    try:
        nb = read(path)
    except Exception:
        return True
    recorded = nb.metadata.get(STAMP, {}).get("content")
    return recorded is not None and recorded != content_digest(nb)[:16]


def dumps(nb: NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def read(path: Path) -> NotebookNode:
    return nbformat.read(str(path), as_version=4)


def write(nb: NotebookNode, path: Path) -> bool:
    """Write ``nb``; return True when the file changed."""
    text = dumps(nb)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def is_solution_cell(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def fill_in(solution_source: str) -> str:
    """A solution cell's source as a student who solved it would submit it (markers removed)."""
    return _SOLUTION_BLOCK.sub(lambda m: m.group(1), solution_source)


MODEL_ANSWER = "**Model answer.**"   # a written answer cell of the solution: the model answer, then
RUBRIC = "**Rubric"                   # the rubric; the release replaces the whole cell by "YOUR ANSWER HERE"


def example_answer(solution_source: str) -> str:
    """A written (hand-graded Markdown) answer as a student who answered well would submit it: the
    solution's model answer without its label, and never the rubric."""
    text = solution_source.split(RUBRIC, 1)[0]
    return text.replace(MODEL_ANSWER, "", 1).strip()


def student_submission(release: NotebookNode, solution: NotebookNode,
                       replacements: dict[str, str] | None = None) -> NotebookNode:
    """The released notebook with every solution cell filled in from ``solution``.

    ``replacements`` maps a solution cell's grade_id to the source to put there instead
    (a mutant: a typical mistake or an alternative correct implementation).
    """
    replacements = dict(replacements or {})
    solved = {grade_id(c): c.source for c in solution.cells if is_solution_cell(c)}
    nb = nbformat.from_dict(release)
    for cell in nb.cells:
        gid = grade_id(cell)
        if not is_solution_cell(cell) or gid is None:
            continue
        if gid in replacements:
            cell.source = replacements.pop(gid)
        elif gid in solved:
            cell.source = example_answer(solved[gid]) if cell.cell_type == "markdown" else fill_in(solved[gid])
    if replacements:
        raise KeyError(f"no solution cell with grade_id {sorted(replacements)} in the notebook")
    return nb


def reference_namespace(source: Path, names, setup_id: str = "setup") -> dict:
    """Run a solution source's ``setup`` cell and the solution cells defining ``names``
    (their grade_ids) in a fresh namespace, and return it.

    The reference answers live in one place, the solution notebook; scripts that need them
    (a benchmark's model ladder, tests of the reference models) take them from there instead of a copy.
    """
    nb = text_to_notebook(Path(source).read_text())
    wanted = set(names)
    cells = {grade_id(c): c for c in nb.cells if c.cell_type == "code"}
    missing = wanted - cells.keys()
    if missing:
        raise KeyError(f"{source} has no code cell with grade_id {sorted(missing)}")
    namespace: dict = {"__name__": "reference"}
    for gid in [setup_id, *[grade_id(c) for c in nb.cells if grade_id(c) in wanted]]:
        exec(compile(fill_in(cells[gid].source), f"{source}:{gid}", "exec"), namespace)
    return namespace
