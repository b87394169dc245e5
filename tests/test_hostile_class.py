"""The grader against a hostile class (tests/hostile_class.py): no cheat rewarded, no student
lost, no classmate harmed, nothing secret leaked, no correct answer punished, and the grader's
own memory bounded whatever the inputs."""
import html
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hostile_class as corpus
from autograder import sandbox
from conftest import ROOT, run_cli

MODE = sandbox.detect()
SANDBOXED = MODE != "none"


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"(?s)<(style|script)\b.*?</\1>", "", page)))


def feedback(graded, a) -> str:
    path = graded.out / "feedback" / a.sid / a.assignment / f"{a.assignment}.html"
    return path.read_text()


def test_the_class_covers_every_kind_of_attack(hostile):
    kinds = {a.kind for a in hostile.attacks}
    assert kinds >= {"blank", "crash", "harm", "leak", "falsefail", "structure", "verdict", "hostile", "ops"}
    assert len(hostile.attacks) >= 40 if SANDBOXED else 30


def test_every_submission_gets_a_row_and_a_feedback_page(hostile):
    rows = {(sid, hw) for sid, hw in hostile.grades}
    assert rows == {(a.sid, a.assignment) for a in hostile.attacks}
    for a in hostile.attacks:
        assert (hostile.out / "feedback" / a.sid / a.assignment / f"{a.assignment}.html").is_file(), a.sid
    for name in ("grades.csv", "scores.csv"):
        assert (hostile.out / name).is_file() and not (hostile.out / name).is_symlink()


KINDS = ["blank", "crash", "harm", "leak", "falsefail", "structure", "verdict", "hostile", "ops"]


@pytest.mark.parametrize("kind", KINDS)
def test_no_cheat_rewarded_no_correct_answer_punished(hostile, kind):
    problems = []
    for a in [a for a in hostile.attacks if a.kind == kind]:
        scores = hostile.scores[(a.sid, a.assignment)]
        target = {g for g in scores if g == f"test_{a.target}" or g.startswith(f"test_{a.target}_")}
        assert a.outcome != "target0" or target, a.sid
        for gid, (score, max_score) in scores.items():
            if gid.startswith("predictions_"):
                want = 0 if a.predictions_zero else None
            elif a.outcome == "zero" or (a.outcome == "target0" and gid in target):
                want = 0
            else:
                want = max_score
            if want is not None and score != want:
                problems.append(f"{a.sid} ({a.what}): {gid} scored {score} of {max_score}, expected {want}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("kind", KINDS)
def test_feedback_says_what_happened_and_leaks_nothing(hostile, kind):
    problems = []
    for a in [a for a in hostile.attacks if a.kind == kind]:
        raw = feedback(hostile, a)
        page = text_of(raw)
        problems += [f"{a.sid}: feedback lacks {s!r}" for s in a.says if s not in page]
        problems += [f"{a.sid}: feedback shows {s!r}" for s in a.never if s in page]
        problems += [f"{a.sid}: feedback's HTML has {s!r}" for s in a.never_in_html if s in raw]
    assert not problems, "\n".join(problems)


def test_no_feedback_page_shows_a_reference_block_or_hidden_test_code(hostile):
    solution = (ROOT / "solutions" / corpus.HW / f"{corpus.HW}.py").read_text()
    secret = set()
    for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", solution, re.S):
        secret.update(ln.strip() for ln in block.splitlines() if len(ln.strip()) > 25)
    secret -= {ln.strip() for ln in re.sub(r"### BEGIN HIDDEN TESTS\n.*?### END HIDDEN TESTS", "", solution,
                                           flags=re.S).splitlines()}
    assert secret
    for a in hostile.attacks:
        page = text_of(feedback(hostile, a))
        leaked = [ln for ln in secret if ln in page]
        assert not leaked, f"{a.sid}: {leaked[:2]}"


def test_grader_files_are_unchanged(hostile):
    for path, data in hostile.guarded_before.items():
        assert path.read_bytes() == data, f"{path} was changed by a graded submission"


def test_oversized_outputs_make_small_pages_and_the_grader_stays_small(hostile):
    for a in hostile.attacks:
        size = (hostile.out / "feedback" / a.sid / a.assignment / f"{a.assignment}.html").stat().st_size
        assert size < 5_000_000, (a.sid, size)
    # 98 MB notebook, 40 MB predictions, /dev/zero, 200,000 records, 20 MB of output: the grader
    # process itself (not its kernels) stays within a bound (measured ~350 MB: torch, nbconvert)
    print(f"grader peak RSS: {hostile.maxrss_mb:.0f} MB")
    assert hostile.maxrss_mb < 1000


def test_every_attack_is_valid_python(tmp_path):
    """An attack that does not parse would 'fail' for the wrong reason."""
    import ast
    import nbformat
    answers = tmp_path / "answers.csv"
    answers.write_text("Id,Category\n")
    for a in corpus.build(ROOT, tmp_path / "sub", answers, sandboxed=True):
        path = tmp_path / "sub" / a.sid / a.assignment / f"{a.assignment}.ipynb"
        if not path.is_file() or path.is_symlink() or path.stat().st_size > 50_000_000:
            continue
        try:
            nb = nbformat.read(str(path), as_version=4)
        except Exception:
            continue                      # the attacks on the file format
        for cell in nb.cells:
            if cell.cell_type == "code":
                ast.parse(cell.source)


# ----------------------------------------------------------------------------- the sandbox itself
SANDBOX_PROBE = r"""
import json, os, socket, sys
out = {"uid": os.getuid(), "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit())}
out["home"] = sorted(os.listdir(os.path.expanduser("~")))
out["visible"] = {p: os.path.exists(p) for p in sys.argv[1:]}
try:
    open(os.path.join(sys.argv[1], "x"), "w"); out["write_course"] = True
except OSError:
    out["write_course"] = False
try:
    socket.create_connection(("127.0.0.1", 22), timeout=1); out["network"] = "open"
except OSError as exc:
    out["network"] = type(exc).__name__
out["env"] = sorted(os.environ)
open(os.path.expanduser("~/mark"), "w").write("x")
print(json.dumps(out))
"""


@pytest.mark.skipif(not SANDBOXED, reason="no sandbox here (needs Linux and bubblewrap)")
def test_a_kernel_sees_only_its_allowlist(tmp_path):
    from autograder.answer_key import cache_dir
    from autograder.executor import WorkFolder
    from autograder.sandbox import SandboxPolicy, bwrap_command, kernel_env, readonly_paths, HOME
    course_pkg = str(Path(sandbox.__file__).parent)
    secrets = [str(ROOT / "solutions"), str(ROOT / "mutants"), str(cache_dir()), str(tmp_path / "other"),
               str(ROOT / ".git")]
    (tmp_path / "other").mkdir()
    runs = []
    lease = sandbox.UidLease(1) if MODE == "bwrap-root" else None
    uid = lease.uids[0] if lease else None
    for _ in range(2):                                   # HOME is new for every kernel
        work = WorkFolder(tmp_path / f"w{len(runs)}").create({"a.txt": b"hi"}, uid)
        policy = SandboxPolicy(mode=MODE, readonly=readonly_paths(), uid=uid)
        cmd = bwrap_command(policy, str(work.run), str(work.files), "hw", kernel_env(os.environ, HOME, HOME + "/hw"),
                            [sys.executable, "-c", SANDBOX_PROBE, course_pkg, *secrets])
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        work.remove()
        assert proc.returncode == 0, proc.stderr
        runs.append(json.loads(proc.stdout))
    if lease:
        lease.close()
    for out in runs:
        assert out["uid"] != 0
        assert len(out["pids"]) <= 3, out["pids"]        # its own /proc: the sandbox's init, sh, python
        assert out["home"] == ["hw"]                     # an empty HOME with the working folder
        assert out["visible"][course_pkg] and not any(out["visible"][s] for s in secrets), out["visible"]
        assert out["write_course"] is False
        assert out["network"] in ("OSError", "ConnectionRefusedError") or out["network"].endswith("Error")
        assert out["network"] != "open"
        assert not any(k.startswith(("AUTOGRADER_SANDBOX", "JPY_", "SUDO", "SSH")) for k in out["env"]), out["env"]


def _cmdline(p) -> list[str]:
    import psutil
    try:
        return p.cmdline()
    except psutil.Error:
        return []


@pytest.mark.skipif(not SANDBOXED, reason="no sandbox here (needs Linux and bubblewrap)")
def test_sigterm_stops_every_executor_and_kernel(tmp_path):
    """Ctrl-C or SIGTERM on `grade`: exit 130, and no process of the run is left."""
    import psutil
    import nbformat
    from autograder.mutants import submission_with
    for i in range(3):
        nb = submission_with(ROOT, corpus.HW, [])
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") == corpus.TARGET:
                cell.source = "def causal_mask(length):\n    while True:\n        pass\n"
        path = tmp_path / "sub" / f"looper{i}" / corpus.HW / f"{corpus.HW}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, str(path))
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(tmp_path / "sub"), "--out",
                             str(tmp_path / "out"), "--jobs", "2", "--quiet", "--cell-timeout", "120"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    kernels, family = [], {}
    while time.time() < deadline and len(kernels) < 2:   # wait until both kernels are looping
        time.sleep(1)
        try:        # the run's own processes, not those of other jobs on the machine
            for p in psutil.Process(proc.pid).children(recursive=True):
                family.setdefault(p.pid, p)
        except psutil.NoSuchProcess:
            break
        kernels = [p for p in family.values() if p.is_running() and "ipykernel_launcher" in " ".join(_cmdline(p))]
    assert len(kernels) >= 2
    time.sleep(3)
    for p in psutil.Process(proc.pid).children(recursive=True):
        family.setdefault(p.pid, p)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    time.sleep(1)
    left = [p for p in family.values() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, [_cmdline(p) for p in left]
    assert not (tmp_path / "out" / "grades.csv").exists()


def test_grade_without_sandbox_warns(tmp_path):
    (tmp_path / "sub").mkdir()
    proc = run_cli("grade", str(tmp_path / "sub"), "--out", str(tmp_path / "out"), "--quiet", "--no-sandbox")
    assert proc.returncode == 0 and "no sandbox" in proc.stderr


@pytest.mark.skipif(os.environ.get("AUTOGRADER_REQUIRE_SANDBOX") != "1", reason="only where the sandbox is required (CI)")
def test_the_sandbox_is_active_where_it_is_required():
    assert SANDBOXED, "bubblewrap is missing or does not work here: the hostile class ran without the sandbox"


@pytest.mark.skipif(MODE != "bwrap-root", reason="kernel uids are leased only when grading as root")
def test_two_runs_never_share_a_kernel_uid_and_a_leased_uid_starts_empty():
    """A kernel uid belongs to one run at a time (its process limit, its signals), and what a
    crashed run left under a uid is ended before the uid is used again."""
    import psutil
    with sandbox.UidLease(2) as first, sandbox.UidLease(1) as second:
        assert len(set(first.uids + second.uids)) == 3
        leftover = second.uids[0]
    # a process left under a free uid (a crashed run's sleeper) is killed by the next lease
    sleeper = subprocess.Popen(["setpriv", f"--reuid={leftover}", f"--regid={leftover}", "--clear-groups",
                                "sleep", "300"])
    try:
        time.sleep(0.5)
        with sandbox.UidLease(3) as lease:
            assert leftover in lease.uids
            sleeper.wait(timeout=10)                    # ended (the lease reaped it: no exit status here)
            assert not [p for p in psutil.process_iter(["uids"])
                        if p.info["uids"] and p.info["uids"].real == leftover]
    finally:
        if sleeper.poll() is None:
            sleeper.kill()


def test_a_sandbox_that_should_work_but_fails_stops_the_run(monkeypatch, tmp_path):
    """Where bubblewrap is installed, a failing probe is an error, never a silent fallback to
    unconfined kernels."""
    monkeypatch.setattr(sandbox, "_DETECTED", None)
    monkeypatch.setattr(sandbox, "_probe", lambda mode: "exit status 1: fork failed")
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(sandbox.sys, "platform", "linux")
    with pytest.raises(sandbox.SandboxBroken, match="--no-sandbox"):
        sandbox.detect()
    monkeypatch.setattr(sandbox, "_DETECTED", None)
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)      # no bubblewrap at all
    assert sandbox.detect() == "none"
