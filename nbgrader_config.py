# nbgrader configuration for instructors using JupyterLab's formgrader from the repository root.
# solutions/ is the nbgrader source directory, assignments/ the release directory. The settings
# themselves live in autograder/course.py, shared with `python -m autograder build|grade`.
import os
import sys
from pathlib import Path

# nbgrader creates and upgrades the gradebook by running `alembic` by name: this environment's
# scripts must be on PATH (formgrader hangs on "Loading, please wait" and the command line fails
# on a new gradebook otherwise), however JupyterLab or nbgrader was started.
_bin = os.path.dirname(sys.executable)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from autograder.course import nbgrader_config  # noqa: E402

c = get_config()  # noqa: F821
c.merge(nbgrader_config(Path(__file__).resolve().parent))

# The course-local exchange (c.Exchange.root, see autograder/course.py) must exist for the
# Assignment List; on a JupyterHub, point c.Exchange.root at the shared folder instead.
os.makedirs(Path(__file__).resolve().parent / "exchange", exist_ok=True)
