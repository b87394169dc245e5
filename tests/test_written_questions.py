"""Written questions: nbgrader manually graded Markdown answer cells in every homework, named as
the contract says, with points; their model answer and rubric live only in the solution, and the
grader leaves them to the instructor (empty score, "needs manual grading")."""
import re

import pytest

from autograder import notebooks
from autograder.course import available_assignments
from conftest import ROOT, hand_graded, key_points, read_csv

HW = available_assignments(ROOT)
STUB = "YOUR ANSWER HERE"


def nbgrader_cells(path):
    return [(c, c.metadata.get("nbgrader", {})) for c in notebooks.read(path).cells]


def test_every_homework_has_written_questions_named_as_the_contract_says():
    assert len(HW) == 4
    for hw in HW:
        written = hand_graded(hw)
        if hw == "hw4_speaker_id":      # report questions, numbered 1, 2, 3, ...
            assert len(written) >= 3 and list(written) == [f"report_{n}" for n in range(1, len(written) + 1)], written
            assert all(4 <= p <= 6 for p in written.values()), written
        else:                           # inline questions
            assert written and all(re.fullmatch(r"written_[a-z][a-z0-9_]*", g) for g in written), written
            assert all(2 <= p <= 4 for p in written.values()), (hw, written)


@pytest.mark.parametrize("hw", HW)
def test_each_answer_cell_follows_a_locked_question_that_states_its_points(hw):
    cells = nbgrader_cells(ROOT / "solutions" / hw / f"{hw}.ipynb")
    answers = [i for i, (_, m) in enumerate(cells) if m.get("solution") and m.get("grade")]
    assert answers
    for i in answers:
        cell, meta = cells[i]
        question, qmeta = cells[i - 1]
        assert cell.cell_type == "markdown" and not meta.get("locked"), meta["grade_id"]
        assert question.cell_type == "markdown" and qmeta.get("locked") and not qmeta.get("grade"), meta["grade_id"]
        assert f"({meta['points']:g} points" in question.source, (meta["grade_id"], question.source[:120])
        # the solution holds a model answer and a rubric whose points add up to the cell's
        assert notebooks.MODEL_ANSWER in cell.source and notebooks.RUBRIC in cell.source, meta["grade_id"]
        rubric = cell.source.split(notebooks.RUBRIC, 1)[1]
        assert rubric.startswith(f" ({meta['points']:g} points).")
        criteria = [float(p) for p in re.findall(r"^- (\d+(?:\.\d+)?) points?:", rubric, re.M)]
        assert criteria and sum(criteria) == meta["points"], (meta["grade_id"], criteria)


@pytest.mark.parametrize("hw", HW)
def test_the_release_has_an_empty_answer_cell_and_no_trace_of_the_rubric(hw):
    solution = {m["grade_id"]: c.source for c, m in nbgrader_cells(ROOT / "solutions" / hw / f"{hw}.ipynb")
                if m.get("grade_id")}
    release = nbgrader_cells(ROOT / "assignments" / hw / f"{hw}.ipynb")
    text = "\n".join(c.source for c, _ in release)
    released = {m["grade_id"]: c for c, m in release if m.get("grade_id")}
    for gid in hand_graded(hw):
        assert released[gid].source.strip() == STUB, gid
        assert released[gid].metadata["nbgrader"]["points"] == hand_graded(hw)[gid]
        secret = [ln for ln in solution[gid].splitlines()           # lines of prose (not table rules)
                  if len(ln.strip()) > 20 and re.search(r"[a-z]{4}", ln) and ln.strip() in text]
        assert not secret, f"{hw}: the release shows lines of {gid}'s model answer or rubric: {secret[:2]}"
    assert "Rubric" not in text and "Model answer" not in text


@pytest.mark.parametrize("hw", HW)
def test_the_intro_table_shows_automatic_and_hand_graded_points_with_the_totals(hw):
    intro = notebooks.read(ROOT / "solutions" / hw / f"{hw}.ipynb").cells[0].source
    total, auto, hand = map(float, re.search(r"\*\*total: (\d+) points\*\* \| \*\*(\d+)\*\* \| \*\*(\d+)\*\* \|",
                                             intro).groups())
    points = key_points(hw)
    assert (total, auto, hand) == (points["total"], points["tests"] + points["predictions"], points["written"])
    rows = [r for r in intro.splitlines() if re.match(r"\| \d+ \|", r)]           # one row per part
    column = [[float(x) if x.strip() else 0.0 for x in r.split("|")[3:5]] for r in rows]
    assert [sum(c) for c in zip(*column)] == [auto, hand]
    assert "../../lectures/glossary.md" in intro


@pytest.mark.parametrize("hw", HW)
def test_example_students_answers(hw):
    """ada answered every written question with the model answer, never the rubric; cy left the stubs."""
    for sid, expect in (("ada_complete", "answer"), ("cy_untouched", "stub")):
        cells = nbgrader_cells(ROOT / "examples" / "submitted" / sid / hw / f"{hw}.ipynb")
        answers = {m["grade_id"]: c.source for c, m in cells if m.get("grade_id") in hand_graded(hw)}
        assert set(answers) == set(hand_graded(hw))
        for gid, source in answers.items():
            if expect == "stub":
                assert source.strip() == STUB
            else:
                assert len(source) > 200 and STUB not in source and "Rubric" not in source and "point:" not in source


def test_grading_leaves_written_answers_to_the_instructor(example_course):
    """The example class graded by the kit: every written answer has an empty score in scores.csv,
    the feedback says "needs manual grading" for each, and the maximum counts their points."""
    _, out = example_course
    rows = read_csv(out / "scores.csv")
    grades = {(r["student_id"], r["assignment"]): r for r in read_csv(out / "grades.csv")}
    assert len(grades) == 3 * len(HW)
    for (sid, hw), row in grades.items():
        written = hand_graded(hw)
        mine = {r["grade_id"]: r for r in rows if (r["student_id"], r["assignment"]) == (sid, hw)}
        assert {g: (mine[g]["score"], float(mine[g]["max_score"])) for g in written} == {g: ("", p) for g, p in written.items()}
        assert float(row["max_score"]) == key_points(hw)["total"]
        assert float(row["score"]) == sum(float(r["score"]) for g, r in mine.items() if g not in written)
        page = (out / "feedback" / sid / hw / f"{hw}.html").read_text()
        assert page.count("<td>needs manual grading</td>") == len(written), (sid, hw)   # one row each
        for gid in written:
            assert re.search(rf"<td>{gid}</td><td>- / {written[gid]:g}</td><td>needs manual grading</td>", page), (sid, gid)
