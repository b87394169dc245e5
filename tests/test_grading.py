"""End-to-end grading through `python -m autograder grade` (see conftest.graded)."""
import html
import re
import shutil

import pytest

from autograder.course import available_assignments
from autograder.mutants import Mutant, load_mutants, pack, verdicts
from conftest import (MUTANT_STUDENTS, ROOT, TYPICAL_BUG, example_predictions, key_points, read_csv, run_cli,
                      write_example_answers)

HW = available_assignments(ROOT)


@pytest.mark.parametrize("hw", HW)
def test_solution_scores_full_marks(graded, hw):
    """Every automatically graded point; the written answers wait for an instructor (empty)."""
    score, max_score = graded[hw].automatic_total("ada_complete", hw)
    assert max_score > 0 and score == max_score
    written = graded[hw].written[("ada_complete", hw)]
    assert written and all(s is None for s, _ in written.values())
    assert graded[hw].total("ada_complete", hw) == (score, max_score + sum(m for _, m in written.values()))


@pytest.mark.parametrize("hw", HW)
def test_released_notebook_scores_zero_without_crashing(graded, hw):
    assert graded[hw].total("cy_untouched", hw)[0] == 0
    fb = graded[hw].feedback("cy_untouched", hw)
    assert "not implemented yet" in fb


@pytest.mark.parametrize("hw", HW)
def test_partial_example_scores_in_between(graded, hw):
    score, max_score = graded[hw].total("ben_partial", hw)
    assert 0 < score < max_score


@pytest.mark.parametrize("hw", HW)
def test_a_typical_bug_loses_exactly_its_question(graded, hw):
    bug = TYPICAL_BUG[hw]
    scores = graded[hw].scores[("typical_bug", hw)]
    for gid, (score, max_score) in scores.items():
        if gid == f"test_{bug.grade_id}" or gid.startswith(f"test_{bug.grade_id}_"):
            continue
        assert score == max_score, f"{bug.name} cost points on {gid}"
    own = [scores[g] for g in scores if g.startswith(f"test_{bug.grade_id}")]
    assert own and sum(s for s, _ in own) < sum(m for _, m in own), f"{bug.name} kept its points"


@pytest.mark.parametrize("hw", HW)
def test_csv_files_have_the_contract_headers_and_a_row_per_submission(graded, hw):
    out = graded[hw].out
    assert (out / "grades.csv").read_text().splitlines()[0] == "student_id,assignment,score,max_score"
    assert (out / "scores.csv").read_text().splitlines()[0] == "student_id,assignment,notebook,grade_id,score,max_score"
    students = {p.name for p in (out.parent / "submitted").iterdir()}
    assert {sid for sid, _ in graded[hw].grades} == students
    for (sid, _), row in graded[hw].grades.items():
        cells = {**graded[hw].scores[(sid, hw)], **graded[hw].written[(sid, hw)]}
        assert sum(s or 0 for s, _ in cells.values()) == pytest.approx(float(row["score"]))
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
    for m in load_mutants(ROOT, hw):  # also in a student's own code (shown in feedback): not a leak
        hidden_lines -= {ln.strip() for ln in m.source.splitlines()}
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
    score, max_score = g.automatic_total("misnamed_notebook", hw)
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
    by_student = MUTANT_STUDENTS[hw]
    assert sum(len(g) for g in by_student.values()) == len(load_mutants(ROOT, hw))
    scores = {sid: graded[hw].scores[(sid, hw)] for sid in by_student}
    problems = verdicts(by_student, scores)
    assert not problems, "\n".join(problems)


def test_mutant_verdicts_catch_a_grader_that_misbehaves():
    """The harness itself: a wrong mutant that keeps its points, or collateral damage, is reported."""
    wrong = Mutant("w", "f", "x = 1")
    right = Mutant("r", "g", "y = 1", correct=True)
    ok = {"s": {"test_f": (0.0, 1.0), "test_f_hidden": (1.0, 2.0), "test_g": (1.0, 1.0), "test_h": (1.0, 1.0)}}
    assert verdicts({"s": [wrong, right]}, ok) == []
    missed = {"s": {"test_f": (1.0, 1.0), "test_g": (1.0, 1.0), "test_h": (1.0, 1.0)}}
    assert "kept full marks" in verdicts({"s": [wrong, right]}, missed)[0]
    collateral = {"s": {"test_f": (0.0, 1.0), "test_g": (0.0, 1.0), "test_h": (1.0, 1.0)}}
    assert any("lost points" in p for p in verdicts({"s": [wrong, right]}, collateral))
    assert [len(g) for g in pack([wrong, right, Mutant("w2", "f", "z = 1")])] == [2, 1]


@pytest.mark.parametrize("hw", HW)
def test_every_graded_name_has_two_wrong_mutants_and_a_correct_alternative(hw):
    """Every name the contract grades (not only those that happen to have mutants), and no
    mutant for a cell that is not graded."""
    from test_build import CONTRACT_NAMES
    mutants = load_mutants(ROOT, hw)
    assert {m.grade_id for m in mutants} <= CONTRACT_NAMES[hw], "a mutant replaces a cell that is not graded"
    for name in sorted(CONTRACT_NAMES[hw]):
        wrong = sum(1 for m in mutants if m.grade_id == name and not m.correct)
        right = sum(1 for m in mutants if m.grade_id == name and m.correct)
        assert wrong >= 2 and right >= 1, f"{hw}: {name} has {wrong} wrong mutants and {right} correct alternatives"


# ----------------------------------------------------------------------------- hw4 predictions
HW4 = "hw4_speaker_id"


def test_hw4_predictions_score_one_rung_per_threshold_reached(graded):
    import json

    from autograder.course import PREDICTION_TASKS
    task = PREDICTION_TASKS[HW4]
    thresholds = [r.threshold for r in task.rungs]
    assert thresholds == sorted(thresholds) and len(set(thresholds)) == len(thresholds) and thresholds[0] > 0
    spec = json.loads((ROOT / "examples" / "class.json").read_text())["students"]
    reached = {}
    for sid in ("ada_complete", "ben_partial"):
        accuracy = spec[sid][HW4]["predictions_accuracy"]
        cells = graded[HW4].scores[(sid, HW4)]
        for rung in task.rungs:
            assert cells[rung.grade_id] == ((rung.points if accuracy >= rung.threshold else 0.0), rung.points)
        reached[sid] = sum(accuracy >= t for t in thresholds)
        assert f"{accuracy:.4f}" in graded[HW4].feedback(sid, HW4)
    assert reached["ada_complete"] == len(thresholds) and 0 < reached["ben_partial"] < len(thresholds)
    rows = [r for r in read_csv(graded[HW4].out / "scores.csv") if r["grade_id"].startswith("predictions_")]
    assert rows and {r["notebook"] for r in rows} == {"predictions.csv"}


def test_hw4_missing_or_malformed_predictions_score_zero_with_a_reason(graded):
    from autograder.course import PREDICTION_TASKS
    rungs = [r.grade_id for r in PREDICTION_TASKS[HW4].rungs]
    cy = graded[HW4].scores[("cy_untouched", HW4)]
    assert all(cy[g][0] == 0 for g in rungs)
    assert "No predictions.csv (or output.csv) was submitted" in graded[HW4].feedback("cy_untouched", HW4)
    bad = graded[HW4].scores[("bad_predictions", HW4)]
    assert all(bad[g][0] == 0 for g in rungs)
    assert all(s == m for g, (s, m) in bad.items() if g.startswith("test_"))   # the notebook keeps its points
    assert "expected the header" in html.unescape(graded[HW4].feedback("bad_predictions", HW4))


def test_without_the_hidden_labels_the_rest_is_graded_and_the_run_says_so(tmp_path):
    """hw4's labels missing: hw2 and hw4's notebook part are graded and written; the prediction
    rungs are "not graded" (empty in scores.csv, nothing in the gradebook) and the run exits 2."""
    for sid in ("ada_complete", "cy_untouched"):
        for hw in (HW4, "hw2_attention"):
            shutil.copytree(ROOT / "examples" / "submitted" / sid / hw, tmp_path / "sub" / sid / hw)
    proc = run_cli("grade", str(tmp_path / "sub"), "--out", str(tmp_path / "out"), "--quiet", "--jobs", "2",
                   env={"HW4_DATA": str(tmp_path / "no-data-here")})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--answers" in proc.stderr and "predictions.csv" in proc.stderr and "everything else is graded" in proc.stderr
    grades = {(r["student_id"], r["assignment"]): r for r in read_csv(tmp_path / "out" / "grades.csv")}
    hw2, hw4 = key_points("hw2_attention"), key_points(HW4)
    assert float(grades[("ada_complete", "hw2_attention")]["score"]) == hw2["tests"] > 0   # written answers: empty
    assert float(grades[("ada_complete", HW4)]["score"]) == hw4["tests"] > 0
    assert float(grades[("ada_complete", HW4)]["max_score"]) == hw4["total"] == hw4["tests"] + 8 + hw4["written"]
    rungs = [r for r in read_csv(tmp_path / "out" / "scores.csv") if r["grade_id"].startswith("predictions_")]
    assert len(rungs) == 8 and all(r["score"] == "" for r in rungs)
    assert "Not graded yet" in (tmp_path / "out" / "feedback" / "ada_complete" / HW4 / f"{HW4}.html").read_text()


def test_hw4_rungs_in_the_notebook_are_the_graders():
    """The notebook shows each rung as a task cell (so nbgrader's gradebook counts its points)
    with the threshold the grader uses."""
    import nbformat

    from autograder.course import PREDICTION_TASKS
    nb = nbformat.read(str(ROOT / "solutions" / HW4 / f"{HW4}.ipynb"), as_version=4)
    tasks = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if c.metadata.get("nbgrader", {}).get("task")}
    rungs = PREDICTION_TASKS[HW4].rungs
    assert set(tasks) == {r.grade_id for r in rungs}
    for r in rungs:
        assert tasks[r.grade_id].metadata["nbgrader"]["points"] == r.points
        assert f"**{r.threshold:.2f}**" in tasks[r.grade_id].source and r.label in tasks[r.grade_id].source


def test_feedback_renders_formulas_offline(graded):
    """MathJax comes with the feedback (OUT/mathjax), not from a CDN."""
    out = graded["hw2_attention"].out
    page = graded["hw2_attention"].feedback("ada_complete", "hw2_attention")
    src = re.search(r'<script src="([^"]*MathJax\.js[^"]*)"', page).group(1)
    assert not src.startswith(("http:", "https:", "//"))
    page_dir = out / "feedback" / "ada_complete" / "hw2_attention"
    assert (page_dir / src.split("?")[0]).resolve().is_file()


# ----------------------------------------------------------------------------- hw4 predictions file, unit level
def _grade_predictions(files: dict[str, bytes], tmp_path):
    """The grader's scoring of hw4's predictions file for a submission holding ``files``."""
    from autograder.course import PREDICTION_TASKS
    from autograder.grade import _predictions
    from autograder.intake import Submission
    answers = write_example_answers(tmp_path / "answers.csv")
    scores, page = _predictions(PREDICTION_TASKS[HW4], Submission("s", HW4, files), answers, tmp_path)
    return scores, html.unescape(page)


def test_hw4_output_csv_the_original_courses_name_gets_its_rungs(tmp_path):
    from autograder.course import PREDICTION_TASKS
    task = PREDICTION_TASKS[HW4]
    accuracy = (task.rungs[1].threshold + task.rungs[2].threshold) / 2        # Simple and Medium reached
    example_predictions(tmp_path / "p.csv", accuracy)
    scores, page = _grade_predictions({"output.csv": (tmp_path / "p.csv").read_bytes()}, tmp_path)
    assert [scores[r.grade_id][0] for r in task.rungs] == [r.points if accuracy >= r.threshold else 0.0 for r in task.rungs]
    assert sum(s for s, _ in scores.values()) == task.rungs[0].points + task.rungs[1].points
    assert "Test accuracy of your predictions" in page


def test_hw4_integer_categories_score_zero_with_the_cause_in_the_feedback(tmp_path):
    rows = (write_example_answers(tmp_path / "truth.csv")).read_text().splitlines()
    ints = "\n".join(rows[:1] + [f"{r.split(',')[0]},{n % 100}" for n, r in enumerate(rows[1:])]) + "\n"
    scores, page = _grade_predictions({"predictions.csv": ints.encode()}, tmp_path)
    assert all(s == 0 for s, _ in scores.values())
    assert "predictions.csv could not be scored" in page and "Category holds integers" in page
    assert "id2speaker" in page and str(tmp_path) not in page             # the scratch path is not shown
