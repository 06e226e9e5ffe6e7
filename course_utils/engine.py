"""Device choice, seeding, checkpoints, training and evaluation: the course's engine room.

* ``get_device``, ``seed_everything``, ``checkpoint_path``: shared helpers.
* ``fit`` (from ``course_utils.training``): one training loop for logits models and for
  detection models that return a dict of losses; returns a ``History``.
* ``save_checkpoint`` / ``load_checkpoint``: weights + config, read back with ``weights_only=True``.
* ``predict`` and ``evaluate_semantic``: label maps and semantic metrics over a loader.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

# Training lives in its own module; imported here so notebooks only need ``engine``.
from .training import History, TrainingError, compute_loss, fit, load_checkpoint, save_checkpoint, to_device

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


def _logits(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Logits (B, C, H, W) of a logits model (unwrapping torchvision's ``{"out": ...}``)."""
    out = model(images)
    return out["out"] if isinstance(out, dict) else out


@torch.no_grad()
def predict(model: torch.nn.Module, images: torch.Tensor, device: torch.device | str | None = None,
            batch_size: int = 32, probabilities: bool = False) -> torch.Tensor:
    """Label maps (or class probabilities) of a logits model for a batch of images, on the CPU.

    Args:
        model: a model returning logits (B, C, H, W).
        images: (3, H, W) or (B, 3, H, W) float in [0, 1].
        device: where to run (default: the model's device).
        batch_size: images per forward pass.
        probabilities: return softmax probabilities (B, C, H, W) instead of class ids.

    Returns:
        int64 (H, W) or (B, H, W) class ids, or float (B, C, H, W) probabilities.
    """
    single = images.dim() == 3
    images = images[None] if single else images  # (B, 3, H, W)
    if device is None:
        device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    outs = []
    for chunk in images.split(batch_size):
        logits = _logits(model, chunk.to(device)).float()  # (b, C, H, W)
        outs.append((logits.softmax(1) if probabilities else logits.argmax(1)).cpu())
    model.train(was_training)
    out = torch.cat(outs)
    return out[0] if single else out


@torch.no_grad()
def evaluate_semantic(model: torch.nn.Module, loader, num_classes: int, device: torch.device | str | None = None,
                      ignore_index: int | None = None, boundary_width: int | None = None,
                      class_names: list[str] | None = None, return_confusion: bool = False) -> dict:
    """Pixel accuracy, mIoU and per-class IoU of a logits model over a loader of (images, label maps).

    Args:
        model: a model returning logits (B, C, H, W).
        loader: iterable of (images (B, 3, H, W), targets (B, H, W)).
        num_classes: C.
        device: where to run (default: the model's device).
        ignore_index: a target value to leave out.
        boundary_width: also score the pixels within this many pixels of a class boundary
            (keys prefixed ``boundary_``).
        class_names: names for the per-class keys (default: ``data.CLASSES`` when C matches, else ids).
        return_confusion: also return the (C, C) confusion matrix under ``"confusion"``
            (and ``"boundary_confusion"``).

    Returns:
        ``{"pixel_acc", "miou", "iou_<class>", ...}`` floats (NaN IoU for absent classes).
    """
    from .data.classes import CLASSES
    from .metrics.semantic import ConfusionMeter

    if device is None:
        device = next(model.parameters()).device
    if class_names is None and num_classes == len(CLASSES):
        class_names = CLASSES
    meter = ConfusionMeter(num_classes, ignore_index, boundary_width)
    was_training = model.training
    model.eval()
    for images, targets in loader:
        pred = _logits(model, images.to(device)).argmax(1)  # (B, H, W)
        meter.update(pred, targets.to(device))
    model.train(was_training)
    out: dict = meter.scores(class_names)
    if return_confusion:
        out["confusion"] = meter.cm
        if boundary_width:
            out["boundary_confusion"] = meter.boundary_cm
    return out


__all__ = ["REPO_ROOT", "get_device", "seed_everything", "checkpoint_dir", "checkpoint_path", "fit", "History",
           "TrainingError", "compute_loss", "to_device", "save_checkpoint", "load_checkpoint", "predict",
           "evaluate_semantic"]
