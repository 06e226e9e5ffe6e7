"""The learner's progress file: attempts and results of practice questions and mini assignments.

The file is plain JSON, so a teacher can read it::

    {"version": 1,
     "questions": {"00-what-is-a-pixel": {"attempts": 2, "correct": true, "first_correct": false,
                                          "wrong_answers": {"b": 1}, "last": "2025-01-01T10:00:00"}},
     "exercises": {"count_pixels_of_class": {"attempts": 1, "passed": false, "first_passed": false,
                                             "failed_cases": {"an empty map": 1}, "last": "..."}}}

``first_correct`` / ``first_passed`` keep the result of the first attempt; ``wrong_answers`` counts each wrong
answer given (an option letter, a number, a phrase) and ``failed_cases`` each failing case of a check, so a
teacher's class report (``course_utils.progress.classroom``) can say what to teach again. Files written
before these fields existed simply lack them.

Where it lives: ``set_path(path)`` if called, else ``$COURSE_PROGRESS``, else ``progress.json`` at the
course root. Writes are atomic (temporary file, then rename). A damaged file is renamed aside
(``progress.json.damaged-<timestamp>``) with a warning; recording progress never stops a lesson. Nothing
is recorded while nbgrader executes a notebook (``NBGRADER_EXECUTION`` is set): grading is not trying.

This package's ``__init__`` is the plain store: it imports nothing of the course but ``course_utils.paths``,
so ``quiz`` and ``exercises`` may record through it. The per-lesson table built on it is in
``course_utils.progress.report`` (``summary``, ``table``, ``table_markdown``, ``show``).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import paths

__all__ = ["path", "set_path", "load", "read", "record_question", "record_exercise", "reset"]

_VERSION = 1
_path_override: Path | None = None
_lock = threading.Lock()
_warned_unwritable: set[str] = set()


def path() -> Path:
    """Where progress is recorded now.

    Returns:
        ``set_path``'s value if called, else ``$COURSE_PROGRESS``, else ``<course root>/progress.json``.
    """
    if _path_override is not None:
        return _path_override
    env = os.environ.get("COURSE_PROGRESS")
    if env:
        return Path(env).expanduser()
    return paths.default_progress_file()


def set_path(new_path: str | os.PathLike | None) -> Path:
    """Record progress in another file from now on (``None`` goes back to the default).

    Args:
        new_path: the JSON file to use; its folder is created when progress is first written.

    Returns:
        the path now in use.
    """
    global _path_override
    _path_override = None if new_path is None else Path(new_path).expanduser()
    return path()


def _empty() -> dict[str, Any]:
    return {"version": _VERSION, "questions": {}, "exercises": {}}


def _valid(data: Any) -> bool:
    return (isinstance(data, dict) and isinstance(data.get("questions", {}), dict)
            and isinstance(data.get("exercises", {}), dict))


def _set_aside(file: Path, reason: str) -> None:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    aside = file.with_name(f"{file.name}.damaged-{stamp}")
    try:
        os.replace(file, aside)
        where = f"it was moved to {aside}"
    except OSError as err:
        where = f"it could not be moved aside ({err})"
    warnings.warn(f"The progress file {file} could not be read ({reason}); {where} and a fresh one is started.",
                  UserWarning, stacklevel=3)


def read(file: str | os.PathLike) -> dict[str, Any]:
    """Read one progress file as it is, without changing or moving it (a teacher reading learners' files).

    Args:
        file: the JSON file.

    Returns:
        a dict with ``questions`` and ``exercises`` maps. Raises ``ValueError`` with the reason when the
        file cannot be read or is not a course progress record (``OSError`` when it cannot be opened).
    """
    file = Path(file)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{type(err).__name__}: {err}") from None
    if not _valid(data):
        raise ValueError("it is not a course progress record")
    data.setdefault("questions", {})
    data.setdefault("exercises", {})
    data["version"] = _VERSION
    return data


def load(file: str | os.PathLike | None = None) -> dict[str, Any]:
    """Read the progress file (an empty record when it does not exist or is damaged).

    Args:
        file: the file to read; default ``path()``.

    Returns:
        a dict with ``questions`` and ``exercises`` maps (see the module docstring).
    """
    file = Path(file) if file is not None else path()
    if not file.exists():
        return _empty()
    try:
        return read(file)
    except (OSError, ValueError) as err:
        _set_aside(file, str(err) if isinstance(err, ValueError) else f"{type(err).__name__}: {err}")
        return _empty()


def _write(file: Path, data: dict[str, Any]) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".tmp", dir=file.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
        os.replace(tmp, file)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _update(section: str, key: str, ok: bool, flag: str, miss: tuple[str, str | None]) -> None:
    """Count one attempt; ``miss`` is (the map of misses, the miss to count or None)."""
    if os.environ.get("NBGRADER_EXECUTION"):  # nbgrader grading a notebook is not the learner trying
        return
    file = path()
    with _lock:
        try:
            data = load(file)
            entry = data[section].get(key)
            if not isinstance(entry, dict):
                entry = {"attempts": 0, flag: False, f"first_{flag}": bool(ok)}
            entry["attempts"] = int(entry.get("attempts", 0)) + 1
            entry[flag] = bool(entry.get(flag, False)) or bool(ok)
            misses, what = miss
            if what is not None and not ok:
                counts = entry.get(misses) if isinstance(entry.get(misses), dict) else {}
                label = str(what)[:120]
                counts[label] = int(counts.get(label, 0)) + 1
                entry[misses] = counts
            entry["last"] = datetime.now().isoformat(timespec="seconds")
            data[section][key] = entry
            _write(file, data)
        except OSError as err:
            if str(file) not in _warned_unwritable:
                _warned_unwritable.add(str(file))
                warnings.warn(f"Progress could not be saved to {file} ({err}). Your answers still count here; "
                              "use course_utils.progress.set_path('somewhere/progress.json') to save them.",
                              UserWarning, stacklevel=3)


def record_question(qid: str, correct: bool, answer: str | None = None) -> None:
    """Count one attempt at question ``qid`` and whether it was right (``correct`` stays True once reached).

    Args:
        qid: the question id.
        correct: whether this attempt was right.
        answer: the answer given, in short ("b", "a, c", "12.5"); counted in ``wrong_answers`` when wrong.
    """
    _update("questions", qid, correct, "correct", ("wrong_answers", answer))


def record_exercise(name: str, passed: bool, failed_case: str | None = None) -> None:
    """Count one check of exercise ``name`` and whether it passed (``passed`` stays True once reached).

    Args:
        name: the exercise name.
        passed: whether every case passed.
        failed_case: the description of the first failing case; counted in ``failed_cases``.
    """
    _update("exercises", name, passed, "passed", ("failed_cases", failed_case))


def reset() -> None:
    """Forget all progress (the current file is replaced by an empty record)."""
    with _lock:
        _write(path(), _empty())
