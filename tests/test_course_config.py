"""The course configuration (autograder/course.py) is the only part of the grader that knows the
course's assignments: a part graded from a predictions file is a PredictionTask whose scoring and
example data come from hooks (import strings), and the generic grader calls those."""
from __future__ import annotations

import ast
import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import build, course, grade
from autograder.course import ASSIGNMENTS, PREDICTION_TASKS, HookError, PredictionTask, Rung, resolve_hook
from autograder.intake import Submission
from conftest import ROOT

GRADER = sorted(p for p in (ROOT / "autograder").glob("*.py") if p.name != "course.py")


# ----------------------------------------------------------------------------- the grader names no assignment
def _code_strings(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string constant and identifier of the code, docstrings excepted: (line, text)."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                docstrings.add(id(first.value))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            out.append((node.lineno, node.value))
        elif isinstance(node, ast.Name):
            out.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute):
            out.append((node.lineno, node.attr))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.append((node.lineno, node.name))
        elif isinstance(node, ast.arg):
            out.append((node.lineno, node.arg))
        elif isinstance(node, ast.alias):
            out.append((getattr(node, "lineno", 0), node.name))
    return out


@pytest.mark.parametrize("path", GRADER, ids=lambda p: p.name)
def test_the_grader_names_no_assignment_and_imports_no_assignment_code(path):
    """No module of autograder/ but course.py holds an assignment's name (anywhere, comments and
    docstrings included), its short name such as ``hw4`` (in code: comments and docstrings may say
    "e.g."), or imports a module of coursekit (an assignment's code is reached through the
    configuration's hooks)."""
    text = path.read_text()
    for name in ASSIGNMENTS:
        assert name not in text, f"{path.name} names the assignment {name}"
    assert "coursekit.speaker" not in text, f"{path.name} names a coursekit.speaker* module"
    tree = ast.parse(text)
    tags = {re.match(r"[A-Za-z]+\d+", name).group().lower() for name in ASSIGNMENTS}     # hw1 ... hw4
    for line, s in _code_strings(tree):
        low = s.lower()
        assert not any(t in low for t in tags), f"{path.name}:{line}: {s!r} names an assignment"
        assert "coursekit." not in low, f"{path.name}:{line}: {s!r} names a module of coursekit"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bad = [a.name for a in node.names if a.name.startswith("coursekit.")]
        elif isinstance(node, ast.ImportFrom):
            bad = ([node.module] if (node.module or "").startswith("coursekit") and node.level == 0 else [])
        else:
            continue
        assert not bad, f"{path.name}:{node.lineno} imports {bad}"


def test_the_configuration_is_cheap_to_import():
    """course.py resolves its hooks lazily: importing it imports neither torch nor traitlets."""
    proc = subprocess.run([sys.executable, "-c", "import sys, autograder.course as c; "
                           "print(sorted(m for m in ('torch', 'traitlets', 'coursekit') if m in sys.modules))"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_every_configured_hook_resolves():
    for hw, task in PREDICTION_TASKS.items():
        assert hw in ASSIGNMENTS
        assert callable(task.hook("score"))
        for name in task.HOOKS:
            ref = getattr(task, name)
            assert ref is None or callable(task.hook(name)), (hw, name)


def test_a_hook_must_be_an_import_string():
    rungs = (Rung("r", "R", 0.5, 1.0),)
    with pytest.raises(TypeError):
        PredictionTask("p.csv", rungs)                                    # score is required
    with pytest.raises(ValueError, match="import string"):
        PredictionTask("p.csv", rungs, score="not an import string")
    with pytest.raises(ValueError, match="import string"):
        PredictionTask("p.csv", rungs, score=f"{__name__}:toy_score", example_answers="module.without.function")
    task = PredictionTask("p.csv", rungs, score="no_such_module_anywhere:score")
    with pytest.raises(HookError, match="cannot be imported"):
        task.hook("score")
    with pytest.raises(HookError, match="cannot be imported"):
        resolve_hook(f"{__name__}:no_such_function")
    with pytest.raises(ValueError, match="unknown hook"):
        task.hook("scores")
    assert task.hook("default_answers") is None


# ----------------------------------------------------------------------------- a toy task, graded by the grader
CALLS: list[tuple[str, str]] = []


def toy_score(predictions_path, answers_path) -> float:
    """A stand-in scoring hook: the predictions file holds the accuracy itself."""
    text = Path(predictions_path).read_text()
    CALLS.append((text, Path(answers_path).read_text()))
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{predictions_path}: expected a number, got {text[:20]!r}") from None


def toy_default_answers() -> Path:
    return Path("/nowhere/toy-labels.txt")


def toy_example_answers(path) -> Path:
    Path(path).write_text("toy labels\n")
    return Path(path)


def toy_example_predictions(path, accuracy: float, seed: int = 0) -> None:
    Path(path).write_text(f"{accuracy}")


TOY = PredictionTask("guess.txt", (Rung("toy_low", "Low", 0.3, 1.0), Rung("toy_high", "High", 0.6, 2.0)),
                     aliases=("old_guess.txt",), score=f"{__name__}:toy_score",
                     default_answers=f"{__name__}:toy_default_answers",
                     example_answers=f"{__name__}:toy_example_answers",
                     example_predictions=f"{__name__}:toy_example_predictions",
                     labels_hint="the toy labels")


def _graded(files: dict[str, bytes], tmp_path, answers: Path | None = None):
    answers = answers if answers is not None else toy_example_answers(tmp_path / "labels.txt")
    scores, page = grade._predictions(TOY, Submission("s", "toy_hw", files), answers, tmp_path)
    return scores, html.unescape(page)


@pytest.mark.parametrize("accuracy,expected", [(0.1, (0.0, 0.0)), (0.3, (1.0, 0.0)), (0.59, (1.0, 0.0)),
                                               (0.6, (1.0, 2.0)), (0.95, (1.0, 2.0))])
def test_the_grader_scores_a_prediction_task_by_its_hook(tmp_path, accuracy, expected):
    """The rungs reached are the ones the toy hook's score reaches: the grader calls the
    configured hook (with the submitted file and the labels), not a function of its own."""
    CALLS.clear()
    scores, page = _graded({"guess.txt": str(accuracy).encode()}, tmp_path)
    assert scores == {"toy_low": (expected[0], 1.0), "toy_high": (expected[1], 2.0)}
    assert CALLS == [(str(accuracy), "toy labels\n")]
    assert f"{accuracy:.4f}" in page
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.txt"]      # its scratch copy is gone


def test_a_prediction_task_s_file_under_an_alias_and_its_problems(tmp_path):
    CALLS.clear()
    scores, _ = _graded({"old_guess.txt": b"0.7"}, tmp_path)
    assert scores == {"toy_low": (1.0, 1.0), "toy_high": (2.0, 2.0)} and CALLS[0][0] == "0.7"

    scores, page = _graded({"guess.txt": b"seven"}, tmp_path)     # the hook's ValueError reaches the student
    assert scores == {"toy_low": (0.0, 1.0), "toy_high": (0.0, 2.0)}
    assert "guess.txt could not be scored" in page and "expected a number, got 'seven'" in page
    assert str(tmp_path) not in page

    scores, page = _graded({"notes.txt": b"0.9"}, tmp_path)
    assert scores == {"toy_low": (0.0, 1.0), "toy_high": (0.0, 2.0)}
    assert "No guess.txt (or old_guess.txt) was submitted" in page and "notes.txt" in page

    CALLS.clear()
    scores, page = grade._predictions(TOY, Submission("s", "toy_hw", {"guess.txt": b"0.9"}), None, tmp_path)
    assert scores == {"toy_low": (None, 1.0), "toy_high": (None, 2.0)} and "Not graded yet" in page
    assert CALLS == []


def test_the_labels_come_from_the_task_s_hooks(monkeypatch, tmp_path):
    monkeypatch.setitem(PREDICTION_TASKS, "toy_hw", TOY)
    assert grade.default_answers("toy_hw") == Path("/nowhere/toy-labels.txt")
    assert grade.default_answers("no_such_hw") is None
    assert grade.answers_for(None, "toy_hw") == Path("/nowhere/toy-labels.txt")
    assert grade.answers_for(tmp_path / "a.txt", "toy_hw") == tmp_path / "a.txt"               # one file: every task
    assert grade.answers_for({"toy_hw": tmp_path / "b.txt"}, "toy_hw") == tmp_path / "b.txt"   # or one per assignment
    assert grade.answers_for({"other": tmp_path / "b.txt"}, "toy_hw") == Path("/nowhere/toy-labels.txt")


def test_the_example_class_data_come_from_the_task_s_hooks(monkeypatch, tmp_path):
    """build writes the example labels (the demo's) and example predictions by the hooks; an
    example asking for predictions of an assignment without a prediction task is an error."""
    monkeypatch.setattr(build, "PREDICTION_TASKS", {"toy_hw": TOY})
    monkeypatch.setattr(build, "available_assignments", lambda root: ["plain_hw", "toy_hw"])
    assert build.example_answers(ROOT, tmp_path) == {"toy_hw": tmp_path / "toy_hw-answers.csv"}
    assert (tmp_path / "toy_hw-answers.csv").read_text() == "toy labels\n"
    build._example_predictions("toy_hw", "ada", tmp_path, 0.75)
    assert (tmp_path / "guess.txt").read_text() == "0.75"
    with pytest.raises(build.BuildError, match="plain_hw has no prediction task"):
        build._example_predictions("plain_hw", "ada", tmp_path, 0.75)


def test_the_answers_option_is_described_from_the_configuration():
    from autograder.cli import _answers_help
    text = _answers_help()
    for hw, task in course.PREDICTION_TASKS.items():
        assert task.filename in text and task.labels_hint in text


def test_a_scoring_hook_that_cannot_be_imported_stops_the_run_before_grading(monkeypatch, tmp_path):
    import dataclasses
    import shutil

    from autograder.answer_key import GradingError
    hw = next(iter(PREDICTION_TASKS))
    shutil.copytree(ROOT / "examples" / "submitted" / "ada_complete" / hw, tmp_path / "sub" / "ada" / hw)
    monkeypatch.setitem(PREDICTION_TASKS, hw, dataclasses.replace(PREDICTION_TASKS[hw], score="no_such_module_anywhere:f"))
    with pytest.raises(GradingError, match="cannot be graded: hook 'no_such_module_anywhere:f' cannot be imported"):
        grade.grade(ROOT, tmp_path / "sub", tmp_path / "out", progress=False, write_gradebook=False)
    assert not (tmp_path / "out").exists()
