"""The kit's verdict as nbgrader plugins: preprocessors for ``nbgrader autograde`` and
formgrader (configured in course.py, used through the repository's ``nbgrader_config.py``).

In nbgrader's autograde pipeline, in order:

1. :class:`RebindCheckHelpers`: every test cell runs in its grading form
   (:func:`autograder.evidence.grading_source`: fresh check helpers, numbered check calls, no
   reference side and no expected values in the kernel);
2. :class:`ResilientExecute`: nbgrader's ``Execute`` with the executor's per-cell behaviour (a
   dead or stuck kernel costs one cell) and the evidence records collected per test cell;
3. :class:`VerifyEvidence`: each test cell's records are compared with the solution's (the
   same reference records and comparison as ``python -m autograder grade``); a mismatch becomes
   the cell's error, with the check's message;
4. :class:`NormaliseTestOutputs`: nbgrader scores a test cell from its outputs (an error *or
   any stderr output* gives 0, a number as last value gives partial credit, a cell that never
   ran full marks); this puts the kit's pass rule in their place: ran and raised nothing.

So ``nbgrader autograde`` gives the kit's scores, without the kit's sandbox (nbgrader runs the
kernel as the user who runs it). Nothing here trusts the notebook's metadata: state passes
between the steps in nbconvert's ``resources``.
"""
from __future__ import annotations

import re

from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_output

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


from .verdict import cell_passed, error_of, is_test_cell  # noqa: E402  (is_test_cell: re-exported for the nbgrader path)


def grading_source(source: str) -> str:
    """What the kernel runs for a test cell while grading (:func:`autograder.evidence.grading_source`)."""
    from .evidence import grading_source as withheld
    return withheld(source)


def _state(resources) -> dict:
    return resources.setdefault("autograder", {})


class RebindCheckHelpers(Preprocessor):
    """Before execution, give every test cell its :func:`grading_source`; the original goes to
    ``resources`` (never to the notebook, whose metadata a student controls), and any grader
    key a submitted notebook carries in its cell metadata is dropped.
    (:class:`NormaliseTestOutputs` puts the original source back after execution.)"""

    enabled = True

    def preprocess(self, nb, resources):
        originals = _state(resources).setdefault("original_sources", {})
        for index, cell in enumerate(nb.cells):
            for key in [k for k in cell.get("metadata", {}) if k.startswith("autograder")]:
                del cell.metadata[key]
            if cell.cell_type == "code" and is_test_cell(cell):
                originals[index] = cell.source
                cell.source = grading_source(cell.source)
        return nb, resources


class VerifyEvidence(Preprocessor):
    """After execution: a test cell that ran without error keeps its points only if its
    evidence records match the solution's; otherwise it gets the check's message as an error.
    The reference records are the grader's own (:func:`autograder.grade.reference_records`,
    cached by content), so nbgrader and ``python -m autograder grade`` agree."""

    enabled = True

    def preprocess(self, nb, resources):
        from .course import course_root
        from .evidence import verify
        from .grade import reference_records
        assignment = resources.get("nbgrader", {}).get("assignment")
        reference = reference_records(course_root(), assignment)
        records = _state(resources).get("records", {})
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or not is_test_cell(cell) or error_of(cell.get("outputs", [])):
                continue
            gid = cell.metadata["nbgrader"]["grade_id"]
            why = verify(records.get(index, []), reference.get(gid, [None]))
            if why:
                cell.outputs.append(new_output("error", ename="CheckFailure", evalue=why,
                                               traceback=[f"CheckFailure: {why}"]))
        return nb, resources


class NormaliseTestOutputs(Preprocessor):
    """Test cells: pass = ran and raised nothing.

    - stderr text (warnings, progress bars) becomes stdout, marked ``[stderr]``: not a failure;
    - an ``execute_result`` (the cell's last value) is dropped: it can neither give partial
      credit nor hide a failure;
    - a test cell that did not run (skipped, or the kernel died before it) gets an error.
    """

    enabled = True  # nbconvert preprocessors are off unless enabled

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not is_test_cell(cell):
            return cell, resources
        original = _state(resources).get("original_sources", {}).get(index)
        if original is not None:
            cell.source = original
        outputs = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                outputs.append(new_output("stream", name="stdout", text="[stderr] " + str(out.get("text", ""))))
            elif out.get("output_type") != "execute_result":
                outputs.append(out)
        # The kit's one pass rule (verdict.cell_passed), written as an error where nbgrader's own
        # rule ("any error -> 0") would otherwise pass the cell.
        passed, why = cell_passed(outputs, cell.get("execution_count"))
        if not passed and not error_of(outputs):
            ename, _, evalue = why.partition(": ")
            outputs.append(new_output("error", ename=ename, evalue=evalue, traceback=[why]))
        cell.outputs = outputs
        return cell, resources


MAX_OUTPUT_CHARS = 20_000


class TruncateLongOutputs(Preprocessor):
    """Cut any text output over 20,000 characters (nbgrader's LimitOutput counts lines, so one
    20 MB line goes through, into the database and an 80 MB feedback page)."""

    enabled = True

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                out["text"] = _truncate(str(out.get("text", "")))
            for mime in ("text/plain", "text/html"):
                if mime in out.get("data", {}):
                    out["data"][mime] = _truncate(str(out["data"][mime]))
        return cell, resources


def _truncate(text: str) -> str:
    if len(text) <= MAX_OUTPUT_CHARS:
        return text
    return text[:MAX_OUTPUT_CHARS] + f"\n... [{len(text) - MAX_OUTPUT_CHARS:,} more characters cut by the grader]\n"


class ShortenTestTracebacks(Preprocessor):
    """Replace each test cell's traceback by its last line (``CheckFailure: expected ...``).

    The full traceback of a failing hidden test shows the hidden source lines around the
    failure; the check helpers' messages already say what was expected and what was received.
    """

    enabled = True

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and is_test_cell(cell):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {_ANSI.sub('', str(out.get('evalue', '')))}"]
        return cell, resources


class StripEvidence(Preprocessor):
    """Remove the grader's evidence records (see :mod:`autograder.evidence`) from feedback."""

    enabled = True

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            from .evidence import strip
            strip(cell)
        return cell, resources


# ----------------------------------------------------------------------------- execution
from nbgrader.preprocessors import Execute  # noqa: E402

from .execution import ResilientCells  # noqa: E402


class ResilientExecute(ResilientCells, Execute):
    """nbgrader's ``Execute``, except that a dead or stuck kernel costs one cell, not the
    notebook (the grader's own executor behaviour, :class:`autograder.execution.ResilientCells`):
    the cell where it happened gets an error, the kernel is restarted, the earlier non-test
    cells are run again to rebuild the state, and execution goes on."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.interrupt_on_timeout = False      # a timeout kills the kernel (a stuck one ignores interrupts)

    def preprocess(self, nb, resources=None, km=None):
        import os

        from .evidence import ENV
        self.test_cells = {i for i, c in enumerate(nb.cells) if c.cell_type == "code" and is_test_cell(c)}
        previous = os.environ.get(ENV)
        os.environ[ENV] = "1"            # the kernel inherits it: the checks record evidence
        try:
            nb, resources = super().preprocess(nb, resources, km)
        finally:
            if previous is None:
                os.environ.pop(ENV, None)
            else:
                os.environ[ENV] = previous
        _state(resources)["records"] = dict(self._resilience().records)
        return nb, resources
