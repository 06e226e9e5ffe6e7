"""Every lesson runs top to bottom from a fresh kernel at default settings, in lesson order, without errors.

Executed copies are saved under ``test-output/notebooks/`` for inspection (figures included).
Run only these with ``pytest -m notebook``; leave them out with ``pytest -m "not slow"``.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from notebook_tools import NOTEBOOK_DIR, NOTEBOOKS

from course_utils.paths import REPO_ROOT
from course_utils.tools.lesson_runner import CourseNotebookClient

OUTPUT_DIR = REPO_ROOT / "test-output" / "notebooks"
CELL_TIMEOUT = 600  # seconds for one cell; a lesson must finish in 4 minutes on a 2-core CPU
STARTUP_TIMEOUT = 300  # kernel start-up on a busy machine is slow
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _text_outputs(nb: nbformat.NotebookNode) -> str:
    """Everything the executed notebook printed or displayed as text, ANSI codes removed."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            parts.append(out.get("text", "") if out.get("output_type") == "stream"
                         else out.get("data", {}).get("text/plain", ""))
    return _ANSI.sub("", "\n".join(parts))


def _check_unet_deeplab(nb: nbformat.NotebookNode) -> None:
    """Lesson 04's results, as the lesson prints them: each same-time verdict agrees with its two numbers, U-Net is
    at least as good as FCN-8s after the same training time, DeepLab within 0.015 of it, and U-Net >= 0.92 (spec
    section 7) when its whole schedule ran.

    DeepLab and FCN-8s end close together on these scenes, about as close as two runs of one recipe differ
    (DeepLab's recipe measured 0.904 to 0.920 in five runs on one machine), so one run against another run's history
    can fall either side by chance; the strict bar is the benchmark's (BENCHMARKS.md), and the lesson's prose says a
    verdict can be WORSE and by how much.

    How long the schedule takes is the machine's business (BENCHMARKS.md measures it): on a CPU slow enough
    for the time budget to cut training short, the lesson must say so in its printed line and U-Net must
    still have learned the shapes (>= 0.85), but the 0.92 bar is left to the benchmark.
    """
    from course_utils.tools.headline import find_headline

    text = _text_outputs(nb)
    record = find_headline(nb)
    assert record is not None and record["name"].startswith("U-Net val mIoU"), record
    verdicts = re.findall(r"^(U-Net|DeepLab): mIoU ([0-9.]+) after .*FCN-8s after the same time: ([0-9.]+|none) .*-> "
                          r"(.*)$", text, flags=re.M)
    assert {v[0] for v in verdicts} == {"U-Net", "DeepLab"}, text[-3000:]
    for name, ours, fcn, verdict in verdicts:
        if fcn == "none":  # done before the FCN-8s's first validation (a fast machine): nothing to compare with
            assert verdict.startswith("no verdict"), (name, verdict)
            continue
        assert (verdict == "at least as good") == (float(ours) >= float(fcn)), (name, ours, fcn, verdict)
        assert verdict in ("at least as good", "WORSE"), (name, verdict)
        assert float(ours) >= float(fcn) - (0.015 if name == "DeepLab" else 0.0), (name, ours, fcn, verdict)
    trainings = {name: c for c in nb.cells for name, call in (("U-Net", "train_unet(unet_recipe"),
                                                            ("DeepLab", "train_deeplab(deeplab_recipe"))
                 if c.cell_type == "code" and call in c.source}
    assert set(trainings) == {"U-Net", "DeepLab"}
    whole = {}
    for name, cell in trainings.items():
        printed = _text_outputs(nbformat.v4.new_notebook(cells=[cell]))
        cut = "Training stopped at its time budget" in printed
        said = re.search(rf"^{name}: \d+ steps in .* \((the whole schedule|cut short by its time budget)\)",
                         printed, flags=re.M)
        assert said, f"{name}'s cell does not say how much of its schedule ran:\n{printed[-800:]}"
        assert (said.group(1) == "cut short by its time budget") == cut, (name, said.group(0))
        whole[name] = not cut
    bar = 0.92 if whole["U-Net"] else 0.85
    assert record["value"] >= bar, f"U-Net val mIoU {record['value']:.3f} < {bar} (whole schedule: {whole['U-Net']})"


def _check_one_stage(nb: nbformat.NotebookNode) -> None:
    """Lesson 08's results as it prints them: the one-stage model's mask AP and AP50 (spec section 7: >= 0.70 and
    >= 0.92) when its whole schedule ran, and its batch-1 latency beside Mask R-CNN's on the same machine.

    As in lesson 04, a CPU slow enough for the time budget to cut training short must say so in the training
    cell's line, and the model must still have learned the shapes (mask AP >= 0.60); the bars are then left to
    the benchmark.
    """
    from course_utils.tools.headline import find_headline

    text = _text_outputs(nb)
    record = find_headline(nb)
    assert record is not None and record["name"].startswith("one-stage val mask AP"), record
    cell = next(c for c in nb.cells if c.cell_type == "code" and "train_yolact(recipe" in c.source)
    printed = _text_outputs(nbformat.v4.new_notebook(cells=[cell]))
    said = re.search(r"^one-stage: \d+ steps in .* \((the whole schedule|cut short by its time budget)\)", printed,
                     flags=re.M)
    assert said, printed[-3000:]
    cut = said.group(1) == "cut short by its time budget"
    assert cut == ("Training stopped at its time budget" in printed), said.group(0)
    scores = re.search(r"^one-stage on the \d+ validation scenes: mask AP ([0-9.]+), AP50 ([0-9.]+)", text, flags=re.M)
    assert scores, text[-3000:]
    ap, ap50 = float(scores.group(1)), float(scores.group(2))
    assert abs(ap - record["value"]) < 1e-3
    if cut:
        assert ap >= 0.60, f"mask AP {ap:.3f} after a training cut short by its budget"
    else:
        assert ap >= 0.70 and ap50 >= 0.92, (ap, ap50)
    speed = re.search(r"batch-1 latency ([0-9.]+) ms vs ([0-9.]+) ms \((faster|slower)\)", text)
    assert speed, text[-3000:]
    # The bar (faster than Mask R-CNN) is the benchmark's: the margin is small on a CPU and a busy machine's
    # timing noise could flip it; a one-stage model twice as slow as Mask R-CNN is a regression either way.
    assert float(speed.group(1)) < 2 * float(speed.group(2)), speed.group(0)


def _check_queries_and_prompts(nb: nbformat.NotebookNode) -> None:
    """Lesson 10's results as it prints them: the mask classifier's PQ and the promptable model's IoU.

    Both trainings stop on a time budget on a CPU, so each training cell must say how much of its schedule
    ran (and agree with fit's own sentence). The spec's bars (PQ >= 0.80, one-click mean IoU >= 0.85) are the
    benchmark's; here the models must clearly have learned: PQ >= 0.75, one-click IoU >= 0.80, and a second
    click must not make things worse on average.
    """
    from course_utils.tools.headline import find_headline

    text = _text_outputs(nb)
    record = find_headline(nb)
    assert record is not None and record["name"].startswith("mask classification PQ"), record
    for call, name in (("train_mask_former(recipe", "mask classifier"), ("train_promptable(cfg", "promptable model")):
        cell = next(c for c in nb.cells if c.cell_type == "code" and call in c.source)
        printed = _text_outputs(nbformat.v4.new_notebook(cells=[cell]))
        said = re.search(rf"^{name}: \d+ steps in .* \((the whole schedule|cut short by its time budget)\)", printed,
                         flags=re.M)
        assert said, printed[-2000:]
        assert (said.group(1) == "cut short by its time budget") == ("Training stopped at its time budget" in printed)
    assert record["value"] >= 0.75, f"mask classification PQ {record['value']:.3f}"
    pq = re.search(r"^all\s+([0-9.]+)\s", text, flags=re.M)
    assert pq and abs(float(pq.group(1)) - record["value"]) < 1e-3, text[-3000:]
    one = re.search(r"^mean IoU, one click:\s+([0-9.]+)", text, flags=re.M)
    two = re.search(r"^mean IoU, two clicks:\s+([0-9.]+)", text, flags=re.M)
    assert one and two, text[-3000:]
    assert float(one.group(1)) >= 0.80 and float(two.group(1)) >= float(one.group(1)) - 0.01, (one[0], two[0])
    tables = "\n".join("".join(out.get("data", {}).get("text/markdown", "")) for c in nb.cells if c.cell_type == "code"
                        for out in c.get("outputs", []))
    assert re.search(r"^\| mask classifier \(this lesson\) \| [0-9.]+ \|", tables, flags=re.M), "no comparison table"


def _check_own_data(nb: nbformat.NotebookNode) -> None:
    """Lesson 11's comparison as it prints it: fine-tuned beats from scratch by >= 0.15 mask AP (the issue's bar).

    All three runs must have taken the same number of steps (the budget the lesson compares); when a
    slow machine's time cap cut one short, the comparison is not like for like and only the direction
    (fine-tuned ahead) is asserted. The headline is the pycocotools AP of the fine-tuned model.
    """
    from course_utils.tools.headline import find_headline

    text = _text_outputs(nb)
    gap = re.search(r"^fine-tuned - from scratch: mask AP ([+-][0-9.]+) after the same (\d+) steps", text, flags=re.M)
    assert gap, text[-3000:]
    rows = re.findall(r"^(fine-tuned from lesson 07's model|from scratch \(random weights\)|fine-tuned, with "
                      r"augmentation)\s+([0-9.]+)\s+([0-9.]+)\s+(\d+)\s", text, flags=re.M)
    assert len(rows) == 3, rows
    same_budget = len({int(r[3]) for r in rows}) == 1
    assert float(gap.group(1)) >= (0.15 if same_budget else 0.0), (gap.group(0), rows)
    record = find_headline(nb)
    assert record is not None and record["name"].startswith("own-data mask AP"), record
    assert abs(record["value"] - float(rows[0][1])) < 0.02, (record, rows[0])  # pycocotools on file vs in memory
    assert "Traceback" not in text


RESULT_CHECKS = {"04_unet_deeplab": _check_unet_deeplab, "08_one_stage_instance_segmentation": _check_one_stage,
                 "10_masks_as_queries_and_prompts": _check_queries_and_prompts, "11_your_own_data": _check_own_data}
"""Per-lesson assertions on an executed notebook's printed results."""


def _error_cells(nb: nbformat.NotebookNode) -> list[tuple[int, str]]:
    """(cell index, readable description) of every code cell with an error output."""
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                trace = _ANSI.sub("", "\n".join(out.get("traceback", [])))[-3000:]
                found.append((i, f"--- cell {i} ---\n{cell.source}\n--- error ---\n"
                                 f"{out.get('ename')}: {out.get('evalue')}\n{trace}"))
    return found


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.timeout(CELL_TIMEOUT * 3)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel inherits this environment: two threads, figures rendered inline (so the saved copies show
    # them), and conftest's temporary progress file and session-wide checkpoint folder.
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    nb = nbformat.read(path, as_version=4)
    client = CourseNotebookClient(nb, timeout=CELL_TIMEOUT, startup_timeout=STARTUP_TIMEOUT, kernel_name="python3",
                                  resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    failure = None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
        failure = err
    finally:
        nbformat.write(nb, OUTPUT_DIR / path.name)
    seconds = time.perf_counter() - start
    print(f"{path.name}: {seconds:.0f} s, executed copy in {OUTPUT_DIR / path.name}")
    errors = _error_cells(nb)
    if failure is not None or errors:
        detail = "\n\n".join(text for _, text in errors) or _ANSI.sub("", str(failure))[-4000:]
        pytest.fail(f"{path.name} failed after {seconds:.0f} s (executed copy: {OUTPUT_DIR / path.name})\n{detail}",
                    pytrace=False)
    assert os.environ["COURSE_PROGRESS"] != str(REPO_ROOT / "progress.json")  # never the learner's own file
    if path.stem in RESULT_CHECKS:
        RESULT_CHECKS[path.stem](nb)
