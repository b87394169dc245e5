"""Feedback pages: what each test gave, what went wrong, without showing hidden test code.

A page is rendered in the grader from trusted sources and untrusted outputs:

- cell sources: the student's own cells and answers, the course's locked cells, and each test
  cell as the *release* shows it (a hidden test shows only its placeholder comment);
- outputs: those the executor sent back for the student's and the course's cells, bounded and
  cleaned here, since the kernel wrote them: plain text, images (PNG, JPEG) and formulas; HTML
  through bleach's allowlist (no script, no event handler, no link to ``javascript:``);
  Markdown and SVG outputs as text. The student's own Markdown cells are shown as text too. So
  no script from a submission runs in the page (nbconvert's ``sanitize_html`` would also escape
  the course's own headings). A test cell shows its verdict only: the check's message, never a
  traceback (which would print hidden lines), and a hidden test shows nothing its code printed;
- a summary table of every test and its score, and the grader's notes.
"""
from __future__ import annotations

import html
import shutil
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

STYLE = ("body{font-family:sans-serif;max-width:60em;margin:2em auto} .box{border:1px solid #c33;padding:1em;background:#fee}"
         " .note{border:1px solid #c90;background:#ffd;padding:.5em;margin:1em 0}"
         " table.scores{border-collapse:collapse} table.scores td,table.scores th{border:1px solid #999;padding:3px 8px}")


def _esc(text) -> str:
    return html.escape(str(text))


def scores_table(rows: list[tuple[str, float | None, float, str]]) -> str:
    """rows: (test, score or None: not graded yet, points, message)."""
    def row(gid, score, points, msg):
        if score is None:
            return f"<tr><td>{_esc(gid)}</td><td>- / {points:g}</td><td>{_esc(msg)}</td></tr>"
        verdict = "passed" if score >= points else ("graded by hand" if msg == "needs manual grading" else _esc(msg))
        return f"<tr><td>{_esc(gid)}</td><td>{score:g} / {points:g}</td><td>{verdict}</td></tr>"
    body = "".join(row(*r) for r in rows)
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


MATHJAX_DIR = "mathjax"        # OUT/mathjax, beside OUT/feedback


def install_mathjax(out: Path) -> bool:
    """Copy MathJax (from the ``jupyter-server-mathjax`` package) beside the feedback folder once,
    so formulas render offline, from disk; False when the package is missing (then pages fall
    back to MathJax's CDN)."""
    try:
        import jupyter_server_mathjax
    except ImportError:
        return False
    target = out / MATHJAX_DIR
    if not (target / "MathJax.js").exists():
        source = Path(jupyter_server_mathjax.__file__).parent / "static"
        tmp = out / f".{MATHJAX_DIR}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(source, tmp, symlinks=False)
        try:
            tmp.rename(target)
        except OSError:          # another process put it there first
            shutil.rmtree(tmp, ignore_errors=True)
    return True


def mathjax_url(depth: int) -> str:
    """MathJax for a page ``depth`` folders below OUT."""
    return "../" * depth + f"{MATHJAX_DIR}/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"


# The package ships MathJax 2.7's HTML-CSS output with the STIX-Web fonts only.
_SVG_RENDERER = ('<script type="text/x-mathjax-config">MathJax.Hub.Config({"HTML-CSS": {availableFonts: ["STIX-Web"], '
                 'preferredFont: "STIX-Web", webFont: "STIX-Web", imageFont: null}});</script>')


_HTML_TAGS = ["a", "abbr", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
              "li", "ol", "p", "pre", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead",
              "tr", "ul"]


def _clean_html(value: str) -> str:
    import bleach
    return bleach.clean(value, tags=_HTML_TAGS, attributes={"*": ["class"], "a": ["href", "title"]},
                        protocols=["http", "https", "mailto"], strip=True)


def _as_text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _clean_data(data: dict) -> dict:
    """A display's MIME bundle, reduced to what the page may render (see the module doc)."""
    out = {}
    for mime in ("image/png", "image/jpeg"):
        if isinstance(data.get(mime), str):
            out[mime] = data[mime]
    if isinstance(data.get("text/latex"), (str, list)):
        out["text/latex"] = _as_text(data["text/latex"])
    if isinstance(data.get("text/html"), (str, list)):
        out["text/html"] = _clean_html(_as_text(data["text/html"]))
    text = next((_as_text(data[m]) for m in ("text/plain", "text/markdown", "image/svg+xml")
                 if isinstance(data.get(m), (str, list))), None)
    if text is not None:
        out["text/plain"] = text
    return out


def clean_outputs(outputs) -> list:
    """Outputs from the executor as valid, harmless nbformat outputs (anything malformed is dropped)."""
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
                data = _clean_data(out["data"])
                if data:
                    kwargs = {"execution_count": None} if kind == "execute_result" else {}
                    kept.append(new_output(kind, data=data, **kwargs))
        except Exception:
            continue
    return kept


def notebook_page(student_id: str, assignment: str, notebook: str, cells: list[dict], answer_cells: list,
                  tests: dict[int, tuple[str, bool, float, float, str]], notes: list[str], extra_html: str,
                  mathjax: str | None = None) -> str:
    """The page for a graded notebook.

    ``cells``: the graded notebook's cells with the source to show (``show``; ``untrusted``: a
    student's cell, whose Markdown is shown as text); ``answer_cells``:
    the executor's cells (outputs); ``tests``: index -> (grade_id, hidden, score, points, message)."""
    from nbconvert import HTMLExporter

    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                                "language_info": {"name": "python"}})
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "markdown":
            shown = cell["show"]
            if cell.get("untrusted"):        # a student's Markdown: shown as text, never as HTML
                fence = "`" * max(3, 1 + max((len(r) for r in shown.split("\n") if set(r) == {"`"}), default=0))
                shown = f"{fence}text\n{shown}\n{fence}"
            nb.cells.append(new_markdown_cell(shown))
            continue
        if cell["cell_type"] != "code":
            nb.cells.append(new_raw_cell(cell["show"]))
            continue
        executed = answer_cells[i] if i < len(answer_cells) and isinstance(answer_cells[i], dict) else {}
        code = new_code_cell(cell["show"])
        if i in tests:
            gid, hidden, score, points, message = tests[i]
            outputs = [] if hidden else [o for o in clean_outputs(executed.get("outputs")) if o.output_type != "error"]
            verdict = (f"{gid}: {score:g} / {points:g} points" + ("" if score >= points else f"\n{message}"))
            if score >= points:
                outputs.append(new_output("stream", name="stdout", text=f"[grader] {verdict}\n"))
            else:
                ename, _, evalue = message.partition(": ") if message.split(": ", 1)[0].isidentifier() else ("", "", message)
                outputs.append(new_output("error", ename=ename or "TestFailed", evalue=evalue or message,
                                          traceback=[f"[grader] {gid}: 0 / {points:g} points", message]))
            code.outputs = outputs
        else:
            code.outputs = clean_outputs(executed.get("outputs"))
        nb.cells.append(code)
    exporter = HTMLExporter(template_name="lab", sanitize_html=False, exclude_input_prompt=True,
                            exclude_output_prompt=True, **({"mathjax_url": mathjax} if mathjax else {}))
    body, _ = exporter.from_notebook_node(nbformat.from_dict(nb))
    if mathjax:
        body = body.replace("<!-- Load mathjax -->", "<!-- Load mathjax -->" + _SVG_RENDERER, 1)
    return body


def add_header(page: str, head_html: str) -> str:
    head_html = f"<style>{STYLE}</style>" + head_html
    if "<body" in page:
        start = page.index("<body")
        end = page.index(">", start) + 1
        return page[:end] + f'<div style="max-width:60em;margin:1em auto">{head_html}</div>' + page[end:]
    return head_html + page
