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
import html
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from tqdm import tqdm

from . import feedback
from .course import CELL_TIMEOUT_S, PREDICTION_TASKS, PredictionTask, available_assignments

DEFAULT_TIMEOUT_S = 600


class GradingError(Exception):
    """The grader itself cannot do its job (not: a submission is broken)."""


@dataclass
class AnswerKey:
    """What an assignment's gradebook expects: notebooks and their graded cells, in order."""
    assignment: str
    db_path: Path
    cells: dict[str, list[tuple[str, float]]]   # notebook -> [(grade_id, max_score)]
    predictions: PredictionTask | None = None    # a file graded against hidden labels, if any
    answers_path: Path | None = None

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
    digest.update(Path(course.__file__).read_bytes())
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
    solution = nbformat.read(str(solution_path), as_version=4)
    cells = [(c.metadata["nbgrader"]["grade_id"], float(c.metadata["nbgrader"].get("points", 0)))
             for c in solution.cells
             if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")]
    return AnswerKey(assignment, db, {assignment: cells})


# ----------------------------------------------------------------------------- one submission
def _zero(key: AnswerKey, result: Result, notebook: str) -> None:
    result.scores[notebook] = {gid: (0.0, pts) for gid, pts in key.cells[notebook]}


def prepare(key: AnswerKey, student: str, folder: Path, workdir: Path) -> Result:
    """Copy readable notebooks into ``workdir`` (nbgrader layout); record problems."""
    result = Result(student, key.assignment)
    target = workdir / "submitted" / student / key.assignment
    target.mkdir(parents=True)
    (workdir / "source" / key.assignment).mkdir(parents=True)
    shutil.copy(key.db_path, workdir / "gradebook.db")

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
        nbformat.write(nb, str(target / f"{name}.ipynb"))
    return result


def _run_worker(workdir: Path, key: AnswerKey, student: str, timeout: float, cell_timeout: int,
                env: dict) -> tuple[int | None, str]:
    """Run the worker in its own process group; kill the whole group on timeout."""
    cmd = [sys.executable, "-m", "autograder.worker", str(workdir), key.assignment, student, str(cell_timeout)]
    with open(workdir / "worker.log", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return None, f"Grading was stopped after {timeout:g} s (the whole-notebook time limit)."
        finally:
            try:  # the kernel and anything the student started go too
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return proc.returncode, ""


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


def grade_one(key: AnswerKey, student: str, folder: Path, scratch: Path, out: Path,
              timeout: float, cell_timeout: int, env: dict) -> Result:
    t0 = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix=f"{student}-{key.assignment}-", dir=scratch))
    result = prepare(key, student, folder, workdir)
    if key.predictions is not None:
        scores, result.extra_html = score_predictions(key.predictions, folder, key.answers_path)
        result.scores[key.predictions.filename] = scores
    runnable = [nb for nb in key.cells if nb not in result.problems]
    if runnable:
        rc, why = _run_worker(workdir, key, student, timeout, cell_timeout, env)
        report = {}
        if (workdir / "result.json").exists():
            report = json.loads((workdir / "result.json").read_text())
        if rc == 0 and "scores" in report:
            for nb in runnable:
                cells = report["scores"].get(nb, {})
                result.scores[nb] = {gid: tuple(cells.get(gid, (0.0, pts))) for gid, pts in key.cells[nb]}
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


def grading_env(jobs: int) -> dict:
    env = dict(os.environ)
    threads = str(max(1, (os.cpu_count() or 1) // max(1, jobs)))
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, PYTHONHASHSEED="0", MPLBACKEND="Agg",
               PYTHONUNBUFFERED="1", OMP_WAIT_POLICY="PASSIVE")
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
          progress: bool = True, answers: Path | None = None) -> list[Result]:
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
        env = grading_env(jobs)
        bar = tqdm(total=len(todo), desc="grading", unit="notebook", disable=not progress, file=sys.stderr)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(grade_one, keys[hw], sid, folder, scratch, out, timeout, cell_timeout, env)
                       for sid, hw, folder in todo]
            for fut in as_completed(futures):
                results.append(fut.result())
                bar.set_postfix_str(f"{results[-1].student_id}/{results[-1].assignment}")
                bar.update()
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
