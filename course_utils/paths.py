"""Where things live: the course root, the checkpoint folders, the progress file, the time bars.

A leaf: it imports nothing of the course (and not torch), so every module may import it.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The course folder (the one holding ``notebooks/`` and ``course_utils/``)."""

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
"""The lessons."""

LESSON_BUDGET_S = 240.0
"""§7: any one lesson runs top to bottom in at most 4 minutes on a 2-core CPU."""

COURSE_BUDGET_S = 1200.0
"""§7: the whole course in at most 20 minutes."""


def checkpoint_dir() -> Path:
    """Folder for saved models: ``$COURSE_CHECKPOINTS`` or ``checkpoints/`` at the course root (created)."""
    path = Path(os.environ.get("COURSE_CHECKPOINTS", REPO_ROOT / "checkpoints"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def checkpoint_path(name: str) -> Path:
    """Where the checkpoint called ``name`` (e.g. "fcn8s") lives: ``checkpoint_dir()/name.pt``."""
    return checkpoint_dir() / f"{name}.pt"


def is_checkpoint_name(name_or_path: str | os.PathLike) -> bool:
    """Whether this is a checkpoint's name ("fcn8s"), not a path (one with a folder or a suffix such as .pt)."""
    p = Path(name_or_path)
    return not (p.suffix or len(p.parts) > 1)


def resolve_checkpoint(name_or_path: str | os.PathLike) -> Path:
    """A checkpoint name ("fcn8s") -> ``checkpoint_path(name)``; a path (with / or .pt) stays as is."""
    return checkpoint_path(str(name_or_path)) if is_checkpoint_name(name_or_path) else Path(name_or_path)


REFERENCE_DIR = REPO_ROOT / "reference"
"""The course's reference checkpoints (``make checkpoints``), committed with the course."""


def reference_path(name: str) -> Path | None:
    """The shipped reference checkpoint for ``name`` (it may not exist); None when references are off.

    ``$COURSE_REFERENCE`` names another folder, or switches references off when set to an empty string.
    """
    folder = os.environ.get("COURSE_REFERENCE", str(REFERENCE_DIR))
    return Path(folder) / f"{name}.pt" if folder else None


def default_progress_file() -> Path:
    """The learner's progress file when ``COURSE_PROGRESS`` is not set: ``progress.json`` at the course root."""
    return REPO_ROOT / "progress.json"
