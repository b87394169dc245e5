"""`python -m autograder grade SUBMITTED --out OUT`: grade a class, never losing a student.

The pipeline, one stage per module; only the second runs student code:

1. **intake** (:mod:`autograder.intake`, trusted): find ``SUBMITTED/<student_id>/<assignment>/``,
   read its regular files within limits without following links, and build the notebook to run
   from the course's own notebooks plus the student's sources;
2. **sandboxed execution** (:mod:`autograder.executor`, :mod:`autograder.sandbox`): one
   executor per slot runs the notebook; each kernel runs in its own sandbox;
3. **verdict** (:mod:`autograder.verdict`, trusted): scores from the executor's answer, taken
   as untrusted data, and the solution's evidence records (:mod:`autograder.answer_key`);
4. **outputs** (:mod:`autograder.outputs`, :mod:`autograder.feedback`, trusted): feedback
   pages and the CSV files, written by this process only.

Any exception in one submission's path becomes that submission's row and feedback note; the
CSV files are always written. Ctrl-C or SIGTERM stops every executor and kernel of the run.
"""
from __future__ import annotations

import dataclasses
import html
import os
import queue
import re
import signal
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from . import feedback, intake, outputs, sandbox
from .answer_key import AnswerKey, GradingError, load_answer_key, runnable_cells
from .course import CELL_TIMEOUT_S, PREDICTION_TASKS, HookError, PredictionTask, available_assignments
from .executor import ExecutorProcess, Failure, WorkFolder
from .verdict import decide

DEFAULT_TIMEOUT_S = 600
DEFAULT_MEMORY_MB = 4096

__all__ = ["grade", "GradingError", "Result", "gradebook_table", "reference_evidence"]


@dataclass
class Result:
    """One submission's outcome: the one copy of its scores (CSV, feedback and table read it)."""
    student_id: str
    assignment: str
    scores: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)  # nb -> gid -> (score, max)
    notes: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)  # nb -> why it got no normal grading
    seconds: float = 0.0
    timing: dict = field(default_factory=dict)
    timestamp: str | None = None      # nbgrader's submission time (timestamp.txt), when there is one
    hand_graded: set = field(default_factory=set)   # answer cells: scored by hand (None until then)

    def total(self) -> tuple[float, float]:
        """(score, max score); a cell not graded (score ``None``) counts in the maximum only."""
        s = sum(v[0] for cells in self.scores.values() for v in cells.values() if v[0] is not None)
        m = sum(v[1] for cells in self.scores.values() for v in cells.values())
        return s, m

    def awaiting_hand_grading(self) -> float:
        """Points of the written answers nobody has graded yet."""
        return sum(v[1] for cells in self.scores.values() for gid, v in cells.items()
                   if gid in self.hand_graded and v[0] is None)


@dataclass
class Slot:
    index: int
    executor: ExecutorProcess
    policy: sandbox.SandboxPolicy


@dataclass
class Run:
    """What every submission of one grading run shares."""
    root: Path
    scratch: Path
    out: Path
    timeout: float
    cell_timeout: int
    env: dict
    slots: "queue.Queue[Slot]"
    guard: "FileGuard | None" = None
    guard_lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    offline_mathjax: bool = False
    manual: dict = field(default_factory=dict)   # (student, assignment, answer cell) -> score given by hand
    autograded: Path | None = None       # where formgrader's graded notebooks go (with the gradebook)
    counter: list = field(default_factory=lambda: [0])
    counter_lock: threading.Lock = field(default_factory=threading.Lock)

    def work_folder(self) -> WorkFolder:
        with self.counter_lock:
            self.counter[0] += 1
            return WorkFolder(self.scratch / f"w{self.counter[0]}")

    def execute(self, slot: Slot, assignment: str, cells: list[dict], tests: dict[int, str],
                files: dict[str, bytes], timeout: float | None = None) -> dict:
        """Run cells in ``slot``'s executor, in a fresh work folder; the executor's answer."""
        work = self.work_folder().create(files, slot.policy.uid if slot.policy.mode == "bwrap-root" else None)
        try:
            request = {"id": work.path.name, "cells": cells, "tests": sorted(tests), "work": str(work.path),
                       "assignment": assignment, "policy": sandbox.policy_json(slot.policy),
                       "cell_timeout": self.cell_timeout, "env": {}}
            return slot.executor.ask(request, timeout or self.timeout)
        finally:
            work.remove()


# ----------------------------------------------------------------------------- one submission
def _predictions(task: PredictionTask, sub: intake.Submission, answers_path: Path | None, scratch: Path) -> tuple[dict, str]:
    """Kaggle-style grading of the submitted predictions file against the hidden labels by the
    task's ``score`` hook, in this process (the labels never enter a kernel). Returns
    ``({grade_id: (score, max)}, html)``; without the labels file every rung is ``(None, max)``:
    not graded."""
    accuracy, why = None, ""
    names = [task.filename, *task.aliases]
    name = next((n for n in names if n in sub.files), None)
    if answers_path is None:
        why = (f"Not graded yet: the grader does not have the hidden test labels. Your {name or task.filename} "
               "will be graded when your instructor grades again with them.")
        rows = "".join(f"<tr><td>{html.escape(r.label)}</td><td>{r.threshold:.3f}</td><td>not graded</td>"
                       f"<td>- / {r.points:g}</td></tr>" for r in task.rungs)
        return ({r.grade_id: (None, r.points) for r in task.rungs},
                f'<div style="border:1px solid #369;padding:.5em;margin:1em 0"><h2>{html.escape(task.filename)}</h2>'
                f'<p><b>{html.escape(why)}</b></p><table class="scores"><tr><th>rung</th><th>threshold</th><th></th>'
                f"<th>points</th></tr>{rows}</table></div>")
    score = task.hook("score")
    if name is None:
        found = ", ".join(sorted(sub.files)) or "nothing"
        also = f" (or {' or '.join(task.aliases)})" if task.aliases else ""
        why = (f"No {task.filename}{also} was submitted next to the notebook (the folder has: {found}). "
               f"Run the notebook's last cells to write it, and hand it in with the notebook.")
    else:
        fd, tmp = tempfile.mkstemp(dir=scratch, suffix=".csv")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(sub.files[name])
            accuracy = float(score(tmp, answers_path))
        except Exception as exc:   # any content: a message, never the end of the run
            why = f"{name} could not be scored: {str(exc).replace(tmp, name)[:1000]}"
        finally:
            os.unlink(tmp)
    scores = {r.grade_id: ((r.points if accuracy is not None and accuracy >= r.threshold else 0.0), r.points)
              for r in task.rungs}
    rows = "".join(
        f"<tr><td>{html.escape(r.label)}</td><td>{r.threshold:.3f}</td><td>{'reached' if scores[r.grade_id][0] else 'not reached'}</td>"
        f"<td>{scores[r.grade_id][0]:g} / {r.points:g}</td></tr>" for r in task.rungs)
    summary = (f"<p>Test accuracy of your predictions: <b>{accuracy:.4f}</b></p>" if accuracy is not None
               else f"<p><b>{html.escape(why)}</b></p>")
    page = (f'<div style="border:1px solid #369;padding:.5em;margin:1em 0"><h2>{html.escape(task.filename)} '
            f"(graded against the hidden test labels)</h2>{summary}<table class=\"scores\">"
            f"<tr><th>rung</th><th>threshold</th><th></th><th>points</th></tr>{rows}</table></div>")
    return scores, page


def _notebook_file(key: AnswerKey, sub: intake.Submission, result: Result) -> str | None:
    name = f"{key.notebook}.ipynb"
    if name in sub.files:
        return name
    others = sorted(n for n in sub.files if n.endswith(".ipynb"))
    if len(others) == 1:
        result.notes.append(f"Your notebook was named '{others[0]}'; it was graded as '{name}'.")
        return others[0]
    names = sorted(sub.files)
    listing = (", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")) or "no files at all"
    result.problems[key.notebook] = f"No notebook named {name} was submitted (the folder has: {listing})."
    return None


def grade_submission(key: AnswerKey, found: intake.Found, run: Run, slot: Slot) -> Result:
    """Intake -> execution -> verdict -> feedback for one submission (never raises)."""
    t0 = time.perf_counter()
    result = Result(found.student_id, found.assignment)
    nb = key.notebook
    tests = key.tests
    extra_html = ""
    sub = None
    try:
        wanted = [f"{nb}.ipynb", *EXCHANGE_FILES] + (
            [key.predictions.filename, *key.predictions.aliases] if key.predictions else [])
        sub = intake.take_in(found, wanted)
        result.notes.extend(sub.notes)
        if key.predictions is not None:
            scores, extra_html = _predictions(key.predictions, sub, key.answers_path, run.scratch)
            result.scores[key.predictions.filename] = scores
        if sub.problem:
            result.problems[nb] = sub.problem
        name = None if sub.problem else _notebook_file(key, sub, result)
        cells = None
        if name is not None:
            try:
                cells = intake.parse_notebook(sub.files[name], name)
            except intake.IntakeError as exc:
                result.problems[nb] = str(exc)
        if cells is not None and not run.stopping.is_set():
            gnb = intake.graded_notebook(key.cells, cells, key.stub)
            result.notes.extend(gnb.notes)
            files = {n: d for n, d in sub.files.items() if n != name}
            try:
                answer = run.execute(slot, key.assignment, runnable_cells(gnb), gnb.tests, files)
            except Failure as exc:
                result.problems[nb] = ("Your notebook could not be run to the end by the grader (for example: the "
                                       "kernel died, ran out of memory, or the notebook exited Python).\n\n" + str(exc))
                answer = None
            if answer is not None and answer.get("error") and not any(c.get("execution_count") for c in answer.get("cells", [])):
                result.problems[nb] = "Your notebook could not be started by the grader: " + str(answer["error"])[:500]
            elif answer is not None:
                verdict = decide(gnb.tests, tests, key.reference, answer)
                result.scores[nb] = {gid: (v.score, v.points) for gid, v in verdict.cells.items()}
                _add_answers(run, key, result)
                result.timing["execute"] = float(answer.get("seconds", 0) or 0)
                _write_notebook_feedback(run, key, result, gnb, answer, verdict, extra_html)
                if run.autograded is not None:
                    _write_autograded(run, key, result, gnb, answer, files)
    except Exception as exc:   # a bug or an unexpected input: this submission's row says so
        result.problems[nb] = (f"The grader failed on this submission ({type(exc).__name__}: {str(exc)[:300]}); "
                               "your instructor has the details.")
        _log(run.out, found, traceback.format_exc())
    if nb in result.problems or nb not in result.scores:
        result.problems.setdefault(nb, "Your notebook was not graded.")
        result.scores[nb] = {gid: (0.0, pts) for gid, pts in tests.items()}
        _add_answers(run, key, result)
        _write_problem_feedback(run, key, result, extra_html)
    if sub is not None:
        _exchange_files(run, result, sub)
    result.scores = {k: result.scores[k] for k in sorted(result.scores, key=lambda k: k != nb)}
    result.seconds = time.perf_counter() - t0
    return result


def _add_answers(run: Run, key: AnswerKey, result: Result) -> None:
    """Written answers: the score given by hand in the gradebook, or None (needs manual grading)."""
    for gid, points in key.answers.items():
        result.scores[key.notebook][gid] = (run.manual.get((result.student_id, result.assignment, gid)), points)
        result.hand_graded.add(gid)


def _write_notebook_feedback(run: Run, key: AnswerKey, result: Result, gnb, answer, verdict, extra_html: str) -> None:
    shown = []
    key_by_id = {k.grade_id: k for k in key.cells}
    for cell in gnb.cells:
        k = key_by_id.get(cell["grade_id"]) if cell["role"] == "test" else None
        shown.append({"cell_type": cell["cell_type"], "show": k.visible_source if k else cell["source"],
                      "untrusted": cell["role"] in ("solution", "answer", "own")})
    tests = {}
    for i, gid in gnb.tests.items():
        v = verdict.cells[gid]
        hidden = not any(ln.strip() and not ln.strip().startswith("#") for ln in key_by_id[gid].visible_source.splitlines())
        tests[i] = (gid, hidden, v.score, v.points, v.message)
    rows = [(gid, v.score, v.points, v.message) for gid, v in verdict.cells.items()]
    rows += [(gid, result.scores[key.notebook][gid][0], pts, "needs manual grading") for gid, pts in key.answers.items()]
    score, max_score = result.total()
    head = feedback.header(result.student_id, result.assignment, key.notebook, score, max_score, result.notes,
                           feedback.scores_table(rows) + extra_html)
    try:
        page = feedback.notebook_page(result.student_id, result.assignment, key.notebook, shown,
                                      answer.get("cells", []), tests, result.notes, extra_html,
                                      mathjax=feedback.mathjax_url(3) if run.offline_mathjax else None)
        page = feedback.add_header(page, head)
    except Exception:   # the detailed page failed: the scores page still says everything that counts
        _log(run.out, intake.Found(result.student_id, result.assignment, Path()), traceback.format_exc())
        page = feedback.add_header("<!DOCTYPE html><html><body></body></html>",
                                   head + "<p>The detailed feedback page could not be generated; your scores are above.</p>")
    outputs.write_file(run.out, ["feedback", result.student_id, result.assignment, f"{key.notebook}.html"], page.encode())


# Images handed in beside a notebook: the figures of written answers (a report's plots), shown with it
# in formgrader. Recognised by name and content; never SVG or HTML, which can carry script.
FIGURE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,100}\.(png|jpe?g|gif)", re.IGNORECASE)
FIGURE_MAGIC = {"png": (b"\x89PNG\r\n\x1a\n",), "jpg": (b"\xff\xd8\xff",), "jpeg": (b"\xff\xd8\xff",),
                "gif": (b"GIF87a", b"GIF89a")}


def figures(files: dict[str, bytes]) -> dict[str, bytes]:
    """The image files among a submission's other files (PNG, JPEG, GIF by name and content)."""
    out = {}
    for name, data in files.items():
        m = FIGURE_NAME.fullmatch(name)
        if m and data.startswith(FIGURE_MAGIC[m.group(1).lower()]):
            out[name] = data
    return out


def _write_autograded(run: Run, key: AnswerKey, result: Result, gnb, answer, files: dict[str, bytes]) -> None:
    """The graded notebook where formgrader looks for it (review, manual grading), with the
    figures its written answers show (``![...](report_3.png)``)."""
    import nbformat
    from .gradebook import autograded_notebook
    try:
        text = nbformat.writes(autograded_notebook(key, gnb, answer))
        outputs.write_file(run.autograded, [result.student_id, result.assignment, f"{key.notebook}.ipynb"],
                           text.encode())
        for name, data in figures(files).items():
            outputs.write_file(run.autograded, [result.student_id, result.assignment, name], data)
    except Exception:
        _log(run.out, intake.Found(result.student_id, result.assignment, Path()), traceback.format_exc())


EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")   # written by `nbgrader submit`, kept by `collect`


def _exchange_files(run: Run, result: Result, sub: intake.Submission) -> None:
    """Copy nbgrader's submission timestamp and secret beside the feedback page, where
    ``nbgrader release_feedback`` looks for them (short printable text only: they come from the
    submission)."""
    for name in EXCHANGE_FILES:
        data = sub.files.get(name, b"")
        if data and len(data) <= 256 and data.decode("ascii", "replace").strip().isprintable():
            outputs.write_file(run.out, ["feedback", result.student_id, result.assignment, name], data)
            if name == "timestamp.txt":
                result.timestamp = data.decode("ascii").strip()


def _write_problem_feedback(run: Run, key: AnswerKey, result: Result, extra_html: str) -> None:
    nb = key.notebook
    page = feedback.problem_page(result.student_id, result.assignment, nb, result.problems[nb],
                                 sum(m for _, m in result.scores[nb].values()), result.notes, extra_html)
    outputs.write_file(run.out, ["feedback", result.student_id, result.assignment, f"{nb}.html"], page.encode())


def _log(out: Path, found: intake.Found, text: str) -> None:
    try:
        outputs.write_file(out, ["logs", f"{found.student_id}-{found.assignment}.log"], text.encode())
    except Exception:
        pass


# ----------------------------------------------------------------------------- without a sandbox
GUARDED = ("autograder", "coursekit", "solutions", "nbgrader_config.py", "pyproject.toml")


class FileGuard:
    """Without a sandbox the kernel runs as the grader's user: the course files grading depends
    on are kept in memory, and after each submission any file its code changed, added or
    deleted is put back and the submission is flagged (with a sandbox they are read-only)."""

    def __init__(self, root: Path):
        self.root = root
        self.files = self._read()

    def _read(self) -> dict[Path, bytes]:
        files = {}
        for name in GUARDED:
            path = self.root / name
            paths = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()
                                                         and "__pycache__" not in p.parts)
            for p in paths:
                try:
                    files[p] = p.read_bytes()
                except OSError:
                    pass
        return files

    def restore(self) -> list[str]:
        now = self._read()
        changed = sorted(str(p.relative_to(self.root)) for p in self.files.keys() | now.keys()
                         if self.files.get(p) != now.get(p))
        for p in now.keys() - self.files.keys():
            p.unlink(missing_ok=True)
        for p, data in self.files.items():
            if now.get(p) != data:
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(data)
        return changed


# ----------------------------------------------------------------------------- a class
def cpu_slots(jobs: int) -> list[tuple[int, ...] | None]:
    """Split the CPUs this process may use into ``jobs`` disjoint sets (None where not possible)."""
    if not hasattr(os, "sched_getaffinity"):
        return [None] * jobs
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < jobs:
        return [tuple(cpus)] * jobs
    per = len(cpus) // jobs
    return [tuple(cpus[i * per:(i + 1) * per]) for i in range(jobs)]


def grading_env(jobs: int, scratch: Path) -> dict:
    from .evidence import ENV
    env = dict(os.environ)
    threads = str(max(1, (os.cpu_count() or 1) // max(1, jobs)))
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, PYTHONHASHSEED="0", MPLBACKEND="Agg",
               PYTHONUNBUFFERED="1", OMP_WAIT_POLICY="PASSIVE", NBGRADER_EXECUTION="autograde",
               JUPYTER_RUNTIME_DIR=str(scratch / "runtime"), **{ENV: "1"})
    # The executors and their kernel launchers run the grader's own packages (not whatever an
    # editable install points at, when COURSE_ROOT is another checkout).
    env["PYTHONPATH"] = os.pathsep.join([*sandbox.course_package_parents(),
                                         *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))])
    return env


def default_answers(assignment: str) -> Path | None:
    """Where the hidden labels of ``assignment``'s prediction task are when not given: what its
    ``default_answers`` hook says (None: no prediction task, no hook, or no default)."""
    task = PREDICTION_TASKS.get(assignment)
    hook = task.hook("default_answers") if task else None
    path = hook() if hook else None
    return Path(path) if path is not None else None


def answers_for(answers: Path | dict[str, Path] | None, assignment: str) -> Path | None:
    """The hidden labels file to grade ``assignment``'s predictions against: ``answers`` (one
    file for every prediction task, or ``{assignment: file}``), else :func:`default_answers`."""
    given = answers.get(assignment) if isinstance(answers, dict) else answers
    return Path(given) if given else default_answers(assignment)


def _slots(jobs: int, policy: sandbox.SandboxPolicy, env: dict, scratch: Path, slots: list,
           uids: list[int] | None = None) -> list[Slot]:
    """Start one executor per slot, appended to ``slots`` as each starts (so that a signal
    during start-up still finds and stops those already running); ``uids``: the kernel uid of
    each slot (root mode, from a :class:`sandbox.UidLease`)."""
    specs = scratch / "kernels"
    for i, cpus in enumerate(cpu_slots(jobs)):
        p = dataclasses.replace(policy, cpus=list(cpus) if cpus else None,
                                uid=uids[i] if policy.mode == "bwrap-root" else None)
        slots.append(Slot(i, ExecutorProcess(env, scratch / f"executor-{i}.log", specs, cpus), p))
    return slots


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: the run was stopped (every executor and kernel with it)."""


def grade(root: Path, submitted: Path, out: Path, assignment: str | None = None, jobs: int = 1,
          timeout: float = DEFAULT_TIMEOUT_S, cell_timeout: int = CELL_TIMEOUT_S,
          progress: bool = True, answers: Path | dict[str, Path] | None = None,
          memory_mb: int | None = DEFAULT_MEMORY_MB,
          isolate: bool = True, gradebook_url: str | None = None, write_gradebook: bool = True) -> list[Result]:
    """Grade every submission under ``submitted``; ``answers`` is the hidden labels file for the
    parts graded from a predictions file (the prediction tasks of :mod:`autograder.course`): one
    path for all of them, or ``{assignment: path}`` (see :func:`answers_for`; default:
    :func:`default_answers`). The results also go into the course's nbgrader gradebook
    (:mod:`autograder.gradebook`)."""
    if not submitted.is_dir():
        raise GradingError(f"submitted folder {submitted} does not exist (expected SUBMITTED/<student_id>/<assignment>/<notebook>.ipynb)")
    known = available_assignments(root)
    if assignment is not None and assignment not in known:
        raise GradingError(f"unknown assignment '{assignment}'; this course has: {', '.join(known)}")
    try:
        todo, warnings = intake.discover(submitted, [assignment] if assignment else known, known)
    except intake.IntakeError as exc:
        raise GradingError(f"cannot read {submitted}: {exc}") from None
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    for hw in sorted({f.assignment for f in todo}):
        task = PREDICTION_TASKS.get(hw)
        try:         # a scoring hook that cannot be imported is the configuration's fault: stop before grading
            if task is not None:
                task.hook("score")
        except HookError as exc:
            raise GradingError(f"{hw}'s {task.filename} cannot be graded: {exc} (PREDICTION_TASKS in "
                               "autograder/course.py)") from None
    policy = sandbox.policy_for(memory_mb, isolate)
    if not policy.isolated:
        print(f"warning: {policy.describe()}: install bubblewrap (Linux) to grade untrusted notebooks",
              file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    missing_labels: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ag-") as tmp:
        scratch = Path(tmp)
        (scratch / "runtime").mkdir()
        env = grading_env(jobs, scratch)
        pool_slots: queue.Queue = queue.Queue()
        run = Run(root, scratch, out, timeout, cell_timeout, env, pool_slots,
                  FileGuard(root) if not policy.isolated else None)
        # From here on Ctrl-C / SIGTERM stop the run cleanly (exit 130, every worker stopped),
        # also while the workers start.
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def interrupted(signum, frame):
            run.stopping.set()
            raise Interrupted(f"stopped by signal {signum}")
        for sig in previous:
            signal.signal(sig, interrupted)
        slots: list = []
        lease = None
        try:
            if policy.mode == "bwrap-root":
                lease = sandbox.UidLease(max(1, jobs))
            _slots(max(1, jobs), policy, env, scratch, slots, lease.uids if lease else None)
            for s in slots:
                pool_slots.put(s)
            run.offline_mathjax = feedback.install_mathjax(out)
            if write_gradebook:
                from . import gradebook
                url = gradebook_url or gradebook.course_db_url(root)
                run.autograded = gradebook.autograded_dir(root, url, bool(gradebook_url or os.environ.get("AUTOGRADER_GRADEBOOK")))
            # The comparisons import torch (~1.5 s): do it while the first kernels start.
            threading.Thread(target=__import__, args=("autograder.checks",), daemon=True).start()
            keys = {}
            manual_from = None
            if write_gradebook:
                from . import gradebook
                manual_from = gradebook_url or gradebook.course_db_url(root)
            for hw in sorted({f.assignment for f in todo}, key=known.index):
                keys[hw] = load_answer_key(root, hw, lambda cells, tests, files, hw=hw: run.execute(
                    slots[0], hw, cells, tests, files, timeout=max(timeout, 1200)))
                task = keys[hw].predictions
                if task is not None:
                    try:
                        path = answers_for(answers, hw)
                    except HookError as exc:
                        raise GradingError(f"{hw}'s {task.filename}: {exc} (PREDICTION_TASKS in autograder/course.py)") from None
                    if path is not None and path.is_file():
                        keys[hw].answers_path = path
                    else:        # the rest is graded; these rungs stay "not graded" and the run says so
                        missing = (f"the hidden labels file {path} does not exist" if path is not None
                                   else "no hidden labels file was given")
                        missing_labels.append(
                            f"{hw}'s {task.filename} was not graded: {missing}. Pass --answers ({task.labels_hint}) "
                            "and grade again; everything else is graded and written.")
            if manual_from:
                from . import gradebook
                run.manual = gradebook.manual_scores(manual_from, {hw: set(k.answers) for hw, k in keys.items()})
            bar = tqdm(total=len(todo), desc="grading", unit="notebook", disable=not progress, file=sys.stderr)
            with ThreadPoolExecutor(max_workers=len(slots)) as pool:
                futures = [pool.submit(_graded, keys[f.assignment], f, run) for f in todo]
                try:
                    for fut in as_completed(futures):
                        results.append(fut.result())
                        bar.set_postfix_str(f"{results[-1].student_id[:20]}/{results[-1].assignment}")
                        bar.update()
                finally:
                    if run.stopping.is_set():
                        for f in futures:
                            f.cancel()
                    for s in slots:
                        s.executor.stop()
            bar.close()
        finally:
            for s in slots:
                s.executor.stop()
            if lease:
                lease.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    results.sort(key=lambda r: (r.student_id, r.assignment))
    outputs.write_csvs(out, results)
    if write_gradebook and results:
        from . import gradebook
        url = gradebook_url or gradebook.course_db_url(root)
        try:
            for w in gradebook.write_results(root, results, url):
                print(f"warning: {w}", file=sys.stderr)
        except Exception as exc:
            raise GradingError(f"the CSV files and feedback are written, but the gradebook {url} could not be "
                               f"written: {type(exc).__name__}: {str(exc)[:300]}") from exc
    if missing_labels:
        raise GradingError(" ".join(missing_labels), results)
    return results


def _graded(key: AnswerKey, found: intake.Found, run: Run) -> Result:
    slot = run.slots.get()
    try:
        result = grade_submission(key, found, run, slot)
    finally:
        run.slots.put(slot)
    if run.guard is not None:
        with run.guard_lock:
            changed = run.guard.restore()
        if changed:
            nb = key.notebook
            result.scores[nb] = {gid: (0.0, pts) for gid, pts in key.tests.items()}
            result.problems[nb] = ("While it was graded, your notebook changed files of the grader ("
                                   + ", ".join(changed[:5]) + (" ..." if len(changed) > 5 else "")
                                   + "). They were restored; this notebook scores 0.")
            _write_problem_feedback(run, key, result, "")
    return result


class _OneSlot:
    """A one-slot run outside ``grade`` (the reference records for nbgrader's path, the tests):
    the same executor and sandbox as a grading run."""

    def __init__(self, root: Path, isolate: bool = True):
        self.tmp = tempfile.TemporaryDirectory(prefix="ag-")
        scratch = Path(self.tmp.name)
        (scratch / "runtime").mkdir()
        env = grading_env(1, scratch)
        policy = sandbox.policy_for(DEFAULT_MEMORY_MB, isolate)
        self.lease = sandbox.UidLease(1) if policy.mode == "bwrap-root" else None
        self.slot = _slots(1, policy, env, scratch, [], self.lease.uids if self.lease else None)[0]
        q: queue.Queue = queue.Queue()
        q.put(self.slot)
        self.run = Run(root, scratch, scratch / "out", 1200, CELL_TIMEOUT_S * 2, env, q)

    def execute(self, assignment: str):
        return lambda cells, tests, files: self.run.execute(self.slot, assignment, cells, tests, files)

    def close(self) -> None:
        self.slot.executor.stop()
        if self.lease:
            self.lease.close()
        self.tmp.cleanup()


def reference_records(root: Path, assignment: str) -> dict:
    """The solution's records for ``assignment`` (from the cache, else a reference run)."""
    runner: _OneSlot | None = None

    def execute(cells, tests, files):
        nonlocal runner
        runner = runner or _OneSlot(root)
        return runner.execute(assignment)(cells, tests, files)
    try:
        return load_answer_key(root, assignment, execute).reference
    finally:
        if runner is not None:
            runner.close()


def reference_evidence(root: Path, assignment: str, prelude: str | None = None, isolate: bool = True) -> dict:
    """The solution's records for ``assignment``, run now (not cached); ``prelude`` as in
    :func:`autograder.answer_key.reference_run`. For the tests."""
    from .answer_key import code_stub, load_cells, reference_run
    runner = _OneSlot(root, isolate)
    try:
        key = AnswerKey(assignment, load_cells(root, assignment), code_stub())
        return reference_run(key, runner.execute(assignment), prelude=prelude)
    finally:
        runner.close()


def gradebook_table(results: list[Result]) -> str:
    def num(x):
        return f"{x:g}"
    rows = [("student", "assignment", "score", "max", "%", "notes")]
    for r in results:
        s, m = r.total()
        pending = r.awaiting_hand_grading()
        written = [f"{num(pending)} points of written answers to grade by hand"] if pending else []
        note = "; ".join(written + list(r.problems.values()) + r.notes).replace("\n", " ")
        rows.append((r.student_id[:40], r.assignment, num(s), num(m), f"{100 * s / m:.0f}" if m else "-",
                     note[:70] + ("..." if len(note) > 70 else "")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
