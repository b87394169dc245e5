"""Grading is a function of the submission: the same class graded twice, serially and in
parallel, gives identical CSV files."""
import shutil

from conftest import ROOT, hand_graded, run_cli


def test_serial_and_parallel_grading_give_identical_results(tmp_path):
    hw = "hw2_attention"
    for student in ("ada_complete", "ben_partial", "cy_untouched"):
        shutil.copytree(ROOT / "examples" / "submitted" / student / hw, tmp_path / "sub" / student / hw)
    outputs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        proc = run_cli("grade", str(tmp_path / "sub"), "--out", str(out), "--jobs", jobs, "--quiet")
        assert proc.returncode == 0, proc.stderr
        outputs[jobs] = ((out / "grades.csv").read_text(), (out / "scores.csv").read_text())
    assert outputs["1"] == outputs["2"]
    grades = outputs["1"][0].splitlines()
    assert len(grades) == 4 and grades[1].startswith("ada_complete,hw2_attention,")
    score, max_score = map(float, grades[1].split(",")[2:4])
    assert score == max_score - sum(hand_graded(hw).values()) > 0     # all automatic points; written ones wait
