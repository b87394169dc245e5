"""The course website for self-study: static HTML that opens from disk, without a network.

``python -m autograder site --out build/site [--executed DIR]`` writes

- ``index.html``: the README's overview for a self-learner (what the course is, the lectures,
  the homework, how to do it offline), with links to every page;
- ``lectures/<NN_name>.html``: every lecture with its outputs and figures (images embedded as
  data URIs), beside the notebook to download;
- ``homework/<hw>.html``: every homework's **released** notebook (``assignments/``: instructions
  and visible tests; never ``solutions/``), beside the notebook to download;
- ``notation.html`` and ``glossary.html`` (``lectures/notation.md``, ``lectures/glossary.md``
  when they exist);
- ``mathjax/``: a local MathJax 2.7 (from ``jupyter-server-mathjax``), so formulas render offline.

Pages are nbconvert's ``lab`` HTML (the renderer JupyterLab's "Export as HTML" uses) with a
navigation bar, and with everything the template would load from a CDN removed: require.js, the
widget manager (widgets are not live on a static page: a note says so) and mermaid.js.

Executing the lectures is the slow part (minutes), so it is separate: with ``--executed DIR``
the site is made from ``DIR/<NN_name>.ipynb`` (already executed, e.g. by the test suite);
without it the lectures are executed first (nbclient, ``--jobs`` at a time) into
``OUT/../executed``. The committed notebooks are never written to: they stay without outputs.
"""
from __future__ import annotations

import html
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from .course import available_assignments
from .feedback import _SVG_RENDERER as MATHJAX_CONFIG, install_mathjax, mathjax_url

# The parts of the README a self-learner needs, in this order (the intro before the first
# "##" heading, then these sections up to their first subsection).
README_SECTIONS = ("Lectures", "Assignments", "Student workflow")
IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml")
MARKER = ".course-site"


class SiteError(Exception):
    pass


def lectures(root: Path) -> list[Path]:
    return sorted((root / "lectures").glob("[0-9][0-9]_*.ipynb"))


# ---------------------------------------------------------------- executing the lectures

LECTURE_CELL_TIMEOUT_S = 600   # per cell, for the site and the tests: a slow machine must not fail a slow lecture


def execute_lecture(path: Path, timeout: int = LECTURE_CELL_TIMEOUT_S, extra_cells=()):
    """The lecture run top to bottom in a fresh kernel (cwd: lectures/), then ``extra_cells``
    (nbformat cells appended to it: the tests evaluate the lecture's claims this way) in the same
    kernel. The one way lectures are executed (the site and the tests).

    Returns ``(notebook, seconds, exception)``: the notebook as far as it ran, and the error
    that stopped it (nbclient's ``CellExecutionError``, a dead kernel, a timeout) or ``None``."""
    from nbclient import NotebookClient
    nb = nbformat.read(str(path), as_version=4)
    nb.cells.extend(extra_cells)
    t0 = time.perf_counter()
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()   # raises on any error
    except Exception as exc:
        return nb, time.perf_counter() - t0, exc
    return nb, time.perf_counter() - t0, None


def execute_lectures(root: Path, out: Path, jobs: int = 2, progress=print) -> dict[str, Path]:
    """Every lecture executed into ``out/<stem>.ipynb``, ``jobs`` at a time (a kernel is mostly
    one busy core). Raises SiteError naming every lecture that failed."""
    out.mkdir(parents=True, exist_ok=True)

    def run(path: Path):
        nb, seconds, exc = execute_lecture(path)
        if exc is not None:
            return path, None, f"{type(exc).__name__}: {str(exc)[-1500:]}"
        nbformat.write(nb, str(out / path.name))
        progress(f"  executed {path.name} in {seconds:.0f} s")
        return path, seconds, None

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(run, lectures(root)))
    failed = [f"{p.name}: {err}" for p, _, err in results if err]
    if failed:
        raise SiteError("lectures that did not run:\n" + "\n".join(failed))
    return {p.stem: out / p.name for p, _, _ in results}


# ---------------------------------------------------------------- pages

# nbconvert's lab template minus every CDN asset, plus the site's navigation.
_TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}{{ super() }}{{ resources.site_mathjax_config }}{%- endblock html_head_js_mathjax -%}
{%- block extra_css -%}<style>{{ resources.site_css }}</style>{%- endblock extra_css -%}
{%- block body_header -%}{{ super() }}{{ resources.site_nav }}{%- endblock body_header -%}
{%- block body_footer -%}{{ resources.site_footer }}{{ super() }}{%- endblock body_footer -%}
"""

_CSS = """
nav.site { font-family: var(--jp-ui-font-family, sans-serif); font-size: 14px; padding: 8px 12px;
  margin-bottom: 12px; border-bottom: 1px solid #ccc; line-height: 1.8; }
nav.site a, .site-pager a, .site-download a, .jp-RenderedHTMLCommon a { color: #1565c0; }
nav.site a { margin-right: 10px; white-space: nowrap; }
nav.site .group { margin-right: 6px; color: #666; }
nav.site .here { font-weight: bold; }
.site-pager { display: flex; justify-content: space-between; margin: 2em 0 1em; padding-top: 8px;
  border-top: 1px solid #ccc; font-family: var(--jp-ui-font-family, sans-serif); }
.site-download { font-family: var(--jp-ui-font-family, sans-serif); font-size: 14px; margin: 0 0 1em; }
"""


class Page:
    def __init__(self, key: str, path: str, title: str, group: str, notebook: Path | None = None):
        self.key, self.path, self.title, self.group, self.notebook = key, path, title, group, notebook

    def href_from(self, other: "Page") -> str:
        return "../" * other.path.count("/") + self.path


def _title(nb, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return re.sub(r"[*_`]", "", line.lstrip("#").strip())
    return fallback


def _nav(page: Page, pages: list[Page]) -> str:
    def link(p: Page, label: str) -> str:
        cls = ' class="here"' if p is page else ""
        return f'<a href="{p.href_from(page)}"{cls} title="{html.escape(p.title)}">{html.escape(label)}</a>'
    parts = [link(pages[0], "Course home")]
    for group in ("Lectures", "Homework", "Reference"):
        members = [p for p in pages if p.group == group]
        if members:
            labels = [p.key.split("_")[0] if group != "Reference" else p.title for p in members]
            parts.append(f'<span class="group">{group}:</span>' + "".join(link(p, l) for p, l in zip(members, labels)))
    return '<nav class="site">' + " ".join(parts) + "</nav>"


def _footer(page: Page, pages: list[Page]) -> str:
    if page.group != "Lectures":
        return ""
    ordered = [p for p in pages if p.group == "Lectures"]
    i = ordered.index(page)
    prev = f'<a href="{ordered[i - 1].href_from(page)}">&larr; {html.escape(ordered[i - 1].title)}</a>' if i else "<span></span>"
    nxt = (f'<a href="{ordered[i + 1].href_from(page)}">{html.escape(ordered[i + 1].title)} &rarr;</a>'
           if i + 1 < len(ordered) else "<span></span>")
    return f'<div class="site-pager">{prev}{nxt}</div>'


WIDGET_NOTE = ("*An interactive widget: it needs a running kernel. Download the notebook "
               "(link at the end of the page) and run it in Jupyter to use it.*")


def _static_widgets(nb) -> None:
    """Widgets need a live kernel: their views become a note (their state is dropped)."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "application/vnd.jupyter.widget-view+json" in out.get("data", {}):
                out["data"] = {"text/markdown": WIDGET_NOTE}


def _relink(nb, page: "Page", pages: list["Page"]) -> None:
    """Markdown links between the course's files (``02_self_attention.ipynb``, ``notation.md``,
    as written in lectures/ and the notes) point to their pages instead."""
    by_file = {f"{p.key}{ext}": p for p in pages for ext in (".ipynb", ".py", ".md")}

    def sub(match):
        target, frag = match.group(1), match.group(2) or ""
        linked = by_file.get(target.rsplit("/", 1)[-1])
        return f"]({linked.href_from(page)}{frag})" if linked and "://" not in target else match.group(0)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = re.sub(r"\]\(([^)#\s]+)(#[^)\s]*)?\)", sub, cell.source)


def _exporter():
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    return HTMLExporter(template_name="lab", template_file="site.html.j2",
                        extra_loaders=[DictLoader({"site.html.j2": _TEMPLATE})],
                        exclude_input_prompt=True, exclude_output_prompt=True)


def _markdown_notebook(text: str):
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)],
                                    metadata={"language_info": {"name": "python"}})


def overview(readme: str, lecture_titles: dict[str, str], homework: list[str], reference: dict[str, str]) -> str:
    """The index page's Markdown: the README's intro and its README_SECTIONS, each cut at its
    first subsection, with the lecture and homework names turned into links."""
    chunks = re.split(r"(?m)^(?=## )", readme)
    intro = [p for p in chunks[0].split("\n\n") if "../shared" not in p]   # the team checkout's contract path
    text = "\n\n".join(intro).strip() + "\n\n"
    for name in README_SECTIONS:
        section = next((c for c in chunks if c.startswith(f"## {name}\n")), None)
        if section is None:
            raise SiteError(f"README.md has no '## {name}' section for the site's index page")
        text += re.split(r"(?m)^### ", section)[0].strip() + "\n\n"
    for stem in lecture_titles:
        text = re.sub(rf"(?m)^\| `{stem}` \|", f"| [`{stem}`](lectures/{stem}.html) |", text)
    for hw in homework:
        text = re.sub(rf"(?m)^\| `{hw}` \|", f"| [`{hw}`](homework/{hw}.html) |", text)
    links = ", ".join(f"[{t}]({k}.html)" for k, t in reference.items())
    return text + ("## This website\n\nEvery lecture with its outputs, every homework's instructions and "
                   "visible tests (download the notebook from its page to do it), and the reference pages ("
                   + links + "). It opens from disk and needs no network.\n")


def build_site(root: Path, out: Path, executed: Path, progress=print) -> list[Path]:
    """Write the site into ``out`` (emptied first) from the executed lectures in ``executed``.
    Returns the HTML pages written."""
    executed_paths = {p.stem: executed / p.name for p in lectures(root)}
    missing = [str(p) for p in executed_paths.values() if not p.exists()]
    if not executed_paths:
        raise SiteError(f"no lectures in {root / 'lectures'}")
    if missing:
        raise SiteError("executed lectures missing (run without --executed to execute them): " + ", ".join(missing))
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():   # never empty a folder this command did not write
            raise SiteError(f"{out} is not empty and holds no site built by this command; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by `python -m autograder site`; emptied when the site is rebuilt\n")
    if not install_mathjax(out):
        raise SiteError("the jupyter-server-mathjax package is missing: pip install -e '.[site]'")

    notebooks = {stem: nbformat.read(str(p), as_version=4) for stem, p in executed_paths.items()}
    homework = [hw for hw in available_assignments(root) if (root / "assignments" / hw / f"{hw}.ipynb").exists()]
    released = {hw: nbformat.read(str(root / "assignments" / hw / f"{hw}.ipynb"), as_version=4) for hw in homework}
    titles = {stem: _title(nb, stem) for stem, nb in notebooks.items()}

    pages = [Page("index", "index.html", "Attention and Transformers", "Home")]
    pages += [Page(stem, f"lectures/{stem}.html", titles[stem], "Lectures", root / "lectures" / f"{stem}.ipynb")
              for stem in notebooks]
    pages += [Page(hw, f"homework/{hw}.html", _title(released[hw], hw), "Homework",
                   root / "assignments" / hw / f"{hw}.ipynb") for hw in homework]
    reference = {k: t for k, t in (("notation", "Notation"), ("glossary", "Glossary"))
                 if (root / "lectures" / f"{k}.md").exists()}      # the glossary is optional
    pages += [Page(k, f"{k}.html", t, "Reference") for k, t in reference.items()]

    sources = {"index": _markdown_notebook(overview((root / "README.md").read_text(), titles, homework, reference)),
               **notebooks, **released,
               **{k: _markdown_notebook((root / "lectures" / f"{k}.md").read_text()) for k in reference}}
    exporter = _exporter()
    written = []
    for page in pages:
        nb = sources[page.key]
        _static_widgets(nb)
        _relink(nb, page, pages)
        nb.metadata["title"] = page.title
        footer = _footer(page, pages)
        target = out / page.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if page.notebook is not None:              # the notebook itself, to run it at home
            shutil.copy(page.notebook, target.parent / page.notebook.name)
            footer = (f'<p class="site-download">Download the notebook: <a href="{page.notebook.name}" download>'
                      f'{page.notebook.name}</a></p>') + footer
        exporter.mathjax_url = mathjax_url(page.path.count("/"))
        body, _ = exporter.from_notebook_node(nb, resources={
            "site_mathjax_config": MATHJAX_CONFIG, "site_css": _CSS,
            "site_nav": _nav(page, pages), "site_footer": footer})
        target.write_text(body)
        written.append(target)
    progress(f"  wrote {len(written)} pages -> {out}/index.html")
    return written
