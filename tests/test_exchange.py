"""nbgrader's exchange, round trip for two students, with nbgrader's own commands around the
kit's grader: release_assignment, fetch_assignment, submit, collect, `python -m autograder
grade`, release_feedback, fetch_feedback. (Students are told apart by their user name, which
nbgrader takes from the OS, and their home folder, where it caches submissions: here each
student's commands run with their own name and HOME.)"""
import os
import shutil
import subprocess
import sys

from conftest import ROOT, key_points, read_csv, run_cli

HW = "hw2_attention"
AS_STUDENT = ("import sys, nbgrader.utils, nbgrader.apps.nbgraderapp as app; name = sys.argv.pop(1); "
              "nbgrader.utils.get_osusername = lambda: name; sys.exit(app.main())")


def nbgrader(args, cwd, student=None):
    cmd = [sys.executable, "-c", AS_STUDENT, student, *args] if student else [sys.executable, "-m", "nbgrader", *args]
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    if student:
        env["HOME"] = str(cwd)
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, f"{args}: {proc.stdout}{proc.stderr}"
    return proc


def test_release_fetch_submit_collect_grade_and_feedback_for_two_students(tmp_path):
    exchange, submitted, out = tmp_path / "exchange", tmp_path / "submitted", tmp_path / "out"
    exchange.mkdir()
    course = [f"--Exchange.root={exchange}", "--CourseDirectory.course_id=attention-course"]
    nbgrader(["release_assignment", HW, "--force", *course], ROOT)      # from assignments/ (the release)

    solved = ROOT / "examples" / "submitted" / "ada_complete" / HW / f"{HW}.ipynb"
    for student in ("alice", "bob"):
        home = tmp_path / student
        home.mkdir()
        nbgrader(["fetch_assignment", HW, *course], home, student)
        fetched = home / HW / f"{HW}.ipynb"
        assert fetched.is_file()
        if student == "alice":                                      # alice solves it, bob hands it in as is
            shutil.copy(solved, fetched)
        nbgrader(["submit", HW, *course], home, student)

    nbgrader(["collect", HW, *course, f"--CourseDirectory.submitted_directory={submitted}"], ROOT)
    assert {p.name for p in submitted.iterdir()} == {"alice", "bob"}
    proc = run_cli("grade", str(submitted), "--out", str(out), "--quiet", "--jobs", "2",
                   "--gradebook", f"sqlite:///{tmp_path / 'gradebook.db'}")
    assert proc.returncode == 0, proc.stderr
    totals = {r["student_id"]: float(r["score"]) for r in read_csv(out / "grades.csv")}
    points = key_points(HW)                     # alice's written answers wait for an instructor
    assert totals == {"alice": points["tests"], "bob": 0.0}

    nbgrader(["release_feedback", HW, *course, f"--CourseDirectory.feedback_directory={out / 'feedback'}"], ROOT)
    for student, score in (("alice", f"{points['tests']:g} / {points['total']:g}"), ("bob", f"0 / {points['total']:g}")):
        home = tmp_path / student
        nbgrader(["fetch_feedback", HW, *course], home, student)
        pages = list((home / HW / "feedback").rglob(f"{HW}.html"))
        assert len(pages) == 1 and score in pages[0].read_text(), (student, pages)
