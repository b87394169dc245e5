"""Lectures run top to bottom; self-check works for students; notebook helpers behave."""
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import notebooks
from conftest import ROOT, run_cli

LECTURES = sorted((ROOT / "lectures").glob("*.ipynb"))


def _execute(path: Path):
    """(executed notebook, seconds, exception or None): a lecture run top to bottom."""
    nb = nbformat.read(str(path), as_version=4)
    t0 = time.perf_counter()
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()  # raises on any error
    except Exception as exc:
        return nb, time.perf_counter() - t0, exc
    return nb, time.perf_counter() - t0, None


@pytest.fixture(scope="session")
def executed_lectures():
    """Every lecture, executed once, two at a time (each kernel is mostly one busy core)."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(LECTURES, pool.map(_execute, LECTURES)))


@pytest.mark.slow
@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_lecture_runs_top_to_bottom(executed_lectures, path: Path):
    nb, seconds, exc = executed_lectures[path]
    assert exc is None, f"{path.name}: {type(exc).__name__}: {exc}"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    print(f"{path.name}: {seconds:.1f} s (two lectures at a time)")


def test_there_are_lectures():
    assert LECTURES and all(p.with_suffix(".py").exists() for p in LECTURES)


def test_self_check_passes_a_complete_notebook_and_fails_an_untouched_one(tmp_path):
    hw = "hw1_embeddings"
    done = ROOT / "examples" / "submitted" / "ada_complete" / hw / f"{hw}.ipynb"
    proc = run_cli("check", str(done))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS  test_one_hot" in proc.stdout and "FAIL" not in proc.stdout
    untouched = ROOT / "assignments" / hw / f"{hw}.ipynb"
    proc = run_cli("check", str(untouched))
    assert proc.returncode == 1
    assert "FAIL  test_one_hot" in proc.stdout and "not implemented yet" in proc.stdout
    assert "0/" in proc.stdout


def test_self_check_rejects_a_non_notebook(tmp_path):
    bad = tmp_path / "x.ipynb"
    bad.write_text("{not json")
    proc = run_cli("check", str(bad))
    assert proc.returncode == 2 and "not a readable notebook" in proc.stderr


def test_text_source_conversion_is_deterministic():
    text = (ROOT / "solutions" / "hw1_embeddings" / "hw1_embeddings.py").read_text()
    a, b = notebooks.dumps(notebooks.text_to_notebook(text)), notebooks.dumps(notebooks.text_to_notebook(text))
    assert a == b
    nb = notebooks.text_to_notebook(text)
    assert any(c.id == "one_hot" for c in nb.cells)
    assert all("lines_to_next_cell" not in c.metadata for c in nb.cells)


def test_fill_in_and_student_submission():
    src = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"
    assert notebooks.fill_in(src) == "def f():\n    return 1\n"
    release = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "def f():\n    raise NotImplementedError()", metadata={"nbgrader": {"grade_id": "f", "solution": True}})])
    solution = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        src, metadata={"nbgrader": {"grade_id": "f", "solution": True}})])
    assert notebooks.student_submission(release, solution).cells[0].source == "def f():\n    return 1\n"
    assert notebooks.student_submission(release, solution, {"f": "x = 2"}).cells[0].source == "x = 2"
    with pytest.raises(KeyError):
        notebooks.student_submission(release, solution, {"g": "x"})
