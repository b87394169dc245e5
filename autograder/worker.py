"""Grade ONE submission in its own work folder (run as a subprocess by `grade`).

    python -m autograder.worker WORKDIR ASSIGNMENT STUDENT

WORKDIR holds a private copy of the gradebook (with the hidden tests) and the student's
notebooks under ``submitted/<student>/<assignment>/``. The worker runs nbgrader's autograde and
generate_feedback there and writes ``WORKDIR/result.json``. It runs in a separate process so
that a crash, a hang or a dead kernel costs this submission only, and so that several
submissions can be graded at once without sharing a database.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    workdir, assignment, student = Path(argv[0]).resolve(), argv[1], argv[2]
    cell_timeout = int(argv[3]) if len(argv) > 3 else None

    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from .course import nbgrader_config

    kwargs = {"cell_timeout": cell_timeout} if cell_timeout else {}
    config = nbgrader_config(workdir, source="source", release="release",
                             db_path=workdir / "gradebook.db", **kwargs)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    result: dict = {"student_id": student, "assignment": assignment, "steps": {}}

    t0 = time.perf_counter()
    autograde = api.autograde(assignment, student, force=True, create=True)
    result["steps"]["autograde"] = {"success": autograde["success"], "seconds": time.perf_counter() - t0,
                                    "error": autograde.get("error", ""), "log": autograde.get("log", "")[-4000:]}
    if autograde["success"]:
        t1 = time.perf_counter()
        feedback = api.generate_feedback(assignment, student, force=True)
        if not feedback["success"]:  # seen once under heavy load; the cause was not captured
            print("generate_feedback failed, retrying:\n" + feedback.get("error", "") + feedback.get("log", ""), flush=True)
            feedback = api.generate_feedback(assignment, student, force=True)
        result["steps"]["feedback"] = {"success": feedback["success"], "seconds": time.perf_counter() - t1,
                                       "error": feedback.get("error", "")}
        if not feedback["success"]:
            print("generate_feedback failed again:\n" + feedback.get("error", "") + feedback.get("log", ""), flush=True)
        scores = {}
        with Gradebook(config.CourseDirectory.db_url, config.CourseDirectory.course_id) as gb:
            submission = gb.find_submission(assignment, student)
            for nb in submission.notebooks:
                scores[nb.name] = {g.name: [float(g.score or 0.0), float(g.max_score)] for g in nb.grades}
        result["scores"] = scores
    (workdir / "result.json").write_text(json.dumps(result, indent=1))
    return 0 if autograde["success"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
