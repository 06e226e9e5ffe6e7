"""Measuring a promptable segmenter the way interactive segmentation papers do: IoU after 1 and 2 clicks.

The clicks are placed by a fixed rule, not by chance, so every run scores the same clicks:

* the **first click** goes to the segment's interior point farthest from its edge (the maximum of
  ``scipy.ndimage.distance_transform_edt``; the image border counts as an edge), where a person
  would click;
* the **second click** goes to the point of the *error region* (pixels the first mask got wrong)
  farthest from that region's edge: **positive** when the point is a missed part of the segment,
  **negative** when it is a false-positive part. This is the protocol of the interactive
  segmentation benchmarks (Xu et al. 2016; RITM, Sofiiuk et al. 2022), which SAM also follows.

Every segment of a scene is scored, things (one per object) and stuff (one per stuff class present).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.ndimage import distance_transform_edt

from ..data.classes import CLASSES, LABEL_DIVISOR
from ..device import as_device
from ..models.promptable import NEGATIVE, PADDING, POSITIVE, PromptableSegmenter


def segment_masks(scene: dict) -> tuple[np.ndarray, list[dict]]:
    """Every panoptic segment of a scene as a mask: the targets a click should return.

    Args:
        scene: a shapes-world scene (``panoptic`` and ``segments``).

    Returns:
        (S, H, W) bool masks, and per segment a dict ``id``, ``category_id``, ``isthing``, ``name``, ``area``.
    """
    panoptic = np.asarray(scene["panoptic"])
    masks, infos = [], []
    for seg in scene["segments"]:
        mask = panoptic == int(seg["id"])
        if not mask.any():
            continue
        masks.append(mask)
        cat = int(seg["category_id"])
        number = int(seg["id"]) % LABEL_DIVISOR
        name = f"{CLASSES[cat]} {number}" if seg["isthing"] else CLASSES[cat]
        infos.append({"id": int(seg["id"]), "category_id": cat, "isthing": bool(seg["isthing"]), "name": name,
                      "area": int(mask.sum())})
    return np.stack(masks) if masks else np.zeros((0, *panoptic.shape), bool), infos


def farthest_point(mask: np.ndarray) -> tuple[int, int]:
    """The pixel of ``mask`` farthest from its edge (the image border counts as an edge).

    Args:
        mask: (H, W) bool, not empty.

    Returns:
        (row, col) of the first maximum of the distance transform.
    """
    mask = np.asarray(mask, bool)
    if mask.ndim != 2 or not mask.any():
        raise ValueError("farthest_point needs a non-empty (H, W) mask")
    dist = distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]  # (H, W): 0 outside, distance to background inside
    row, col = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(row), int(col)


def corrective_click(pred: np.ndarray, target: np.ndarray) -> tuple[int, int, int] | None:
    """The second click: the point of the error region farthest from its edge, with its sign.

    Args:
        pred: (H, W) bool, the current mask.
        target: (H, W) bool, the segment it should be.

    Returns:
        (row, col, label): label 1 (positive) when the point was missed, 0 (negative) when it is a false
        positive; None when the mask is already exact.
    """
    pred, target = np.asarray(pred, bool), np.asarray(target, bool)
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {pred.shape} vs {target.shape}")
    error = pred ^ target
    if not error.any():
        return None
    row, col = farthest_point(error)
    return row, col, POSITIVE if target[row, col] else NEGATIVE


def mask_iou(pred: np.ndarray, target: np.ndarray) -> float:
    """Intersection over union of two (H, W) bool masks (1.0 when both are empty)."""
    pred, target = np.asarray(pred, bool), np.asarray(target, bool)
    union = np.logical_or(pred, target).sum()
    return float(np.logical_and(pred, target).sum() / union) if union else 1.0


@torch.no_grad()
def click_scene(model: PromptableSegmenter, scene: dict, device: torch.device | str | None = None
                ) -> list[dict]:
    """Score every segment of one scene with one click and with a corrective second click.

    The image is embedded once; all the scene's first clicks go through the prompt path as one batch,
    then all the second clicks (with the first mask as the mask prompt).

    Args:
        model: a trained ``PromptableSegmenter``.
        scene: a shapes-world scene.
        device: where to run (default the model's device).

    Returns:
        one dict per segment: ``segment_masks``' fields, ``click1`` (row, col), ``iou1``, ``click2``
        (row, col, label) or None, ``iou2``, and the masks ``mask1``, ``mask2`` (H, W) bool.
    """
    device = as_device(device) if device is not None else next(model.parameters()).device
    targets, infos = segment_masks(scene)
    if not infos:
        return []
    model.eval()
    emb = model.embed(scene["image"][None].to(device))  # computed once for the whole scene
    emb = {k: v.expand(len(infos), *v.shape[1:]) for k, v in emb.items()}
    first = [farthest_point(t) for t in targets]
    clicks = torch.tensor([[[r, c, POSITIVE], [0, 0, PADDING]] for r, c in first], dtype=torch.float32)  # (S, 2, 3)
    logits1 = model.decode(emb, clicks[:, :1].to(device))  # (S, 1, H, W)
    masks1 = (logits1[:, 0] > 0).cpu().numpy()
    second = [corrective_click(m, t) for m, t in zip(masks1, targets)]
    for s, click in enumerate(second):
        if click is not None:
            clicks[s, 1] = torch.tensor(click, dtype=torch.float32)
    masks2 = (model.decode(emb, clicks.to(device), mask_prompt=logits1)[:, 0] > 0).cpu().numpy()
    rows = []
    for info, t, c1, c2, m1, m2 in zip(infos, targets, first, second, masks1, masks2):
        m2 = m1 if c2 is None else m2  # an exact first mask needs no second click
        rows.append({**info, "click1": c1, "iou1": mask_iou(m1, t), "click2": c2, "iou2": mask_iou(m2, t),
                     "mask1": m1, "mask2": m2})
    return rows


def evaluate_clicks(model: PromptableSegmenter, scenes: Sequence[dict], device: torch.device | str | None = None,
                    keep_masks: bool = False) -> dict:
    """Mean mask IoU after one click and after two clicks per segment, over a list of scenes.

    Args:
        model: a trained ``PromptableSegmenter``.
        scenes: shapes-world scenes (e.g. the first 128 of ``SPLITS["val"]``).
        device: where to run (default the model's device).
        keep_masks: keep each segment's predicted masks in the rows (for figures of the worst cases).

    Returns:
        ``{"rows": [one dict per segment, with "scene" = its index in scenes], "summary": {...}}``; the
        summary has ``iou1``, ``iou2`` (mean over all segments), ``iou1_things``, ``iou2_things``,
        ``iou1_stuff``, ``iou2_stuff``, ``segments``, ``things``, ``stuff``, ``scenes``.
    """
    if len(scenes) == 0:
        raise ValueError("evaluate_clicks needs at least one scene")
    rows = []
    for k, scene in enumerate(scenes):
        for row in click_scene(model, scene, device):
            if not keep_masks:
                row.pop("mask1")
                row.pop("mask2")
            rows.append({"scene": k, **row})
    return {"rows": rows, "summary": summarise_clicks(rows, len(scenes))}


def summarise_clicks(rows: Sequence[dict], num_scenes: int | None = None) -> dict:
    """Means of ``iou1`` and ``iou2`` over all segments, things only and stuff only.

    Args:
        rows: per-segment rows of ``evaluate_clicks``.
        num_scenes: recorded in the summary as ``scenes``.

    Returns:
        the summary dict (see ``evaluate_clicks``); means of an empty group are NaN.
    """
    def mean(key, keep):
        vals = [r[key] for r in rows if keep(r)]
        return float(np.mean(vals)) if vals else float("nan")

    out = {"segments": len(rows), "things": sum(r["isthing"] for r in rows),
           "stuff": sum(not r["isthing"] for r in rows), "scenes": num_scenes}
    for key in ("iou1", "iou2"):
        out[key] = mean(key, lambda r: True)
        out[f"{key}_things"] = mean(key, lambda r: r["isthing"])
        out[f"{key}_stuff"] = mean(key, lambda r: not r["isthing"])
    return out


def format_clicks(summary: dict) -> str:
    """The summary of ``evaluate_clicks`` as two lines of text."""
    s = summary
    return (f"{s['segments']} segments ({s['things']} things, {s['stuff']} stuff) in {s['scenes']} scenes\n"
            f"mean IoU, one click:  {s['iou1']:.3f}  (things {s['iou1_things']:.3f}, stuff {s['iou1_stuff']:.3f})\n"
            f"mean IoU, two clicks: {s['iou2']:.3f}  (things {s['iou2_things']:.3f}, stuff {s['iou2_stuff']:.3f})")
