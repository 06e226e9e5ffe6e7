"""Grading a response to a question, with the same feedback for widgets and plain text."""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .bank import Question

__all__ = ["Feedback", "grade", "letter", "normalise_text", "REVEAL_AFTER"]

REVEAL_AFTER = 2  # numeric / text questions show the worked answer after this many wrong tries
_ABSURD = 1e15  # numbers beyond this are treated as a typo, not as an answer

_KIND_WORDS = {"single": "single choice", "multiple": "multiple choice", "numeric": "number", "text": "short text",
               "open": "open question"}


@dataclass
class Feedback:
    """The result of grading one response."""

    status: str  # "correct", "wrong", "invalid" (bad input) or "open" (open question written)
    headline: str  # one sentence
    details: list[tuple[str, str, str]] = field(default_factory=list)  # (mark, Markdown text, Markdown note or "")
    rubric: tuple[str, ...] = ()  # open questions: self-check points
    answer: str | None = None  # the answer read, in short ("b", "a, c", "12.5", "'pixel'"), for the progress file

    @property
    def correct(self) -> bool:
        """True for a right answer (and for a written open answer)."""
        return self.status in ("correct", "open")

    def text(self) -> str:
        """The feedback as plain text, as ``quiz.answer`` prints it."""
        icons = {"correct": "✔", "wrong": "✘", "invalid": "⚠", "open": "✎"}
        marks = {"right": "  ✓ ", "wrong": "  ✗ ", "missed": "  • missed: ", "info": "  ", "model": "  "}
        lines = [f"{icons[self.status]} {self.headline}"]
        for mark, text, note in self.details:
            lines.append(marks.get(mark, "  ") + text)
            if note:
                lines.append("      " + note)
        if self.rubric:
            lines.append("  Check your answer against these points:")
            lines.extend(f"    [ ] {point}" for point in self.rubric)
        return "\n".join(lines)


def letter(i: int) -> str:
    """Option letter of index ``i``: 0 -> "a"."""
    return chr(97 + i)


def normalise_text(text: str) -> str:
    """Lower-case, collapse spaces, drop surrounding quotes and a final full stop."""
    text = " ".join(str(text).split()).casefold().strip()
    text = text.strip("\"'`")
    return text.rstrip(".!").strip()


def _a(obj: Any) -> str:
    """'an int', 'a list': the type of ``obj`` with its article."""
    name = type(obj).__name__
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


def _invalid(msg: str) -> Feedback:
    return Feedback("invalid", msg)


def _choice_index(q: Question, item: Any) -> int | str:
    """Resolve one chosen option (index, letter or option text) to its index, or a friendly error message."""
    n = len(q.options)
    span = f"a number from 0 to {n - 1}, a letter from a to {letter(n - 1)}, or the option's text"
    if isinstance(item, bool) or item is None:
        return f"Choose an option with {span}."
    if isinstance(item, numbers.Integral) or (isinstance(item, float) and item.is_integer()):
        i = int(item)
        return i if 0 <= i < n else f"There is no option {i}; this question has {n} options. Use {span}."
    if isinstance(item, float):
        return f"{item} is not an option number. Use {span}."
    if isinstance(item, str):
        s = item.strip()
        if not s:
            return f"Your answer is empty. Choose an option with {span}."
        core = s.strip("()[]").rstrip(").:").strip().casefold()
        if len(core) == 1 and core.isalpha():
            i = ord(core) - 97
            return i if 0 <= i < n else f"There is no option ({core}); the options go from a to {letter(n - 1)}."
        if core.isdigit():
            return _choice_index(q, int(core))
        wanted = normalise_text(s)
        for i, opt in enumerate(q.options):
            if normalise_text(opt.text) == wanted:
                return i
        return f"{s!r} is not one of the options. Use {span}."
    return f"{_a(item)[0].upper()}{_a(item)[1:]} is not an option. Use {span}."


def _grade_single(q: Question, response: Any) -> Feedback:
    if isinstance(response, (list, tuple, set)):
        if len(response) != 1:
            return _invalid("This question has exactly one right answer: choose a single option.")
        response = next(iter(response))
    i = _choice_index(q, response)
    if isinstance(i, str):
        return _invalid(i)
    opt = q.options[i]
    detail = [("right" if opt.correct else "wrong", f"({letter(i)}) {opt.text}", opt.explanation)]
    if opt.correct:
        return Feedback("correct", "Correct!", detail, answer=letter(i))
    return Feedback("wrong", "Not quite. Try another option.", detail, answer=letter(i))


def _split_multi(response: Any) -> Iterable[Any] | str:
    if response is None:
        return "Choose at least one option."
    if isinstance(response, str):
        s = response.strip()
        if not s:
            return "Your answer is empty. Choose at least one option, e.g. [\"a\", \"c\"]."
        parts = [p for p in re.split(r"[,;\s]+", s) if p]
        if all(len(p.strip("()")) == 1 or p.strip("()").isdigit() for p in parts):
            return parts
        return [s]
    if isinstance(response, (list, tuple, set, frozenset)):
        return list(response)
    return [response]


def _grade_multiple(q: Question, response: Any) -> Feedback:
    items = _split_multi(response)
    if isinstance(items, str):
        return _invalid(items)
    if not items:
        return _invalid("Choose at least one option, e.g. [\"a\", \"c\"].")
    chosen: list[int] = []
    for item in items:
        i = _choice_index(q, item)
        if isinstance(i, str):
            return _invalid(i)
        if i not in chosen:
            chosen.append(i)
    chosen.sort()
    details = []
    for i in chosen:
        opt = q.options[i]
        details.append(("right" if opt.correct else "wrong", f"({letter(i)}) {opt.text}", opt.explanation))
    missed = [i for i, o in enumerate(q.options) if o.correct and i not in chosen]
    for i in missed:
        details.append(("missed", f"({letter(i)}) {q.options[i].text}", q.options[i].explanation))
    wrong = [i for i in chosen if not q.options[i].correct]
    read = ", ".join(letter(i) for i in chosen)
    if not wrong and not missed:
        return Feedback("correct", "Correct! You chose exactly the right options.", details, answer=read)
    parts = []
    if wrong:
        parts.append(f"{len(wrong)} of your choices {'is' if len(wrong) == 1 else 'are'} wrong")
    if missed:
        parts.append(f"you missed {len(missed)} right option{'s' if len(missed) > 1 else ''}")
    return Feedback("wrong", "Not quite: " + " and ".join(parts) + ". Read the explanations and try again.", details,
                    answer=read)


def _parse_number(q: Question, response: Any) -> float | str:
    example = "for example 12 or 0.25"
    if isinstance(response, bool) or response is None:
        return f"Please answer with a number, {example}."
    if hasattr(response, "item") and getattr(response, "ndim", 1) == 0:
        try:
            response = response.item()
        except (TypeError, ValueError):
            pass
    if isinstance(response, numbers.Real):
        value = float(response)
    elif isinstance(response, str):
        s = response.strip()
        if q.unit and s.endswith(q.unit.strip()):
            s = s[: -len(q.unit.strip())].strip()
        if not s:
            return f"Your answer is empty. Please type a number, {example}."
        if "," in s:
            return f"Please use a dot for decimals and no thousands separators, {example}."
        s = s.replace(" ", "").replace("_", "")
        try:
            value = float(Fraction(s)) if "/" in s else float(s)
        except (ValueError, ZeroDivisionError):
            return f"{response.strip()!r} is not a number. Please type a number, {example}."
    else:
        return f"Please answer with a number ({example}), not {_a(response)}."
    if not math.isfinite(value):
        return "That is not a finite number. Please type an ordinary number."
    if abs(value) > _ABSURD:
        return f"{value:g} is far outside any sensible range for this question; check for a typo."
    return value


def _grade_numeric(q: Question, response: Any, wrong_before: int) -> Feedback:
    value = _parse_number(q, response)
    if isinstance(value, str):
        return _invalid(value)
    unit = f" {q.unit}" if q.unit else ""
    assert q.answer is not None
    if abs(value - q.answer) <= q.tolerance + 1e-12 * max(1.0, abs(q.answer)):
        return Feedback("correct", f"Correct! {value:g}{unit} is right.", [("info", q.explanation, "")],
                        answer=f"{value:g}")
    direction = "too high" if value > q.answer else "too low"
    if wrong_before + 1 >= REVEAL_AFTER:
        return Feedback("wrong", f"Not quite: {value:g}{unit} is {direction}. Here is the worked answer:",
                        [("info", q.explanation, "")], answer=f"{value:g}")
    tip = " Try again, or use the hint." if q.hint else " Try again."
    return Feedback("wrong", f"Not quite: {value:g}{unit} is {direction}.{tip}", answer=f"{value:g}")


def _grade_text(q: Question, response: Any, wrong_before: int) -> Feedback:
    if not isinstance(response, str):
        return _invalid(f"Please answer with a few words in quotes, not {_a(response)}.")
    if not response.strip():
        return _invalid("Your answer is empty. Type a word or a short phrase.")
    read = repr(normalise_text(response))
    if normalise_text(response) in {normalise_text(a) for a in q.accept}:
        return Feedback("correct", "Correct!", [("info", q.explanation, "")], answer=read)
    if wrong_before + 1 >= REVEAL_AFTER:
        return Feedback("wrong", f"Not quite: {response.strip()!r} is not what we were looking for. The answer:",
                        [("info", q.explanation, "")], answer=read)
    tip = " Try again, or use the hint." if q.hint else " Try again (one or two words are enough)."
    return Feedback("wrong", f"Not quite: {response.strip()!r} is not what we were looking for.{tip}", answer=read)


def _grade_open(q: Question, response: Any) -> Feedback:
    if not isinstance(response, str):
        return _invalid(f"Please write your answer as text in quotes, not {_a(response)}.")
    if not response.strip():
        return _invalid("Write your own answer first (a few sentences), then compare it with the model answer.")
    return Feedback("open", "Thanks! Compare your answer with the model answer and tick off the rubric.",
                    [("model", "Model answer: " + q.model_answer, "")], rubric=q.rubric)


def grade(q: Question, response: Any, wrong_before: int = 0) -> Feedback:
    """Grade ``response`` to question ``q``; never raises.

    Args:
        q: the question.
        response: single -> index, letter or option text; multiple -> a list of those; numeric -> a number or a
            numeric string; text and open -> a string.
        wrong_before: how many wrong tries the learner made already (numeric/text reveal the answer after some).

    Returns:
        a ``Feedback``; bad input gives status "invalid" with one friendly sentence.
    """
    try:
        if q.kind == "single":
            return _grade_single(q, response)
        if q.kind == "multiple":
            return _grade_multiple(q, response)
        if q.kind == "numeric":
            return _grade_numeric(q, response, wrong_before)
        if q.kind == "text":
            return _grade_text(q, response, wrong_before)
        return _grade_open(q, response)
    except Exception:  # noqa: BLE001 - whatever went wrong, the learner gets a sentence, not a traceback
        return _invalid(f"That answer could not be read; answer this {_KIND_WORDS.get(q.kind, q.kind)} question "
                        "as shown above.")
