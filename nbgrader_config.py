# nbgrader configuration for instructors using JupyterLab's formgrader from the repository root.
# solutions/ is the nbgrader source directory, assignments/ the release directory. The settings
# themselves live in autograder/course.py, shared with `python -m autograder build|grade`.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from autograder.course import nbgrader_config  # noqa: E402

c = get_config()  # noqa: F821
c.merge(nbgrader_config(Path(__file__).resolve().parent))
