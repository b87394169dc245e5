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
