"""The reference-records cache (autograder/answer_key.py): keyed like ``make`` with a depfile.

One real reference run of the smallest assignment, in a copy of the course whose own packages
it runs (so the kernel loads the copy's ``coursekit``); the executor's answer is saved and the
tests replay it, counting the runs, while they edit the copy."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import copy_course
from autograder import answer_key
from autograder.answer_key import cache_path, load_answer_key

HW = "hw1_embeddings"      # the quickest reference run (~15 s)

# Run in the copy (cwd and PYTHONPATH): the grader, its executor and the kernel all import the
# copy's autograder and coursekit. Saves the executor's answer beside the cache.
REFERENCE_RUN = """
import json, sys
from pathlib import Path
import autograder, coursekit
from autograder.answer_key import load_answer_key
from autograder.grade import _OneSlot
root, hw, out = Path.cwd().resolve(), sys.argv[1], Path(sys.argv[2])
assert Path(autograder.__file__).resolve().parent == root / "autograder", autograder.__file__
assert Path(coursekit.__file__).resolve().parent == root / "coursekit", coursekit.__file__
runner = _OneSlot(root)
try:
    run = runner.execute(hw)
    def execute(cells, tests, files):
        answer = run(cells, tests, files)
        out.write_text(json.dumps(answer))
        return answer
    load_answer_key(root, hw, execute)
finally:
    runner.close()
"""


class Replay:
    """An executor that answers with the saved answer of the real run, and counts the calls."""

    def __init__(self, answer: dict):
        self.answer, self.calls = answer, 0

    def __call__(self, cells, tests, files):
        self.calls += 1
        assert len(cells) == len(self.answer["cells"])
        return copy.deepcopy(self.answer)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """(course copy, cache folder, the saved executor answer, the cache file's bytes)."""
    base = tmp_path_factory.mktemp("cachekey")
    course = copy_course(base / "course").resolve()
    cache = base / "cache"
    env = dict(os.environ, COURSE_ROOT=str(course), PYTHONPATH=str(course), XDG_CACHE_HOME=str(cache),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run([sys.executable, "-c", REFERENCE_RUN, HW, str(base / "answer.json")], cwd=course,
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    entries = list((cache / "attention-course-autograder").glob(f"{HW}-*.reference.json"))
    assert len(entries) == 1, entries
    return course, cache, json.loads((base / "answer.json").read_text()), entries[0].read_bytes()


@pytest.fixture
def course(reference, monkeypatch):
    """The copy, read by this process as if it ran the copy's grader, with the cache as the real
    run left it; every file a test edits is put back afterwards."""
    root, cache, answer, entry = reference
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setattr(answer_key, "_package", lambda: root / "autograder")
    path = cache_path(root, HW)
    path.write_bytes(entry)
    edited: dict[Path, bytes | None] = {}

    def edit(rel: str, append: str) -> None:
        p = root / rel
        edited.setdefault(p, p.read_bytes() if p.exists() else None)
        with open(p, "a") as f:
            f.write(append)
    yield root, path, Replay(answer), edit
    for p, data in edited.items():
        if data is None:
            p.unlink()
        else:
            p.write_bytes(data)


def test_the_real_run_records_what_its_kernel_loaded(reference, course):
    root, path, _, _ = course
    depends = json.loads(path.read_text())["depends"]
    files = depends["files"]
    # what the solution imports, and what the test cells' checks run on, relative to the copy
    assert {"coursekit/corpus.py", "autograder/checks.py", "autograder/evidence.py"} <= set(files), files
    assert not any(f.startswith("/") for f in files), files          # all inside the copy
    assert "coursekit/speakers.py" not in files and "autograder/site.py" not in files
    assert {"torch", "numpy", "ipykernel"} <= set(depends["versions"]), depends["versions"]
    assert depends["python"]


def test_cache_is_kept_when_unrelated_files_change(course):
    root, path, replay, edit = course
    records = json.loads(path.read_text())["records"]
    assert load_answer_key(root, HW, replay).reference == records and replay.calls == 0
    edit("autograder/site.py", "\n# an edit nobody's reference run depends on\n")
    edit("autograder/grade.py", "\n# idem\n")
    edit("coursekit/speakers.py", "\n# idem (hw4's)\n")
    edit("coursekit/unused_helper.py", "VALUE = 1\n")
    edit("README.md", "\n")
    assert cache_path(root, HW) == path
    assert load_answer_key(root, HW, replay).reference == records
    assert replay.calls == 0


def test_editing_a_file_the_solution_loaded_reruns_and_rewrites(course):
    root, path, replay, edit = course
    edit("coursekit/corpus.py", "\n# changed\n")
    key = load_answer_key(root, HW, replay)
    assert replay.calls == 1 and set(key.reference) == set(key.tests)
    entry = json.loads(path.read_text())
    assert entry["depends"]["files"]["coursekit/corpus.py"] == \
        __import__("hashlib").sha256((root / "coursekit/corpus.py").read_bytes()).hexdigest()
    load_answer_key(root, HW, replay)               # the rewritten entry holds
    assert replay.calls == 1


def test_editing_the_graders_record_code_changes_the_key(course):
    root, path, replay, edit = course
    edit("autograder/verdict.py", "\n# changed\n")
    assert cache_path(root, HW) != path
    load_answer_key(root, HW, replay)
    assert replay.calls == 1


@pytest.mark.parametrize("content", [
    b"", b"{not json", b"\xff\xfe\x00", b"[]", b"null",
    b'{"format": 2}',
    b'{"format": 2, "records": {}, "depends": {"files": {}, "versions": {}, "python": "3"}}',
])
def test_a_broken_cache_file_is_a_miss(course, content):
    root, path, replay, _ = course
    path.write_bytes(content)
    key = load_answer_key(root, HW, replay)
    assert replay.calls == 1 and set(key.reference) == set(key.tests)
    assert json.loads(path.read_text())["format"] == answer_key.CACHE_FORMAT      # rewritten


def test_old_format_and_stale_versions_are_misses(course):
    root, path, replay, _ = course
    entry = json.loads(path.read_text())
    for stale in (entry["records"],                                            # the old format: records only
                  dict(entry, format=1),
                  dict(entry, depends=dict(entry["depends"], versions=dict(entry["depends"]["versions"], torch="0.0"))),
                  dict(entry, depends=dict(entry["depends"], python="2.7.18")),
                  dict(entry, depends=dict(entry["depends"], files={**entry["depends"]["files"], "coursekit/gone.py": "0"})),
                  dict(entry, records={k: v for k, v in list(entry["records"].items())[1:]})):
        path.write_text(json.dumps(stale))
        calls = replay.calls
        load_answer_key(root, HW, replay)
        assert replay.calls == calls + 1, stale.keys()
    assert json.loads(path.read_text()) == entry


def test_a_run_that_does_not_say_what_it_loaded_is_not_cached(course, capsys):
    root, path, replay, _ = course
    path.unlink()
    replay.answer = copy.deepcopy(replay.answer)
    replay.answer["cells"][-1]["outputs"] = []
    load_answer_key(root, HW, replay)
    assert replay.calls == 1 and not path.exists()
    assert "not cached" in capsys.readouterr().err
