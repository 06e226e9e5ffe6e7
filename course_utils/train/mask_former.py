"""The queries lesson's recipe: training, saving, loading and scoring the course's mask classifier.

``train_mask_former(cfg)`` generates the training scenes once with *every* segment as a target
(``loaders.SegmentBatches``: stuff and things alike, which is the point of mask classification), then
calls the course's one training loop, ``fit``, which weights the loss terms with the model's
``loss_weights`` and records each of them. ``load_mask_former`` rebuilds the model from its checkpoint;
``predict_all`` and ``evaluate_mask_former`` give the three outputs and their scores on any scenes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..data import NUM_CLASSES, VOID
from ..device import as_device, seed_everything
from ..metrics.panoptic import PQStats
from ..metrics.semantic import confusion_matrix, mean_iou
from ..models.mask_former import MaskFormer, MaskFormerConfig, build_mask_former
from ..paths import resolve_checkpoint
from .checkpoints import find_checkpoint, load_checkpoint, save_checkpoint
from .loaders import SegmentBatches
from .loop import fit
from .maskrcnn import config_from_dict


@dataclass(frozen=True)
class MaskFormerTrainConfig:
    """How the course's mask classifier is trained. Override with ``dataclasses.replace``."""

    model: MaskFormerConfig = field(default_factory=MaskFormerConfig)  # the model to build and train
    num_train: int = 2000  # training scenes of split "train", generated once before training
    batch_size: int = 8  # scenes per optimiser step
    num_epochs: int = 2  # passes over the training scenes (each with fresh random flips)
    lr: float = 3e-3  # peak learning rate of the one-cycle schedule (AdamW)
    weight_decay: float = 1e-4  # AdamW weight decay
    grad_clip: float | None = 1.0  # clip the gradient norm (transformers train more steadily)
    flip: bool = True  # random horizontal and vertical flips of training scenes
    max_minutes: float | None = 1.75  # safety net: training stops after this many minutes (the lesson also trains
    # a promptable model and must fit in 4 minutes on a slow CPU)
    backbone_from: str | tuple[str, ...] | None = ("maskrcnn", "maskrcnn_fast")  # start the backbone + FPN from the
    # first of these Mask R-CNN checkpoints that exists: lesson 07's, else the stand-in of lessons 08-10 (None, or
    # none exists: from scratch)
    seed: int = 0  # seed of the weights, the batch order and the flips


def train_mask_former(cfg: MaskFormerTrainConfig | None = None, device: torch.device | str | None = None,
                      checkpoint: str | Path | None = "mask_former", progress: bool = True, live_plot: bool = True):
    """Build the course's mask classifier and train it on every segment of the shapes world with ``fit``.

    Args:
        cfg: the recipe (``MaskFormerTrainConfig()`` when None); ``cfg.model`` is the model built.
        device: where to train (default ``device.get_device()``).
        checkpoint: checkpoint name or path to save weights + model config to (None: do not save).
        progress: show a progress bar.
        live_plot: redraw the loss curves during training (notebooks only).

    Returns:
        (model in eval mode, ``History`` with one row per logged step holding every loss term).
    """
    cfg = cfg or MaskFormerTrainConfig()
    seed_everything(cfg.seed)
    model = build_mask_former(cfg.model)
    model.backbone_source = init_backbone(model, cfg.backbone_from)
    loader = SegmentBatches("train", cfg.num_train, cfg.batch_size, cfg.model.image_size, cfg.flip, cfg.seed)
    history = fit(model, loader, num_epochs=cfg.num_epochs, lr=cfg.lr, device=device, weight_decay=cfg.weight_decay,
                  max_minutes=cfg.max_minutes, live_plot=live_plot, progress=progress, log_every=5,
                  grad_clip=cfg.grad_clip, title="Mask classifier losses", loss_weights=model.loss_weights)
    if checkpoint is not None:
        save_checkpoint(model, checkpoint, config=cfg.model, history=history, train_config=cfg)
    return model.eval(), history


def init_backbone(model: MaskFormer, source: str | Path | Sequence[str] | None) -> str | None:
    """Copy the backbone + FPN weights of a Mask R-CNN checkpoint into ``model`` (same architecture).

    Args:
        model: the mask classifier.
        source: a checkpoint name or path, or names to try in order (the first that exists is used).

    Returns:
        the checkpoint's path when its weights were copied, None when ``source`` is None or missing.
    """
    if source is not None and not isinstance(source, (str, Path)):
        source = find_checkpoint(source)
    if source is None:
        return None
    path = resolve_checkpoint(source)
    if not path.exists():
        return None
    weights = load_checkpoint(path)["model"]
    prefix = "backbone."
    mine = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
    missing, unexpected = model.backbone.load_state_dict(mine, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path} does not hold lesson 07's backbone: missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}")
    return str(path)


def load_mask_former(path: str | Path = "mask_former", device: torch.device | str | None = None) -> MaskFormer:
    """Load a model saved by :func:`train_mask_former` (a checkpoint name or a file path), in eval mode."""
    payload = load_checkpoint(path)
    if not isinstance(payload.get("config"), dict):
        raise ValueError(f"{path} has no mask-classifier config saved with it: was it written by train_mask_former?")
    model = build_mask_former(config_from_dict(payload["config"], MaskFormerConfig))
    model.load_state_dict(payload["model"])
    return model.to(as_device(device)).eval()


@torch.no_grad()
def predict_all(model: MaskFormer, images: Sequence[torch.Tensor], batch_size: int = 16,
                device: torch.device | str | None = None) -> tuple[list[dict], float]:
    """The model's eval-mode outputs for many images, moved to the CPU, and the seconds they took.

    Returns:
        (one dict per image: detections + ``semantic``, ``panoptic``, ``segments``; wall seconds).
    """
    device = as_device(device) if device is not None else next(model.parameters()).device
    model.eval()
    start, outputs = time.perf_counter(), []
    for i in range(0, len(images), batch_size):
        batch = torch.stack(list(images[i:i + batch_size])).to(device)
        for out in model(batch):
            outputs.append({k: (v.cpu() if isinstance(v, torch.Tensor) else v) for k, v in out.items()})
    return outputs, time.perf_counter() - start


def evaluate_mask_former(outputs: Sequence[dict], scenes: Sequence[dict]) -> dict:
    """Panoptic quality and semantic mIoU of ``predict_all``'s outputs against the scenes' ground truth.

    Returns:
        ``PQStats.summary()`` (``all`` / ``things`` / ``stuff`` PQ, SQ, RQ, ``per_class``) plus ``miou``.
    """
    if len(outputs) != len(scenes):
        raise ValueError(f"got {len(outputs)} predictions for {len(scenes)} scenes")
    stats = PQStats()
    conf = None
    for out, scene in zip(outputs, scenes):
        stats.update(out["panoptic"], scene["panoptic"], out["segments"], scene["segments"])
        c = confusion_matrix(out["semantic"], scene["semantic"], NUM_CLASSES, ignore_index=VOID)
        conf = c if conf is None else conf + c
    summary = stats.summary()
    summary["miou"] = mean_iou(conf)
    return summary


PANOPTIC_COLUMNS = {"pq": "PQ", "pq_things": "PQ things", "pq_stuff": "PQ stuff", "miou": "mIoU",
                    "params": "parameters", "training_s": "training (s)", "inference_ms": "inference (ms / scene)"}
"""Row keys of ``panoptic_row`` and the table's column names, in order."""


def panoptic_row(summary: dict, params: int, training_s: float, inference_s: float, num_scenes: int) -> dict:
    """One model's (or pipeline's) row of the queries lesson's table.

    Args:
        summary: a PQ summary (``evaluate_mask_former`` or ``metrics.panoptic.evaluate_fusion``; ``miou``
            optional); params: parameters in all; training_s: training seconds (NaN when unknown);
            inference_s: seconds to predict all ``num_scenes`` scenes.
    """
    return {"pq": summary["all"]["pq"], "pq_things": summary["things"]["pq"], "pq_stuff": summary["stuff"]["pq"],
            "miou": summary.get("miou", math.nan), "params": int(params), "training_s": float(training_s),
            "inference_ms": 1000 * inference_s / max(num_scenes, 1)}


def panoptic_table_markdown(rows: dict[str, dict]) -> str:
    """The rows of ``panoptic_row`` as a Markdown table, one line per model."""
    lines = ["| model | " + " | ".join(PANOPTIC_COLUMNS.values()) + " |", "|---" * (len(PANOPTIC_COLUMNS) + 1) + "|"]
    for name, row in rows.items():
        cells = []
        for key in PANOPTIC_COLUMNS:
            v = row[key]
            if key == "params":
                cells.append(f"{v:,}")
            elif not math.isfinite(v):
                cells.append("unknown" if key == "training_s" else "-")
            else:
                cells.append(f"{v:.1f}" if key in ("training_s", "inference_ms") else f"{v:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
