"""One grading path for widgets and text: grade, remember wrong tries, record progress."""

from __future__ import annotations

from typing import Any

from .. import progress
from .bank import Question
from .grading import Feedback, grade

__all__ = ["submit", "wrong_tries", "forget"]

_wrong: dict[str, int] = {}  # question id -> wrong tries in this session (numeric/text reveal the answer later)


def wrong_tries(qid: str) -> int:
    """How many wrong tries the learner made at ``qid`` in this session."""
    return _wrong.get(qid, 0)


def forget() -> None:
    """Forget this session's wrong-try counts (tests use it)."""
    _wrong.clear()


def submit(q: Question, response: Any, record: bool = True) -> Feedback:
    """Grade a response, update the session's try count and the progress file.

    Args:
        q: the question.
        response: the learner's answer (see ``grade``).
        record: write the attempt to the progress file (bad input is never recorded).

    Returns:
        the ``Feedback``.
    """
    fb = grade(q, response, wrong_before=_wrong.get(q.id, 0))
    if fb.status == "wrong":
        _wrong[q.id] = _wrong.get(q.id, 0) + 1
    if record and fb.status != "invalid":
        try:
            progress.record_question(q.id, fb.correct, fb.answer)
        except Exception:  # noqa: BLE001 - progress is a convenience, never a reason to lose the feedback
            pass
    return fb
