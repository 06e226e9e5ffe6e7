"""``python -m course_utils nbgrader``: every lesson with a mini assignment as an nbgrader source notebook."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
import torch

from course_utils import exercises
from course_utils.__main__ import main
from course_utils.paths import LESSON_BUDGET_S, NOTEBOOKS_DIR
from course_utils.tools import nbgrader_export as ne

SEED = 4242


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[ne.AssignmentSummary]]:
    out = tmp_path_factory.mktemp("nbgrader-course")
    return out, ne.export_course(out, hidden_seed=SEED)


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def test_every_lesson_with_exercises_is_an_assignment(course) -> None:
    out, written = course
    lessons = sorted({exercises.lesson_of(n) for n in exercises.NAMES})
    assert [a.name[:2] for a in written] == lessons
    assert sorted(n for a in written for n in a.exercises) == sorted(exercises.NAMES)
    for a in written:
        assert a.path == out / "source" / a.name / f"{a.name}.ipynb" and a.path.is_file()
        assert (NOTEBOOKS_DIR / f"{a.name}.ipynb").is_file()
        assert a.points == len(a.exercises) * (ne.VISIBLE_POINTS + ne.HIDDEN_POINTS)
    assert (out / "nbgrader_config.py").is_file()


def test_cells_are_solution_and_locked_grade_cells(course) -> None:
    _, written = course
    for a in written:
        nb = nbformat.read(a.path, as_version=4)
        nbformat.validate(nb)
        ids = [_nbgrader(c)["grade_id"] for c in nb.cells if _nbgrader(c)]
        assert len(ids) == len(set(ids)), a.name
        assert len({c.id for c in nb.cells}) == len(nb.cells)
        for name in a.exercises:
            solution = next(c for c in nb.cells if _nbgrader(c).get("grade_id") == f"{name}-solution"
                            or f"def {name}(" in c.source and _nbgrader(c).get("solution"))
            assert _nbgrader(solution)["solution"] and not _nbgrader(solution)["grade"]
            check = next(c for c in nb.cells if _nbgrader(c).get("grade_id") == f"{name}-check")
            hidden = next(c for c in nb.cells if _nbgrader(c).get("grade_id") == f"{name}-hidden")
            assert _nbgrader(check)["locked"] and _nbgrader(check)["points"] == ne.VISIBLE_POINTS
            assert _nbgrader(hidden)["locked"] and _nbgrader(hidden)["points"] == ne.HIDDEN_POINTS
            assert f'exercises.grade("{name}", {name})' in check.source
            region = re.search(r"### BEGIN HIDDEN TESTS\n(.*)\n### END HIDDEN TESTS", hidden.source).group(1)
            assert region == f'exercises.grade("{name}", {name}, hidden_seed={SEED})'
        assert not any(re.search(r"^\s*exercises\.check\(", c.source, re.M) and f'"{n}", {n})' in c.source
                       for c in nb.cells for n in a.exercises), "a plain check cell was left behind"
        assert sum("quiz.show(" in c.source for c in nb.cells) >= 1 and not any(
            _nbgrader(c).get("grade") for c in nb.cells if "quiz.show(" in c.source)


def test_solution_cells_hold_the_reference(course) -> None:
    """Run every solution cell as the teacher's copy: each function passes its own check."""
    _, written = course
    for a in written:
        nb = nbformat.read(a.path, as_version=4)
        for cell in nb.cells:
            if not _nbgrader(cell).get("solution"):
                continue
            assert "### BEGIN SOLUTION" in cell.source and "raise NotImplementedError" not in cell.source
            namespace: dict = {"torch": torch}
            exec(compile(cell.source, f"<{a.name} solution>", "exec"), namespace)  # noqa: S102 - the course's own
            for name in (n for n in a.exercises if n in namespace):
                assert exercises.check(name, namespace[name], verbose=False), name


def test_solution_region_replaces_the_stub_line_only() -> None:
    lesson = exercises.lesson_of("conv_output_size")
    path = next(p for p in ne.assignment_lessons() if p.name[:2] == lesson)
    original = nbformat.read(path, as_version=4)
    nb, _ = ne.to_assignment(original, lesson, SEED)
    before = next(c.source for c in original.cells if "def conv_output_size(" in c.source)
    after = next(c.source for c in nb.cells if "def conv_output_size(" in c.source)
    kept = [line for line in before.splitlines() if "NotImplementedError" not in line]
    assert [line for line in after.splitlines() if line in kept] == kept
    assert re.search(r"^    ### BEGIN SOLUTION$", after, re.M) and re.search(r"^    ### END SOLUTION$", after, re.M)
    assert "def conv_output_size(" in before and original.cells[0].source != nb.cells[0].source  # intro cell added


def test_solution_lines_import_what_the_reference_uses() -> None:
    lines = ne.solution_lines("roi_align_single")
    assert lines[0] == "from course_utils.solutions.lesson07 import _bilinear, torch"
    ast.parse("\n".join(lines[1:]).replace("return ", "_ = "))
    assert not ne.solution_lines("to_coco_annotations")[0].count("annotations,")  # a local name is not imported


def test_bad_lessons_are_refused_clearly(tmp_path: Path) -> None:
    lesson = exercises.lesson_of("pixel_accuracy")
    path = next(p for p in ne.assignment_lessons() if p.name[:2] == lesson)
    nb = nbformat.read(path, as_version=4)
    renamed = nbformat.from_dict(nb)
    for cell in renamed.cells:
        cell.source = cell.source.replace("def pixel_accuracy(pred, target)", "def pixel_accuracy(p, t)")
    with pytest.raises(ne.ExportError, match="stub of pixel_accuracy takes"):
        ne.to_assignment(renamed, lesson, SEED)
    unchecked = nbformat.from_dict(nb)
    unchecked.cells = [c for c in unchecked.cells if 'exercises.check("mean_iou"' not in c.source]
    with pytest.raises(ne.ExportError, match="no check cell .* for mean_iou"):
        ne.to_assignment(unchecked, lesson, SEED)
    with pytest.raises(ne.ExportError, match="numbered 77"):
        ne.export_course(tmp_path, only=["77"], hidden_seed=SEED)
    with pytest.raises(ne.ExportError, match="hidden seed must differ"):
        ne.export_course(tmp_path, hidden_seed=exercises.REGISTRY["pixel_accuracy"].seed)


def test_config_sizes_timeouts_and_hides_hidden_tests() -> None:
    text = ne.config_text()
    compile(text, "nbgrader_config.py", "exec")
    timeout = int(re.search(r"^c\.Execute\.timeout = (\d+)$", text, re.M).group(1))
    assert timeout >= LESSON_BUDGET_S > 30  # nbgrader's default of 30 s is too short for a training cell
    assert "ClearHiddenTests" in text and "autograde_preprocessors()" in text


def test_command_line(tmp_path: Path, capsys) -> None:
    lesson = exercises.lesson_of("pixel_accuracy")
    assert main(["nbgrader", str(tmp_path / "c"), "--only", lesson, "--hidden-seed", str(SEED)]) == 0
    out = capsys.readouterr().out
    assert f"{len(exercises.names_for_lesson(lesson))} exercise(s)" in out and "nbgrader generate_assignment" in out
    stems = [p.stem for p in ne.assignment_lessons() if p.name[:2] == lesson]
    assert [p.name for p in (tmp_path / "c" / "source").iterdir()] == stems  # that lesson only
    assert main(["nbgrader", str(tmp_path / "d"), "--only", "77"]) == 1
    assert "No assignments written" in capsys.readouterr().out
    (tmp_path / "file").write_text("x")
    assert main(["nbgrader", str(tmp_path / "file")]) == 1
    assert "is a file" in capsys.readouterr().out


def test_lessons_find_their_files_from_anywhere(course) -> None:
    """An assignment runs in another folder than notebooks/: no path may be relative to notebooks/."""
    _, written = course
    for a in written:
        for cell in nbformat.read(a.path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            in_text = {id(part) for f in ast.walk(tree) if isinstance(f, ast.JoinedStr) for part in f.values}
            relative = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                        and id(n) not in in_text and (n.value == ".." or n.value.startswith(("../", "..\\")))]
            assert not relative, f"{a.name}: {relative} depends on running from notebooks/; use the package's paths"
