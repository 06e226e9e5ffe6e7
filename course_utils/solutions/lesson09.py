"""Lesson 09, back of the book: panoptic quality of one image, written to be read.

The course's own metric (``course_utils.metrics.panoptic``) computes the same numbers with one
joint histogram instead of a loop over segment pairs; the tests check that both agree.
"""

from __future__ import annotations

import torch

__all__ = ["pq_single_image"]


def pq_single_image(pred: torch.Tensor, gt: torch.Tensor) -> float:
    """Panoptic quality of one image: per-class PQ over matched segments, averaged over classes.

    Segment ids follow the course's convention: class = ``id // 1000``, id 0 = void.

    Args:
        pred: (H, W) int predicted segment ids.
        gt: (H, W) int ground-truth segment ids.

    Returns:
        PQ as a Python float: the mean over classes with TP + FP + FN > 0 of
        ``sum(IoU of matches) / (TP + FP / 2 + FN / 2)``.

    Raises:
        ValueError: maps of different shapes, or maps without pixels.
    """
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt must have the same shape, got {tuple(pred.shape)} and {tuple(gt.shape)}")
    if gt.numel() == 0:
        raise ValueError("the maps have no pixels, so there is nothing to score")
    pred, gt = pred.long(), gt.long()
    valid = gt != 0  # void ground truth is ignored
    pred_ids = [int(i) for i in torch.unique(pred) if i != 0]
    gt_ids = [int(i) for i in torch.unique(gt) if i != 0]

    tp, fp, fn, iou_sum = {}, {}, {}, {}  # per class
    matched_pred = set()
    for g in gt_ids:
        c = g // 1000
        g_mask = gt == g
        for p in pred_ids:
            if p // 1000 != c:
                continue  # only segments of the same class can match
            p_mask = pred == p
            inter = int((g_mask & p_mask).sum())
            union = int(((g_mask | p_mask) & valid).sum())  # predicted pixels on void do not count
            if inter > 0 and inter / union > 0.5:  # > 0.5 makes a match unique: no assignment needed
                tp[c] = tp.get(c, 0) + 1
                iou_sum[c] = iou_sum.get(c, 0.0) + inter / union
                matched_pred.add(p)
                break
        else:
            fn[c] = fn.get(c, 0) + 1
    for p in pred_ids:
        if p in matched_pred:
            continue
        p_mask = pred == p
        if int((p_mask & ~valid).sum()) > 0.5 * int(p_mask.sum()):
            continue  # mostly on void: not counted as a false positive
        fp[p // 1000] = fp.get(p // 1000, 0) + 1

    classes = set(tp) | set(fp) | set(fn)
    if not classes:
        return 0.0
    pqs = [iou_sum.get(c, 0.0) / (tp.get(c, 0) + 0.5 * fp.get(c, 0) + 0.5 * fn.get(c, 0)) for c in classes]
    return float(sum(pqs) / len(pqs))
