"""Grade submissions in their own work folders (run as a subprocess by `grade`).

    python -m autograder.worker --serve        # one submission per stdin line

WORKDIR holds a private copy of the gradebook (with the hidden tests) and the student's
notebooks under ``submitted/<student>/<assignment>/``. The worker runs nbgrader's autograde and
generate_feedback there and writes ``WORKDIR/result.json``. It runs in a separate process (in
the sandbox, see ``grade.Sandbox``) so that a crash, a hang or a dead kernel costs one
submission only and several submissions can be graded at once without sharing a database.

One worker per grading slot stays alive across submissions (nbgrader's imports cost
about 2.5 s per process): each stdin line is a JSON request ``{"workdir", "assignment",
"student", "cell_timeout", "step"}``; the answer is a line ``{"done": workdir}`` on stdout.
A submission takes two requests: ``"autograde"`` (the student's code runs), then, after the
grader has re-checked the evidence outside the sandbox and written ``verdicts.json``,
``"feedback"``. After each request every process the student's code left behind is killed
(the worker is their subreaper), so nothing carries over to the next step or student.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def _api(workdir: Path, cell_timeout: int | None):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from .course import nbgrader_config

    kwargs = {"cell_timeout": cell_timeout} if cell_timeout else {}
    config = nbgrader_config(workdir, source="source", release="release",
                             db_path=workdir / "gradebook.db", **kwargs)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config), config


def autograde_workdir(workdir: Path, assignment: str, student: str, cell_timeout: int | None) -> dict:
    """Step 1, student code runs: nbgrader autograde in ``workdir``; writes and returns result.json."""
    from nbgrader.api import Gradebook

    api, config = _api(workdir, cell_timeout)
    result: dict = {"student_id": student, "assignment": assignment, "steps": {}}
    t0 = time.perf_counter()
    autograde = api.autograde(assignment, student, force=True, create=True)
    result["steps"]["autograde"] = {"success": autograde["success"], "seconds": time.perf_counter() - t0,
                                    "error": autograde.get("error", ""), "log": autograde.get("log", "")[-4000:]}
    if autograde["success"]:
        scores = {}
        with Gradebook(config.CourseDirectory.db_url, config.CourseDirectory.course_id) as gb:
            submission = gb.find_submission(assignment, student)
            for nb in submission.notebooks:
                scores[nb.name] = {g.name: [float(g.score or 0.0), float(g.max_score)] for g in nb.grades}
        result["scores"] = scores
    (workdir / "result.json").write_text(json.dumps(result, indent=1))
    return result


def feedback_workdir(workdir: Path, assignment: str, student: str) -> dict:
    """Step 2, after the student's processes are gone: apply the grader's verdicts
    (``verdicts.json``: ``{notebook: {grade_id: message}}``, from the evidence re-check) to the
    gradebook and the graded notebooks, then nbgrader generate_feedback."""
    import nbformat
    from nbformat.v4 import new_output
    from nbgrader.api import Gradebook

    api, config = _api(workdir, None)
    result = json.loads((workdir / "result.json").read_text())
    verdicts_path = workdir / "verdicts.json"
    verdicts = json.loads(verdicts_path.read_text()) if verdicts_path.exists() else {}
    with Gradebook(config.CourseDirectory.db_url, config.CourseDirectory.course_id) as gb:
        for nb_name, cells in verdicts.items():
            if not cells:
                continue
            path = workdir / "autograded" / student / assignment / f"{nb_name}.ipynb"
            path.chmod(0o644)                      # nbgrader leaves graded notebooks read-only
            nb = nbformat.read(str(path), as_version=4)
            for cell in nb.cells:
                message = cells.get(cell.get("metadata", {}).get("nbgrader", {}).get("grade_id"))
                if message:
                    cell.outputs.append(new_output("error", ename="CheckFailure", evalue=message,
                                                   traceback=[f"CheckFailure: {message}"]))
            nbformat.write(nb, str(path))
            for grade_id in cells:
                grade = gb.find_grade(grade_id, nb_name, assignment, student)
                grade.auto_score = 0.0
            gb.db.commit()
    t1 = time.perf_counter()
    feedback = api.generate_feedback(assignment, student, force=True)
    if not feedback["success"]:  # seen once under heavy load; the cause was not captured
        print("generate_feedback failed, retrying:\n" + feedback.get("error", "") + feedback.get("log", ""),
              file=sys.stderr, flush=True)
        feedback = api.generate_feedback(assignment, student, force=True)
    result["steps"]["feedback"] = {"success": feedback["success"], "seconds": time.perf_counter() - t1,
                                   "error": feedback.get("error", "")}
    if not feedback["success"]:
        print("generate_feedback failed again:\n" + feedback.get("error", "") + feedback.get("log", ""),
              file=sys.stderr, flush=True)
    (workdir / "result.json").write_text(json.dumps(result, indent=1))
    return result


def _become_subreaper() -> None:
    """Orphans of the student's code are re-parented to this process (Linux), so we can kill them."""
    if sys.platform.startswith("linux"):
        import ctypes
        try:
            ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)   # PR_SET_CHILD_SUBREAPER
        except (OSError, AttributeError):
            pass


def _kill_children() -> None:
    import psutil
    children = psutil.Process().children(recursive=True)
    for child in children:
        try:
            child.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(children, timeout=5)      # reap them (we may be their parent now)


def serve() -> int:
    import os
    protocol = os.fdopen(os.dup(1), "w")   # answers go here; anything else printed goes to the log
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _become_subreaper()
    import nbgrader.apps  # noqa: F401  (the expensive import, once)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        workdir = Path(request["workdir"])
        try:
            if request.get("step") == "feedback":
                feedback_workdir(workdir, request["assignment"], request["student"])
            else:
                autograde_workdir(workdir, request["assignment"], request["student"], request.get("cell_timeout"))
        except Exception as exc:  # the grader turns a missing result into a graded zero
            print(f"worker error: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        finally:
            _kill_children()
        print(json.dumps({"done": str(workdir)}), file=protocol, flush=True)
    return 0


def main(argv: list[str]) -> int:
    if argv != ["--serve"]:
        print("usage: python -m autograder.worker --serve   (started by `python -m autograder grade`)", file=sys.stderr)
        return 2
    return serve()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
