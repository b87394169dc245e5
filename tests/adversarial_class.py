"""The adversarial corpus: hw2 submissions that attack the grader or break in nasty ways.

Each one is the solution notebook with one attack. Unless said otherwise the attack goes with a
WRONG ``causal_mask`` (``triu`` instead of ``tril``), so a grader that is fooled gives points
that a wrong answer must not get. ``TARGET`` is the question under attack: every submission
must get a row, 0 on ``TARGET``'s test cells (where the attack targets it), full marks on every
other question, and feedback that says what happened.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat

from autograder import notebooks
from autograder.mutants import submission_with

HW = "hw2_attention"
TARGET = "causal_mask"
WRONG = "def causal_mask(length):\n    return torch.ones(length, length, dtype=torch.bool).triu()\n"


def _cells(nb, grade_id):
    return [c for c in nb.cells if notebooks.grade_id(c) == grade_id]


def _set_target(nb, source):
    _cells(nb, TARGET)[0].source = source


def build(root: Path, submitted: Path) -> dict[str, str]:
    """Write the corpus under ``submitted/<attack>/hw2_attention/``; return {attack: what it tries}."""
    attacks: dict[str, str] = {}

    def write(name: str, what: str, nb, notebook_name: str = f"{HW}.ipynb", text: str | None = None):
        path = submitted / name / HW / notebook_name
        path.parent.mkdir(parents=True, exist_ok=True)
        if text is not None:
            path.write_text(text)
        else:
            nbformat.write(nb, str(path))
        attacks[name] = what

    def solved():
        return submission_with(root, HW, [])

    # --- tricks on the notebook's structure -----------------------------------------------
    nb = solved(); _set_target(nb, WRONG)
    for gid in (f"test_{TARGET}", f"test_{TARGET}_hidden"):
        _cells(nb, gid)[0].metadata["tags"] = ["skip-execution", "raises-exception"]
    write("skip_tag", "tags the wrong answer's test cells skip-execution", nb)

    nb = solved(); _set_target(nb, WRONG)
    _cells(nb, f"test_{TARGET}")[0].source = "1.0"
    _cells(nb, f"test_{TARGET}_hidden")[0].source = "False"
    write("edited_test_cells", "replaces its test cells by a number / False", nb)

    nb = solved(); _set_target(nb, WRONG)
    nb.cells = [c for c in nb.cells if not (notebooks.grade_id(c) or "").startswith(f"test_{TARGET}")]
    write("deleted_test_cells", "deletes the wrong answer's test cells", nb)

    nb = solved(); _set_target(nb, WRONG)
    i = nb.cells.index(_cells(nb, f"test_{TARGET}")[0])
    twin = nbformat.from_dict(json.loads(json.dumps(nb.cells[i])))
    twin.source, twin.id = "pass", "twin"
    nb.cells.insert(i + 1, twin)
    write("duplicated_grade_cell", "duplicates a graded test cell (nbgrader aborts a batch on this)", nb)

    nb = solved()
    write("renamed_notebook", "hands in 'Copy of hw2_attention.ipynb' (correct answers)", nb,
          notebook_name=f"Copy of {HW}.ipynb")

    write("invalid_json", "a truncated notebook file", None, text=json.dumps(nbformat.v4.new_notebook())[:40])
    (submitted / "missing_notebook" / HW).mkdir(parents=True)
    (submitted / "missing_notebook" / HW / "answers.txt").write_text("forgot the notebook")
    attacks["missing_notebook"] = "no notebook at all"

    # --- tricks on the verdict --------------------------------------------------------------
    nb = solved(); _set_target(nb, WRONG + """
import torch as _t
import autograder.checks as _c
_c.compare_equal = lambda *a, **k: _c.Verdict(True)
_c.compare_shape = lambda *a, **k: _c.Verdict(True)
_c.compare_dtype = lambda *a, **k: _c.Verdict(True)
_t.equal = lambda *a, **k: True
_t.allclose = lambda *a, **k: True
""")
    write("patched_checks", "monkeypatches the comparison helpers and torch.equal/allclose", nb)

    nb = solved(); _set_target(nb, WRONG + """
check_equal = lambda *a, **k: None
check_dtype = lambda *a, **k: None
check_shape = lambda *a, **k: None
""")
    write("rebound_check_names", "rebinds check_equal/check_shape/check_dtype to no-ops in the notebook", nb)

    # Forgery: hand the test's own expected value to the check as the student's value. Works
    # only if the expected value exists in the kernel; while grading it never does
    # (evidence.without_reference), so all three must score 0 on the target.
    nb = solved(); _set_target(nb, WRONG + """
import functools as _ft, autograder.checks as _c
def _forge(_check):
    @_ft.wraps(_check)
    def _forged(actual, expected=None, *args, **kwargs):
        return _check(actual if expected is None else expected, expected, *args, **kwargs)
    return _forged
for _n in ("check_equal", "check_close", "check_close_up_to_sign"):
    setattr(_c, _n, _forge(getattr(_c, _n)))
""")
    write("forged_actual", "wraps the check helpers to pass the test's expected value as its own", nb)

    nb = solved(); _set_target(nb, WRONG + """
import ast as _ast
class _SwapExpected(_ast.NodeTransformer):
    def visit_Call(self, node):
        self.generic_visit(node)
        if getattr(node.func, "id", None) in ("check_equal", "check_close") and len(node.args) >= 2 \\
                and not (isinstance(node.args[1], _ast.Constant) and node.args[1].value is None):
            node.args[0] = node.args[1]
        return node
def _rewrite_tests(lines):
    try:
        return [_ast.unparse(_SwapExpected().visit(_ast.parse("".join(lines)))) + "\\n"]
    except SyntaxError:
        return lines
get_ipython().input_transformers_post.append(_rewrite_tests)
""")
    write("rewritten_tests", "an IPython input transformer rewrites every later test cell to check "
                             "the expected value against itself", nb)

    nb = solved(); _set_target(nb, WRONG + """
import sys as _sys, ctypes as _ct
def _swap_in_frame(frame, event, arg):
    if event == "call" and frame.f_code.co_name in ("compare_equal", "compare_close") \\
            and frame.f_locals.get("expected") is not None:
        frame.f_locals["actual"] = frame.f_locals["expected"]
        _ct.pythonapi.PyFrame_LocalsToFast(_ct.py_object(frame), _ct.c_int(0))
_sys.setprofile(_swap_in_frame)
""")
    write("frame_rewrite", "a profiler hook rewrites the comparison's arguments inside its frame "
                           "(actual := expected)", nb)
    # --- broken or hostile code ------------------------------------------------------------
    nb = solved(); _set_target(nb, "def causal_mask(length):\n    import os\n    os._exit(1)\n")
    write("os_exit", "exits the kernel (os._exit) when called", nb)

    nb = solved(); _set_target(nb, "def causal_mask(length):\n    while True:\n        pass\n")
    write("infinite_loop", "loops forever when called", nb)

    nb = solved(); _set_target(nb, "def causal_mask(length):\n    import signal\n"
                                   "    signal.signal(signal.SIGINT, signal.SIG_IGN)\n    while True:\n        pass\n")
    write("loop_ignoring_interrupt", "ignores the interrupt and loops forever", nb)

    nb = solved(); _set_target(nb, "def causal_mask(length):\n    hog = []\n    while True:\n"
                                   "        hog.append(bytearray(256 * 2**20))\n")
    write("memory_bomb", "allocates memory until something gives", nb)

    nb = solved(); _set_target(nb, WRONG.replace("    return", "    print('spam ' * 4_000_000)\n    return"))
    write("huge_output", "prints 20 MB", nb)

    nb = solved(); _set_target(nb, WRONG + """
import pathlib as _p, autograder as _a
(_p.Path(_a.__file__).parent / "checks.py").write_text("# tampered by a student\\n")
""")
    write("tamper_grader_files", "overwrites the grader's autograder/checks.py for the students after it", nb)

    # --- correct controls: must keep full marks -------------------------------------------
    nb = solved(); _set_target(nb, """
import sys, warnings
def causal_mask(length):
    warnings.warn("a harmless warning from correct code")
    print("progress 100%|##########|", file=sys.stderr)
    return torch.ones(length, length, dtype=torch.bool).tril()
""")
    write("correct_with_stderr", "correct, but warns and writes a progress bar to stderr", nb)
    nb = solved()
    write("correct_control", "the solution, untouched", nb)
    return attacks


# How each must come out: "target0" = 0 on TARGET, full elsewhere; "full"; "zero" = 0 everywhere.
EXPECTED = {
    "skip_tag": "target0", "edited_test_cells": "target0", "deleted_test_cells": "target0",
    "duplicated_grade_cell": "target0", "renamed_notebook": "full", "invalid_json": "zero",
    "missing_notebook": "zero", "patched_checks": "target0", "rebound_check_names": "target0",
    "os_exit": "target0", "infinite_loop": "target0", "loop_ignoring_interrupt": "target0",
    "memory_bomb": "target0", "huge_output": "target0", "tamper_grader_files": "zero",
    "correct_with_stderr": "full", "correct_control": "full",
    "forged_actual": "target0", "rewritten_tests": "target0", "frame_rewrite": "target0",
}
