"""The course as instructors and students use it, in a real browser (headless Chromium driven by
Selenium) against JupyterLab started as `make lab` starts it: a released notebook runs and its
test says what is missing, Validate passes a solved notebook, and after `python -m autograder
grade` formgrader lists every example student with the kit's scores."""
import collections
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, key_points, read_csv

REQUIRED = os.environ.get("AUTOGRADER_REQUIRE_BROWSER") == "1"
HAVE = shutil.which("chromium") and shutil.which("chromedriver")
if not HAVE and not REQUIRED:
    pytest.skip("no Chromium here (apt-get install chromium chromium-driver)", allow_module_level=True)

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def course(example_course):
    """The course copy whose example class the kit graded, and the kit's totals."""
    root, out = example_course
    grades = read_csv(out / "grades.csv")
    totals = collections.Counter()
    for row in grades:
        totals[row["student_id"]] += float(row["score"])
    return root, totals, grades


@pytest.fixture(scope="module")
def lab(course):
    """JupyterLab on the course copy, the environment first on PATH (what `make lab` does)."""
    root = course[0]
    port = _free_port()
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    env.pop("AUTOGRADER_GRADEBOOK", None)
    proc = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "jupyter"), "lab", "--no-browser",
                             f"--port={port}", "--ServerApp.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}",
                             "--allow-root"], cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(url + "/api/status", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    options = Options()
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    yield driver
    driver.quit()


def _click(driver, selector, text):
    from selenium.webdriver.common.by import By
    for element in driver.find_elements(By.CSS_SELECTOR, selector):
        if element.text.strip() == text:
            element.click()
            return
    raise AssertionError(f"no {selector} labelled {text!r} on the page")


def _open_and_run_all(driver, url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    driver.get(url)
    WebDriverWait(driver, 90).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell"))
    WebDriverWait(driver, 90).until(lambda d: "Idle" in d.find_element(By.TAG_NAME, "body").text)
    _click(driver, ".lm-MenuBar-itemLabel", "Run")
    _click(driver, ".lm-Menu-itemLabel", "Run All Cells")

    def finished(d):   # Run All stops at the first error: nothing queued or running, something ran
        prompts = d.execute_script("return Array.from(document.querySelectorAll('.jp-InputArea-prompt'))"
                                   ".map(e => e.textContent.trim()).filter(p => p)")
        return "[*]:" not in prompts and any(p[1:-2].isdigit() for p in prompts)
    time.sleep(3)
    WebDriverWait(driver, 300).until(finished)


def test_a_released_notebook_runs_and_its_test_says_what_is_missing(lab, browser):
    _open_and_run_all(browser, lab + "/lab/tree/assignments/hw1_embeddings/hw1_embeddings.ipynb")
    errors = browser.execute_script(
        "return Array.from(document.querySelectorAll('.jp-OutputArea-output[data-mime-type=\"application/vnd.jupyter.stderr\"]'))"
        ".map(e => e.textContent)")
    assert any("one_hot is not implemented yet" in e for e in errors), errors[:3]
    assert not any("ModuleNotFoundError" in e for e in errors)


def test_validate_passes_a_solved_notebook(lab, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    _open_and_run_all(browser, lab + "/lab/tree/examples/submitted/ada_complete/hw2_attention/hw2_attention.ipynb")
    _click(browser, ".jp-ToolbarButtonComponent-label", "Validate")
    dialog = WebDriverWait(browser, 300).until(
        lambda d: [e.text for e in d.find_elements(By.CSS_SELECTOR, ".jp-Dialog-content") if "Results" in e.text])
    assert "Success! Your notebook passes all the tests." in dialog[0], dialog


def test_formgrader_lists_every_example_student_with_the_kits_scores(course, lab, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    _, totals, grades = course
    max_total = sum(float(r["max_score"]) for r in grades if r["student_id"] == "ada_complete")

    def rows(d):
        return [r.text for r in d.find_elements(By.CSS_SELECTOR, "table tbody tr") if "_" in r.text]
    browser.get(lab + "/formgrader/manage_students")
    shown = WebDriverWait(browser, 60).until(lambda d: rows(d) if len(rows(d)) >= len(totals) else None)
    for sid, total in totals.items():
        assert any(sid in r and f"{total:g} / {max_total:g}" in r for r in shown), (sid, total, shown)

    browser.get(lab + "/formgrader/gradebook/hw2_attention/hw2_attention")
    out_of = f" / {key_points('hw2_attention')['total']:g}"          # written questions included
    kit = sorted(f"{float(r['score']):g}{out_of}" for r in grades if r["assignment"] == "hw2_attention")
    submissions = WebDriverWait(browser, 60).until(
        lambda d: [r.text for r in d.find_elements(By.CSS_SELECTOR, "table tbody tr") if "Submission" in r.text] or None)
    assert sorted(r.split("Submission #")[1].split(" ", 1)[1].split(out_of)[0] + out_of for r in submissions) == kit
