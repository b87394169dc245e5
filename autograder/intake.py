"""Intake: a submission folder -> trusted, bounded data (runs in the grader, no student code).

Everything in ``SUBMITTED`` is untrusted data. This module

- walks it with directory file descriptors and ``O_NOFOLLOW``: a link is never followed (a
  notebook linked to ``solutions/``, a predictions file linked to the hidden labels or to
  ``/dev/zero`` is reported, not read); only regular files are read, each within a size limit
  checked before reading;
- gives every ``SUBMITTED/<student_id>/<assignment>/`` a :class:`Submission`, whatever the
  student id (a leading dot, brackets, 255 characters...), and says what it skipped and why;
- builds the notebook that will run (:func:`graded_notebook`) from the course's own notebooks:
  the submitted notebook contributes the *source* of its solution cells and of the student's
  own cells, nothing else. Its metadata (nbgrader's, the grader's, tags, kernelspec), its
  outputs and its copies of locked and test cells are ignored; test cells come from the
  solution, in the release's order, each exactly once.
"""
from __future__ import annotations

import errno
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

MAX_NOTEBOOK_BYTES = 32 << 20        # a notebook with many plots is a few MB
MAX_OTHER_FILE_BYTES = 8 << 20       # other files copied beside the notebook for the kernel
MAX_FOLDER_BYTES = 64 << 20          # all files of one submission together
MAX_ENTRIES = 2_000                  # entries looked at in one folder
MAX_CELLS = 2_000
MAX_SOURCE_CHARS = 1_000_000         # one cell's source


class IntakeError(Exception):
    """This file or folder cannot be taken in (the message says why, for the student)."""


@dataclass
class Submission:
    student_id: str
    assignment: str
    files: dict[str, bytes] = field(default_factory=dict)   # regular files of the folder, by name
    notes: list[str] = field(default_factory=list)          # shown to the student
    problem: str = ""                                       # the folder itself could not be read


# ----------------------------------------------------------------------------- safe reading
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def open_dir(name: str | Path, dir_fd: int | None = None) -> int:
    """Open a folder without following a link (``IntakeError`` if it is one)."""
    try:
        return os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise IntakeError(f"'{name}' is a link or not a folder; links are not followed") from None
        raise IntakeError(f"'{name}' could not be opened: {exc.strerror}") from None


def read_file(name: str, dir_fd: int, limit: int) -> bytes:
    """A regular file's bytes, at most ``limit`` (checked before reading), never through a link."""
    try:
        fd = os.open(name, os.O_RDONLY | _NOFOLLOW | _NONBLOCK, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise IntakeError(f"{name} is a symbolic link; links are not followed") from None
        raise IntakeError(f"{name} could not be opened: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise IntakeError(f"{name} is not a regular file")
        if info.st_size > limit:
            raise IntakeError(f"{name} is {info.st_size / 2**20:.1f} MB; the limit is {limit / 2**20:g} MB")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise IntakeError(f"{name} grew past the limit of {limit / 2**20:g} MB while it was read")
        return b"".join(chunks)
    finally:
        os.close(fd)


def list_dir(fd: int) -> list[os.DirEntry]:
    """The entries of an open folder (at most :data:`MAX_ENTRIES`), sorted by name."""
    entries = []
    with os.scandir(fd) as it:
        for entry in it:
            entries.append(entry)
            if len(entries) >= MAX_ENTRIES:
                break
    return sorted(entries, key=lambda e: e.name)


# ----------------------------------------------------------------------------- the class
@dataclass
class Found:
    student_id: str
    assignment: str
    path: Path


def discover(submitted: Path, assignments: list[str], known: list[str] | None = None) -> tuple[list[Found], list[str]]:
    """``(submissions, warnings)``: every ``<student_id>/<assignment>/`` folder of the selected
    ``assignments``, and one warning per entry that is skipped (a file, a link, a folder that is
    no assignment of the course: ``known``)."""
    known = known or assignments
    found, warnings = [], []
    root = open_dir(submitted)
    try:
        for student in list_dir(root):
            if student.is_symlink() or not student.is_dir(follow_symlinks=False):
                warnings.append(f"skipped {submitted / student.name}: "
                                f"{'a link' if student.is_symlink() else 'not a folder'} (expected SUBMITTED/<student_id>/<assignment>/)")
                continue
            try:
                sfd = open_dir(student.name, dir_fd=root)
            except IntakeError as exc:
                warnings.append(f"skipped {submitted / student.name}: {exc}")
                continue
            try:
                entries = list_dir(sfd)
            finally:
                os.close(sfd)
            for hw in entries:
                if hw.name in assignments:
                    found.append(Found(student.name, hw.name, submitted / student.name / hw.name))
                elif hw.name not in (*known, ".ipynb_checkpoints", ".DS_Store"):
                    warnings.append(f"skipped {submitted / student.name / hw.name}: '{hw.name}' is not an "
                                    f"assignment of this course ({', '.join(assignments)})")
            if not entries:
                warnings.append(f"skipped {submitted / student.name}: an empty folder")
    finally:
        os.close(root)
    return found, warnings


def take_in(found: Found, wanted: list[str] = (), max_notebook: int = MAX_NOTEBOOK_BYTES) -> Submission:
    """Read a submission folder's regular files (bounded); links and oversized files are noted.

    The files named in ``wanted`` (the notebook, a predictions file) are opened by name first,
    so a folder with thousands of other files still hands them in; the others are taken in
    listing order until :data:`MAX_ENTRIES` entries or :data:`MAX_FOLDER_BYTES` bytes."""
    sub = Submission(found.student_id, found.assignment)
    try:
        parent = open_dir(found.path.parent)
        try:
            fd = open_dir(found.assignment, dir_fd=parent)
        finally:
            os.close(parent)
    except IntakeError as exc:
        sub.problem = f"The folder {found.student_id}/{found.assignment} could not be read: {exc}"
        return sub
    total = 0

    def take(name: str, quiet_missing: bool) -> None:
        nonlocal total
        limit = max_notebook if name.endswith(".ipynb") else MAX_OTHER_FILE_BYTES
        try:
            data = read_file(name, fd, min(limit, max(0, MAX_FOLDER_BYTES - total)))
        except IntakeError as exc:
            if not (quiet_missing and "No such file" in str(exc)):
                sub.notes.append(f"Not used: {exc}.")
            return
        total += len(data)
        sub.files[name] = data

    try:
        for name in wanted:
            take(name, quiet_missing=True)
        entries = list_dir(fd)
        if len(entries) >= MAX_ENTRIES:
            sub.notes.append(f"Your folder has more files than the grader looks at: only the first {MAX_ENTRIES} "
                             "entries were looked at.")
        skipped = 0
        for entry in entries:
            if entry.name in sub.files or entry.name in wanted:
                continue
            if entry.is_dir(follow_symlinks=False) and not entry.is_symlink():
                if entry.name not in (".ipynb_checkpoints", "__pycache__"):
                    sub.notes.append(f"The folder '{entry.name}' in your submission was not used.")
                continue
            if len(sub.notes) < 20:
                take(entry.name, quiet_missing=False)
            else:
                skipped += 1
        if skipped:
            sub.notes.append(f"{skipped} more files were not looked at.")
    except OSError as exc:
        sub.problem = f"The folder {found.student_id}/{found.assignment} could not be read: {exc.strerror}"
    finally:
        os.close(fd)
    return sub


# ----------------------------------------------------------------------------- the notebook
def parse_notebook(data: bytes, name: str) -> list[dict]:
    """The cells of a submitted notebook as ``[{"cell_type", "source", "grade_id"}]``.

    Only what the grader uses is kept, each field type-checked: cell type, source (a string or
    a list of strings) and the grade_id (a string, else none). ``IntakeError`` says why a file
    is not a notebook."""
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise IntakeError(f"{name} could not be read as a Jupyter notebook: {type(exc).__name__}: {str(exc)[:300]}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("cells"), list):
        raise IntakeError(f"{name} could not be read as a Jupyter notebook: expected a JSON object with a list of cells")
    if len(doc["cells"]) > MAX_CELLS:
        raise IntakeError(f"{name} has {len(doc['cells'])} cells; the limit is {MAX_CELLS}")
    cells = []
    for raw in doc["cells"]:
        if not isinstance(raw, dict):
            continue
        source = raw.get("source", "")
        if isinstance(source, list):
            source = "".join(s for s in source if isinstance(s, str))
        if not isinstance(source, str):
            source = ""
        if len(source) > MAX_SOURCE_CHARS:
            raise IntakeError(f"{name} has a cell of {len(source):,} characters; the limit is {MAX_SOURCE_CHARS:,}")
        meta = raw.get("metadata")
        nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
        gid = nbg.get("grade_id") if isinstance(nbg, dict) else None
        cell_type = raw.get("cell_type") if raw.get("cell_type") in ("code", "markdown", "raw") else "raw"
        cells.append({"cell_type": cell_type, "source": source, "grade_id": gid if isinstance(gid, str) else None})
    return cells


@dataclass
class KeyCell:
    """One cell of the course's notebook, as the grader knows it (from release + solution)."""
    grade_id: str
    cell_type: str
    role: str                 # "solution" (the student writes it), "answer" (a written answer, graded
                              # by hand), "test", or "locked"
    source: str               # test: the solution's source (hidden tests included); locked: the release's
    visible_source: str       # what the release shows (feedback shows this, never the hidden part)
    points: float = 0.0


@dataclass
class GradedNotebook:
    """The notebook that runs: trusted cells, the student's sources where they belong."""
    cells: list[dict]                       # {"cell_type", "source", "grade_id" (or None), "role"}
    tests: dict[int, str]                   # cell index -> test grade_id
    notes: list[str] = field(default_factory=list)


def graded_notebook(key_cells: list[KeyCell], submitted: list[dict], stub: str) -> GradedNotebook:
    """Put the student's sources into the course's notebook.

    Every cell of the release appears once, in the release's order: a solution cell with the
    source of the first submitted cell carrying its grade_id (``stub`` if there is none), a
    locked or test cell with the course's own source. A submitted cell without a known
    grade_id is the student's own: it stays after the course cell it followed. Repeated,
    missing or moved graded cells therefore change nothing."""
    known = {k.grade_id: k for k in key_cells}
    own_after: dict[str | None, list[dict]] = {}
    answer: dict[str, str] = {}
    notes, anchor, seen = [], None, set()
    for cell in submitted:
        gid = cell["grade_id"]
        if gid in known:
            if gid in seen:
                notes.append(f"Your notebook had a second cell with grade_id '{gid}'; it was ignored.")
                continue
            seen.add(gid)
            anchor = gid
            if known[gid].role in ("solution", "answer"):
                answer[gid] = cell["source"]
            continue
        own_after.setdefault(anchor, []).append({"cell_type": cell["cell_type"], "source": cell["source"],
                                                  "grade_id": None, "role": "own"})
    missing_tests = [k.grade_id for k in key_cells if k.role == "test" and k.grade_id not in seen]
    if missing_tests:
        notes.append(f"{len(missing_tests)} test cell(s) were missing from your notebook "
                     f"({', '.join(missing_tests[:4])}{' ...' if len(missing_tests) > 4 else ''}); they were put back.")
    cells, tests = list(own_after.get(None, [])), {}
    for k in key_cells:
        if k.role in ("solution", "answer"):
            source = answer.get(k.grade_id, k.visible_source or (stub if k.cell_type == "code" else ""))
        else:
            source = k.source
        if k.role == "test":
            tests[len(cells)] = k.grade_id
        cells.append({"cell_type": k.cell_type, "source": source, "grade_id": k.grade_id, "role": k.role})
        cells.extend(own_after.get(k.grade_id, []))
    return GradedNotebook(cells, tests, notes)
