"""Panoptic quality (PQ), following the COCO panoptic evaluation (Kirillov et al., 2019).

A panoptic map is an int64 ``(H, W)`` array of segment ids; 0 is void. A segment's class is
read from its segment list (``category_id``) or, without one, from the id itself
(``id // LABEL_DIVISOR``, the course's convention).

Per image and class:

- a predicted and a ground-truth segment of the same class *match* when their IoU > 0.5.
  Two segments of one map never overlap, so at most one predicted segment can cover more than
  half of a ground-truth segment's union with it: matches are unique, no assignment needed;
- void ground-truth pixels are ignored: the IoU's union leaves out the predicted pixels that
  fall in void, and an unmatched prediction lying more than half in void is not a false positive;
- TP = matches, FP = unmatched predictions, FN = unmatched ground truth.

Over a split the counts and the IoU sums are *accumulated* per class, then
``PQ_c = sum IoU / (TP + FP/2 + FN/2)`` = ``SQ_c * RQ_c`` with ``SQ_c = sum IoU / TP`` and
``RQ_c = TP / (TP + FP/2 + FN/2)``. PQ, SQ and RQ are averages over the classes that occur
(TP + FP + FN > 0), for all classes, things only and stuff only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

import numpy as np
import torch

from ..data.classes import CLASSES, LABEL_DIVISOR, NUM_CLASSES, STUFF, THINGS, VOID
from ..models.panoptic_fusion import FusionConfig, fuse_all

MATCH_IOU = 0.5  # a match needs IoU strictly above this: that is what makes matches unique
VOID_FRACTION = 0.5  # an unmatched prediction more than this much in void is not a false positive


def _as_map(x: torch.Tensor | np.ndarray, name: str) -> np.ndarray:
    """A panoptic map as a 2-D int64 numpy array, with a clear error for anything else."""
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (H, W) map of segment ids, got shape {tuple(arr.shape)}")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer segment ids, got dtype {arr.dtype}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} has negative segment ids; use 0 for void")
    return arr.astype(np.int64, copy=False)


def _categories(ids: np.ndarray, segments: Sequence[dict] | None, name: str) -> np.ndarray:
    """Class id of each segment id (void -> VOID), from the segment list or from ``id // LABEL_DIVISOR``."""
    if segments is None:
        cats = ids // LABEL_DIVISOR
    else:
        lookup = {int(s["id"]): int(s["category_id"]) for s in segments}
        missing = [int(i) for i in ids if i != VOID and int(i) not in lookup]
        if missing:
            raise ValueError(f"{name} has segment ids {missing[:5]} that are not in its segment list")
        cats = np.array([lookup.get(int(i), VOID) for i in ids], np.int64)
    if np.any((cats == VOID) & (ids != VOID)):
        bad_id = int(ids[(cats == VOID) & (ids != VOID)][0])
        raise ValueError(f"{name} segment {bad_id} has class {VOID} (void); only id 0 may be void")
    cats[ids == VOID] = VOID
    bad = cats[(cats < 0) | (cats >= NUM_CLASSES)]
    if bad.size:
        raise ValueError(f"{name} has segments of unknown class {int(bad[0])}; class ids run 0-{NUM_CLASSES - 1}")
    return cats


def _ids_and_index(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct ids of a flat id array and each pixel's index into them (like ``np.unique``).

    Segment ids are small numbers, so a lookup table beats ``np.unique``'s sort by a wide margin.
    """
    top = int(flat.max())
    if top >= 1 << 20:
        return np.unique(flat, return_inverse=True)
    ids = np.flatnonzero(np.bincount(flat, minlength=top + 1))
    lookup = np.zeros(top + 1, np.int64)
    lookup[ids] = np.arange(len(ids))
    return ids, lookup[flat]


class PQStats:
    """Per-class TP, FP, FN counts and IoU sums, accumulated over any number of images.

    Use ``update(pred, gt)`` per image (or ``+=`` another ``PQStats``), then ``summary()``.
    """

    def __init__(self, num_classes: int = NUM_CLASSES):
        self.num_classes = num_classes
        self.tp = np.zeros(num_classes, np.int64)  # matched pairs per class
        self.fp = np.zeros(num_classes, np.int64)  # unmatched predicted segments per class
        self.fn = np.zeros(num_classes, np.int64)  # unmatched ground-truth segments per class
        self.iou_sum = np.zeros(num_classes, np.float64)  # sum of the IoUs of the matches

    def __iadd__(self, other: PQStats) -> PQStats:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.iou_sum += other.iou_sum
        return self

    def update(self, pred: torch.Tensor | np.ndarray, gt: torch.Tensor | np.ndarray,
               pred_segments: Sequence[dict] | None = None, gt_segments: Sequence[dict] | None = None) -> PQStats:
        """Add one image's matches to the running counts.

        Args:
            pred: (H, W) int predicted segment ids, 0 = void.
            gt: (H, W) int ground-truth segment ids, 0 = void.
            pred_segments, gt_segments: optional segment lists (``id``, ``category_id``); without
                one, a segment's class is ``id // LABEL_DIVISOR``.

        Returns:
            self, so calls can be chained.
        """
        self += pq_image_stats(pred, gt, pred_segments, gt_segments, self.num_classes)
        return self

    def per_class(self) -> dict[str, dict[str, float]]:
        """PQ, SQ, RQ and the counts of every class that occurred (TP + FP + FN > 0).

        Returns:
            ``{class name: {"pq", "sq", "rq", "tp", "fp", "fn"}}``.
        """
        out = {}
        for c in range(self.num_classes):
            tp, fp, fn, iou = int(self.tp[c]), int(self.fp[c]), int(self.fn[c]), float(self.iou_sum[c])
            if tp + fp + fn == 0:
                continue
            denom = tp + 0.5 * fp + 0.5 * fn
            name = CLASSES[c] if c < len(CLASSES) else str(c)
            out[name] = {"pq": iou / denom, "sq": iou / tp if tp else 0.0, "rq": tp / denom,
                         "tp": tp, "fp": fp, "fn": fn}
        return out

    def average(self, classes: Iterable[int] | None = None) -> dict[str, float]:
        """Mean PQ, SQ and RQ over the given class ids that occurred (default: all classes).

        Returns:
            ``{"pq", "sq", "rq", "n"}`` with ``n`` the number of classes averaged (0 gives zeros).
        """
        ids = range(self.num_classes) if classes is None else classes
        rows = []
        for c in ids:
            tp, fp, fn, iou = self.tp[c], self.fp[c], self.fn[c], self.iou_sum[c]
            if tp + fp + fn == 0:
                continue
            denom = tp + 0.5 * fp + 0.5 * fn
            rows.append((iou / denom, iou / tp if tp else 0.0, tp / denom))
        if not rows:
            return {"pq": 0.0, "sq": 0.0, "rq": 0.0, "n": 0}
        pq, sq, rq = np.mean(np.asarray(rows, np.float64), axis=0)
        return {"pq": float(pq), "sq": float(sq), "rq": float(rq), "n": len(rows)}

    def summary(self) -> dict[str, dict]:
        """Everything at once: ``{"all", "things", "stuff"}`` averages plus ``"per_class"``."""
        return {"all": self.average(), "things": self.average(THINGS), "stuff": self.average(STUFF),
                "per_class": self.per_class()}


def pq_image_stats(pred: torch.Tensor | np.ndarray, gt: torch.Tensor | np.ndarray,
                   pred_segments: Sequence[dict] | None = None, gt_segments: Sequence[dict] | None = None,
                   num_classes: int = NUM_CLASSES) -> PQStats:
    """Match the segments of one image and count TP, FP, FN and IoU sums per class.

    Args:
        pred: (H, W) int predicted segment ids, 0 = void.
        gt: (H, W) int ground-truth segment ids, 0 = void.
        pred_segments, gt_segments: optional segment lists with ``id`` and ``category_id``.
        num_classes: length of the per-class arrays.

    Returns:
        a ``PQStats`` holding this image alone.
    """
    p, g = _as_map(pred, "pred"), _as_map(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred and gt must have the same shape, got {p.shape} and {g.shape}")
    stats = PQStats(num_classes)
    if p.size == 0:
        return stats
    # one pass over the pixels: a joint histogram of (gt segment, pred segment) pairs
    gid, ginv = _ids_and_index(g.reshape(-1))  # (G,), (H*W,)
    pid, pinv = _ids_and_index(p.reshape(-1))  # (P,), (H*W,)
    joint = np.bincount(ginv * len(pid) + pinv, minlength=len(gid) * len(pid)).reshape(len(gid), len(pid))
    gcat, pcat = _categories(gid, gt_segments, "gt"), _categories(pid, pred_segments, "pred")
    g_area, p_area = joint.sum(1), joint.sum(0)  # (G,), (P,)
    p_in_void = joint[gid == VOID].sum(0)  # (P,) predicted pixels on void ground truth
    g_real, p_real = gid != VOID, pid != VOID

    union = g_area[:, None] + p_area[None, :] - joint - p_in_void[None, :]  # (G, P)
    iou = joint / np.maximum(union, 1)
    same = (gcat[:, None] == pcat[None, :]) & g_real[:, None] & p_real[None, :]
    match = same & (joint > 0) & (iou > MATCH_IOU)  # (G, P), at most one True per row and column
    gi, pj = np.nonzero(match)
    np.add.at(stats.tp, gcat[gi], 1)
    np.add.at(stats.iou_sum, gcat[gi], iou[gi, pj])

    missed = g_real & ~match.any(1)
    np.add.at(stats.fn, gcat[missed], 1)
    unmatched = p_real & ~match.any(0)
    false_pos = unmatched & (p_in_void <= VOID_FRACTION * p_area)
    np.add.at(stats.fp, pcat[false_pos], 1)
    return stats


def panoptic_quality(preds: Iterable, gts: Iterable, pred_segments: Iterable | None = None,
                     gt_segments: Iterable | None = None) -> dict[str, dict]:
    """PQ, SQ, RQ of a whole split: counts accumulated over all images, then averaged over classes.

    Args:
        preds: predicted (H, W) segment-id maps, one per image.
        gts: ground-truth (H, W) maps, same order.
        pred_segments, gt_segments: optional per-image segment lists (same order), or None.

    Returns:
        ``PQStats.summary()``: ``{"all", "things", "stuff": {"pq", "sq", "rq", "n"}, "per_class": {...}}``.
    """
    preds, gts = list(preds), list(gts)
    if len(preds) != len(gts):
        raise ValueError(f"got {len(preds)} predictions for {len(gts)} ground-truth maps")
    psegs = list(pred_segments) if pred_segments is not None else [None] * len(preds)
    gsegs = list(gt_segments) if gt_segments is not None else [None] * len(gts)
    stats = PQStats()
    for p, g, ps, gs in zip(preds, gts, psegs, gsegs):
        stats.update(p, g, ps, gs)
    return stats.summary()


def format_pq(summary: dict[str, dict]) -> str:
    """A small text table of a ``panoptic_quality`` summary (all / things / stuff, then per class)."""
    lines = [f"{'':10s} {'PQ':>6s} {'SQ':>6s} {'RQ':>6s}  n / TP FP FN"]
    for key in ("all", "things", "stuff"):
        r = summary[key]
        lines.append(f"{key:10s} {r['pq']:6.3f} {r['sq']:6.3f} {r['rq']:6.3f}  {r['n']} classes")
    for name, r in summary.get("per_class", {}).items():
        lines.append(f"{name:10s} {r['pq']:6.3f} {r['sq']:6.3f} {r['rq']:6.3f}  {r['tp']} {r['fp']} {r['fn']}")
    return "\n".join(lines)


def evaluate_fusion(raw: Sequence[dict], scenes: Sequence[dict], cfg: FusionConfig | None = None) -> dict:
    """PQ of the fused predictions against the scenes' ground-truth panoptic maps.

    Args:
        raw: outputs of ``predict_raw`` for the scenes' images, same order.
        scenes: the ground-truth scene dicts (``panoptic``, ``segments``).
        cfg: fusion thresholds.

    Returns:
        ``PQStats.summary()``: ``all`` / ``things`` / ``stuff`` PQ, SQ, RQ and ``per_class``.
    """
    if len(raw) != len(scenes):
        raise ValueError(f"got {len(raw)} predictions for {len(scenes)} scenes")
    stats = PQStats()
    for (pan, segs), scene in zip(fuse_all(raw, cfg), scenes):
        stats.update(pan, scene["panoptic"], segs, scene["segments"])
    return stats.summary()


def sweep_fusion(raw: Sequence[dict], scenes: Sequence[dict], overlap_thresholds: Sequence[float] = (),
                 stuff_min_areas: Sequence[int] = (), cfg: FusionConfig | None = None) -> dict[str, list]:
    """PQ as one fusion threshold varies while the other keeps its value in ``cfg``.

    Args:
        raw: outputs of ``predict_raw``.
        scenes: ground-truth scenes, same order.
        overlap_thresholds: values of ``overlap_threshold`` to try.
        stuff_min_areas: values of ``stuff_min_area`` to try.
        cfg: the other settings (``FusionConfig()`` when None).

    Returns:
        ``{"overlap_threshold": [(value, summary), ...], "stuff_min_area": [(value, summary), ...]}``
        with ``summary`` as from ``evaluate_fusion``.
    """
    cfg = cfg or FusionConfig()
    return {
        "overlap_threshold": [(float(v), evaluate_fusion(raw, scenes, replace(cfg, overlap_threshold=float(v))))
                              for v in overlap_thresholds],
        "stuff_min_area": [(int(v), evaluate_fusion(raw, scenes, replace(cfg, stuff_min_area=int(v))))
                           for v in stuff_min_areas],
    }
