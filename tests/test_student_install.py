"""Students outside the repository: the kit's wheel with its student dependencies only (no
nbgrader, no JupyterLab, no nbconvert) runs a released notebook's visible tests from an empty
folder, and the notebook's install cell does nothing there."""
import json
import shutil
import subprocess
import sys
import venv

import pytest

from conftest import ROOT


@pytest.mark.slow
def test_a_released_notebook_runs_with_only_the_student_install(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(dist),
                    str(ROOT)], check=True, capture_output=True, timeout=600)
    wheel = next(dist.glob("attention_course_kit-*.whl"))
    env_dir = tmp_path / "student-env"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    import torch
    torch_spec = f"torch=={torch.__version__.split('+')[0]}"       # the CPU build this machine has
    for spec in (torch_spec, str(wheel)):
        proc = subprocess.run([str(py), "-m", "pip", "install", "--quiet", spec], capture_output=True, text=True,
                              timeout=900)
        assert proc.returncode == 0, proc.stderr[-2000:]
    listed = subprocess.run([str(py), "-m", "pip", "list", "--format", "json"], capture_output=True, text=True).stdout
    installed = {p["name"].lower() for p in json.loads(listed)}
    assert "attention-course-kit" in installed
    assert not installed & {"nbgrader", "jupyterlab", "nbconvert", "jupytext"}, installed

    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy(ROOT / "examples" / "submitted" / "ada_complete" / "hw2_attention" / "hw2_attention.ipynb", empty)
    shutil.copy(ROOT / "assignments" / "hw1_embeddings" / "hw1_embeddings.ipynb", empty)
    solved = subprocess.run([str(py), "-m", "autograder", "check", "--json", "hw2_attention.ipynb"], cwd=empty,
                            capture_output=True, text=True, timeout=900)
    verdicts = json.loads(solved.stdout.strip().splitlines()[-1])
    assert solved.returncode == 0 and verdicts and all(v["passed"] for v in verdicts.values()), solved.stdout + solved.stderr
    untouched = subprocess.run([str(py), "-m", "autograder", "check", "--json", "hw1_embeddings.ipynb"], cwd=empty,
                               capture_output=True, text=True, timeout=900)
    verdicts = json.loads(untouched.stdout.strip().splitlines()[-1])
    assert untouched.returncode == 1 and verdicts
    assert all("not implemented yet" in v["why"] for v in verdicts.values()), verdicts
