"""A shifted world for lesson 11: the kind of dataset a learner brings, unlike the shapes world.

``make_own_scene(seed, index)`` returns a labelled scene with the keys and guarantees of
``shapes.make_scene`` (same for the same ``(seed, index)``, visible masks that never overlap,
tight boxes), but it differs from lesson 07's training world the way somebody else's data would:

- **backgrounds are photographs**: crops of the grass, gravel and brick textures that ship with
  scikit-image (``skimage.data``; all three CC0), rotated, mirrored, zoomed and tinted, often two
  of them split by a straight boundary, under uneven light and with a little sensor noise;
- **a new class**: five-pointed stars, next to circles, squares and triangles;
- **smaller, more numerous objects**: 3-10 per scene with radii of 5-14 px at 128 x 128 (the
  shapes world: 1-6 objects of 7-22 px), in colours of any hue.

The categories are the dataset's own (:data:`OWN_CATEGORIES`: ids 1 circle, 2 square, 3 triangle,
4 star), as a real dataset numbers them; ``labels`` hold these ids.
"""

from __future__ import annotations

import colorsys
import math
from functools import lru_cache

import numpy as np
import torch

from .classes import LABEL_DIVISOR
from .classes import THINGS as _COURSE_THINGS
from .shapes import _segment_boxes, _shape_mask
from .stuff import _axis

OWN_CLASSES: list[str] = ["background", "circle", "square", "triangle", "star"]
"""Names by category id of the shifted world (0 is background, never an annotation)."""

CIRCLE, SQUARE, TRIANGLE, STAR = 1, 2, 3, 4
OWN_THINGS: list[int] = [CIRCLE, SQUARE, TRIANGLE, STAR]
"""Category ids of the shifted world's objects."""

OWN_CATEGORIES: list[dict] = [{"id": c, "name": OWN_CLASSES[c], "supercategory": "shape", "isthing": 1}
                              for c in OWN_THINGS]
"""The COCO ``categories`` of the shifted world."""

TEXTURES: tuple[str, ...] = ("grass", "gravel", "brick")
"""The photographs of ``skimage.data`` the backgrounds are cut from (512 x 512 grey, CC0 licence)."""

TEXTURE_TINTS: dict[str, tuple[float, float, float]] = {
    "grass": (0.50, 0.72, 0.36), "gravel": (0.78, 0.74, 0.66), "brick": (0.82, 0.50, 0.40)}
"""The mean colour (RGB 0-1) each grey texture is tinted with, before a per-scene jitter."""

MIN_OBJECTS, MAX_OBJECTS = 3, 10  # objects per scene (fewer when placements fail)
MIN_RADIUS, MAX_RADIUS = 5.0, 14.0  # object radius in px at 128 x 128
_STAR_OUTER, _STAR_INNER = 1.45, 0.45  # star tip radius (x r) and inner radius (x tip radius): about a disc's area
_MIN_VISIBLE_FRACTION = 0.5  # an occluded object keeps at least this much of its area
_MIN_VISIBLE_PIXELS = 20  # ... and at least this many pixels (at 128 x 128)
_COURSE_KIND = dict(zip((CIRCLE, SQUARE, TRIANGLE), _COURSE_THINGS))  # shapes.py's ids of the shared shapes


@lru_cache(maxsize=1)
def photo_textures() -> dict[str, np.ndarray]:
    """The scikit-image photographs of :data:`TEXTURES`, read once per process.

    Returns:
        ``{name: (512, 512) float32 in [0, 1]}``.
    """
    try:
        from skimage import data
    except ImportError as err:
        raise ImportError("the shifted world's backgrounds are scikit-image's texture photographs: "
                          "pip install scikit-image (it is in requirements.txt)") from err
    return {name: getattr(data, name)().astype(np.float32) / np.float32(255) for name in TEXTURES}


def _texture_layer(u: list[float], name: str, size: int) -> np.ndarray:
    """One tinted texture (3, size, size) float32: a window of a photograph, turned, mirrored, maybe zoomed out.

    ``u`` holds 9 uniform numbers: zoom, offsets (2), quarter turns, mirror, contrast, brightness,
    hue jitter (2).
    """
    tex = photo_textures()[name]
    zoom = 2 if u[0] < 0.5 and 2 * size <= tex.shape[0] else 1  # half the time a 2x wider view, averaged down
    side = zoom * size
    oy, ox = int(u[1] * (tex.shape[0] - side + 1)), int(u[2] * (tex.shape[1] - side + 1))
    grey = tex[oy:oy + side, ox:ox + side]
    if zoom == 2:
        grey = 0.25 * (grey[0::2, 0::2] + grey[1::2, 0::2] + grey[0::2, 1::2] + grey[1::2, 1::2])
    grey = np.rot90(grey, int(4 * u[3]))
    if u[4] < 0.5:
        grey = grey[:, ::-1]
    mean = np.float32(grey.mean())
    grey = (grey - mean) * np.float32(0.7 + 0.6 * u[5]) + mean * np.float32(0.8 + 0.35 * u[6])
    tint = np.asarray(TEXTURE_TINTS[name], np.float32) * np.float32(1.2)
    tint[0] += np.float32(0.12 * (u[7] - 0.5))
    tint[2] += np.float32(0.12 * (u[8] - 0.5))
    return tint[:, None, None] * grey[None]


def _background(rng: np.random.Generator, size: int) -> tuple[np.ndarray, list[str]]:
    """The photographic background (3, size, size) float32 and the names of the textures in it.

    Two textures in 60 % of the scenes, split by a straight boundary at any angle near the centre.
    """
    u = rng.random(24).tolist()
    first = TEXTURES[int(3 * u[0])]
    image = _texture_layer(u[1:10], first, size)
    if u[10] >= 0.6:
        return image, [first]
    second = TEXTURES[(TEXTURES.index(first) + 1 + int(2 * u[11])) % 3]
    other = _texture_layer(u[12:21], second, size)
    theta = 2 * np.pi * u[21]
    ax = _axis(size) - np.float32(size / 2)
    side = np.cos(theta) * ax[None, :] + np.sin(theta) * ax[:, None] > (u[22] - 0.5) * 0.5 * size  # (H, W)
    np.copyto(image, other, where=side[None])
    return image, [first, second]


def _star_mask(cy: float, cx: float, r: float, angle: float, size: int) -> tuple[tuple[slice, slice], np.ndarray]:
    """Mask of a five-pointed star (tips at ``_STAR_OUTER * r``) in its window of the image.

    The star is the union of five convex kites (centre, inner corner, tip, inner corner), each the
    intersection of four half-planes; only products and sums touch the pixel grid (no trigonometry
    on arrays, whose last bits may differ between CPUs), so the mask is the same on every machine.
    """
    outer = _STAR_OUTER * r
    y0, y1 = max(int(cy - outer), 0), max(min(int(cy + outer) + 2, size), 0)
    x0, x1 = max(int(cx - outer), 0), max(min(int(cx + outer) + 2, size), 0)
    window = (slice(y0, max(y0, y1)), slice(x0, max(x0, x1)))
    ax = _axis(size).astype(np.float64)
    dy, dx = ax[y0:y1, None] - cy, ax[None, x0:x1] - cx  # (h, 1), (1, w)
    inner = _STAR_INNER * outer
    corners = []  # tip k at angle + 2 pi k / 5, inner corner k half-way to the next tip
    for k in range(10):
        a = angle + math.pi * k / 5
        rad = outer if k % 2 == 0 else inner
        corners.append((rad * math.cos(a), rad * math.sin(a)))
    inside = np.zeros((dy.shape[0], dx.shape[1]), bool)
    for k in range(0, 10, 2):
        kite = [(0.0, 0.0), corners[k - 1], corners[k], corners[k + 1]]  # counter-clockwise
        part = np.ones_like(inside)
        for (ax0, ay0), (ax1, ay1) in zip(kite, kite[1:] + kite[:1]):
            part &= (ax1 - ax0) * (dy - ay0) - (ay1 - ay0) * (dx - ax0) >= 0  # left of each edge
        inside |= part
    return window, inside


def _object_mask(kind: int, cy: float, cx: float, r: float, angle: float,
                 size: int) -> tuple[tuple[slice, slice], np.ndarray]:
    """(window, amodal mask) of one object of category ``kind``."""
    if kind == STAR:
        return _star_mask(cy, cx, r, angle, size)
    return _shape_mask(_COURSE_KIND[kind], cy, cx, r, angle, size)


def _place(rng: np.random.Generator, seg: np.ndarray, size: int
           ) -> tuple[list[int], list[tuple[tuple[slice, slice], np.ndarray]], list[int]]:
    """Choose the objects in drawing order and write them into the segment map ``seg`` (0 = background).

    Returns:
        the category id, (window, amodal mask) and visible pixel count of each object.
    """
    scale = size / 128
    min_pixels = _MIN_VISIBLE_PIXELS * scale * scale
    kinds, shapes, centres, needed, visible = [], [], [], [], []
    for _ in range(int(rng.integers(MIN_OBJECTS, MAX_OBJECTS + 1))):
        for _attempt in range(8):
            u = rng.random(9).tolist()
            r = (MIN_RADIUS + (MAX_RADIUS - MIN_RADIUS) * u[0]) * scale
            kind = OWN_THINGS[int(u[1] * len(OWN_THINGS))]
            if centres and u[2] < 0.4:  # against an earlier object: touching or overlapping
                py, px, pr = centres[int(u[3] * len(centres))]
                theta, dist = 2 * np.pi * u[4], (pr + r) * (0.75 + 0.3 * u[5])
                cy, cx = py + dist * float(np.sin(theta)), px + dist * float(np.cos(theta))
            else:
                cy, cx = 0.6 * r + (size - 1.2 * r) * u[6], 0.6 * r + (size - 1.2 * r) * u[7]
            window, mask = _object_mask(kind, cy, cx, r, 2 * np.pi * u[8], size)
            area = int(np.count_nonzero(mask))
            if area < 2 * min_pixels:
                continue
            lost = np.bincount(seg[window][mask], minlength=len(kinds) + 1).tolist()[1:]
            left = [v - lo for v, lo in zip(visible, lost)]
            if not all(v >= need for v, need in zip(left, needed)):
                continue  # the new object would hide too much of an earlier one
            np.copyto(seg[window], len(kinds) + 1, where=mask)
            visible = left + [area]
            needed.append(max(_MIN_VISIBLE_FRACTION * area, min_pixels))
            kinds.append(kind)
            shapes.append((window, mask))
            centres.append((cy, cx, r))
            break
    return kinds, shapes, visible


def _paint(rng: np.random.Generator, image: np.ndarray, seg: np.ndarray, n: int, size: int) -> np.ndarray:
    """Paint the visible part of each object (any hue, shaded by the photo under it) and light the scene.

    Returns:
        the paint colour of each object, (n, 3) float32.
    """
    u = rng.random((n, 3))
    colours = np.asarray([colorsys.hsv_to_rgb(h, 0.55 + 0.45 * s, 0.6 + 0.4 * v) for h, s, v in u],
                         np.float32).reshape(n, 3)
    grey = image.mean(0)  # (H, W): the surface texture shows faintly through the paint
    shade = np.float32(0.85) + np.float32(0.3) * grey / max(float(grey.max()), 1e-6)
    for k in range(n):
        on = seg == k + 1
        np.copyto(image, colours[k][:, None, None] * shade[None], where=on[None])
    g = rng.random(4).tolist()
    ax = (_axis(size) / np.float32(size) - np.float32(0.5))
    light = 1 + 0.3 * (g[0] - 0.5) * ax[None, :] + 0.3 * (g[1] - 0.5) * ax[:, None]  # (H, W) gentle gradient
    image *= (light * np.float32(0.9 + 0.2 * g[2]))[None].astype(np.float32)
    image += rng.normal(0.0, 0.015, image.shape).astype(np.float32)  # sensor noise
    return colours


def make_own_scene(seed: int, index: int, size: int = 128) -> dict:
    """Generate one labelled scene of the shifted world, the same for the same (seed, index).

    Args:
        seed: which family of scenes (one seed per split).
        index: which scene of that family; any non-negative int, in any order.
        size: side of the square image in pixels.

    Returns:
        dict with the keys of ``shapes.make_scene``:
        ``image`` float32 (3, H, W) in [0, 1];
        ``semantic`` int64 (H, W) category ids (0 = background);
        ``masks`` bool (N, H, W) visible part of each object, never overlapping;
        ``boxes`` float32 (N, 4) tight xyxy boxes of the visible masks (x2, y2 exclusive);
        ``labels`` int64 (N,) category ids of :data:`OWN_CATEGORIES`;
        ``colours`` float32 (N, 3) paint colour of each object;
        ``panoptic`` int64 (H, W) segment ids (category_id * 1000 + instance number, 0 = background);
        ``segments`` list of dicts ``id, category_id, isthing, area, bbox, iscrowd`` (COCO panoptic style);
        ``textures`` the names of the photographs in the background; ``seed``, ``index``.
    """
    if int(size) < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    rng = np.random.default_rng((int(seed), int(index), int(size), 11))  # 11: never a shapes-world stream
    image, textures = _background(rng, size)
    seg = np.zeros((size, size), np.uint8)  # 0 = background, k + 1 = object k where it is visible
    kinds, _, areas = _place(rng, seg, size)
    n = len(kinds)
    colours = _paint(rng, image, seg, n, size)
    labels = np.asarray(kinds, np.int64).reshape(n)
    semantic = np.concatenate([[0], labels])[seg]  # (H, W) int64
    numbers = [kinds[:k + 1].count(kinds[k]) for k in range(n)]
    ids = np.asarray([0] + [c * LABEL_DIVISOR + m for c, m in zip(kinds, numbers)], np.int64)
    boxes = _segment_boxes(seg, n + 1, [1] + areas)[1:]  # (N, 4) of segments 1..n
    segments = [{"id": int(ids[k + 1]), "category_id": kinds[k], "isthing": True, "area": areas[k],
                 "bbox": [int(x1), int(y1), int(x2 - x1), int(y2 - y1)], "iscrowd": 0}
                for k, (x1, y1, x2, y2) in enumerate(boxes.tolist())]
    masks = seg[None] == np.arange(1, n + 1, dtype=np.uint8)[:, None, None]  # (N, H, W)
    return {
        "image": torch.from_numpy(np.clip(image, 0, 1, out=image)),
        "semantic": torch.from_numpy(semantic),
        "masks": torch.from_numpy(masks),
        "boxes": torch.from_numpy(np.ascontiguousarray(boxes)),
        "labels": torch.from_numpy(labels),
        "colours": torch.from_numpy(colours),
        "panoptic": torch.from_numpy(ids[seg]),
        "segments": segments,
        "textures": textures,
        "seed": int(seed),
        "index": int(index),
    }
