"""Feedback that tells the student what went wrong without showing hidden test code."""
from __future__ import annotations

import html


def problem_page(student_id: str, assignment: str, notebook: str, problem: str, max_score: float) -> str:
    """A stand-alone feedback page for a submission the grader could not run."""
    esc = html.escape
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Feedback: {esc(assignment)} / {esc(notebook)}</title>
<style>body{{font-family:sans-serif;max-width:50em;margin:2em auto}} .box{{border:1px solid #c33;padding:1em;background:#fee}}</style>
</head><body>
<h1>{esc(assignment)}: {esc(notebook)}.ipynb</h1>
<p>Student: <b>{esc(student_id)}</b></p>
<p>Score: <b>0 / {max_score:g}</b></p>
<div class="box"><h2>Your submission could not be graded normally</h2>
<pre>{esc(problem)}</pre></div>
<p>Fix the problem above and resubmit, or contact your instructor.
You can check your notebook yourself before submitting with
<code>python -m autograder check {esc(notebook)}.ipynb</code>.</p>
</body></html>
"""


def scores_page(student_id: str, assignment: str, notebook: str,
                scores: dict[str, tuple[float, float]], note: str) -> str:
    """A plain feedback page listing each test's score (used when nbgrader's page is missing)."""
    esc = html.escape
    rows = "".join(f"<tr><td>{esc(gid)}</td><td>{s:g} / {m:g}</td></tr>" for gid, (s, m) in scores.items())
    total, best = sum(s for s, _ in scores.values()), sum(m for _, m in scores.values())
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Feedback: {esc(assignment)} / {esc(notebook)}</title></head>
<body style="font-family:sans-serif;max-width:50em;margin:2em auto">
<h1>{esc(assignment)}: {esc(notebook)}.ipynb</h1>
<p>Student: <b>{esc(student_id)}</b> &mdash; score <b>{total:g} / {best:g}</b></p>
<p>{esc(note)}</p>
<table border="1" cellpadding="4"><tr><th>test</th><th>score</th></tr>{rows}</table>
</body></html>
"""
