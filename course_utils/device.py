"""Which device the course runs on, seeding, and the mixed-precision choice.

A leaf: it imports torch but nothing of the course, so every module may import it.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch


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


def as_device(device: torch.device | str | None) -> torch.device:
    """``device`` as a ``torch.device``, or ``get_device()`` when it is None."""
    return torch.device(device) if device is not None else get_device()


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so a run repeats."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def amp_settings(device: torch.device, amp: bool | None = None) -> tuple[bool, torch.dtype | None]:
    """Whether to autocast, and to which dtype: bf16 on CUDA when supported, else fp16 (with a GradScaler).

    Args:
        device: where the model runs; only CUDA autocasts.
        amp: False turns mixed precision off; None or True leave it on where it applies.

    Returns:
        (autocast on, its dtype or None).
    """
    if device.type != "cuda" or amp is False:
        return False, None
    return True, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA and MPS run asynchronously), so a clock reads true time."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
