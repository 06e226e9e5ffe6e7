"""Counting objects per class: Mask R-CNN's confident detections against FCN-driven baselines.

Lesson 07 compares three ways to count the things in a scene on the same scenes:

* Mask R-CNN: one confident detection = one object (``keep_confident``);
* connected components of the TRUE semantic map, which is what a perfect FCN would give
  (``models.bottom_up.semantic_instances``): touching objects of one class merge into one;
* lesson 05's bottom-up FCN (interior/boundary + grouping), when its predictions are given
  (``train.reuse.bottom_up_predictions`` makes them from lesson 05's checkpoints).

The scores come from ``metrics.instances.separation_report``.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..models.bottom_up import semantic_instances
from .instances import separation_report


def keep_confident(pred: dict, score_thresh: float = 0.5, mask_thresh: float = 0.5) -> dict:
    """A prediction restricted to scores >= ``score_thresh``, with masks binarised at ``mask_thresh``.

    Args:
        pred: ``boxes`` (N, 4), ``labels`` (N,), ``scores`` (N,), ``masks`` (N, 1, H, W) probabilities.
        score_thresh: minimum detection score kept.
        mask_thresh: probability above which a mask pixel is on.

    Returns:
        dict with the kept ``boxes``, ``labels``, ``scores`` and bool ``masks`` (K, H, W).
    """
    keep = pred["scores"] >= score_thresh
    masks = pred["masks"][keep]
    masks = masks[:, 0] if masks.dim() == 4 else masks
    masks = masks > mask_thresh if masks.is_floating_point() else masks.bool()
    return {"boxes": pred["boxes"][keep], "labels": pred["labels"][keep], "scores": pred["scores"][keep],
            "masks": masks}


def counting_comparison(scenes: Sequence[dict], predictions: Sequence[dict], score_thresh: float = 0.5,
                        mask_thresh: float = 0.5, bottom_up: Sequence[dict] | None = None
                        ) -> dict[str, dict[str, float]]:
    """Counting and separation scores of Mask R-CNN and of FCN-driven baselines on the same scenes.

    Args:
        scenes: scene dicts (``make_scene``) with ``semantic``, ``masks``, ``labels``.
        predictions: Mask R-CNN outputs for those scenes (same order).
        score_thresh: detections counted when their score is at least this.
        mask_thresh: mask probability threshold.
        bottom_up: lesson 05's bottom-up instances for the same scenes (one dict per scene with
            ``masks`` and ``labels``), scored as a third method; None leaves it out.

    Returns:
        ``{method: separation_report(...)}`` with ``count_mae``, ``exact_count_images``,
        ``recovered``, ``touching_recovered``, ... per method.
    """
    if len(scenes) != len(predictions):
        raise ValueError(f"{len(scenes)} scenes but {len(predictions)} predictions")
    rows = {
        "Mask R-CNN": separation_report(scenes, [keep_confident(p, score_thresh, mask_thresh) for p in predictions]),
        "connected components of the true semantic map (a perfect FCN)":
            separation_report(scenes, [semantic_instances(s["semantic"]) for s in scenes]),
    }
    if bottom_up is not None:
        rows["lesson 05 bottom-up FCN (interior/boundary + grouping)"] = separation_report(scenes, bottom_up)
    return rows
