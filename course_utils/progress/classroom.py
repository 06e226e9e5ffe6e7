"""A class's progress in one report: ``python -m course_utils progress --class DIR``.

A teacher collects the learners' progress files into one folder (any depth; ``alice/progress.json`` is
learner ``alice``, ``bob.json`` is learner ``bob``) and gets three tables: per lesson, how many learners
started and finished it; per question, the first-try success rate and the wrong answer most learners
chose (what to teach again); per exercise, the pass rate and the failing case most learners met.

Files are only read, never changed. A file that cannot be read is reported by name and skipped; an
entry inside a file that makes no sense is left out and the file is reported as partly read.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import exercises, quiz
from ..course_map import LESSONS
from . import read

__all__ = ["Entry", "ClassRecords", "read_class", "lesson_rows", "question_rows", "exercise_rows", "class_report",
           "print_class_report"]


@dataclass(frozen=True)
class Entry:
    """One learner's record of one question or exercise, cleaned up."""

    attempts: int  # how many tries
    ok: bool  # right (question) or passed (exercise) at some point
    first_ok: bool | None  # the first try's result; None when the file does not say
    misses: frozenset[str]  # wrong answers given (question) or failing cases met (exercise)


@dataclass
class ClassRecords:
    """Every learner's cleaned-up records, and what could not be read."""

    questions: dict[str, dict[str, Entry]] = field(default_factory=dict)  # learner -> question id -> entry
    exercises: dict[str, dict[str, Entry]] = field(default_factory=dict)  # learner -> exercise name -> entry
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why it was skipped)
    partial: list[tuple[str, str]] = field(default_factory=list)  # (file, what was left out)

    @property
    def learners(self) -> list[str]:
        """The learners read, sorted."""
        return sorted(self.questions)


def _entry(raw: Any, flag: str, misses: str) -> Entry | None:
    """An ``Entry`` from a file's record, or None when the record makes no sense."""
    if not isinstance(raw, dict):
        return None
    attempts = raw.get("attempts", 0)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
        return None
    ok = bool(raw.get(flag, False))
    first = raw.get(f"first_{flag}")
    if not isinstance(first, bool):  # files from before first tries were recorded: infer what is certain
        first = ok if attempts == 1 else (False if attempts > 1 and not ok else None)
    missed = raw.get(misses, {})
    missed = frozenset(str(k) for k in missed) if isinstance(missed, dict) else frozenset()
    return Entry(attempts, ok, first if attempts else None, missed)


def _learner(file: Path, folder: Path) -> str:
    rel = file.relative_to(folder)
    return str(rel.parent) if file.name == "progress.json" and len(rel.parts) > 1 else str(rel.with_suffix(""))


def read_class(folder: Path) -> ClassRecords:
    """Read every ``*.json`` progress file under ``folder``.

    Args:
        folder: the folder of learners' files.

    Returns:
        the cleaned-up records; unreadable files are in ``skipped``, partly read ones in ``partial``.
    """
    records = ClassRecords()
    for file in sorted(Path(folder).rglob("*.json")):
        name = str(file.relative_to(folder))
        if not file.is_file():
            continue
        try:
            data = read(file)
        except (OSError, ValueError) as err:
            records.skipped.append((name, str(err)))
            continue
        learner = _learner(file, Path(folder))
        if learner in records.questions:
            records.skipped.append((name, f"a second file for learner {learner!r}"))
            continue
        bad = 0
        for section, flag, misses, into in (("questions", "correct", "wrong_answers", records.questions),
                                             ("exercises", "passed", "failed_cases", records.exercises)):
            cleaned = {key: _entry(raw, flag, misses) for key, raw in data[section].items()}
            bad += sum(entry is None for entry in cleaned.values())
            into[learner] = {key: entry for key, entry in cleaned.items() if entry is not None}
        if bad:
            records.partial.append((name, f"{bad} record(s) that could not be read were left out"))
    return records


def _rate(hits: int, total: int) -> str:
    return f"{100 * hits / total:.0f}% ({hits}/{total})" if total else "-"


def lesson_rows(records: ClassRecords) -> list[tuple[str, str, int, int, int]]:
    """Per lesson: (lesson, title, learners who started, learners who finished, learners).

    Finished: every exercise of the lesson passed and every question answered right at some point.
    """
    qids = quiz.question_ids_by_lesson()
    rows = []
    for lesson in LESSONS:
        names = exercises.names_for_lesson(lesson.number)
        ids = qids.get(lesson.number, [])
        started = finished = 0
        for learner in records.learners:
            qs, ex = records.questions[learner], records.exercises[learner]
            if any(qs.get(i) and qs[i].attempts for i in ids) or any(ex.get(n) and ex[n].attempts for n in names):
                started += 1
            if (ids or names) and all(qs.get(i) and qs[i].ok for i in ids) and all(ex.get(n) and ex[n].ok
                                                                                 for n in names):
                finished += 1
        rows.append((lesson.number, lesson.title, started, finished, len(records.learners)))
    return rows


def _option_text(qid: str, label: str) -> str:
    """'b: Because the receptive field ...' for a choice label; other answers as they are."""
    q = quiz.find_question(qid)
    if q is None or q.kind not in ("single", "multiple") or not all(len(p.strip()) == 1 for p in label.split(",")):
        return label
    texts = []
    for part in label.split(","):
        index = ord(part.strip()) - 97
        if 0 <= index < len(q.options):
            texts.append(f"{part.strip()}: {q.options[index].text[:40]}")
    return "; ".join(texts) or label


def _most_common(entries: list[Entry]) -> tuple[str, int] | None:
    counts = Counter(miss for entry in entries for miss in entry.misses)  # each learner counts once
    return counts.most_common(1)[0] if counts else None


def question_rows(records: ClassRecords) -> list[tuple[str, int, str, str]]:
    """Per question: (id, learners who tried, first-try success rate, most chosen wrong answer)."""
    rows = []
    for ids in quiz.question_ids_by_lesson().values():
        for qid in ids:
            entries = [records.questions[who][qid] for who in records.learners
                       if qid in records.questions[who] and records.questions[who][qid].attempts]
            known = [e.first_ok for e in entries if e.first_ok is not None]
            common = _most_common(entries)
            wrong = f"{_option_text(qid, common[0])} ({common[1]})" if common else "-"
            rows.append((qid, len(entries), _rate(sum(known), len(known)), wrong))
    return rows


def exercise_rows(records: ClassRecords) -> list[tuple[str, int, str, str]]:
    """Per exercise: (name, learners who checked it, pass rate, failing case most learners met)."""
    rows = []
    for name in exercises.NAMES:
        entries = [records.exercises[who][name] for who in records.learners
                   if name in records.exercises[who] and records.exercises[who][name].attempts]
        common = _most_common(entries)
        rows.append((name, len(entries), _rate(sum(e.ok for e in entries), len(entries)),
                     f"{common[0]} ({common[1]})" if common else "-"))
    return rows


def _table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    cells = [tuple(str(c) for c in row) for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1] for row in cells]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return lines


def class_report(records: ClassRecords, folder: Path | str = "") -> str:
    """The class report as plain text: what was read, then the lesson, question and exercise tables."""
    lines = [f"Class report: {len(records.learners)} learner(s) in {folder}"]
    lines += [f"  skipped {name}: {why}" for name, why in records.skipped]
    lines += [f"  partly read {name}: {why}" for name, why in records.partial]
    lessons = [(n, t[:32], s, f, total) for n, t, s, f, total in lesson_rows(records)]
    lines += ["", "Lessons (finished: every exercise passed and every question right)"]
    lines += _table(("lesson", "title", "started", "finished", "of"), lessons)
    lines += ["", "Questions (first try right; the wrong answer most learners gave, and how many gave it)"]
    lines += _table(("question", "tried", "first try right", "most chosen wrong answer"), question_rows(records))
    lines += ["", "Exercises (passed at some point; the failing case most learners met, and how many met it)"]
    lines += _table(("exercise", "checked", "passed", "most common failing case"), exercise_rows(records))
    return "\n".join(lines)


def print_class_report(folder: Path) -> int:
    """Print the class report of ``folder``; the exit status for the command line.

    Args:
        folder: the folder of learners' progress files.

    Returns:
        0 when at least one file was read, else 1 (with one sentence saying why).
    """
    folder = Path(folder)
    if not folder.is_dir():
        print(f"There is no folder {folder}: give the folder that holds the learners' progress files.")
        return 1
    records = read_class(folder)
    if not records.learners:
        print(f"No readable progress file (*.json) in {folder}.")
        for name, why in records.skipped:
            print(f"  skipped {name}: {why}")
        return 1
    print(class_report(records, folder))
    return 0
