"""Questions declared once: a compact cell header in the jupytext source says what a cell is and
what it is worth; ``build`` expands it into nbgrader's metadata, and :func:`check_points` checks
every number written in prose (intro table, part headings) against the declarations.

    # %% [markdown] locked: intro                      the homework's text, read-only
    # %% locked: setup                                 given code, read-only
    # %% solution: MultiHeadAttention                  the student writes this (autograded answer)
    # %% test: test_MultiHeadAttention (3 points)      a test cell: its points when it passes
    # %% test: test_MultiHeadAttention_hidden (6 points)
    # %% [markdown] answer: written_heads (3 points)   a written answer, graded by hand
    # %% [markdown] task: predictions_boss (2 points)  points given by the grader from a file

A question is its ``solution`` cell and the test cells named after it (``test_<name>``,
``test_<name>_...``): its points are their sum, written nowhere else by hand. The expansion is
plain text (header -> ``nbgrader={...}``), so the notebook jupytext makes is the one nbgrader
knows, and a header that looks like a declaration but is not one is an error naming its line.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

# role -> (cell type, nbgrader flags without grade_id/points, whether points are required)
ROLES = {
    "locked": (None, {"grade": False, "locked": True, "solution": False, "task": False}, False),
    "solution": ("code", {"grade": False, "locked": False, "solution": True, "task": False}, False),
    "test": ("code", {"grade": True, "locked": True, "solution": False, "task": False}, True),
    "answer": ("markdown", {"grade": True, "locked": False, "solution": True, "task": False}, True),
    "task": ("markdown", {"grade": False, "locked": True, "solution": False, "task": True}, True),
}
_HEADER = re.compile(r"^# %%(?P<md> \[markdown\])? (?P<role>[a-z]+): (?P<rest>.*?)\s*$")
_DECL = re.compile(r"^(?P<gid>[A-Za-z_][A-Za-z0-9_-]*)(?: \((?P<points>\d+(?:\.\d+)?) points?\))?$")


class DeclarationError(ValueError):
    """A cell header that does not declare what it seems to (the message names the line)."""


@dataclass(frozen=True)
class Declaration:
    role: str
    grade_id: str
    cell_type: str          # "code" or "markdown"
    points: float | None
    line: int               # 1-based line of the header in the source

    @property
    def metadata(self) -> dict:
        meta = {**ROLES[self.role][1], "grade_id": self.grade_id, "schema_version": 3}
        if self.points is not None:
            meta["points"] = int(self.points) if float(self.points).is_integer() else self.points
        return dict(sorted(meta.items()))


def parse_header(line: str, lineno: int = 0) -> Declaration | None:
    """The declaration of one ``# %%`` line, None for a header that declares nothing."""
    m = _HEADER.match(line)
    if not m or m["role"] not in ROLES:
        return None
    cell_type = "markdown" if m["md"] else "code"
    where = f"line {lineno}: {line.strip()!r}"
    d = _DECL.match(m["rest"])
    if not d:
        raise DeclarationError(f"{where}: expected '{m['role']}: <grade_id>' optionally followed by "
                               "' (N points)', e.g. '# %% test: test_causal_mask (2 points)'")
    wanted_type, _, needs_points = ROLES[m["role"]]
    if wanted_type and wanted_type != cell_type:
        raise DeclarationError(f"{where}: a {m['role']} cell must be a {wanted_type} cell"
                               + (" ('# %% [markdown] ...')" if wanted_type == "markdown" else " (no [markdown])"))
    points = float(d["points"]) if d["points"] else None
    if needs_points and not points:
        raise DeclarationError(f"{where}: a {m['role']} cell needs its points, e.g. ' (2 points)'")
    if not needs_points and points is not None:
        raise DeclarationError(f"{where}: a {m['role']} cell earns no points itself (the tests of a "
                               "question carry its points)")
    return Declaration(m["role"], d["gid"], cell_type, points, lineno)


def declarations(text: str) -> list[Declaration]:
    """Every declaration of a source, in order; duplicated grade_ids are an error."""
    found = [d for i, line in enumerate(text.splitlines(), 1) if (d := parse_header(line, i))]
    seen: dict[str, int] = {}
    for d in found:
        if d.grade_id in seen:
            raise DeclarationError(f"line {d.line}: grade_id {d.grade_id!r} is declared again "
                                   f"(first on line {seen[d.grade_id]}); nbgrader matches cells by grade_id")
        seen[d.grade_id] = d.line
    return found


def expand(text: str) -> str:
    """The source with every compact header replaced by jupytext's ``nbgrader={...}`` header."""
    declarations(text)      # errors first, for the whole file
    out = []
    for i, line in enumerate(text.splitlines(keepends=True), 1):
        d = parse_header(line, i)
        if d is not None:
            end = "\n" if line.endswith("\n") else ""
            line = ("# %% [markdown]" if d.cell_type == "markdown" else "# %%") + \
                f" nbgrader={json.dumps(d.metadata)}{end}"
        out.append(line)
    return "".join(out)


def compact(text: str) -> str:
    """The inverse of :func:`expand`: full ``nbgrader={...}`` headers written as declarations
    (for converting an nbgrader notebook's jupytext source; unknown shapes are left alone)."""
    out = []
    for line in text.splitlines(keepends=True):
        m = re.match(r"^# %%(?P<md> \[markdown\])? nbgrader=(?P<json>\{.*\})\s*$", line)
        if m:
            meta = json.loads(m["json"])
            for role, (_, flags, _) in ROLES.items():
                if all(meta.get(k) == v for k, v in flags.items()):
                    points = meta.get("points")
                    tail = f" ({points:g} point{'s' if points != 1 else ''})" if points is not None else ""
                    new = f"# %%{m['md'] or ''} {role}: {meta['grade_id']}{tail}\n"
                    if expand(new) == (line if line.endswith("\n") else line + "\n"):
                        line = new if line.endswith("\n") else new[:-1]
                    break
        out.append(line)
    return "".join(out)


# ------------------------------------------------------------------ derived numbers, checked

@dataclass
class Part:
    number: int
    title: str
    stated: float | None         # the points the heading states, None for "(not graded)"
    automatic: float = 0.0       # test and task cells under the heading
    by_hand: float = 0.0         # answer cells under the heading


_PART = re.compile(r"^# ## Part (?P<n>\d+)\. (?P<title>.*?)(?: \((?P<what>[^()]*)\))?\s*$")


def parts(text: str) -> list[Part]:
    """The ``## Part N. Title (X points...)`` headings of a source with the points declared under
    each (up to the next part)."""
    found: list[Part] = []
    decls = {d.line: d for d in declarations(text)}
    for i, line in enumerate(text.splitlines(), 1):
        m = _PART.match(line)
        if m:
            pts = re.match(r"(\d+(?:\.\d+)?) points?", m["what"] or "")
            found.append(Part(int(m["n"]), m["title"], float(pts[1]) if pts else None))
        elif i in decls and found:
            d = decls[i]
            if d.role in ("test", "task"):
                found[-1].automatic += d.points
            elif d.role == "answer":
                found[-1].by_hand += d.points
    return found


def totals(text: str) -> tuple[float, float]:
    """(automatic, by hand) points of a whole source."""
    decls = declarations(text)
    return (sum(d.points for d in decls if d.role in ("test", "task")),
            sum(d.points for d in decls if d.role == "answer"))


def intro_table(text: str) -> list[list[str]]:
    """The rows (cells stripped) of the intro table: the Markdown table whose header has
    "graded automatically", without its header and rule rows."""
    rows, inside = [], False
    for line in text.splitlines():
        if not line.startswith("# |"):
            if inside:
                break
            continue
        cells = [c.strip() for c in line[2:].strip().strip("|").split("|")]
        if "graded automatically" in cells:
            inside = True
        elif inside and not set("".join(cells)) <= set("-: "):
            rows.append(cells)
    return rows


def _number(cell: str) -> float:
    cell = cell.replace("*", "").strip()
    m = re.search(r"(\d+(?:\.\d+)?)", cell)
    return float(m[1]) if m else 0.0


def check_points(text: str) -> list[str]:
    """Every points number written in a homework's prose that disagrees with its declarations:
    each part heading (the automatic points of the part, or its hand-graded points when it has
    no automatic ones), each row of the intro table (automatic, by hand) and its total row."""
    problems = []
    ps = parts(text)
    for p in ps:
        expected = p.automatic or p.by_hand
        if p.stated is None:
            if expected:
                problems.append(f"Part {p.number} says it is not graded, but declares {expected:g} points")
        elif p.stated != expected:
            problems.append(f"Part {p.number} heading says {p.stated:g} points; its cells declare {expected:g}")
    by_number = {p.number: p for p in ps}
    auto_total, hand_total = totals(text)
    rows = intro_table(text)
    if not rows:
        problems.append("no intro table (| part | ... | graded automatically | graded by hand |)")
    if rows and not any("total" in r[1] for r in rows if len(r) == 4):
        problems.append("the intro table has no total row")
    listed = set()
    for r in rows:
        if len(r) != 4:
            problems.append(f"intro table row {r}: expected 4 cells (part, what, automatic, by hand)")
        elif r[0]:
            p = by_number.get(int(r[0])) if r[0].isdigit() else None
            listed.add(p.number if p else None)
            if p is None:
                problems.append(f"intro table row {r[0]!r}: there is no Part {r[0]}")
            elif (_number(r[2]), _number(r[3])) != (p.automatic, p.by_hand):
                problems.append(f"intro table row {r[0]} says {_number(r[2]):g} + {_number(r[3]):g}; "
                                f"Part {p.number} declares {p.automatic:g} automatic + {p.by_hand:g} by hand")
        elif "total" in r[1]:
            said = (_number(r[2]), _number(r[3]), _number(r[1]))
            if said != (auto_total, hand_total, auto_total + hand_total):
                problems.append(f"intro table total says {said[2]:g} = {said[0]:g} + {said[1]:g}; the declarations "
                                f"give {auto_total + hand_total:g} = {auto_total:g} + {hand_total:g}")
    problems += [f"Part {p.number} has {p.automatic + p.by_hand:g} points but no row in the intro table"
                 for p in ps if (p.automatic or p.by_hand) and p.number not in listed]
    return problems


def points_summary(text: str) -> str:
    """A homework's points as the README's assignment table writes them: automatic tests, then
    points from a graded file (task cells), then hand-graded answers, e.g. ``20 + 8 + 13``."""
    decls = declarations(text)
    parts_ = [sum(d.points for d in decls if d.role == role) for role in ("test", "task", "answer")]
    return " + ".join(f"{p:g}" for p in parts_ if p)


def graded_names(text: str) -> list[str]:
    """The names students implement: the grade_ids of the solution cells, in order."""
    return [d.grade_id for d in declarations(text) if d.role == "solution"]
