"""The course's nbgrader gradebook: where ``grade`` leaves its results for nbgrader's own tools.

After a class is graded, every result goes into the gradebook at ``CourseDirectory.db_url`` of
the course's ``nbgrader_config.py`` (default ``gradebook.db`` in the course root; a PostgreSQL
URL works the same): the student, the submission, an automatic score for every test cell and,
for a part graded from a predictions file, its rungs (task cells of the notebook, so nbgrader
counts their points).
Formgrader, ``generate_feedback``, ``release_feedback`` and ``nbgrader export`` then work on top.

Re-grading replaces the automatic scores and never touches a manual score or a comment: a
score an instructor gave in formgrader stays (nbgrader's ``Grade.score`` prefers it).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .course import COURSE_ID, nbgrader_config


def autograded_dir(root: Path, db_url: str, overridden: bool) -> Path | None:
    """Where formgrader looks for graded notebooks: the course's ``autograded/`` for the course's
    own gradebook; beside a gradebook file given instead (``--gradebook``); none otherwise."""
    if not overridden:
        return root / "autograded"
    if db_url.startswith("sqlite:///"):
        return Path(db_url[len("sqlite:///"):]).parent / "autograded"
    return None


def autograded_notebook(key, gnb, answer) -> dict:
    """The notebook formgrader shows for review and hand-grading: the course's cells with their
    nbgrader metadata (test cells with their hidden part: this is the instructor's view), the
    student's cells, and the outputs of the run, cleaned as for the feedback page (formgrader
    renders them in the instructor's browser)."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

    from .feedback import clean_outputs
    release = {k.grade_id: k for k in key.cells}
    meta = getattr(key, "release_metadata", {}) or {}
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                                "language_info": {"name": "python"}})
    cells = answer.get("cells", []) if isinstance(answer, dict) else []
    for i, cell in enumerate(gnb.cells):
        gid = cell["grade_id"]
        source = release[gid].source if cell["role"] == "test" else cell["source"]
        if cell["cell_type"] == "code":
            c = new_code_cell(source)
            executed = cells[i] if i < len(cells) and isinstance(cells[i], dict) else {}
            c.outputs = clean_outputs(executed.get("outputs"))
            count = executed.get("execution_count")
            c.execution_count = count if isinstance(count, int) else None
        elif cell["cell_type"] == "markdown":
            c = new_markdown_cell(source)
        else:
            c = new_raw_cell(source)
        if gid and gid in meta:
            c.metadata["nbgrader"] = dict(meta[gid])
        nb.cells.append(c)
    return nbformat.from_dict(nb)


def course_db_url(root: Path) -> str:
    """``CourseDirectory.db_url`` as the course's ``nbgrader_config.py`` sets it (else the default)."""
    url = os.environ.get("AUTOGRADER_GRADEBOOK")
    if url:
        return url
    path = root / "nbgrader_config.py"
    if path.exists():
        from traitlets.config.loader import PyFileConfigLoader
        config = PyFileConfigLoader(path.name, path=str(root)).load_config()
        value = config.get("CourseDirectory", {}).get("db_url")
        if isinstance(value, str) and value:
            return value
    return f"sqlite:///{root / 'gradebook.db'}"


def ensure_assignment(root: Path, assignment: str, db_url: str) -> None:
    """Put the assignment (notebooks, graded cells, points) into the gradebook if it is missing,
    with nbgrader's own ``generate_assignment`` (into a scratch release folder)."""
    from nbgrader.api import Gradebook, MissingEntry
    with Gradebook(db_url, COURSE_ID) as gb:
        try:
            gb.find_assignment(assignment)
            return
        except MissingEntry:
            pass
    import nbgrader.api
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from .build import alembic_head
    nbgrader.api.get_alembic_version = alembic_head
    with tempfile.TemporaryDirectory(prefix="ag-release-") as tmp:
        config = nbgrader_config(root, release=str(Path(tmp).resolve()))
        config.CourseDirectory.db_url = db_url
        result = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config).generate_assignment(
            assignment, force=True, create=True)
    if not result["success"]:
        raise RuntimeError(f"nbgrader generate_assignment {assignment} failed: {result.get('error', '')}")


def manual_scores(db_url: str, answers: dict[str, set[str]]) -> dict[tuple[str, str, str], float]:
    """Scores an instructor gave by hand (formgrader) to answer cells:
    ``{(student_id, assignment, grade_id): score}``; ``answers``: assignment -> answer grade_ids."""
    from nbgrader.api import Gradebook, MissingEntry
    wanted = {hw: ids for hw, ids in answers.items() if ids}
    if not wanted:
        return {}
    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).exists():
        return {}
    found = {}
    with Gradebook(db_url, COURSE_ID) as gb:
        for hw, ids in wanted.items():
            try:
                submissions = gb.find_assignment(hw).submissions
            except MissingEntry:
                continue
            for submission in submissions:
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        if grade.name in ids and grade.manual_score is not None:
                            found[(submission.student.id, hw, grade.name)] = float(grade.manual_score)
    return found


def write_results(root: Path, results, db_url: str | None = None) -> list[str]:
    """Write ``results`` (``grade.Result``) into the gradebook, one transaction per submission;
    returns warnings (a submission the database refused, cells the gradebook lacks)."""
    from nbgrader.api import Gradebook, MissingEntry
    db_url = db_url or course_db_url(root)
    for assignment in sorted({r.assignment for r in results}):
        ensure_assignment(root, assignment, db_url)
    warnings = []
    with Gradebook(db_url, COURSE_ID) as gb:
        for r in results:
            missing = []
            try:
                gb.update_or_create_student(r.student_id)
                when = {}
                if getattr(r, "timestamp", None):
                    try:
                        from nbgrader.utils import parse_utc
                        when = {"timestamp": parse_utc(r.timestamp)}
                    except Exception:
                        pass
                try:
                    submission = gb.find_submission(r.assignment, r.student_id)
                    if when:
                        submission.timestamp = when["timestamp"]
                except MissingEntry:
                    gb.add_submission(r.assignment, r.student_id, **when)
                for cells in r.scores.values():
                    for grade_id, (score, _max) in cells.items():
                        if score is None or grade_id in r.hand_graded:   # not graded, or graded by hand
                            continue
                        try:
                            grade = gb.find_grade(grade_id, r.assignment, r.assignment, r.student_id)
                        except MissingEntry:
                            missing.append(grade_id)
                            continue
                        grade.auto_score = float(score)
                        grade.needs_manual_grade = False
                gb.db.commit()
            except Exception as exc:    # one refused row is that submission's problem, not the class's
                gb.db.rollback()
                warnings.append(f"{r.student_id}/{r.assignment}: not written to the gradebook "
                                f"({type(exc).__name__}: {str(exc)[:200]})")
            if missing:
                warnings.append(f"{r.student_id}/{r.assignment}: the gradebook has no cells {', '.join(missing[:5])} "
                                "(it is older than the notebook: run `python -m autograder build`)")
    return warnings
