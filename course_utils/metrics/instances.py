"""Counting and separating objects: how well a set of predicted instances recovers the true objects.

Lesson 05 uses these to show, with numbers, that connected components of a semantic map merge
touching objects of one class, and how many of those a bottom-up instance model separates.

- :func:`touching_same_class`: which objects touch another object of their own class;
- :func:`count_by_class` / :func:`count_errors`: objects per class, and how far off a count is;
- :func:`recovered`: which true objects a prediction recovers (one-to-one, same class, mask IoU > 0.5);
- :func:`separation_report`: all of it over a list of scenes and predictions.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage as ndi

from ..data.classes import THINGS


def _np(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def touching_same_class(masks: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray) -> np.ndarray:
    """Which objects share a border (8-neighbourhood) with another object of the same class.

    Args:
        masks: (N, H, W) bool instance masks.
        labels: (N,) class ids.

    Returns:
        (N,) bool.
    """
    m, lab = _np(masks).astype(bool), _np(labels)
    grown = np.stack([ndi.binary_dilation(x, structure=np.ones((3, 3), bool)) for x in m]) if len(m) else m
    out = np.zeros(len(m), bool)
    for a in range(len(m)):
        for b in range(len(m)):
            if a != b and lab[a] == lab[b] and (grown[a] & m[b]).any():
                out[a] = True
    return out


def count_by_class(labels: torch.Tensor | np.ndarray) -> dict[int, int]:
    """Number of instances of each thing class.

    Args:
        labels: (N,) class ids of the instances.

    Returns:
        {class id: count} for every thing class (0 when absent).
    """
    lab = _np(labels)
    return {c: int((lab == c).sum()) for c in THINGS}


def count_errors(pred_labels: torch.Tensor | np.ndarray, true_labels: torch.Tensor | np.ndarray) -> dict[int, int]:
    """Predicted minus true count, per thing class (negative = objects merged or missed).

    Args:
        pred_labels: (K,) class ids of the predicted instances.
        true_labels: (N,) class ids of the true objects.

    Returns:
        {class id: predicted count - true count}.
    """
    p, t = count_by_class(pred_labels), count_by_class(true_labels)
    return {c: p[c] - t[c] for c in THINGS}


def mask_iou_matrix(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> np.ndarray:
    """IoU of every pair of masks.

    Args:
        a: (N, H, W) bool.
        b: (M, H, W) bool.

    Returns:
        (N, M) float64; 0 where both masks are empty.
    """
    fa = _np(a).reshape(len(a), -1).astype(np.float64)  # (N, HW)
    fb = _np(b).reshape(len(b), -1).astype(np.float64)  # (M, HW)
    inter = fa @ fb.T
    union = fa.sum(1)[:, None] + fb.sum(1)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def recovered(pred_masks: torch.Tensor | np.ndarray, pred_labels: torch.Tensor | np.ndarray,
              true_masks: torch.Tensor | np.ndarray, true_labels: torch.Tensor | np.ndarray,
              iou_threshold: float = 0.5, same_class: bool = True) -> np.ndarray:
    """Which true objects have their own predicted instance: same class and mask IoU > ``iou_threshold``.

    With a threshold of at least 0.5 a prediction can match at most one object (objects do not
    overlap, so no mask has IoU > 0.5 with two of them), so the matching is one-to-one without
    search, as in panoptic quality. A blob that merges two equal objects has IoU 0.5 with each,
    and recovers neither.

    Args:
        pred_masks: (K, H, W) bool.
        pred_labels: (K,) class ids.
        true_masks: (N, H, W) bool.
        true_labels: (N,) class ids.
        iou_threshold: the IoU to exceed (>= 0.5).
        same_class: require the predicted class to be right; False scores the separation alone.

    Returns:
        (N,) bool.
    """
    if iou_threshold < 0.5:
        raise ValueError("use an IoU threshold >= 0.5, so that one prediction cannot recover two objects")
    if len(true_masks) == 0 or len(pred_masks) == 0:
        return np.zeros(len(true_masks), bool)
    iou = mask_iou_matrix(true_masks, pred_masks)  # (N, K)
    same = _np(true_labels)[:, None] == _np(pred_labels)[None, :] if same_class else True
    return ((iou > iou_threshold) & same).any(1)


def separation_report(scenes: list[dict], predictions: list[dict]) -> dict[str, float]:
    """Counting and separation scores of predicted instances over scenes.

    Args:
        scenes: scene dicts with ``masks`` (N, H, W) and ``labels`` (N,).
        predictions: per scene a dict with ``masks`` (K, H, W) and ``labels`` (K,).

    Returns:
        dict with ``images``, ``objects``, ``touching`` (objects touching one of their class),
        ``count_mae`` (mean over images and thing classes of |predicted - true count|),
        ``exact_count_images`` (fraction of images with every class count right),
        ``predicted_objects``, ``recovered`` (fraction of all objects recovered: right class and
        IoU > 0.5), ``touching_recovered`` (the same over touching objects only), and
        ``separated`` / ``touching_separated`` (the same ignoring the class: grouping alone).
    """
    if len(scenes) != len(predictions):
        raise ValueError(f"{len(scenes)} scenes but {len(predictions)} predictions")
    abs_err, exact, objects, touching, predicted, rec, rec_touch, sep, sep_touch = [], 0, 0, 0, 0, 0, 0, 0, 0
    for scene, pred in zip(scenes, predictions):
        errs = count_errors(pred["labels"], scene["labels"])
        abs_err += [abs(e) for e in errs.values()]
        exact += all(e == 0 for e in errs.values())
        touch = touching_same_class(scene["masks"], scene["labels"])
        hit = recovered(pred["masks"], pred["labels"], scene["masks"], scene["labels"])
        apart = recovered(pred["masks"], pred["labels"], scene["masks"], scene["labels"], same_class=False)
        objects += len(hit)
        touching += int(touch.sum())
        predicted += len(pred["labels"])
        rec += int(hit.sum())
        rec_touch += int((hit & touch).sum())
        sep += int(apart.sum())
        sep_touch += int((apart & touch).sum())
    return {"images": len(scenes), "objects": objects, "touching": touching,
            "count_mae": float(np.mean(abs_err)) if abs_err else 0.0,
            "exact_count_images": exact / max(len(scenes), 1), "predicted_objects": predicted,
            "recovered": rec / max(objects, 1), "touching_recovered": rec_touch / max(touching, 1),
            "separated": sep / max(objects, 1), "touching_separated": sep_touch / max(touching, 1)}


MIN_PIECE = 20
"""Pixels a visible piece of an object needs to count as a piece in ``scene_traits`` (slivers do not)."""


def _pieces(mask: np.ndarray) -> int:
    """Connected pieces of a bool mask with at least ``MIN_PIECE`` pixels."""
    labels, n = ndi.label(mask)
    return int((np.bincount(labels.ravel(), minlength=n + 1)[1:] >= MIN_PIECE).sum())


def scene_traits(scene: dict) -> dict[str, float]:
    """What makes a scene hard for instance segmentation, in numbers (to pick examples).

    Args:
        scene: a scene dict (``image``, ``masks``, ``labels``).

    Returns:
        ``touching`` (objects touching one of their own class), ``split`` (objects cut in several
        visible parts by an occluder, each at least ``MIN_PIECE`` pixels, so the cut shows), ``size_ratio``
        (largest / smallest object area) and
        ``contrast`` (smallest colour difference, summed over RGB, between an object and the
        background (stuff) pixels in a 3-pixel ring around it).
    """
    masks = _np(scene["masks"]).astype(bool)
    image = _np(scene["image"])  # (3, H, W)
    if len(masks) == 0:
        return {"touching": 0, "split": 0, "size_ratio": 1.0, "contrast": float("inf")}
    areas = masks.reshape(len(masks), -1).sum(1)
    split = sum(_pieces(m) > 1 for m in masks)
    contrast = []
    objects = masks.any(0)
    for m in masks:
        ring = ndi.binary_dilation(m, iterations=3) & ~objects  # background right around the object
        if ring.sum() >= 10:
            contrast.append(float(np.abs(image[:, m].mean(1) - image[:, ring].mean(1)).sum()))
    return {"touching": int(touching_same_class(masks, scene["labels"]).sum()), "split": int(split),
            "size_ratio": float(areas.max() / max(areas.min(), 1)),
            "contrast": min(contrast) if contrast else float("inf")}


def failure_breakdown(predictions: list[dict], targets: list[dict], score_thresh: float = 0.5,
                      small_area: int = 400, edge_iou: float = 0.85) -> dict[str, dict[str, float]]:
    """Where an instance segmenter fails, per group of ground-truth objects.

    Each true object gets the best mask IoU among the confident predictions (score >= ``score_thresh``,
    masks > 0.5) of its own class. Groups: every object, objects touching a same-class object,
    small objects (fewer than ``small_area`` visible pixels), and those that are neither. The touching and
    the small groups overlap (a small object can touch one of its class), so the three group counts after
    "all objects" can add up to more than it.

    Args:
        predictions: torchvision-format outputs (``masks`` (K, 1, H, W) probabilities, ``labels``, ``scores``).
        targets: ground truth (``masks`` (N, H, W), ``labels``).
        score_thresh: detections below this score are ignored.
        small_area: objects with fewer visible pixels count as small.
        edge_iou: the IoU a mask needs for its outline to count as exact.

    Returns:
        {group: {"objects", "found" (share with IoU >= 0.5), "exact" (share with IoU >= edge_iou),
        "mean_iou"}}; a group without objects has zeros.
    """
    best, touching, small = [], [], []
    for pred, tgt in zip(predictions, targets):
        true_m, true_l = _np(tgt["masks"]).astype(bool), _np(tgt["labels"])
        if len(true_m) == 0:
            continue
        keep = _np(pred["scores"]) >= score_thresh
        if keep.any():
            pm = _np(pred["masks"])[keep][:, 0] > 0.5
            iou = mask_iou_matrix(true_m, pm) * (true_l[:, None] == _np(pred["labels"])[keep][None, :])
            best.append(iou.max(1))
        else:
            best.append(np.zeros(len(true_m)))
        touching.append(touching_same_class(true_m, true_l))
        small.append(true_m.reshape(len(true_m), -1).sum(1) < small_area)
    best, touching, small = (np.concatenate(x) if x else np.zeros(0) for x in (best, touching, small))
    touching, small = touching.astype(bool), small.astype(bool)
    groups = {"all objects": np.ones(len(best), bool), "touching a same-class object": touching,
              f"small (< {small_area} px)": small, "neither touching nor small": ~touching & ~small}
    out = {}
    for name, sel in groups.items():
        b = best[sel]
        n = len(b)
        out[name] = {"objects": n, "found": float((b >= 0.5).mean()) if n else 0.0,
                     "exact": float((b >= edge_iou).mean()) if n else 0.0, "mean_iou": float(b.mean()) if n else 0.0}
    return out
