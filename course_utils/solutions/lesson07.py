"""Reference solutions of lesson 07 (Mask R-CNN): RoIAlign for one box, pasting a mask, counting instances.

These are "from scratch" teaching versions; the tests check ``roi_align_single`` against
``torchvision.ops.roi_align(..., aligned=True)`` and ``paste_mask`` against ``grid_sample``.
"""

from __future__ import annotations

import torch

__all__ = ["roi_align_single", "paste_mask", "count_instances"]


def _bilinear(features: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of a (C, H, W) map at points (y, x) given in pixel-index coordinates.

    Follows torchvision's RoIAlign rule: a point more than one pixel outside the map gives 0;
    otherwise coordinates below 0 are clamped to 0 and the last row/column is repeated.

    Args:
        features: (C, H, W).
        y: (P,) row coordinates; x: (P,) column coordinates (pixel centres at integers).

    Returns:
        (C, P) sampled values.
    """
    c, h, w = features.shape
    outside = (y < -1.0) | (y > h) | (x < -1.0) | (x > w)  # (P,)
    y = y.clamp(min=0)
    x = x.clamp(min=0)
    y0 = y.floor().long().clamp(max=h - 1)
    x0 = x.floor().long().clamp(max=w - 1)
    y1 = (y0 + 1).clamp(max=h - 1)
    x1 = (x0 + 1).clamp(max=w - 1)
    y = torch.where(y0 >= h - 1, y0.to(y.dtype), y)  # on the last row: no interpolation downwards
    x = torch.where(x0 >= w - 1, x0.to(x.dtype), x)
    ly, lx = y - y0, x - x0  # (P,) fractional offsets
    hy, hx = 1 - ly, 1 - lx
    v = (hy * hx * features[:, y0, x0] + hy * lx * features[:, y0, x1]
         + ly * hx * features[:, y1, x0] + ly * lx * features[:, y1, x1])  # (C, P)
    return torch.where(outside, torch.zeros((), dtype=v.dtype), v)


def roi_align_single(features: torch.Tensor, box: torch.Tensor, output_size: int, spatial_scale: float = 1.0,
                     sampling_ratio: int = 2) -> torch.Tensor:
    """RoIAlign of one box, as ``torchvision.ops.roi_align(..., aligned=True)`` computes it.

    The box is mapped onto the feature map (times ``spatial_scale``, minus half a pixel so that
    pixel centres line up), split into ``output_size`` x ``output_size`` bins; each bin averages
    ``sampling_ratio`` x ``sampling_ratio`` bilinear samples taken at regular points inside it.

    Args:
        features: (C, H, W) feature map.
        box: (4,) x1, y1, x2, y2 in image coordinates.
        output_size: side S of the output grid.
        spatial_scale: feature cells per image pixel (1/stride, e.g. 0.25 for stride 4).
        sampling_ratio: samples per bin side (>= 1).

    Returns:
        (C, S, S) pooled features, same dtype as ``features``.
    """
    dtype = features.dtype
    box = box.to(dtype)
    x1, y1, x2, y2 = (box * spatial_scale - 0.5).unbind()  # aligned=True: shift by half a pixel
    bin_h = (y2 - y1) / output_size
    bin_w = (x2 - x1) / output_size
    g = sampling_ratio
    steps = torch.arange(output_size * g, dtype=dtype)  # sample index along one side
    frac = (steps // g) + ((steps % g) + 0.5) / g  # bin index + offset inside the bin, in bins
    ys = y1 + frac * bin_h  # (S*g,)
    xs = x1 + frac * bin_w  # (S*g,)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")  # (S*g, S*g)
    vals = _bilinear(features, yy.reshape(-1), xx.reshape(-1))  # (C, S*g*S*g)
    vals = vals.view(-1, output_size, g, output_size, g)  # (C, S, g, S, g)
    return vals.mean(dim=(2, 4))


def paste_mask(mask: torch.Tensor, box: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Paste an M x M mask (probabilities) into its box in an empty H x W image.

    The M x M grid is stretched over the box: a pixel whose centre (x + 0.5, y + 0.5) lies inside
    the box takes the bilinear value of the mask at the matching point (mask cell centres at
    ``(i + 0.5) * box_size / M``; beyond the outer cell centres the edge value is kept). Pixels whose
    centre is outside the box stay 0.

    Args:
        mask: (M, M) float mask probabilities (e.g. the mask head's 28 x 28 output after sigmoid).
        box: (4,) x1, y1, x2, y2 in pixel-edge coordinates (x2 = last column + 1).
        height: image height H.
        width: image width W.

    Returns:
        (H, W) float mask in the image, same dtype as ``mask``.
    """
    m = mask.shape[-1]
    dtype = mask.dtype
    box = box.to(dtype)
    x1, y1, x2, y2 = box.unbind()
    cy = torch.arange(height, dtype=dtype) + 0.5  # (H,) pixel centres
    cx = torch.arange(width, dtype=dtype) + 0.5  # (W,)
    inside_y = (cy >= y1) & (cy < y2)  # (H,)
    inside_x = (cx >= x1) & (cx < x2)  # (W,)
    out = torch.zeros(height, width, dtype=dtype)
    if not bool(inside_y.any()) or not bool(inside_x.any()):
        return out
    # position in mask-cell units, cell centres at integers
    v = ((cy[inside_y] - y1) / (y2 - y1) * m - 0.5).clamp(0, m - 1)  # (h,)
    u = ((cx[inside_x] - x1) / (x2 - x1) * m - 0.5).clamp(0, m - 1)  # (w,)
    vv, uu = torch.meshgrid(v, u, indexing="ij")  # (h, w)
    vals = _bilinear(mask[None], vv.reshape(-1), uu.reshape(-1))[0]  # (h * w,)
    rows = inside_y.nonzero()[:, 0]
    cols = inside_x.nonzero()[:, 0]
    out[rows[:, None], cols[None, :]] = vals.view(len(rows), len(cols))
    return out


def count_instances(prediction: dict, score_thresh: float = 0.5, num_classes: int = 7) -> torch.Tensor:
    """Count the detections of each class whose score is at least ``score_thresh``.

    Args:
        prediction: dict with ``labels`` (N,) int64 class ids and ``scores`` (N,) float.
        score_thresh: a detection counts when ``score >= score_thresh``.
        num_classes: length of the result (class ids 0 .. num_classes - 1).

    Returns:
        (num_classes,) int64: how many confident detections of each class id.
    """
    labels, scores = prediction["labels"], prediction["scores"]
    if len(labels) != len(scores):
        raise ValueError(f"{len(labels)} labels but {len(scores)} scores: one score per detection")
    kept = labels[scores >= score_thresh].long()
    if len(kept) and (int(kept.min()) < 0 or int(kept.max()) >= num_classes):
        raise ValueError(f"class ids must be in 0..{num_classes - 1}, found {kept.tolist()}")
    return torch.bincount(kept, minlength=num_classes)
