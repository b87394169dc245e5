"""The executor: the one process that runs graded notebooks, and the grader's side of it.

This module owns the grader-executor protocol (both ends are here, nowhere else).

- The grader starts one executor per grading slot (``python -m autograder.executor``) and
  keeps it for the run (imports are paid once per slot). It writes one JSON request per line
  on the executor's stdin and reads one JSON answer per line from the executor's stdout.
- The executor runs the request's notebook with :class:`autograder.execution.GradingClient`;
  every kernel starts through :mod:`autograder.sandbox`, in its own sandbox and uid, so the
  student's code can neither see nor signal the executor, and cannot write to its channel
  (the answer goes to a descriptor no child inherits). The kernel only sends Jupyter messages,
  which the executor keeps within bounds, and the grader treats the answer as untrusted data.

Request: ``{"id", "cells": [{"cell_type", "source"}], "tests": [cell index, ...], "work",
"assignment", "policy", "cell_timeout", "env"}``. ``work`` is the submission's work folder
(:class:`WorkFolder`). Answer: ``{"id", "cells": [{"outputs", "execution_count"}], "records":
{index: [record, ...]}, "notes": [...], "error": ""}``.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

MAX_ANSWER_BYTES = 96 << 20       # outputs and records are bounded well below this by the executor
EXECUTOR_MEMORY_MB = 3072


# ----------------------------------------------------------------------------- the work folder
@dataclass
class WorkFolder:
    """One submission's folder in the grader's scratch space (0700, the grader's own):

    - ``files/``: the submitted regular files, copied by intake (the kernel sees them read-only
      and works on a copy);
    - ``run/``: the kernel's connection file and sockets;
    - ``home/``: HOME for a kernel without a sandbox (with one, HOME is a tmpfs);
    - ``kernel.log``: the kernel's own stderr (bounded by the file-size limit).

    Nothing in it is read back by the grader except ``kernel.log``'s tail, as text."""
    path: Path

    @property
    def files(self) -> Path:
        return self.path / "files"

    @property
    def run(self) -> Path:
        return self.path / "run"

    def create(self, files: dict[str, bytes], kernel_uid: int | None) -> "WorkFolder":
        """As root (``kernel_uid`` given), ``run/`` is a 4 MB tmpfs owned by the kernel's uid: the
        one host folder a sandboxed kernel can write holds its sockets and nothing big."""
        self.path.mkdir(mode=0o700)
        self.files.mkdir()
        self.run.mkdir()
        for name, data in files.items():
            (self.files / name).write_bytes(data)
            (self.files / name).chmod(0o644)
        self.files.chmod(0o755)
        self.run.chmod(0o700)
        if kernel_uid is not None:     # the kernel's uid must create its sockets here, and only here
            self.mounted = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size=4m,mode=0700,uid={kernel_uid},gid={kernel_uid}",
                 "ag-run", str(self.run)], capture_output=True).returncode == 0
            if not self.mounted:
                os.chown(self.run, kernel_uid, kernel_uid)
        return self

    mounted: bool = False

    def remove(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.run)], capture_output=True)
        shutil.rmtree(self.path, ignore_errors=True)


# ----------------------------------------------------------------------------- executor side
def _become_subreaper() -> None:
    """Orphans of a kernel without a sandbox are re-parented here (Linux), so they can be killed."""
    if sys.platform.startswith("linux"):
        import ctypes
        try:
            ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)   # PR_SET_CHILD_SUBREAPER
        except (OSError, AttributeError):
            pass


def _kill_children() -> None:
    import psutil
    children = psutil.Process().children(recursive=True)
    for child in children:
        try:
            child.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(children, timeout=5)


def run_request(request: dict, spec_dir: Path) -> dict:
    """Execute one request (in the executor process)."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    from .execution import GradingClient
    from .sandbox import ENV as SANDBOX_ENV

    cells = []
    for c in request["cells"]:
        if c["cell_type"] == "code":
            cells.append(nbformat.v4.new_code_cell(c["source"]))
        elif c["cell_type"] == "markdown":
            cells.append(nbformat.v4.new_markdown_cell(c["source"]))
        else:
            cells.append(nbformat.v4.new_raw_cell(c["source"]))
    nb = nbformat.v4.new_notebook(cells=cells)
    work = Path(request["work"])
    transport = "ipc" if os.name == "posix" else "tcp"
    specs = KernelSpecManager(kernel_dirs=[str(spec_dir)])

    def kernel_manager():
        kwargs = {"transport": "ipc", "ip": str(work / "run" / "k")} if transport == "ipc" else {}
        return AsyncKernelManager(kernel_name="autograder-sandboxed", kernel_spec_manager=specs, **kwargs)

    env = dict(os.environ)
    env.update(request.get("env", {}))
    env[SANDBOX_ENV] = json.dumps({"policy": request["policy"], "work": str(work),
                                   "assignment": request["assignment"]})
    # The executor is a subreaper: whatever a dead kernel forked is now its child, and all of
    # its children are kernels of this request; between two kernels they all go.
    client = GradingClient(nb, test_cells=[int(i) for i in request["tests"]], kernel_factory=kernel_manager,
                           reap=_kill_children,
                           timeout=int(request["cell_timeout"]), shutdown_kernel="immediate",
                           resources={"metadata": {"path": str(work)}})
    answer = {"id": request["id"], "error": ""}
    log = open(work / "kernel.log", "ab")
    try:
        client.execute(env=env, stdout=log, stderr=log)
    except Exception as exc:   # the kernel never started, or nbclient gave up: the grader says so
        answer["error"] = f"{type(exc).__name__}: {str(exc)[:500]}"
    finally:
        log.close()
    result = client.result()
    answer["cells"] = [{"outputs": c.get("outputs", []) if c.cell_type == "code" else [],
                        "execution_count": c.get("execution_count")} for c in result.cells]
    answer["records"] = {str(k): v for k, v in result.records.items()}
    answer["notes"] = result.notes
    return answer


def serve() -> int:
    """The executor's loop: one request per stdin line, one answer per line on the protocol
    descriptor (a private duplicate of stdout; fd 1 itself then points at the log)."""
    protocol = os.fdopen(os.dup(1), "w")       # os.dup: not inheritable, so no kernel gets it
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _become_subreaper()
    from .sandbox import kernelspec_dir
    spec_dir = kernelspec_dir(Path(os.environ["AUTOGRADER_EXECUTOR_SPECS"]))
    import nbclient  # noqa: F401  (the imports, once)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        t0 = time.perf_counter()
        try:
            answer = run_request(request, spec_dir)
        except Exception as exc:
            answer = {"id": request.get("id"), "error": f"{type(exc).__name__}: {exc}", "cells": [], "records": {},
                      "notes": []}
        finally:
            _kill_children()
        answer["seconds"] = time.perf_counter() - t0
        protocol.write(json.dumps(answer) + "\n")
        protocol.flush()
    return 0


# ----------------------------------------------------------------------------- grader side
class Failure(Exception):
    """The executor did not answer (timeout, death, an answer too large)."""


class ExecutorProcess:
    """The grader's handle on one executor: start, ask, stop (every process it started)."""

    def __init__(self, env: dict, log_path: Path, specs_dir: Path, cpus: tuple[int, ...] | None = None):
        self.env = dict(env, AUTOGRADER_EXECUTOR_SPECS=str(specs_dir))
        self.log_path, self.cpus = log_path, cpus
        self.proc: subprocess.Popen | None = None
        self.answers: queue.Queue = queue.Queue()
        self.lock = threading.Lock()

    def _preexec(self) -> None:
        import resource
        limit = EXECUTOR_MEMORY_MB << 20
        try:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ValueError, OSError):
            pass
        if self.cpus and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, set(self.cpus))
        if sys.platform.startswith("linux"):      # if the grader dies, so does its executor
            import ctypes
            try:
                ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)   # PR_SET_PDEATHSIG
            except (OSError, AttributeError):
                pass

    def _start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.executor"], env=self.env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                     start_new_session=True, preexec_fn=self._preexec if os.name == "posix" else None)
        log.close()
        answers, stdout = queue.Queue(), self.proc.stdout
        self.answers = answers

        def pump():
            while True:
                line = stdout.readline(MAX_ANSWER_BYTES + 1)
                if not line:
                    break
                if len(line) > MAX_ANSWER_BYTES or not line.endswith(b"\n"):
                    answers.put(Failure("the executor's answer was larger than the grader accepts"))
                    while line and not line.endswith(b"\n"):
                        line = stdout.readline(1 << 20)
                    continue
                answers.put(line)
            answers.put(None)                      # EOF: the executor is gone
        threading.Thread(target=pump, daemon=True).start()

    def ask(self, request: dict, timeout: float) -> dict:
        """Send a request and wait for its answer; ``Failure`` says why there is none."""
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self._start()
            try:
                self.proc.stdin.write((json.dumps(request) + "\n").encode())
                self.proc.stdin.flush()
            except OSError:
                self.stop()
                raise Failure("The grading executor could not be started.") from None
            deadline = time.monotonic() + timeout
            while True:
                try:
                    item = self.answers.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    self.stop()
                    raise Failure(f"Grading was stopped after {timeout:g} s (the whole-notebook time limit).") from None
                if item is None:
                    self.stop()
                    raise Failure("The grading executor died while running this notebook.")
                if isinstance(item, Failure):
                    self.stop()
                    raise item
                try:
                    answer = json.loads(item)
                except ValueError:
                    continue
                if isinstance(answer, dict) and answer.get("id") == request["id"]:
                    return answer

    def stop(self) -> None:
        """Kill the executor, its process group and every process below it (kernels in a
        sandbox die with it: bubblewrap's --die-with-parent)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        kill_tree(proc.pid)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def kill_tree(pid: int) -> None:
    """Kill a process, its process group and all its descendants."""
    import psutil
    try:
        family = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        family = []
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass
    for p in family:
        try:
            p.kill()
        except psutil.Error:
            pass


if __name__ == "__main__":
    sys.exit(serve())
