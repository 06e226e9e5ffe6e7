"""The lessons as an nbgrader course: ``python -m course_utils nbgrader OUT`` (``make assignments``).

Every lesson with a mini assignment becomes ``OUT/source/<lesson>/<lesson>.ipynb``, the lesson itself
with three changes:

- each exercise cell is an nbgrader *solution* cell: the stub's ``raise NotImplementedError`` is replaced
  by the course's reference solution between ``### BEGIN SOLUTION`` / ``### END SOLUTION``, which
  ``nbgrader generate_assignment`` turns back into a stub for the learners;
- each check ``exercises.check("name", name)`` becomes two locked autograder cells: ``exercises.grade``
  on the check's own cases (``VISIBLE_POINTS``) and on hidden cases of the same kinds with other
  random inputs (``HIDDEN_POINTS``, between ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``);
- a first cell says what is graded.

Quiz cells stay as they are: interactive in the released notebook, text while nbgrader runs it, and
never graded. ``OUT/nbgrader_config.py`` sizes the cell timeouts for the lessons, replaces nbgrader's
executor by one that does not stall after widget cells, and strips the hidden tests from feedback.
"""

from __future__ import annotations

import ast
import inspect
import re
import secrets
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.warnings import MissingIDFieldWarning

from .. import exercises
from ..paths import LESSON_BUDGET_S, NOTEBOOKS_DIR
from .lesson_runner import discover

__all__ = ["VISIBLE_POINTS", "HIDDEN_POINTS", "CELL_TIMEOUT_S", "ExportError", "AssignmentSummary",
           "assignment_lessons", "solution_lines", "to_assignment", "export_course", "config_text"]

VISIBLE_POINTS = 2  # points of the autograder cell that runs the check's own cases
HIDDEN_POINTS = 1  # points of the autograder cell that runs the hidden cases
CELL_TIMEOUT_S = int(2 * LESSON_BUDGET_S)  # no cell takes longer than a whole lesson on a CPU twice as slow
STARTUP_TIMEOUT_S = 120  # a kernel start on a busy grading machine
_CHECK_LINE = re.compile(r"""^\s*exercises\.check\(\s*["'](\w+)["']\s*,\s*(\w+)\s*\)\s*(#.*)?$""")


class ExportError(ValueError):
    """A lesson cannot be turned into an assignment (the message says which cell and why)."""


@dataclass(frozen=True)
class AssignmentSummary:
    """One exported assignment."""

    name: str  # the assignment (and notebook) name: the lesson's file stem
    exercises: tuple[str, ...]  # its exercises, in notebook order
    points: int  # total points of its autograder cells
    path: Path  # the source notebook written


def assignment_lessons(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The lesson notebooks that have a mini assignment (an exercise registered for their number).

    Args:
        notebooks_dir: the folder holding the lessons.

    Returns:
        notebook paths in course order.
    """
    return [p for p in discover(notebooks_dir) if exercises.names_for_lesson(p.name[:2])]


def solution_lines(name: str) -> list[str]:
    """The body of the reference ``solutions.<name>`` (docstring left out), runnable on its own.

    Names the reference takes from its module (``torch``, a private helper) are imported from that module
    on the first line, so the solution cell runs in the notebook as it runs in the package.

    Args:
        name: an exercise name.

    Returns:
        the lines, not indented.
    """
    ref = exercises.reference(name)
    module = inspect.getmodule(ref)
    source = textwrap.dedent(inspect.getsource(ref))
    fn = ast.parse(source).body[0]
    body = fn.body[1:] if ast.get_docstring(fn) is not None else fn.body
    lines = textwrap.dedent("\n".join(source.splitlines()[body[0].lineno - 1:fn.end_lineno])).splitlines()
    names = [n for node in body for n in ast.walk(node) if isinstance(n, ast.Name)]
    local = {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)} | {
        n.id for n in names if isinstance(n.ctx, ast.Store)}
    used = sorted({n.id for n in names} & set(vars(module)) - local)
    if used:
        lines.insert(0, f"from {module.__name__} import {', '.join(used)}")
    return lines


def _meta(grade_id: str, solution: bool, grade: bool, points: int = 0) -> dict:
    """nbgrader's cell metadata (schema 3)."""
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
            "solution": solution, "task": False}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def _stub_raise(fn: ast.FunctionDef) -> ast.Raise | None:
    """The ``raise NotImplementedError`` that is the stub's whole body, if it is a stub."""
    body = [n for n in fn.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    if len(body) != 1 or not isinstance(body[0], ast.Raise):
        return None
    exc = body[0].exc
    target = exc.func if isinstance(exc, ast.Call) else exc
    return body[0] if isinstance(target, ast.Name) and target.id == "NotImplementedError" else None


def _solution_cell(cell: nbformat.NotebookNode, names: list[str], lesson: str) -> list[str]:
    """Put the reference into each stub of ``names`` defined in ``cell``; returns the exercises it holds."""
    try:
        tree = ast.parse(cell.source)
    except SyntaxError:
        return []
    lines = cell.source.splitlines()
    found = []
    stubs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    for fn in sorted(stubs, key=lambda n: n.lineno, reverse=True):  # bottom up, so line numbers stay right
        raise_node = _stub_raise(fn)
        if raise_node is None:
            continue
        ref_params = list(inspect.signature(exercises.reference(fn.name)).parameters)
        if [a.arg for a in fn.args.args] != ref_params:
            raise ExportError(f"lesson {lesson}: the stub of {fn.name} takes ({', '.join(a.arg for a in fn.args.args)})"
                              f" but the reference takes ({', '.join(ref_params)}); make them agree.")
        pad = " " * raise_node.col_offset
        region = ["### BEGIN SOLUTION", *solution_lines(fn.name), "### END SOLUTION"]
        lines[raise_node.lineno - 1:raise_node.end_lineno] = [pad + line if line else "" for line in region]
        found.insert(0, fn.name)
    if found:
        cell.source = "\n".join(lines)
        cell.metadata.update(_meta(f"{found[0]}-solution", solution=True, grade=False))
    return found


def _grade_cells(name: str, hidden_seed: int) -> list[nbformat.NotebookNode]:
    """The two autograder cells of exercise ``name``: the check's cases, then the hidden ones."""
    visible = nbformat.v4.new_code_cell(
        f"# Autograded ({VISIBLE_POINTS} points): the same cases as exercises.check; a failing case is printed.\n"
        f'exercises.grade("{name}", {name})',
        metadata=_meta(f"{name}-check", solution=False, grade=True, points=VISIBLE_POINTS))
    hidden = nbformat.v4.new_code_cell(
        f"# Autograded ({HIDDEN_POINTS} point{'s' if HIDDEN_POINTS > 1 else ''}) when your work is graded: hidden "
        "cases of the same kinds with other inputs, not shown here.\n"
        f'### BEGIN HIDDEN TESTS\nexercises.grade("{name}", {name}, hidden_seed={hidden_seed})\n'
        "### END HIDDEN TESTS",
        metadata=_meta(f"{name}-hidden", solution=False, grade=True, points=HIDDEN_POINTS))
    return [visible, hidden]


def _split_check_cell(cell: nbformat.NotebookNode, names: list[str]) -> tuple[list[str], str]:
    """The exercises checked by ``cell`` (``exercises.check("x", x)`` lines) and what else the cell holds."""
    checked, rest = [], []
    for line in cell.source.splitlines():
        match = _CHECK_LINE.match(line)
        if match and match.group(1) in names and match.group(2) == match.group(1):
            checked.append(match.group(1))
        else:
            rest.append(line)
    return checked, "\n".join(rest).strip()


def _intro_cell(lesson: str, names: list[str]) -> nbformat.NotebookNode:
    total = len(names) * (VISIBLE_POINTS + HIDDEN_POINTS)
    listed = ", ".join(f"`{n}`" for n in names)
    return nbformat.v4.new_markdown_cell(
        f"**Graded assignment (lesson {lesson}, {total} points).** Write {listed} in the cells that say "
        "`# YOUR CODE HERE` (replace the `raise NotImplementedError()` line). Each function's autograded cells "
        f"give {VISIBLE_POINTS} points for the cases you can check yourself and {HIDDEN_POINTS} for hidden cases "
        "of the same kinds with other inputs. Run them to see your feedback; the practice questions are not "
        "graded. Before you submit, run the whole notebook top to bottom (Kernel > Restart Kernel and Run All "
        "Cells).",
        metadata=_meta(f"lesson-{lesson}-instructions", solution=False, grade=False))


def to_assignment(nb: nbformat.NotebookNode, lesson: str, hidden_seed: int) -> tuple[nbformat.NotebookNode, list[str]]:
    """Turn a lesson notebook into an nbgrader source notebook (see the module docstring).

    Args:
        nb: the lesson notebook (not changed).
        lesson: its two-digit number.
        hidden_seed: seed of the hidden cases' random inputs.

    Returns:
        the source notebook and its exercise names in notebook order. Raises ``ExportError`` when an
        exercise of the lesson has no stub or no check cell.
    """
    names = exercises.names_for_lesson(lesson)
    out = nbformat.from_dict(nb)
    cells, solved, checked = [], [], []
    for cell in out.cells:
        if cell.cell_type != "code":
            cells.append(cell)
            continue
        solved += _solution_cell(cell, names, lesson)
        found, rest = _split_check_cell(cell, names)
        if not found:
            cells.append(cell)
            continue
        if rest:
            cell.source = rest
            cells.append(cell)
        for name in found:
            cells += _grade_cells(name, hidden_seed)
        checked += found
    for what, have in (("stub (a def with raise NotImplementedError)", solved),
                       ('check cell (exercises.check("name", name))', checked)):
        missing = [n for n in names if n not in have]
        if missing:
            raise ExportError(f"lesson {lesson}: no {what} for {', '.join(missing)}.")
    cells.insert(0, _intro_cell(lesson, checked))
    for number, cell in enumerate(cells):
        cell.setdefault("id", f"lesson-{lesson}-cell-{number}")  # nbformat 4.5 wants one on every cell
        if cell.cell_type == "code":
            cell.update(outputs=[], execution_count=None)
    out.cells = cells
    return out, checked


def config_text(course_id: str = "segmentation-course") -> str:
    """The ``nbgrader_config.py`` of the exported course.

    Args:
        course_id: nbgrader's course id.

    Returns:
        the file's text.
    """
    return f'''"""nbgrader settings of the image segmentation course (written by python -m course_utils nbgrader)."""

import os

from course_utils.tools.nbgrader_execute import autograde_preprocessors

c = get_config()  # noqa: F821 - nbgrader provides get_config when it reads this file

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "{course_id}"

# A lesson trains small models on the CPU: a cell may run up to a whole lesson's budget on a CPU twice as
# slow (nbgrader's default is 30 s). A learner's endless loop inside a checked function is stopped by the
# check itself after a few seconds.
c.Execute.timeout = {CELL_TIMEOUT_S}
c.Execute.startup_timeout = {STARTUP_TIMEOUT_S}
c.Execute.interrupt_on_timeout = True
# The course's executor: nbgrader's, without the stall after a widget cell.
c.Autograde.autograde_preprocessors = autograde_preprocessors()
# Feedback pages leave the hidden tests out (nbgrader shows them by default).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
'''


def export_course(out: Path, only: list[str] | None = None, hidden_seed: int | None = None,
                  notebooks_dir: Path = NOTEBOOKS_DIR) -> list[AssignmentSummary]:
    """Write the nbgrader course folder: ``source/<lesson>/<lesson>.ipynb`` and ``nbgrader_config.py``.

    Args:
        out: the course folder (created; existing source notebooks of the same lessons are replaced).
        only: lesson numbers to export ("02"); default every lesson with a mini assignment.
        hidden_seed: seed of the hidden cases (default: a fresh random one, kept in the source notebooks).
        notebooks_dir: the lessons.

    Returns:
        one summary per assignment written. Raises ``ExportError`` (a clear message) for an unknown lesson
        or a lesson without a mini assignment.
    """
    lessons = assignment_lessons(notebooks_dir)
    if only is not None:
        wanted = {str(n).zfill(2) for n in only}
        have = {p.name[:2] for p in lessons}
        unknown = sorted(wanted - have)
        if unknown:
            raise ExportError(f"no lesson with a mini assignment numbered {', '.join(unknown)} "
                              f"(lessons with one: {', '.join(sorted(have)) or 'none'}).")
        lessons = [p for p in lessons if p.name[:2] in wanted]
    seed = secrets.randbelow(2**31 - 1) + 1 if hidden_seed is None else int(hidden_seed)
    own = {ex.seed for ex in exercises.REGISTRY.values()}
    if seed in own:
        raise ExportError(f"the hidden seed must differ from the checks' own seeds ({', '.join(map(str, sorted(own)))})"
                          ", or the hidden cases would be the visible ones.")
    summaries = []
    for path in lessons:
        with warnings.catch_warnings():  # a lesson cell without an id gets one in to_assignment
            warnings.simplefilter("ignore", MissingIDFieldWarning)
            lesson = nbformat.read(path, as_version=4)
        nb, names = to_assignment(lesson, path.name[:2], seed)
        target = Path(out) / "source" / path.stem / f"{path.stem}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        summaries.append(AssignmentSummary(path.stem, tuple(names), len(names) * (VISIBLE_POINTS + HIDDEN_POINTS),
                                           target))
    (Path(out) / "nbgrader_config.py").write_text(config_text(), encoding="utf-8")
    return summaries
