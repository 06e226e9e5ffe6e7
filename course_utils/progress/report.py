"""The learner's progress as a per-lesson table: questions right / tried / total, exercises passed / total.

Built on the plain store ``course_utils.progress`` (which it reads); the command line
(``python -m course_utils progress``), the environment check and lesson 00 show it.
"""

from __future__ import annotations

from typing import Any

from .. import exercises, quiz
from ..course_map import LESSONS
from . import load, path

__all__ = ["summary", "table", "table_markdown", "show"]


def summary(data: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Per-lesson counts for the progress table.

    Args:
        data: a progress record; default ``load()``.

    Returns:
        one dict per lesson (sorted): ``lesson``, ``title``, ``questions_right``, ``questions_tried``,
        ``questions_total``, ``exercises_passed``, ``exercises_total``.
    """
    data = load() if data is None else data
    titles = {lesson.number: lesson.title for lesson in LESSONS}
    rows: dict[str, dict[str, Any]] = {}

    def row(lesson: str) -> dict[str, Any]:
        return rows.setdefault(lesson, {"lesson": lesson, "title": titles.get(lesson, ""), "questions_right": 0,
                                        "questions_tried": 0, "questions_total": 0, "exercises_passed": 0,
                                        "exercises_total": 0})

    for lesson in titles:
        row(lesson)
    for lesson, qids in quiz.question_ids_by_lesson().items():
        r = row(lesson)
        r["questions_total"] = len(qids)
        for qid in qids:
            entry = data["questions"].get(qid) or {}
            r["questions_tried"] += int(entry.get("attempts", 0) > 0)
            r["questions_right"] += int(bool(entry.get("correct")))
    for name in exercises.NAMES:
        r = row(exercises.lesson_of(name))
        r["exercises_total"] += 1
        r["exercises_passed"] += int(bool((data["exercises"].get(name) or {}).get("passed")))
    return [rows[k] for k in sorted(rows)]


def table(data: dict[str, Any] | None = None) -> str:
    """The per-lesson progress table as plain text.

    Args:
        data: a progress record; default ``load()``.

    Returns:
        the table, one line per lesson plus a header and a total line.
    """
    rows = summary(data)
    header = f"{'lesson':<7}{'title':<34}{'questions right/tried/total':>28}{'exercises passed/total':>24}"
    lines = [header, "-" * len(header)]
    totals = [0, 0, 0, 0, 0]
    for r in rows:
        q = f"{r['questions_right']}/{r['questions_tried']}/{r['questions_total']}"
        e = f"{r['exercises_passed']}/{r['exercises_total']}"
        lines.append(f"{r['lesson']:<7}{r['title'][:33]:<34}{q:>28}{e:>24}")
        for i, key in enumerate(("questions_right", "questions_tried", "questions_total", "exercises_passed",
                                 "exercises_total")):
            totals[i] += r[key]
    lines.append("-" * len(header))
    lines.append(f"{'all':<7}{'':<34}{f'{totals[0]}/{totals[1]}/{totals[2]}':>28}{f'{totals[3]}/{totals[4]}':>24}")
    return "\n".join(lines)


def table_markdown(data: dict[str, Any] | None = None) -> str:
    """The per-lesson progress table as Markdown (for ``IPython.display.Markdown``).

    Args:
        data: a progress record; default ``load()``.

    Returns:
        a Markdown table with one row per lesson.
    """
    lines = ["| lesson | title | questions right / tried / total | exercises passed / total |",
             "|---|---|---|---|"]
    for r in summary(data):
        lines.append(f"| {r['lesson']} | {r['title']} | {r['questions_right']} / {r['questions_tried']} / "
                     f"{r['questions_total']} | {r['exercises_passed']} / {r['exercises_total']} |")
    return "\n".join(lines)


def show() -> None:
    """Show where progress is saved and the per-lesson table (a Markdown table in Jupyter, text elsewhere)."""
    data = load()
    try:
        from IPython import get_ipython

        in_jupyter = get_ipython() is not None and type(get_ipython()).__name__ == "ZMQInteractiveShell"
    except ImportError:
        in_jupyter = False
    if in_jupyter:
        from IPython.display import Markdown, display

        display(Markdown(f"Progress file: `{path()}`\n\n" + table_markdown(data)))
        return
    print(f"Progress file: {path()}")
    print(table(data))

