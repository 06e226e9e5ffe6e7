"""Masks as polygons: contours, simplification, rasterisation, and what each storage format costs.

- :func:`mask_to_polygons` traces a binary mask's outlines (``skimage.measure.find_contours``) as
  COCO polygons ``[[x1, y1, x2, y2, ...], ...]``, optionally simplified with
  ``skimage.measure.approximate_polygon``; :func:`polygons_to_mask` rasterises polygons back with
  pycocotools, the rasteriser every COCO tool uses.
- :func:`simplification_cost` shows what simplifying costs in IoU; :func:`storage_sizes` what the
  same mask weighs as polygon JSON, compressed RLE JSON and a 1-bit PNG.

Coordinates are COCO's: pixel ``(row, col)`` covers ``[col, col + 1) x [row, row + 1)``, so its
centre is at ``(col + 0.5, row + 0.5)``. Polygons cannot have holes (COCO and labelme union every
polygon of an object), so a hole in a mask is filled by its polygons; :func:`mask_to_polygons`
says how many it dropped.
"""

from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
from skimage import measure

from .rle import masks_to_rle

LOSSLESS = 1e-9
"""The tolerance used for "tolerance 0" when vertices are counted: it only drops points on a straight line."""


def contours(mask: np.ndarray) -> tuple[list[np.ndarray], int]:
    """The outer outlines of a mask's regions, in COCO (x, y) coordinates.

    Args:
        mask: (H, W) bool or 0/1.

    Returns:
        (outlines, each (K, 2) float (x, y) closed with its first point repeated; the number of
        holes, which polygons cannot represent and are left out).
    """
    padded = np.pad(np.asarray(mask, dtype=float), 1)  # (H + 2, W + 2): every outline closes
    outlines, holes = [], 0
    for c in measure.find_contours(padded, 0.5, positive_orientation="high"):  # (K, 2) row, col
        xy = c[:, ::-1] - 0.5  # padded (row, col) -> COCO (x, y) = (col - 1 + 0.5, row - 1 + 0.5)
        signed = 0.5 * np.sum(xy[:-1, 0] * xy[1:, 1] - xy[1:, 0] * xy[:-1, 1])
        if signed < 0:  # "high" winds around foreground one way and around holes the other
            outlines.append(xy)
        else:
            holes += 1
    return outlines, holes


def simplify(outline: np.ndarray, tolerance: float) -> np.ndarray:
    """One closed outline simplified by Douglas-Peucker (``approximate_polygon``), closing point dropped.

    Args:
        outline: (K, 2) closed outline from :func:`contours`.
        tolerance: the largest distance in pixels a dropped point may lie from the simplified outline;
            0 keeps every point of the contour.

    Returns:
        (V, 2) the polygon's vertices (V may drop below 3 for a tiny region).
    """
    if tolerance > 0:
        outline = measure.approximate_polygon(outline, tolerance)
    return outline[:-1] if len(outline) > 1 and np.array_equal(outline[0], outline[-1]) else outline


def mask_to_polygons(mask: np.ndarray, tolerance: float = LOSSLESS) -> list[list[float]]:
    """A binary mask as COCO polygons (outer outlines only; holes are filled).

    Args:
        mask: (H, W) bool or 0/1.
        tolerance: Douglas-Peucker tolerance in pixels; the default only drops points that lie on a
            straight line, 0 keeps every contour point.

    Returns:
        one flat list ``[x1, y1, x2, y2, ...]`` per region with at least 3 vertices left.
    """
    outlines, _ = contours(mask)
    polygons = []
    for outline in outlines:
        vertices = simplify(outline, tolerance)
        if len(vertices) >= 3:
            polygons.append([round(float(v), 3) for v in vertices.reshape(-1)])
    return polygons


def polygons_to_mask(polygons: list[list[float]], height: int, width: int) -> np.ndarray:
    """Rasterise COCO polygons with pycocotools (their union).

    Args:
        polygons: flat lists ``[x1, y1, ...]`` of at least 3 points each.
        height, width: the mask size.

    Returns:
        (H, W) bool.
    """
    if not polygons:
        return np.zeros((height, width), bool)
    # one polygon at a time: pycocotools reads a 4-number list as a box
    rles = [mask_utils.frPyObjects([list(map(float, p))], height, width)[0] for p in polygons]
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two binary masks of one size (1.0 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = int((a | b).sum())
    return float((a & b).sum()) / union if union else 1.0


def simplification_cost(mask: np.ndarray, tolerances=(0, 0.5, 1, 2, 4)) -> list[dict]:
    """What simplifying a mask's polygon costs: vertices, bytes and IoU after rasterising back.

    Args:
        mask: (H, W) bool or 0/1.
        tolerances: Douglas-Peucker tolerances in pixels (0: every contour point kept).

    Returns:
        one dict per tolerance: ``tolerance``, ``vertices`` (all polygons together), ``iou`` (of the
        rasterised polygons with ``mask``) and ``bytes`` (the polygons as COCO JSON).
    """
    mask = np.asarray(mask, bool)
    h, w = mask.shape
    rows = []
    for t in tolerances:
        polygons = mask_to_polygons(mask, float(t))
        rows.append({"tolerance": float(t), "vertices": sum(len(p) // 2 for p in polygons),
                     "iou": mask_iou(polygons_to_mask(polygons, h, w), mask),
                     "bytes": len(json.dumps(polygons, separators=(",", ":")))})
    return rows


def storage_sizes(mask: np.ndarray) -> dict:
    """Bytes of one mask in each format a dataset may store it in.

    Args:
        mask: (H, W) bool or 0/1.

    Returns:
        dict: ``polygon_json`` (lossless COCO polygons, holes lost), ``rle_json`` (COCO compressed
        RLE, exact), ``png`` (a 1-bit PNG, exact), ``raw_bits`` (one bit per pixel, uncompressed)
        and ``polygon_iou`` (how exact the polygons are).
    """
    mask = np.asarray(mask, bool)
    h, w = mask.shape
    polygons = mask_to_polygons(mask)
    rle = masks_to_rle(mask[None])[0]
    buf = io.BytesIO()
    Image.fromarray(mask).save(buf, format="PNG", optimize=True)  # mode "1": one bit per pixel
    return {"polygon_json": len(json.dumps(polygons, separators=(",", ":"))),
            "rle_json": len(json.dumps(rle, separators=(",", ":"))), "png": len(buf.getvalue()),
            "raw_bits": (h * w + 7) // 8, "polygon_iou": mask_iou(polygons_to_mask(polygons, h, w), mask)}
