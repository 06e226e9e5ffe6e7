"""Running a trained model over data: label maps (``predict``) and semantic scores (``evaluate_semantic``)."""

from __future__ import annotations

import torch

from ..data.classes import CLASSES
from ..metrics.semantic import ConfusionMeter


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
