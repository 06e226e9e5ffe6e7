"""Reference solutions of lesson 08 (one-stage instance segmentation): assembling masks, Fast NMS.

The model's own versions (``models.yolact_parts``) are checked against these in the tests.
"""

from __future__ import annotations

import torch


def assemble_masks(prototypes: torch.Tensor, coefficients: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """YOLACT's mask assembly: a linear combination of prototypes per object, a sigmoid, then the crop.

    Args:
        prototypes: (k, H, W) float prototype masks.
        coefficients: (N, k) float, one row per object.
        boxes: (N, 4) float x1, y1, x2, y2 in pixel-edge coordinates.

    Returns:
        (N, H, W) mask probabilities, in the dtype of ``prototypes``: ``sigmoid(coefficients @ prototypes)``
        where the pixel's centre (x + 0.5, y + 0.5) lies in [x1, x2) x [y1, y2), else 0.
    """
    k, h, w = prototypes.shape
    if coefficients.shape[-1] != k:
        raise ValueError(f"coefficients have {coefficients.shape[-1]} columns but there are {k} prototypes")
    masks = torch.sigmoid((coefficients.to(prototypes.dtype) @ prototypes.reshape(k, h * w)).reshape(-1, h, w))
    b = boxes.to(prototypes.dtype)
    ys = torch.arange(h, dtype=prototypes.dtype) + 0.5
    xs = torch.arange(w, dtype=prototypes.dtype) + 0.5
    inside_y = (ys[None] >= b[:, 1:2]) & (ys[None] < b[:, 3:4])  # (N, H)
    inside_x = (xs[None] >= b[:, 0:1]) & (xs[None] < b[:, 2:3])  # (N, W)
    return masks * (inside_y[:, :, None] & inside_x[:, None, :])


def fast_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float = 0.5) -> torch.Tensor:
    """YOLACT's Fast NMS for one class: drop a box when ANY higher-scoring box overlaps it too much.

    Args:
        boxes: (N, 4) float x1, y1, x2, y2.
        scores: (N,) float.
        iou_threshold: a box whose IoU with a higher-scoring box is above this is removed.

    Returns:
        (K,) int64 indices into ``boxes`` of the kept boxes, highest score first.
    """
    order = torch.argsort(scores, descending=True, stable=True)
    b = boxes[order].to(torch.float64)
    area = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    lt = torch.maximum(b[:, None, :2], b[None, :, :2])
    rb = torch.minimum(b[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = area[:, None] + area[None, :] - inter
    iou = torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))
    worst = iou.triu(diagonal=1).max(0).values if len(b) else iou.new_zeros(0)  # best overlap with a higher box
    return order[worst <= iou_threshold]
