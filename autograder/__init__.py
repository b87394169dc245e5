"""Build, self-check and grade the course's nbgrader assignments (see `python -m autograder -h`)."""
