"""hw4's rungs are fair: measured runs of each reference configuration (benchmarks/hw4_rungs.py,
kept in benchmarks/results/hw4_rungs.csv) all clear their rung by the stated margin, the ladder's
order holds on every run, and the README and the notebook show what was measured."""
import csv
import sys

import pytest

from autograder.course import PREDICTION_TASKS
from autograder import notebooks
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import hw4_rungs  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "hw4_rungs.csv"
TASK = PREDICTION_TASKS["hw4_speaker_id"]


@pytest.fixture(scope="module")
def runs() -> list[dict]:
    with open(RESULTS, newline="") as f:
        return list(csv.DictReader(f))


def test_every_configuration_was_run_with_three_seeds_and_several_thread_counts(runs):
    acc = hw4_rungs.by_config(runs)
    assert list(acc) == [r.label.lower() for r in TASK.rungs]
    for name in acc:
        mine = [r for r in runs if r["config"] == name]
        assert len({r["seed"] for r in mine}) >= 3, name
        assert {"1", "2"} <= {r["threads"] for r in mine}, name
        assert all(r["steps"] == "2500" for r in mine), name
        assert len({(r["seed"], r["threads"]) for r in mine}) == len(mine), f"{name}: a run is listed twice"


def test_every_rung_sits_the_margin_below_every_run_of_its_configuration(runs):
    acc = hw4_rungs.by_config(runs)
    for rung in TASK.rungs:
        lowest = min(acc[rung.label.lower()])
        assert rung.threshold <= lowest - hw4_rungs.MARGIN + 1e-9, (rung.label, rung.threshold, lowest)
        assert rung.threshold == hw4_rungs.fair_threshold(lowest), (rung.label, rung.threshold, lowest)


def test_the_readme_says_whether_the_ladder_order_holds_on_every_run(runs, capsys):
    """The order is checked (hw4_rungs.ladder_problems) and what it finds is stated, not hidden:
    where a configuration's runs overlap the next one's, the README says so."""
    hw4_rungs.report(runs, markdown=True)
    verdict = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("ladder order: "))
    assert verdict in (ROOT / "README.md").read_text()
    problems = hw4_rungs.ladder_problems(runs)
    assert (verdict == "ladder order: holds on every run") == (not problems)


def test_the_fair_threshold_is_the_margin_below_rounded_down():
    assert hw4_rungs.fair_threshold(0.8583) == 0.83
    assert hw4_rungs.fair_threshold(0.6100) == 0.59           # exactly on a hundredth: not one lower
    assert hw4_rungs.fair_threshold(0.5933) == 0.57


def test_the_readme_and_the_notebook_show_what_was_measured(runs, capsys):
    hw4_rungs.report(runs, markdown=True)
    table = capsys.readouterr().out
    readme = (ROOT / "README.md").read_text()
    for line in table.splitlines():
        if line.startswith("| ") and not line.startswith("| config"):
            assert line in readme, f"README lacks the ladder row {line!r}: paste `hw4_rungs.py --from-csv ... --markdown`"
    nb = notebooks.read(ROOT / "solutions" / "hw4_speaker_id" / "hw4_speaker_id.ipynb")
    cells = {notebooks.grade_id(c): c.source for c in nb.cells}
    acc = hw4_rungs.by_config(runs)
    for rung in TASK.rungs:
        mine = acc[rung.label.lower()]
        says = f"{min(mine):.3f}–{max(mine):.3f} over {len(mine)} runs"
        assert says in cells[rung.grade_id], (rung.grade_id, says)


def test_ladder_problems_finds_overlapping_configurations():
    def run(config, acc):
        return {"config": config, "test_acc": str(acc)}
    apart = [run("simple", 0.55), run("medium", 0.65), run("strong", 0.75), run("boss", 0.90)]   # below the next rungs
    assert hw4_rungs.ladder_problems(apart) == []
    overlap = apart + [run("medium", 0.76)]
    assert any("strong's lowest run 0.750 is not above medium's highest 0.760" in p
               for p in hw4_rungs.ladder_problems(overlap))


def test_the_readme_model_table_counts_each_configuration_s_parameters():
    """The README's model table names every configuration `speaker_ladder.make_model` builds,
    with its parameter count for the default dataset's speakers."""
    from speaker_ladder import CONFIGS, PARTS, SOLUTION, make_model
    from autograder.notebooks import reference_namespace
    from coursekit.speaker_models import count_parameters
    from coursekit.speakers import DEFAULT_SPEAKERS
    parts = reference_namespace(SOLUTION, PARTS)
    rows = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 4:
            rows[cells[0].removesuffix(" (no rung)").lower()] = cells
    for name in CONFIGS:
        assert name in rows, f"README's model table has no row for {name}"
        assert rows[name][2] == f"{count_parameters(make_model(name, DEFAULT_SPEAKERS, parts)):,}", name
