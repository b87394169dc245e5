"""Shared fixtures. Grading runs are expensive (a kernel per notebook), so one session-scoped
run grades a whole synthetic class per assignment: the example students, every mutant, and a
few broken submissions; the tests then read its CSVs and feedback."""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import notebooks  # noqa: E402
from autograder.course import available_assignments  # noqa: E402
from autograder.mutants import load_mutants, submission_with, write_mutant_class  # noqa: E402


# Grading runs of the tests write their results into this gradebook, not the course's.
TEST_GRADEBOOK = Path(__import__("tempfile").mkdtemp(prefix="ag-tests-")) / "gradebook.db"
os.environ["AUTOGRADER_GRADEBOOK"] = f"sqlite:///{TEST_GRADEBOOK}"


def write_example_answers(path: Path, assignment: str = "hw4_speaker_id") -> Path:
    """The hidden labels of ``assignment``'s example dataset (hw4's by default), written by its
    prediction task's ``example_answers`` hook (autograder/course.py)."""
    from autograder.course import PREDICTION_TASKS
    PREDICTION_TASKS[assignment].hook("example_answers")(path)
    return path


def example_predictions(path: Path, accuracy: float, seed: int = 0, assignment: str = "hw4_speaker_id") -> Path:
    """A predictions file for ``assignment``'s example dataset with ``round(accuracy * N)`` right,
    by its prediction task's ``example_predictions`` hook."""
    from autograder.course import PREDICTION_TASKS
    PREDICTION_TASKS[assignment].hook("example_predictions")(path, accuracy, seed)
    return path


def run_cli(*args: str, timeout: float = 1800, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env or {}),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def hand_graded(assignment: str) -> dict[str, float]:
    """The written questions of an assignment (nbgrader manually graded answer cells: solution and
    grade), from its solution notebook: grade_id -> points."""
    nb = notebooks.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb")
    return {m["grade_id"]: float(m["points"]) for m in (c.metadata.get("nbgrader", {}) for c in nb.cells)
            if m.get("solution") and m.get("grade")}


def key_points(assignment: str) -> dict[str, float]:
    """An assignment's points by kind, from its answer key: "tests" (graded automatically from the
    notebook), "written" (graded by hand), "predictions" (hw4's predictions.csv), "total"."""
    from autograder.answer_key import load_cells
    from autograder.course import PREDICTION_TASKS
    cells = load_cells(ROOT, assignment)
    task = PREDICTION_TASKS.get(assignment)
    out = {"tests": sum(k.points for k in cells if k.role == "test"),
           "written": sum(k.points for k in cells if k.role == "answer"),
           "predictions": task.max_score if task else 0.0}
    out["total"] = sum(out.values())
    return out


class GradedClass:
    """A grading run's CSV files. ``scores`` holds the automatically graded rows (score, max);
    ``written`` the hand-graded answer cells (score or None until an instructor grades them, max)."""

    def __init__(self, out: Path, proc: subprocess.CompletedProcess):
        self.out, self.proc = out, proc
        self.grades = {(r["student_id"], r["assignment"]): r for r in read_csv(out / "grades.csv")}
        self.scores: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}
        self.written: dict[tuple[str, str], dict[str, tuple[float | None, float]]] = {}
        answers = {hw: hand_graded(hw) for hw in available_assignments(ROOT)}
        for r in read_csv(out / "scores.csv"):
            key, gid = (r["student_id"], r["assignment"]), r["grade_id"]
            if gid in answers.get(r["assignment"], {}):
                self.written.setdefault(key, {})[gid] = (float(r["score"]) if r["score"] else None, float(r["max_score"]))
            else:
                self.scores.setdefault(key, {})[gid] = (float(r["score"]), float(r["max_score"]))

    def total(self, student: str, assignment: str) -> tuple[float, float]:
        row = self.grades[(student, assignment)]
        return float(row["score"]), float(row["max_score"])

    def automatic_total(self, student: str, assignment: str) -> tuple[float, float]:
        """Score and maximum of the automatically graded cells only (the written answers wait for
        an instructor)."""
        cells = self.scores[(student, assignment)].values()
        return sum(s for s, _ in cells), sum(m for _, m in cells)

    def feedback(self, student: str, assignment: str) -> str:
        return (self.out / "feedback" / student / assignment / f"{assignment}.html").read_text()


EDGE_CASES = ("broken_json", "misnamed_notebook", "no_notebook")
PREDICTIONS = "predictions.csv"   # hw4's Kaggle-style part, handed in beside the notebook
MUTANT_STUDENTS: dict = {}  # assignment -> {student_id: [Mutant, ...]}, filled by make_class
TYPICAL_BUG: dict = {}      # assignment -> the Mutant graded alone as student "typical_bug"


def copy_course(dest: Path, *also_ignore: str) -> Path:
    """A copy of the course's sources at ``dest`` (no git, environment, data or build outputs,
    nor ``also_ignore``)."""
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(".git", ".venv", "demo_output", "grading_output", "data",
                                                              "*.db", "__pycache__", ".pytest_cache", "dist", "exchange",
                                                              "autograded", "build", "*.egg-info", *also_ignore))
    return dest


def make_class(assignment: str, folder: Path) -> list[str]:
    """Example students + one student per mutant + broken submissions. Returns the student ids."""
    for student in (ROOT / "examples" / "submitted").iterdir():
        if (student / assignment).is_dir():
            shutil.copytree(student / assignment, folder / student.name / assignment)
    mutants = load_mutants(ROOT, assignment)
    MUTANT_STUDENTS[assignment] = write_mutant_class(ROOT, assignment, folder, mutants)
    # one typical mistake alone in an otherwise correct notebook
    TYPICAL_BUG[assignment] = next(m for m in mutants if not m.correct)
    notebooks.write(submission_with(ROOT, assignment, [TYPICAL_BUG[assignment]]),
                    folder / "typical_bug" / assignment / f"{assignment}.ipynb")
    solved = folder / "ada_complete" / assignment / f"{assignment}.ipynb"
    if (solved.parent / PREDICTIONS).exists():   # solution-like students hand in ada's predictions too
        for student in ("typical_bug", "misnamed_notebook", "bad_predictions"):
            (folder / student / assignment).mkdir(parents=True, exist_ok=True)
            shutil.copy(solved.parent / PREDICTIONS, folder / student / assignment / PREDICTIONS)
        shutil.copy(solved, folder / "bad_predictions" / assignment / f"{assignment}.ipynb")
        rows = (solved.parent / PREDICTIONS).read_text().splitlines()
        (folder / "bad_predictions" / assignment / PREDICTIONS).write_text(
            "\n".join(["id,speaker"] + rows[1:-5]) + "\n")      # wrong header, 5 rows missing
    (folder / "broken_json" / assignment).mkdir(parents=True)
    (folder / "broken_json" / assignment / f"{assignment}.ipynb").write_text(solved.read_text()[:500])
    (folder / "misnamed_notebook" / assignment).mkdir(parents=True, exist_ok=True)
    shutil.copy(solved, folder / "misnamed_notebook" / assignment / f"{assignment} (1).ipynb")
    (folder / "no_notebook" / assignment).mkdir(parents=True)
    (folder / "no_notebook" / assignment / "notes.txt").write_text("forgot the notebook")
    return sorted(p.name for p in folder.iterdir())


def _execute(path: Path):
    """(executed notebook, seconds, exception or None): a lecture run top to bottom, then its
    claims' values evaluated in the same kernel (the last cell, tagged ``claims``), by the
    site's own :func:`autograder.site.execute_lecture`."""
    import nbformat

    from autograder.site import execute_lecture
    from claims import claims_by_lecture, evaluation_cell
    claims = nbformat.v4.new_code_cell(evaluation_cell(claims_by_lecture().get(path.stem, [])),
                                       metadata={"tags": ["claims"]})
    return execute_lecture(path, extra_cells=[claims])


def _selected_lectures(session) -> list[Path]:
    """The lectures the selected tests need: a test parametrised by one lecture (``path`` or
    ``stem``) needs that one, any other user of ``executed_lectures`` (the website) needs all;
    so ``-k 02_self_attention`` executes one lecture, not six."""
    lectures = sorted((ROOT / "lectures").glob("*.ipynb"))
    stems = set()
    for item in session.items:
        if "executed_lectures" not in getattr(item, "fixturenames", ()):
            continue
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "path" in params or "stem" in params:
            stems.add(Path(params["path"]).stem if "path" in params else params["stem"])
        else:
            return lectures
    return [p for p in lectures if p.stem in stems]


@pytest.fixture(scope="session")
def executed_lectures(request):
    """The selected lectures, each executed once, two at a time (each kernel is mostly one busy
    core); shared by the lecture tests and the course website's test.
    Path -> (notebook, seconds, exception)."""
    from concurrent.futures import ThreadPoolExecutor
    lectures = _selected_lectures(request.session)
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(lectures, pool.map(_execute, lectures)))


@pytest.fixture(scope="session")
def graded(tmp_path_factory) -> dict[str, GradedClass]:
    """Grade the synthetic class of every assignment once (jobs=2), via the real CLI."""
    results = {}
    for assignment in available_assignments(ROOT):
        base = tmp_path_factory.mktemp(assignment)
        make_class(assignment, base / "submitted")
        answers = write_example_answers(base / "answers.csv")   # hw4's hidden labels, outside submitted/
        proc = run_cli("grade", str(base / "submitted"), "--out", str(base / "out"),
                       "--assignment", assignment, "--jobs", "2", "--quiet", "--answers", str(answers))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        results[assignment] = GradedClass(base / "out", proc)
    return results


# Runs the grader in this process and reports its own peak memory (the kernels and the
# executors are other processes): grading oversized inputs must not cost the grader memory.
MEASURED_GRADE = (
    "import resource, sys\n"
    "from autograder.cli import main\n"
    "rc = main(sys.argv[1:])\n"
    "print(f'GRADER_MAXRSS_KB={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}', file=sys.stderr)\n"
    "sys.exit(rc)\n")


@pytest.fixture(scope="session")
def hostile(tmp_path_factory):
    """The hostile class (tests/hostile_class.py), graded once with --jobs 2 through the CLI."""
    import re

    import hostile_class
    from autograder.sandbox import detect
    base = tmp_path_factory.mktemp("hostile")
    answers = write_example_answers(base / "answers.csv")
    mode = detect()
    attacks = hostile_class.build(ROOT, base / "submitted", answers, sandboxed=mode != "none", mode=mode)
    guarded = {p: p.read_bytes() for p in sorted((ROOT / "autograder").glob("*.py"))}
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run([sys.executable, "-c", MEASURED_GRADE, "grade", str(base / "submitted"), "--out",
                           str(base / "out"), "--jobs", "2", "--quiet", "--cell-timeout", "8", "--timeout", "150",
                           "--answers", str(answers)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    graded = GradedClass(base / "out", proc)
    graded.attacks = attacks
    graded.mode = mode
    graded.guarded_before = guarded
    graded.maxrss_mb = int(re.search(r"GRADER_MAXRSS_KB=(\d+)", proc.stderr).group(1)) / 1024
    return graded


@pytest.fixture(scope="session")
def example_course(tmp_path_factory):
    """A copy of the course whose example class the kit graded, as an instructor would: into the
    course's own gradebook and autograded/ folder. Returns (course root, OUT)."""
    base = tmp_path_factory.mktemp("example-course")
    course = copy_course(base / "course")
    answers = write_example_answers(base / "answers.csv")
    env = dict(os.environ, COURSE_ROOT=str(course), PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    env.pop("AUTOGRADER_GRADEBOOK", None)
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", "examples/submitted", "--out", str(base / "out"),
                           "--jobs", "2", "--quiet", "--answers", str(answers)], cwd=course, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return course, base / "out"
