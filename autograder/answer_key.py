"""The answer key of an assignment: its cells and the solution's evidence records (trusted).

Built from the course's own files only: ``solutions/<hw>/<hw>.ipynb`` (hidden tests, points)
and ``assignments/<hw>/<hw>.ipynb`` (what students see). The reference records come from
running the solution notebook exactly as a submission is run (same intake, same executor, same
sandbox: :func:`reference_run`), once per content of what they depend on, cached in the
grader's cache folder (never visible to a kernel).

The cache works like ``make`` with a depfile (:func:`load_answer_key`):

- the file's **name** is :func:`lookup_key`: what is known before anything runs, the solution
  and release notebooks, the stub of an unanswered cell and the grader's own code that turns a
  notebook into records (:func:`grader_modules`);
- the file **holds** the records and what the reference run turned out to depend on
  (``depends``): every course source file the solution's kernel had loaded, with its sha256,
  the versions of the installed distributions it had loaded (torch, numpy, ...) and Python's.
  The kernel itself says what it loaded (:data:`DEPENDS_CELL`, appended to the reference run
  only, never to a student's run); the grader hashes the files. A cached file counts only while
  every one of those files still has its hash and every version is still installed; anything
  else (an old format, a torn or corrupted file) is a miss, and the run is redone.

Not in the key: what the caller's ``execute`` adds (``autograder.grade``'s environment for the
executor: thread counts, which vary with ``--jobs``, and the cell timeout), and files a kernel
reads without importing them. In the sandbox a kernel sees nothing of the course but its
``autograder`` and ``coursekit`` packages, so its modules are all it can depend on; an
unsandboxed run could read other files (``data/``), which are not tracked. Files are hashed
when the run has finished: an edit made while it runs may go unnoticed until the next one.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import platform
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import evidence, notebooks
from .course import PREDICTION_TASKS, PredictionTask, nbgrader_config
from .intake import GradedNotebook, KeyCell, graded_notebook


class GradingError(Exception):
    """The grader itself cannot do its job (not: a submission is broken). ``results``: what it
    did grade and write before it found out, if anything."""

    def __init__(self, message: str, results=None):
        super().__init__(message)
        self.results = results


@dataclass
class AnswerKey:
    assignment: str
    cells: list[KeyCell]
    stub: str                                   # what a solution cell holds before the student writes it
    reference: dict[str, list] = field(default_factory=dict)   # test grade_id -> the solution's records
    predictions: PredictionTask | None = None
    answers_path: Path | None = None
    release_metadata: dict = field(default_factory=dict)     # grade_id -> the release cell's nbgrader metadata

    @property
    def notebook(self) -> str:
        return self.assignment

    @property
    def tests(self) -> dict[str, float]:
        return {k.grade_id: k.points for k in self.cells if k.role == "test"}

    @property
    def answers(self) -> dict[str, float]:
        """Hand-graded answer cells (written questions): grade_id -> points."""
        return {k.grade_id: k.points for k in self.cells if k.role == "answer"}

    @property
    def max_score(self) -> float:
        return (sum(self.tests.values()) + sum(self.answers.values())
                + (self.predictions.max_score if self.predictions else 0.0))


def _role(meta: dict) -> str:
    if meta.get("solution") and meta.get("grade"):
        return "answer"          # written by the student, graded by hand
    if meta.get("solution"):
        return "solution"
    if meta.get("grade"):
        return "test"
    return "locked"


def load_cells(root: Path, assignment: str) -> list[KeyCell]:
    """The key's cells, in the release's order, from the solution and the release notebooks."""
    solution_path = root / "solutions" / assignment / f"{assignment}.ipynb"
    release_path = root / "assignments" / assignment / f"{assignment}.ipynb"
    for path in (solution_path, release_path):
        if not path.exists():
            raise GradingError(f"{path} does not exist: cannot grade {assignment} (run `python -m autograder build`)")
    solution, release = notebooks.read(solution_path), notebooks.read(release_path)
    released = {notebooks.grade_id(c): c for c in release.cells if notebooks.grade_id(c)}
    cells = []
    for c in solution.cells:
        meta = c.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if not gid:
            raise GradingError(f"{solution_path}: every cell needs a grade_id (nbgrader metadata); one has none")
        visible = released[gid].source if gid in released else ""
        role = _role(meta)
        cells.append(KeyCell(gid, c.cell_type, role, c.source if role != "locked" else visible or c.source,
                             visible, float(meta.get("points", 0) or 0) if role in ("test", "answer") else 0.0))
    return cells


def code_stub() -> str:
    return nbgrader_config(Path(".")).ClearSolutions.code_stub["python"]


def runnable_cells(gnb: GradedNotebook) -> list[dict]:
    """The cells as the kernel gets them: test cells in their grading form, no reference side."""
    out = []
    for i, cell in enumerate(gnb.cells):
        source = evidence.grading_source(cell["source"]) if i in gnb.tests else cell["source"]
        out.append({"cell_type": cell["cell_type"], "source": source})
    return out


def solution_as_submission(cells: list[KeyCell]) -> list[dict]:
    return [{"cell_type": k.cell_type, "grade_id": k.grade_id,
             "source": notebooks.fill_in(k.source) if k.role in ("solution", "answer") else k.source} for k in cells]


CACHE_FORMAT = 2
# Where the kernel is asked what it loaded (a display output of the appended cell).
DEPENDS_MIME = "application/vnd.attention-course.depends+json"
# The grader modules a reference run goes through, as the roots of :func:`grader_modules`:
# this module (the grader's side) and the executor (its own process, which starts the kernel
# through ``autograder.sandbox``).
GRADER_ROOTS = ("answer_key", "executor")
# Installed distributions the grader's side of the run uses (the kernel reports its own).
GRADER_DISTRIBUTIONS = ("nbclient", "jupyter_client", "nbformat")


def _package() -> Path:
    """The folder of the ``autograder`` package this process runs."""
    return Path(__file__).resolve().parent


def grader_modules() -> list[str]:
    """The ``autograder`` modules that shape reference records, as file names in the package:
    :data:`GRADER_ROOTS` and every module of the package they import, directly or not
    (``from . import x``, ``from .x import y``, ``import autograder.x``, at any depth of the
    source, so an import inside a function counts).

    The list is read from the sources (``ast``), not from ``sys.modules``: which ``autograder``
    modules a process has imported depends on how it was started (``grade`` imports
    ``checks`` in a thread while kernels start; the CLI, the tests and nbgrader's preprocessor
    import different things) and on timing, so a key built from ``sys.modules`` would differ
    between two runs on the same files. The import graph of the sources is the same for every
    caller. It gives ``answer_key, checks, course, evidence, execution, executor, intake,
    notebooks, sandbox, verdict`` and the package's ``__init__``; ``site.py``, ``grade.py``,
    ``feedback.py``... are not reached, so editing them keeps the cache."""
    package = _package()
    todo, seen = list(GRADER_ROOTS), set()
    while todo:
        name = todo.pop()
        path = package / f"{name}.py"
        if name in seen or not path.is_file():
            continue
        seen.add(name)
        for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
            if isinstance(node, ast.ImportFrom):
                parts = (node.module or "").split(".")
                if node.level == 1 or (node.level == 0 and parts[0] == "autograder"):
                    inner = parts if node.level == 1 else parts[1:]
                    todo.extend([inner[0]] if inner and inner[0] else [a.name for a in node.names])
            elif isinstance(node, ast.Import):
                todo.extend(a.name.split(".")[1] for a in node.names
                            if a.name.startswith("autograder."))
    return sorted(seen | {"__init__"})


def _update(h, label: str, data: bytes) -> None:
    h.update(f"{label}\0{len(data)}\0".encode() + data)


def lookup_key(root: Path, assignment: str, stub: str) -> str:
    """The cache file's name part: the notebooks, the stub and the grader's own record-producing
    code (:func:`grader_modules`, by module name and content, so two checkouts with the same
    files share a key). What the solution's kernel loads is checked from the file's
    ``depends`` instead (it is only known after a run)."""
    h = hashlib.sha256(f"reference-cache v{CACHE_FORMAT}\0".encode())
    for label, path in (("solution", root / "solutions" / assignment / f"{assignment}.ipynb"),
                        ("release", root / "assignments" / assignment / f"{assignment}.ipynb")):
        _update(h, label, path.read_bytes())
    _update(h, "stub", stub.encode())
    package = _package()
    for name in grader_modules():
        _update(h, f"autograder/{name}.py", (package / f"{name}.py").read_bytes())
    return h.hexdigest()[:24]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _dependency_path(root: Path, name: str) -> Path:
    return Path(name) if os.path.isabs(name) else root / name


def depends_from_report(root: Path, report) -> dict | None:
    """The cache's ``depends`` from the kernel's report (:data:`DEPENDS_CELL`): each file,
    relative to the course root when inside it, with its sha256 now; the versions; Python's.
    ``None`` if the report is missing or malformed, or a file cannot be read."""
    from importlib.metadata import PackageNotFoundError, version
    if not isinstance(report, dict) or not isinstance(report.get("files"), list) \
            or not isinstance(report.get("versions"), dict) or not isinstance(report.get("python"), str):
        return None
    base = root.resolve()
    files = {}
    for name in report["files"]:
        if not isinstance(name, str) or not os.path.isabs(name):
            return None
        path = Path(name)
        try:
            files[path.relative_to(base).as_posix() if path.is_relative_to(base) else name] = _sha256(path)
        except OSError:
            return None
    versions = {str(k): str(v) for k, v in report["versions"].items()}
    for dist in GRADER_DISTRIBUTIONS:
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return {"files": dict(sorted(files.items())), "versions": dict(sorted(versions.items())),
            "python": report["python"]}


def stale(root: Path, depends) -> str:
    """'' while everything in ``depends`` is as recorded, else the first thing that changed."""
    from importlib.metadata import PackageNotFoundError, version
    if not isinstance(depends, dict) or not isinstance(depends.get("files"), dict) \
            or not isinstance(depends.get("versions"), dict):
        return "no dependency list"
    if depends.get("python") != platform.python_version():
        return f"Python {depends.get('python')} -> {platform.python_version()}"
    for name, recorded in depends["files"].items():
        try:
            if _sha256(_dependency_path(root, str(name))) != recorded:
                return f"{name} changed"
        except OSError:
            return f"{name} is gone"
    for dist, recorded in depends["versions"].items():
        try:
            if version(str(dist)) != recorded:
                return f"{dist} {recorded} -> {version(str(dist))}"
        except PackageNotFoundError:
            return f"{dist} is no longer installed"
    return ""


def cache_path(root: Path, assignment: str, stub: str | None = None) -> Path:
    return cache_dir() / f"{assignment}-{lookup_key(root, assignment, code_stub() if stub is None else stub)}.reference.json"


def read_cache(root: Path, path: Path, tests) -> dict[str, list] | None:
    """The cached records if ``path`` holds a valid entry of this format whose dependencies are
    unchanged and which covers exactly ``tests``; else ``None`` (a miss: never an error)."""
    try:
        entry = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(entry, dict) or entry.get("format") != CACHE_FORMAT:
        return None
    records = entry.get("records")
    if not isinstance(records, dict) or set(records) != set(tests) \
            or not all(isinstance(v, list) and v for v in records.values()):
        return None
    if stale(root, entry.get("depends")):
        return None
    return records


def write_cache(path: Path, records: dict[str, list], depends: dict) -> None:
    """Best effort, atomically: a read-only home only costs the reference run again."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"format": CACHE_FORMAT, "depends": depends, "records": records}, f)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass

def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "attention-course-autograder"


# The trusted cell appended to the *reference* run (the solution, never a submission): it
# publishes every file the kernel has loaded a module from, except the Python installation's
# (the standard library, site-packages: those count by version), and the versions of the
# distributions those installed modules belong to. Course packages are found wherever they are
# (the course root, the grader's packages, an editable install elsewhere), without a hand list.
DEPENDS_CELL = f'''\
def _autograder_depends():
    import os, platform, site, sys
    from importlib import metadata
    from IPython.display import publish_display_data
    installed = {{os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}}
    try:
        installed.update(os.path.realpath(p) for p in [*site.getsitepackages(), site.getusersitepackages()])
    except Exception:
        pass
    here = os.path.realpath(os.getcwd())
    files, tops = set(), {{"torch", "numpy"}}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not path:
            continue
        path = os.path.realpath(path)
        if not os.path.isfile(path) or path.startswith(here + os.sep):
            continue
        if any(path.startswith(p + os.sep) for p in installed) or "-packages" + os.sep in path:
            tops.add(name.partition(".")[0])
        else:
            files.add(path)
    try:
        owners = metadata.packages_distributions()
    except Exception:
        owners = {{}}
    versions = {{}}
    for top in tops:
        for dist in owners.get(top, ()):
            try:
                versions[dist] = metadata.version(dist)
            except Exception:
                pass
    publish_display_data({{{DEPENDS_MIME!r}: {{"files": sorted(files), "versions": versions,
                                             "python": platform.python_version()}}}})
_autograder_depends()
del _autograder_depends
'''


@dataclass
class ReferenceRun:
    records: dict[str, list]          # test grade_id -> the solution's records
    loaded: dict | None = None        # the kernel's report (DEPENDS_CELL), when asked for


def run_reference(key: AnswerKey, execute, prelude: str | None = None, report: bool = False) -> ReferenceRun:
    """Run the solution as a submission is run; its records per test cell and, with ``report``,
    what its kernel loaded (:data:`DEPENDS_CELL`, run after the last cell).

    ``execute(gnb_cells, tests, files) -> answer`` is the grader's executor call. ``prelude``:
    code run after the first code cell (the tests use it to perturb the global RNG)."""
    from .verdict import cell_passed
    gnb = graded_notebook(key.cells, solution_as_submission(key.cells), key.stub)
    cells = runnable_cells(gnb)
    tests = dict(gnb.tests)
    if prelude:
        first = next(i for i, c in enumerate(cells) if c["cell_type"] == "code")
        cells.insert(first + 1, {"cell_type": "code", "source": prelude})
        tests = {(i + 1 if i > first else i): g for i, g in tests.items()}
    if report:
        cells.append({"cell_type": "code", "source": DEPENDS_CELL})
    answer = execute(cells, tests, {})
    if answer.get("error"):
        raise GradingError(f"the solution of {key.assignment} could not be run to record the reference: {answer['error']}")
    out = {}
    for index, gid in tests.items():
        cell = answer["cells"][index]
        ok, why = cell_passed(cell.get("outputs", []), cell.get("execution_count"))
        if not ok:
            raise GradingError(f"the solution of {key.assignment} fails its own test {gid}: {why}")
        out[gid] = answer.get("records", {}).get(str(index), [])
        if not out[gid]:
            raise GradingError(f"the solution's test {gid} ({key.assignment}) records no value: the grader "
                               "could not verify a submission's")
    loaded = None
    if report and len(answer.get("cells", [])) == len(cells):
        for output in answer["cells"][-1].get("outputs", []):
            data = output.get("data") if isinstance(output, dict) else None
            if output.get("output_type") == "display_data" and isinstance(data, dict) and DEPENDS_MIME in data:
                loaded = data[DEPENDS_MIME]
    return ReferenceRun(out, loaded)


def reference_run(key: AnswerKey, execute, prelude: str | None = None) -> dict[str, list]:
    """The solution's records, ``{test grade_id: records}`` (:func:`run_reference`)."""
    return run_reference(key, execute, prelude).records


def load_answer_key(root: Path, assignment: str, execute, answers: Path | None = None) -> AnswerKey:
    """The answer key, with reference records from the cache or a fresh reference run (see the
    module's docstring). A run whose kernel did not say what it loaded is not cached."""
    key = AnswerKey(assignment, load_cells(root, assignment), code_stub(), predictions=PREDICTION_TASKS.get(assignment))
    release = notebooks.read(root / "assignments" / assignment / f"{assignment}.ipynb")
    key.release_metadata = {notebooks.grade_id(c): dict(c.metadata["nbgrader"]) for c in release.cells
                            if notebooks.grade_id(c)}
    cached = cache_path(root, assignment, key.stub)
    records = read_cache(root, cached, key.tests)
    if records is None:
        run = run_reference(key, execute, report=True)
        records = run.records
        depends = depends_from_report(root, run.loaded)
        if depends is not None:
            write_cache(cached, records, depends)
        else:
            print(f"warning: the reference run of {assignment} did not say what it loaded; its records "
                  "are not cached", file=sys.stderr)
    key.reference = records
    if set(key.reference) != set(key.tests):
        raise GradingError(f"the reference records of {assignment} do not cover its tests")
    return key
