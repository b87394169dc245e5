"""The check helpers must pass correct values and fail wrong ones with a useful message."""
import numpy as np
import pytest
import torch

from autograder import checks
from autograder.checks import CheckFailure


def fails(fn, *args, **kwargs) -> str:
    with pytest.raises(CheckFailure) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_shape_passes_and_reports_swapped_axes():
    checks.check_shape(torch.zeros(2, 5, 7), (2, 5, 7))
    msg = fails(checks.check_shape, torch.zeros(2, 7, 5), (2, 5, 7), "attention output")
    assert "expected shape (2, 5, 7), got (2, 7, 5)" in msg
    assert "attention output" in msg and "Hint" in msg and "order" in msg


def test_shape_hints_missing_and_extra_dimension():
    assert "missing" in fails(checks.check_shape, torch.zeros(2, 5), (2, 5, 7))
    assert "too many" in fails(checks.check_shape, torch.zeros(2, 5, 7, 1), (2, 5, 7))


def test_shape_rejects_non_tensors():
    assert "got None" in fails(checks.check_shape, None, (2, 3))


def test_close_accepts_within_tolerance_and_numpy():
    checks.check_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-7]))
    checks.check_close(np.array([1.0, 2.0]), torch.tensor([1.0, 2.0]))
    checks.check_close(torch.tensor([float("-inf"), 1.0]), torch.tensor([float("-inf"), 1.0]))


def test_close_reports_value_index_and_hint():
    msg = fails(checks.check_close, torch.tensor([[1.0, 2.0], [3.0, 4.5]]), torch.tensor([[1.0, 2.0], [3.0, 4.0]]),
                "scores", hint="did you scale by 1/sqrt(d_k)?")
    assert "1 of 4 values differ" in msg and "index (1, 1)" in msg
    assert "expected 4, got 4.5" in msg and "1/sqrt(d_k)" in msg


def test_close_rejects_shape_mismatch_without_broadcasting():
    assert "expected shape (3,), got (1, 3)" in fails(checks.check_close, torch.zeros(1, 3), torch.zeros(3))


def test_close_rejects_nan_and_inf_where_finite_expected():
    assert "non-finite" in fails(checks.check_close, torch.tensor([float("nan"), 1.0]), torch.tensor([0.0, 1.0]))
    assert "non-finite" in fails(checks.check_close, torch.tensor([0.0, 1.0]), torch.tensor([float("inf"), 1.0]))
    assert "expected -inf, got inf" in fails(checks.check_close, torch.tensor([float("inf")]), torch.tensor([float("-inf")]))


def test_equal_for_tensors_lists_and_dtypes():
    checks.check_equal(torch.tensor([1, 2]), torch.tensor([1, 2]))
    checks.check_equal([1, 2, 3], [1, 2, 3])
    assert "expected [1, 2, 3], got [1, 3, 2]" in fails(checks.check_equal, [1, 3, 2], [1, 2, 3], "neighbours")
    assert "dtype" in fails(checks.check_equal, torch.tensor([True, False]), torch.tensor([1, 0]))
    assert "first at index (1,)" in fails(checks.check_equal, torch.tensor([1, 5]), torch.tensor([1, 2]))


def test_dtype_kinds():
    checks.check_dtype(torch.zeros(2), "float")
    checks.check_dtype(torch.zeros(2, dtype=torch.long), "integer")
    checks.check_dtype(torch.zeros(2, dtype=torch.bool), "bool")
    assert "expected a float dtype, got torch.int64" in fails(checks.check_dtype, torch.zeros(2, dtype=torch.long), "float")
    assert "expected a integer dtype" in fails(checks.check_dtype, torch.zeros(2, dtype=torch.bool), "integer")
    assert "expected torch.float32, got torch.float64" in fails(checks.check_dtype, torch.zeros(2, dtype=torch.float64), torch.float32)


def test_probabilities():
    checks.check_probabilities(torch.softmax(torch.randn(2, 3, 4), -1))
    msg = fails(checks.check_probabilities, torch.softmax(torch.randn(2, 3, 4), 1), -1)
    assert "sum to 1" in msg and "axis" in msg
    assert "negative" in fails(checks.check_probabilities, torch.tensor([[1.5, -0.5]]))
    assert "NaN" in fails(checks.check_probabilities, torch.tensor([[float("nan"), 1.0]]))


def test_masked_zero():
    mask = torch.tensor([[True, False], [True, True]])
    checks.check_masked_zero(torch.tensor([[1.0, 0.0], [0.5, 0.5]]), mask)
    msg = fails(checks.check_masked_zero, torch.tensor([[0.9, 1e-9], [0.5, 0.5]]), mask)
    assert "index (0, 1)" in msg and "exactly 0" in msg and "True" in msg
    # broadcasting a (Lq, Lk) mask over a batch
    checks.check_masked_zero(torch.tensor([[[1.0, 0.0], [0.5, 0.5]]] * 3), mask)


def test_close_up_to_sign_accepts_flipped_columns_only():
    ref = torch.tensor([[3.0, 0.5], [1.0, -2.0], [0.0, 1.0]])
    checks.check_close_up_to_sign(ref * torch.tensor([-1.0, 1.0]), ref)
    checks.check_close_up_to_sign(-ref, ref)
    fails(checks.check_close_up_to_sign, ref * torch.tensor([[-1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]), ref)
    fails(checks.check_close_up_to_sign, ref * 2, ref)


def test_raises_and_implemented():
    def bad(d):
        if d % 2:
            raise ValueError("odd")
    checks.check_raises(ValueError, bad, 3)
    assert "returned normally" in fails(checks.check_raises, ValueError, bad, 2)
    assert "expected ValueError, got ZeroDivisionError" in fails(checks.check_raises, ValueError, lambda: 1 / 0)

    def todo():
        raise NotImplementedError()
    assert "not implemented yet" in fails(checks.check_implemented, todo)
    assert checks.check_implemented(lambda x: x + 1, 1) == 2


def test_check_true_uses_the_message():
    checks.check_true(1 == 1, "never shown")
    assert fails(checks.check_true, False, "weights must be causal") == "weights must be causal"


def test_verdicts_are_pure_and_do_not_raise():
    verdict = checks.compare_close(torch.zeros(3), torch.ones(3), "x")
    assert not verdict.ok and "x:" in verdict.message
    assert checks.compare_shape(torch.zeros(1), (1,)).ok
