"""Test-wide settings: progress and checkpoints in temporary places, a headless matplotlib.

The environment is set when this file is imported, before any test imports ``course_utils``, and
is inherited by every notebook kernel the tests start. ``COURSE_CHECKPOINTS`` is one folder for
the whole session, so lesson 05 can load what lesson 03 saved when the notebooks run in order.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="course-tests-"))
os.environ["COURSE_PROGRESS"] = str(_SESSION_DIR / "progress.json")
os.environ["COURSE_CHECKPOINTS"] = str(_SESSION_DIR / "checkpoints")
os.environ["MPLBACKEND"] = "Agg"

REPO_ROOT = Path(__file__).resolve().parent.parent


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove the session's temporary progress file and checkpoints."""
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


@pytest.fixture
def progress_file(tmp_path: Path) -> Iterator[Path]:
    """A fresh progress file for one test (``progress.set_path``), restored afterwards."""
    from course_utils import progress, quiz

    path = tmp_path / "progress.json"
    progress.set_path(path)
    quiz.forget()
    try:
        yield path
    finally:
        progress.set_path(None)
        quiz.forget()


@pytest.fixture
def check_exercise() -> Callable[[str, Callable], bool]:
    """``exercises.check(name, fn)`` without its printed report: True when ``fn`` passes every case.

    Returns:
        a function ``(name, fn) -> bool`` taking an exercise name and a candidate solution.
    """
    from course_utils import exercises

    def check(name: str, fn: Callable) -> bool:
        return exercises.check(name, fn, verbose=False)

    return check


@pytest.fixture()
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """An empty learner's checkpoint folder and an empty reference-checkpoint folder, both in use."""
    mine, ref = tmp_path / "mine", tmp_path / "ref"
    ref.mkdir()
    monkeypatch.setenv("COURSE_CHECKPOINTS", str(mine))
    monkeypatch.setenv("COURSE_REFERENCE", str(ref))
    return mine, ref
