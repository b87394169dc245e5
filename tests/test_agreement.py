"""The self-check and the grader never disagree on a visible test: for every notebook of the
mutation suite (every wrong mutant, every correct alternative, the solution, the untouched
release), each visible test passes in `python -m autograder check` exactly when the grader
gives it full marks."""
import io
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from autograder.course import available_assignments
from autograder.selfcheck import run_check
from conftest import MUTANT_STUDENTS, ROOT

HW = available_assignments(ROOT)


def self_check(path):
    """`python -m autograder check --json PATH`, in this process (each runs its own kernel)."""
    out = io.StringIO()
    assert run_check(path, out=out, as_json=True) in (0, 1)
    return json.loads(out.getvalue().strip().splitlines()[-1])


@pytest.mark.parametrize("hw", HW)
def test_self_check_and_grader_agree_on_every_visible_test(graded, hw):
    submitted = graded[hw].out.parent / "submitted"
    students = sorted(MUTANT_STUDENTS[hw]) + ["ada_complete", "ben_partial", "cy_untouched", "typical_bug"]
    paths = {sid: submitted / sid / hw / f"{hw}.ipynb" for sid in students}
    with ThreadPoolExecutor(max_workers=2) as pool:
        checked = dict(zip(students, pool.map(self_check, [paths[s] for s in students])))
    disagreements, compared = [], 0
    for sid in students:
        grader = graded[hw].scores[(sid, hw)]
        for gid, verdict in checked[sid].items():
            score, max_score = grader[gid]
            compared += 1
            if verdict["passed"] != (score == max_score):
                mutants = ", ".join(m.name for m in MUTANT_STUDENTS[hw].get(sid, []))
                disagreements.append(f"{sid} [{mutants}] {gid}: self-check {'PASS' if verdict['passed'] else 'FAIL'} "
                                     f"({verdict['why'][:150]}), grader {score:g}/{max_score:g}")
    assert compared > len(students)
    assert not disagreements, "\n".join(disagreements)
