"""Feedback pages render untrusted outputs: no script from a submission runs in them, a hidden
test shows its verdict only, and malformed outputs are dropped, not fatal."""
from html.parser import HTMLParser

from autograder import feedback


class LiveCode(HTMLParser):
    """What a browser would run: script contents, event-handler attributes, javascript: links."""

    def __init__(self):
        super().__init__()
        self.live, self._in_script = [], False

    def handle_starttag(self, tag, attrs):
        self._in_script = tag == "script"
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.live.append(f"{tag} {name}={value}")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.live.append(data)

ATTACKS = {
    "markdown cell": ("markdown", "hi <img src=x onerror=alert('A1')> <script>alert('A2')</script>", None),
    "html output": ("code", "x", {"text/html": "<script>alert('A3')</script><b onmouseover=alert('A4')>b</b>"}),
    "svg output": ("code", "x", {"image/svg+xml": "<svg xmlns='http://www.w3.org/2000/svg'><script>alert('A5')"
                                                  "</script><circle onload=\"alert('A6')\" r='5'/></svg>"}),
    "markdown output": ("code", "x", {"text/markdown": "<script>alert('A7')</script>"}),
    "javascript output": ("code", "x", {"application/javascript": "alert('A8')"}),
    "latex output": ("code", "x", {"text/latex": "$x$ </script><script>alert('A9')</script>"}),
}


def test_no_script_from_a_submission_runs_in_its_page():
    cells, answers = [], []
    for kind, source, data in ATTACKS.values():
        cells.append({"cell_type": kind, "show": source, "untrusted": True})
        answers.append({"outputs": [{"output_type": "display_data", "data": data, "metadata": {}}] if data else []})
    page = feedback.notebook_page("s", "hw", "hw", cells, answers, {}, [], "")
    parser = LiveCode()
    parser.feed(page)
    assert parser.live                                       # the template's own scripts are seen
    assert not [code for code in parser.live if "alert('A" in code]
    assert "alert('A2')" in page                             # a student's Markdown, shown as text


def test_a_hidden_test_shows_its_verdict_only_and_bad_outputs_are_dropped():
    cells = [{"cell_type": "code", "show": "# Hidden tests run when your notebook is graded."},
             {"cell_type": "code", "show": "visible()"}]
    answers = [{"outputs": [{"output_type": "stream", "name": "stdout", "text": "SECRET hidden input 42\n"}]},
               {"outputs": [None, {"output_type": "stream"}, {"output_type": "display_data", "data": "x"},
                            {"output_type": "stream", "name": "stdout", "text": "visible print\n"}]}]
    tests = {0: ("test_f_hidden", True, 0.0, 2.0, "CheckFailure: f(3): expected 1, got 2."),
             1: ("test_f", False, 1.0, 1.0, "")}
    page = feedback.notebook_page("s", "hw", "hw", cells, answers, tests, [], "")
    assert "SECRET" not in page and "f(3): expected 1, got 2." in page
    assert "visible print" in page and "test_f: 1 / 1 points" in page


def test_the_course_s_own_markdown_renders_and_a_student_s_is_text():
    cells = [{"cell_type": "markdown", "show": "## Part 1\n\nThe **scores** $QK^T$"},
             {"cell_type": "markdown", "show": "## My answer\n\n<b>bold</b>", "untrusted": True}]
    page = feedback.notebook_page("s", "hw", "hw", cells, [{}, {}], {}, [], "")
    assert "<h2" in page and "<strong>scores</strong>" in page
    assert "## My answer" in page and "&lt;b&gt;bold&lt;/b&gt;" in page
