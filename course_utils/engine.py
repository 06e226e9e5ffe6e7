"""Device choice, seeding and checkpoint locations, in one place for the whole course.

Training loops live here too (``fit`` and friends); they are added below this header.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent


def get_device(prefer: str | None = None) -> torch.device:
    """The device the course runs on: CUDA if present, then Apple MPS, then the CPU.

    Args:
        prefer: force a device ("cpu", "cuda", "mps"); also read from ``COURSE_DEVICE``.

    Returns:
        a ``torch.device``.
    """
    choice = prefer or os.environ.get("COURSE_DEVICE")
    if choice:
        return torch.device(choice)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so a run repeats."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def checkpoint_dir() -> Path:
    """Folder for saved models: ``$COURSE_CHECKPOINTS`` or ``checkpoints/`` at the course root."""
    path = Path(os.environ.get("COURSE_CHECKPOINTS", REPO_ROOT / "checkpoints"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def checkpoint_path(name: str) -> Path:
    """Where the checkpoint called ``name`` (e.g. "fcn8s") lives: ``checkpoint_dir()/name.pt``."""
    return checkpoint_dir() / f"{name}.pt"
