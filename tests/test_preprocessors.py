"""The grader's nbconvert preprocessors, on hand-made cells (no kernel)."""
import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output
from nbgrader.utils import determine_grade

from autograder.preprocessors import NormaliseTestOutputs, ShortenTestTracebacks

TEST = {"nbgrader": {"grade": True, "solution": False, "grade_id": "test_x", "points": 2, "locked": True, "schema_version": 3}}


def normalised(cell):
    nb = new_notebook(cells=[cell])
    NormaliseTestOutputs().preprocess(nb, {})
    return nb.cells[0]


def ran(outputs):
    return new_code_cell("check_x()", metadata=dict(TEST), outputs=outputs, execution_count=3)


def test_stderr_warning_is_not_a_failure_but_stays_visible():
    cell = normalised(ran([new_output("stream", name="stderr", text="UserWarning: careful\n")]))
    assert determine_grade(cell) == (2, 2)
    assert cell.outputs[0]["name"] == "stdout" and "[stderr] UserWarning" in cell.outputs[0]["text"]


def test_a_last_value_gives_neither_partial_nor_free_credit():
    for value in ("0.5", "False", "tensor([0.])"):
        cell = normalised(ran([new_output("execute_result", data={"text/plain": value}, execution_count=3)]))
        assert determine_grade(cell) == (2, 2)  # judged by errors only
    # without the preprocessor nbgrader would have given partial credit for 0.5
    raw = ran([new_output("execute_result", data={"text/plain": "0.5"}, execution_count=3)])
    assert determine_grade(raw)[0] == 0.5


def test_errors_still_fail_and_unrun_tests_fail():
    err = new_output("error", ename="CheckFailure", evalue="expected 1, got 2", traceback=["..."])
    assert determine_grade(normalised(ran([err])))[0] == 0
    unrun = new_code_cell("check_x()", metadata=dict(TEST), outputs=[], execution_count=None)
    assert determine_grade(unrun) == (2, 2)        # nbgrader alone: a skipped test is full marks
    assert determine_grade(normalised(unrun))[0] == 0


def test_solution_and_plain_cells_are_untouched():
    cell = new_code_cell("x = 1", outputs=[new_output("stream", name="stderr", text="w\n")], execution_count=1)
    assert normalised(cell).outputs[0]["name"] == "stderr"


def test_tracebacks_are_reduced_to_the_message():
    err = new_output("error", ename="CheckFailure", evalue="\x1b[0;31mexpected 1, got 2",
                     traceback=["line with hidden_secret = 42", "CheckFailure: expected 1, got 2"])
    nb = nbformat.v4.new_notebook(cells=[ran([err])])
    ShortenTestTracebacks().preprocess(nb, {})
    assert nb.cells[0].outputs[0]["traceback"] == ["CheckFailure: expected 1, got 2"]
