"""The progress file: records, atomic writes, damaged files set aside, the per-lesson table."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest

from course_utils import progress
from course_utils.progress import report


def test_default_path_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from course_utils.paths import REPO_ROOT

    progress.set_path(None)
    monkeypatch.setenv("COURSE_PROGRESS", str(tmp_path / "p.json"))
    assert progress.path() == tmp_path / "p.json"
    monkeypatch.delenv("COURSE_PROGRESS")
    assert progress.path() == REPO_ROOT / "progress.json"
    assert progress.set_path(tmp_path / "q.json") == tmp_path / "q.json"
    assert progress.path() == tmp_path / "q.json"
    progress.set_path(None)


def test_records_questions_and_exercises(progress_file: Path) -> None:
    progress.record_question("00-image-shape", False)
    progress.record_question("00-image-shape", True)
    progress.record_question("00-image-shape", False)  # "correct" means: ever right
    progress.record_exercise("count_pixels_of_class", False)
    data = json.loads(progress_file.read_text())
    q = data["questions"]["00-image-shape"]
    assert q["attempts"] == 3 and q["correct"] is True and q["last"]
    assert data["exercises"]["count_pixels_of_class"]["passed"] is False
    assert data["exercises"]["count_pixels_of_class"]["attempts"] == 1
    assert [p.name for p in progress_file.parent.iterdir()] == ["progress.json"]  # no temporary files left


def test_folder_is_created(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "progress.json"
    progress.set_path(target)
    try:
        progress.record_exercise("count_pixels_of_class", True)
    finally:
        progress.set_path(None)
    assert json.loads(target.read_text())["exercises"]["count_pixels_of_class"]["passed"] is True


@pytest.mark.parametrize("content", ["{not json", "[1, 2, 3]", '{"questions": []}', "\x00\xff garbage"])
def test_damaged_file_is_set_aside(progress_file: Path, content: str) -> None:
    progress_file.write_text(content, encoding="latin-1")
    with pytest.warns(UserWarning, match="moved to"):
        progress.record_question("00-image-shape", True)
    aside = [p for p in progress_file.parent.iterdir() if p.name.startswith("progress.json.damaged-")]
    assert len(aside) == 1 and aside[0].read_text(encoding="latin-1") == content
    assert json.loads(progress_file.read_text())["questions"]["00-image-shape"]["correct"] is True


def test_unwritable_location_warns_and_goes_on(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    progress.set_path(blocker / "progress.json")
    try:
        with pytest.warns(UserWarning, match="could not be saved"):
            progress.record_question("00-image-shape", True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            progress.record_question("00-image-shape", True)  # warned once only
    finally:
        progress.set_path(None)


def test_summary_and_table(progress_file: Path) -> None:
    progress.record_question("00-image-shape", True)
    progress.record_question("00-sky-percent", False)
    progress.record_exercise("count_pixels_of_class", True)
    rows = {r["lesson"]: r for r in report.summary()}
    assert [f"{n:02d}" for n in range(12)] == [k for k in sorted(rows) if k <= "11"]
    r0 = rows["00"]
    assert (r0["questions_right"], r0["questions_tried"], r0["questions_total"]) == (1, 2, 7)
    assert (r0["exercises_passed"], r0["exercises_total"]) == (1, 1)
    text = report.table()
    line = next(x for x in text.splitlines() if x.startswith("00 "))
    assert "1/2/7" in line and "1/1" in line
    assert "| 00 | Start here | 1 / 2 / 7 | 1 / 1 |" in report.table_markdown()


def test_reset(progress_file: Path) -> None:
    progress.record_question("00-image-shape", True)
    progress.reset()
    assert progress.load() == {"version": 1, "questions": {}, "exercises": {}}
    assert os.path.exists(progress_file)


def test_first_result_and_misses_are_kept(progress_file: Path) -> None:
    progress.record_exercise("count_pixels_of_class", False, "an empty map")
    progress.record_exercise("count_pixels_of_class", False, "an empty map")
    progress.record_exercise("count_pixels_of_class", False, "a random map")
    progress.record_exercise("count_pixels_of_class", True, "ignored when passed")
    record = json.loads(progress_file.read_text())["exercises"]["count_pixels_of_class"]
    assert record["first_passed"] is False and record["passed"] is True and record["attempts"] == 4
    assert record["failed_cases"] == {"an empty map": 2, "a random map": 1}


def test_read_leaves_a_damaged_file_where_it_is(tmp_path: Path) -> None:
    file = tmp_path / "p.json"
    file.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a course progress record"):
        progress.read(file)
    file.write_text("{oops")
    with pytest.raises(ValueError, match="JSONDecodeError"):
        progress.read(file)
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]


def test_nothing_is_recorded_while_nbgrader_runs(progress_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    progress.record_question("00-image-shape", True)
    progress.record_exercise("count_pixels_of_class", False, "a case")
    assert not progress_file.exists()
    monkeypatch.delenv("NBGRADER_EXECUTION")
    progress.record_question("00-image-shape", True)
    assert progress_file.exists()
