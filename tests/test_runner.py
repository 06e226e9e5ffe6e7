"""The headless course runner (`make course`) and the headline metric lessons publish for it."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_utils.tools import headline, lesson_runner


def write_lesson(folder: Path, name: str, *sources: str) -> Path:
    """A tiny lesson notebook with one markdown cell and the given code cells."""
    nb = new_notebook(cells=[new_markdown_cell(f"# {name}"), *(new_code_cell(s) for s in sources)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture
def lessons(tmp_path: Path) -> Path:
    """Three lessons: one that publishes a headline, one that fails, one plain; and a non-lesson file."""
    folder = tmp_path / "nbs"
    folder.mkdir()
    write_lesson(
        folder,
        "00_fine",
        "import os\nassert os.path.basename(os.getcwd()) == 'nbs', os.getcwd()",
        "print(os.environ['COURSE_PROGRESS'])",
        "from course_utils.tools.headline import headline\nheadline('toy accuracy', 0.875)",
        "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.show()",
    )
    write_lesson(folder, "01_broken", "x = 1", "raise ValueError('the scene size must be positive')", "y = 2")
    write_lesson(
        folder,
        "02_plain",
        "print('hello')",
        "from tqdm.auto import tqdm\nfor _ in tqdm(range(3), desc='epochs'): pass",
        "for _ in tqdm(range(3), desc='batches', leave=False): pass",
        "from course_utils.train.bars import close_bar, training_bar\nbar = training_bar(4, desc='steps')\n"
        "for _ in range(4): bar.update(1)\nclose_bar(bar)",
        "import ipywidgets as w\n"
        "w.VBox([w.HTML('<b>Which is a thing?</b>'), w.RadioButtons(options=['sky', 'circle'], value='circle')])",
    )
    write_lesson(folder, "scratch", "raise SystemExit")  # not a lesson: no NN_ prefix
    return folder


@pytest.mark.timeout(300)
def test_runs_every_lesson_and_reports_the_failure(
    lessons: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COURSE_PROGRESS", raising=False)
    out = tmp_path / "build"
    code = lesson_runner.main(["--notebooks", str(lessons), "--out", str(out), "--timeout", "120"])
    printed = capsys.readouterr().out
    assert code == 1
    for stem in ("00_fine", "01_broken", "02_plain"):
        assert (out / f"{stem}.ipynb").is_file() and (out / f"{stem}.html").is_file()
        assert (out / "logs" / f"{stem}.kernel.log").is_file()
    assert not (out / "scratch.html").exists()

    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] is False
    by_stem = {row["stem"]: row for row in summary["lessons"]}
    assert list(by_stem) == ["00_fine", "01_broken", "02_plain"]
    assert by_stem["00_fine"]["status"] == "ok"
    assert by_stem["00_fine"]["headline"]["name"] == "toy accuracy"
    assert by_stem["00_fine"]["headline"]["value"] == pytest.approx(0.875)
    assert by_stem["01_broken"]["status"] == "failed"
    assert by_stem["01_broken"]["error"] == "ValueError: the scene size must be positive (code cell 2)"
    assert by_stem["02_plain"]["status"] == "ok" and by_stem["02_plain"]["headline"] is None

    # The table names the failing lesson and the error's last line; the headline shows beside its lesson.
    table = printed[printed.index("lesson ") :]
    line_of = {line.split()[0]: line for line in table.splitlines() if line.strip() and not line.startswith("-")}
    assert "FAILED" in line_of["01_broken"] and "ValueError: the scene size must be positive" in line_of["01_broken"]
    assert "toy accuracy = 0.875" in line_of["00_fine"]
    assert "1 of 3 failed" in line_of["total"]
    assert "toy accuracy = 0.875" in (out / "summary.md").read_text()

    # The executed notebook kept its outputs; the kernel ran in the notebooks folder with a private progress file.
    executed = nbformat.read(out / "00_fine.ipynb", as_version=4)
    assert executed.cells[2].outputs[0]["text"].strip() == str((out / "progress.json").resolve())
    page = (out / "00_fine.html").read_text()
    assert "Headline: toy accuracy = 0.875" in page
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', page)) == 1, "the figure should be in the page"
    # Widgets are static snapshots of their last state: a page offline shows no blank holes or stale 0% bars.
    page = (out / "02_plain.html").read_text()
    bars = re.findall(r"<progress [^>]*>", page)
    assert len(bars) == 2, "the closed progress bar (leave=False) should disappear, the others stay"
    assert 'value="3.0"' in bars[0] and 'max="3.0"' in bars[0] and 'value="4.0"' in bars[1]
    assert "epochs" in page and "100%" in page
    assert "<b>Which is a thing?</b>" in page and "\u25c9 circle" in page and "\u25cb sky" in page
    assert "0%|" not in page
    # The training bar's own static text (what a viewer that ignores widget state shows) is its final state.
    executed = nbformat.read(out / "02_plain.ipynb", as_version=4)
    shown = [o for c in executed.cells if "training_bar" in c.source for o in c.outputs]
    texts = [o.get("data", {}).get("text/plain", "") for o in shown]
    assert len(shown) == 1 and "100%" in texts[0] and "4/4" in texts[0] and not re.search(r"(?<!\d)0%", texts[0]), shown
    index = (out / "index.html").read_text()
    assert 'href="01_broken.html"' in index and "ValueError" in index


@pytest.mark.timeout(120)
def test_only_runs_the_named_lessons(lessons: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "build"
    assert lesson_runner.main(["--notebooks", str(lessons), "--out", str(out), "--only", "2"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [row["stem"] for row in summary["lessons"]] == ["02_plain"] and summary["ok"] is True
    assert not (out / "00_fine.ipynb").exists()
    assert lesson_runner.main(["--notebooks", str(lessons), "--out", str(out), "--only", "07"]) == 2
    assert "no lesson numbered 07" in capsys.readouterr().err


@pytest.mark.timeout(120)
def test_a_cell_over_the_time_limit_is_a_timeout(tmp_path: Path) -> None:
    write_lesson(tmp_path, "05_sleepy", "x = 1", "import time\ntime.sleep(60)")
    result = lesson_runner.run_lesson(tmp_path / "05_sleepy.ipynb", tmp_path, timeout=3)
    assert result.status == "timeout" and result.failed
    assert result.error == "a cell ran longer than the 3 s limit (code cell 2)"
    assert result.seconds < 60


def test_headline_outside_a_notebook_prints_one_line(capsys: pytest.CaptureFixture) -> None:
    import torch

    assert headline.headline("FCN-8s val mIoU", torch.tensor(0.93127)) is None
    assert capsys.readouterr().out == "Headline: FCN-8s val mIoU = 0.931\n"
    record = headline.headline_record("FCN-8s val mIoU", torch.tensor(0.93127))
    assert record["value"] == pytest.approx(0.93127) and record["name"] == "FCN-8s val mIoU"
    assert headline.headline_record("scenes per second", 1234.5, unit="scenes/s", digits=0)["text"] == (
        "Headline: scenes per second = 1234 scenes/s"
    )
    assert headline.headline_record("PQ", float("nan"))["value"] is None


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [("", 0.5, ValueError), ("mIoU", "high", TypeError), ("mIoU", True, TypeError), ("mIoU", [0.5, 0.6], TypeError)],
)
def test_headline_rejects_bad_input_with_a_message(name: str, value: object, error: type) -> None:
    with pytest.raises(error, match="headline"):
        headline.headline(name, value)


def test_find_headline_takes_the_last_record() -> None:
    nb = new_notebook(cells=[new_code_cell("a"), new_code_cell("b")])
    for cell, value in zip(nb.cells, (0.1, 0.2)):
        data = {headline.HEADLINE_MIME: {"name": "m", "value": value}}
        cell.outputs = [{"output_type": "display_data", "metadata": {}, "data": data}]
    assert headline.find_headline(nb)["value"] == 0.2
    assert headline.find_headline(new_notebook()) is None


@pytest.mark.slow
def test_widget_cells_do_not_stall_until_the_cell_timeout(tmp_path: Path) -> None:
    """Cells that display an ``interactive`` viewer with a figure (lesson 06's detection viewer) go on at once.

    Plain nbclient often waits out the whole cell timeout after such a cell; the course's client does not.
    """
    viewer = ("VD.detection_viewer([s[0] for s in scenes], [dict(t, scores=torch.ones(len(t['labels']))) "
              "for _, t in scenes], [t for _, t in scenes])")
    setup = ("import torch\nfrom course_utils.data import InstanceDataset\n"
             "from course_utils.viz import detection as VD\n"
             "data = InstanceDataset('val', 3)\nscenes = [data[i] for i in range(3)]")
    path = write_lesson(tmp_path, "00_widgets", setup, *[viewer, "x = 1"] * 6)
    nb = nbformat.read(path, as_version=4)
    timeout = 30
    client = lesson_runner.CourseNotebookClient(nb, timeout=timeout, kernel_name="python3",
                                                resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env={**os.environ, "MPLBACKEND": "module://matplotlib_inline.backend_inline"})
    stamps = [c.metadata["execution"] for c in nb.cells if c.cell_type == "code"]
    assert all("shell.execute_reply" in s for s in stamps)
    gaps = [(datetime.fromisoformat(b["iopub.execute_input"].replace("Z", "+00:00"))
             - datetime.fromisoformat(a["shell.execute_reply"].replace("Z", "+00:00"))).total_seconds()
            for a, b in zip(stamps, stamps[1:])]
    assert max(gaps) < timeout - 5, f"a cell's reply was picked up only at the timeout: gaps {gaps}"
