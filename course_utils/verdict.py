"""What a check returns: ``Verdict``, true when an answer or a function passed, shown as nothing in a notebook.

``quiz.answer`` and ``exercises.check`` print their feedback and return a ``Verdict``, so a cell ends in the
feedback rather than in a bare ``True`` or ``False``, while ``if quiz.answer(...)`` and ``assert
exercises.check(...)`` still work as with a bool.
"""

from __future__ import annotations

__all__ = ["Verdict"]


class Verdict:
    """True when the answer or function passed; IPython displays nothing for it (the feedback above says it)."""

    __slots__ = ("passed",)

    def __init__(self, passed: bool):
        self.passed = bool(passed)

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return "passed" if self.passed else "not passed yet"

    def _ipython_display_(self) -> None:
        """Display nothing: the printed feedback is the cell's output."""
