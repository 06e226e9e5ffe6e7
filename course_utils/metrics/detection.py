"""Detection metrics from scratch: matching, precision/recall, the PR curve and COCO-style AP.

The from-scratch code follows pycocotools' ``COCOeval`` step for step (greedy matching by
score, a precision envelope, 101 recall points), so on the same detections it gives the same
numbers; :func:`coco_bbox_ap` runs pycocotools itself for the comparison
(``tests/test_metrics_detection.py`` asserts they agree to 1e-6).

Detections and ground truth use torchvision's detection format, one dict per image:
predictions ``{"boxes": (D, 4) xyxy, "scores": (D,), "labels": (D,)}``, targets
``{"boxes": (G, 4) xyxy, "labels": (G,)}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

COCO_IOU_THRESHOLDS: tuple[float, ...] = tuple(np.linspace(0.5, 0.95, 10).tolist())
"""The ten IoU thresholds of COCO's AP[.50:.95] (exactly the floats pycocotools uses)."""

RECALL_POINTS = 101
"""COCO interpolates precision at 101 recall levels 0, 0.01, ..., 1."""

_EPS = np.spacing(1)  # pycocotools adds this to tp + fp; we do too, to agree to the last digit


def _numpy(x: torch.Tensor | np.ndarray | list, dtype: type = np.float64) -> np.ndarray:
    """A float64 (or given dtype) NumPy copy of a tensor, array or list."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def precision_recall_curve(scores: torch.Tensor | np.ndarray, is_tp: torch.Tensor | np.ndarray,
                           num_gt: int) -> dict[str, np.ndarray]:
    """Precision and recall after each detection, best score first (one class, IoU already decided).

    Args:
        scores: (D,) confidence of each detection.
        is_tp: (D,) bool, whether each detection matched a ground-truth object.
        num_gt: number of ground-truth objects (> 0).

    Returns:
        dict of (D,) arrays in decreasing-score order: ``scores``, ``precision``, ``recall``,
        and ``envelope`` (precision made non-increasing from the right, as COCO interpolates it).
    """
    scores, is_tp = _numpy(scores), _numpy(is_tp, bool)
    if scores.shape != is_tp.shape or scores.ndim != 1:
        raise ValueError(f"scores {scores.shape} and is_tp {is_tp.shape} must be 1-D and the same length")
    if int(num_gt) <= 0:
        raise ValueError(f"num_gt must be positive (AP is undefined without ground truth), got {num_gt}")
    order = np.argsort(-scores, kind="mergesort")  # stable, like pycocotools: ties keep input order
    tp = np.cumsum(is_tp[order]).astype(np.float64)  # (D,)
    fp = np.cumsum(~is_tp[order]).astype(np.float64)
    precision = tp / (tp + fp + _EPS)
    recall = tp / int(num_gt)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]  # best precision at this recall or beyond
    return {"scores": scores[order], "precision": precision, "recall": recall, "envelope": envelope}


def average_precision(scores: torch.Tensor | np.ndarray, is_tp: torch.Tensor | np.ndarray, num_gt: int,
                      recall_points: int = RECALL_POINTS) -> float:
    """AP of one class at one IoU threshold, with COCO's 101-point interpolation (from scratch).

    For each recall level r in 0, 0.01, ..., 1 take the best precision reached at any recall
    >= r (0 if r is never reached) and average.

    Args:
        scores: (D,) confidence of each detection.
        is_tp: (D,) bool, whether each detection matched a ground-truth object.
        num_gt: number of ground-truth objects (> 0).
        recall_points: number of recall levels (101 for COCO).

    Returns:
        AP in [0, 1].
    """
    curve = precision_recall_curve(scores, is_tp, num_gt)
    levels = np.linspace(0.0, 1.0, recall_points)
    first = np.searchsorted(curve["recall"], levels, side="left")  # first detection reaching each level
    reached = first < len(curve["recall"])
    precision_at = np.zeros(recall_points)
    precision_at[reached] = curve["envelope"][first[reached]]
    return float(precision_at.mean())


def _pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU (Da, Db) of xyxy boxes a (Da, 4) and b (Db, 4), float64."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])  # (Da, Db, 2)
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def match_detections(pred_boxes: np.ndarray, pred_scores: np.ndarray, gt_boxes: np.ndarray,
                     iou_threshold: float, max_dets: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Greedy COCO matching in one image for one class: best score first, each object used once.

    Each detection takes the not-yet-matched ground-truth box it overlaps most, if that IoU
    is >= ``iou_threshold``; otherwise it is a false positive (a duplicate of an already
    found object is a false positive too). Only the ``max_dets`` best detections count.

    Args:
        pred_boxes: (D, 4) xyxy.
        pred_scores: (D,).
        gt_boxes: (G, 4) xyxy.
        iou_threshold: minimum IoU of a true positive.
        max_dets: detections kept per image and class.

    Returns:
        scores (D',) in decreasing order and is_tp (D',) bool, with D' = min(D, max_dets).
    """
    order = np.argsort(-pred_scores, kind="mergesort")[:max_dets]
    boxes, scores = pred_boxes[order], pred_scores[order]
    is_tp = np.zeros(len(order), bool)
    if len(gt_boxes) == 0 or len(order) == 0:
        return scores, is_tp
    iou = _pairwise_iou(boxes, gt_boxes)  # (D', G)
    taken = np.zeros(len(gt_boxes), bool)
    threshold = min(iou_threshold, 1 - 1e-10)  # as pycocotools: an IoU of exactly 1 still matches at 1.0
    for d in range(len(order)):
        candidates = np.where(~taken & (iou[d] >= threshold), iou[d], -1.0)
        best = len(candidates) - 1 - int(np.argmax(candidates[::-1]))  # ties go to the later box, as in COCO
        if candidates[best] >= 0:
            taken[best] = True
            is_tp[d] = True
    return scores, is_tp


def match_class(predictions: list[dict], targets: list[dict], class_id: int, iou_threshold: float = 0.5,
                max_dets: int = 100) -> tuple[np.ndarray, np.ndarray, int]:
    """Match one class's detections image by image (:func:`match_detections`) and pool them over images.

    Args:
        predictions: per image ``{"boxes": (D, 4) xyxy, "scores": (D,), "labels": (D,)}``.
        targets: per image ``{"boxes": (G, 4) xyxy, "labels": (G,)}``, the same images in the same order.
        class_id: the class to evaluate.
        iou_threshold: minimum IoU of a true positive.
        max_dets: detections kept per image and class.

    Returns:
        scores (D,) and is_tp (D,) bool (image by image, best score first within each image),
        and the number of ground-truth objects of the class: the inputs of :func:`average_precision`.
    """
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions for {len(targets)} images: give one dict per image")
    all_scores, all_tp, num_gt = [], [], 0
    for pred, tgt in zip(predictions, targets):
        p_sel = _numpy(pred["labels"], np.int64) == class_id
        g_sel = _numpy(tgt["labels"], np.int64) == class_id
        scores, is_tp = match_detections(_numpy(pred["boxes"]).reshape(-1, 4)[p_sel], _numpy(pred["scores"])[p_sel],
                                         _numpy(tgt["boxes"]).reshape(-1, 4)[g_sel], iou_threshold, max_dets)
        all_scores.append(scores)
        all_tp.append(is_tp)
        num_gt += int(g_sel.sum())
    return np.concatenate(all_scores), np.concatenate(all_tp), num_gt


def detection_ap(predictions: list[dict], targets: list[dict],
                 iou_thresholds: tuple[float, ...] = COCO_IOU_THRESHOLDS, max_dets: int = 100) -> dict:
    """COCO box AP from scratch: match per image and class, AP per class and threshold, then average.

    Args:
        predictions: per image ``{"boxes": (D, 4) xyxy, "scores": (D,), "labels": (D,)}``.
        targets: per image ``{"boxes": (G, 4) xyxy, "labels": (G,)}``, the same images in the same order.
        iou_thresholds: IoU thresholds to average over (COCO: 0.50, 0.55, ..., 0.95).
        max_dets: detections kept per image and class (COCO: 100).

    Returns:
        dict with ``AP`` (mean over thresholds and classes with ground truth), ``AP50`` and
        ``AP75`` (when those thresholds are included), and ``per_class`` {class id: AP}.
    """
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions for {len(targets)} images: give one dict per image")
    classes = sorted({int(c) for t in targets for c in _numpy(t["labels"], np.int64)})
    table = np.zeros((len(iou_thresholds), len(classes)))  # AP per (threshold, class)
    for k, cls in enumerate(classes):
        for ti, thr in enumerate(iou_thresholds):
            table[ti, k] = average_precision(*match_class(predictions, targets, cls, thr, max_dets))
    result = {"AP": float(table.mean()) if table.size else float("nan"),
              "per_class": {cls: float(table[:, k].mean()) for k, cls in enumerate(classes)}}
    for name, thr in (("AP50", 0.5), ("AP75", 0.75)):
        hits = [i for i, t in enumerate(iou_thresholds) if abs(t - thr) < 1e-9]
        if hits:
            result[name] = float(table[hits[0]].mean())
    return result


def coco_bbox_ap(predictions: list[dict], targets: list[dict]) -> dict[str, float]:
    """Box AP by pycocotools' ``COCOeval`` on the same inputs as :func:`detection_ap`.

    A thin call of :func:`course_utils.metrics.coco_eval.coco_evaluate` with ``iou_types=("bbox",)``.

    Args:
        predictions: per image ``{"boxes": (D, 4) xyxy, "scores": (D,), "labels": (D,)}``.
        targets: per image torchvision detection targets (``boxes``, ``labels``, ``masks``
            (G, H, W), optional ``image_id``), e.g. from ``data.instance_target``.

    Returns:
        COCOeval's 12 numbers by name: ``AP`` (AP[.50:.95]), ``AP50``, ``AP75``, ``AP_small``, ...
    """
    from .coco_eval import coco_evaluate

    preds = [{k: p[k] for k in ("boxes", "scores", "labels")} for p in predictions]  # boxes only: bbox AP
    return coco_evaluate(preds, targets, iou_types=("bbox",))["bbox"]


def simulate_detections(targets: list[dict], seed: int = 0, copies: int = 1, jitter: float = 0.08,
                        miss_rate: float = 0.1, false_positives: float = 1.0, wrong_class_rate: float = 0.05,
                        image_size: int = 128) -> list[dict]:
    """A stand-in detector for teaching the metrics: noisy copies of the true boxes plus false alarms.

    Not a trained model. Each object is missed with probability ``miss_rate``; otherwise it gets
    ``copies`` boxes (several = the raw, duplicate-rich output that NMS cleans up), each the true
    box with its centre moved and its size scaled by Gaussian noise of ``jitter`` box sizes, and a
    score that grows with the copy's IoU with the truth (plus noise). A few copies get a wrong class.
    About ``false_positives`` random boxes per image are added with low-to-middling scores.

    Args:
        targets: per image ``{"boxes": (G, 4) xyxy, "labels": (G,)}``.
        seed: random seed; the same seed gives the same detections.
        copies: boxes per found object.
        jitter: noise of centre and log-size, relative to the box size.
        miss_rate: probability that an object gets no box at all.
        false_positives: mean number of random boxes per image (Poisson).
        wrong_class_rate: probability that a copy carries a random other thing class.
        image_size: side of the images, for clipping boxes and placing false alarms.

    Returns:
        per image ``{"boxes": (D, 4) float32 xyxy, "scores": (D,) float32, "labels": (D,) int64}``.
    """
    from torchvision.ops import box_iou

    from ..data.classes import THINGS

    gen = torch.Generator().manual_seed(seed)
    out = []
    for tgt in targets:
        gt = torch.as_tensor(tgt["boxes"], dtype=torch.float32).reshape(-1, 4)  # (G, 4)
        labels = torch.as_tensor(tgt["labels"], dtype=torch.int64).reshape(-1)
        found = torch.rand(len(gt), generator=gen) >= miss_rate  # (G,)
        src = gt[found].repeat_interleave(copies, 0)  # (K, 4), K = found * copies
        lab = labels[found].repeat_interleave(copies, 0)
        wh = (src[:, 2:] - src[:, :2]).clamp(min=1)  # (K, 2)
        centre = (src[:, :2] + src[:, 2:]) / 2 + jitter * wh * torch.randn(len(src), 2, generator=gen)
        size = wh * torch.exp(jitter * torch.randn(len(src), 2, generator=gen))
        boxes = torch.cat([centre - size / 2, centre + size / 2], 1).clamp(0, image_size)  # (K, 4)
        quality = box_iou(boxes, src).diagonal() if len(src) else torch.zeros(0)  # (K,) IoU with its own truth
        scores = (quality ** 2 * (0.75 + 0.25 * torch.rand(len(src), generator=gen))).clamp(0.05, 0.99)
        relabel = torch.rand(len(src), generator=gen) < wrong_class_rate
        other = torch.as_tensor(THINGS)[torch.randint(len(THINGS), (len(src),), generator=gen)]
        lab = torch.where(relabel & (other != lab), other, lab)
        n_fp = int(torch.poisson(torch.tensor([float(false_positives)]), generator=gen).item())
        fp_size = 10 + 30 * torch.rand(n_fp, 2, generator=gen)  # (F, 2)
        fp_xy = (image_size - fp_size) * torch.rand(n_fp, 2, generator=gen)
        fp_boxes = torch.cat([fp_xy, fp_xy + fp_size], 1)
        fp_scores = 0.05 + 0.55 * torch.rand(n_fp, generator=gen)
        fp_labels = torch.as_tensor(THINGS)[torch.randint(len(THINGS), (n_fp,), generator=gen)]
        out.append({"boxes": torch.cat([boxes, fp_boxes]), "scores": torch.cat([scores, fp_scores]),
                    "labels": torch.cat([lab, fp_labels])})
    return out


@dataclass(frozen=True)
class DemoDetectionsConfig:
    """The simulated detections of lesson 06 (and of its test), in one place."""

    split: str = "val"  # scenes to detect in
    num_images: int = 50  # how many scenes
    seed: int = 0  # seed of the simulated detector
    copies: int = 6  # raw boxes per found object before NMS
    jitter: float = 0.08  # box noise, relative to the box size
    miss_rate: float = 0.1  # probability that an object gets no box
    false_positives: float = 1.0  # random false alarms per image (mean)
    nms_iou: float = 0.5  # NMS threshold applied per class


def demo_detections(cfg: DemoDetectionsConfig = DemoDetectionsConfig()) -> tuple[list[dict], list[dict], list[dict]]:
    """Lesson 06's detections: simulated raw boxes on real scenes, and the same after per-class NMS.

    Args:
        cfg: which scenes and how noisy the simulated detector is.

    Returns:
        (raw, after_nms, targets): per-image prediction dicts before and after
        ``torchvision.ops.batched_nms``, and the scenes' torchvision targets (with ``image_id``).
    """
    from torchvision.ops import batched_nms

    from ..data import InstanceDataset

    dataset = InstanceDataset(cfg.split, cfg.num_images)
    targets = [dataset[i][1] for i in range(len(dataset))]
    raw = simulate_detections(targets, seed=cfg.seed, copies=cfg.copies, jitter=cfg.jitter, miss_rate=cfg.miss_rate,
                              false_positives=cfg.false_positives)
    kept = []
    for det in raw:
        keep = batched_nms(det["boxes"], det["scores"], det["labels"], cfg.nms_iou)  # (K,) best first
        kept.append({k: v[keep] for k, v in det.items()})
    return raw, kept, targets
