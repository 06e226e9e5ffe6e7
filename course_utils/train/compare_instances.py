"""Comparing trained instance segmenters on the same scenes: COCO AP, size, speed (the one-stage lesson's table).

* ``instance_row``: one model's row (mask AP, AP50, AP75, AP_small, box AP, parameters, batch-1
  latency), with its predictions so the caller can break its errors down further;
* ``checkpoint_training_seconds``: how long a saved model trained, from the history in its checkpoint;
* ``checkpoint_training``: that, with whether its schedule ran to the end and where it was measured (the
  course's reference checkpoints were trained where ``make checkpoints`` ran, not on the learner's machine),
  and ``training_time_sentence``: one sentence saying so;
* ``instance_table_markdown``: the rows as one Markdown table.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ..metrics.coco_eval import coco_evaluate, predict_dataset
from .checkpoints import is_reference, load_checkpoint
from .compare import latency_ms

REFERENCE_NOTE = "reference, another machine"
"""The table's note beside a training time measured where the reference checkpoint was made."""

COLUMNS = {"mask_AP": "mask AP", "mask_AP50": "AP50", "mask_AP75": "AP75", "mask_AP_small": "AP_small",
           "box_AP": "box AP", "params": "parameters", "latency_ms": "batch-1 latency (ms)",
           "training_s": "training (s)"}
"""Row keys and the table's column names, in order."""


def instance_row(model: torch.nn.Module, dataset, training_seconds: float = math.nan,
                 repeats: int = 10, training_note: str = "") -> tuple[dict, list[dict], list[dict]]:
    """Score a detection model (torchvision's output format) on a dataset and time it.

    Args:
        model: Mask R-CNN, the one-stage model, or any model with the same eval-mode output.
        dataset: yields (image (3, H, W), target); its first image is the one timed.
        training_seconds: how long the model trained (shown as is; NaN when unknown).
        repeats: timed batch-1 calls (median).
        training_note: written beside the training time in the table (e.g. :data:`REFERENCE_NOTE`); "" for none.

    Returns:
        (row with the keys of ``COLUMNS``, predictions, targets).
    """
    preds, targets = predict_dataset(model, dataset)
    scores = coco_evaluate(preds, targets)
    segm, bbox = scores["segm"], scores["bbox"]
    params = sum(q.numel() for q in model.parameters())
    row = {"mask_AP": segm["AP"], "mask_AP50": segm["AP50"], "mask_AP75": segm["AP75"],
           "mask_AP_small": segm["AP_small"], "box_AP": bbox["AP"], "params": params,
           "latency_ms": latency_ms(model, dataset[0][0], repeats=repeats), "training_s": float(training_seconds),
           "training_note": training_note}
    return row, preds, targets


def checkpoint_training(name_or_path: str | Path | None) -> dict:
    """How long a checkpoint's model trained, whether its schedule ran to the end, and where that was measured.

    Args:
        name_or_path: what ``find_checkpoint`` returned (a name in the learner's folder, a reference file's
            path, or None).

    Returns:
        ``{"seconds"`` (NaN when unknown), ``"whole_schedule"`` (True, False, or None when unknown),
        ``"reference"`` (whether it is one of the course's reference checkpoints, trained where ``make
        checkpoints`` ran), ``"made_by"`` (the reference's record of that machine, else None)``}``.
    """
    info = {"seconds": math.nan, "whole_schedule": None, "reference": is_reference(name_or_path), "made_by": None}
    if name_or_path is None:
        return info
    try:
        payload = load_checkpoint(name_or_path)
    except (FileNotFoundError, ValueError, OSError):
        return info
    history = payload.get("history") or {}
    made_by = payload.get("made_by") if info["reference"] else None
    seconds = history.get("total_time_s", (made_by or {}).get("train_s", math.nan))
    info.update(seconds=float(seconds if seconds is not None else math.nan), made_by=made_by,
                whole_schedule=None if not history else not history.get("stopped_early"))
    return info


def checkpoint_training_seconds(name_or_path: str | Path | None) -> float:
    """Training seconds recorded in a checkpoint's history (NaN without a checkpoint or a history)."""
    return checkpoint_training(name_or_path)["seconds"]


def training_time_sentence(name: str, info: dict) -> str:
    """One sentence: where ``name``'s training time (``checkpoint_training``'s ``info``) was measured.

    A reference checkpoint's time was measured on the machine that ran ``make checkpoints`` (its CPU, threads
    and date are named), so it says that the time does not compare with one measured here.
    """
    schedule = {True: "the whole schedule", False: "cut short by its time budget", None: "schedule not recorded"}
    ran = schedule[info["whole_schedule"]]
    if not math.isfinite(info["seconds"]):
        return f"{name}: no training time is recorded in its checkpoint."
    if info["reference"]:
        made = info["made_by"] or {}
        where = ", ".join(str(v) for v in (made.get("cpu"), f"{made['threads']} threads" if made.get("threads")
                                            else None, made.get("date")) if v)
        return (f"{name}: its training time ({info['seconds']:.1f} s, {ran}) is the reference checkpoint's, "
                f"measured where `make checkpoints` ran ({where or 'machine not recorded'}), not on this machine in "
                "this run, so it does not compare with a training time measured here.")
    return f"{name}: its training time ({info['seconds']:.1f} s, {ran}) was measured when its checkpoint was trained."


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
                if key == "training_s" and row.get("training_note") and math.isfinite(v):
                    cells[-1] += f" ({row['training_note']})"
            else:
                cells.append(f"{v:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
