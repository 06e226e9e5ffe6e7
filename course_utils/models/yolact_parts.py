"""The pieces of the one-stage segmenter (``models.yolact``) as plain functions: locations, targets, masks, NMS.

Each takes and returns tensors only, so the lesson can call them one at a time on one scene.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import box_iou


def ltrb_to_boxes(points: torch.Tensor, ltrb: torch.Tensor) -> torch.Tensor:
    """Boxes (N, 4) xyxy from locations (N, 2) as (x, y) and their distances (N, 4) to the four sides."""
    return torch.stack([points[:, 0] - ltrb[:, 0], points[:, 1] - ltrb[:, 1],
                        points[:, 0] + ltrb[:, 2], points[:, 1] + ltrb[:, 3]], 1)


def centerness_target(points: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """FCOS's centre-ness of locations (N, 2) in their boxes (N, 4): 1 at the centre, towards 0 at an edge."""
    left, top = points[:, 0] - boxes[:, 0], points[:, 1] - boxes[:, 1]
    right, bottom = boxes[:, 2] - points[:, 0], boxes[:, 3] - points[:, 1]
    lr = torch.stack([left, right], 1).clamp(min=1e-3)
    tb = torch.stack([top, bottom], 1).clamp(min=1e-3)
    return ((lr.min(1).values / lr.max(1).values) * (tb.min(1).values / tb.max(1).values)).sqrt()


def assign_locations(points: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor, stride: int,
                     radius: float, num_classes: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Which object each location must predict (FCOS's centre sampling).

    A location is positive for an object when it lies inside the object's box and within
    ``radius * stride`` pixels of the box centre (in x and in y); a location claimed by two
    objects predicts the smaller one.

    Args:
        points: (L, 2) location centres (x, y) in pixels.
        boxes: (G, 4) ground-truth xyxy boxes; labels: (G,) their class ids (1..num_classes - 1).
        stride: the feature map's stride; radius: the centre region's half-side, in strides.
        num_classes: classes including the background.

    Returns:
        one-hot class targets (L, num_classes - 1) float, the box each location regresses (L, 4)
        (zeros for negatives), and the index of its object (L,) (-1 for negatives).
    """
    n = points.shape[0]
    cls_t = points.new_zeros(n, num_classes - 1)
    if boxes.numel() == 0:
        return cls_t, points.new_zeros(n, 4), torch.full((n,), -1, dtype=torch.long, device=points.device)
    boxes = boxes.to(points.dtype)
    x, y = points[:, 0:1], points[:, 1:2]  # (L, 1)
    inside = (x > boxes[:, 0]) & (x < boxes[:, 2]) & (y > boxes[:, 1]) & (y < boxes[:, 3])  # (L, G)
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    r = radius * stride
    central = ((x - cx).abs() <= r) & ((y - cy).abs() <= r)
    area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).expand(n, -1)
    area = torch.where(inside & central, area, torch.full_like(area, float("inf")))
    best_area, gt_index = area.min(1)
    gt_index = torch.where(torch.isinf(best_area), torch.full_like(gt_index, -1), gt_index)
    pos = gt_index >= 0
    cls_t[pos, labels[gt_index[pos]].long() - 1] = 1.0
    box_t = torch.where(pos[:, None], boxes[gt_index.clamp(min=0)], points.new_zeros(n, 4))
    return cls_t, box_t, gt_index


def assemble_logits(protos: torch.Tensor, coefficients: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Mask logits of N objects from one image's prototypes: the linear combination, upsampled.

    Args:
        protos: (k, h, w) prototypes; coefficients: (N, k).
        size: (H, W) of the image.

    Returns:
        (N, H, W) logits (``sigmoid`` gives the uncropped masks).
    """
    k, h, w = protos.shape
    logits = (coefficients @ protos.reshape(k, h * w)).view(-1, 1, h, w)  # (N, 1, h, w)
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)[:, 0]


def box_region(boxes: torch.Tensor, height: int, width: int, margin: float = 0) -> torch.Tensor:
    """(N, H, W) bool: the pixels whose centre lies inside each box grown by ``margin`` pixels (the crop)."""
    ys = torch.arange(height, device=boxes.device, dtype=torch.float32) + 0.5
    xs = torch.arange(width, device=boxes.device, dtype=torch.float32) + 0.5
    b = boxes.to(torch.float32)
    in_y = (ys[None] >= b[:, 1:2] - margin) & (ys[None] < b[:, 3:4] + margin)  # (N, H)
    in_x = (xs[None] >= b[:, 0:1] - margin) & (xs[None] < b[:, 2:3] + margin)  # (N, W)
    return in_y[:, :, None] & in_x[:, None, :]


def fast_nms(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """YOLACT's Fast NMS: one IoU matrix instead of a greedy loop.

    Within each class, sorted by score, a detection is removed when any higher-scoring detection
    overlaps it by more than ``iou_threshold``, even one that is itself removed (greedy NMS would
    let that one's victims live), so Fast NMS removes a little more than greedy NMS.

    Args:
        boxes: (N, 4) xyxy; scores: (N,); labels: (N,) class ids (detections of different
            classes never suppress each other).
        iou_threshold: IoU above which the lower-scoring detection is removed.

    Returns:
        indices of the kept detections, highest score first (like ``torchvision.ops.nms``).
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = scores.argsort(descending=True)
    b, lab = boxes[order], labels[order]
    iou = box_iou(b, b).triu(diagonal=1)  # iou[i, j], i scored higher than j
    iou = iou * (lab[:, None] == lab[None, :])
    keep = iou.max(0).values <= iou_threshold
    return order[keep]


def stack_images(images) -> torch.Tensor:
    """A (B, 3, H, W) batch from a tensor or a list of equal-size (3, H, W) images."""
    if isinstance(images, torch.Tensor):
        return images if images.dim() == 4 else images[None]
    sizes = {tuple(im.shape[-2:]) for im in images}
    if len(sizes) != 1:
        raise ValueError(f"all images of a batch must have the same size, got {sorted(sizes)}")
    return torch.stack(list(images))


def mask_boxes(masks: torch.Tensor, fallback: torch.Tensor) -> torch.Tensor:
    """Tight xyxy boxes (pixel edges) of binary masks (N, H, W); an empty mask keeps its ``fallback`` box (N, 4)."""
    if masks.shape[0] == 0:
        return fallback
    rows, cols = masks.any(2), masks.any(1)  # (N, H), (N, W)
    h, w = masks.shape[-2:]
    ar_y = torch.arange(h, device=masks.device, dtype=fallback.dtype)
    ar_x = torch.arange(w, device=masks.device, dtype=fallback.dtype)
    big = float(max(h, w))
    y1 = torch.where(rows, ar_y, big).min(1).values
    y2 = torch.where(rows, ar_y, -1.0).max(1).values + 1
    x1 = torch.where(cols, ar_x, big).min(1).values
    x2 = torch.where(cols, ar_x, -1.0).max(1).values + 1
    boxes = torch.stack([x1, y1, x2, y2], 1)
    return torch.where(rows.any(1)[:, None], boxes, fallback)


def dilated_conv_bn(c: int, dilation: int) -> nn.Sequential:
    """3x3 convolution with ``dilation`` (same size out), batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(c, c, 3, 1, dilation, dilation=dilation, bias=False), nn.BatchNorm2d(c),
                         nn.ReLU(inplace=True))


def class_coverage(targets: list[dict], num_classes: int, size: tuple[int, int]) -> torch.Tensor:
    """Share of each cell of an (h, w) grid covered by each class's masks: (B, num_classes - 1, h, w) in [0, 1].

    Args:
        targets: per image ``masks`` (G, H, W) and ``labels`` (G,) (ids 1 .. num_classes - 1).
        num_classes: classes including the background.
        size: (h, w) of the grid (each cell averages the H/h x W/w pixels it covers).
    """
    maps = []
    for tgt in targets:
        m = tgt["masks"].float()  # (G, H, W)
        per_class = m.new_zeros(num_classes - 1, *m.shape[-2:])
        if m.shape[0]:
            per_class.index_add_(0, tgt["labels"].long() - 1, m)
        maps.append(per_class.clamp(max=1))
    return F.adaptive_avg_pool2d(torch.stack(maps), tuple(size))


def grid_locations(stride: int, h: int, w: int, device: torch.device | None = None) -> torch.Tensor:
    """Pixel centres (x, y) of the cells of an h x w feature map of ``stride``, (h*w, 2) in row-major order."""
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) * stride
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) * stride
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
