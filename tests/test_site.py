"""The course website (`make site`, i.e. `python -m autograder site`): built on a fresh copy of
the repository (its tracked and unignored files only) from the lectures the suite already
executed (the `executed_lectures` fixture), so CI executes each lecture once. Every lecture page
has its figures, no link is broken, nothing loads from the network, no solution or hidden test
reaches a page, and headless Chromium renders the formulas from disk."""
import base64
import hashlib
import html
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from autograder.site import IMAGE_MIMES, README_SECTIONS, WIDGET_NOTE, overview
from conftest import ROOT

HOMEWORK = sorted(p.name for p in (ROOT / "assignments").iterdir() if p.is_dir())
LECTURE_STEMS = sorted(p.stem for p in (ROOT / "lectures").glob("[0-9][0-9]_*.ipynb"))


class Parsed(HTMLParser):
    """A page's references (tag, attribute, value), its text (scripts and styles apart) and ids."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.refs, self.ids, self.chunks, self.styles, self._in = [], set(), [], [], []
        self.feed(text)
        self.text = "".join(self.chunks)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("href", "src"):
            if attrs.get(name) is not None:
                self.refs.append((tag, name, attrs[name], attrs.get("rel")))
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag in ("script", "style"):
            self._in.append(tag)

    def handle_endtag(self, tag):
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data):
        if not self._in:
            self.chunks.append(data)
        elif self._in[-1] == "style":
            self.styles.append(data)


def _fresh_copy(dest: Path) -> Path:
    """What a clone of the working tree has: tracked and untracked-but-not-ignored files (no
    .venv, build/, data/, ...)."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: cannot make a fresh copy")
    for rel in filter(None, listed.stdout.split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "lectures").rglob("*")) + sorted((root / "assignments").rglob("*")) if p.is_file()}


def _image_outputs(nb) -> int:
    return sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if o.output_type in ("display_data", "execute_result") and any(m in o.get("data", {}) for m in IMAGE_MIMES))


@pytest.fixture(scope="module")
def site(executed_lectures, tmp_path_factory):
    base = tmp_path_factory.mktemp("site")
    clone = _fresh_copy(base / "clone")
    executed = base / "executed"
    executed.mkdir()
    notebooks = {}
    for path, (nb, _seconds, exc) in executed_lectures.items():
        assert exc is None, f"{path.name} did not run: {exc}"
        nb = nbformat.from_dict(nb)
        nb.cells = [c for c in nb.cells if "claims" not in c.metadata.get("tags", [])]   # the suite's own cell
        nbformat.write(nb, str(executed / path.name))
        notebooks[path.stem] = nb
    before = _digests(clone)
    env = dict(os.environ, COURSE_ROOT=str(clone))
    proc = subprocess.run([sys.executable, "-m", "autograder", "site", "--out", str(base / "site"),
                           "--executed", str(executed)], cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pages = {p.relative_to(base / "site").as_posix(): Parsed(p.read_text()) for p in (base / "site").rglob("*.html")
             if "mathjax" not in p.relative_to(base / "site").parts}
    return {"out": base / "site", "clone": clone, "pages": pages, "notebooks": notebooks,
            "unchanged": before == _digests(clone), "stdout": proc.stdout}


@pytest.mark.slow
def test_every_lecture_page_has_its_figures(site):
    total = 0
    for stem in LECTURE_STEMS:
        page = site["pages"].get(f"lectures/{stem}.html")
        assert page is not None, f"no page for lecture {stem}"
        want = _image_outputs(site["notebooks"][stem])
        images = [v for tag, attr, v, _ in page.refs if tag == "img"]
        svgs = site["out"].joinpath(f"lectures/{stem}.html").read_text().count("jp-RenderedSVG")
        assert len(images) + svgs >= want, f"{stem}: {len(images) + svgs} figures on the page, {want} in the notebook"
        for src in images:                       # embedded: a real image, not an empty placeholder
            if src.startswith("data:image/png;base64,"):
                assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n", stem
        widgets = sum("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                      for c in site["notebooks"][stem].cells for o in c.get("outputs", []))
        assert _norm(page.text).count(_norm(WIDGET_NOTE.strip("*"))) == widgets, f"{stem}: a widget without its note"
        total += want
    assert total >= len(LECTURE_STEMS), f"the lectures have only {total} figures in all"


@pytest.mark.slow
def test_no_link_is_broken_and_every_page_is_reachable(site):
    out, checked, reachable, todo = site["out"], 0, set(), ["index.html"]
    for name, page in site["pages"].items():
        for _tag, _attr, value, _rel in page.refs:
            parts = urlsplit(value)
            if parts.scheme or value.startswith("//"):
                continue                               # external: see the network test
            target = (out / name).parent / unquote(parts.path) if parts.path else out / name
            assert target.resolve().exists(), f"{name}: broken link {value!r}"
            assert target.resolve().is_relative_to(out.resolve()), f"{name}: {value!r} leaves the site"
            if parts.fragment and target.suffix == ".html":
                assert parts.fragment in site["pages"][target.resolve().relative_to(out.resolve()).as_posix()].ids, \
                    f"{name}: no anchor for {value!r}"
            checked += 1
    assert checked > 50, f"only {checked} internal links"
    while todo:                                        # every page is linked from the home page, transitively
        name = todo.pop()
        reachable.add(name)
        for _tag, attr, value, _rel in site["pages"][name].refs:
            parts = urlsplit(value)
            if attr == "href" and not parts.scheme and parts.path.endswith(".html"):
                linked = ((out / name).parent / parts.path).resolve().relative_to(out.resolve()).as_posix()
                if linked not in reachable:
                    todo.append(linked)
    assert reachable == set(site["pages"]), f"not linked from anywhere: {set(site['pages']) - reachable}"


@pytest.mark.slow
def test_nothing_loads_from_the_network(site):
    for name, page in site["pages"].items():
        for tag, _attr, value, rel in page.refs:
            external = bool(urlsplit(value).scheme in ("http", "https") or value.startswith("//"))
            loaded = tag in ("script", "img", "iframe", "source") or (tag == "link" and rel != "canonical")
            assert not (external and loaded), f"{name}: <{tag}> loads {value}"
        for css in page.styles:
            css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)        # comments cite URLs harmlessly
            assert not re.search(r"(url\(\s*['\"]?|@import\s+['\"]?)(https?:)?//", css), f"{name}: CSS loads from the network"
    text = site["out"].joinpath("lectures", f"{LECTURE_STEMS[0]}.html").read_text()
    assert 'src="../mathjax/MathJax.js' in text and (site["out"] / "mathjax" / "MathJax.js").exists()


def _norm(line: str) -> str:
    """A line without its layout and its trailing comment (lectures comment the same code differently)."""
    return " ".join(re.sub(r"\s#\s.*$", "", line).split())


def _public_lines() -> set[str]:
    """Lines students may see anyway: the releases, the lectures, the README and the notes."""
    cells = [c.source for p in (ROOT / "assignments").rglob("*.ipynb") for c in nbformat.read(str(p), as_version=4).cells]
    texts = cells + [p.read_text() for p in (ROOT / "lectures").glob("*.py")] + [(ROOT / "README.md").read_text()]
    texts += [p.read_text() for p in (ROOT / "lectures").glob("*.md")]
    lines = set()
    for text in texts:
        for line in text.splitlines():
            lines |= {_norm(line), _norm(line.lstrip("# "))}     # as code, and as jupytext's Markdown
    return lines


@pytest.mark.slow
def test_no_solution_or_hidden_test_reaches_a_page(site):
    public = _public_lines()
    secret = set()     # lines only the instructor's notebooks have
    for hw in HOMEWORK:
        nb = nbformat.read(str(ROOT / "solutions" / hw / f"{hw}.ipynb"), as_version=4)
        for cell in nb.cells:
            secret |= {_norm(ln) for ln in cell.source.splitlines() if len(_norm(ln)) >= 25 and _norm(ln) not in public}
    assert len(secret) > 50, f"only {len(secret)} solution lines to look for: the check would prove little"
    markers = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")   # visible tests may keep REFERENCE blocks
    for name, page in site["pages"].items():
        text = _norm(page.text)
        assert not [m for m in markers if m in text], f"{name} shows nbgrader's solution markers"
        leaked = [s for s in secret if s in text]
        assert not leaked, f"{name} shows solution or hidden-test lines: {leaked[:3]}"
    for hw in HOMEWORK:                            # the check can see code: the release's own lines are there
        text = _norm(site["pages"][f"homework/{hw}.html"].text)
        assert "raise NotImplementedError()" in text, hw
        assert (site["out"] / "homework" / f"{hw}.ipynb").read_bytes() == (
            ROOT / "assignments" / hw / f"{hw}.ipynb").read_bytes(), f"{hw}: the download is not the release"


@pytest.mark.slow
def test_index_is_the_overview_and_the_notebooks_stay_clean(site):
    index = site["pages"]["index.html"]
    hrefs = {v for _t, a, v, _r in index.refs if a == "href"}
    assert {f"lectures/{s}.html" for s in LECTURE_STEMS} <= hrefs
    assert {f"homework/{hw}.html" for hw in HOMEWORK} <= hrefs
    assert {"notation.html", "glossary.html"} <= hrefs
    for heading in README_SECTIONS:
        assert heading in index.text
    assert "Instructor workflow" not in index.text and "Trust: the threat model" not in index.text
    glossary = site["pages"]["glossary.html"]
    assert "Glossary" in glossary.text
    # every link of the glossary to a lecture notebook points at that lecture's page
    linked = set(re.findall(r"\]\((\d\d_[a-z_]+)\.ipynb(#[^)]*)?\)", (site["clone"] / "lectures" / "glossary.md").read_text()))
    assert linked, "the glossary links no lecture"
    assert {f"lectures/{stem}.html{anchor}" for stem, anchor in linked} <= {v for _t, _a, v, _r in glossary.refs}
    assert site["unchanged"], "building the site changed the committed lectures or releases"
    assert all(not c.get("outputs") for p in (site["clone"] / "lectures").glob("*.ipynb")
               for c in nbformat.read(str(p), as_version=4).cells if c.cell_type == "code")


def test_site_never_empties_a_folder_it_did_not_write(tmp_path):
    from conftest import run_cli
    (tmp_path / "notes.txt").write_text("mine")
    proc = run_cli("site", "--out", str(tmp_path), "--executed", str(ROOT / "lectures"))
    assert proc.returncode == 1 and "not empty" in proc.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_overview_needs_its_readme_sections():
    from autograder.site import SiteError
    readme = (ROOT / "README.md").read_text()
    text = overview(readme, {s: s for s in LECTURE_STEMS}, HOMEWORK, {"notation": "Notation"})
    assert f"[`{LECTURE_STEMS[0]}`](lectures/{LECTURE_STEMS[0]}.html)" in text
    with pytest.raises(SiteError, match="Student workflow"):
        overview(readme.replace("## Student workflow", "## Students"), {}, [], {})


# ---------------------------------------------------------------- in a browser, from disk

REQUIRED = os.environ.get("AUTOGRADER_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="module")
def offline_browser():
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        if REQUIRED:
            pytest.fail("no Chromium here, and AUTOGRADER_REQUIRE_BROWSER=1")
        pytest.skip("no Chromium here (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    options = Options()
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1400,1000",
                "--host-resolver-rules=MAP * ~NOTFOUND"):      # no name resolves: the network is out of reach
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    yield driver
    driver.quit()


def _rendered(driver, url: str) -> dict:
    from selenium.webdriver.support.ui import WebDriverWait
    driver.get(url)
    # MathJax 2 queues typesetting after load; wait until its queue is empty (or it never loaded)
    WebDriverWait(driver, 60).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && (!window.MathJax || !MathJax.Hub || "
        "(MathJax.Hub.queue.pending === 0 && MathJax.Hub.queue.running === 0))"))
    assert driver.execute_script("return !!(window.MathJax && MathJax.Hub)"), f"{url}: MathJax did not load"
    # prose as the reader sees it: Markdown cells without code, and without MathJax's TeX sources
    return driver.execute_script("""
        const prose = Array.from(document.querySelectorAll('.jp-MarkdownCell')).map(cell => {
            const copy = cell.cloneNode(true);
            copy.querySelectorAll('script, style, code, pre').forEach(e => e.remove());
            return copy.textContent; }).join('\\n');
        const images = Array.from(document.querySelectorAll('img'));
        return {math: document.querySelectorAll('.MathJax, .MathJax_Display, mjx-container').length,
                errors: document.querySelectorAll('.MathJax_Error, .merror').length,
                text: prose,
                images: images.length,
                broken: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 80)),
                remote: performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith('file:'))};""")


@pytest.mark.slow
@pytest.mark.parametrize("page", ["index.html", "lectures/02_self_attention.html", "notation.html", "glossary.html"])
def test_a_browser_renders_formulas_and_figures_from_disk(site, offline_browser, page):
    got = _rendered(offline_browser, (site["out"] / page).resolve().as_uri())
    assert not got["remote"], f"{page} asked the network for {got['remote']}"
    assert not got["broken"], f"{page}: images that did not load: {got['broken']}"
    assert got["text"].strip(), f"{page}: no prose found"
    raw = re.findall(r"\$\$|\\(?:frac|alpha|sqrt|mathrm|sum)\b|Math Processing Error", got["text"])
    assert not raw, f"{page}: raw TeX left in the prose: {raw[:5]}"
    assert got["errors"] == 0, f"{page}: MathJax could not render {got['errors']} formula(s)"
    if page.startswith("lectures/") or page == "notation.html":
        assert got["math"] > 0, f"{page}: MathJax rendered no formula"
    if page == "glossary.html":
        assert "自注意力" in got["text"], "the glossary page shows no Chinese term"
    if page.startswith("lectures/"):
        assert got["images"] >= _image_outputs(site["notebooks"][Path(page).stem]) > 0
