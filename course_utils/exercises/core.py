"""The building blocks of mini assignments: a test ``Case`` and the ``@exercise`` registry.

A lesson's checks live in ``course_utils/exercises/lessonNN.py``::

    from .core import Case, exercise

    @exercise("pixel_accuracy", lesson="01", hint="Compare element-wise, then average over all pixels.")
    def pixel_accuracy_cases(gen: torch.Generator) -> list[Case]:
        return [Case("two random 8x8 maps", args=(pred, target)), ...]

The reference ("back of the book") is ``course_utils.solutions.<name>``; ``exercises.check(name, fn)``
runs both on every case and compares the results (see ``compare.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Case", "Exercise", "exercise", "REGISTRY", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 5.0  # seconds one call of the learner's function may take before the check stops it


@dataclass
class Case:
    """One input on which the learner's function must agree with the reference.

    Args:
        description: what the case is, in words the learner understands ("an empty map").
        args: positional arguments for both functions (each side gets its own deep copy).
        kwargs: keyword arguments for both functions.
        hint: a hint shown when this case fails (else the exercise's hint).
        expect_error: the exception type the reference raises here; the learner must raise it too.
        atol: absolute tolerance for floating-point results.
        rtol: relative tolerance for floating-point results.
        compare: a custom comparison ``(expected, got) -> message or None`` used instead of the default.
    """

    description: str  # shown to the learner when the case fails
    args: tuple = ()  # positional arguments, deep-copied for each side
    kwargs: dict[str, Any] = field(default_factory=dict)  # keyword arguments, deep-copied for each side
    hint: str | None = None  # case-specific hint; falls back to the exercise's hint
    expect_error: type[BaseException] | None = None  # the reference raises this; so must the learner
    atol: float = 1e-5  # absolute tolerance for float results
    rtol: float = 1e-4  # relative tolerance for float results
    compare: Callable[[Any, Any], str | None] | None = None  # custom comparison returning a mismatch message

    def __post_init__(self) -> None:
        if not isinstance(self.args, tuple):
            self.args = tuple(self.args) if isinstance(self.args, list) else (self.args,)
        if self.kwargs is None:
            self.kwargs = {}


@dataclass(frozen=True)
class Exercise:
    """A registered mini assignment: its name, lesson, hint and case generator."""

    name: str  # the name of the function the learner writes (and of the reference in solutions)
    lesson: str  # two-digit lesson number, "00".."11"
    hint: str  # the general hint shown with a failing case
    make_cases: Callable[..., list[Case]]  # gen: torch.Generator -> list[Case]
    timeout: float = DEFAULT_TIMEOUT  # seconds per call of the learner's function
    seed: int = 0  # seed of the generator handed to make_cases, so cases repeat


REGISTRY: dict[str, Exercise] = {}


def exercise(name: str, lesson: str, hint: str = "", timeout: float = DEFAULT_TIMEOUT,
             seed: int = 0) -> Callable[[Callable[..., list[Case]]], Callable[..., list[Case]]]:
    """Register a case generator as the check of exercise ``name``.

    Args:
        name: the exercise name; ``course_utils.solutions.<name>`` must be its reference.
        lesson: the lesson it belongs to, two digits ("01").
        hint: a general hint shown under a failing case.
        timeout: seconds one call of the learner's function may take.
        seed: seed for the ``torch.Generator`` passed to the case generator.

    Returns:
        a decorator that registers the function and returns it unchanged.
    """
    lesson = str(lesson).zfill(2)

    def register(make_cases: Callable[..., list[Case]]) -> Callable[..., list[Case]]:
        if name in REGISTRY and REGISTRY[name].make_cases.__qualname__ != make_cases.__qualname__:
            raise ValueError(f"Exercise {name!r} is registered twice (lesson {REGISTRY[name].lesson} and {lesson}).")
        REGISTRY[name] = Exercise(name=name, lesson=lesson, hint=hint, make_cases=make_cases,
                                  timeout=float(timeout), seed=int(seed))
        return make_cases

    return register
