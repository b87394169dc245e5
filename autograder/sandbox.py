"""The sandbox around a student's kernel: the only place student code runs while grading.

The trust boundary is the kernel process itself. The executor (:mod:`autograder.executor`)
starts every kernel through this module's launcher (a kernelspec whose argv is
``python -m autograder.sandbox CONNECTION_FILE``); the launcher reads the policy from
``$AUTOGRADER_SANDBOX`` (set by the executor, never by student code), applies resource limits
and execs the kernel.

With bubblewrap (``bwrap``, Linux) the kernel gets an allowlisted view of the machine:

- its own mount, pid, network, IPC and UTS namespaces: no network (not even loopback: it talks
  to the executor over Unix sockets in ``/run/kernel``), its own ``/proc`` showing only itself;
- read-only: ``/usr``, ``/etc``, the Python installation, the virtual environment and the
  course's ``autograder`` and ``coursekit`` packages, nothing else of the host. ``solutions/``,
  the answer-key cache, hidden labels, the SUBMITTED and OUT folders, other submissions and
  the grader's scratch space are not hidden: they were never mounted;
- writable: fresh, size-limited tmpfs for ``/tmp``, ``/dev/shm`` and ``HOME=/home/student``
  (the notebook runs in ``/home/student/<assignment>``, a copy of the submitted files), made
  anew for every kernel: nothing written there reaches a later kernel;
- as root, the kernel runs under an unprivileged uid of its own per slot, leased for the run
  (:class:`UidLease`: no two runs on the machine share one, and whatever a crashed run left
  under it is ended first), with no capabilities and ``no_new_privs``; without root,
  bubblewrap's user namespace does the same job where the system allows unprivileged user
  namespaces.

Where bubblewrap is installed but a sandboxed kernel cannot start, :func:`detect` raises
:class:`SandboxBroken` rather than grade unconfined (a student's fork bomb holding a uid's
process limit must not turn the next run into an unsandboxed one); ``--no-sandbox`` is the
explicit way to grade without it.

Without bubblewrap (macOS, Windows, a Linux without it) only the resource limits, the private
HOME/TMPDIR and the separate working folder apply: the kernel then runs as the grader's user.
``SandboxPolicy.describe()`` says which one a run got.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .course import KERNEL_ENV

ENV = "AUTOGRADER_SANDBOX"
KERNEL_RUN = "/run/kernel"          # inside the sandbox: the connection file and the sockets
SUBMISSION_RO = "/run/submission"   # inside the sandbox: the submitted files, read-only
HOME = "/home/student"
KERNEL_UID_BASE = 60000             # root mode: kernels run as a leased uid/gid in 60000..60999
KERNEL_UIDS = 1000
UID_LEASES = Path("/run/autograder-kernel-uids")   # root-only folder of lock files, one per uid
TMPFS_MB = {"/tmp": 256, "/dev/shm": 64, HOME: 512}


@dataclass
class SandboxPolicy:
    """How kernels are confined. ``mode``: ``"bwrap-root"``, ``"bwrap-userns"`` or ``"none"``."""
    mode: str = "none"
    memory_mb: int | None = 4096
    cpus: list[int] | None = None
    nproc: int = 512
    file_mb: int = 256
    readonly: list[str] = field(default_factory=list)   # host paths visible (read-only) inside
    uid: int | None = None                               # bwrap-root: the kernel's uid and gid

    @property
    def isolated(self) -> bool:
        return self.mode.startswith("bwrap")

    def describe(self) -> str:
        if self.mode == "bwrap-root":
            return "bubblewrap sandbox, kernels under unprivileged uids (root)"
        if self.mode == "bwrap-userns":
            return "bubblewrap sandbox in a user namespace (not root)"
        return "no sandbox (student code runs as this user; only resource limits apply)"


# ----------------------------------------------------------------------------- what the kernel may see
def readonly_paths() -> list[str]:
    """Host paths a kernel needs: the Python installation, the environment, the course packages."""
    import autograder
    import coursekit
    paths = {sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable)),
             str(Path(autograder.__file__).resolve().parent), str(Path(coursekit.__file__).resolve().parent)}
    # keep only the outermost of nested paths (a venv inside the course root, ...)
    ordered = sorted({os.path.realpath(p) for p in paths})
    outer: list[str] = []
    for p in ordered:
        if not any(p == o or p.startswith(o + os.sep) for o in outer):
            outer.append(p)
    return outer


def course_package_parents() -> list[str]:
    """The folders holding the ``autograder`` and ``coursekit`` packages this process runs."""
    import autograder
    import coursekit
    return sorted({str(Path(m.__file__).resolve().parent.parent) for m in (autograder, coursekit)})


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    if os.path.isdir("/sys/devices/system/cpu"):     # torch reads the CPU topology here
        args += ["--ro-bind", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
    return args


def _parents(paths: list[str], skip: tuple[str, ...]) -> list[str]:
    """Ancestor folders bwrap must create (0755) so an unprivileged uid can reach the binds."""
    out: list[str] = []
    for p in paths:
        chain, d = [], os.path.dirname(p)
        while d not in ("/", ""):
            chain.append(d)
            d = os.path.dirname(d)
        for a in reversed(chain):
            if a not in out and not any(a == s or a.startswith(s + "/") for s in skip):
                out.append(a)
    return out


def bwrap_command(policy: SandboxPolicy, run_dir: str, submission_dir: str, assignment: str,
                  env: dict[str, str], argv: list[str]) -> list[str]:
    """The bubblewrap command line that runs ``argv`` in the sandbox (see the module doc)."""
    ro = [p for p in policy.readonly if os.path.exists(p)]
    cwd = f"{HOME}/{assignment}"
    args = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", *_system_binds()]
    if policy.mode == "bwrap-userns":
        args += ["--unshare-user", "--uid", "1000", "--gid", "1000"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    for mount, mb in TMPFS_MB.items():       # first: a read-only bind below /tmp (a course in /tmp) stays visible
        args += ["--perms", "1777" if mount != HOME else "0777", "--size", str(mb << 20), "--tmpfs", mount]
    for d in _parents(ro, skip=("/usr", "/etc", "/proc", "/dev")):
        if d not in TMPFS_MB and d != "/home":
            args += ["--perms", "0755", "--dir", d]
    for p in ro:
        args += ["--ro-bind", p, p]
    args += ["--perms", "0777", "--dir", cwd,
             "--perms", "0755", "--dir", "/run",
             "--bind", run_dir, KERNEL_RUN, "--ro-bind", submission_dir, SUBMISSION_RO,
             "--chdir", cwd, "--clearenv"]
    # The kernel imports the course packages the grader itself runs (mounted read-only above),
    # not whatever an editable install or the working directory would resolve to.
    parents = sorted({os.path.dirname(p) for p in policy.readonly if os.path.basename(p) in ("autograder", "coursekit")})
    env = dict(env, PYTHONPATH=os.pathsep.join(parents)) if parents else env
    for key, value in env.items():
        args += ["--setenv", key, value]
    inner = ["/bin/sh", "-c", f'cp -R {SUBMISSION_RO}/. . 2>/dev/null; exec "$@"', "sh", *argv]
    if policy.mode == "bwrap-root":
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                 "--cap-add", "CAP_SETPCAP", "--",
                 "setpriv", f"--reuid={policy.uid}", f"--regid={policy.uid}", "--clear-groups",
                 "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs", *inner]
    else:
        args += ["--", *inner]
    return args


def kernel_env(base: dict[str, str], home: str, cwd: str) -> dict[str, str]:
    """A kernel's environment: the grading settings, and private HOME/TMPDIR/XDG folders."""
    env = {k: v for k, v in base.items() if k in KEPT_ENV or k.startswith(("OMP_", "MKL_"))}
    env.update(HOME=home, USER="student", LOGNAME="student", PWD=cwd,
               TMPDIR=f"{home}/.tmp" if not home.startswith(HOME) else "/tmp",
               XDG_CACHE_HOME=f"{home}/.cache", XDG_CONFIG_HOME=f"{home}/.config",
               XDG_DATA_HOME=f"{home}/.local/share", XDG_RUNTIME_DIR=f"{home}/.run",
               IPYTHONDIR=f"{home}/.ipython", MPLCONFIGDIR=f"{home}/.config/matplotlib",
               JUPYTER_CONFIG_DIR=f"{home}/.jupyter", JUPYTER_DATA_DIR=f"{home}/.local/share/jupyter",
               JUPYTER_RUNTIME_DIR=f"{home}/.run/jupyter", JUPYTER_PLATFORM_DIRS="1",
               PATH=os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]))
    return env


# What of the executor's environment a kernel keeps (everything else is dropped): these, and the
# course's own (KERNEL_ENV in autograder/course.py).
KEPT_ENV = ("LANG", "LC_ALL", "PYTHONHASHSEED", "PYTHONUNBUFFERED", "MPLBACKEND", "NBGRADER_EXECUTION",
            "AUTOGRADER_EVIDENCE", "CUDA_VISIBLE_DEVICES", *KERNEL_ENV)


# ----------------------------------------------------------------------------- the launcher
def launch(connection_file: str, extra: list[str] = ()) -> None:
    """Run as the kernelspec's argv: set limits, then exec the kernel (in bwrap when isolated).

    ``$AUTOGRADER_SANDBOX`` holds ``{"policy": ..., "work": ..., "assignment": ...}``; ``work``
    is the submission's work folder (``files/``: the submitted files, ``run/``: the sockets,
    ``home/``: HOME when not isolated)."""
    spec = json.loads(os.environ[ENV])
    policy = SandboxPolicy(**spec["policy"])
    work, assignment = Path(spec["work"]), spec["assignment"]
    run_dir = work / "run"
    info = json.loads(Path(connection_file).read_text())
    _limits(policy)
    base_env = dict(os.environ)
    kernel_argv = [sys.executable, "-m", "ipykernel_launcher", "-f"]
    if policy.isolated:
        info["ip"] = f"{KERNEL_RUN}/{os.path.basename(info['ip'])}"
        conn = run_dir / "kernel.json"
        conn.write_text(json.dumps(info))
        conn.chmod(0o644)
        env = kernel_env(base_env, HOME, f"{HOME}/{assignment}")
        cmd = bwrap_command(policy, str(run_dir), str(work / "files"), assignment, env,
                            [*kernel_argv, f"{KERNEL_RUN}/kernel.json", *extra])
        os.execvp(cmd[0], cmd)
    home = work / "home"
    cwd = home / assignment
    if not cwd.exists():
        shutil.copytree(work / "files", cwd)
    for sub in (".tmp", ".cache", ".config", ".run"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env = kernel_env(base_env, str(home), str(cwd))
    os.chdir(cwd)
    os.execve(sys.executable, [*kernel_argv, connection_file, *extra], env)


def _limits(policy: SandboxPolicy) -> None:
    try:
        import resource
    except ImportError:          # Windows
        return
    def setlimit(which, value):
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass
    if policy.memory_mb:
        setlimit(resource.RLIMIT_AS, int(policy.memory_mb) << 20)
    setlimit(resource.RLIMIT_CORE, 0)
    setlimit(resource.RLIMIT_FSIZE, int(policy.file_mb) << 20)
    if policy.mode == "bwrap-root":      # counted per uid: each slot has its own
        setlimit(resource.RLIMIT_NPROC, policy.nproc)
    if policy.cpus and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, set(policy.cpus))
        except OSError:
            pass


# ----------------------------------------------------------------------------- which sandbox is here
_DETECTED: str | None = None


class SandboxBroken(RuntimeError):
    """The sandbox should work on this machine but does not now: the grader refuses to run
    student code without it."""


class UidLease:
    """Unprivileged uids for kernels (root mode), held for as long as this object lives: an
    exclusive lock per uid in a root-only folder, so two grading runs never share a uid (nor its
    process limit, nor the right to signal each other's kernels). A uid just leased can have
    no rightful process: any left by a crashed run is killed first."""

    def __init__(self, count: int):
        import fcntl
        self.uids: list[int] = []
        self._fds: list[int] = []
        UID_LEASES.mkdir(mode=0o700, exist_ok=True)
        for uid in range(KERNEL_UID_BASE, KERNEL_UID_BASE + KERNEL_UIDS):
            if len(self.uids) == count:
                break
            fd = os.open(UID_LEASES / str(uid), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            _end_processes_of(uid)
            self.uids.append(uid)
            self._fds.append(fd)
        if len(self.uids) < count:
            self.close()
            raise SandboxBroken(f"no free kernel uid in {KERNEL_UID_BASE}..{KERNEL_UID_BASE + KERNEL_UIDS - 1} "
                                f"(each grading run on this machine holds one per --jobs)")

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds, self.uids = [], []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _end_processes_of(uid: int) -> None:
    import psutil
    stale = []
    for p in psutil.process_iter(["uids"]):
        try:
            if p.info["uids"] and uid in (p.info["uids"].real, p.info["uids"].effective):
                p.kill()
                stale.append(p)
        except psutil.Error:
            pass
    psutil.wait_procs(stale, timeout=5)


def detect() -> str:
    """The best sandbox mode that works on this machine (probed once per process): ``"none"``
    where bubblewrap is not installed; raises :class:`SandboxBroken` where it is but fails."""
    global _DETECTED
    if _DETECTED is None:
        mode = "none"
        if sys.platform.startswith("linux") and shutil.which("bwrap") and \
                (os.geteuid() != 0 or shutil.which("setpriv")):
            mode = "bwrap-root" if os.geteuid() == 0 else "bwrap-userns"
            why = _probe(mode)
            if why:
                raise SandboxBroken(f"bubblewrap is installed but a sandboxed kernel could not start ({why}); "
                                    "refusing to run student code unconfined. Fix the sandbox, or pass "
                                    "--no-sandbox to grade without it.")
        _DETECTED = mode
    return _DETECTED


def _probe(mode: str) -> str:
    """Run the grader's Python in the sandbox: it must import the course packages, must not be
    root, must not write the read-only course and must not see a file outside its allowlist.
    Returns what went wrong ("" when it works)."""
    with tempfile.TemporaryDirectory(prefix="ag-probe-") as tmp:
        work = Path(tmp)
        for sub in ("run", "files"):
            (work / sub).mkdir()
            (work / sub).chmod(0o777)
        (work / "secret").write_text("x")
        lease = UidLease(1) if mode == "bwrap-root" else None
        try:
            policy = SandboxPolicy(mode=mode, readonly=readonly_paths(), uid=lease.uids[0] if lease else None)
            test = ("import os, pathlib, autograder.checks, coursekit\n"
                    f"assert os.getuid() != 0 and not os.path.exists({str(work / 'secret')!r})\n"
                    f"assert not os.access({str(Path(autograder_dir()))!r}, os.W_OK)\n"
                    f"pathlib.Path('/tmp/x').write_text('x'); pathlib.Path({KERNEL_RUN!r}, 'ok').write_text('x')\n")
            cmd = bwrap_command(policy, str(work / "run"), str(work / "files"), "probe", {"PATH": "/usr/bin:/bin"},
                                [sys.executable, "-c", test])
            try:
                proc = subprocess.run(cmd, capture_output=True, timeout=60)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"{type(exc).__name__}: {exc}"
        finally:
            if lease:
                lease.close()
        if proc.returncode != 0:
            tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
            return f"exit status {proc.returncode}: {tail[0][:300]}"
        return "" if (work / "run" / "ok").exists() else "the probe wrote nothing"


def autograder_dir() -> str:
    import autograder
    return str(Path(autograder.__file__).resolve().parent)


def policy_for(memory_mb: int | None, isolate: bool = True) -> SandboxPolicy:
    mode = detect() if isolate else "none"
    return SandboxPolicy(mode=mode, memory_mb=memory_mb, readonly=readonly_paths() if mode != "none" else [])


def kernelspec_dir(root: Path) -> Path:
    """A kernelspec folder whose kernel is started by :func:`launch`."""
    spec = root / "autograder-sandboxed"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "autograder.sandbox", "{connection_file}"],
        "display_name": "Python 3 (graded, sandboxed)", "language": "python",
        "interrupt_mode": "message",     # signals do not cross into the sandbox's session
        "env": {"OMP_WAIT_POLICY": "PASSIVE"},
    }))
    return root


def policy_json(policy: SandboxPolicy) -> dict:
    return asdict(policy)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print("usage: python -m autograder.sandbox CONNECTION_FILE   (a kernel launcher, started by the executor)",
              file=sys.stderr)
        sys.exit(2)
    launch(sys.argv[1], sys.argv[2:])
