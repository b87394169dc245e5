"""The evidence design (autograder/evidence.py): while grading, the kernel never holds a
reference value, the grader compares the student's records with the solution's outside the
kernel, and every recorded value is a function of the test's inputs alone, so any correct
implementation reproduces the solution's records."""
from __future__ import annotations

import ast

import numpy as np
import pytest
import torch
import torch.nn as nn

from conftest import ROOT
from autograder import checks, evidence
from autograder.course import ASSIGNMENTS
from autograder.grade import reference_evidence
from autograder.grade import reference_records as reference_records_of
from autograder.verdict import is_test_cell


# ----------------------------------------------------------------------------- without_reference
def _calls(source):
    """{function name: [call node, ...]} of a source."""
    out = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            out.setdefault(name, []).append(node)
    return out


def test_reference_blocks_are_removed_and_expected_values_withheld():
    source = (
        "### BEGIN HIDDEN TESTS\n"
        "### BEGIN REFERENCE\n"
        "def _ref(x):\n"
        "    return x * 2\n"
        "### END REFERENCE\n"
        "for _n in (1, 2):\n"
        "    ### BEGIN REFERENCE\n"
        "    _want = _ref(_n)\n"
        "    ### END REFERENCE\n"
        "    check_close(f(_n), _want, 'f', atol=1e-5)\n"
        "    check_equal(g(_n), expected=_ref(_n) + h(_n), name='g')\n"
        "    checks.check_close_up_to_sign(u(_n), torch.linalg.svd(_n)[0], 'u')\n"
        "    check_shape(f(_n), (2, 3), 'f')\n"
        "    check_close(f('σσ'), _ref('σ'), 'unicode before the argument')\n"
        "### END HIDDEN TESTS\n")
    out = evidence.without_reference(source)
    calls = _calls(out)                                      # still runs
    assert "_ref" not in out and "_want" not in out and "svd" not in out and "h(_n)" not in out
    for name in ("check_close", "check_close_up_to_sign"):
        assert all(isinstance(c.args[1], ast.Constant) and c.args[1].value is None for c in calls[name])
    assert [kw.value.value for kw in calls["check_equal"][0].keywords if kw.arg == "expected"] == [None]
    assert ast.unparse(calls["check_shape"][0].args[1]) == "(2, 3)"   # expected shapes are not secret
    assert "'σσ'" in out
    sites = sorted(kw.value.value for name in evidence.RECORDING_CHECKS for c in calls.get(name, [])
                   for kw in c.keywords if kw.arg == "_site")
    assert sites == list(range(5))                           # every check call numbered, in order
    assert "pass" in out                                     # an emptied block keeps the loop valid
    full = evidence.grading_source(source)
    assert full.startswith(evidence.PRELUDE) and full.endswith(out)


def test_self_check_keeps_expected_values_but_numbers_the_calls():
    source = "check_close(f(1), g(1), 'f')\n### BEGIN REFERENCE\nx = 1\n### END REFERENCE\n"
    out = evidence.grading_source(source, withhold=False)
    call = _calls(out)["check_close"][0]
    assert ast.unparse(call.args[1]) == "g(1)" and "x = 1" in out
    assert [kw.value.value for kw in call.keywords if kw.arg == "_site"] == [0]


def test_source_that_does_not_parse_is_left_to_the_kernel():
    assert evidence.without_reference("check_close(f(x), ref(x)\n") == "check_close(f(x), ref(x)\n"


def test_deferred_checks_record_while_grading_and_refuse_outside(monkeypatch):
    monkeypatch.delenv(evidence.ENV, raising=False)
    with pytest.raises(checks.CheckFailure, match="no expected value"):
        checks.check_close(torch.ones(2), None, "x")
    monkeypatch.setenv(evidence.ENV, "1")
    checks.check_close(torch.ones(2), None, "x", _site=0)   # the grader compares it
    checks.check_equal([1, 2], None, "y")
    with pytest.raises(checks.CheckFailure):                # a withheld value never hides other checks
        checks.check_shape(torch.ones(2), (3,), "x")


# ----------------------------------------------------------------------------- records and messages
def _rec(kind, value, site=0, **params):
    return {"kind": kind, "site": site, "value": evidence._encode(value), "params": params}


def test_grader_messages_are_the_checks_messages():
    ref = [_rec("close", torch.tensor([[1.0, 2.0]]), rtol=1e-5, atol=1e-6, name="output of f", hint="divide by 2")]
    why = evidence.verify([_rec("close", torch.tensor([[1.0, 2.5]]))], ref)
    assert why.startswith("output of f: 1 of 2 values differ from the reference") and "Hint: divide by 2" in why
    why = evidence.verify([_rec("close", torch.ones(2, 1))], ref)
    assert "expected shape (1, 2), got (2, 1)" in why and "wrong order" in why
    why = evidence.verify([_rec("close", None)], ref)
    assert "expected a tensor of shape (1, 2), got None" in why


def test_bool_masks_are_not_integer_masks():
    ref = [_rec("equal", torch.ones(2, 2).tril().bool(), name="causal_mask(2)")]
    assert evidence.verify([_rec("equal", torch.ones(2, 2).tril().bool())], ref) == ""
    assert "dtype" in evidence.verify([_rec("equal", torch.ones(2, 2).tril().long())], ref)


def test_ragged_token_lists_and_strings_are_compared():
    ref = [_rec("equal", [[3, 5, 2], [2]], name="greedy_decode"), _rec("dtype", "torch.bool", site=1)]
    assert evidence.verify([_rec("equal", [[3, 5, 2], [2]]), _rec("dtype", "torch.bool", site=1)], ref) == ""
    why = evidence.verify([_rec("equal", [[3, 5, 2], [2, 4]]), _rec("dtype", "torch.bool", site=1)], ref)
    assert "expected [[3, 5, 2], [2]], got [[3, 5, 2], [2, 4]]" in why
    assert evidence.verify([ref[0], _rec("dtype", "torch.int64", site=1)], ref) != ""
    assert evidence.verify([_rec("equal", [[3, 5, 2], [2]])], ref) != ""          # a record missing



def test_a_dtype_kind_is_recorded_as_the_kind(monkeypatch):
    """check_dtype(x, "float") accepts float32 and float64 in the kernel; the grader must too (the
    solution's float32 record would otherwise fail a correct float64 answer)."""
    records = []
    monkeypatch.setattr(checks, "_record", lambda kind, value, site=None, **params: records.append(value))
    checks.check_dtype(torch.zeros(2, dtype=torch.float64), "float", "x")
    checks.check_dtype(torch.zeros(2), "float", "x")
    checks.check_dtype(torch.zeros(2, dtype=torch.int32), "integer", "x")
    checks.check_dtype(torch.zeros(2), torch.float32, "x")
    with pytest.raises(checks.CheckFailure):
        checks.check_dtype(torch.zeros(2, dtype=torch.long), "float", "x")
    assert records == ["float", "float", "integer", "torch.float32", "integer"]


def test_evidence_matches_within_tolerance_and_catches_wrong_values():
    ref = [_rec("shape", (2, 3)), _rec("close", torch.tensor([1.0, 2.0]), rtol=1e-5, atol=1e-6), _rec("true", True)]
    same = [_rec("shape", (2, 3)), _rec("close", torch.tensor([1.0, 2.0 + 1e-6]), rtol=1e-5, atol=1e-6),
            _rec("true", True)]
    assert evidence.verify(same, ref) == ""
    wrong = [_rec("shape", (2, 3)), _rec("close", torch.tensor([1.0, 2.5]), rtol=1e-5, atol=1e-6), _rec("true", True)]
    assert evidence.verify([same[0], same[1], _rec("true", True, site=4)], ref) != ""   # another call's record
    assert "values differ from the reference" in evidence.verify(wrong, ref)
    assert "1 of 3" in evidence.verify(ref[:1], ref)
    assert evidence.verify([_rec("shape", (3, 2))] + ref[1:], ref) != ""
    assert evidence.verify([ref[0], ref[1], _rec("true", False)], ref) != ""
    assert evidence.verify([ref[0], _rec("equal", torch.tensor([1.0, 2.0])), ref[2]], ref) != ""   # kinds differ


def test_evidence_compares_up_to_sign_per_column():
    a = torch.tensor([[1.0, -2.0], [3.0, 4.0]])
    ref = [_rec("close_up_to_sign", a, dim=0, rtol=1e-4, atol=1e-5)]
    assert evidence.verify([_rec("close_up_to_sign", a * torch.tensor([-1.0, 1.0]), dim=0, rtol=1e-4, atol=1e-5)], ref) == ""
    assert evidence.verify([_rec("close_up_to_sign", a * 2, dim=0, rtol=1e-4, atol=1e-5)], ref) != ""

# ----------------------------------------------------------------------------- the assignments
def test_randomise_depends_on_names_not_registration_order():
    class AB(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 4), nn.LayerNorm(4)

    class BA(nn.Module):
        def __init__(self):
            super().__init__()
            self.b, self.a = nn.LayerNorm(4), nn.Linear(3, 4)

    ab, ba = checks.randomise_(AB(), seed=5).state_dict(), checks.randomise_(BA(), seed=5).state_dict()
    assert list(ab) != list(ba) and all(torch.equal(ab[k], ba[k]) for k in ab)
    assert not torch.equal(checks.randomise_(AB(), seed=6).state_dict()["a.weight"], ab["a.weight"])


# Run after the solution's setup cell: shifts the global RNG and makes every module constructor
# draw extra random numbers, as a correct implementation built differently would.
GREEDY_RNG = """
import torch, torch.nn as nn
torch.rand(17)
_module_init = nn.Module.__init__
def _init_that_draws(self, *args, **kwargs):
    _module_init(self, *args, **kwargs)
    torch.rand(5)
nn.Module.__init__ = _init_that_draws
"""


@pytest.fixture(scope="module")
def reference_records():
    """(the grader's reference records, those of a run with a perturbed global RNG) per assignment."""
    return {hw: (reference_records_of(ROOT, hw), reference_evidence(ROOT, hw, prelude=GREEDY_RNG))
            for hw in ASSIGNMENTS}


@pytest.mark.parametrize("hw", ASSIGNMENTS)
def test_records_do_not_depend_on_global_rng_use(reference_records, hw):
    plain, shifted = reference_records[hw]
    assert set(plain) == set(shifted) and plain
    differ = {gid: evidence.verify(shifted[gid], plain[gid]) for gid in plain}
    assert not any(differ.values()), {g: w for g, w in differ.items() if w}


@pytest.mark.parametrize("hw", ASSIGNMENTS)
def test_every_test_records_a_value_that_needs_a_correct_implementation(reference_records, hw):
    """Each test cell's points rest on at least one compared value (not only a True), and
    every value can be compared (numbers or plain data, never an opaque repr)."""
    plain, _ = reference_records[hw]
    for gid, records in plain.items():
        assert all("repr" not in r["value"] for r in records), (gid, [r for r in records if "repr" in r["value"]])
        assert any(r["kind"] in ("close", "equal", "close_up_to_sign") for r in records), gid


@pytest.mark.parametrize("hw", ASSIGNMENTS)
def test_hidden_tests_hold_no_reference_computation_while_grading(hw):
    """After without_reference, a hidden test calls no reference helper and no PyTorch layer
    or function that computes what the student is asked to compute."""
    import nbformat
    nb = nbformat.read(str(ROOT / "solutions" / hw / f"{hw}.ipynb"), as_version=4)
    leaky_names = ("_reference", "_exhaustive", "_torch_twin", "_greedy_reference", "conv_module_reference",
                   "block_reference", "_expected", "_ref", "_want", "_torch_names")
    leaky_calls = ("nn.Transformer", "nn.MultiheadAttention", "F.scaled_dot_product_attention",
                   "F.cosine_similarity", "torch.linalg.svd", "F.logsigmoid")
    for cell in nb.cells:
        if cell.cell_type == "code" and is_test_cell(cell) and "BEGIN HIDDEN TESTS" in cell.source:
            tree = ast.parse(evidence.without_reference(cell.source))
            used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
            used |= {ast.unparse(node) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
            used |= {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
            found = [n for n in used if n.startswith(leaky_names) or n.startswith(leaky_calls)]
            assert not found, (cell.metadata["nbgrader"]["grade_id"], found)


STUDENT_WRAPPERS = ("check_implemented", "attempt")


def _expected_from_student_code(source: str, graded: set[str]) -> list[str]:
    """Checks in ``source`` whose expected value is computed by the code under test (a call of a
    graded name, or of/on a value made by one). Such a check compares the student with
    themselves in the self-check, but with the solution when graded (the grader withholds
    expected values): the two would judge differently."""
    tree = ast.parse(source)
    student = set(graded)

    def student_callee(func) -> bool:
        """``f(...)`` or ``obj.method(...)`` with f/obj made by student code (``m.weight.norm()``
        is arithmetic on the student's parameters, as the equations use them: not a call of it)."""
        if isinstance(func, ast.Name):
            return func.id in student or func.id in STUDENT_WRAPPERS
        return isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in student

    def calls_student(node) -> bool:
        return any(isinstance(n, ast.Call) and student_callee(n.func) for n in ast.walk(node))

    for node in ast.walk(tree):               # names bound to what student code made (in source order)
        if isinstance(node, ast.Assign) and calls_student(node.value):
            student |= {t.id for t in ast.walk(ast.Tuple(elts=node.targets)) if isinstance(t, ast.Name)}
    bad = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) in evidence.DEFERRED_CHECKS):
            continue
        expected = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "expected"), None)
        if expected is None:
            continue
        as_arguments = {id(a) for n in ast.walk(expected) if isinstance(n, ast.Call) and not student_callee(n.func)
                        for a in [*n.args, *(k.value for k in n.keywords)]}
        offending = calls_student(expected) or any(
            isinstance(n, ast.Name) and n.id in student and id(n) not in as_arguments for n in ast.walk(expected))
        if offending:
            bad.append(ast.unparse(node)[:160])
    return bad


@pytest.mark.parametrize("hw", ASSIGNMENTS)
def test_visible_checks_take_their_expected_values_from_the_equations_not_the_student(hw):
    """The self-check and the grader must judge a visible test alike; the grader compares each
    checked value with the solution's, so an expected value made by the student's own code
    (e.g. "batched row == that utterance alone", both from the student's module) would be
    judged one way by the self-check and another by the grader."""
    import nbformat
    from test_build import CONTRACT_NAMES
    nb = nbformat.read(str(ROOT / "solutions" / hw / f"{hw}.ipynb"), as_version=4)
    found = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and is_test_cell(cell):
            visible = cell.source.split("### BEGIN HIDDEN TESTS")[0]
            bad = _expected_from_student_code(visible, CONTRACT_NAMES[hw])
            if bad:
                found[cell.metadata["nbgrader"]["grade_id"]] = bad
    assert not found, found


def test_the_expected_value_rule_catches_self_comparison():
    graded = {"ConformerConvModule"}
    src = ("conv = randomise_(check_implemented(ConformerConvModule, 6, 5), seed=6)\n"
           "check_close(conv(x, m)[1, :5], conv(x[1:, :5])[0], 'row vs alone')\n")
    assert _expected_from_student_code(src, graded)
    ok = ("conv = randomise_(check_implemented(ConformerConvModule, 6, 5), seed=6)\n"
          "alone = conv_module_reference(conv, x[1:, :5])\n"
          "check_close(conv(x, m)[1, :5], alone[0], 'row vs alone')\n"
          "check_close(conv(x), conv_module_reference(conv, x), 'eval')\n")
    assert not _expected_from_student_code(ok, graded)
    out_then = "out = ConformerConvModule(3)(x)\ncheck_close(out2, out, 'same twice')\n"
    assert _expected_from_student_code(out_then, graded)
