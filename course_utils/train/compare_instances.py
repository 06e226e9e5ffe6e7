"""Comparing trained instance segmenters on the same scenes: COCO AP, size, speed (the one-stage lesson's table).

* ``instance_row``: one model's row (mask AP, AP50, AP75, AP_small, box AP, parameters, batch-1
  latency), with its predictions so the caller can break its errors down further;
* ``checkpoint_training_seconds``: how long a saved model trained, from the history in its checkpoint;
* ``instance_table_markdown``: the rows as one Markdown table.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ..metrics.coco_eval import coco_evaluate, predict_dataset
from .checkpoints import load_checkpoint
from .compare import latency_ms

COLUMNS = {"mask_AP": "mask AP", "mask_AP50": "AP50", "mask_AP75": "AP75", "mask_AP_small": "AP_small",
           "box_AP": "box AP", "params": "parameters", "latency_ms": "batch-1 latency (ms)",
           "training_s": "training (s)"}
"""Row keys and the table's column names, in order."""


def instance_row(model: torch.nn.Module, dataset, training_seconds: float = math.nan,
                 repeats: int = 10) -> tuple[dict, list[dict], list[dict]]:
    """Score a detection model (torchvision's output format) on a dataset and time it.

    Args:
        model: Mask R-CNN, the one-stage model, or any model with the same eval-mode output.
        dataset: yields (image (3, H, W), target); its first image is the one timed.
        training_seconds: how long the model trained (shown as is; NaN when unknown).
        repeats: timed batch-1 calls (median).

    Returns:
        (row with the keys of ``COLUMNS``, predictions, targets).
    """
    preds, targets = predict_dataset(model, dataset)
    scores = coco_evaluate(preds, targets)
    segm, bbox = scores["segm"], scores["bbox"]
    params = sum(q.numel() for q in model.parameters())
    row = {"mask_AP": segm["AP"], "mask_AP50": segm["AP50"], "mask_AP75": segm["AP75"],
           "mask_AP_small": segm["AP_small"], "box_AP": bbox["AP"], "params": params,
           "latency_ms": latency_ms(model, dataset[0][0], repeats=repeats), "training_s": float(training_seconds)}
    return row, preds, targets


def checkpoint_training_seconds(name_or_path: str | Path | None) -> float:
    """Training seconds recorded in a checkpoint's history (NaN without a checkpoint or a history)."""
    if name_or_path is None:
        return math.nan
    try:
        history = load_checkpoint(name_or_path).get("history") or {}
    except (FileNotFoundError, ValueError, OSError):
        return math.nan
    return float(history.get("total_time_s", math.nan))


def instance_table_markdown(rows: dict[str, dict]) -> str:
    """The rows of ``instance_row`` as a Markdown table, one line per model."""
    lines = ["| model | " + " | ".join(COLUMNS.values()) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, row in rows.items():
        cells = []
        for key in COLUMNS:
            v = row[key]
            if key == "params":
                cells.append(f"{v:,}")
            elif key in ("latency_ms", "training_s"):
                cells.append(f"{v:.1f}" if math.isfinite(v) else "unknown")
            else:
                cells.append(f"{v:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
