"""Back of the book for lesson 06: box IoU, non-maximum suppression, box encoding and AP.

``box_iou`` and ``nms`` are written from scratch here (the course's other code calls
``torchvision.ops``, and the tests prove these agree with it); ``encode_boxes``,
``decode_boxes`` and ``average_precision`` are the package's own from-scratch versions in
``course_utils.models.box_coding`` and ``course_utils.metrics.detection``, read them there.
"""

from __future__ import annotations

import numpy as np
import torch

from ..metrics import detection as _detection
from ..models import box_coding as _boxes


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """Intersection over union of every pair of xyxy boxes (as ``torchvision.ops.box_iou``).

    Args:
        boxes1: (N, 4) float xyxy.
        boxes2: (M, 4) float xyxy.

    Returns:
        (N, M) IoU in [0, 1].
    """
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])  # (N,)
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])  # (M,)
    top_left = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])  # (N, M, 2)
    bottom_right = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])  # (N, M, 2)
    wh = (bottom_right - top_left).clamp(min=0)  # no overlap -> 0, not a negative width
    inter = wh[..., 0] * wh[..., 1]  # (N, M)
    return inter / (area1[:, None] + area2[None, :] - inter)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Non-maximum suppression (as ``torchvision.ops.nms``): keep the best box, drop its look-alikes, repeat.

    A box is dropped when its IoU with an already kept, higher-scoring box is greater than
    ``iou_threshold``. Equal scores keep their input order (a stable sort).

    Args:
        boxes: (N, 4) float xyxy.
        scores: (N,) float.
        iou_threshold: boxes overlapping a kept box by more than this are suppressed.

    Returns:
        (K,) int64 indices of the kept boxes, highest score first.
    """
    order = torch.sort(scores, descending=True, stable=True).indices  # (N,)
    iou = box_iou(boxes, boxes)  # (N, N)
    suppressed = torch.zeros(len(boxes), dtype=torch.bool)
    keep = []
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i] > iou_threshold
    return torch.tensor(keep, dtype=torch.int64)


def encode_boxes(boxes: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Offsets (dx, dy, dw, dh) that move each anchor onto its box, weights (1, 1, 1, 1).

    ``dx = (gx - ax) / aw``, ``dy = (gy - ay) / ah``, ``dw = log(gw / aw)``, ``dh = log(gh / ah)``
    with centres (gx, gy), (ax, ay) and sizes (gw, gh), (aw, ah).

    Args:
        boxes: (N, 4) xyxy target boxes.
        anchors: (N, 4) xyxy anchors, one per box.

    Returns:
        (N, 4) offsets.
    """
    return _boxes.encode_boxes(boxes, anchors)


def decode_boxes(deltas: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Boxes from offsets (dx, dy, dw, dh) and anchors: the inverse of ``encode_boxes``.

    ``dw`` and ``dh`` are clamped at ``log(1000 / 16)`` before ``exp``, as in torchvision.

    Args:
        deltas: (N, 4) offsets.
        anchors: (N, 4) xyxy anchors.

    Returns:
        (N, 4) xyxy boxes.
    """
    return _boxes.decode_boxes(deltas, anchors)


def average_precision(scores: torch.Tensor, is_tp: torch.Tensor, num_gt: int) -> float:
    """AP with COCO's 101-point interpolation for one class at one IoU threshold.

    Sort by score (stable, best first), accumulate precision and recall, make precision
    non-increasing from the right, read it at recall 0, 0.01, ..., 1 (0 where never reached), average.

    Args:
        scores: (D,) float confidences.
        is_tp: (D,) bool, whether each detection matched an object.
        num_gt: number of ground-truth objects; ``ValueError`` when it is not positive.

    Returns:
        AP as a Python float.
    """
    return _detection.average_precision(np.asarray(scores, dtype=np.float64), np.asarray(is_tp, dtype=bool),
                                        num_gt)
