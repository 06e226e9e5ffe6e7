"""``python -m course_utils``: check, progress and make-data, with their exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils.__main__ import main
from course_utils.paths import REPO_ROOT
from course_utils.tools.env_check import DATA_FILES, environment_report


def test_check_passes_here(capsys) -> None:
    code = main(["check"])
    out = capsys.readouterr().out
    for name in ("python", "torch", "torchvision", "numpy", "matplotlib", "pycocotools", "ipywidgets", "jupyterlab",
                 "device", "widgets", "data sample", "progress"):
        assert f"  {name} " in out, name
    data_present = all((REPO_ROOT / f).is_file() for f in DATA_FILES)
    assert code == (0 if data_present else 1), out


def test_check_fails_with_one_sentence_per_missing_piece(tmp_path: Path, capsys) -> None:
    assert main(["check", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    problems = out[out.index("missing:"):].splitlines()[1:]
    assert len(problems) == 1 and "python -m course_utils make-data" in problems[0]


def test_report_names_a_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from course_utils.tools import env_check

    monkeypatch.setattr(env_check, "PACKAGES", env_check.PACKAGES + (("no-such-dist", "no_such_module_xyz"),))
    report = environment_report()
    assert not report.ok
    assert any("no-such-dist cannot be imported" in p and "pip install" in p for p in report.problems)


def test_progress_table(progress_file: Path, capsys) -> None:
    from course_utils import progress

    progress.record_question("00-image-shape", True)
    assert main(["progress", "--path", str(progress_file)]) == 0
    out = capsys.readouterr().out
    assert str(progress_file) in out
    assert "1/1/7" in next(line for line in out.splitlines() if line.startswith("00 "))


def test_progress_missing_file(tmp_path: Path, capsys) -> None:
    from course_utils import progress

    try:
        assert main(["progress", "--path", str(tmp_path / "none.json")]) == 1
    finally:
        progress.set_path(None)
    assert "no progress file" in capsys.readouterr().out


def test_make_data_writes_the_sample(tmp_path: Path, capsys) -> None:
    pytest.importorskip("course_utils.data.coco")
    assert main(["make-data", "--out", str(tmp_path / "sample")]) == 0
    for rel in DATA_FILES:
        data = json.loads((tmp_path / "sample" / Path(rel).relative_to("data")).read_text())
        assert data["images"] and data["annotations"]


def test_no_command_prints_help(capsys) -> None:
    assert main([]) == 2
    assert "check" in capsys.readouterr().out


@pytest.mark.slow
def test_module_entry_point_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "course_utils", "--help"], capture_output=True, text=True,
                            timeout=120, cwd=REPO_ROOT)
    assert result.returncode == 0
    assert "make-data" in result.stdout and "progress" in result.stdout and "check" in result.stdout
    result = subprocess.run([sys.executable, "-m", "course_utils", "check", "--root", "/nonexistent-course"],
                            capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert result.returncode == 1 and "make-data" in result.stdout


def test_make_data_without_scikit_image_says_what_to_install(tmp_path: Path, capsys,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from course_utils.data import own_world

    own_world.photo_textures.cache_clear()
    monkeypatch.setitem(sys.modules, "skimage", None)  # import skimage now raises ImportError
    try:
        assert main(["make-data", "--out", str(tmp_path / "sample")]) == 1
    finally:
        own_world.photo_textures.cache_clear()
    out = capsys.readouterr().out
    assert "cannot be written" in out and "pip install scikit-image" in out and "Traceback" not in out
