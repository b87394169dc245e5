"""Verdicts that student code cannot fake: the tests *record* what the student's code
produced, and the grader compares it outside the student's kernel.

Inside the kernel every ``check_*`` helper (``autograder.checks``), before judging, publishes
the student-derived value it is about to judge (the actual tensor, the shape, the boolean...)
as a display output with the MIME type :data:`MIME`, when ``$AUTOGRADER_EVIDENCE`` is ``1``
(set by the grader only). Jupyter delivers outputs to the grader's process as they are sent,
so nothing the student's code does later can take them back.

The grader runs the *solution* notebook once with recording on (same seeds, same inputs)
and keeps its records per test cell: the reference evidence. After ``nbgrader autograde`` has
scored a submission, :func:`verify` compares each test cell's records with the reference
records outside the kernel, with clean comparison code. A test cell keeps its points only if
it passed in the kernel **and** its records match: the same checks, in the same order, with
values equal to the reference within the check's own tolerance (doubled: both sides are
within it of the true value). So patching ``torch.allclose`` or the check helpers, emitting
fake records, or skipping checks earns nothing: passing requires the reference's outputs.
"""
from __future__ import annotations

import base64
import json
import os
from typing import Any

import numpy as np

MIME = "application/vnd.attention-course.evidence+json"
ENV = "AUTOGRADER_EVIDENCE"


# ----------------------------------------------------------------------------- kernel side
def enabled() -> bool:
    """Whether the grader asked this kernel to record evidence (only while grading)."""
    return os.environ.get(ENV) == "1"


def _encode(value: Any) -> dict:
    """A record's value: numbers as an array (bool kept apart from int), other plain data
    (ragged lists of tokens, strings) as JSON, anything else as a short repr."""
    import torch
    try:
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu()
            if value.is_complex():
                raise TypeError("complex")
            arr = value.numpy() if value.dtype == torch.bool else \
                value.to(torch.float64 if value.is_floating_point() else torch.int64).numpy()
        elif isinstance(value, (bool, int, float, np.ndarray, list, tuple, np.generic)):
            arr = np.asarray(value)
            if arr.dtype == object or arr.dtype.kind not in "biuf":
                raise TypeError(str(arr.dtype))
        else:
            raise TypeError(type(value).__name__)
        kind = arr.dtype.kind
        arr = arr.astype(np.float64 if kind == "f" else bool if kind == "b" else np.int64)
    except (TypeError, ValueError, RuntimeError):
        try:
            return {"json": json.dumps(value, sort_keys=True)}
        except (TypeError, ValueError):
            return {"repr": repr(value)[:200]}
    arr = np.ascontiguousarray(arr)
    return {"shape": list(arr.shape), "dtype": {"f": "f8", "b": "?"}.get(arr.dtype.kind, "i8"),
            "data": base64.b64encode(arr.tobytes()).decode()}


def record(kind: str, value: Any, **params: Any) -> None:
    """Publish one record (no-op unless the grader asked for evidence)."""
    if not enabled():
        return
    try:
        from IPython import get_ipython
        from IPython.display import publish_display_data
    except ImportError:
        return
    if get_ipython() is None:
        return
    params = {k: v for k, v in params.items() if isinstance(v, (int, float, str, bool)) or v is None}
    publish_display_data({MIME: {"kind": kind, "value": _encode(value), "params": params}})


# ----------------------------------------------------------------------------- grader side
def decode(value: dict) -> np.ndarray | None:
    if "data" not in value:
        return None
    arr = np.frombuffer(base64.b64decode(value["data"]), dtype=np.dtype(value["dtype"]))
    return arr.reshape(value["shape"]).copy()   # writable (torch warns on read-only arrays)


def cell_records(cell) -> list[dict]:
    """The evidence records a code cell's outputs hold, in order."""
    return [out["data"][MIME] for out in cell.get("outputs", [])
            if out.get("output_type") == "display_data" and MIME in out.get("data", {})]


def strip(cell) -> None:
    """Remove evidence outputs from a cell (before feedback is rendered)."""
    cell["outputs"] = [out for out in cell.get("outputs", [])
                       if not (out.get("output_type") == "display_data" and MIME in out.get("data", {}))]


def _plain(value: dict):
    """A decoded record value: an array, JSON data, or ('repr', text)."""
    if "data" in value:
        return decode(value)
    if "json" in value:
        return json.loads(value["json"])
    return ("repr", value.get("repr", "?"))


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        if value.size <= 36:
            return repr(value.tolist()).replace("True", "T").replace("False", "F") if value.dtype == bool \
                else repr(value.tolist())
        return f"an array of shape {tuple(value.shape)}"
    if isinstance(value, tuple) and value[:1] == ("repr",):
        return value[1]
    return repr(value)[:120]


def compare_records(student: dict, reference: dict) -> str:
    """'' when a student record matches the reference record, else the message the check
    would have raised in the kernel (same wording, from :mod:`autograder.checks`)."""
    from . import checks
    kind, params = reference["kind"], reference.get("params", {})
    name = params.get("name") or kind
    if student.get("kind") != kind:
        return f"{name}: the grader expected a {kind!r} check here, got a {student.get('kind')!r} check."
    a, b = _plain(student.get("value", {})), _plain(reference["value"])
    arrays = isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
    rtol, atol = 2 * params.get("rtol", 1e-5), 2 * params.get("atol", 1e-6) + 1e-7   # both sides are within tol of the truth
    if kind in ("close", "close_up_to_sign", "probabilities", "masked_zero") and isinstance(b, np.ndarray):
        if not isinstance(a, np.ndarray):
            return f"{name}: expected a tensor of shape {tuple(b.shape)}, got {_describe(a)}."
        if kind == "close_up_to_sign":
            verdict = checks.compare_close_up_to_sign(a, b, name, params.get("dim", 0), rtol, atol)
        else:
            verdict = checks.compare_close(a.astype(np.float64), b.astype(np.float64), name, rtol, atol,
                                           params.get("hint"))
        return verdict.message
    if kind == "equal" and arrays:
        return checks.compare_equal(a, b, name, params.get("hint")).message
    if arrays:
        same = a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b))
    else:
        same = type(a) is type(b) and a == b
    if same:
        return ""
    if kind == "shape":
        return f"{name}: expected shape {_describe(b)}, got {_describe(a)}."
    if kind == "equal":
        hint = params.get("hint")
        return f"{name}: expected {_describe(b)}, got {_describe(a)}." + (f"\n  Hint: {hint}" if hint else "")
    return (f"{name}: this {kind} check passed in your notebook, but the value it checked differs from the "
            f"reference solution's ({_describe(a)} instead of {_describe(b)}).")


def verify(student_records: list[dict], reference_records: list[dict]) -> str:
    """'' when a test cell's records match the reference, else the first failure's message."""
    for s, r in zip(student_records, reference_records):
        why = compare_records(s, r)
        if why:
            return why
    if len(student_records) != len(reference_records):
        return (f"the test's checks did not all report to the grader ({len(student_records)} of "
                f"{len(reference_records)} records): did the test cell stop early, or was it changed?")
    return ""


def reference_records(nb) -> dict[str, list[dict]]:
    """{grade_id: records} for every test cell of an executed notebook."""
    from .preprocessors import is_test_cell
    out = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and is_test_cell(cell):
            out[cell.metadata["nbgrader"]["grade_id"]] = cell_records(cell)
    return out


# ----------------------------------------------------------------------------- what the kernel sees
#: Checks whose second argument is a reference value: while grading, the kernel never gets it.
DEFERRED_CHECKS = ("check_close", "check_equal", "check_close_up_to_sign")
BEGIN_REFERENCE, END_REFERENCE = "### BEGIN REFERENCE", "### END REFERENCE"


def without_reference(source: str) -> str:
    """A test cell's source as the kernel runs it while grading: no reference computation.

    - lines from ``### BEGIN REFERENCE`` to ``### END REFERENCE`` (reference helpers and
      modules, expected values computed ahead of a check) become ``pass``;
    - the expected argument of every ``check_close``/``check_equal``/``check_close_up_to_sign``
      call becomes ``None``: the kernel records the student's value and the grader compares it
      with the solution's record, outside the kernel.

    So no value the solution would produce on the hidden inputs exists in the student's
    process, and no hook the student installs (a patched helper, an IPython input transformer
    that rewrites the test, a frame inspector) can hand one over as the student's own.
    """
    import ast

    lines, kept, depth = source.splitlines(keepends=True), [], 0
    for line in lines:
        stripped = line.strip()
        if stripped.startswith(BEGIN_REFERENCE):
            if depth == 0:
                kept.append(line[: len(line) - len(line.lstrip())] + "pass\n")
            depth += 1
        elif stripped.startswith(END_REFERENCE):
            depth = max(0, depth - 1)
        elif depth == 0:
            kept.append(line)
    source = "".join(kept)
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source          # the kernel reports it; nothing to defer
    offsets = [0]
    for line in source.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    spans = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name not in DEFERRED_CHECKS:
            continue
        arg = node.args[1] if len(node.args) >= 2 else next(
            (kw.value for kw in node.keywords if kw.arg == "expected"), None)
        if arg is None or (isinstance(arg, ast.Constant) and arg.value is None):
            continue
        start = offsets[arg.lineno - 1] + _char_offset(source, offsets, arg.lineno, arg.col_offset)
        end = offsets[arg.end_lineno - 1] + _char_offset(source, offsets, arg.end_lineno, arg.end_col_offset)
        spans.append((start, end))
    spans.sort()
    outer = [s for i, s in enumerate(spans) if not any(o[0] <= s[0] and s[1] <= o[1] and o != s for o in spans)]
    for start, end in sorted(outer, reverse=True):
        source = source[:start] + "None" + source[end:]
    return source


def _char_offset(source: str, offsets: list[int], lineno: int, col_utf8: int) -> int:
    """ast gives column offsets in UTF-8 bytes; convert to characters of that line."""
    line = source[offsets[lineno - 1]:offsets[lineno]]
    return len(line.encode("utf-8")[:col_utf8].decode("utf-8", errors="ignore"))
