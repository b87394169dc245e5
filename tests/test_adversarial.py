"""The grader under attack: every submission of the adversarial corpus is graded, no cheat
earns points, no correct part loses them, and feedback says what happened."""
import html
import re
import socket

import pytest

import adversarial_class as corpus
from autograder.grade import Sandbox, isolation_available
from conftest import ROOT

SANDBOXED = isolation_available()


def expected_outcome(attack: str) -> str:
    if attack == "tamper_grader_files" and SANDBOXED:
        return "target0"     # the write fails (read-only course folder): nothing was tampered with
    return corpus.EXPECTED[attack]


def test_corpus_is_complete():
    assert set(corpus.EXPECTED) >= {"skip_tag", "edited_test_cells", "deleted_test_cells", "duplicated_grade_cell",
                                    "renamed_notebook", "invalid_json", "missing_notebook", "patched_checks",
                                    "rebound_check_names", "os_exit", "infinite_loop", "memory_bomb", "huge_output",
                                    "tamper_grader_files", "correct_with_stderr", "forged_actual", "rewritten_tests",
                                    "frame_rewrite"}


def test_every_submission_gets_a_row_and_a_feedback_page(adversarial):
    assert {sid for sid, _ in adversarial.grades} == set(adversarial.attacks)
    for sid in adversarial.attacks:
        assert (adversarial.out / "feedback" / sid / corpus.HW / f"{corpus.HW}.html").exists(), sid


@pytest.mark.parametrize("attack", sorted(corpus.EXPECTED))
def test_no_cheat_rewarded_no_correct_part_lost(adversarial, attack):
    scores = adversarial.scores[(attack, corpus.HW)]
    target = {g for g in scores if g.startswith(f"test_{corpus.TARGET}")}
    assert target
    outcome = expected_outcome(attack)
    for gid, (score, max_score) in scores.items():
        if outcome == "zero" or (outcome == "target0" and gid in target):
            assert score == 0, f"{attack}: {gid} scored {score}"
        else:
            assert score == max_score, f"{attack}: {gid} scored {score} of {max_score}"


FEEDBACK = {
    "os_exit": "kernel died", "infinite_loop": "ran longer than", "loop_ignoring_interrupt": "ran longer than",
    "memory_bomb": "MemoryError", "patched_checks": "entries differ", "duplicated_grade_cell": "second cell with grade_id",
    "renamed_notebook": "was graded as", "invalid_json": "could not be read as a Jupyter notebook",
    "missing_notebook": "No notebook named", "skip_tag": "expected", "deleted_test_cells": "expected",
    # the forgeries: the grader's own comparison, with the wrong mask it found
    "forged_actual": "causal_mask(3): 6 of 9 entries differ", "rewritten_tests": "causal_mask(3): 6 of 9 entries differ",
    "frame_rewrite": "causal_mask(3): 6 of 9 entries differ",
}


@pytest.mark.parametrize("attack", sorted(FEEDBACK))
def test_feedback_says_what_happened(adversarial, attack):
    page = html.unescape(re.sub(r"<[^>]+>", "", adversarial.feedback(attack, corpus.HW)))
    assert FEEDBACK[attack] in page


def test_tampering_cannot_change_the_grader_for_later_students(adversarial):
    for path, data in adversarial.guarded_before.items():
        assert path.read_bytes() == data, f"{path} was changed by a graded submission"
    page = html.unescape(adversarial.feedback("tamper_grader_files", corpus.HW))
    assert ("Read-only file system" in page) if SANDBOXED else ("changed files of the grader" in page)


def test_huge_output_does_not_make_a_huge_feedback_page(adversarial):
    page = adversarial.out / "feedback" / "huge_output" / corpus.HW / f"{corpus.HW}.html"
    assert page.stat().st_size < 5_000_000


@pytest.mark.skipif(not SANDBOXED, reason="the namespace sandbox needs Linux, root, unshare, ip and setpriv")
def test_sandbox_blocks_writes_network_and_hides_secrets(tmp_path):
    import subprocess
    import sys
    secret_dir = ROOT / "solutions"
    answers = tmp_path / "answers.csv"
    answers.write_text("Id,Category\nx,y\n")
    probe = f"""
import os, socket, sys
from pathlib import Path
out = {{}}
try:
    (Path({str(ROOT)!r}) / "tampered.txt").write_text("x"); out["write_course"] = True
except OSError:
    out["write_course"] = False
out["solutions_visible"] = bool(os.listdir({str(secret_dir)!r}))
out["answers"] = Path({str(answers)!r}).read_text()
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2); out["network"] = True
except OSError:
    out["network"] = False
print(out)
"""
    cmd = Sandbox(memory_mb=None, isolate=True, root=ROOT, hidden=(secret_dir, answers)).wrap(
        [sys.executable, "-c", probe])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = eval(proc.stdout)
    assert result == {"write_course": False, "solutions_visible": False, "answers": "", "network": False}
    assert not (ROOT / "tampered.txt").exists()
    assert answers.read_text().startswith("Id,Category")


def test_memory_limit_turns_a_memory_bomb_into_a_memory_error():
    import subprocess
    import sys
    code = "b = bytearray(3 * 2**30)"
    proc = subprocess.run([sys.executable, "-c", code], preexec_fn=Sandbox(memory_mb=1024).preexec,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "MemoryError" in proc.stderr


def test_every_attack_is_valid_python(tmp_path):
    """An attack that does not even parse would 'fail' for the wrong reason."""
    import ast
    import nbformat
    corpus.build(ROOT, tmp_path)
    for attack in corpus.EXPECTED:
        path = tmp_path / attack / corpus.HW / f"{corpus.HW}.ipynb"
        if attack in ("invalid_json", "missing_notebook", "renamed_notebook") or not path.exists():
            continue
        nb = nbformat.read(str(path), as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade_id") == corpus.TARGET:
                ast.parse(cell.source)
