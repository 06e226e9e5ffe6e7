"""The real nbgrader, end to end, on one exported lesson: release, a learner's submission, autograde, feedback.

The learner writes one exercise right, one the typical wrong way and leaves one as the stub; the points of
every autograded cell and the reason of every lost point (in the feedback page) are checked.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from course_utils import exercises
from course_utils.tools import nbgrader_export as ne

pytest.importorskip("nbgrader", reason="nbgrader is not installed (pip install -r requirements-dev.txt)")

RIGHT, WRONG, STUB = "conv_output_size", "conv_transpose_output_size", "bilinear_kernel"
# The typical mistake: output_padding forgotten (the output is one pixel short whenever it is used).
WRONG_BODY = "return (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + 1"
SEED = 2718
STEP_TIMEOUT_S = 300  # one nbgrader command; lesson and kernel start included


def nbgrader(course: Path, *args: str) -> float:
    """Run one nbgrader command in the course folder; its wall time in seconds."""
    env = dict(os.environ)
    # nbgrader runs the `alembic` command of its environment by name: that environment's bin/ comes first.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--force"], cwd=course, capture_output=True,
                          text=True, timeout=STEP_TIMEOUT_S, env=env)
    assert done.returncode == 0, f"nbgrader {args[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return time.perf_counter() - start


def write_answer(cell, body: list[str]) -> None:
    stub = "    # YOUR CODE HERE\n    raise NotImplementedError()"
    assert stub in cell.source, cell.source
    cell.source = cell.source.replace(stub, "\n".join("    " + line for line in body))


@pytest.mark.slow
def test_generate_autograde_feedback(tmp_path: Path) -> None:
    lesson = exercises.lesson_of(RIGHT)
    assert {exercises.lesson_of(WRONG), exercises.lesson_of(STUB)} == {lesson}
    course = tmp_path / "course"
    (summary,) = ne.export_course(course, only=[lesson], hidden_seed=SEED)
    name = summary.name
    times = {"generate_assignment": nbgrader(course, "generate_assignment", name)}

    release = course / "release" / name / f"{name}.ipynb"
    nb = nbformat.read(release, as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "BEGIN SOLUTION" not in text and "hidden_seed" not in text and "HIDDEN TESTS" not in text

    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    write_answer(cells[f"{RIGHT}-solution"], ne.solution_lines(RIGHT))
    write_answer(cells[f"{WRONG}-solution"], [WRONG_BODY])
    submitted = course / "submitted" / "alice" / name
    submitted.mkdir(parents=True)
    nbformat.write(nb, submitted / f"{name}.ipynb")
    times["autograde"] = nbgrader(course, "autograde", name)
    times["generate_feedback"] = nbgrader(course, "generate_feedback", name)
    print("nbgrader seconds:", {k: round(v, 1) for k, v in times.items()})

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        graded = gb.find_submission_notebook(name, name, "alice")
        points = {g.name: (g.auto_score, g.max_score) for g in graded.grades}
    expected = {f"{n}-{kind}": (score, float(top)) for n, ok in ((RIGHT, True), (WRONG, False), (STUB, False))
                for kind, top in (("check", ne.VISIBLE_POINTS), ("hidden", ne.HIDDEN_POINTS))
                for score in [float(top) if ok else 0.0]}
    assert points == expected

    autograded = nbformat.read(course / "autograded" / "alice" / name / f"{name}.ipynb", as_version=4)
    assert not any(o.get("ename") == "CellTimeoutError" for c in autograded.cells for o in c.get("outputs", []))
    quiz_cell = next(c for c in autograded.cells if "quiz.show(" in c.source)
    assert "quiz.answer(" in "".join(o.get("text", "") for o in quiz_cell.outputs)  # text, no widget to click

    page = (course / "feedback" / "alice" / name / f"{name}.html").read_text(encoding="utf-8")
    assert f"Points lost: {WRONG} fails case" in page and "your result is" in page
    assert f"Points lost: {STUB} is not attempted yet" in page
    assert f"{WRONG}: hidden cases not run, because the function fails the check&#39;s own cases" in page or (
        f"{WRONG}: hidden cases not run, because the function fails the check's own cases" in page)
    assert f"{STUB}: hidden cases not run, because the function is not attempted yet" in page
    assert f"all {len(exercises.cases(RIGHT))} hidden cases pass" in page
    for secret in ("hidden_seed", "HIDDEN TESTS", str(SEED)):
        assert secret not in page, f"the feedback page shows {secret!r}"
