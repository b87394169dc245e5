"""The course's configuration: where it lives, its assignments, how nbgrader is configured for
it, and the parts graded from a predictions file (:data:`PREDICTION_TASKS`, with their hooks).

This is the one module of the grader that names assignments; the rest of ``autograder`` knows
an assignment only through what is configured here. One place builds the nbgrader
configuration, so `build`, `grade` and the repository's `nbgrader_config.py` (used by
JupyterLab's formgrader) cannot disagree.
"""
from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from traitlets.config import Config

ASSIGNMENTS = ("hw1_embeddings", "hw2_attention", "hw3_transformer", "hw4_speaker_id")
COURSE_ID = "attention-course"

# Text sources of notebooks (jupytext percent format) sit beside the generated .ipynb; nbgrader
# must never copy them into a release or an autograded folder.
NBGRADER_IGNORE = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py"]

# Per-cell time limit while grading (nbgrader's default is 30 s).
CELL_TIMEOUT_S = 60

# Environment variables of the grader that a student's kernel keeps (beside the sandbox's own,
# autograder.sandbox.KEPT_ENV): hw4's data folder (coursekit.speaker_data.DATA_ENV).
KERNEL_ENV = ("HW4_DATA",)


@dataclass(frozen=True)
class Rung:
    """One Kaggle-style threshold: ``points`` when the accuracy is at least ``threshold``."""
    grade_id: str
    label: str
    threshold: float
    points: float


class HookError(Exception):
    """A prediction task's hook names no function that can be imported."""


HOOK_REF = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def resolve_hook(ref: str) -> Callable:
    """The function an import string ``"package.module:function"`` names, imported now."""
    if not HOOK_REF.fullmatch(ref or ""):
        raise HookError(f"hook {ref!r} is not an import string 'package.module:function'")
    module, _, name = ref.partition(":")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise HookError(f"hook {ref!r} cannot be imported: {type(exc).__name__}: {exc}") from exc
    if not callable(fn):
        raise HookError(f"hook {ref!r} is not a function")
    return fn


@dataclass(frozen=True)
class PredictionTask:
    """An assignment part graded from a file of predictions handed in beside the notebook,
    scored by the grader against hidden labels (never inside the student's kernel).

    The task's own code comes as hooks: import strings ``"package.module:function"``, imported
    only when the grader needs them (importing this module stays cheap and torch-free):

    - ``score(predictions_path, answers_path) -> float``: the accuracy the rungs are compared
      with; raises ``ValueError`` with a message for the student when the file is unusable;
    - ``default_answers() -> Path | None``: the hidden labels file used when ``grade`` is given
      none (``--answers``); ``None`` or no hook: there is no default;
    - ``example_answers(path) -> path``: writes the hidden labels of the example dataset (the
      demo grades the example class against them);
    - ``example_predictions(path, accuracy, seed=0)``: writes a predictions file for the example
      dataset with exactly ``round(accuracy * N)`` right (``predictions_accuracy`` of an entry of
      ``examples/class.json``).

    ``labels_hint`` says which file ``grade --answers`` takes, and where one is found by default
    (its help, and the message of a run without the labels).
    """
    filename: str
    rungs: tuple[Rung, ...]
    aliases: tuple[str, ...] = ()      # other names the file is accepted under (first found wins)
    score: str = field(kw_only=True)
    default_answers: str | None = field(default=None, kw_only=True)
    example_answers: str | None = field(default=None, kw_only=True)
    example_predictions: str | None = field(default=None, kw_only=True)
    labels_hint: str = field(default="the hidden labels file", kw_only=True)

    HOOKS = ("score", "default_answers", "example_answers", "example_predictions")

    def __post_init__(self):
        for name in self.HOOKS:
            ref = getattr(self, name)
            if (ref is not None or name == "score") and not HOOK_REF.fullmatch(ref or ""):
                raise ValueError(f"PredictionTask({self.filename!r}).{name} = {ref!r}: expected an import "
                                 "string 'package.module:function'")

    def hook(self, name: str) -> Callable | None:
        """The function of hook ``name`` (one of :attr:`HOOKS`), imported now; ``None`` when the
        task has none. Raises :class:`HookError` when it cannot be imported."""
        if name not in self.HOOKS:
            raise ValueError(f"unknown hook {name!r}; a prediction task has {', '.join(self.HOOKS)}")
        ref = getattr(self, name)
        return resolve_hook(ref) if ref else None

    @property
    def max_score(self) -> float:
        return sum(r.points for r in self.rungs)


# hw4: test accuracy thresholds from repeated runs of each reference configuration on the default
# dataset (benchmarks/hw4_rungs.py; the runs are in benchmarks/results/hw4_rungs.csv and the README's
# ladder table): each rung sits 0.02 (12 of 600 test utterances) or more below its configuration's
# lowest run, rounded down to 0.01, so a student who reproduces a configuration, with any seed or
# thread count measured, reaches its rung (tests/test_ladder.py). Scored by
# coursekit.speaker_data; the hidden labels are the *-answers.csv that `python -m coursekit.speakers`
# writes beside the data folder (by default data/speakers-answers.csv, or $HW4_DATA-answers.csv).
PREDICTION_TASKS = {
    "hw4_speaker_id": PredictionTask(
        "predictions.csv", (
            Rung("predictions_simple", "Simple", 0.56, 2.0),    # runs 0.585-0.625 (original course: 0.60824)
            Rung("predictions_medium", "Medium", 0.63, 2.0),    # runs 0.655-0.723 (original course: 0.70375)
            Rung("predictions_strong", "Strong", 0.74, 2.0),    # runs 0.762-0.772 (original course: 0.77750)
            Rung("predictions_boss", "Boss", 0.83, 2.0),        # runs 0.857-0.872 (original course: 0.86500)
        ),
        aliases=("output.csv",),                                # the original course's name
        score="coursekit.speaker_data:accuracy_from_files",
        default_answers="coursekit.speakers:default_answers_csv",
        example_answers="coursekit.speakers:write_example_answers",
        example_predictions="coursekit.speakers:example_predictions",
        labels_hint="the *-answers.csv written by `python -m coursekit.speakers` beside the data folder you "
                    "gave the class; by default the one beside $HW4_DATA or data/speakers"),
}


def course_root() -> Path:
    """The repository root: $COURSE_ROOT, else the folder above this package."""
    env = os.environ.get("COURSE_ROOT")
    root = Path(env) if env else Path(__file__).resolve().parent.parent
    if not (root / "solutions").is_dir():
        raise SystemExit(f"course root {root} has no solutions/ folder; set COURSE_ROOT to the course kit checkout")
    return root


def available_assignments(root: Path) -> list[str]:
    """Assignments (in course order) that have a solution notebook under ``root/solutions``."""
    return [a for a in ASSIGNMENTS if (root / "solutions" / a / f"{a}.ipynb").exists()]


def nbgrader_config(root: Path, *, source: str = "solutions", release: str = "assignments",
                    db_path: Path | None = None, cell_timeout: int = CELL_TIMEOUT_S) -> Config:
    """nbgrader configuration for a course tree rooted at ``root``."""
    from traitlets.config import Config
    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.source_directory = source
    c.CourseDirectory.release_directory = release
    c.CourseDirectory.ignore = list(NBGRADER_IGNORE)
    c.CourseDirectory.db_url = f"sqlite:///{db_path or (root / 'gradebook.db')}"
    # A course-local exchange; on a JupyterHub set c.Exchange.root to the shared folder instead.
    c.Exchange.root = str(root / "exchange")
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
    c.Execute.timeout = cell_timeout
    # Stop the kernel at once when the notebook is done (graceful shutdown waits for it to exit).
    c.Execute.shutdown_kernel = "immediate"
    # A student could tag a test cell `skip-execution` to have it skipped (and scored full).
    # Tags are also stripped from submissions before grading; this is the second line of defence.
    c.Execute.skip_cells_with_tag = "autograder-never-skip-7f3a"
    # Test cells deleted by a student are put back and graded.
    c.OverwriteCells.add_missing_cells = True
    c.Autograde.create_student = True
    # nbgrader's own autograde pipeline, plus NormaliseTestOutputs before the scores are saved.
    c.Autograde.autograde_preprocessors = [
        "autograder.preprocessors.RebindCheckHelpers",
        "autograder.preprocessors.ResilientExecute",
        "autograder.preprocessors.VerifyEvidence",
        "autograder.preprocessors.NormaliseTestOutputs",
        "autograder.preprocessors.TruncateLongOutputs",
        "nbgrader.preprocessors.IgnorePattern",
        "nbconvert.preprocessors.ClearMetadataPreprocessor",
        "nbgrader.preprocessors.LimitOutput",
        "nbgrader.preprocessors.SaveAutoGrades",
        "nbgrader.preprocessors.AssignLatePenalties",
        "nbgrader.preprocessors.CheckCellMetadata",
    ]
    # Feedback: remove hidden tests, and reduce test-cell tracebacks to the failure message
    # (a traceback prints the hidden lines around the failing one).
    c.GenerateFeedback.preprocessors = [
        "nbgrader.preprocessors.GetGrades",
        "nbgrader.preprocessors.ClearHiddenTests",
        "autograder.preprocessors.ShortenTestTracebacks",
        "autograder.preprocessors.StripEvidence",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    ]
    c.ClearHiddenTests.enforce_metadata = False
    return c
