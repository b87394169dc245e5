"""nbgrader as instructors run it, from the repository root with its nbgrader_config.py: the
kit's verdict runs as nbgrader plugins, so `nbgrader autograde` gives the same scores as
`python -m autograder grade` (hw4: the notebook part; its prediction points are the kit's)."""
import os
import shutil
import sqlite3
import subprocess
import sys

from autograder.course import available_assignments
from conftest import ROOT, key_points, read_csv

STUDENTS = ("ada_complete", "ben_partial", "cy_untouched")


def nbgrader(*args, cwd=ROOT):
    # a PATH without this environment's scripts: nbgrader_config.py must make `alembic` findable
    env = dict(os.environ, PATH="/usr/bin:/bin")
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=1800)


def test_nbgrader_autograde_gives_the_kits_scores(tmp_path, example_course):
    sub = tmp_path / "submitted"
    for sid in STUDENTS:
        shutil.copytree(ROOT / "examples" / "submitted" / sid, sub / sid)
    kit = {}
    for row in read_csv(example_course[1] / "scores.csv"):
        if row["notebook"] == row["assignment"]:
            key = (row["student_id"], row["assignment"])
            kit[key] = kit.get(key, 0.0) + float(row["score"] or 0)   # written answers: empty until graded by hand

    def autograde(hw):   # each assignment in a new gradebook of its own: nbgrader runs alembic to create it
        db = tmp_path / f"{hw}.db"
        common = [f"--CourseDirectory.db_url=sqlite:///{db}", f"--CourseDirectory.submitted_directory={sub}",
                  f"--CourseDirectory.autograded_directory={tmp_path / 'autograded'}",
                  f"--CourseDirectory.release_directory={tmp_path / 'release' / hw}"]
        for step in ("generate_assignment", "autograde"):
            proc = nbgrader(step, hw, "--force", "--create", *common)
            assert proc.returncode == 0, proc.stdout + proc.stderr
        with sqlite3.connect(db) as con:
            return con.execute(
                "select student.id, assignment.name, sum(coalesce(grade.manual_score, grade.auto_score, 0)) "
                "from grade join submitted_notebook on grade.notebook_id = submitted_notebook.id "
                "join submitted_assignment on submitted_notebook.assignment_id = submitted_assignment.id "
                "join assignment on submitted_assignment.assignment_id = assignment.id "
                "join student on submitted_assignment.student_id = student.id group by 1, 2").fetchall()
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=2) as pool:
        rows = [row for rows in pool.map(autograde, available_assignments(ROOT)) for row in rows]
    native = {(sid, hw): score for sid, hw, score in rows}
    assert set(native) == set(kit) and len(kit) == len(STUDENTS) * len(available_assignments(ROOT))
    assert native == kit
    assert kit[("ada_complete", "hw2_attention")] == key_points("hw2_attention")["tests"] > 0
    assert kit[("cy_untouched", "hw2_attention")] == 0
