"""The shapes world: a deterministic, random-access generator of labelled scenes.

``make_scene(seed, index)`` always returns the same scene for the same ``(seed, index)``,
whatever else was generated before, so a split of any length needs no stored files.

A scene is textured "stuff" (sky on top, then grass and/or water) with 1-6 "things"
(circles, rotated squares, rotated triangles) painted on top in random colours. Later objects
occlude earlier ones; masks, boxes and maps describe the *visible* parts only.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from .classes import LABEL_DIVISOR, STUFF, THING_COLOURS, THINGS

SKY, GRASS, WATER = STUFF
CIRCLE, SQUARE, TRIANGLE = THINGS

_TEXTURE_SIZE = 256  # side of each stored texture tile; scenes crop from it
_TEXTURES_PER_CLASS = 6
_MIN_VISIBLE_FRACTION = 0.5  # an occluded object keeps at least this much of its area
_MIN_VISIBLE_PIXELS = 24  # ... and at least this many pixels (at 128x128)


def _smooth_noise(rng: np.random.Generator, size: int, cells_y: int, cells_x: int) -> np.ndarray:
    """Value noise in [-1, 1]: a coarse random grid upsampled bicubically to ``size``."""
    grid = torch.from_numpy(rng.uniform(-1, 1, (1, 1, cells_y, cells_x)).astype(np.float32))
    up = F.interpolate(grid, size=(size, size), mode="bicubic", align_corners=True)
    return up[0, 0].clamp(-1, 1).numpy()


def _make_texture(rng: np.random.Generator, class_id: int, size: int) -> np.ndarray:
    """One texture tile (size, size, 3) float32 in [0, 1] for a stuff class."""
    yy = np.linspace(0, 1, size, dtype=np.float32)[:, None]
    if class_id == SKY:  # bright gradient with soft clouds
        base = np.array([0.55, 0.75, 0.95], np.float32)
        top = np.array([0.35, 0.55, 0.90], np.float32)
        grad = top + (base - top) * yy[..., None]
        clouds = np.clip(_smooth_noise(rng, size, 6, 6) + 0.4 * _smooth_noise(rng, size, 14, 14), 0, 1)
        tex = grad * (1 - 0.7 * clouds[..., None]) + 0.97 * 0.7 * clouds[..., None]
    elif class_id == GRASS:  # green with vertical streaks and speckle
        streaks = _smooth_noise(rng, size, 8, 64)
        patches = _smooth_noise(rng, size, 5, 5)
        speckle = rng.uniform(-1, 1, (size, size)).astype(np.float32)
        light = 1 + 0.22 * streaks + 0.15 * patches + 0.10 * speckle
        tex = np.array([0.22, 0.55, 0.18], np.float32) * light[..., None]
    elif class_id == WATER:  # dark blue with horizontal ripples
        wobble = _smooth_noise(rng, size, 6, 6)
        phase = yy * rng.uniform(28, 40) + 3.0 * wobble
        ripples = np.sin(phase)
        speckle = rng.uniform(-1, 1, (size, size)).astype(np.float32)
        light = 1 + 0.25 * ripples + 0.08 * speckle + 0.1 * _smooth_noise(rng, size, 4, 4)
        tex = np.array([0.08, 0.22, 0.50], np.float32) * light[..., None]
    else:
        raise ValueError(f"{class_id} is not a stuff class id")
    return np.clip(tex, 0, 1).astype(np.float32)


@lru_cache(maxsize=1)
def _texture_bank() -> dict[int, np.ndarray]:
    """Texture tiles per stuff class, (K, 3, S, S); built once per process from a fixed seed."""
    rng = np.random.default_rng(20240601)
    return {c: np.stack([_make_texture(rng, c, _TEXTURE_SIZE).transpose(2, 0, 1)
                         for _ in range(_TEXTURES_PER_CLASS)]) for c in STUFF}


@lru_cache(maxsize=1)
def _shade_bank() -> np.ndarray:
    """Gentle lighting factors (S, S) around 1 over the whole scene, so no region is perfectly flat."""
    rng = np.random.default_rng(7)
    return (1 + 0.05 * _smooth_noise(rng, _TEXTURE_SIZE, 8, 8)).astype(np.float32)


@lru_cache(maxsize=8)
def _axis(size: int) -> np.ndarray:
    """Pixel-centre coordinates along one axis, (size,) float32; broadcast it, never tile it."""
    return np.arange(size, dtype=np.float32) + 0.5


def _crop(tile: np.ndarray, where: np.ndarray, size: int) -> np.ndarray:
    """A (..., size, size) window of a tile (..., S, S) at relative offsets ``where`` in [0, 1)^2.

    The tile is repeated first when ``size`` exceeds it.
    """
    if size > tile.shape[-1]:
        reps = (1,) * (tile.ndim - 2) + (-(-size // tile.shape[-1]) + 1,) * 2
        tile = np.tile(tile, reps)
    oy, ox = (where * (tile.shape[-1] - size + 1)).astype(int)
    return tile[..., oy:oy + size, ox:ox + size]


def _stuff_layout(rng: np.random.Generator, size: int) -> np.ndarray:
    """Stuff class per pixel (size, size) uint8: sky above a wavy horizon, grass/water below."""
    u = rng.random(12)
    ax = _axis(size)
    x = ax / size
    horizon = size * (0.2 + 0.35 * u[0] + 0.12 * (u[1] - 0.5) * (x - 0.5)
                      + 0.03 * u[2] * np.sin(2 * np.pi * (x * (1 + 2 * u[3]) + u[4])))
    below = ax[:, None] >= horizon[None, :]  # (H, W)
    kind = int(3 * u[5])  # 0: grass, 1: water, 2: both, split by a slanted wavy shore
    sky = np.uint8(SKY)
    if kind < 2:
        return np.where(below, np.uint8((GRASS, WATER)[kind]), sky)
    y = ax / size
    shore = size * (0.3 + 0.4 * u[6] + (u[7] - 0.5) * (y - 0.5)
                    + 0.03 * np.sin(2 * np.pi * (y * (1 + 2 * u[8]) + u[9])))
    near, far = (np.uint8(GRASS), np.uint8(WATER)) if u[10] < 0.5 else (np.uint8(WATER), np.uint8(GRASS))
    return np.where(below, np.where(ax[None, :] < shore[:, None], near, far), sky)


def _shape_mask(kind: int, cy: float, cx: float, r: float, angle: float,
                size: int) -> tuple[tuple[slice, slice], np.ndarray]:
    """Full (amodal) mask of one object with centre (cy, cx) and radius r, inside the image.

    Returns:
        the (rows, cols) window of the image that can hold the shape, and the bool mask in it.
    """
    reach = 1.3 * r  # every shape fits in a disc of this radius
    y0, y1 = max(int(cy - reach), 0), max(min(int(cy + reach) + 2, size), 0)
    x0, x1 = max(int(cx - reach), 0), max(min(int(cx + reach) + 2, size), 0)
    window = (slice(y0, max(y0, y1)), slice(x0, max(x0, x1)))
    ax = _axis(size)
    dy, dx = ax[y0:y1, None] - cy, ax[None, x0:x1] - cx  # (h, 1), (1, w): broadcast below
    if kind == CIRCLE:
        inside = dy * dy + dx * dx <= r * r
    else:
        c, s = np.cos(angle), np.sin(angle)
        u, v = c * dx + s * dy, -s * dx + c * dy
        if kind == SQUARE:
            half = 0.85 * r
            inside = (np.abs(u) <= half) & (np.abs(v) <= half)
        else:  # equilateral triangle, circumradius 1.25 r: three half-planes at distance R / 2
            inradius = 0.5 * 1.25 * r
            inside = u <= inradius
            inside &= -0.5 * u + 0.8660254 * v <= inradius
            inside &= -0.5 * u - 0.8660254 * v <= inradius
    return window, inside


def _place_objects(rng: np.random.Generator, size: int) -> tuple[np.ndarray, list[int], list[int]]:
    """Choose 1-6 objects in drawing order.

    Returns:
        owner: (size, size) int64, index of the top-most object at each pixel, -1 for stuff;
        the class id and the colour index of each object.
    """
    scale = size / 128
    min_pixels = _MIN_VISIBLE_PIXELS * scale * scale
    owner = np.full((size, size), -1, np.int8)
    kinds: list[int] = []
    colours: list[int] = []
    centres: list[tuple[float, float, float]] = []
    full_area: list[int] = []
    visible: list[int] = []  # visible pixels per object so far
    for _ in range(int(rng.integers(1, 7))):
        for _attempt in range(8):
            u = rng.random(12)  # one draw per attempt: far cheaper than a dozen small ones
            r = (7 + 15 * u[0]) * scale
            kind = THINGS[int(u[1] * len(THINGS))]
            colour = int(u[2] * len(THING_COLOURS))
            if centres and u[3] < 0.6:  # put it against an earlier object: touching/overlap
                j = int(u[4] * len(centres))
                py, px, pr = centres[j]
                theta = 2 * np.pi * u[5]
                dist = (pr + r) * (0.7 + 0.3 * u[6])
                cy, cx = py + dist * np.sin(theta), px + dist * np.cos(theta)
                if u[7] < 0.5:
                    kind = kinds[j]
                if colour == colours[j]:  # never the neighbour's colour: they would melt into one blob
                    colour = (colour + 1 + int(u[8] * (len(THING_COLOURS) - 1))) % len(THING_COLOURS)
            else:
                cy, cx = 0.6 * r + (size - 1.2 * r) * u[9:11]
            angle = 2 * np.pi * u[11]
            window, mask = _shape_mask(kind, cy, cx, r, angle, size)
            area = int(mask.sum())
            if area < 2 * min_pixels:
                continue
            # the new object goes on top: every earlier object must stay mostly visible
            under = owner[window][mask]
            lost = np.bincount(under[under >= 0], minlength=len(kinds)).tolist()
            left = [v - lo for v, lo in zip(visible, lost)]
            if all(v >= max(_MIN_VISIBLE_FRACTION * a, min_pixels) for v, a in zip(left, full_area)):
                visible = left + [area]
                owner[window][mask] = len(kinds)
                kinds.append(kind)
                colours.append(colour)
                centres.append((cy, cx, r))
                full_area.append(area)
                break
    return owner, kinds, colours


def _boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    """Tight xyxy boxes (N, 4) float32 of non-empty masks (N, H, W), in pixel-edge coordinates.

    x1, y1 are the first column and row of the mask; x2, y2 are the last ones + 1, so a box's
    width and height count pixels, as in COCO's ``bbox`` and pycocotools' ``toBbox``.
    """
    rows, cols = masks.any(2), masks.any(1)  # (N, H), (N, W)
    h, w = rows.shape[1], cols.shape[1]
    y1, x1 = rows.argmax(1), cols.argmax(1)
    y2, x2 = h - rows[:, ::-1].argmax(1), w - cols[:, ::-1].argmax(1)
    return np.stack([x1, y1, x2, y2], 1).astype(np.float32).reshape(-1, 4)


def make_scene(seed: int, index: int, size: int = 128) -> dict:
    """Generate one labelled scene of the shapes world, the same for the same (seed, index).

    Args:
        seed: which family of scenes (the course uses one seed per split).
        index: which scene of that family; any non-negative int, in any order.
        size: side of the square image in pixels.

    Returns:
        dict with
        ``image`` float32 (3, H, W) in [0, 1];
        ``semantic`` int64 (H, W) class ids (see ``CLASSES``);
        ``masks`` bool (N, H, W) visible part of each object, never overlapping;
        ``boxes`` float32 (N, 4) tight xyxy boxes of the visible masks (x2, y2 exclusive);
        ``labels`` int64 (N,) thing class ids;
        ``colours`` float32 (N, 3) paint colour of each object;
        ``panoptic`` int64 (H, W) segment ids (class_id * 1000 + instance number);
        ``segments`` list of dicts ``id, category_id, isthing, area, bbox`` (COCO panoptic style);
        ``seed``, ``index``.
    """
    rng = np.random.default_rng((int(seed), int(index), int(size)))
    layout = _stuff_layout(rng, size)
    stuff = _texture_bank()  # class -> (K, 3, S, S)
    u = rng.random((len(STUFF) + 1, 4))  # per texture: which tile, flip?, crop offsets
    crops = []
    for c, (pick, flip, *where) in zip(STUFF, u):
        tex = _crop(stuff[c][int(pick * _TEXTURES_PER_CLASS)], np.asarray(where), size)
        crops.append(tex[..., ::-1] if flip < 0.5 else tex)
    image = np.ascontiguousarray(crops[2])  # (3, H, W); per-channel copies beat a 3-D np.where
    for c, tex in zip(STUFF[:2], crops[:2]):
        sel = layout == c
        for ch in range(3):
            np.copyto(image[ch], tex[ch], where=sel)

    owner, kinds, colour_ids = _place_objects(rng, size)
    n = len(kinds)
    labels = np.asarray(kinds, np.int64).reshape(n)
    paint = np.asarray([THING_COLOURS[c] for c in colour_ids], np.float32).reshape(n, 3)
    is_thing = owner >= 0
    where = np.flatnonzero(is_thing)
    who = owner.reshape(-1)[where]
    image.reshape(3, -1)[:, where] = paint.T[:, who]
    image *= _crop(_shade_bank(), u[-1, 2:], size) * np.float32(0.9 + 0.2 * u[-1, 0])  # uneven lighting

    # Every pixel belongs to one segment: stuff classes first (index 0-2), then the objects.
    # Small uint8 maps and table look-ups are much faster than comparing int64 id maps.
    numbers = np.zeros(n, np.int64)  # running number of each object within its class
    for c in THINGS:
        numbers[labels == c] = np.arange(1, int((labels == c).sum()) + 1)
    seg_class = np.concatenate([np.asarray(STUFF, np.int64), labels])
    seg_ids = seg_class * LABEL_DIVISOR + np.concatenate([np.zeros(len(STUFF), np.int64), numbers])
    seg_index = np.where(is_thing, owner + np.int8(len(STUFF)), layout - np.uint8(1)).astype(np.uint8)
    semantic = seg_class[seg_index]  # (H, W) int64
    panoptic = seg_ids[seg_index]  # (H, W) int64
    seg_masks = seg_index[None] == np.arange(len(seg_ids), dtype=np.uint8)[:, None, None]  # (3 + N, H, W)
    areas = np.bincount(seg_index.ravel(), minlength=len(seg_ids))
    present = np.flatnonzero(areas)
    seg_boxes = np.zeros((len(seg_ids), 4), np.float32)
    seg_boxes[present] = _boxes_from_masks(seg_masks[present])
    segments = [{"id": int(seg_ids[i]), "category_id": int(seg_class[i]),
                 "isthing": bool(i >= len(STUFF)), "area": int(areas[i]),
                 "bbox": [int(v) for v in (*seg_boxes[i, :2], *(seg_boxes[i, 2:] - seg_boxes[i, :2]))],
                 "iscrowd": 0} for i in present]
    visible = seg_masks[len(STUFF):]  # (N, H, W): owner == object index
    boxes = seg_boxes[len(STUFF):]

    return {
        "image": torch.from_numpy(np.clip(image, 0, 1, out=image)),
        "semantic": torch.from_numpy(semantic),
        "masks": torch.from_numpy(visible),
        "boxes": torch.from_numpy(boxes),
        "labels": torch.from_numpy(labels),
        "colours": torch.from_numpy(paint),
        "panoptic": torch.from_numpy(panoptic),
        "segments": segments,
        "seed": int(seed),
        "index": int(index),
    }
