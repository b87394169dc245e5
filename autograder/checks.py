"""Check helpers used by the assignments' test cells.

Every check raises :class:`CheckFailure` (an ``AssertionError``) whose message says what was
checked, what was expected, what was received and, where we can guess the mistake, a hint:

    one_hot(...) output: expected shape (2, 5, 7), got (2, 7, 5).
      Hint: two dimensions look swapped; check the order of your transpose/permute.

Design: every comparison is a *pure function* ``compare_*(...) -> Verdict`` that only reads its
arguments; the ``check_*`` wrappers turn a failed verdict into an exception. The grader can
therefore run the same comparisons outside the student's kernel (on recorded outputs) without
changing a single test cell. Nothing here prints, warns or touches stderr: nbgrader scores a
test cell that writes to stderr as failed.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .evidence import enabled as _evidence_on
from .evidence import record as _record

# Keep private references: a later monkeypatch of torch.* by the student does not change how
# we compare (the hardening issue moves comparisons out of the kernel altogether).
_as_tensor = torch.as_tensor
_isfinite = torch.isfinite


class CheckFailure(AssertionError):
    """A test expectation that the student's code did not meet."""


@dataclass(frozen=True)
class Verdict:
    ok: bool
    message: str = ""

    def raise_if_failed(self) -> None:
        if not self.ok:
            raise CheckFailure(self.message)


# ----------------------------------------------------------------------------- conversion
def to_tensor(value: Any, name: str = "value") -> torch.Tensor:
    """Tensor view of a tensor, numpy array, number or nested list (no copy when possible)."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, np.ndarray) or isinstance(value, (int, float, bool, list, tuple)):
        try:
            return _as_tensor(np.asarray(value))
        except (TypeError, ValueError) as exc:
            raise CheckFailure(f"{name}: expected a tensor-like value, got {_describe(value)} ({exc})")
    raise CheckFailure(f"{name}: expected a torch.Tensor, got {_describe(value)}. "
                       "Did your function return (or forget to return) something else?")


def _describe(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, np.ndarray):
        return f"numpy array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return f"{type(value).__name__} {text[:60] + '...' if len(text) > 60 else text}"


def _fmt_shape(shape: Sequence[int]) -> str:
    return str(tuple(int(s) for s in shape))


# ----------------------------------------------------------------------------- pure comparisons
def compare_shape(actual: Any, expected_shape: Sequence[int], name: str = "output") -> Verdict:
    if not isinstance(actual, (torch.Tensor, np.ndarray)):
        return Verdict(False, f"{name}: expected a tensor of shape {_fmt_shape(expected_shape)}, "
                              f"got {_describe(actual)}.")
    got = tuple(actual.shape)
    want = tuple(int(s) for s in expected_shape)
    if got == want:
        return Verdict(True)
    msg = f"{name}: expected shape {_fmt_shape(want)}, got {_fmt_shape(got)}."
    if len(got) == len(want) and sorted(got) == sorted(want):
        msg += "\n  Hint: the right sizes in the wrong order; check a transpose/permute or the axis you reduce over."
    elif len(got) == len(want) - 1:
        msg += "\n  Hint: one dimension is missing; did you reduce (sum/mean/squeeze) over an axis you should keep?"
    elif len(got) == len(want) + 1:
        msg += "\n  Hint: one dimension too many; a missing squeeze or an unwanted unsqueeze/keepdim?"
    return Verdict(False, msg)


_DTYPE_KINDS = {
    "float": lambda d: d.is_floating_point,
    "bool": lambda d: d == torch.bool,
    "integer": lambda d: (not d.is_floating_point) and (not d.is_complex) and d != torch.bool,
}


def compare_dtype(actual: Any, expected: "torch.dtype | str", name: str = "output") -> Verdict:
    if not isinstance(actual, torch.Tensor):
        return Verdict(False, f"{name}: expected a torch.Tensor, got {_describe(actual)}.")
    if isinstance(expected, str):
        ok = _DTYPE_KINDS[expected](actual.dtype)
        want = f"a {expected} dtype"
    else:
        ok = actual.dtype == expected
        want = str(expected)
    if ok:
        return Verdict(True)
    return Verdict(False, f"{name}: expected {want}, got {actual.dtype}.")


def compare_close(actual: Any, expected: Any, name: str = "output", rtol: float = 1e-5,
                  atol: float = 1e-6, hint: str | None = None) -> Verdict:
    """Element-wise ``|a - e| <= atol + rtol * |e|``; shapes must match exactly (no broadcasting)."""
    expected_t = to_tensor(expected, "expected value")
    if not isinstance(actual, (torch.Tensor, np.ndarray)):
        return Verdict(False, f"{name}: expected a tensor of shape {_fmt_shape(expected_t.shape)}, "
                              f"got {_describe(actual)}.")
    shape = compare_shape(actual, expected_t.shape, name)
    if not shape.ok:
        return shape
    a = to_tensor(actual, name).to(torch.float64)
    e = expected_t.to(torch.float64)
    a_fin, e_fin = _isfinite(a), _isfinite(e)
    if not bool(torch.equal(a_fin, e_fin)):
        idx = tuple(int(i) for i in torch.nonzero(a_fin != e_fin)[0])
        msg = (f"{name}: non-finite values differ at index {idx}: expected {e[idx].item():.6g}, "
               f"got {a[idx].item():.6g}.")
        return Verdict(False, msg + (f"\n  Hint: {hint}" if hint else ""))
    # Where both are non-finite they must agree (inf == inf, nan == nan).
    nonfinite = ~a_fin
    agree = (a == e) | (torch.isnan(a) & torch.isnan(e))
    if bool((nonfinite & ~agree).any()):
        idx = tuple(int(i) for i in torch.nonzero(nonfinite & ~agree)[0])
        return Verdict(False, f"{name}: at index {idx} expected {e[idx].item()}, got {a[idx].item()}.")
    a0 = torch.where(a_fin, a, torch.zeros_like(a))
    e0 = torch.where(e_fin, e, torch.zeros_like(e))
    err = (a0 - e0).abs()
    bad = err > atol + rtol * e0.abs()
    if not bool(bad.any()):
        return Verdict(True)
    n_bad = int(bad.sum())
    first = tuple(int(i) for i in torch.nonzero(bad)[0])
    msg = (f"{name}: {n_bad} of {bad.numel()} values differ from the reference "
           f"(rtol={rtol:g}, atol={atol:g}); max abs difference {err.max().item():.4g}.\n"
           f"  First at index {first}: expected {e0[first].item():.6g}, got {a0[first].item():.6g}.")
    if e.numel() <= 16:
        msg += f"\n  expected: {_short(e)}\n  got:      {_short(a)}"
    if hint:
        msg += f"\n  Hint: {hint}"
    return Verdict(False, msg)


def _short(t: torch.Tensor) -> str:
    return np.array2string(t.numpy(), precision=4, separator=", ").replace("\n", " ")


def compare_equal(actual: Any, expected: Any, name: str = "output", hint: str | None = None) -> Verdict:
    """Exact equality for ints, bools, lists, tuples and integer/bool tensors."""
    if isinstance(expected, (torch.Tensor, np.ndarray)):
        e = to_tensor(expected)
        if not isinstance(actual, (torch.Tensor, np.ndarray)):
            return Verdict(False, f"{name}: expected a tensor of shape {_fmt_shape(e.shape)}, got {_describe(actual)}.")
        shape = compare_shape(actual, e.shape, name)
        if not shape.ok:
            return shape
        a = to_tensor(actual)
        if a.dtype != e.dtype and (a.dtype == torch.bool) != (e.dtype == torch.bool):
            return Verdict(False, f"{name}: expected dtype {e.dtype}, got {a.dtype}.")
        diff = a.to(torch.float64) != e.to(torch.float64)
        if not bool(diff.any()):
            return Verdict(True)
        first = tuple(int(i) for i in torch.nonzero(diff)[0])
        msg = (f"{name}: {int(diff.sum())} of {diff.numel()} entries differ; first at index {first}: "
               f"expected {e[first].item()}, got {a[first].item()}.")
        if e.numel() <= 36:
            msg += f"\n  expected: {_short(e.to(torch.float64) if e.dtype != torch.bool else e)}\n  got:      {_short(a.to(torch.float64) if a.dtype != torch.bool else a)}"
    else:
        if actual == expected and type(actual) is type(expected):
            return Verdict(True)
        if isinstance(actual, (list, tuple)) and isinstance(expected, (list, tuple)) \
                and type(actual) is type(expected) and list(actual) == list(expected):
            return Verdict(True)
        msg = f"{name}: expected {expected!r}, got {_describe(actual) if not isinstance(actual, (int, float, list, tuple, str)) else repr(actual)}."
    if hint:
        msg += f"\n  Hint: {hint}"
    return Verdict(False, msg)


def compare_probabilities(weights: Any, dim: int = -1, name: str = "weights", atol: float = 1e-5) -> Verdict:
    """Non-negative entries that sum to 1 along ``dim``."""
    if not isinstance(weights, (torch.Tensor, np.ndarray)):
        return Verdict(False, f"{name}: expected a tensor of probabilities, got {_describe(weights)}.")
    w = to_tensor(weights).to(torch.float64)
    if not bool(torch.isfinite(w).all()):
        return Verdict(False, f"{name}: contains NaN or inf.\n  Hint: a row where every position is masked, "
                              "or a softmax over -inf only?")
    if bool((w < -atol).any()):
        return Verdict(False, f"{name}: has negative entries (min {w.min().item():.4g}); probabilities are >= 0.\n"
                              "  Hint: apply softmax, not just a scaling.")
    sums = w.sum(dim=dim)
    bad = (sums - 1).abs() > atol
    if bool(bad.any()):
        first = tuple(int(i) for i in torch.nonzero(bad)[0])
        axes = [d for d in range(w.dim())]
        return Verdict(False, f"{name}: entries along dim {dim} must sum to 1; the slice at {first} sums to "
                              f"{sums[first].item():.6g}.\n  Hint: is the softmax over the right axis "
                              f"(the keys, dim={dim})? dims are {axes}.")
    return Verdict(True)


def compare_masked_zero(weights: Any, mask: Any, name: str = "weights") -> Verdict:
    """Entries where the (broadcastable) boolean ``mask`` is False must be exactly 0."""
    w = to_tensor(weights)
    m = to_tensor(mask).to(torch.bool).expand_as(w)
    leaked = (~m) & (w != 0)
    if bool(leaked.any()):
        first = tuple(int(i) for i in torch.nonzero(leaked)[0])
        return Verdict(False, f"{name}: masked positions must get weight exactly 0; index {first} "
                              f"(mask False) has {w[first].item():.4g}.\n  Hint: True in a course mask means "
                              "'may attend'; fill the *False* positions with -inf (or a large negative) "
                              "before the softmax.")
    return Verdict(True)


def compare_close_up_to_sign(actual: Any, expected: Any, name: str = "output", dim: int = 0,
                             rtol: float = 1e-4, atol: float = 1e-5) -> Verdict:
    """Like :func:`compare_close`, but each slice along the *other* axis may be negated.

    For SVD results: ``dim=0`` means each column (a vector along dim 0) may flip sign.
    """
    expected_t = to_tensor(expected, "expected value").to(torch.float64)
    shape = compare_shape(actual, expected_t.shape, name)
    if not shape.ok:
        return shape
    a = to_tensor(actual).to(torch.float64)
    # Sign of each column: match the sign of the largest-magnitude expected entry.
    idx = expected_t.abs().argmax(dim=dim, keepdim=True)
    sign = torch.sign(torch.gather(a, dim, idx)) * torch.sign(torch.gather(expected_t, dim, idx))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    return compare_close(a * sign, expected_t, name, rtol=rtol, atol=atol,
                         hint="columns are compared up to sign; are they sorted by singular value "
                              "and scaled by sqrt(S)?")


# ----------------------------------------------------------------------------- raising wrappers
# Each wrapper first records the student-derived value it judges (see autograder.evidence: the
# grader re-checks it outside the kernel against the solution's records), then judges it here.
#
# While a notebook is graded, the kernel runs the test cells without their reference side
# (evidence.without_reference): the expected argument of check_close, check_equal and
# check_close_up_to_sign arrives as None. Those checks then only record; the grader compares
# the record with the solution's, outside the kernel, and writes the same message as here.
def _shape_of(value):
    return tuple(value.shape) if hasattr(value, "shape") else value


def _deferred(expected, name: str) -> bool:
    """True when the comparison is the grader's job (grading, expected value withheld)."""
    if expected is not None:
        return False
    if _evidence_on():
        return True
    raise CheckFailure(f"{name}: this test has no expected value (None); it can only be checked by the grader.")


def check_shape(actual, expected_shape, name="output"):
    _record("shape", _shape_of(actual), name=name)
    compare_shape(actual, expected_shape, name).raise_if_failed()


def check_dtype(actual, expected, name="output"):
    got = str(getattr(actual, "dtype", type(actual).__name__))
    if isinstance(expected, str) and compare_dtype(actual, expected, name).ok:
        got = expected      # a kind ("float"): float32 and float64 are both right, record the kind
    _record("dtype", got, name=name)
    compare_dtype(actual, expected, name).raise_if_failed()


def check_close(actual, expected, name="output", rtol=1e-5, atol=1e-6, hint=None):
    _record("close", actual, rtol=rtol, atol=atol, name=name, hint=hint)
    if not _deferred(expected, name):
        compare_close(actual, expected, name, rtol, atol, hint).raise_if_failed()


def check_equal(actual, expected, name="output", hint=None):
    _record("equal", actual, name=name, hint=hint)
    if not _deferred(expected, name):
        compare_equal(actual, expected, name, hint).raise_if_failed()


def check_probabilities(weights, dim=-1, name="weights", atol=1e-5):
    _record("probabilities", weights, rtol=0.0, atol=atol, name=name)
    compare_probabilities(weights, dim, name, atol).raise_if_failed()


def check_masked_zero(weights, mask, name="weights"):
    _record("masked_zero", weights, rtol=0.0, atol=1e-5, name=name)
    compare_masked_zero(weights, mask, name).raise_if_failed()


def check_close_up_to_sign(actual, expected, name="output", dim=0, rtol=1e-4, atol=1e-5):
    _record("close_up_to_sign", actual, dim=dim, rtol=rtol, atol=atol, name=name)
    if not _deferred(expected, name):
        compare_close_up_to_sign(actual, expected, name, dim, rtol, atol).raise_if_failed()


def check_true(condition: bool, message: str) -> None:
    """For properties that are not a comparison (``message`` says what was expected)."""
    try:
        ok = bool(condition)
    except Exception as exc:  # e.g. a tensor with several elements
        raise CheckFailure(f"{message} (the condition could not be evaluated: {type(exc).__name__}: {exc})")
    _record("true", ok, name=message)
    if not ok:
        raise CheckFailure(message)


def check_raises(exception: type[BaseException], fn: Callable, *args, name: str | None = None, **kwargs) -> None:
    """``fn(*args, **kwargs)`` must raise ``exception``."""
    what = name or getattr(fn, "__name__", "call")
    try:
        fn(*args, **kwargs)
    except exception:
        _record("raises", True)
        return
    except Exception as exc:  # the wrong error type
        _record("raises", False)
        raise CheckFailure(f"{what}: expected {exception.__name__}, got {type(exc).__name__}: {exc}")
    _record("raises", False)
    raise CheckFailure(f"{what}: expected {exception.__name__} to be raised, but it returned normally.")


def check_implemented(fn: Callable, *args, **kwargs):
    """Call ``fn``; a ``NotImplementedError`` becomes a clear 'not implemented yet' failure."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        what = getattr(fn, "__name__", None) or f"{type(fn).__name__}.forward"
        raise CheckFailure(f"{what} is not implemented yet.") from None


def seeded(seed: int) -> torch.Generator:
    """A torch.Generator for test inputs that do not depend on global RNG state."""
    return torch.Generator().manual_seed(seed)


def randomise_(module: "torch.nn.Module", seed: int) -> "torch.nn.Module":
    """Give every floating parameter and buffer of ``module`` random values (in place), so a
    test sees layer-norm scales that are not 1, batch-norm statistics that are not 0 and 1, etc.
    Buffers named ``running_var`` stay positive. Returns ``module``.

    Each tensor's values depend only on ``seed`` and the tensor's *name*, not on the order in
    which the module registered its layers, so two correct modules with the same parameter
    names get the same weights (the grader compares their outputs)."""
    with torch.no_grad():
        for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
            if not tensor.is_floating_point():
                continue
            g = seeded(seed * 1_000_003 + zlib.crc32(name.encode()))
            values = torch.randn(tensor.shape, generator=g, dtype=tensor.dtype)
            if name.endswith("running_var"):
                values = values.abs() + 0.5
            elif name.endswith("running_mean"):
                values = 0.5 * values
            else:
                values = values * (0.5 if tensor.dim() <= 1 else tensor.shape[-1] ** -0.5)
                if name.endswith(("norm.weight", "norm1.weight", "norm2.weight", "norm3.weight")):
                    values = values + 1.0
            tensor.copy_(values)
    return module


__all__ = [name for name in dir() if name.startswith(("check_", "compare_"))] + [
    "CheckFailure", "Verdict", "to_tensor", "seeded", "randomise_"]

