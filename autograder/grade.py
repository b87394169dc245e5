"""`python -m autograder grade SUBMITTED --out OUT`: grade a class, never losing a student.

For each ``SUBMITTED/<student_id>/<assignment>/`` this
1. finds the notebooks (a single misnamed notebook is accepted and renamed, with a note),
   reads them (invalid JSON is a graded zero, with feedback saying so) and strips cell tags
   (``skip-execution`` would skip a test cell and score it full);
2. grades it with nbgrader in a private work folder, in a subprocess with a whole-notebook
   time limit (see :mod:`autograder.worker`), several at a time with ``--jobs``;
3. writes ``OUT/grades.csv``, ``OUT/scores.csv`` and ``OUT/feedback/<sid>/<hw>/<nb>.html``.

The gradebook holding the hidden tests is rebuilt from ``solutions/`` at the start of each run.
"""
from __future__ import annotations

import csv
import dataclasses
import html
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import queue
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from tqdm import tqdm

from . import evidence, feedback
from .course import CELL_TIMEOUT_S, PREDICTION_TASKS, PredictionTask, available_assignments

DEFAULT_TIMEOUT_S = 600


class GradingError(Exception):
    """The grader itself cannot do its job (not: a submission is broken)."""


@dataclass
class AnswerKey:
    """What an assignment's gradebook expects: notebooks and their graded cells, in order."""
    assignment: str
    cells: dict[str, list[tuple[str, float]]]   # notebook -> [(grade_id, max_score)]
    predictions: PredictionTask | None = None    # a file graded against hidden labels, if any
    answers_path: Path | None = None
    evidence: dict = field(default_factory=dict)  # grade_id -> the solution's evidence records
    db_bytes: bytes = b""                          # the gradebook, kept in memory: each submission
                                                   # gets a fresh copy that no earlier one touched

    @property
    def max_score(self) -> float:
        extra = self.predictions.max_score if self.predictions else 0.0
        return sum(p for cells in self.cells.values() for _, p in cells) + extra


@dataclass
class Result:
    student_id: str
    assignment: str
    scores: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)  # nb -> gid -> (score, max)
    notes: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)  # nb -> why it got no normal grading
    extra_html: str = ""                                     # appended to every feedback page
    timing: dict = field(default_factory=dict)               # worker step -> seconds (for benchmarks)
    seconds: float = 0.0

    def total(self) -> tuple[float, float]:
        s = sum(v[0] for cells in self.scores.values() for v in cells.values())
        m = sum(v[1] for cells in self.scores.values() for v in cells.values())
        return s, m


# ----------------------------------------------------------------------------- answer keys
def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "attention-course-autograder"


def build_answer_key(root: Path, assignment: str, scratch: Path) -> AnswerKey:
    """The gradebook (with hidden tests) generated from ``solutions/``, cached by content.

    Generating it costs ~3 s; the cache key covers the solution notebook, the nbgrader
    version and this package's nbgrader settings, so any change rebuilds it.
    """
    from importlib.metadata import version

    from . import course

    scratch.mkdir(parents=True, exist_ok=True)
    solution_path = root / "solutions" / assignment / f"{assignment}.ipynb"
    if not solution_path.exists():
        raise GradingError(f"no solution notebook {solution_path}: cannot grade {assignment}")
    digest = hashlib.sha256(solution_path.read_bytes())
    digest.update(version("nbgrader").encode())
    for module in ("course.py", "checks.py", "evidence.py", "preprocessors.py"):   # what the key and the evidence depend on
        digest.update((Path(__file__).parent / module).read_bytes())
    cached = _cache_dir() / f"{assignment}-{digest.hexdigest()[:24]}.db"
    db = scratch / f"{assignment}.db"
    if cached.exists():
        shutil.copy(cached, db)
    else:
        from .build import generate_gradebook
        try:
            generate_gradebook(root, assignment, scratch / "release", db)
        except RuntimeError as exc:
            raise GradingError(str(exc)) from exc
        try:  # best effort: a read-only home only costs the 3 s again
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".{os.getpid()}.tmp")
            shutil.copy(db, tmp)
            os.replace(tmp, cached)
        except OSError:
            pass
    evidence_path = cached.with_suffix(".evidence.json")
    try:
        evidence_map = json.loads(evidence_path.read_text())
    except (OSError, ValueError):
        evidence_map = reference_evidence(solution_path, scratch / "evidence")
        try:
            tmp = evidence_path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(evidence_map))
            os.replace(tmp, evidence_path)
        except OSError:
            pass
    solution = nbformat.read(str(solution_path), as_version=4)
    cells = [(c.metadata["nbgrader"]["grade_id"], float(c.metadata["nbgrader"].get("points", 0)))
             for c in solution.cells
             if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")]
    return AnswerKey(assignment, {assignment: cells}, evidence=evidence_map, db_bytes=db.read_bytes())


def reference_evidence(solution_path: Path, workdir: Path, prelude: str | None = None) -> dict[str, list[dict]]:
    """Run the solution notebook as the grader runs a submission, recording evidence
    (:mod:`autograder.evidence`); return ``{test grade_id: records}``. ``prelude``: code run
    after the notebook's first code cell (the tests use it to perturb the global RNG)."""
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell

    from .preprocessors import grading_source, is_test_cell

    workdir.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(str(solution_path), as_version=4)
    for cell in nb.cells:             # the test cells exactly as a submission's kernel gets them
        if cell.cell_type == "code" and is_test_cell(cell):
            cell.source = grading_source(cell.source)
    if prelude:
        first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
        nb.cells.insert(first + 1, new_code_cell(prelude))
    env = grading_env(1)
    env.update({evidence.ENV: "1", "NBGRADER_EXECUTION": "autograde"})
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S * 2, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    try:
        client.execute(env=env, stderr=subprocess.DEVNULL)   # the kernel's own log lines
    except Exception as exc:
        raise GradingError(f"the solution notebook {solution_path} failed while recording the reference "
                           f"evidence: {type(exc).__name__}: {_last_line(str(exc))}") from exc
    return evidence.reference_records(nb)


def verify_evidence(key: AnswerKey, result: Result, notebook: str, graded_path: Path) -> dict[str, str]:
    """The evidence re-check, here in the grader's process, outside the student's kernel.

    A test cell keeps its points only if it passed in the kernel *and* its records match the
    solution's. While grading, the kernel never gets the expected values of ``check_close``,
    ``check_equal`` and ``check_close_up_to_sign``: this is where those comparisons happen.
    Returns ``{grade_id: message}`` for each cell that loses its points here (zeroed in
    ``result``), for the feedback."""
    if not graded_path.exists():
        return {}
    nb = nbformat.read(str(graded_path), as_version=4)
    verdicts = {}
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.cell_type != "code" or gid not in result.scores.get(notebook, {}) or gid not in key.evidence:
            continue
        score, max_score = result.scores[notebook][gid]
        if score <= 0:
            continue
        why = evidence.verify(evidence.cell_records(cell), key.evidence[gid])
        if why:
            result.scores[notebook][gid] = (0.0, max_score)
            verdicts[gid] = why
    return verdicts


# ----------------------------------------------------------------------------- one submission
def _zero(key: AnswerKey, result: Result, notebook: str) -> None:
    result.scores[notebook] = {gid: (0.0, pts) for gid, pts in key.cells[notebook]}


def prepare(key: AnswerKey, student: str, folder: Path, workdir: Path) -> Result:
    """Copy readable notebooks into ``workdir`` (nbgrader layout); record problems."""
    result = Result(student, key.assignment)
    target = workdir / "submitted" / student / key.assignment
    target.mkdir(parents=True)
    (workdir / "source" / key.assignment).mkdir(parents=True)
    (workdir / "gradebook.db").write_bytes(key.db_bytes)

    found = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    expected = list(key.cells)
    unmatched = [p for p in found if p.stem not in expected]
    for name in expected:
        path = folder / f"{name}.ipynb"
        if not path.exists():
            if len(unmatched) == 1 and sum(not (folder / f"{n}.ipynb").exists() for n in expected) == 1:
                path = unmatched.pop()
                result.notes.append(f"Your notebook was named '{path.name}'; it was graded as '{name}.ipynb'.")
            else:
                others = ", ".join(p.name for p in found) or "no notebooks at all"
                result.problems[name] = (f"No notebook named {name}.ipynb was submitted "
                                         f"(the folder has: {others}).")
                continue
        try:
            nb = nbformat.read(str(path), as_version=4)
        except Exception as exc:  # invalid JSON, not a notebook, unreadable
            result.problems[name] = (f"{path.name} could not be read as a Jupyter notebook: "
                                     f"{type(exc).__name__}: {str(exc)[:500]}")
            continue
        for cell in nb.cells:
            cell.get("metadata", {}).pop("tags", None)
        seen, kept = set(), []
        for cell in nb.cells:   # nbgrader aborts on a repeated grade_id: keep the first of each
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid is not None and gid in seen:
                result.notes.append(f"Your notebook had a second cell with grade_id '{gid}'; it was ignored.")
                continue
            seen.add(gid)
            kept.append(cell)
        nb.cells = kept
        nbformat.write(nb, str(target / f"{name}.ipynb"))
    return result


DEFAULT_MEMORY_MB = 4096
FEEDBACK_TIMEOUT_S = 300   # step 2 (verdicts + HTML) runs no student code


@dataclass
class Sandbox:
    """Limits for one submission's grading processes (the worker and the kernel it starts).

    Always, where the OS has them:
    - ``memory_mb``: address-space limit (RLIMIT_AS), so a memory bomb raises MemoryError in
      the kernel instead of taking the machine down;
    - ``cpus``: the CPUs the processes may run on (sched_setaffinity), besides OMP/MKL threads.

    With ``isolate`` (Linux, as root: see :func:`isolation_available`) the worker and the kernel
    also run in new mount and network namespaces, without any capabilities:
    - network: loopback only (the kernel talks to the worker over it);
    - the course folder (``root``, its ``.venv`` included) is mounted read-only;
    - ``solutions/`` (hidden tests), the answer-key cache and the hidden labels file are
      replaced by empty mounts, so student code cannot read them.
    """
    memory_mb: int | None = DEFAULT_MEMORY_MB
    cpus: tuple[int, ...] | None = None
    isolate: bool = False
    root: Path | None = None
    hidden: tuple[Path, ...] = ()

    def preexec(self) -> None:
        import resource
        if self.memory_mb:
            limit = int(self.memory_mb) * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        if self.cpus and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, set(self.cpus))

    def wrap(self, cmd: list[str]) -> list[str]:
        if not self.isolate:
            return cmd
        hidden = [str(p) for p in self.hidden if p.exists()]
        # --pid --fork: when the worker goes, every process left in its namespace goes too
        return ["unshare", "--mount", "--net", "--pid", "--fork", "--propagation", "private", "sh", "-c", _ISOLATE_SH, "sh",
                str(self.root), str(len(hidden)), *hidden, *cmd]


# $1 = course root (made read-only); $2 = how many paths to hide, then the paths; then the command.
_ISOLATE_SH = r"""
set -e
ip link set lo up
mount --bind "$1" "$1"
mount -o remount,ro,bind "$1"
n=$2; shift 2
while [ "$n" -gt 0 ]; do
  if [ -d "$1" ]; then mount -t tmpfs -o size=64k,mode=755 none "$1"; else mount --bind /dev/null "$1"; fi
  shift; n=$((n - 1))
done
exec setpriv --bounding-set=-all --inh-caps=-all -- "$@"
"""

_ISOLATION_PROBE: bool | None = None


def isolation_available() -> bool:
    """Whether the namespace sandbox works here (Linux, root, unshare/ip/setpriv); probed once."""
    global _ISOLATION_PROBE
    if _ISOLATION_PROBE is None:
        _ISOLATION_PROBE = False
        tools = all(shutil.which(t) for t in ("unshare", "ip", "setpriv", "mount"))
        if sys.platform.startswith("linux") and tools and hasattr(os, "geteuid") and os.geteuid() == 0:
            with tempfile.TemporaryDirectory() as tmp:
                probe_root, secret = Path(tmp) / "course", Path(tmp) / "course" / "secret"
                secret.mkdir(parents=True)
                test = (f'! touch "{probe_root}/x" 2>/dev/null && [ -z "$(ls "{secret}")" ]')
                cmd = Sandbox(isolate=True, root=probe_root, hidden=(secret,)).wrap(["sh", "-c", test])
                (secret / "hidden").write_text("")
                try:
                    _ISOLATION_PROBE = subprocess.run(cmd, capture_output=True, timeout=20).returncode == 0
                except (OSError, subprocess.TimeoutExpired):
                    pass
    return _ISOLATION_PROBE


def kill_tree(pid: int) -> None:
    """Kill a process, its process group and all its descendants. Kernels start in a session of
    their own (jupyter_client), so killing the worker's process group alone would leave them."""
    import psutil
    try:
        family = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        family = []
    for p in family:
        try:
            p.kill()
        except psutil.Error:
            pass
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class PersistentWorker:
    """One ``python -m autograder.worker --serve`` process (in the sandbox) that grades the
    submissions of one slot in turn; restarted after a timeout or a crash."""

    def __init__(self, sandbox: "Sandbox", env: dict, log_path: Path):
        self.sandbox, self.env, self.log_path = sandbox, env, log_path
        self.proc: subprocess.Popen | None = None
        self.lines: queue.Queue = queue.Queue()

    def _start(self) -> None:
        cmd = self.sandbox.wrap([sys.executable, "-m", "autograder.worker", "--serve"])
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, start_new_session=True, preexec_fn=self.sandbox.preexec,
                                     text=True, bufsize=1)
        lines, stdout = queue.Queue(), self.proc.stdout
        self.lines = lines

        def pump():
            for line in stdout:
                lines.put(line)
            lines.put(None)                      # EOF: the worker is gone
        threading.Thread(target=pump, daemon=True).start()

    def grade(self, workdir: Path, assignment: str, student: str, cell_timeout: int,
              timeout: float, step: str = "autograde") -> tuple[bool, str]:
        """(finished, why not). The worker writes workdir/result.json when it finishes a step."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        request = {"workdir": str(workdir), "assignment": assignment, "student": student,
                   "cell_timeout": cell_timeout, "step": step}
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except OSError:
            self.stop()
            return False, "The grading worker could not be started."
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                return False, f"Grading was stopped after {timeout:g} s (the whole-notebook time limit)."
            if line is None:
                self.stop()
                return False, "The grading worker died while grading this notebook."
            try:
                if json.loads(line).get("done") == str(workdir):
                    return True, ""
            except ValueError:
                pass

    def stop(self) -> None:
        if self.proc is not None:
            kill_tree(self.proc.pid)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            self.proc = None
            self.log.close()


GUARDED = ("autograder", "coursekit", "solutions", "nbgrader_config.py", "pyproject.toml")


class FileGuard:
    """The course files grading depends on, kept in memory: after each submission any file a
    student's code changed, added or deleted is put back, and that submission is flagged."""

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
        """Put every guarded file back as it was; return the ones that had changed."""
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


def score_predictions(task: PredictionTask, folder: Path, answers_path: Path) -> tuple[dict, str]:
    """Kaggle-style grading of ``folder/<task.filename>`` against the hidden labels.

    Runs in the grader's process on the submitted file only: no student code runs, and the
    labels never enter the student's kernel. Returns ``({grade_id: (score, max)}, html)``.
    """
    from coursekit.speaker_data import accuracy_from_files

    path = folder / task.filename
    accuracy, why = None, ""
    if not path.is_file():
        found = ", ".join(sorted(p.name for p in folder.iterdir())) or "nothing"
        why = (f"No {task.filename} was submitted next to the notebook (the folder has: {found}). "
               f"Run the notebook's last cells to write it, and hand it in with the notebook.")
    else:
        try:
            accuracy = accuracy_from_files(path, answers_path)
        except (ValueError, UnicodeDecodeError, OSError) as exc:
            why = f"{task.filename} could not be scored: {str(exc).replace(str(folder) + os.sep, '')}"
    scores = {r.grade_id: ((r.points if accuracy is not None and accuracy >= r.threshold else 0.0), r.points)
              for r in task.rungs}
    rows = "".join(
        f"<tr><td>{html.escape(r.label)}</td><td>{r.threshold:.3f}</td><td>{'reached' if scores[r.grade_id][0] else 'not reached'}</td>"
        f"<td>{scores[r.grade_id][0]:g} / {r.points:g}</td></tr>" for r in task.rungs)
    summary = (f"<p>Test accuracy of your predictions: <b>{accuracy:.4f}</b></p>" if accuracy is not None
               else f"<p><b>{html.escape(why)}</b></p>")
    page = (f'<div style="border:1px solid #369;padding:.5em;margin:1em"><h2>{html.escape(task.filename)} '
            f"(graded against the hidden test labels)</h2>{summary}<table border=\"1\" cellpadding=\"4\">"
            f"<tr><th>rung</th><th>threshold</th><th></th><th>points</th></tr>{rows}</table></div>")
    return scores, page


@dataclass
class Slot:
    cpus: tuple[int, ...] | None
    worker: PersistentWorker | None = None


@dataclass
class Run:
    """What every submission of one grading run shares."""
    scratch: Path
    out: Path
    timeout: float
    cell_timeout: int
    env: dict
    sandbox: Sandbox
    slots: "queue.Queue[Slot]"                      # one per concurrent submission
    guard: FileGuard | None = None
    guard_lock: threading.Lock = field(default_factory=threading.Lock)


def grade_one(key: AnswerKey, student: str, folder: Path, run: Run) -> Result:
    slot = run.slots.get()
    try:
        if slot.worker is None:
            slot.worker = PersistentWorker(dataclasses.replace(run.sandbox, cpus=slot.cpus), run.env,
                                           run.scratch / f"worker-{id(slot)}.log")
        result = _grade_one(key, student, folder, run, slot.worker)
    finally:
        run.slots.put(slot)
    if run.guard is not None:
        with run.guard_lock:
            changed = run.guard.restore()
        if changed:
            for nb in key.cells:
                _zero(key, result, nb)
                result.problems[nb] = (
                    "While it was graded, your notebook changed files of the grader ("
                    + ", ".join(changed[:5]) + (" ..." if len(changed) > 5 else "")
                    + "). They were restored; this notebook scores 0.")
                _write_feedback(run.out, result, nb, None)
    return result


def _grade_one(key: AnswerKey, student: str, folder: Path, run: Run, worker: PersistentWorker) -> Result:
    t0 = time.perf_counter()
    scratch, out = run.scratch, run.out
    workdir = Path(tempfile.mkdtemp(prefix=f"{student}-{key.assignment}-", dir=scratch))
    result = prepare(key, student, folder, workdir)
    if key.predictions is not None:
        scores, result.extra_html = score_predictions(key.predictions, folder, key.answers_path)
        result.scores[key.predictions.filename] = scores
    runnable = [nb for nb in key.cells if nb not in result.problems]
    if runnable:
        log_start = worker.log_path.stat().st_size if worker.log_path.exists() else 0
        finished, why = worker.grade(workdir, key.assignment, student, run.cell_timeout, run.timeout)
        rc = 0 if finished and (workdir / "result.json").exists() else None
        _copy_log(worker, log_start, workdir)
        report = {}
        if (workdir / "result.json").exists():
            report = json.loads((workdir / "result.json").read_text())
            result.timing = {k: v.get("seconds", 0.0) for k, v in report.get("steps", {}).items()}
        if rc == 0 and report.get("steps", {}).get("autograde", {}).get("success") and "scores" in report:
            verdicts = {}
            for nb in runnable:
                cells = report["scores"].get(nb, {})
                result.scores[nb] = {gid: tuple(cells.get(gid, (0.0, pts))) for gid, pts in key.cells[nb]}
                verdicts[nb] = verify_evidence(key, result, nb,
                                               workdir / "autograded" / student / key.assignment / f"{nb}.ipynb")
            (workdir / "verdicts.json").write_text(json.dumps(verdicts))
            worker.grade(workdir, key.assignment, student, run.cell_timeout, FEEDBACK_TIMEOUT_S, step="feedback")
            _copy_log(worker, log_start, workdir)
            try:
                steps = json.loads((workdir / "result.json").read_text()).get("steps", {})
                result.timing.update({k: v.get("seconds", 0.0) for k, v in steps.items()})
            except (OSError, ValueError):
                pass
            for nb in runnable:
                page_path = workdir / "feedback" / student / key.assignment / f"{nb}.html"
                if page_path.exists():
                    _write_feedback(out, result, nb, page_path.read_text())
                else:  # graded, but the HTML export failed: keep the scores, say so, keep the log
                    _write_feedback(out, result, nb, feedback.scores_page(
                        student, key.assignment, nb, result.scores[nb],
                        "The detailed feedback page could not be generated; your scores are below."))
                    _keep_log(out, workdir, student, key.assignment)
        else:
            if not why:
                err = report.get("steps", {}).get("autograde", {}).get("error", "")
                log_tail = (workdir / "worker.log").read_text(errors="replace")[-1500:]
                why = ("Your notebook could not be run to the end by the grader (for example: the "
                       "kernel died, ran out of memory, or the notebook exited Python).\n\n"
                       + _last_line(err or log_tail))
            for nb in runnable:
                result.problems[nb] = why
            _keep_log(out, workdir, student, key.assignment)
    for nb in key.cells:
        if nb in result.problems:
            _zero(key, result, nb)
            _write_feedback(out, result, nb, None)
    shutil.rmtree(workdir, ignore_errors=True)
    result.seconds = time.perf_counter() - t0
    return result


def _copy_log(worker: PersistentWorker, start: int, workdir: Path) -> None:
    """This submission's part of the worker's log, to workdir/worker.log."""
    if worker.log_path.exists():
        with open(worker.log_path, "rb") as f:
            f.seek(start)
            (workdir / "worker.log").write_bytes(f.read())


def _keep_log(out: Path, workdir: Path, student: str, assignment: str) -> None:
    """Keep the worker's log for the instructor when something went wrong (OUT/logs/)."""
    log = workdir / "worker.log"
    if log.exists():
        (out / "logs").mkdir(parents=True, exist_ok=True)
        shutil.copy(log, out / "logs" / f"{student}-{assignment}.log")


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:500] if lines else ""


def _write_feedback(out: Path, result: Result, notebook: str, page: str | None) -> None:
    path = out / "feedback" / result.student_id / result.assignment / f"{notebook}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    if page is None:
        max_score = sum(m for _, m in result.scores.get(notebook, {}).values())
        page = feedback.problem_page(result.student_id, result.assignment, notebook,
                                     result.problems[notebook], max_score)
    if result.extra_html:
        page = page.replace("</body>", result.extra_html + "</body>", 1) if "</body>" in page \
            else page + result.extra_html
    if result.notes:
        banner = "".join(f"<p>{html.escape(n)}</p>" for n in result.notes)
        page = page.replace("<body>", f'<body><div style="border:1px solid #c90;background:#ffd;'
                                      f'padding:.5em;margin:1em">{banner}</div>', 1)
    path.write_text(page)


# ----------------------------------------------------------------------------- a class
def discover(submitted: Path, assignments: list[str]) -> list[tuple[str, str, Path]]:
    jobs = []
    for student_dir in sorted(p for p in submitted.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for hw_dir in sorted(p for p in student_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if hw_dir.name in assignments:
                jobs.append((student_dir.name, hw_dir.name, hw_dir))
            else:
                print(f"warning: skipping {hw_dir}: '{hw_dir.name}' is not an assignment of this course "
                      f"({', '.join(assignments)})", file=sys.stderr)
    return jobs


def cpu_slots(jobs: int) -> list[tuple[int, ...] | None]:
    """Split the CPUs this process may use into ``jobs`` disjoint sets (None where not possible)."""
    if not hasattr(os, "sched_getaffinity"):
        return [None] * jobs
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < jobs:
        return [tuple(cpus)] * jobs
    per = len(cpus) // jobs
    return [tuple(cpus[i * per:(i + 1) * per]) for i in range(jobs)]


def grading_env(jobs: int) -> dict:
    env = dict(os.environ)
    threads = str(max(1, (os.cpu_count() or 1) // max(1, jobs)))
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, PYTHONHASHSEED="0", MPLBACKEND="Agg",
               PYTHONUNBUFFERED="1", OMP_WAIT_POLICY="PASSIVE", **{evidence.ENV: "1"})
    return env


def default_answers(assignment: str) -> Path | None:
    """Where the hidden labels of a prediction task are when not given (hw4: beside the
    default data folder, ``data/speakers-answers.csv`` or ``$HW4_DATA-answers.csv``)."""
    if assignment == "hw4_speaker_id":
        from coursekit.speaker_data import default_data_dir
        from coursekit.speakers import default_answers_path
        return default_answers_path(default_data_dir())
    return None


def grade(root: Path, submitted: Path, out: Path, assignment: str | None = None, jobs: int = 1,
          timeout: float = DEFAULT_TIMEOUT_S, cell_timeout: int = CELL_TIMEOUT_S,
          progress: bool = True, answers: Path | None = None, memory_mb: int | None = DEFAULT_MEMORY_MB,
          isolate: bool = True) -> list[Result]:
    """Grade every submission under ``submitted``; ``answers`` is the hidden-labels CSV for
    assignments graded from a predictions file (hw4; default: :func:`default_answers`)."""
    if not submitted.is_dir():
        raise GradingError(f"submitted folder {submitted} does not exist (expected SUBMITTED/<student_id>/<assignment>/<notebook>.ipynb)")
    known = available_assignments(root)
    if assignment is not None and assignment not in known:
        raise GradingError(f"unknown assignment '{assignment}'; this course has: {', '.join(known)}")
    todo = discover(submitted, [assignment] if assignment else known)
    out.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="autograder-") as tmp:
        scratch = Path(tmp)
        keys = {hw: build_answer_key(root, hw, scratch / f"key-{hw}")
                for hw in sorted({hw for _, hw, _ in todo})}
        for hw, key in keys.items():
            if hw in PREDICTION_TASKS:
                key.predictions = PREDICTION_TASKS[hw]
                key.answers_path = Path(answers) if answers else default_answers(hw)
                if key.answers_path is None or not key.answers_path.is_file():
                    raise GradingError(
                        f"{hw} is graded from {key.predictions.filename} against hidden labels, but the labels file "
                        f"{key.answers_path} does not exist: pass --answers (the *-answers.csv written by "
                        "`python -m coursekit.speakers` beside the data folder you gave the class)")
        jobs = max(1, jobs)
        slots: queue.Queue = queue.Queue()
        for cpus in cpu_slots(jobs):
            slots.put(Slot(cpus))
        hidden = [root / "solutions", _cache_dir()] + [k.answers_path for k in keys.values() if k.answers_path]
        sandbox = Sandbox(memory_mb=memory_mb, isolate=isolate and isolation_available(), root=root,
                          hidden=tuple(hidden))
        run = Run(scratch, out, timeout, cell_timeout, grading_env(jobs), sandbox, slots, FileGuard(root))
        # The evidence re-check compares with autograder.checks (torch: ~1.5 s to import); import
        # it while the first kernels start instead of after the first notebook is graded.
        threading.Thread(target=__import__, args=("autograder.checks",), daemon=True).start()
        bar = tqdm(total=len(todo), desc="grading", unit="notebook", disable=not progress, file=sys.stderr)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(grade_one, keys[hw], sid, folder, run) for sid, hw, folder in todo]
            try:
                for fut in as_completed(futures):
                    results.append(fut.result())
                    bar.set_postfix_str(f"{results[-1].student_id}/{results[-1].assignment}")
                    bar.update()
            finally:
                while not slots.empty():
                    slot = slots.get()
                    if slot.worker is not None:
                        slot.worker.stop()
        bar.close()
    results.sort(key=lambda r: (r.student_id, r.assignment))
    write_csvs(out, results)
    return results


def _num(x: float) -> str:
    return f"{x:g}"


def write_csvs(out: Path, results: list[Result]) -> None:
    with open(out / "grades.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student_id", "assignment", "score", "max_score"])
        for r in results:
            s, m = r.total()
            w.writerow([r.student_id, r.assignment, _num(s), _num(m)])
    with open(out / "scores.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student_id", "assignment", "notebook", "grade_id", "score", "max_score"])
        for r in results:
            for nb, cells in r.scores.items():
                for gid, (s, m) in cells.items():
                    w.writerow([r.student_id, r.assignment, nb, gid, _num(s), _num(m)])


def gradebook_table(results: list[Result]) -> str:
    rows = [("student", "assignment", "score", "max", "%", "notes")]
    for r in results:
        s, m = r.total()
        note = "; ".join(list(r.problems.values()) + r.notes).replace("\n", " ")
        rows.append((r.student_id, r.assignment, _num(s), _num(m), f"{100 * s / m:.0f}" if m else "-",
                     note[:70] + ("..." if len(note) > 70 else "")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
