"""The promptable segmenter's click viewer in a real JupyterLab (headless Chromium): click an object, see its mask.

The test writes a small notebook into ``build/browser-prompting/`` (inside the repository, so the lab
server started by ``make serve-lab`` can open it; ``build/`` is ignored by git). The notebook trains
a promptable segmenter for a few seconds and shows the viewer on one validation scene. The test then
clicks, with the mouse, on the interior point of an object farthest from its edge and waits until
the status line names that object and the image has changed (the mask drawn over it). Screenshots go
to ``test-output/browser/<test name>/``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest
from labserver import REPO_ROOT, LabServer
from test_browser import (  # noqa: F401 - fixtures are used by name
    artifacts_on_failure,
    assert_nothing_saved,
    browser,
    lab,
    open_notebook,
    out_dir,
    page,
    run_all_cells,
)

NOTEBOOK_DIR = REPO_ROOT / "build" / "browser-prompting"
SCENE_INDEX = 3
SCALE = 3

CELLS = [
    "import dataclasses\n"
    "from course_utils.data import SPLITS, make_scene\n"
    "from course_utils.train.promptable import PromptTrainConfig, train_promptable\n"
    "from course_utils.viz.prompting import click_viewer",
    "cfg = dataclasses.replace(PromptTrainConfig(), num_train=64, batch_size=4, num_epochs=1, max_minutes=0.3)\n"
    "model, history = train_promptable(cfg, checkpoint=None, live_plot=False)",
    f"viewer = click_viewer(model, [make_scene(SPLITS['val'], {SCENE_INDEX})], scale={SCALE})\n"
    "viewer",
]


def write_notebook() -> str:
    """The viewer notebook in ``build/browser-prompting/``; returns its path relative to the repository."""
    shutil.rmtree(NOTEBOOK_DIR, ignore_errors=True)
    NOTEBOOK_DIR.mkdir(parents=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (course)", "language": "python"}
    path = NOTEBOOK_DIR / "viewer.ipynb"
    nbformat.write(nb, path)
    return str(path.relative_to(REPO_ROOT))


def target_object() -> tuple[str, int, int]:
    """The first thing of the scene: its name and its farthest-from-the-edge pixel (row, col)."""
    from course_utils.data import SPLITS, make_scene
    from course_utils.metrics.prompting import farthest_point, segment_masks

    masks, infos = segment_masks(make_scene(SPLITS["val"], SCENE_INDEX))
    k = next(i for i, info in enumerate(infos) if info["isthing"])
    return infos[k]["name"], *farthest_point(masks[k])


@pytest.mark.browser
@pytest.mark.timeout(900)
def test_click_on_an_object_draws_its_mask(page: Any, lab: LabServer, out_dir: Path) -> None:  # noqa: F811
    rel = write_notebook()
    name, row, col = target_object()
    try:
        with artifacts_on_failure(page, out_dir, lab):
            open_notebook(page, rel)
            run_all_cells(page, timeout=300)
            image = page.locator(".prompt-viewer-image")
            image.wait_for(timeout=60_000)
            image.scroll_into_view_if_needed()
            status = page.locator(".prompt-viewer-status")
            assert "Click on an object" in status.inner_text()
            before = image.get_attribute("src")
            page.screenshot(path=str(out_dir / "before_click.png"))
            box = image.bounding_box()
            natural = page.evaluate("el => [el.naturalWidth, el.naturalHeight]", image.element_handle())
            sx, sy = box["width"] / natural[0], box["height"] / natural[1]  # CSS pixels per image pixel
            image.click(position={"x": (col + 0.5) * SCALE * sx, "y": (row + 0.5) * SCALE * sy})
            page.wait_for_function(
                "([sel, name]) => document.querySelector(sel).innerText.includes(name)",
                arg=[".prompt-viewer-status", name], timeout=30_000)
            text = status.inner_text()
            assert re.search(rf"positive click at \(row {row}, col {col}\) on {name}: mask of \d+ px", text), text
            page.wait_for_function("([sel, old]) => document.querySelector(sel).src !== old",
                                   arg=[".prompt-viewer-image", before], timeout=30_000)
            assert image.get_attribute("src") != before, "the image did not change after the click"
            page.screenshot(path=str(out_dir / "after_click.png"))
            page.evaluate("async () => { await window.__panel.sessionContext.shutdown(); }")
        assert_nothing_saved(lab)
        (out_dir / "clicked.json").write_text(json.dumps({"object": name, "row": row, "col": col, "status": text}))
    finally:
        shutil.rmtree(NOTEBOOK_DIR, ignore_errors=True)
