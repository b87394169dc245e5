"""nbconvert preprocessors the grader adds to nbgrader's pipelines (configured in course.py).

nbgrader scores a test cell from its outputs: an error *or any stderr output* gives 0, a last
expression that is a number gives that many points, anything else full marks. That punishes
correct code that warns (a PyTorch UserWarning, a plain tqdm bar) and rewards a test cell that
never ran or ends in ``False``. :class:`NormaliseTestOutputs` runs after execution and before
nbgrader saves the scores, so that a test cell passes exactly when it ran and raised nothing.
"""
from __future__ import annotations

import re

from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_output

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def is_test_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


ORIGINAL_SOURCE = "autograder_original_source"


def grading_source(source: str) -> str:
    """What the kernel runs for a test cell while grading (:func:`autograder.evidence.grading_source`)."""
    from .evidence import grading_source as withheld
    return withheld(source)


class RebindCheckHelpers(Preprocessor):
    """Before execution, give every test cell its :func:`grading_source`.
    (:class:`NormaliseTestOutputs` puts the original source back after execution.)"""

    enabled = True

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and is_test_cell(cell) and ORIGINAL_SOURCE not in cell.metadata:
            cell.metadata[ORIGINAL_SOURCE] = cell.source
            cell.source = grading_source(cell.source)
        return cell, resources


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
        if ORIGINAL_SOURCE in cell.metadata:
            cell.source = cell.metadata.pop(ORIGINAL_SOURCE)
        outputs = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                outputs.append(new_output("stream", name="stdout", text="[stderr] " + str(out.get("text", ""))))
            elif out.get("output_type") != "execute_result":
                outputs.append(out)
        if cell.get("execution_count") is None and not any(o.get("output_type") == "error" for o in outputs):
            outputs.append(new_output("error", ename="TestNotRun", evalue="this test cell was not executed",
                                      traceback=["TestNotRun: this test cell was not executed"]))
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
        self.test_cells = {i for i, c in enumerate(nb.cells) if c.cell_type == "code" and is_test_cell(c)}
        return super().preprocess(nb, resources, km)
