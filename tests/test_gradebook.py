"""`grade` leaves its results in the course's nbgrader gradebook: students, submissions, an
automatic score per test cell and hw4's prediction rungs, so formgrader and `nbgrader export`
work on top; re-grading replaces automatic scores and keeps manual scores and comments."""
import csv
import shutil
import subprocess
import sys

from nbgrader.api import Gradebook

from autograder.course import COURSE_ID
from autograder.mutants import submission_with
from autograder import notebooks
from conftest import ROOT, hand_graded, key_points, read_csv, run_cli, write_example_answers

HWS = ("hw2_attention", "hw4_speaker_id")


def grade(sub, out, db, answers):
    proc = run_cli("grade", str(sub), "--out", str(out), "--jobs", "2", "--quiet", "--answers", str(answers),
                   "--gradebook", f"sqlite:///{db}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {(r["student_id"], r["assignment"], r["grade_id"]): float(r["score"])
            for r in read_csv(out / "scores.csv") if r["score"]}          # written answers: empty until graded by hand


def test_results_go_into_the_gradebook_and_regrading_keeps_manual_work(tmp_path):
    sub, db = tmp_path / "submitted", tmp_path / "gradebook.db"
    for sid in ("ada_complete", "ben_partial", "cy_untouched"):
        for hw in HWS:
            shutil.copytree(ROOT / "examples" / "submitted" / sid / hw, sub / sid / hw)
    answers = write_example_answers(tmp_path / "answers.csv")
    first = grade(sub, tmp_path / "out1", db, answers)

    with Gradebook(f"sqlite:///{db}", COURSE_ID) as gb:
        assert {s.id for s in gb.students} == {"ada_complete", "ben_partial", "cy_untouched"}
        for (sid, hw, gid), score in first.items():
            assert gb.find_grade(gid, hw, hw, sid).score == score, (sid, gid)
        assert gb.find_submission("hw4_speaker_id", "ada_complete").score == 28       # 20 + the four rungs
        assert gb.find_grade("predictions_boss", "hw4_speaker_id", "hw4_speaker_id", "ben_partial").score == 0
        first_ben_hw4 = gb.find_submission("hw4_speaker_id", "ben_partial").score
        # an instructor's hand-given score and comment, in formgrader
        gb.find_grade("test_window_mask", "hw2_attention", "hw2_attention", "ben_partial").manual_score = 0.5
        gb.find_comment("window_mask", "hw2_attention", "hw2_attention", "ben_partial").manual_comment = "see me"
        gb.db.commit()

    # ben resubmits a complete hw2, and it is graded again
    again = tmp_path / "resubmitted"
    notebooks.write(submission_with(ROOT, "hw2_attention"), again / "ben_partial" / "hw2_attention" / "hw2_attention.ipynb")
    second = grade(again, tmp_path / "out2", db, answers)
    assert second[("ben_partial", "hw2_attention", "test_MultiHeadAttention")] == 3
    with Gradebook(f"sqlite:///{db}", COURSE_ID) as gb:
        assert len(gb.find_student("ben_partial").submissions) == len(HWS)          # replaced, not duplicated
        assert gb.find_submission("hw4_speaker_id", "ben_partial").score == first_ben_hw4   # untouched
        kept = gb.find_grade("test_window_mask", "hw2_attention", "hw2_attention", "ben_partial")
        assert kept.manual_score == 0.5 and kept.auto_score == 1 and kept.score == 0.5
        assert gb.find_comment("window_mask", "hw2_attention", "hw2_attention", "ben_partial").manual_comment == "see me"
        assert gb.find_grade("test_MultiHeadAttention", "hw2_attention", "hw2_attention", "ben_partial").score == 3

    # nbgrader's own export reads it
    export = tmp_path / "grades.csv"
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "export", f"--CourseDirectory.db_url=sqlite:///{db}",
                           f"--CsvExportPlugin.to={export}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {(r["student_id"], r["assignment"]): float(r["score"]) for r in csv.DictReader(open(export))}
    assert rows[("ada_complete", "hw4_speaker_id")] == 28 and rows[("cy_untouched", "hw2_attention")] == 0


def test_written_answers_need_manual_grading_until_an_instructor_grades_them(tmp_path):
    """The homework's hand-graded answer cells (written questions): empty in scores.csv and "needs
    manual grading" in the feedback until a score is given in the gradebook (formgrader); then the
    CSVs carry it and re-grading keeps it."""
    hw = "hw2_attention"
    written, points = hand_graded(hw), key_points(hw)
    gid = next(iter(written))
    sub, db = tmp_path / "submitted", tmp_path / "gradebook.db"
    for sid in ("ada_complete", "cy_untouched"):
        shutil.copytree(ROOT / "examples" / "submitted" / sid / hw, sub / sid / hw)
    # a figure for a written answer goes with the graded notebook (formgrader shows it); what only
    # claims to be an image, and SVG (it can carry script), do not
    figure = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
    (sub / "ada_complete" / hw / "report_3.png").write_bytes(figure)
    (sub / "ada_complete" / hw / "fake.png").write_text("<script>alert(1)</script>")
    (sub / "ada_complete" / hw / "plot.svg").write_text("<svg onload='alert(1)'/>")

    def grade_it(out):
        proc = run_cli("grade", str(sub), "--out", str(out), "--quiet", "--jobs", "2", "--gradebook", f"sqlite:///{db}")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        scores = {(r["student_id"], r["grade_id"]): r["score"] for r in read_csv(out / "scores.csv")}
        grades = {r["student_id"]: r for r in read_csv(out / "grades.csv")}
        return scores, grades

    scores, grades = grade_it(tmp_path / "out1")
    assert all(scores[(sid, g)] == "" for sid in ("ada_complete", "cy_untouched") for g in written)
    assert float(grades["ada_complete"]["score"]) == points["tests"] > 0
    assert float(grades["ada_complete"]["max_score"]) == points["tests"] + sum(written.values())
    page = (tmp_path / "out1" / "feedback" / "ada_complete" / hw / f"{hw}.html").read_text()
    assert page.count("<td>needs manual grading</td>") == len(written)      # one row of the scores table each
    graded = tmp_path / "autograded" / "ada_complete" / hw             # beside the gradebook, for formgrader
    assert (graded / f"{hw}.ipynb").is_file() and (graded / "report_3.png").read_bytes() == figure
    assert not (graded / "fake.png").exists() and not (graded / "plot.svg").exists()
    with Gradebook(f"sqlite:///{db}", COURSE_ID) as gb:
        grade = gb.find_grade(gid, hw, hw, "ada_complete")
        assert grade.needs_manual_grade and grade.auto_score is None
        grade.manual_score = 1.5                                   # the instructor grades it in formgrader
        gb.db.commit()
    scores, grades = grade_it(tmp_path / "out2")
    assert scores[("ada_complete", gid)] == "1.5" and float(grades["ada_complete"]["score"]) == points["tests"] + 1.5
    assert scores[("cy_untouched", gid)] == ""
    with Gradebook(f"sqlite:///{db}", COURSE_ID) as gb:
        assert gb.find_grade(gid, hw, hw, "ada_complete").manual_score == 1.5
