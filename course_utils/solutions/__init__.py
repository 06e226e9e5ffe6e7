"""The back of the book: reference solutions of every mini assignment.

Each ``course_utils/solutions/lessonNN.py`` module holds the reference functions of one lesson;
every public function defined there is re-exported here under its own name, so
``course_utils.solutions.count_pixels_of_class`` is the reference of the exercise of that name.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import warnings

_LESSON_MODULE = re.compile(r"^lesson\d\d$")

__all__: list[str] = []
LESSON_OF: dict[str, str] = {}  # function name -> lesson module it comes from ("lesson01")


def _export_lessons() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not _LESSON_MODULE.match(info.name):
            continue
        try:
            module = importlib.import_module(f"{__name__}.{info.name}")
        except Exception as err:  # noqa: BLE001 - one broken lesson must not hide the others
            warnings.warn(f"course_utils.solutions.{info.name} could not be imported ({type(err).__name__}: {err}); "
                          "its reference solutions are missing.", RuntimeWarning, stacklevel=2)
            continue
        public = getattr(module, "__all__", None)
        for name, obj in vars(module).items():
            if name.startswith("_") or not inspect.isfunction(obj) or obj.__module__ != module.__name__:
                continue
            if public is not None and name not in public:
                continue
            if name in LESSON_OF:
                warnings.warn(f"Reference {name!r} is defined in both {LESSON_OF[name]} and {info.name}; "
                              f"using the one from {LESSON_OF[name]}.", RuntimeWarning, stacklevel=2)
                continue
            globals()[name] = obj
            LESSON_OF[name] = info.name
            __all__.append(name)


_export_lessons()
