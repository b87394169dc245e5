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
def _encode(value: Any) -> dict:
    import torch
    try:
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu()
            if value.is_complex():
                raise TypeError("complex")
            arr = value.to(torch.float64 if value.is_floating_point() else torch.int64).numpy()
        elif isinstance(value, (bool, int, float, np.ndarray, list, tuple, np.generic)):
            arr = np.asarray(value)
            if arr.dtype == object or arr.dtype.kind not in "biuf":
                raise TypeError(str(arr.dtype))
            arr = arr.astype(np.float64 if arr.dtype.kind == "f" else np.int64)
        else:
            raise TypeError(type(value).__name__)
    except (TypeError, ValueError, RuntimeError):
        return {"repr": repr(value)[:200]}
    arr = np.ascontiguousarray(arr)
    return {"shape": list(arr.shape), "dtype": "f8" if arr.dtype.kind == "f" else "i8",
            "data": base64.b64encode(arr.tobytes()).decode()}


def record(kind: str, value: Any, **params: Any) -> None:
    """Publish one record (no-op unless the grader asked for evidence)."""
    if os.environ.get(ENV) != "1":
        return
    try:
        from IPython import get_ipython
        from IPython.display import publish_display_data
    except ImportError:
        return
    if get_ipython() is None:
        return
    publish_display_data({MIME: {"kind": kind, "value": _encode(value), "params": params}})


# ----------------------------------------------------------------------------- grader side
def decode(value: dict) -> np.ndarray | None:
    if "data" not in value:
        return None
    arr = np.frombuffer(base64.b64decode(value["data"]), dtype=np.dtype(value["dtype"]))
    return arr.reshape(value["shape"])


def cell_records(cell) -> list[dict]:
    """The evidence records a code cell's outputs hold, in order."""
    return [out["data"][MIME] for out in cell.get("outputs", [])
            if out.get("output_type") == "display_data" and MIME in out.get("data", {})]


def strip(cell) -> None:
    """Remove evidence outputs from a cell (before feedback is rendered)."""
    cell["outputs"] = [out for out in cell.get("outputs", [])
                       if not (out.get("output_type") == "display_data" and MIME in out.get("data", {}))]


def _close(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> bool:
    return a.shape == b.shape and bool(np.all(np.isfinite(a) == np.isfinite(b))) and \
        bool(np.allclose(a, b, rtol=2 * rtol, atol=2 * atol + 1e-7, equal_nan=True))


def _same(student: dict, reference: dict) -> str:
    """'' when a student record matches the reference record, else why not."""
    kind = reference["kind"]
    if student.get("kind") != kind:
        return f"a {student.get('kind')!r} check where the reference has a {kind!r} check"
    a, b = decode(student.get("value", {})), decode(reference["value"])
    if b is None:                       # the reference value was not numeric: nothing to compare
        return ""
    if a is None:
        return f"a {kind} check on a non-numeric value ({student.get('value', {}).get('repr', '?')})"
    params = reference.get("params", {})
    if kind in ("close", "probabilities", "masked_zero"):
        ok = _close(a.astype(np.float64), b.astype(np.float64), params.get("rtol", 1e-5), params.get("atol", 1e-5))
    elif kind == "close_up_to_sign":
        dim = params.get("dim", 0)
        a2, b2 = a.astype(np.float64), b.astype(np.float64)
        if a2.shape != b2.shape:
            ok = False
        else:
            s = np.sign(np.sum(a2 * b2, axis=dim, keepdims=True))
            s[s == 0] = 1
            ok = _close(a2 * s, b2, params.get("rtol", 1e-4), params.get("atol", 1e-5))
    else:                               # equal, shape, true, raises: exact
        ok = a.shape == b.shape and bool(np.array_equal(a, b))
    return "" if ok else f"its {kind} check gave a value that differs from the reference's"


def verify(student_records: list[dict], reference_records: list[dict]) -> str:
    """'' when a passing test cell's records match the reference, else a reason for feedback."""
    if len(student_records) != len(reference_records):
        return (f"the test's checks did not all report to the grader ({len(student_records)} of "
                f"{len(reference_records)} records)")
    for i, (s, r) in enumerate(zip(student_records, reference_records), start=1):
        why = _same(s, r)
        if why:
            return f"check {i} of {len(reference_records)}: {why}"
    return ""


def reference_records(nb) -> dict[str, list[dict]]:
    """{grade_id: records} for every test cell of an executed notebook."""
    from .preprocessors import is_test_cell
    out = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and is_test_cell(cell):
            out[cell.metadata["nbgrader"]["grade_id"]] = cell_records(cell)
    return out


def dumps(records: dict) -> str:
    return json.dumps(records)
