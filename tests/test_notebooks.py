"""Lectures run top to bottom; self-check works for students; notebook helpers behave."""
from pathlib import Path

import nbformat
import pytest

from autograder import notebooks
from claims import claims_by_lecture
from conftest import ROOT, run_cli

LECTURES = sorted((ROOT / "lectures").glob("*.ipynb"))
CLAIMS = claims_by_lecture()


@pytest.mark.slow
@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_lecture_runs_top_to_bottom(executed_lectures, path: Path):
    nb, seconds, exc = executed_lectures[path]
    assert exc is None, f"{path.name}: {type(exc).__name__}: {exc}"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    print(f"{path.name}: {seconds:.1f} s (two lectures at a time)")


def _claim_values(nb) -> list[dict]:
    import json
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    line = next(ln for ln in text.splitlines() if ln.startswith("CLAIMS "))
    return json.loads(line[len("CLAIMS "):])


CLAIM_CASES = [(stem, i) for stem, claims in sorted(CLAIMS.items()) for i in range(len(claims))]


@pytest.mark.slow
@pytest.mark.parametrize("stem,i", CLAIM_CASES, ids=[f"{s}-{i}" for s, i in CLAIM_CASES])
def test_lecture_claim_holds(executed_lectures, stem: str, i: int):
    """A number or an ordering the lecture's text states is what the lecture's own run shows."""
    claim = CLAIMS[stem][i]
    path = ROOT / "lectures" / f"{stem}.ipynb"
    nb, _seconds, exc = executed_lectures[path]
    assert exc is None, f"{path.name} did not run: {exc}"
    got = _claim_values(nb)[i]
    assert "error" not in got, f"{stem}: {claim.says!r}: {claim.value} raised {got.get('error')}"
    assert claim.holds(got["value"]), (f"{stem} says {claim.says!r}, but its run gives "
                                       f"{claim.value} = {got['value']!r} ({claim.why})")


def test_every_claim_quotes_its_lecture():
    """A claim's sentence is in its lecture verbatim (whitespace-normalised)."""
    assert set(CLAIMS) <= {p.stem for p in LECTURES}, "a claims module names no lecture"
    for stem, claims in CLAIMS.items():
        text = " ".join((ROOT / "lectures" / f"{stem}.py").read_text().replace("#", " ").split())
        for claim in claims:
            assert " ".join(claim.says.split()) in text, f"{stem}: no longer says {claim.says!r}"


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
    # the written answers are listed, not checked: the exit status above came from the tests alone
    assert "Written answers (written_one_hot, written_svd_dim), worth 5 points, are graded by hand" in proc.stdout


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


def test_one_symbol_table_in_the_first_lecture_and_every_homework_intro():
    """lectures/notation.md is the course's one symbol table; lecture 1 and each homework's intro
    show it verbatim (as Markdown lines of their jupytext source)."""
    rows = [ln for ln in (ROOT / "lectures" / "notation.md").read_text().splitlines() if ln.strip()]
    places = [ROOT / "lectures" / "01_vectors_and_embeddings.py",
              *sorted((ROOT / "solutions").glob("hw*/hw*.py"))]
    for place in places:
        text = place.read_text()
        missing = [row for row in rows if f"# {row}\n" not in text]
        assert not missing, f"{place.relative_to(ROOT)} lacks the symbol table rows {missing[:3]}"
