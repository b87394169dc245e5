"""The README's "Adding a question" change, applied word for word to a copy of the course: it
builds, and the new question is graded (full marks, zero, and each of its mutants as declared)."""
import re
import shutil

import pytest

from autograder import notebooks, questions
from autograder.mutants import load_mutants, submission_with, verdicts, write_mutant_class
from conftest import ROOT, copy_course, read_csv, run_cli

HW = "hw2_attention"
NEW = "attention_entropy"
NEW_POINTS = 3     # the README's new question: 1 visible + 2 hidden


def before() -> tuple[float, float]:
    """hw2's (automatic, by hand) points without the new question, from its declarations."""
    return questions.totals((ROOT / "solutions" / HW / f"{HW}.py").read_text())


def readme_examples() -> list[tuple[str, str, str]]:
    """(how, path, block) for each ``<!-- example: replace in|append to PATH -->`` fenced block of
    the README's "Adding a question" section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Adding a question", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"<!-- example: (replace in|append to) (\S+) -->\n```\w*\n(.*?)```", section, re.DOTALL)


def apply(course, how: str, path: str, block: str) -> None:
    target = course / path
    text = target.read_text()
    if how == "append to":
        target.write_text(text + block)
        return
    lines = block.splitlines()
    old = "".join(line[1:] + "\n" for line in lines if line.startswith("-"))
    new = "".join(line[1:] + "\n" for line in lines if line.startswith("+"))
    assert text.count(old) == 1, f"the README's change no longer applies to {path}:\n{old}"
    target.write_text(text.replace(old, new))


def test_the_readme_shows_the_whole_change():
    examples = readme_examples()
    assert {(how, path) for how, path, _ in examples} == {
        ("replace in", f"solutions/{HW}/{HW}.py"), ("append to", f"solutions/{HW}/{HW}.py"),
        ("append to", f"mutants/{HW}.py")}
    assert NEW not in (ROOT / "solutions" / HW / f"{HW}.py").read_text()      # a throw-away question
    auto, hand = before()
    section = (ROOT / "README.md").read_text().split("### Adding a question", 1)[1].split("\n## ", 1)[0]
    assert f"(here `{auto + NEW_POINTS:g} + {hand:g}`)" in section


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A copy of the course with the new question, built."""
    base = tmp_path_factory.mktemp("add-a-question")
    course = copy_course(base / "course", "examples")       # no example class: not needed here
    for how, path, block in readme_examples():
        apply(course, how, path, block)
    proc = run_cli("build", cwd=course, env={"COURSE_ROOT": str(course)}, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return course


def test_build_derives_the_points_and_releases_the_question(course):
    source = (course / "solutions" / HW / f"{HW}.py").read_text()
    assert questions.check_points(source) == []
    auto, hand = before()
    assert questions.totals(source) == (auto + NEW_POINTS, hand)
    row = next(line for line in (course / "README.md").read_text().splitlines() if line.startswith(f"| `{HW}` |"))
    assert row.endswith(f"| {auto + NEW_POINTS:g} + {hand:g} |"), row[-30:]
    release = notebooks.read(course / "assignments" / HW / f"{HW}.ipynb")
    cells = {notebooks.grade_id(c): c for c in release.cells}
    assert "raise NotImplementedError()" in cells[NEW].source and "clamp_min" not in cells[NEW].source
    assert cells["test_attention_entropy_hidden"].metadata["nbgrader"]["points"] == 2
    assert "softmax" not in cells["test_attention_entropy_hidden"].source        # hidden part removed


def test_the_new_question_is_graded_full_zero_and_by_its_mutants(course, tmp_path):
    submitted = tmp_path / "submitted"
    notebooks.write(submission_with(course, HW), submitted / "full" / HW / f"{HW}.ipynb")
    shutil.copytree(course / "assignments" / HW, submitted / "zero" / HW)
    mutants = [m for m in load_mutants(course, HW) if m.grade_id == NEW]
    assert sum(not m.correct for m in mutants) >= 2 and any(m.correct for m in mutants)
    by_student = write_mutant_class(course, HW, submitted, mutants)
    env = {"COURSE_ROOT": str(course), "AUTOGRADER_GRADEBOOK": f"sqlite:///{tmp_path / 'gradebook.db'}"}
    proc = run_cli("grade", str(submitted), "--out", str(tmp_path / "out"), "--jobs", "2", "--quiet",
                   cwd=course, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    scores: dict = {}
    for r in read_csv(tmp_path / "out" / "scores.csv"):
        if r["grade_id"].startswith("test_"):
            scores.setdefault(r["student_id"], {})[r["grade_id"]] = (float(r["score"]), float(r["max_score"]))
    new = {"test_attention_entropy": (1.0, 1.0), "test_attention_entropy_hidden": (2.0, 2.0)}
    assert {g: scores["full"][g] for g in new} == new
    auto, hand = before()
    assert sum(s for s, _ in scores["full"].values()) == sum(m for _, m in scores["full"].values()) == auto + NEW_POINTS
    assert {g: scores["zero"][g] for g in new} == {g: (0.0, m) for g, (_, m) in new.items()}
    assert sum(s for s, _ in scores["zero"].values()) == 0
    assert verdicts(by_student, scores) == []
    lost = {m.name for s, group in by_student.items() for m in group
            if not m.correct and scores[s]["test_attention_entropy"][0] == 0}
    assert lost == {"entropy_log2", "entropy_nan_at_zero"}
    grades = {r["student_id"]: r for r in read_csv(tmp_path / "out" / "grades.csv")}
    assert float(grades["full"]["max_score"]) == auto + NEW_POINTS + hand
