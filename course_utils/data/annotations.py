"""How an instance is stored: binary mask, run-length encoding (RLE) and polygon (lesson 05).

- :func:`mask_to_rle` / :func:`rle_to_mask`: COCO's compressed RLE via pycocotools (runs are
  counted down the *columns*, i.e. in Fortran order), with the course's one encoder and decoder
  (:mod:`course_utils.data.rle`);
- :func:`rle_runs`: the plain run lengths behind an RLE, to look at;
- :func:`mask_to_polygons`: the outline of a mask as COCO polygons, traced with contourpy
  (matplotlib's own marching-squares engine, so no extra dependency), optionally simplified
  (:func:`simplify_polygon`, Ramer-Douglas-Peucker, from scratch) the way a human annotator
  clicks few points;
- :func:`polygons_to_mask`: rasterise polygons back with pycocotools;
- :func:`storage_cost`: how many numbers each format needs for a mask.

Polygon coordinates are COCO's: x, y in pixel-edge units (pixel (row r, column c) covers
[c, c + 1] x [r, r + 1]).
"""

from __future__ import annotations

import numpy as np
import torch
from pycocotools import mask as mask_utils

from .rle import masks_to_rle, rle_to_mask

__all__ = ["mask_to_polygons", "mask_to_rle", "polygons_to_mask", "rle_runs", "rle_to_mask", "simplify_polygon",
           "storage_cost"]


def _mask_np(mask: torch.Tensor | np.ndarray) -> np.ndarray:
    """(H, W) uint8 0/1 from a bool/0-1 tensor or array, with a clear error otherwise."""
    m = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"a mask must be 2-D (H, W), got shape {m.shape}")
    if m.size and (m.min() < 0 or m.max() > 1):
        raise ValueError("a mask must hold 0/1 or True/False (threshold probabilities, divide 0/255 masks by 255)")
    return m.astype(np.uint8)


def mask_to_rle(mask: torch.Tensor | np.ndarray) -> dict:
    """COCO compressed RLE of one binary mask.

    Args:
        mask: (H, W) bool or 0/1.

    Returns:
        ``{"size": [H, W], "counts": str}`` as stored in a COCO JSON file.
    """
    return masks_to_rle(_mask_np(mask)[None])[0]  # (1, H, W)


def rle_runs(mask: torch.Tensor | np.ndarray) -> list[int]:
    """The run lengths of a mask in COCO's order: down each column, left to right, starting with background.

    Args:
        mask: (H, W) bool or 0/1.

    Returns:
        run lengths alternating 0s and 1s (the first run, of 0s, may be empty); they sum to H * W.
    """
    flat = _mask_np(mask).flatten(order="F")  # column-major, as COCO counts
    if flat.size == 0:
        return []
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    return ([0] + runs) if flat[0] == 1 else runs


def simplify_polygon(points: np.ndarray, tolerance: float) -> np.ndarray:
    """Ramer-Douglas-Peucker: drop vertices closer than ``tolerance`` pixels to the simplified outline.

    Args:
        points: (P, 2) x, y vertices of an open or closed line.
        tolerance: largest allowed distance (pixels) of a dropped vertex from the result.

    Returns:
        (Q, 2) vertices, Q <= P, first and last kept.
    """
    if len(points) < 3 or tolerance <= 0:
        return points
    start, end = points[0], points[-1]
    seg = end - start
    length = np.hypot(*seg)
    rel = points - start
    if length == 0:
        dist = np.hypot(rel[:, 0], rel[:, 1])
    else:
        dist = np.abs(seg[0] * rel[:, 1] - seg[1] * rel[:, 0]) / length  # distance to the chord
    far = int(np.argmax(dist))
    if dist[far] <= tolerance:
        return np.stack([start, end])
    left = simplify_polygon(points[:far + 1], tolerance)
    right = simplify_polygon(points[far:], tolerance)
    return np.concatenate([left[:-1], right])


def mask_to_polygons(mask: torch.Tensor | np.ndarray, tolerance: float = 0.0, min_points: int = 3) -> list[list[float]]:
    """The outline(s) of a mask as COCO polygons ``[x1, y1, x2, y2, ...]``, one per connected part.

    Holes are not represented (COCO polygons cannot express them; RLE can).

    Args:
        mask: (H, W) bool or 0/1.
        tolerance: simplify each outline with :func:`simplify_polygon` (0 = keep every vertex).
        min_points: outlines with fewer vertices are dropped.

    Returns:
        a list of flat coordinate lists, as in a COCO ``segmentation`` field.
    """
    import contourpy

    m = np.pad(_mask_np(mask).astype(np.float64), 1)  # a ring of 0s closes outlines at the border
    lines = contourpy.contour_generator(z=m, line_type=contourpy.LineType.Separate).lines(0.5)
    polygons = []
    for line in lines:
        pts = np.asarray(line, dtype=np.float64) - 0.5  # padded pixel-centre units -> COCO pixel edges
        if len(pts) > 1 and np.allclose(pts[0], pts[-1]):
            pts = pts[:-1]
        if tolerance > 0:
            pts = simplify_polygon(np.concatenate([pts, pts[:1]]), tolerance)[:-1]
        if len(pts) >= min_points:
            polygons.append([round(float(v), 2) for v in pts.reshape(-1)])
    return polygons


def polygons_to_mask(polygons: list[list[float]], height: int, width: int) -> np.ndarray:
    """Rasterise COCO polygons (pycocotools) to an (H, W) uint8 0/1 mask."""
    if not polygons:
        return np.zeros((height, width), np.uint8)
    return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polygons, height, width)))


def storage_cost(mask: torch.Tensor | np.ndarray, tolerance: float = 1.0) -> dict[str, int]:
    """How many numbers each way of storing a mask needs.

    Args:
        mask: (H, W) bool or 0/1.
        tolerance: simplification of the polygon (pixels), like an annotator's clicks.

    Returns:
        ``box`` (4), ``polygon`` (2 per vertex), ``rle_runs`` (run lengths), ``rle_chars``
        (length of COCO's compressed string) and ``mask_pixels`` (H * W).
    """
    m = _mask_np(mask)
    return {"box": 4, "polygon": sum(len(p) for p in mask_to_polygons(m, tolerance)), "rle_runs": len(rle_runs(m)),
            "rle_chars": len(mask_to_rle(m)["counts"]), "mask_pixels": int(m.size)}
