"""Timing helpers: medians of repeats and a fixed-batch step timer.

Budgeted training with a curve (``train_budgeted``) is part of the course's training package:
``course_utils.train.budget``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from course_utils.device import amp_settings, synchronize
from course_utils.train import compute_loss, to_device


def sync(device: torch.device) -> None:
    """Wait for queued GPU work so a wall clock reading means something (no-op on the CPU)."""
    synchronize(device)


def median_time(fn: Callable[[], Any], repeats: int, warmup: int, device: torch.device) -> dict:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` untimed calls.

    Args:
        fn: the work to time.
        repeats: timed calls.
        warmup: untimed calls first.
        device: synchronised around each call (GPU work is asynchronous).

    Returns:
        ``{"median_s", "min_s", "max_s", "repeats"}``.
    """
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "repeats": repeats}


def step_time(model: nn.Module, images: Any, targets: Any, lr: float, device: torch.device, repeats: int,
              warmup: int, loss_weights: dict[str, float] | None = None) -> dict:
    """Median time of one full training step (forward, loss, backward, AdamW step) on one fixed batch.

    The step is the one ``engine.fit`` takes (``train.compute_loss``, autocast on CUDA), on a
    batch already on the device, so model speed is measured without data loading.

    Args:
        model: a logits model or a detection model; moved to ``device`` and put in train mode.
        images: (B, 3, H, W) tensor or a sequence of (3, H, W) tensors.
        targets: (B, H, W) class ids or a sequence of detection target dicts.
        lr: AdamW learning rate (the weights change, so time a throw-away copy of the model).
        device: where to run.
        repeats: timed steps.
        warmup: untimed steps first.
        loss_weights: weights of the loss terms, as ``engine.fit`` takes them.

    Returns:
        ``median_time``'s dict plus ``images_per_s`` (batch size / median step time) and ``batch``.
    """
    model.to(device).train()
    images, targets = to_device(images, device), to_device(targets, device)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    use_amp, dtype = amp_settings(device)

    def one_step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=use_amp):
            loss, _ = compute_loss(model, images, targets, loss_weights=loss_weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    out = median_time(one_step, repeats, warmup, device)
    batch = images.shape[0] if isinstance(images, torch.Tensor) else len(images)
    return {**out, "batch": batch, "images_per_s": batch / out["median_s"]}
