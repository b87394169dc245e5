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
import threading
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


def record(kind: str, value: Any, site: int | None, mask: Any = None, **params: Any) -> None:
    """Publish one record (no-op unless the grader asked for evidence and the check was called
    by the test cell itself: ``site`` is the call's number there, see :func:`grading_source`)."""
    if site is None or not enabled():
        return
    try:
        from IPython import get_ipython
        from IPython.display import publish_display_data
    except ImportError:
        return
    if get_ipython() is None:
        return
    params = {k: v for k, v in params.items() if isinstance(v, (int, float, str, bool)) or v is None}
    rec = {"kind": kind, "site": int(site), "value": _encode(value), "params": params}
    if mask is not None:
        rec["mask"] = _encode(mask)
    publish_display_data({MIME: rec})


# ----------------------------------------------------------------------------- grader side
_ITEMSIZE = {"f8": 8, "?": 1, "i8": 8}
MAX_RECORD_ELEMENTS = 4_000_000
MAX_JSON_CHARS = 1_000_000


def _valid_value(value) -> bool:
    if not isinstance(value, dict):
        return False
    if "data" in value:
        shape, dtype, data = value.get("shape"), value.get("dtype"), value.get("data")
        if dtype not in _ITEMSIZE or not isinstance(data, str) or not isinstance(shape, list) or len(shape) > 8 \
                or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_RECORD_ELEMENTS for n in shape):
            return False
        count = int(np.prod(shape)) if shape else 1
        return count <= MAX_RECORD_ELEMENTS and len(data) == 4 * ((count * _ITEMSIZE[dtype] + 2) // 3)
    if "json" in value:
        return isinstance(value["json"], str) and len(value["json"]) <= MAX_JSON_CHARS
    if "repr" in value:
        return isinstance(value["repr"], str) and len(value["repr"]) <= 1000
    return False


def malformed(rec) -> str:
    """'' for a well-formed record, else what is wrong with it (records are untrusted data)."""
    if not isinstance(rec, dict):
        return f"a record of type {type(rec).__name__}"
    if not isinstance(rec.get("kind"), str) or len(rec["kind"]) > 40:
        return "a record without a valid kind"
    if rec["kind"] == "overflow":
        return "more check records than the grader accepts from one notebook"
    site = rec.get("site")
    if not isinstance(site, int) or isinstance(site, bool) or not 0 <= site < 100_000:
        return "a record without a valid call site"
    params = rec.get("params", {})
    if not isinstance(params, dict) or len(params) > 20 or not all(
            isinstance(k, str) and len(k) <= 40 and (v is None or isinstance(v, (bool, int, float))
                                                     or (isinstance(v, str) and len(v) <= 2000))
            for k, v in params.items()):
        return "a record with invalid parameters"
    if not _valid_value(rec.get("value")) or ("mask" in rec and not _valid_value(rec["mask"])):
        return "a record with an invalid value"
    return ""


def decode(value: dict) -> np.ndarray | None:
    if "data" not in value:
        return None
    arr = np.frombuffer(base64.b64decode(value["data"]), dtype=np.dtype(value["dtype"]))
    return arr.reshape(value["shape"]).copy()   # writable (torch warns on read-only arrays)


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
    """'' when a student record passes, else the message the check would have raised in the
    kernel (same wording, from :mod:`autograder.checks`).

    Each kind is judged as its check judges it, so the grader and the self-check agree on
    honest code: ``close``/``equal``/``close_up_to_sign`` compare with the solution's value (the
    expected value the kernel never had), ``probabilities`` and ``masked_zero`` apply the
    check's own predicate to the student's value (with the solution's parameters and mask), and
    ``shape``/``dtype``/``true``/``raises`` must equal the solution's record."""
    from . import checks
    kind, params = reference["kind"], reference.get("params", {})
    name = params.get("name") or kind
    why = malformed(student)
    if why:
        return f"{name}: the grader received {why}."
    if student.get("kind") != kind or student.get("site") != reference.get("site"):
        return f"{name}: the grader expected a {kind!r} check here, got a {student.get('kind')!r} check."
    a, b = _plain(student.get("value", {})), _plain(reference["value"])
    arrays = isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
    if kind == "probabilities":
        if not isinstance(a, np.ndarray):
            return f"{name}: expected a tensor of probabilities, got {_describe(a)}."
        return checks.compare_probabilities(a, params.get("dim", -1), name, params.get("atol", 1e-5)).message
    if kind == "masked_zero":
        mask = _plain(reference["mask"]) if "mask" in reference else None
        if not isinstance(a, np.ndarray) or not isinstance(mask, np.ndarray):
            return f"{name}: expected a tensor of weights, got {_describe(a)}."
        return checks.compare_masked_zero(a, mask, name).message
    rtol, atol = 2 * params.get("rtol", 1e-5), 2 * params.get("atol", 1e-6) + 1e-7   # both sides are within tol of the truth
    if kind in ("close", "close_up_to_sign") and isinstance(b, np.ndarray):
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
    if kind == "dtype":
        return f"{name}: expected {b}, got {a}."
    if kind == "equal":
        hint = params.get("hint")
        return f"{name}: expected {_describe(b)}, got {_describe(a)}." + (f"\n  Hint: {hint}" if hint else "")
    return (f"{name}: this {kind} check passed in your notebook, but the value it checked differs from the "
            f"reference solution's ({_describe(a)} instead of {_describe(b)}).")


def verify(student_records: list[dict], reference_records: list[dict]) -> str:
    """'' when a test cell's records match the reference, else the first failure's message."""
    for s, r in zip(student_records, reference_records):
        try:
            why = compare_records(s, r)
        except Exception as exc:   # a record no check can produce: never the end of the run
            why = f"{r.get('params', {}).get('name') or r.get('kind')}: the grader could not compare a record " \
                  f"({type(exc).__name__})."
        if why:
            return why
    if len(student_records) != len(reference_records):
        return (f"the test's checks did not all report to the grader ({len(student_records)} of "
                f"{len(reference_records)} records): did the test cell stop early, or was it changed?")
    return ""


# ----------------------------------------------------------------------------- what the kernel sees
#: Checks whose second argument is a reference value: while grading, the kernel never gets it.
DEFERRED_CHECKS = ("check_close", "check_equal", "check_close_up_to_sign")
#: Checks that publish a record (each call in a test cell gets its number, ``_site``).
RECORDING_CHECKS = DEFERRED_CHECKS + ("check_shape", "check_dtype", "check_probabilities", "check_masked_zero",
                                      "check_true", "check_raises")
BEGIN_REFERENCE, END_REFERENCE = "### BEGIN REFERENCE", "### END REFERENCE"

#: The first line of every test cell while grading (and in the self-check): the check helpers
#: imported again, so a notebook that rebinds ``check_equal = lambda *a: None`` cannot switch a
#: test off, and torch's global defaults (default dtype, grad mode) as the tests assume them
#: for the length of the cell.
PRELUDE = ("from autograder.checks import *; from autograder.checks import begin_test_cell as _begin_test_cell; "
           "_begin_test_cell()  # grader\n")


def _drop_reference_blocks(source: str) -> str:
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
    return "".join(kept)


def grading_source(source: str, withhold: bool = True) -> str:
    """A test cell's source as the kernel runs it while grading (``withhold``) or in the
    self-check (not ``withhold``): :data:`PRELUDE`, then the test with

    - every call of a recording check numbered (``_site=N``, in source order): a record counts
      only with the number of a call in the test cell itself, so student code that calls a
      check helper, or a record it publishes, never shifts the test's records;
    - with ``withhold``, no reference computation: ``### BEGIN REFERENCE`` ... ``### END
      REFERENCE`` blocks become ``pass`` and the expected argument of every
      ``check_close``/``check_equal``/``check_close_up_to_sign`` becomes ``None``: the kernel
      records the student's value and the grader compares it with the solution's record,
      outside the kernel. No value the solution would produce on the hidden inputs then exists
      in the student's process, so no hook the student installs (a patched helper, an IPython
      input transformer, a frame inspector) can hand one over as the student's own.

    Source that does not parse is returned as it is (the kernel reports the error)."""
    # CPython 3.11's AST constructor keeps one recursion counter per interpreter: two threads
    # parsing at once (the grader's slots, the self-check in a thread pool) can fail with
    # "SystemError: AST constructor recursion depth mismatch" (cpython gh-106905).
    with _AST_LOCK:
        return _grading_source(source, withhold)


_AST_LOCK = threading.Lock()


def _grading_source(source: str, withhold: bool) -> str:
    import ast

    if withhold:
        source = _drop_reference_blocks(source)
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return PRELUDE + source

    class Rewrite(ast.NodeTransformer):
        site = 0

        def visit_Call(self, node):
            self.generic_visit(node)
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name not in RECORDING_CHECKS:
                return node
            if withhold and name in DEFERRED_CHECKS:
                if len(node.args) >= 2:
                    node.args[1] = ast.Constant(None)
                for kw in node.keywords:
                    if kw.arg == "expected":
                        kw.value = ast.Constant(None)
            node.keywords = [kw for kw in node.keywords if kw.arg != "_site"]
            node.keywords.append(ast.keyword(arg="_site", value=ast.Constant(self.site)))
            self.site += 1
            return node

    tree = ast.fix_missing_locations(Rewrite().visit(tree))
    return PRELUDE + ast.unparse(tree) + "\n"


def without_reference(source: str) -> str:
    """What a test cell computes while grading, minus the prelude (for tests and checks)."""
    return grading_source(source)[len(PRELUDE):]
