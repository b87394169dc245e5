"""End-to-end grading through `python -m autograder grade` (see conftest.graded)."""
import html
import re

import pytest

from autograder.course import available_assignments
from autograder.mutants import load_mutants
from conftest import ROOT, read_csv, run_cli

HW = available_assignments(ROOT)


@pytest.mark.parametrize("hw", HW)
def test_solution_scores_full_marks(graded, hw):
    score, max_score = graded[hw].total("ada_complete", hw)
    assert max_score > 0 and score == max_score


@pytest.mark.parametrize("hw", HW)
def test_released_notebook_scores_zero_without_crashing(graded, hw):
    assert graded[hw].total("cy_untouched", hw)[0] == 0
    fb = graded[hw].feedback("cy_untouched", hw)
    assert "not implemented yet" in fb


@pytest.mark.parametrize("hw", HW)
def test_partial_example_scores_in_between(graded, hw):
    score, max_score = graded[hw].total("ben_partial", hw)
    assert 0 < score < max_score


def test_a_typical_bug_loses_exactly_its_question(graded):
    # cosine without normalisation: only the cosine_similarity_matrix questions lose points
    scores = graded["hw1_embeddings"].scores[("cosine_dot_product", "hw1_embeddings")]
    for gid, (score, max_score) in scores.items():
        if gid.startswith("test_cosine_similarity_matrix"):
            assert score == 0, gid
        else:
            assert score == max_score, gid


@pytest.mark.parametrize("hw", HW)
def test_csv_files_have_the_contract_headers_and_a_row_per_submission(graded, hw):
    out = graded[hw].out
    assert (out / "grades.csv").read_text().splitlines()[0] == "student_id,assignment,score,max_score"
    assert (out / "scores.csv").read_text().splitlines()[0] == "student_id,assignment,notebook,grade_id,score,max_score"
    students = {p.name for p in (out.parent / "submitted").iterdir()}
    assert {sid for sid, _ in graded[hw].grades} == students
    for (sid, _), row in graded[hw].grades.items():
        cells = graded[hw].scores[(sid, hw)]
        assert sum(s for s, _ in cells.values()) == pytest.approx(float(row["score"]))
        assert sum(m for _, m in cells.values()) == pytest.approx(float(row["max_score"]))
        assert (out / "feedback" / sid / hw / f"{hw}.html").exists()


@pytest.mark.parametrize("hw", HW)
def test_feedback_never_shows_hidden_test_source(graded, hw):
    solution = (ROOT / "solutions" / hw / f"{hw}.py").read_text()
    hidden_lines = set()
    for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", solution, re.S):
        hidden_lines.update(ln.strip() for ln in block.splitlines() if len(ln.strip()) > 25)
    visible = re.sub(r"### BEGIN HIDDEN TESTS\n.*?### END HIDDEN TESTS", "", solution, flags=re.S)
    hidden_lines -= {ln.strip() for ln in visible.splitlines()}  # also in a visible test: not a secret
    assert hidden_lines
    for sid, _ in graded[hw].grades:
        page = html.unescape(re.sub(r"<[^>]+>", "", graded[hw].feedback(sid, hw)))
        assert "HIDDEN TESTS" not in page, sid
        leaked = [ln for ln in hidden_lines if ln in page]
        assert not leaked, f"{sid}: feedback shows hidden lines {leaked[:2]}"


@pytest.mark.parametrize("hw", HW)
def test_feedback_says_what_was_expected(graded, hw):
    page = html.unescape(graded[hw].feedback("ben_partial", hw))
    assert "expected" in page and "got" in page


@pytest.mark.parametrize("hw", HW)
def test_broken_submissions_still_get_a_row_and_feedback(graded, hw):
    g = graded[hw]
    assert g.total("broken_json", hw)[0] == 0
    assert "could not be read as a Jupyter notebook" in g.feedback("broken_json", hw)
    assert g.total("no_notebook", hw)[0] == 0
    assert f"No notebook named {hw}.ipynb" in g.feedback("no_notebook", hw)
    score, max_score = g.total("misnamed_notebook", hw)
    assert score == max_score
    assert "was graded as" in g.feedback("misnamed_notebook", hw)


def test_grade_fails_clearly_when_the_grader_cannot_work(tmp_path):
    proc = run_cli("grade", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))
    assert proc.returncode != 0 and "does not exist" in proc.stderr
    (tmp_path / "sub").mkdir()
    proc = run_cli("grade", str(tmp_path / "sub"), "--out", str(tmp_path / "out"), "--assignment", "hw9")
    assert proc.returncode != 0 and "unknown assignment" in proc.stderr


def test_empty_class_writes_empty_csvs(tmp_path):
    (tmp_path / "sub").mkdir()
    proc = run_cli("grade", str(tmp_path / "sub"), "--out", str(tmp_path / "out"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert read_csv(tmp_path / "out" / "grades.csv") == []


@pytest.mark.parametrize("hw", HW)
def test_mutants(graded, hw):
    """Wrong implementations lose points on their question (only there); correct ones keep all."""
    problems = []
    for m in load_mutants(ROOT, hw):
        scores = graded[hw].scores[(m.name, hw)]
        own = {g for g in scores if g == f"test_{m.grade_id}" or g.startswith(f"test_{m.grade_id}_")}
        allowed = own | {g for g in scores for a in m.affects if g == f"test_{a}" or g.startswith(f"test_{a}_")}
        lost = {g for g, (s, mx) in scores.items() if s < mx}
        if m.correct and lost:
            problems.append(f"{m.name} (correct: {m.description}) lost points on {sorted(lost)}")
        if not m.correct and not (lost & own):
            problems.append(f"{m.name} (wrong: {m.description}) kept full marks on {sorted(own)}")
        if not m.correct and lost - allowed:
            problems.append(f"{m.name} also lost points on unrelated questions {sorted(lost - allowed)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("hw", HW)
def test_every_graded_name_has_two_wrong_mutants(hw):
    mutants = load_mutants(ROOT, hw)
    names = {m.grade_id for m in mutants}
    for name in names:
        assert sum(1 for m in mutants if m.grade_id == name and not m.correct) >= 2, name
