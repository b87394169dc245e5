"""`python -m autograder build`: everything derived from the sources, regenerated.

1. ``lectures/*.py`` and ``solutions/<hw>/<hw>.py`` (jupytext percent) -> ``.ipynb``;
2. ``nbgrader generate_assignment`` for each assignment: ``solutions/`` -> ``assignments/``
   (and the gradebook database, which holds the hidden tests, rebuilt from ``solutions/``);
3. the example class under ``examples/submitted/`` (see ``examples/class.json``).

``build --check`` does all of it in a scratch copy and reports any file that differs from the
committed one, so a test can fail when ``assignments/`` drifts from ``solutions/``.
"""
from __future__ import annotations

import filecmp
import json
import re
import shutil
import tempfile
from pathlib import Path

from . import notebooks, questions
from .course import PREDICTION_TASKS, available_assignments, nbgrader_config
from .mutants import load_mutants, submission_with

GENERATED_GLOBS = ("lectures/*.ipynb", "solutions/*/*.ipynb", "assignments/**/*", "examples/submitted/**/*")


class BuildError(Exception):
    """The build would lose work (the message says what, and how to keep it)."""


def _sources(root: Path) -> list[Path]:
    return [p for p in sorted(root.glob("lectures/*.py")) + sorted(root.glob("solutions/*/*.py"))
            if not p.name.startswith("_")]


def hand_edited(root: Path) -> list[Path]:
    """Generated notebooks whose content was changed after they were generated."""
    return [src.with_suffix(".ipynb") for src in _sources(root)
            if src.with_suffix(".ipynb").exists() and notebooks.edited_by_hand(src.with_suffix(".ipynb"))]


def convert_sources(root: Path, force: bool = False) -> list[Path]:
    """Text sources -> notebooks. Returns the notebooks that changed.

    A notebook edited by hand since it was generated (in Jupyter, or through formgrader's Edit
    link) is never overwritten silently: :class:`BuildError` names it, unless ``force``."""
    edited = [] if force else hand_edited(root)
    if edited:
        names = "\n  ".join(str(p.relative_to(root)) for p in edited)
        raise BuildError(f"these notebooks were edited by hand after they were generated:\n  {names}\n"
                         "The .py beside each is the source: copy your change there (jupytext can convert: "
                         "`jupytext --to py:percent NOTEBOOK -o -` prints it), then build again; or run "
                         "`python -m autograder build --force` to discard the edits.")
    problems = []
    for src in _sources(root):
        try:
            declared = questions.declarations(src.read_text())
            if any(d.role != "locked" for d in declared):     # a homework: its prose must agree
                problems += [f"{src.relative_to(root)}: {p}" for p in questions.check_points(src.read_text())]
        except questions.DeclarationError as exc:
            problems.append(f"{src.relative_to(root)}: {exc}")
    if problems:
        raise BuildError("the question declarations and the text disagree:\n  " + "\n  ".join(problems))
    changed = []
    for src in _sources(root):
        target = src.with_suffix(".ipynb")
        text = src.read_text()
        if notebooks.write(notebooks.stamped(notebooks.text_to_notebook(text), text), target):
            changed.append(target)
    return changed


def alembic_head() -> str:
    """The gradebook schema version nbgrader stamps into a new database.

    nbgrader gets it by running the `alembic heads` command (2.6 s on this machine, most of
    the cost of building an answer key); the same answer, in process, takes milliseconds.
    """
    import nbgrader
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(nbgrader.__file__).parent / "alembic"))
    return ScriptDirectory.from_config(cfg).get_current_head()


def generate_gradebook(root: Path, assignment: str, release_dir: Path, db_path: Path) -> None:
    """Run nbgrader generate_assignment: writes the student version and the gradebook entries."""
    import nbgrader.api
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    nbgrader.api.get_alembic_version = alembic_head  # see alembic_head (tested equal)

    release_dir = release_dir.resolve()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    config = nbgrader_config(root, release=str(release_dir), db_path=db_path)
    coursedir = CourseDirectory(config=config)
    api = NbGraderAPI(coursedir=coursedir, config=config)
    result = api.generate_assignment(assignment, force=True, create=True)
    if not result["success"]:
        raise RuntimeError(f"nbgrader generate_assignment {assignment} failed:\n{result.get('error', '')}\n{result.get('log', '')}")


def release(root: Path, db_path: Path | None = None) -> None:
    """solutions/ -> assignments/ for every assignment, plus the gradebook."""
    db_path = db_path or root / "gradebook.db"
    for hw in available_assignments(root):
        generate_gradebook(root, hw, root / "assignments", db_path)
        for path in sorted((root / "assignments" / hw).glob("*.ipynb")):
            nb = notebooks.read(path)
            nb.metadata.pop(notebooks.STAMP, None)       # the release carries nothing of the solution
            notebooks.write(notebooks.normalise(nb), path)


def example_answers(root: Path, out: Path) -> dict[str, Path]:
    """The hidden labels the example class is graded against: for every assignment with a
    prediction task (and an ``example_answers`` hook), ``out/<assignment>-answers.csv``.
    Returns ``{assignment: path}``."""
    written = {}
    for hw in available_assignments(root):
        task = PREDICTION_TASKS.get(hw)
        write = task.hook("example_answers") if task else None
        if write is not None:
            written[hw] = out / f"{hw}-answers.csv"
            write(written[hw])
    return written


def _example_predictions(hw: str, student: str, folder: Path, accuracy: float) -> None:
    """The predictions file of an example submission, by the task's ``example_predictions`` hook."""
    task = PREDICTION_TASKS.get(hw)
    write = task.hook("example_predictions") if task else None
    if write is None:
        raise BuildError(f"examples/class.json gives {student}'s {hw} a predictions_accuracy, but {hw} has no "
                         "prediction task with an example_predictions hook (PREDICTION_TASKS in autograder/course.py)")
    write(folder / task.filename, accuracy)


def build_examples(root: Path) -> None:
    """The example class for the demo, from ``examples/class.json``."""
    spec_path = root / "examples" / "class.json"
    if not spec_path.exists():
        return
    spec = json.loads(spec_path.read_text())
    out = root / "examples" / "submitted"
    if out.exists():
        shutil.rmtree(out)
    available = set(available_assignments(root))
    for student, work in spec["students"].items():
        for hw, how in work.items():
            if hw not in available:
                continue
            target = out / student / hw / f"{hw}.ipynb"
            if how["kind"] == "untouched":
                shutil.copytree(root / "assignments" / hw, target.parent)
                continue
            catalogue = {m.name: m for m in load_mutants(root, hw)}
            chosen = [catalogue[name] for name in how.get("mutants", [])]
            notebooks.write(submission_with(root, hw, chosen), target)
            if "predictions_accuracy" in how:
                _example_predictions(hw, student, target.parent, how["predictions_accuracy"])


def readme_points(root: Path) -> bool:
    """The README's assignment table: the points column of each homework's row (``| `<assignment>` |
    ... | 30 + 8 |``) written from the declarations (:func:`questions.points_summary`), so a new
    question changes it by itself. Returns True when the README changed."""
    readme = root / "README.md"
    if not readme.exists():
        return False
    text = original = readme.read_text()
    for hw in available_assignments(root):
        summary = questions.points_summary((root / "solutions" / hw / f"{hw}.py").read_text())
        text = re.sub(rf"^(\| `{re.escape(hw)}` \|.*\| )[^|]*( \|)$", lambda m: m[1] + summary + m[2], text,
                      flags=re.MULTILINE)
    if text != original:
        readme.write_text(text)
    return text != original


def build(root: Path, db_path: Path | None = None, force: bool = False) -> None:
    convert_sources(root, force)
    readme_points(root)
    release(root, db_path)
    build_examples(root)


def _generated_files(root: Path) -> set[str]:
    files = set()
    for pattern in GENERATED_GLOBS:
        files.update(str(p.relative_to(root)) for p in root.glob(pattern) if p.is_file())
    return {f for f in files if "__pycache__" not in f and ".ipynb_checkpoints" not in f}


def check(root: Path) -> list[str]:
    """Build in a scratch copy; return the generated files that differ from the committed ones."""
    with tempfile.TemporaryDirectory(prefix="course-build-check-") as tmp:
        scratch = Path(tmp) / "course"
        shutil.copytree(root, scratch, ignore=shutil.ignore_patterns(
            ".git", ".venv", "demo_output", "grading_output", "data", "*.db", "__pycache__", ".pytest_cache"))
        for rel in _generated_files(scratch):
            (scratch / rel).unlink()
        build(scratch, db_path=Path(tmp) / "gradebook.db", force=True)
        fresh, committed = _generated_files(scratch), _generated_files(root)
        drift = sorted(f"missing (build makes it): {f}" for f in fresh - committed)
        drift += sorted(f"stale (build no longer makes it): {f}" for f in committed - fresh)
        drift += sorted(f"differs: {f}" for f in fresh & committed if not _same(scratch / f, root / f))
        drift += sorted(f"edited by hand (the .py is the source): {p.relative_to(root)}" for p in hand_edited(root))
        if (root / "README.md").exists() and not filecmp.cmp(scratch / "README.md", root / "README.md", shallow=False):
            drift.append("differs: README.md (the points column of the assignment table)")
        return drift


def _same(fresh: Path, committed: Path) -> bool:
    """Byte-identical, or for a notebook: the same content (what Jupyter rewrites on save, such
    as kernel metadata after Validate, outputs or cell ids, is not drift)."""
    if filecmp.cmp(fresh, committed, shallow=False):
        return True
    if fresh.suffix != ".ipynb":
        return False
    try:
        return notebooks.content_digest(notebooks.read(fresh)) == notebooks.content_digest(notebooks.read(committed))
    except Exception:
        return False
