"""Practice questions: ``show(lesson)`` renders a lesson's bank; ``answer(qid, response)`` checks one answer.

In JupyterLab ``show`` draws widgets (instant feedback, hints, retries). Anywhere else (a console, a
test) it prints the questions; answer them with ``answer``, which prints the same feedback as text
and returns True or False. Banks live in ``course_utils/questions/NN.json`` (see ``bank.py``).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from typing import Any

from ..verdict import Verdict
from .bank import (
    KINDS,
    QUESTIONS_DIR,
    Bank,
    BankError,
    Option,
    Question,
    available_lessons,
    find_question,
    lesson_key,
    load_all,
    load_bank,
    parse_bank,
)
from .grading import Feedback, grade
from .session import forget, submit
from .static import static_html, text_view

__all__ = ["show", "answer", "hint", "grade", "Feedback", "load_bank", "load_all", "parse_bank", "find_question",
           "question_ids_by_lesson", "available_lessons", "Bank", "BankError", "Question", "Option", "KINDS",
           "QUESTIONS_DIR", "widgets_available", "forget", "lesson_key", "static_html", "text_view"]


def widgets_available() -> bool:
    """True inside a Jupyter kernel with ipywidgets installed (where widgets can be shown).

    False while nbgrader executes the notebook (``NBGRADER_EXECUTION`` is set): an autograder has no one to
    click, and the graded copy and its feedback page then show the questions as text.
    """
    if os.environ.get("NBGRADER_EXECUTION"):
        return False
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
            return False
        import ipywidgets  # noqa: F401

        return True
    except Exception:  # noqa: BLE001 - no IPython, no widgets
        return False


def question_ids_by_lesson() -> dict[str, list[str]]:
    """Every question id, by lesson (banks that fail to load are left out)."""
    out: dict[str, list[str]] = {}
    for key in available_lessons():
        try:
            out[key] = [q.id for q in load_bank(key).questions]
        except (BankError, OSError):
            continue
    return out


def _select(bank: Bank, ids: Iterable[str] | str | None) -> list[Question] | str:
    if ids is None:
        return list(bank.questions)
    wanted = [ids] if isinstance(ids, str) else list(ids)
    by_id = {q.id: q for q in bank.questions}
    missing = [i for i in wanted if i not in by_id]
    if missing:
        return f"Lesson {bank.lesson} has no question {missing[0]!r}. Its questions are: {', '.join(by_id)}."
    return [by_id[i] for i in wanted]


def show(lesson: str | int, ids: Iterable[str] | str | None = None, mode: str = "auto") -> None:
    """Show a lesson's practice questions: widgets in JupyterLab, text elsewhere.

    The widget output also carries the questions as static HTML and text (no answers), which is what
    a view without live widgets shows (GitHub, nbconvert HTML, a saved copy opened without its kernel).

    Args:
        lesson: the lesson number, "04" or 4.
        ids: show only these question ids (default: all, in the bank's order).
        mode: "auto" (widgets when possible), "widgets" or "text".

    Returns:
        None; the questions are displayed (or printed).
    """
    try:
        bank = load_bank(lesson)
    except (FileNotFoundError, ValueError) as err:
        print(err)
        return
    questions = _select(bank, ids)
    if isinstance(questions, str):
        print(questions)
        return
    use_widgets = mode == "widgets" or (mode == "auto" and widgets_available())
    if use_widgets:
        try:
            from IPython.display import display

            from .widgets import quiz_bundle

            display(quiz_bundle(bank, questions), raw=True)
            return
        except Exception as err:  # noqa: BLE001 - fall back to text rather than leave the learner with nothing
            print(f"(The interactive widgets could not be shown: {type(err).__name__}: {err}. Text version below.)")
    print(text_view(bank, questions))


def answer(qid: str, response: Any = None) -> Verdict:
    """Check an answer to question ``qid``, print the feedback, and record the attempt.

    Args:
        qid: the question id shown by ``show`` (e.g. "00-pixels-in-image").
        response: single choice -> option index (0-based), letter ("b") or the option's text; multiple choice ->
            a list of those; numeric -> a number or numeric string; text -> a string; open -> your answer.

    Returns:
        a ``Verdict``, true when right (open questions: when you wrote something); never raises. A notebook
        shows only the printed feedback.
    """
    try:
        q = find_question(qid) if isinstance(qid, str) else None
        if q is None:
            print(_unknown_qid(qid))
            return Verdict(False)
        fb = submit(q, response)
        print(fb.text())
        return Verdict(fb.correct)
    except Exception as err:  # noqa: BLE001 - the learner gets a sentence, never a traceback
        print(f"That answer could not be checked ({type(err).__name__}: {err}).")
        return Verdict(False)


def hint(qid: str) -> str | None:
    """Print (and return) the hint of question ``qid``.

    Args:
        qid: the question id.

    Returns:
        the hint text, or None when the question has none or does not exist.
    """
    q = find_question(qid) if isinstance(qid, str) else None
    if q is None:
        print(_unknown_qid(qid))
        return None
    print(f"Hint: {q.hint}" if q.hint else "This question has no hint; the explanations after each try help.")
    return q.hint


def _unknown_qid(qid: Any) -> str:
    if not isinstance(qid, str) or not qid.strip():
        return 'quiz.answer needs a question id first, like quiz.answer("00-pixels-in-image", "b").'
    every = [i for ids in question_ids_by_lesson().values() for i in ids]
    close = difflib.get_close_matches(qid, every, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else " quiz.show(\"NN\") lists a lesson's question ids."
    return f"There is no question {qid!r}.{hint}"
