"""Question banks: loading ``course_utils/questions/NN.json`` and validating them with clear errors."""

from __future__ import annotations

import json
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["QUESTIONS_DIR", "KINDS", "BankError", "Option", "Question", "Bank", "parse_bank", "load_bank",
           "load_all", "find_question", "lesson_key", "available_lessons"]

QUESTIONS_DIR = Path(__file__).resolve().parent.parent / "questions"
KINDS = ("single", "multiple", "numeric", "text", "open")
_COMMON_KEYS = {"id", "kind", "prompt", "hint", "title", "tags", "topic"}
_KIND_KEYS = {
    "single": {"options"},
    "multiple": {"options"},
    "numeric": {"answer", "tolerance", "explanation", "unit"},
    "text": {"accept", "explanation"},
    "open": {"model_answer", "rubric"},
}


class BankError(ValueError):
    """A question bank file is malformed; the message names the file and the question."""


@dataclass(frozen=True)
class Option:
    """One option of a single or multiple choice question."""

    text: str  # what the learner sees (Markdown)
    correct: bool  # whether choosing it is right
    explanation: str  # why it is right or wrong, shown when chosen


@dataclass(frozen=True)
class Question:
    """One practice question of any kind (fields not used by a kind stay empty)."""

    id: str  # unique id, "NN-short-name"
    kind: str  # one of KINDS
    prompt: str  # the question (Markdown)
    lesson: str  # two-digit lesson of the bank it comes from
    hint: str | None = None  # optional hint shown on request
    options: tuple[Option, ...] = ()  # single / multiple
    answer: float | None = None  # numeric
    tolerance: float = 0.0  # numeric: absolute tolerance
    unit: str | None = None  # numeric: optional unit shown next to the input
    accept: tuple[str, ...] = ()  # text: accepted answers
    explanation: str = ""  # numeric / text: the worked answer
    model_answer: str = ""  # open: the model answer
    rubric: tuple[str, ...] = ()  # open: self-check points


@dataclass(frozen=True)
class Bank:
    """All questions of one lesson."""

    lesson: str  # two digits, "00"
    title: str  # the bank's title
    questions: tuple[Question, ...]  # in the order they are shown
    source: str  # the file it was read from


def lesson_key(lesson: str | int) -> str:
    """Normalise a lesson number to two digits: 4, "4" and "04" all give "04"."""
    text = str(lesson).strip()
    if text.isdigit():
        return text.zfill(2)
    raise ValueError(f"A lesson is a number from 00 to 10, like \"04\"; got {lesson!r}.")


def _text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _parse_question(raw: Any, index: int, lesson: str, source: str) -> Question:
    def fail(msg: str) -> BankError:
        qid = raw.get("id") if isinstance(raw, dict) else None
        who = f"question {qid!r}" if qid else f"question #{index + 1}"
        return BankError(f"{source}, {who}: {msg}")

    if not isinstance(raw, dict):
        raise fail("each question must be a JSON object")
    if not _text(raw.get("id")):
        raise fail("has no 'id'")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise fail(f"'kind' must be one of {', '.join(KINDS)}, not {kind!r}")
    if not _text(raw.get("prompt")):
        raise fail("has no 'prompt'")
    unknown = set(raw) - _COMMON_KEYS - _KIND_KEYS[kind]
    if unknown:
        raise fail(f"unknown field(s) {sorted(unknown)} for a {kind!r} question")
    hint = raw.get("hint")
    if hint is not None and not _text(hint):
        raise fail("'hint' must be a non-empty string when present")
    fields: dict[str, Any] = {"id": raw["id"], "kind": kind, "prompt": raw["prompt"], "lesson": lesson, "hint": hint}
    if kind in ("single", "multiple"):
        opts = raw.get("options")
        if not isinstance(opts, list) or len(opts) < 2:
            raise fail("needs a list of at least 2 'options'")
        if len(opts) > 26:
            raise fail("has more than 26 options")
        parsed = []
        for j, opt in enumerate(opts):
            label = f"option {chr(97 + j)}"
            if not isinstance(opt, dict):
                raise fail(f"{label} must be an object with text, correct, explanation")
            extra = set(opt) - {"text", "correct", "explanation"}
            if extra:
                raise fail(f"{label} has unknown field(s) {sorted(extra)}")
            if not _text(opt.get("text")):
                raise fail(f"{label} has no 'text'")
            if not isinstance(opt.get("correct"), bool):
                raise fail(f"{label} needs 'correct': true or false")
            if not _text(opt.get("explanation")):
                raise fail(f"{label} ({opt['text']!r}) has no 'explanation'")
            parsed.append(Option(opt["text"], opt["correct"], opt["explanation"]))
        texts = [o.text.strip().casefold() for o in parsed]
        if len(set(texts)) != len(texts):
            raise fail("two options have the same text")
        n_correct = sum(o.correct for o in parsed)
        if n_correct == 0:
            raise fail("has no correct option")
        if kind == "single" and n_correct != 1:
            raise fail(f"a 'single' question needs exactly one correct option, this one has {n_correct}")
        fields["options"] = tuple(parsed)
    elif kind == "numeric":
        if not _number(raw.get("answer")):
            raise fail("needs a numeric 'answer'")
        if not _number(raw.get("tolerance")) or raw["tolerance"] < 0:
            raise fail("needs a 'tolerance' >= 0 (absolute)")
        if not _text(raw.get("explanation")):
            raise fail("has no 'explanation'")
        unit = raw.get("unit")
        if unit is not None and not isinstance(unit, str):
            raise fail("'unit' must be a string")
        fields.update(answer=float(raw["answer"]), tolerance=float(raw["tolerance"]), unit=unit or None,
                      explanation=raw["explanation"])
    elif kind == "text":
        accept = raw.get("accept")
        if not isinstance(accept, list) or not accept or not all(_text(a) for a in accept):
            raise fail("needs 'accept': a non-empty list of accepted answers")
        if not _text(raw.get("explanation")):
            raise fail("has no 'explanation'")
        fields.update(accept=tuple(accept), explanation=raw["explanation"])
    else:
        if not _text(raw.get("model_answer")):
            raise fail("has no 'model_answer'")
        rubric = raw.get("rubric")
        if not isinstance(rubric, list) or not rubric or not all(_text(r) for r in rubric):
            raise fail("needs 'rubric': a non-empty list of self-check points")
        fields.update(model_answer=raw["model_answer"], rubric=tuple(rubric))
    return Question(**fields)


def parse_bank(data: Any, source: str = "<bank>", expected_lesson: str | None = None) -> Bank:
    """Validate a bank's JSON data and build a ``Bank``.

    Args:
        data: the decoded JSON (``{"lesson", "title", "questions"}``).
        source: the file name, used in error messages.
        expected_lesson: the lesson the file name says it is (checked against ``data["lesson"]``).

    Returns:
        the validated ``Bank``; raises ``BankError`` naming the file and question when malformed.
    """
    if not isinstance(data, dict):
        raise BankError(f"{source}: the bank must be a JSON object with lesson, title and questions")
    lesson = data.get("lesson")
    if not isinstance(lesson, str) or not (len(lesson) == 2 and lesson.isdigit()):
        raise BankError(f"{source}: 'lesson' must be a two-digit string like \"04\", not {lesson!r}")
    if expected_lesson is not None and lesson != expected_lesson:
        raise BankError(f"{source}: 'lesson' is {lesson!r} but the file name says {expected_lesson!r}")
    if not _text(data.get("title")):
        raise BankError(f"{source}: the bank has no 'title'")
    raw_questions = data.get("questions")
    if not isinstance(raw_questions, list) or not raw_questions:
        raise BankError(f"{source}: 'questions' must be a non-empty list")
    questions = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_questions):
        q = _parse_question(raw, i, lesson, source)
        if q.id in seen:
            raise BankError(f"{source}, question {q.id!r}: duplicate id")
        seen.add(q.id)
        questions.append(q)
    return Bank(lesson=lesson, title=data["title"], questions=tuple(questions), source=source)


_cache: dict[str, tuple[float, Bank]] = {}


def _bank_path(lesson: str) -> Path:
    return QUESTIONS_DIR / f"{lesson}.json"


def available_lessons() -> list[str]:
    """The lessons that have a question bank file, sorted ("00", "01", ...)."""
    return sorted(p.stem for p in QUESTIONS_DIR.glob("[0-9][0-9].json"))


def load_bank(lesson: str | int) -> Bank:
    """Load and validate one lesson's bank (cached; re-read when the file changes).

    Args:
        lesson: the lesson number ("04" or 4).

    Returns:
        the ``Bank``; raises ``FileNotFoundError`` when the lesson has none and ``BankError`` when malformed.
    """
    key = lesson_key(lesson)
    path = _bank_path(key)
    if not path.exists():
        raise FileNotFoundError(f"Lesson {key} has no practice questions yet (no {path.name} in {QUESTIONS_DIR}).")
    mtime = path.stat().st_mtime
    cached = _cache.get(key)
    if cached and cached[0] == mtime:
        return cached[1]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise BankError(f"{path.name}: not valid JSON ({err})") from None
    bank = parse_bank(data, source=path.name, expected_lesson=key)
    _cache[key] = (mtime, bank)
    return bank


def load_all() -> dict[str, Bank]:
    """Every bank, by lesson; raises ``BankError`` if any is malformed or an id repeats across banks."""
    banks = {key: load_bank(key) for key in available_lessons()}
    owner: dict[str, str] = {}
    for key, bank in banks.items():
        for q in bank.questions:
            if q.id in owner:
                raise BankError(f"{bank.source}, question {q.id!r}: duplicate id (also in {owner[q.id]}.json)")
            owner[q.id] = key
    return banks


def find_question(qid: str) -> Question | None:
    """The question with id ``qid`` from any bank, or None (banks that fail to load are skipped)."""
    keys = available_lessons()
    prefix = qid[:2] if isinstance(qid, str) and qid[:2].isdigit() else None
    if prefix in keys:
        keys = [prefix] + [k for k in keys if k != prefix]
    for key in keys:
        try:
            bank = load_bank(key)
        except (BankError, OSError):
            continue
        for q in bank.questions:
            if q.id == qid:
                return q
    return None
