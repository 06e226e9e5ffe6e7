"""nbgrader's notebook executor with the course's reply reading, for ``nbgrader autograde``.

nbgrader executes a submission with its ``Execute`` preprocessor, an nbclient client; after a lesson's
ipywidgets viewer cell it can sleep through the kernel's reply until the cell timeout
(``lesson_runner.SlicedReplies`` explains why). ``CourseExecute`` is nbgrader's ``Execute`` with the
lesson runner's fix; the ``nbgrader_config.py`` that ``python -m course_utils nbgrader`` writes puts it in
place of ``Execute``. Importing this module needs nbgrader (``pip install -r requirements-dev.txt``).
"""

from __future__ import annotations

from nbgrader.converters.autograde import Autograde
from nbgrader.preprocessors import Execute

from .lesson_runner import SlicedReplies

__all__ = ["CourseExecute", "autograde_preprocessors"]


class CourseExecute(SlicedReplies, Execute):
    """nbgrader's ``Execute`` reading the kernel's replies in short slices (no stall after widget cells)."""


def autograde_preprocessors() -> list:
    """nbgrader's autograde preprocessors with ``Execute`` replaced by ``CourseExecute``.

    Returns:
        the list for ``c.Autograde.autograde_preprocessors``.
    """
    default = Autograde.class_traits()["autograde_preprocessors"].default()
    return [CourseExecute if pp is Execute else pp for pp in default]
