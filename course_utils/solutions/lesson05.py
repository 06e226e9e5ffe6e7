"""Back of the book for lesson 05: boxes around masks, and the IoU of two sets of masks."""

from __future__ import annotations

import torch


def masks_to_boxes(masks: torch.Tensor) -> torch.Tensor:
    """The tightest xyxy box around each mask, in the course's pixel-edge convention.

    ``x1, y1`` are the first column and row of the mask, ``x2, y2`` the last ones **+ 1**, so
    ``x2 - x1`` is the width in pixels (as in the scenes' ``boxes`` and COCO's ``bbox``).
    ``torchvision.ops.masks_to_boxes`` returns the last column and row themselves (no + 1).
    An empty mask gets the box (0, 0, 0, 0).

    Args:
        masks: (N, H, W) bool or 0/1.

    Returns:
        (N, 4) float32.
    """
    m = masks.bool()
    boxes = torch.zeros(len(m), 4, dtype=torch.float32)
    for i, mask in enumerate(m):
        rows = torch.nonzero(mask.any(dim=1)).flatten()  # rows that contain the object
        cols = torch.nonzero(mask.any(dim=0)).flatten()  # columns that contain it
        if len(rows) == 0:
            continue
        boxes[i] = torch.tensor([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=torch.float32)
    return boxes


def mask_iou(masks1: torch.Tensor, masks2: torch.Tensor) -> torch.Tensor:
    """IoU of every pair of masks (as ``pycocotools.mask.iou`` with ``iscrowd`` 0).

    Two empty masks have IoU 0 (their union is empty).

    Args:
        masks1: (N, H, W) bool or 0/1.
        masks2: (M, H, W) bool or 0/1, same H and W.

    Returns:
        (N, M) float32.
    """
    a = masks1.flatten(1).float()  # (N, H*W)
    b = masks2.flatten(1).float()  # (M, H*W)
    inter = a @ b.T  # (N, M) pixels in both
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter))
