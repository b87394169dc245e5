"""Feedback pages: what each test gave, what went wrong, without showing hidden test code.

A page is rendered in the grader from trusted sources and untrusted outputs:

- cell sources: the student's own cells and answers, the course's locked cells, and each test
  cell as the *release* shows it (a hidden test shows only its placeholder comment);
- outputs: those the executor sent back for the student's and the course's cells, bounded,
  with HTML sanitised (nbconvert's ``sanitize_html``: no script from a submission runs in the
  page). A test cell shows its verdict only: the check's message, never a traceback (which
  would print hidden lines), and a hidden test shows nothing its code printed;
- a summary table of every test and its score, and the grader's notes.
"""
from __future__ import annotations

import html

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

STYLE = ("body{font-family:sans-serif;max-width:60em;margin:2em auto} .box{border:1px solid #c33;padding:1em;background:#fee}"
         " .note{border:1px solid #c90;background:#ffd;padding:.5em;margin:1em 0}"
         " table.scores{border-collapse:collapse} table.scores td,table.scores th{border:1px solid #999;padding:3px 8px}")


def _esc(text) -> str:
    return html.escape(str(text))


def scores_table(rows: list[tuple[str, float, float, str]]) -> str:
    """rows: (test, score, points, message)."""
    body = "".join(
        f"<tr><td>{_esc(gid)}</td><td>{score:g} / {points:g}</td><td>{'passed' if score >= points else _esc(msg)}</td></tr>"
        for gid, score, points, msg in rows)
    return (f'<table class="scores"><tr><th>test</th><th>score</th><th></th></tr>{body}</table>')


def header(student_id: str, assignment: str, notebook: str, score: float, max_score: float,
           notes: list[str], extra_html: str = "") -> str:
    banner = "".join(f"<p>{_esc(n)}</p>" for n in notes)
    return (f"<h1>{_esc(assignment)}: {_esc(notebook)}.ipynb</h1>"
            f"<p>Student: <b>{_esc(student_id)}</b> &mdash; score <b>{score:g} / {max_score:g}</b></p>"
            + (f'<div class="note">{banner}</div>' if banner else "") + extra_html)


def problem_page(student_id: str, assignment: str, notebook: str, problem: str, max_score: float,
                 notes: list[str] = (), extra_html: str = "") -> str:
    """A stand-alone page for a submission the grader could not run."""
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Feedback: {_esc(assignment)} / {_esc(notebook)}</title>
<style>{STYLE}</style></head><body>
{header(student_id, assignment, notebook, 0, max_score, list(notes), extra_html)}
<div class="box"><h2>Your submission could not be graded normally</h2>
<pre>{_esc(problem)}</pre></div>
<p>Fix the problem above and resubmit, or contact your instructor.
You can check your notebook yourself before submitting with
<code>python -m autograder check {_esc(notebook)}.ipynb</code>.</p>
</body></html>
"""


def _clean_outputs(outputs) -> list:
    """Outputs from the executor as valid nbformat outputs (anything malformed is dropped)."""
    kept = []
    for out in outputs if isinstance(outputs, list) else []:
        if not isinstance(out, dict):
            continue
        kind = out.get("output_type")
        try:
            if kind == "stream":
                kept.append(new_output("stream", name="stderr" if out.get("name") == "stderr" else "stdout",
                                       text=str(out.get("text", ""))))
            elif kind == "error":
                kept.append(new_output("error", ename=str(out.get("ename", "Error")), evalue=str(out.get("evalue", "")),
                                       traceback=[str(t) for t in out.get("traceback", []) if isinstance(t, str)][:60]))
            elif kind in ("display_data", "execute_result") and isinstance(out.get("data"), dict):
                data = {k: v for k, v in out["data"].items()
                        if isinstance(k, str) and k in _MIMES and isinstance(v, (str, list))}
                if data:
                    kwargs = {"execution_count": None} if kind == "execute_result" else {}
                    kept.append(new_output(kind, data=data, **kwargs))
        except Exception:
            continue
    return kept


_MIMES = ("text/plain", "text/html", "text/markdown", "text/latex", "image/png", "image/jpeg", "image/svg+xml")


def notebook_page(student_id: str, assignment: str, notebook: str, cells: list[dict], answer_cells: list,
                  tests: dict[int, tuple[str, bool, float, float, str]], notes: list[str], extra_html: str) -> str:
    """The page for a graded notebook.

    ``cells``: the graded notebook's cells with the source to show (``show``); ``answer_cells``:
    the executor's cells (outputs); ``tests``: index -> (grade_id, hidden, score, points, message)."""
    from nbconvert import HTMLExporter

    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                                "language_info": {"name": "python"}})
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "markdown":
            nb.cells.append(new_markdown_cell(cell["show"]))
            continue
        if cell["cell_type"] != "code":
            nb.cells.append(new_raw_cell(cell["show"]))
            continue
        executed = answer_cells[i] if i < len(answer_cells) and isinstance(answer_cells[i], dict) else {}
        code = new_code_cell(cell["show"])
        if i in tests:
            gid, hidden, score, points, message = tests[i]
            outputs = [] if hidden else [o for o in _clean_outputs(executed.get("outputs")) if o.output_type != "error"]
            verdict = (f"{gid}: {score:g} / {points:g} points" + ("" if score >= points else f"\n{message}"))
            if score >= points:
                outputs.append(new_output("stream", name="stdout", text=f"[grader] {verdict}\n"))
            else:
                ename, _, evalue = message.partition(": ") if message.split(": ", 1)[0].isidentifier() else ("", "", message)
                outputs.append(new_output("error", ename=ename or "TestFailed", evalue=evalue or message,
                                          traceback=[f"[grader] {gid}: 0 / {points:g} points", message]))
            code.outputs = outputs
        else:
            code.outputs = _clean_outputs(executed.get("outputs"))
        nb.cells.append(code)
    exporter = HTMLExporter(template_name="lab", sanitize_html=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nbformat.from_dict(nb))
    return body


def add_header(page: str, head_html: str) -> str:
    head_html = f"<style>{STYLE}</style>" + head_html
    if "<body" in page:
        start = page.index("<body")
        end = page.index(">", start) + 1
        return page[:end] + f'<div style="max-width:60em;margin:1em auto">{head_html}</div>' + page[end:]
    return head_html + page
