"""Questions are declared once (compact cell headers, autograder/questions.py); every number the
prose states about points is checked against the declarations, and build writes the README's."""
import json
import re

import pytest

from autograder import notebooks, questions
from autograder.build import BuildError, convert_sources, readme_points
from autograder.course import PREDICTION_TASKS, available_assignments
from conftest import ROOT
from test_build import CONTRACT_NAMES

SOURCES = {hw: ROOT / "solutions" / hw / f"{hw}.py" for hw in available_assignments(ROOT)}

TOY = """\
# %% [markdown] locked: intro
# # Toy homework
#
# | part | you implement / answer | graded automatically | graded by hand |
# | --- | --- | --- | --- |
# | 1 | `double` | 3 | |
# | 2 | written question `written_why` | | 2 |
# | | **total: 5 points** | **3** | **2** |

# %% locked: setup
import math

# %% [markdown] locked: part1
# ## Part 1. Doubling (3 points)

# %% solution: double
def double(x):
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION

# %% test: test_double (1 point)
assert double(2) == 4

# %% test: test_double_hidden (2 points)
assert double(-1.5) == -3

# %% [markdown] locked: part2
# ## Part 2. Why (2 points)

# %% [markdown] answer: written_why (2 points)
# **Model answer.** Because.
"""


def test_a_declaration_expands_to_nbgrader_s_metadata():
    nb = notebooks.text_to_notebook(TOY)
    meta = {c.metadata["nbgrader"]["grade_id"]: (c.cell_type, c.metadata["nbgrader"]) for c in nb.cells}
    assert meta["double"] == ("code", {"grade": False, "grade_id": "double", "locked": False,
                                       "schema_version": 3, "solution": True, "task": False})
    assert meta["test_double_hidden"] == ("code", {"grade": True, "grade_id": "test_double_hidden", "locked": True,
                                                   "points": 2, "schema_version": 3, "solution": False, "task": False})
    assert meta["written_why"] == ("markdown", {"grade": True, "grade_id": "written_why", "locked": False, "points": 2,
                                                "schema_version": 3, "solution": True, "task": False})
    assert meta["intro"][0] == "markdown" and meta["intro"][1]["locked"] and not meta["intro"][1]["grade"]
    assert questions.totals(TOY) == (3, 2) and questions.points_summary(TOY) == "3 + 2"
    assert questions.graded_names(TOY) == ["double"]


def test_compact_is_the_inverse_of_expand():
    full = questions.expand(TOY)
    assert "nbgrader={" in full and ": double" not in full
    assert questions.compact(full) == TOY


@pytest.mark.parametrize("header, why", [
    ("# %% test: test_double", "needs its points"),
    ("# %% solution: double (2 points)", "earns no points itself"),
    ("# %% answer: written_why (2 points)", "must be a markdown cell"),
    ("# %% [markdown] test: test_double (1 point)", "must be a code cell"),
    ("# %% test: test double (1 point)", "expected 'test: <grade_id>'"),
    ("# %% test: test_double (one point)", "expected 'test: <grade_id>'"),
])
def test_a_malformed_declaration_names_its_line_and_what_was_expected(header, why):
    text = TOY.replace("# %% test: test_double (1 point)", header)
    with pytest.raises(questions.DeclarationError, match=re.escape(why)) as exc:
        questions.expand(text)
    assert "line 22" in str(exc.value)


def test_a_duplicated_grade_id_is_an_error():
    with pytest.raises(questions.DeclarationError, match="declared again"):
        questions.declarations(TOY.replace("test: test_double_hidden", "test: test_double"))


@pytest.mark.parametrize("old, new, says", [
    ("Doubling (3 points)", "Doubling (4 points)", "Part 1 heading says 4 points; its cells declare 3"),
    ("| 1 | `double` | 3 | |", "| 1 | `double` | 2 | |", "intro table row 1 says 2 + 0"),
    ("**total: 5 points**", "**total: 6 points**", "intro table total says 6 = 3 + 2"),
    ("test: test_double_hidden (2 points)", "test: test_double_hidden (3 points)", "Part 1 heading says 3"),
    ("# | 2 | written question `written_why` | | 2 |\n", "", "Part 2 has 2 points but no row"),
    ("Why (2 points)", "Why (not graded)", "Part 2 says it is not graded"),
])
def test_every_points_number_in_the_prose_is_checked(old, new, says):
    assert questions.check_points(TOY) == []
    assert old in TOY
    problems = questions.check_points(TOY.replace(old, new))
    assert any(says in p for p in problems), problems


def test_every_homework_s_prose_agrees_with_its_declarations():
    for hw, src in SOURCES.items():
        assert questions.check_points(src.read_text()) == [], hw


def test_the_graded_names_are_the_contract_s_both_ways():
    for hw, src in SOURCES.items():
        assert set(questions.graded_names(src.read_text())) == CONTRACT_NAMES[hw], hw


def test_the_readme_s_points_column_is_the_declarations_and_names_every_graded_name():
    readme = (ROOT / "README.md").read_text()
    for hw, src in SOURCES.items():
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{hw}` |"))
        assert row.rstrip(" |").endswith(questions.points_summary(src.read_text())), row[-40:]
        assert all(f"`{name}`" in row for name in questions.graded_names(src.read_text())), hw


def test_task_cells_are_the_course_s_prediction_rungs():
    for hw, task in PREDICTION_TASKS.items():
        declared = {d.grade_id: d.points for d in questions.declarations(SOURCES[hw].read_text()) if d.role == "task"}
        assert declared == {r.grade_id: r.points for r in task.rungs}, hw


def test_build_refuses_prose_that_disagrees_and_writes_the_readme_points(tmp_path):
    (tmp_path / "solutions" / "hw1_embeddings").mkdir(parents=True)
    (tmp_path / "lectures").mkdir()
    src = tmp_path / "solutions" / "hw1_embeddings" / "hw1_embeddings.py"
    src.write_text(TOY.replace("Doubling (3 points)", "Doubling (5 points)"))
    with pytest.raises(BuildError, match=r"hw1_embeddings\.py: Part 1 heading says 5 points"):
        convert_sources(tmp_path)
    src.write_text(TOY)
    convert_sources(tmp_path)
    nb = json.loads(src.with_suffix(".ipynb").read_text())
    assert [c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"]][-3:] == ["test_double_hidden", "part2", "written_why"]
    (tmp_path / "README.md").write_text("| assignment | what | points |\n|---|---|---|\n"
                                        "| `hw1_embeddings` | `double` | 20 + 5 |\n")
    assert readme_points(tmp_path)
    assert (tmp_path / "README.md").read_text().endswith("| `hw1_embeddings` | `double` | 3 + 2 |\n")
    assert not readme_points(tmp_path)
