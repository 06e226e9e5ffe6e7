"""Mini assignments: ``check(name, fn)`` runs a learner's function against the course's reference.

Usage in a notebook::

    from course_utils import exercises
    exercises.check("count_pixels_of_class", count_pixels_of_class)

``NAMES`` lists every exercise; each ``course_utils/exercises/lessonNN.py`` module is imported
automatically and registers its checks with ``@exercise`` (see ``core.py``).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import warnings
from collections.abc import Callable

from .checker import CheckResult, check, run_check, run_limited
from .compare import clone, compare, summarize
from .core import DEFAULT_TIMEOUT, REGISTRY, Case, Exercise, exercise
from .grading import grade

__all__ = ["check", "grade", "run_check", "CheckResult",
           "NAMES", "reference", "cases", "lesson_of", "names_for_lesson", "Case", "Exercise", "exercise",
           "REGISTRY", "DEFAULT_TIMEOUT", "clone", "compare", "summarize", "run_limited"]

_LESSON_MODULE = re.compile(r"^lesson\d\d$")


def _import_lessons() -> list[str]:
    loaded = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not _LESSON_MODULE.match(info.name):
            continue
        try:
            importlib.import_module(f"{__name__}.{info.name}")
            loaded.append(info.name)
        except Exception as err:  # noqa: BLE001 - one broken lesson must not hide the others
            warnings.warn(f"course_utils.exercises.{info.name} could not be imported ({type(err).__name__}: {err}); "
                          "its exercises are missing.", RuntimeWarning, stacklevel=2)
    return loaded


LESSON_MODULES = _import_lessons()

NAMES: list[str] = sorted(REGISTRY, key=lambda n: (REGISTRY[n].lesson, n))


def _known(name: str) -> Exercise:
    if name not in REGISTRY:
        raise KeyError(f"There is no exercise called {name!r}. The exercises are: {', '.join(NAMES)}.")
    return REGISTRY[name]


def reference(name: str) -> Callable:
    """The course's reference function for exercise ``name`` (the "back of the book").

    Args:
        name: an exercise name from ``NAMES``.

    Returns:
        the function ``course_utils.solutions.<name>``.
    """
    _known(name)
    from .. import solutions

    fn = getattr(solutions, name, None)
    if fn is None:
        raise LookupError(f"course_utils.solutions has no function {name!r}.")
    return fn


def cases(name: str) -> list[Case]:
    """The cases exercise ``name`` is checked on (same seed as ``check``, so the same cases).

    Args:
        name: an exercise name from ``NAMES``.

    Returns:
        the list of ``Case`` objects.
    """
    import torch

    ex = _known(name)
    return list(ex.make_cases(torch.Generator().manual_seed(ex.seed)))


def lesson_of(name: str) -> str:
    """The two-digit lesson an exercise belongs to ("01")."""
    return _known(name).lesson


def names_for_lesson(lesson: str | int) -> list[str]:
    """The exercise names of one lesson, e.g. ``names_for_lesson("05")``."""
    key = str(lesson).zfill(2)
    return [n for n in NAMES if REGISTRY[n].lesson == key]
