"""assignments/ and every other generated file must match what the sources generate."""
import json
import re

import nbformat
import pytest

from autograder.course import available_assignments
from conftest import ROOT, run_cli

# The contract (a verbatim copy of ../shared/COURSE_CONTRACT.md, compared with it where that exists).
CONTRACT = ROOT / "docs" / "COURSE_CONTRACT.md"


def contract_names(text: str) -> dict[str, set[str]]:
    """Names each assignment's students implement: the `name(` that opens each bullet of the
    contract's ``## <assignment>`` section."""
    names, section = {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
            names[section] = set()
        elif section and (m := re.match(r"^\s*- `(\w+)\(", line)):
            names[section].add(m[1])
    return {hw: n for hw, n in names.items() if n}


CONTRACT_NAMES = contract_names(CONTRACT.read_text())


def test_the_repository_s_contract_is_the_shared_one():
    shared = ROOT.parent / "shared" / "COURSE_CONTRACT.md"
    if not shared.exists():
        pytest.skip("no ../shared/COURSE_CONTRACT.md beside this checkout (a clone elsewhere)")
    assert CONTRACT.read_text() == shared.read_text(), "docs/COURSE_CONTRACT.md differs from ../shared's: copy it"


def test_contract_names_are_parsed_from_every_assignment_section():
    assert set(CONTRACT_NAMES) == set(available_assignments(ROOT))
    assert CONTRACT_NAMES["hw2_attention"] >= {"scaled_dot_product_attention", "MultiHeadAttention"}
    assert CONTRACT_NAMES["hw3_transformer"] >= {"greedy_decode", "beam_search"}    # nested bullets
    assert all(len(n) >= 5 for n in CONTRACT_NAMES.values()), CONTRACT_NAMES


def test_build_check_reports_no_drift():
    proc = run_cli("build", "--check", timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "matches" in proc.stdout


def test_the_first_assignment_exists():
    assert "hw1_embeddings" in available_assignments(ROOT)


def test_released_notebooks_leak_nothing():
    for path in (ROOT / "assignments").rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, path
            assert path.suffix == ".ipynb", f"{path}: only notebooks are released"
            nb = nbformat.read(str(path), as_version=4)
            assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{path} has outputs"


def test_solution_notebooks_follow_the_contract():
    for hw in available_assignments(ROOT):
        nb = nbformat.read(str(ROOT / "solutions" / hw / f"{hw}.ipynb"), as_version=4)
        meta = [c.metadata["nbgrader"] for c in nb.cells if "nbgrader" in c.metadata]
        assert all(m["schema_version"] == 3 for m in meta)
        ids = [m["grade_id"] for m in meta]
        assert len(ids) == len(set(ids)), f"{hw}: duplicated grade_id"
        solutions = {m["grade_id"] for m in meta if m.get("solution") and not m.get("grade")}
        assert solutions == CONTRACT_NAMES[hw], f"{hw}: solution cells {solutions}"
        written = [m["grade_id"] for m in meta if m.get("solution") and m.get("grade")]   # answers graded by hand
        pattern = r"report_\d+" if hw == "hw4_speaker_id" else r"written_\w+"
        assert written and all(re.fullmatch(pattern, g) for g in written), f"{hw}: written answer cells {written}"
        tests = [m for m in meta if m.get("grade") and not m.get("solution")]
        for m in tests:
            assert m["points"] > 0
            name = re.sub(r"^test_", "", m["grade_id"])
            assert any(name == s or name.startswith(s + "_") for s in solutions), m["grade_id"]
        for name in solutions:
            assert any(m["grade_id"] == f"test_{name}" for m in tests), f"{hw}: no visible test for {name}"
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
                # exactly one contract name defined per solution cell
                defined = set(re.findall(r"^(?:def|class) (\w+)", cell.source, re.MULTILINE))
                assert cell.metadata["nbgrader"]["grade_id"] in defined


def test_example_class_spec_matches_the_examples():
    spec = json.loads((ROOT / "examples" / "class.json").read_text())
    for student, work in spec["students"].items():
        for hw in work:
            if hw in available_assignments(ROOT):
                assert (ROOT / "examples" / "submitted" / student / hw / f"{hw}.ipynb").exists()


def test_in_process_alembic_head_equals_nbgrader_s(monkeypatch):
    import os
    import sys

    import nbgrader.api
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])

    from autograder.build import alembic_head
    original = nbgrader.api.get_alembic_version
    if original is alembic_head:  # patched earlier in this process
        import importlib
        original = importlib.reload(nbgrader.api).get_alembic_version
    assert alembic_head() == original()


def _scratch_course(tmp_path):
    import shutil
    course = tmp_path / "course"
    shutil.copytree(ROOT, course, ignore=shutil.ignore_patterns(".git", ".venv", "demo_output", "data", "*.db",
                                                                "__pycache__", ".pytest_cache", "dist", "exchange"))
    return course


def test_what_jupyter_rewrites_on_save_is_not_drift_but_a_hand_edit_is_never_lost(tmp_path):
    course = _scratch_course(tmp_path)
    env = {"COURSE_ROOT": str(course)}
    path = course / "solutions" / "hw2_attention" / "hw2_attention.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    # what Validate / Save in Jupyter does: kernel and language metadata, outputs, counts, ids
    nb.metadata["kernelspec"]["display_name"] = "Python 3 (course kit)"
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7", "mimetype": "text/x-python"}
    code = [c for c in nb.cells if c.cell_type == "code"]
    code[0].execution_count = 1
    code[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi\n")]
    code[1].metadata["trusted"] = True
    nbformat.write(nb, str(path))
    proc = run_cli("build", "--check", env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    # an edit of the content (formgrader's Edit link opens this file)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "causal_mask")
    cell.source = cell.source.replace("tril()", "tril()  # edited in Jupyter")
    nbformat.write(nb, str(path))
    proc = run_cli("build", "--check", env=env, timeout=600)
    assert proc.returncode == 1 and "edited by hand" in proc.stderr
    proc = run_cli("build", env=env, timeout=600)
    assert proc.returncode == 1 and "hw2_attention.ipynb" in proc.stderr and "--force" in proc.stderr
    assert "edited in Jupyter" in path.read_text()                     # nothing was lost
    proc = run_cli("build", "--force", env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "edited in Jupyter" not in path.read_text()                 # the .py wins when asked to
