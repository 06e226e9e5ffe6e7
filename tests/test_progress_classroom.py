"""``python -m course_utils progress --class DIR``: many learners' progress files in one report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_utils import exercises, progress, quiz, solutions
from course_utils.__main__ import main
from course_utils.progress import classroom

RIGHT_00 = {"00-image-shape": "b", "00-numbers-in-image": 49152, "00-sky-class-name": "Sky", "00-sky-percent": "37.5",
            "00-mini-assignments": ["b", "c", "e"], "00-where-progress": 0,
            "00-colour-not-class": "One pixel only has its colour; shape needs neighbours."}


def wrong_count(semantic, class_id):
    return int((semantic != class_id).sum())  # counts every other class


def _learner(file: Path, answers: list[tuple[str, object]], checks: list) -> None:
    progress.set_path(file)
    quiz.forget()
    try:
        for qid, response in answers:
            quiz.answer(qid, response)
        for fn in checks:
            exercises.check("count_pixels_of_class", fn, verbose=False)
    finally:
        progress.set_path(None)
        quiz.forget()


@pytest.fixture
def class_dir(tmp_path: Path, capsys) -> Path:
    folder = tmp_path / "class"
    _learner(folder / "alice" / "progress.json", [("00-image-shape", "a"), *RIGHT_00.items()],
             [wrong_count, solutions.count_pixels_of_class])  # finishes lesson 00, wrong first
    _learner(folder / "bob" / "progress.json", [("00-image-shape", "b")], [wrong_count])
    _learner(folder / "eve.json", [("00-image-shape", "a"), ("00-image-shape", "c")], [])
    (folder / "old").mkdir()
    (folder / "old" / "progress.json").write_text(json.dumps({  # a file from before first tries were kept
        "version": 1, "questions": {"00-image-shape": {"attempts": 1, "correct": True},
                                    "00-sky-percent": {"attempts": 3, "correct": True}},
        "exercises": {"count_pixels_of_class": {"attempts": 2, "passed": True}}}))
    (folder / "broken.json").write_text("{not json")
    (folder / "list.json").write_bytes(b"[1, 2, 3]")
    (folder / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (folder / "partial.json").write_text(json.dumps({"questions": {"00-image-shape": {"attempts": "many"},
                                                                  "00-sky-percent": [1]}, "exercises": {}}))
    (folder / "notes.txt").write_text("not a progress file")
    capsys.readouterr()
    return folder


def test_bad_files_are_named_and_skipped(class_dir: Path) -> None:
    records = classroom.read_class(class_dir)
    assert records.learners == ["alice", "bob", "eve", "old", "partial"]
    assert sorted(name for name, _ in records.skipped) == ["binary.json", "broken.json", "list.json"]
    assert [name for name, _ in records.partial] == ["partial.json"]
    assert (class_dir / "broken.json").read_text() == "{not json"  # read, never moved aside or changed


def test_lessons_questions_and_exercises(class_dir: Path) -> None:
    records = classroom.read_class(class_dir)
    lesson00 = next(r for r in classroom.lesson_rows(records) if r[0] == "00")
    assert lesson00[2:] == (4, 1, 5)  # started (alice, bob, eve, old), finished (alice), learners
    shape = next(r for r in classroom.question_rows(records) if r[0] == "00-image-shape")
    # first try right: bob and old (one attempt, right); alice and eve wrong first. 'a' was chosen by two learners.
    assert shape[1] == 4 and shape[2] == "50% (2/4)"
    assert shape[3].startswith("a: ") and shape[3].endswith("(2)")
    percent = next(r for r in classroom.question_rows(records) if r[0] == "00-sky-percent")
    assert percent[2] == "100% (1/1)"  # old's three attempts say nothing certain about the first one
    count = next(r for r in classroom.exercise_rows(records) if r[0] == "count_pixels_of_class")
    first_case = exercises.cases("count_pixels_of_class")[0].description
    assert count[1:3] == (3, "67% (2/3)") and count[3] == f"{first_case} (2)"


def test_command_line(class_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["progress", "--class", str(class_dir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Class report: 5 learner(s) in {class_dir}")
    for words in ("skipped broken.json: JSONDecodeError", "skipped list.json: it is not a course progress record",
                  "partly read partial.json: 2 record(s)", "first try right", "most common failing case"):
        assert words in out, words
    assert "Traceback" not in out
    assert main(["progress", "--class", str(tmp_path / "nowhere")]) == 1
    assert "There is no folder" in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "x.json").write_text("")
    assert main(["progress", "--class", str(empty)]) == 1
    out = capsys.readouterr().out
    assert "No readable progress file" in out and "skipped x.json" in out
