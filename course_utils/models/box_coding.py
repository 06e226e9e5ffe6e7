"""Boxes for detection: formats, IoU, anchors, anchor matching and box-regression offsets.

Conventions (the same as torchvision's detection models):

- ``xyxy`` = (x1, y1, x2, y2) corners, ``xywh`` = (x1, y1, width, height) as in COCO's ``bbox``,
  ``cxcywh`` = (centre x, centre y, width, height). Coordinates are pixel edges: a box from
  column 3 to column 5 inclusive is ``x1 = 3, x2 = 6`` and is 3 pixels wide.
- Box-regression offsets follow Faster R-CNN: ``dx = wx * (gx - ax) / aw``,
  ``dy = wy * (gy - ay) / ah``, ``dw = ww * log(gw / aw)``, ``dh = wh * log(gh / ah)`` for a
  ground-truth box g and an anchor a (centres and sizes), with weights ``(wx, wy, ww, wh)``.
- Matching labels anchors with a ground-truth index, or ``BACKGROUND`` (-1) / ``IGNORE`` (-2),
  as ``torchvision.models.detection._utils.Matcher`` does.

Everything here is checked against torchvision in ``tests/test_box_coding.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torchvision.ops import box_convert, box_iou

BOX_FORMATS = ("xyxy", "xywh", "cxcywh")
"""The box formats torchvision's ``box_convert`` understands and the course uses."""

BACKGROUND = -1
"""Match index of an anchor whose best IoU is below the background threshold."""

IGNORE = -2
"""Match index of an anchor between the two thresholds: neither object nor background."""

DECODE_CLAMP = math.log(1000.0 / 16)
"""Largest ``dw``/``dh`` passed to ``exp`` when decoding (torchvision's ``bbox_xform_clip``)."""


def _check_boxes(boxes: torch.Tensor, name: str = "boxes") -> torch.Tensor:
    """Raise a readable error unless ``boxes`` is a float tensor of shape (N, 4)."""
    if not isinstance(boxes, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, 4), got {type(boxes).__name__}")
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {tuple(boxes.shape)}")
    return boxes if boxes.is_floating_point() else boxes.float()


def convert_boxes(boxes: torch.Tensor, in_fmt: str, out_fmt: str) -> torch.Tensor:
    """Convert boxes between ``xyxy``, ``xywh`` and ``cxcywh`` (``torchvision.ops.box_convert``).

    Args:
        boxes: (N, 4) boxes in ``in_fmt``.
        in_fmt: one of ``BOX_FORMATS``.
        out_fmt: one of ``BOX_FORMATS``.

    Returns:
        (N, 4) float boxes in ``out_fmt``.
    """
    for fmt in (in_fmt, out_fmt):
        if fmt not in BOX_FORMATS:
            raise ValueError(f"unknown box format {fmt!r}; use one of {BOX_FORMATS}")
    return box_convert(_check_boxes(boxes), in_fmt, out_fmt)


def encode_boxes(boxes: torch.Tensor, anchors: torch.Tensor,
                 weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
    """Regression targets (dx, dy, dw, dh) that move each anchor onto its box.

    Args:
        boxes: (N, 4) xyxy target boxes (ground truth).
        anchors: (N, 4) xyxy anchors (or proposals), one per box, with positive width and height.
        weights: (wx, wy, ww, wh) scale of each offset; Faster R-CNN's box head uses (10, 10, 5, 5).

    Returns:
        (N, 4) offsets, the inverse of :func:`decode_boxes`.
    """
    boxes, anchors = _check_boxes(boxes), _check_boxes(anchors, "anchors")
    if boxes.shape != anchors.shape:
        raise ValueError(f"boxes {tuple(boxes.shape)} and anchors {tuple(anchors.shape)} must pair up one to one")
    gx, gy, gw, gh = box_convert(boxes, "xyxy", "cxcywh").unbind(1)  # each (N,)
    ax, ay, aw, ah = box_convert(anchors, "xyxy", "cxcywh").unbind(1)
    wx, wy, ww, wh = weights
    return torch.stack([wx * (gx - ax) / aw, wy * (gy - ay) / ah,
                        ww * torch.log(gw / aw), wh * torch.log(gh / ah)], dim=1)  # (N, 4)


def decode_boxes(deltas: torch.Tensor, anchors: torch.Tensor,
                 weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
    """Apply regression offsets to anchors: the boxes the network predicts.

    ``dw`` and ``dh`` are clamped at ``DECODE_CLAMP`` before ``exp`` so a wild prediction
    cannot overflow, as torchvision does.

    Args:
        deltas: (N, 4) offsets (dx, dy, dw, dh).
        anchors: (N, 4) xyxy anchors.
        weights: (wx, wy, ww, wh), the same as used for encoding.

    Returns:
        (N, 4) xyxy boxes.
    """
    deltas, anchors = _check_boxes(deltas, "deltas"), _check_boxes(anchors, "anchors")
    if deltas.shape != anchors.shape:
        raise ValueError(f"deltas {tuple(deltas.shape)} and anchors {tuple(anchors.shape)} must pair up one to one")
    ax, ay, aw, ah = box_convert(anchors.to(deltas.dtype), "xyxy", "cxcywh").unbind(1)  # each (N,)
    wx, wy, ww, wh = weights
    dx, dy = deltas[:, 0] / wx, deltas[:, 1] / wy
    dw = (deltas[:, 2] / ww).clamp(max=DECODE_CLAMP)
    dh = (deltas[:, 3] / wh).clamp(max=DECODE_CLAMP)
    cxcywh = torch.stack([ax + dx * aw, ay + dy * ah, aw * torch.exp(dw), ah * torch.exp(dh)], dim=1)
    return box_convert(cxcywh, "cxcywh", "xyxy")  # (N, 4)


def cell_anchors(sizes: Sequence[float], aspect_ratios: Sequence[float]) -> torch.Tensor:
    """The anchor shapes placed at every feature-map cell, centred on (0, 0).

    ``aspect_ratio`` is height / width, and an anchor of size s has area s * s (torchvision's
    convention). Order: aspect ratios outer, sizes inner.

    Args:
        sizes: anchor sides in pixels, e.g. (16, 32).
        aspect_ratios: height / width ratios, e.g. (0.5, 1.0, 2.0).

    Returns:
        (len(aspect_ratios) * len(sizes), 4) xyxy boxes around the origin.
    """
    if not sizes or not aspect_ratios:
        raise ValueError("give at least one anchor size and one aspect ratio")
    if min(sizes) <= 0 or min(aspect_ratios) <= 0:
        raise ValueError(f"sizes and aspect ratios must be positive, got {sizes} and {aspect_ratios}")
    scales = torch.as_tensor(sizes, dtype=torch.float32)  # (S,)
    h_ratios = torch.as_tensor(aspect_ratios, dtype=torch.float32).sqrt()  # (R,)
    ws = (scales[None, :] / h_ratios[:, None]).reshape(-1)  # (R * S,)
    hs = (scales[None, :] * h_ratios[:, None]).reshape(-1)
    return torch.stack([-ws, -hs, ws, hs], dim=1) / 2  # (A, 4)


def make_anchors(feature_size: tuple[int, int], stride: int | tuple[int, int], sizes: Sequence[float],
                 aspect_ratios: Sequence[float], offset: float = 0.5) -> torch.Tensor:
    """All anchors of one feature map: every cell shape placed at every cell.

    Args:
        feature_size: (H, W) of the feature map.
        stride: pixels per feature cell, an int or (stride_y, stride_x).
        sizes: anchor sides in pixels.
        aspect_ratios: height / width ratios.
        offset: where in a cell anchors are centred, in cells: 0.5 = the cell centre (used in
            the course's figures), 0.0 = the cell's top-left corner (torchvision's
            ``AnchorGenerator``, which also rounds the shapes to whole pixels).

    Returns:
        (H * W * A, 4) xyxy anchors, cell by cell in row-major order, A shapes per cell.
    """
    h, w = feature_size
    sy, sx = (stride, stride) if isinstance(stride, int) else stride
    shapes = cell_anchors(sizes, aspect_ratios)  # (A, 4)
    ys = (torch.arange(h, dtype=torch.float32) + offset) * sy  # (H,)
    xs = (torch.arange(w, dtype=torch.float32) + offset) * sx  # (W,)
    cy, cx = torch.meshgrid(ys, xs, indexing="ij")  # (H, W) each
    centres = torch.stack([cx, cy, cx, cy], dim=-1).reshape(-1, 1, 4)  # (H*W, 1, 4)
    return (centres + shapes[None]).reshape(-1, 4)  # (H*W*A, 4)


def match_anchors(anchors: torch.Tensor, gt_boxes: torch.Tensor, fg_iou: float = 0.7, bg_iou: float = 0.3,
                  allow_low_quality: bool = True) -> torch.Tensor:
    """Assign each anchor a ground-truth box, background, or "ignore", by IoU (as Faster R-CNN's RPN).

    An anchor whose best IoU is >= ``fg_iou`` takes that box; below ``bg_iou`` it is
    ``BACKGROUND``; in between it is ``IGNORE`` (not used for training). With
    ``allow_low_quality``, the anchor(s) that overlap each box most become foreground too, even
    below ``fg_iou``, so no object is left without an anchor. Like torchvision's ``Matcher``, such
    an anchor takes the box *it* overlaps most: usually the box it is best for, but another box may
    overlap it even more.

    Args:
        anchors: (A, 4) xyxy anchors.
        gt_boxes: (G, 4) xyxy ground-truth boxes.
        fg_iou: IoU from which an anchor is foreground.
        bg_iou: IoU below which an anchor is background.
        allow_low_quality: make each box's best anchors foreground regardless of ``fg_iou`` (each one
            assigned to its own best box).

    Returns:
        (A,) int64: a box index in [0, G), ``BACKGROUND`` or ``IGNORE``.
    """
    anchors, gt_boxes = _check_boxes(anchors, "anchors"), _check_boxes(gt_boxes, "gt_boxes")
    if bg_iou > fg_iou:
        raise ValueError(f"bg_iou ({bg_iou}) must not exceed fg_iou ({fg_iou})")
    if len(gt_boxes) == 0:
        return torch.full((len(anchors),), BACKGROUND, dtype=torch.int64)
    if len(anchors) == 0:
        return torch.zeros(0, dtype=torch.int64)
    iou = box_iou(gt_boxes, anchors)  # (G, A)
    best_iou, best_gt = iou.max(dim=0)  # (A,), (A,)
    matches = best_gt.clone()
    matches[best_iou < fg_iou] = IGNORE
    matches[best_iou < bg_iou] = BACKGROUND
    if allow_low_quality:
        best_per_gt = iou.max(dim=1, keepdim=True).values  # (G, 1)
        _, anchor_idx = torch.nonzero(iou == best_per_gt, as_tuple=True)  # ties included
        matches[anchor_idx] = best_gt[anchor_idx]
    return matches
