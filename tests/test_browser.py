"""The course as a learner meets it: JupyterLab (started by `make serve-lab`) in headless Chromium.

Each test opens a lesson with the ``docmanager:open`` command (kernel named, so no kernel picker),
runs all cells, checks that no cell failed, and then does what a learner does: answers a practice
question wrongly and then rightly, solves a mini assignment and runs its check, watches a training
progress bar. Screenshots go to ``test-output/browser/<test name>/`` (look at them); on a failure
that folder also gets the page as a screenshot and as HTML, and the server log.

Needs Debian's Chromium at /usr/bin/chromium (``apt-get install chromium``; never
``playwright install``). Without it the tests are skipped, unless ``COURSE_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from labserver import REPO_ROOT, LabServer, start_lab_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
NOT_FOUND = "Chromium not found at /usr/bin/chromium: browser tests skipped; install it with apt-get install chromium"
OUTPUT_DIR = REPO_ROOT / "test-output" / "browser"
NOTEBOOKS = REPO_ROOT / "notebooks"
# Training lessons with a tqdm progress bar, fastest first; the test runs the first one that exists.
TRAINING_LESSONS = ["01_pixel_classification.ipynb", "03_fcn_semantic_segmentation.ipynb"]


def require_browser() -> None:
    """Skip (or, with COURSE_REQUIRE_BROWSER=1, fail) when Chromium or playwright is missing."""
    problem = None
    if not CHROMIUM.exists():
        problem = NOT_FOUND
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is not installed: browser tests skipped (pip install playwright)"
    if problem is None:
        return
    if os.environ.get("COURSE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{problem} (COURSE_REQUIRE_BROWSER=1 requires the browser tests to run)")
    pytest.skip(problem)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab from ``make serve-lab``, with ``window.jupyterapp`` exposed and its state in a temp folder."""
    require_browser()
    if shutil.which("make") is None:
        pytest.skip("make not found: the browser tests start JupyterLab with `make serve-lab`")
    server = start_lab_server(tmp_path_factory.mktemp("lab"), expose_app=True)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by playwright."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, lab: LabServer) -> Iterator[Any]:
    """A fresh tab with JupyterLab loaded and restored."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    tab.goto(lab.url("lab"))
    tab.wait_for_function("() => window.jupyterapp !== undefined", timeout=180_000)
    tab.evaluate("async () => { await window.jupyterapp.restored; }")
    yield tab
    context.close()


@pytest.fixture
def out_dir(request: pytest.FixtureRequest) -> Path:
    """``test-output/browser/<test name>/``, emptied."""
    path = OUTPUT_DIR / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@contextmanager
def artifacts_on_failure(page: Any, out: Path, lab: LabServer) -> Iterator[None]:
    """On any failure inside the block, save a screenshot, the page's HTML and the server log to ``out``."""
    try:
        yield
    except BaseException:
        try:
            page.screenshot(path=str(out / "failure.png"))
            (out / "failure.html").write_text(page.content(), encoding="utf-8")
        except Exception as err:  # noqa: BLE001 - the original failure matters more
            (out / "failure-screenshot-error.txt").write_text(repr(err))
        (out / "server.log").write_text(lab.log_tail(50_000), encoding="utf-8")
        raise


def assert_nothing_saved(lab: LabServer) -> None:
    """The browser session wrote no file into the course (autosave is off; the server logs every save)."""
    log = lab.log_path.read_text(errors="replace").splitlines()
    saves = [line for line in log if "Saving file at" in line or "Uploading file to" in line]
    assert saves == [], f"the browser session saved files into the course: {saves}"


def open_notebook(page: Any, rel_path: str) -> None:
    """Open a notebook with ``docmanager:open`` on the python3 kernel and wait until the kernel is idle."""
    page.evaluate(
        """async (path) => {
            const app = window.jupyterapp;
            const panel = await app.commands.execute('docmanager:open',
                {path, factory: 'Notebook', kernel: {name: 'python3'}});
            await panel.context.ready;
            await panel.sessionContext.ready;
            window.__panel = panel;
        }""",
        rel_path,
    )
    page.wait_for_function(
        "() => window.__panel.sessionContext.session?.kernel?.status === 'idle'", timeout=180_000, polling=500
    )


def kernel_busy(page: Any) -> bool:
    """Whether the notebook's kernel is working or any cell is queued or running (prompt ``[*]``)."""
    return page.evaluate(
        """() => {
            const panel = window.__panel;
            const status = panel.sessionContext.session?.kernel?.status;
            const running = [...panel.node.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'));
            return status !== 'idle' || running;
        }"""
    )


def wait_until_idle(page: Any, timeout: float, on_tick: Callable[[], None] | None = None) -> None:
    """Poll (once a second) until the kernel is idle and no cell runs; ``on_tick()`` runs at each poll."""
    deadline = time.monotonic() + timeout
    calm = 0  # idle seen on two polls in a row, so a gap between two queued cells does not count
    while calm < 2:
        if time.monotonic() > deadline:
            pytest.fail(f"the notebook was still running after {timeout:.0f} s")
        if on_tick is not None:
            on_tick()
        calm = calm + 1 if not kernel_busy(page) else 0
        page.wait_for_timeout(1000)


def run_all_cells(page: Any, timeout: float, on_tick: Callable[[], None] | None = None) -> float:
    """Run all cells with ``notebook:run-all-cells`` and wait for the end; returns the seconds it took."""
    start = time.monotonic()
    page.evaluate(
        """() => {
            window.__runAllDone = false;
            window.jupyterapp.shell.activateById(window.__panel.id);
            window.jupyterapp.commands.execute('notebook:run-all-cells').then(() => { window.__runAllDone = true; });
        }"""
    )

    deadline = time.monotonic() + timeout
    while not page.evaluate("() => window.__runAllDone"):
        if time.monotonic() > deadline:
            pytest.fail(f"Run All did not finish within {timeout:.0f} s")
        if on_tick is not None:
            on_tick()
        page.wait_for_timeout(1000)
    wait_until_idle(page, max(30.0, deadline - time.monotonic()), on_tick)
    return time.monotonic() - start


def cell_problems(page: Any) -> dict[str, list[str]]:
    """Error outputs and never-executed code cells of the open notebook (cell numbers count from 1)."""
    return page.evaluate(
        """() => {
            const errors = [], unexecuted = [];
            window.__panel.content.widgets.forEach((cell, i) => {
                if (cell.model.type !== 'code') return;
                if (cell.model.executionCount === null) unexecuted.push(`cell ${i + 1}`);
                const outputs = cell.model.outputs;
                for (let j = 0; j < outputs.length; j++) {
                    const out = outputs.get(j).toJSON();
                    if (out.output_type === 'error') errors.push(`cell ${i + 1}: ${out.ename}: ${out.evalue}`);
                }
            });
            return {errors, unexecuted};
        }"""
    )


def code_sources(page: Any) -> list[str | None]:
    """The source of every cell of the open notebook, in order (None for markdown and raw cells)."""
    return page.evaluate(
        """() => window.__panel.content.widgets.map(
            c => (c.model.type === 'code' ? c.model.sharedModel.getSource() : null))"""
    )


def assert_ran_cleanly(page: Any) -> None:
    """No cell raised, every code cell got an execution count, and figures were drawn inline."""
    problems = cell_problems(page)
    assert problems["errors"] == [], f"cells raised errors: {problems['errors']}"
    assert problems["unexecuted"] == [], f"code cells never ran: {problems['unexecuted']}"
    assert page.locator(".jp-OutputArea .jp-RenderedImage img").count() >= 1, "no figure was shown"


def answer_single(box: Any, option: int) -> Any:
    """Choose radio option ``option`` of a quiz question box and press Check; returns the feedback locator."""
    box.locator("input[type=radio]").nth(option).check()
    box.locator(".quiz-check").click()
    return box.locator(".quiz-feedback")


def plain_start(markdown: str, chars: int = 40) -> str:
    """The first words of a Markdown explanation, up to the first markup character (as rendered text)."""
    return re.split(r"[`*_\[]", markdown)[0][:chars].strip()


def exercise_cells(sources: list[str | None]) -> tuple[int, int, str, str]:
    """(stub cell index, check cell index, exercise name, learner function name) of a lesson's mini assignment."""
    for i, src in enumerate(sources):
        found = re.search(r"exercises\.check\(\s*['\"](\w+)['\"]\s*,\s*(\w+)\s*\)", src or "")
        if not found:
            continue
        name, fn = found.groups()
        stub = next(j for j in range(i - 1, -1, -1) if re.search(rf"^def {fn}\(", sources[j] or "", re.M))
        return stub, i, name, fn
    raise AssertionError("the lesson has no `exercises.check(\"name\", fn)` cell")


def delegating_solution(stub_source: str, fn: str, name: str) -> str:
    """A learner's solution for the stub: same signature, answering with the back of the book."""
    func = next(n for n in ast.parse(stub_source).body if isinstance(n, ast.FunctionDef) and n.name == fn)
    params = [a.arg for a in func.args.args]
    return (
        f"def {fn}({', '.join(params)}):\n"
        f"    from course_utils import solutions\n"
        f"    return solutions.{name}({', '.join(params)})\n"
    )


@pytest.mark.browser
@pytest.mark.timeout(900)
def test_lesson00_quiz_and_mini_assignment(page: Any, lab: LabServer, out_dir: Path) -> None:
    from course_utils.quiz import load_bank

    timings: dict[str, float] = {}
    with artifacts_on_failure(page, out_dir, lab):
        start = time.monotonic()
        open_notebook(page, "notebooks/00_start_here.ipynb")
        timings["open"] = time.monotonic() - start
        timings["run_all"] = run_all_cells(page, timeout=300)
        page.screenshot(path=str(out_dir / "after_run_all.png"))
        assert_ran_cleanly(page)

        # A practice question: wrong first, then right; the feedback box changes class and text.
        question = next(q for q in load_bank("00").questions if q.kind == "single")
        right = next(i for i, o in enumerate(question.options) if o.correct)
        wrong = next(i for i, o in enumerate(question.options) if not o.correct)
        box = page.locator(f".quiz-question.quiz-id-{question.id}")
        box.scroll_into_view_if_needed()
        assert box.locator("input[type=radio]").count() == len(question.options)
        feedback = answer_single(box, wrong)
        page.locator(f".quiz-id-{question.id} .quiz-feedback.quiz-wrong").wait_for(timeout=30_000)
        wrong_text = feedback.inner_text()
        box.screenshot(path=str(out_dir / "quiz_wrong.png"))
        assert "quiz-correct" not in (feedback.get_attribute("class") or "")
        assert plain_start(question.options[wrong].explanation) in wrong_text, wrong_text

        feedback = answer_single(box, right)
        page.locator(f".quiz-id-{question.id} .quiz-feedback.quiz-correct").wait_for(timeout=30_000)
        right_text = feedback.inner_text()
        box.screenshot(path=str(out_dir / "quiz_right.png"))
        assert "quiz-wrong" not in (feedback.get_attribute("class") or "")
        assert right_text != wrong_text
        assert plain_start(question.options[right].explanation) in right_text, right_text
        assert "1 of" in page.locator(".quiz-score").first.inner_text()

        # The mini assignment: the check says "not attempted yet"; the learner writes a solution, runs it, checks.
        sources = code_sources(page)
        stub, check, name, fn = exercise_cells(sources)
        cells = page.locator(".jp-Notebook .jp-Cell")
        check_output = cells.nth(check).locator(".jp-OutputArea")
        assert "not attempted yet" in check_output.inner_text()
        editor = cells.nth(stub).locator(".cm-content")
        editor.click()
        page.keyboard.press("Control+a")
        page.keyboard.insert_text(delegating_solution(sources[stub], fn, name))
        page.keyboard.press("Shift+Enter")  # runs the stub cell, selects the check cell
        page.keyboard.press("Shift+Enter")  # runs the check
        page.wait_for_timeout(1000)
        wait_until_idle(page, timeout=120)
        page.wait_for_function(
            "([i, name]) => window.__panel.content.widgets[i].node.innerText.includes(name + ': all')",
            arg=[check, name],
            timeout=30_000,
        )
        check_text = check_output.inner_text()
        cells.nth(check).screenshot(path=str(out_dir / "exercise_checked.png"))
        assert re.search(rf"{name}: all \d+ cases pass", check_text), check_text
        assert "not attempted" not in check_text
        assert_ran_cleanly(page)

        # What the learner did reached the progress file the server's kernels were pointed at.
        record = json.loads((lab.workdir / "progress.json").read_text())
        assert record["questions"][question.id]["attempts"] == 2 and record["questions"][question.id]["correct"]
        assert record["exercises"][name]["passed"] is True
        page.evaluate("async () => { await window.__panel.sessionContext.shutdown(); }")
    assert_nothing_saved(lab)
    (out_dir / "timings.json").write_text(json.dumps({k: round(v, 1) for k, v in timings.items()}, indent=2))


@pytest.mark.browser
@pytest.mark.timeout(900)
def test_training_lesson_shows_a_progress_bar(page: Any, lab: LabServer, out_dir: Path) -> None:
    lesson = next((name for name in TRAINING_LESSONS if (NOTEBOOKS / name).exists()), None)
    if lesson is None:
        pytest.skip(f"no training lesson yet (looked for {', '.join(TRAINING_LESSONS)})")
    seen: dict[str, Any] = {}
    bar = page.locator(".jp-OutputArea .widget-hprogress")

    def watch_progress() -> None:
        """Screenshot the newest progress bar while the lesson runs, until one is caught part-way (0% < x < 100%)."""
        if seen.get("moving") or bar.count() == 0:
            return
        try:
            row = bar.last.locator("xpath=..")  # the tqdm row: description, bar, counts
            text = row.inner_text(timeout=5_000)
            percent = re.search(r"(\d+)%", text)
            moving = percent is not None and 0 < int(percent.group(1)) < 100
            if "mid_run" not in seen or moving:
                row.screenshot(path=str(out_dir / "progress_bar_running.png"), timeout=5_000)
                seen.update(mid_run=text, moving=moving)
        except Exception:  # noqa: BLE001 - the bar may be redrawn between count() and screenshot(); next tick
            pass

    with artifacts_on_failure(page, out_dir, lab):
        open_notebook(page, f"notebooks/{lesson}")
        seconds = run_all_cells(page, timeout=600, on_tick=watch_progress)
        page.screenshot(path=str(out_dir / "after_run_all.png"))
        assert_ran_cleanly(page)
        assert "mid_run" in seen, "no progress bar appeared while the lesson ran"
        assert bar.count() >= 1, "the training progress bar did not stay (tqdm leave=True)"
        final = bar.first.locator("xpath=..")
        final.scroll_into_view_if_needed()
        final.screenshot(path=str(out_dir / "progress_bar_done.png"))
        text = final.inner_text()
        assert "100%" in text, text
        page.evaluate("async () => { await window.__panel.sessionContext.shutdown(); }")
    assert_nothing_saved(lab)
    summary = {"lesson": lesson, "run_all_seconds": round(seconds, 1), "mid_run_bar": seen["mid_run"],
               "caught_part_way": seen["moving"]}
    (out_dir / "timings.json").write_text(json.dumps(summary, indent=2))


def test_missing_chromium_skips_with_a_plain_reason_or_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    import test_browser

    monkeypatch.setattr(test_browser, "CHROMIUM", Path("/nonexistent/chromium"))
    monkeypatch.delenv("COURSE_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="^Chromium not found at /usr/bin/chromium: browser tests skipped"):
        test_browser.require_browser()
    monkeypatch.setenv("COURSE_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="COURSE_REQUIRE_BROWSER=1"):
        test_browser.require_browser()
