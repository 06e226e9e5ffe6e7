"""Lesson 11's comparison: why one fine-tunes. Four starts on the same few images, with the same budget.

``compare_starts`` scores on the validation split

1. lesson 07's model as it is (its classes matched to the dataset's by name; a class it never
   learned, the star, cannot be predicted);
2. lesson 07's model fine-tuned: backbone, FPN, RPN and head bodies kept, the box and mask
   predictors replaced for the dataset's classes (``models.maskrcnn.set_num_classes``);
3. the same network trained from random weights;
4. lesson 07's model fine-tuned on jointly augmented images (``data.augment``),

where 2-4 take the same number of optimiser steps on the same images (``ComparisonConfig``; a
time cap only as a safety net), and returns one row per start with its mask AP and training time.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..data.augment import AugmentedDataset, default_augmentation
from ..data.classes import CLASSES
from ..device import as_device, seed_everything
from ..metrics.coco_eval import coco_evaluate, predict_dataset
from ..models.maskrcnn import MaskRCNNConfig, build_maskrcnn, set_num_classes
from .coco import OwnDataConfig, train_on_coco
from .history import History


@dataclass(frozen=True)
class ComparisonConfig:
    """The budget and recipes of ``compare_starts``. Override with ``dataclasses.replace``."""

    epochs: int = 25  # passes over the training images, the same for every start (steps = epochs x batches)
    batch_size: int = 8  # images per optimiser step
    fine_tune_lr: float = 1e-3  # peak learning rate when starting from lesson 07's model
    scratch_lr: float = 3e-3  # peak learning rate from random weights (lesson 07's own)
    weight_decay: float = 1e-4  # AdamW weight decay
    flip: bool = True  # random flips for every start (the augmented start adds zooms, crops, colour)
    max_minutes: float | None = 3.0  # safety net per training run; the step budget is what is compared
    seed: int = 0  # seeds the new heads, the random weights, the batch order and the augmentation


def class_mapping(model_names: Sequence[str], dataset_names: Sequence[str]) -> dict[int, int]:
    """Which dataset label each of a model's labels becomes, matched by class name.

    Args:
        model_names: the model's class name by label (lesson 07's model: the course's ``CLASSES``).
        dataset_names: the dataset's class name by label (``CocoInstanceDataset.class_names``).

    Returns:
        ``{model label: dataset label}`` for the names both have (label 0, background, excluded).
    """
    where = {name: label for label, name in enumerate(dataset_names) if label > 0}
    return {label: where[name] for label, name in enumerate(model_names) if label > 0 and name in where}


def rename_predictions(predictions: list[dict], mapping: dict[int, int]) -> list[dict]:
    """Predictions with their labels mapped (``class_mapping``); detections of unmapped classes dropped.

    Args:
        predictions: per image ``boxes``, ``labels``, ``scores`` (and ``masks``), as a model returns them.
        mapping: ``{model label: dataset label}``.

    Returns:
        new prediction dicts in the dataset's labels.
    """
    out = []
    for p in predictions:
        keep = torch.tensor([int(c) in mapping for c in p["labels"]], dtype=torch.bool)
        q = {k: v[keep] for k, v in p.items()}
        q["labels"] = torch.tensor([mapping[int(c)] for c in q["labels"]], dtype=torch.int64)
        out.append(q)
    return out


def mask_scores(model: nn.Module, dataset, device: torch.device | str | None = None,
                mapping: dict[int, int] | None = None) -> dict[str, float]:
    """COCO mask AP of a model on a dataset, its labels first mapped to the dataset's when ``mapping`` is given.

    Args:
        model: a torchvision-style Mask R-CNN.
        dataset: (image, target) pairs, e.g. ``CocoInstanceDataset(".../val")``.
        device: where to run (default the model's device).
        mapping: ``{model label: dataset label}`` (``class_mapping``), or None when the labels agree.

    Returns:
        the "segm" numbers of ``metrics.coco_eval.coco_evaluate`` ("AP", "AP50", ...).
    """
    predictions, targets = predict_dataset(model, dataset, device=device)
    if mapping is not None:
        predictions = rename_predictions(predictions, mapping)
    return coco_evaluate(predictions, targets, iou_types=("segm",))["segm"]


def _train(model: nn.Module, dataset, cfg: ComparisonConfig, lr: float, device: torch.device,
           progress: bool) -> tuple[float, History]:
    """Train with lesson 11's ``train_on_coco``; returns (seconds, the run's ``History``)."""
    recipe = dataclasses.replace(OwnDataConfig(), batch_size=cfg.batch_size, fine_tune_epochs=cfg.epochs,
                                 fine_tune_lr=lr, weight_decay=cfg.weight_decay, flip=cfg.flip,
                                 max_minutes=cfg.max_minutes, seed=cfg.seed)
    start = time.perf_counter()
    history = train_on_coco(model, dataset, recipe, fine_tuning=True, device=device, live_plot=False,
                            progress=progress)
    return time.perf_counter() - start, history


def compare_starts(train_ds, val_ds, start: nn.Module, cfg: ComparisonConfig | None = None,
                   device: torch.device | str | None = None, transforms=None, progress: bool = False,
                   model_names: Sequence[str] = CLASSES) -> list[dict]:
    """Lesson 07's model as it is, fine-tuned, from scratch and fine-tuned with augmentation, on one dataset.

    Args:
        train_ds: the few training images (``CocoInstanceDataset``; ``num_classes``, ``class_names``).
        val_ds: the images to score on (same classes).
        start: lesson 07's trained Mask R-CNN (``train.reuse.maskrcnn_model``); copied, never changed.
        cfg: budget and learning rates (``ComparisonConfig()`` when None).
        device: where to train (default ``device.get_device()``).
        transforms: the augmentation of start 4 (default ``data.augment.default_augmentation``).
        progress: show a progress bar per training run.
        model_names: the class name of each of ``start``'s labels (lesson 07's: the course's ``CLASSES``).

    Returns:
        four dicts, in the order above: ``start`` (what was trained, in words), ``mask_AP``
        (AP[.50:.95] on ``val_ds``), ``mask_AP50``, ``steps`` and ``train_s`` (0 for start 1), the
        trained ``model``, its ``history`` (``fit``'s ``History``; None for start 1) and
        ``stopped_early`` (fit's reason when a time cap cut the run, else None).
    """
    cfg = cfg or ComparisonConfig()
    device = as_device(device)
    if list(train_ds.class_names) != list(val_ds.class_names):
        raise ValueError(f"train and val have different classes: {train_ds.class_names} vs {val_ds.class_names}")
    k = train_ds.num_classes
    mapping = class_mapping(model_names, train_ds.class_names)
    start = start.to(device).eval()
    as_it_is = mask_scores(start, val_ds, device, mapping)
    rows = [{"start": "lesson 07's model, not fine-tuned", **_row(as_it_is, None, 0.0), "model": start}]

    def fine_tuned() -> nn.Module:
        seed_everything(cfg.seed)  # the same new heads for both fine-tuning runs
        return set_num_classes(copy.deepcopy(start), k).to(device)

    model = fine_tuned()
    seconds, history = _train(model, train_ds, cfg, cfg.fine_tune_lr, device, progress)
    rows.append({"start": "fine-tuned from lesson 07's model", **_row(mask_scores(model, val_ds, device), history,
                                                                      seconds), "model": model})
    seed_everything(cfg.seed)
    base = getattr(start, "config", None)
    model = build_maskrcnn(dataclasses.replace(base if isinstance(base, MaskRCNNConfig) else MaskRCNNConfig(),
                                               num_classes=k)).to(device)
    seconds, history = _train(model, train_ds, cfg, cfg.scratch_lr, device, progress)
    rows.append({"start": "from scratch (random weights)", **_row(mask_scores(model, val_ds, device), history, seconds),
                 "model": model})
    model = fine_tuned()
    t0 = time.perf_counter()
    augmented = AugmentedDataset(train_ds, transforms or default_augmentation(int(train_ds[0][0].shape[-1])),
                                 seed=cfg.seed)
    _, history = _train(model, augmented, cfg, cfg.fine_tune_lr, device, progress)
    seconds = time.perf_counter() - t0  # reading the images once more included
    rows.append({"start": "fine-tuned, with augmentation", **_row(mask_scores(model, val_ds, device), history,
                                                                  seconds), "model": model})
    return rows


def _row(scores: dict[str, float], history, seconds: float) -> dict:
    """The numbers of one row of the comparison (``history``: the run's ``History``, None when nothing trained)."""
    return {"mask_AP": scores["AP"], "mask_AP50": scores["AP50"], "steps": history.total_steps if history else 0,
            "train_s": float(seconds), "history": history, "stopped_early": history.stopped_early if history else None}


def format_comparison(rows: list[dict]) -> str:
    """The comparison as a text table, one line per start.

    Args:
        rows: from :func:`compare_starts`.

    Returns:
        the table (mask AP[.50:.95], AP50, optimiser steps, training seconds).
    """
    lines = [f"{'start':<36} {'mask AP':>8} {'AP50':>7} {'steps':>6} {'train s':>8}"]
    lines += [f"{r['start']:<36} {r['mask_AP']:>8.3f} {r['mask_AP50']:>7.3f} {r['steps']:>6d} {r['train_s']:>8.1f}"
              for r in rows]
    return "\n".join(lines)
