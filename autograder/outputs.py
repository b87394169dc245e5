"""Outputs: everything ``grade`` writes under OUT, written only by the grader's own process.

No student code can reach OUT (kernels never see it); still, every file is written without
following links: folders are opened with ``O_NOFOLLOW`` one component at a time, and each file
is written to a temporary name and renamed over the target, which replaces a link instead of
writing through it.
"""
from __future__ import annotations

import csv
import errno
import io
import os
from pathlib import Path

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


class OutputError(Exception):
    """OUT cannot be written (the grader cannot do its job)."""


def _open_dir(name: str, dir_fd: int | None, create: bool) -> int:
    try:
        return os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=dir_fd)
    except FileNotFoundError:
        if not create:
            raise
        try:
            os.mkdir(name, 0o755, dir_fd=dir_fd)
        except FileExistsError:
            pass
        return os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise OutputError(f"'{name}' in the output folder is a link or not a folder; it is not written through") from None
        raise


def write_file(out: Path, parts: list[str], data: bytes) -> Path:
    """Write ``out/parts[0]/.../parts[-1]`` safely (see the module doc); returns the path."""
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_RDONLY | _DIRECTORY)
    try:
        for part in parts[:-1]:
            if part in ("", ".", "..") or "/" in part:
                raise OutputError(f"refusing the path component {part!r}")
            nxt = _open_dir(part, fd, create=True)
            os.close(fd)
            fd = nxt
        name = parts[-1]
        tmp = f".{name[:200]}.{os.getpid()}.tmp"
        tfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644, dir_fd=fd)
        try:
            view = memoryview(data)
            while view:
                n = os.write(tfd, view)
                view = view[n:]
        finally:
            os.close(tfd)
        try:
            os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
        except OSError as exc:
            os.unlink(tmp, dir_fd=fd)
            raise OutputError(f"could not write {out.joinpath(*parts)}: {exc.strerror}") from None
    finally:
        os.close(fd)
    return out.joinpath(*parts)


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def csv_bytes(header: list[str], rows: list[list]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode()


GRADES_HEADER = ["student_id", "assignment", "score", "max_score"]
SCORES_HEADER = ["student_id", "assignment", "notebook", "grade_id", "score", "max_score"]


def write_csvs(out: Path, results) -> None:
    """``grades.csv`` (one row per submission) and ``scores.csv`` (one row per graded cell)."""
    grades, scores = [], []
    for r in results:
        s, m = r.total()
        grades.append([r.student_id, r.assignment, _num(s), _num(m)])
        for nb, cells in r.scores.items():
            for gid, (cs, cm) in cells.items():
                scores.append([r.student_id, r.assignment, nb, gid, _num(cs), _num(cm)])
    write_file(out, ["grades.csv"], csv_bytes(GRADES_HEADER, grades))
    write_file(out, ["scores.csv"], csv_bytes(SCORES_HEADER, scores))
