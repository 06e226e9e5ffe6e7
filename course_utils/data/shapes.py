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


@lru_cache(maxsize=1)
def _flipped_bank() -> dict[int, np.ndarray]:
    """The texture tiles of :func:`_texture_bank` mirrored left-right, (K, 3, S, S) contiguous per class.

    A mirrored crop read from here has positive strides, so copying it is a plain strided copy.
    """
    return {c: np.ascontiguousarray(tiles[..., ::-1]) for c, tiles in _texture_bank().items()}


@lru_cache(maxsize=8)
def _axis(size: int) -> np.ndarray:
    """Pixel-centre coordinates along one axis, (size,) float32; broadcast it, never tile it."""
    return np.arange(size, dtype=np.float32) + 0.5


@lru_cache(maxsize=8)
def _axis64(size: int) -> np.ndarray:
    """:func:`_axis` as float64 (exact): what float32 coordinates become next to a float64 operand."""
    return _axis(size).astype(np.float64)


@lru_cache(maxsize=8)
def _ranks(size: int) -> np.ndarray:
    """Row (or column) numbers 0..size-1, (size,) int16, to compare with per-column thresholds."""
    return np.arange(size, dtype=np.int16)


def _crop(tile: np.ndarray, where: np.ndarray, size: int) -> np.ndarray:
    """A (..., size, size) window of a tile (..., S, S) at relative offsets ``where`` in [0, 1)^2.

    The tile is repeated first when ``size`` exceeds it.
    """
    if size > tile.shape[-1]:
        reps = (1,) * (tile.ndim - 2) + (-(-size // tile.shape[-1]) + 1,) * 2
        tile = np.tile(tile, reps)
    oy, ox = (where * (tile.shape[-1] - size + 1)).astype(int)
    return tile[..., oy:oy + size, ox:ox + size]


def _texture_crop(class_id: int, pick: float, flip: float, where: list[float], size: int) -> np.ndarray:
    """The (3, size, size) texture of one stuff class in this scene: a tile, a window of it, maybe mirrored.

    A view, never a copy; a mirrored window comes from :func:`_flipped_bank` (same values as
    ``window[..., ::-1]``) so that its strides stay positive.
    """
    k = int(pick * _TEXTURES_PER_CLASS)
    if size > _TEXTURE_SIZE:
        tex = _crop(_texture_bank()[class_id][k], np.asarray(where), size)
        return tex[..., ::-1] if flip < 0.5 else tex
    span = _TEXTURE_SIZE - size + 1
    oy, ox = int(where[0] * span), int(where[1] * span)
    if flip < 0.5:
        ox = _TEXTURE_SIZE - size - ox  # the mirrored tile's column of the window's last column
        return _flipped_bank()[class_id][k][:, oy:oy + size, ox:ox + size]
    return _texture_bank()[class_id][k][:, oy:oy + size, ox:ox + size]


def _stuff_layout(rng: np.random.Generator, size: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple[int, int]]:
    """Stuff class per pixel: sky above a wavy horizon, grass/water below.

    Returns:
        layout (size, size) uint8 class ids; ``first_ground`` (size,) int64, the first ground row
        of each column; ``first_far`` (size,) int64, the first column of the far ground class in
        each row, or None when one class covers the ground; ``(near, far)`` ground class ids.
    """
    u = rng.random(12)
    ax = _axis(size)
    x = ax / size
    horizon = size * (0.2 + 0.35 * u[0] + 0.12 * (u[1] - 0.5) * (x - 0.5)
                      + 0.03 * u[2] * np.sin(2 * np.pi * (x * (1 + 2 * u[3]) + u[4])))
    # ground where ax[y] >= horizon[x] (compared in float64): rows from the count of smaller ax
    first_ground = np.searchsorted(_axis64(size), horizon, side="left")
    ranks = _ranks(size)
    below = (ranks[:, None] >= first_ground.astype(np.int16)[None, :]).view(np.uint8)  # (H, W) 0/1
    kind = int(3 * u[5])  # 0: grass, 1: water, 2: both, split by a slanted wavy shore
    if kind < 2:
        ground = (GRASS, WATER)[kind]
        layout = below * np.uint8(ground - SKY)
        layout += np.uint8(SKY)
        return layout, first_ground, None, (ground, ground)
    y = ax / size
    shore = size * (0.3 + 0.4 * u[6] + (u[7] - 0.5) * (y - 0.5)
                    + 0.03 * np.sin(2 * np.pi * (y * (1 + 2 * u[8]) + u[9])))
    near, far = (GRASS, WATER) if u[10] < 0.5 else (WATER, GRASS)
    first_far = np.searchsorted(_axis64(size), shore, side="left")  # near where ax[x] < shore[y]
    is_far = (ranks[None, :] >= first_far.astype(np.int16)[:, None]).view(np.uint8)
    ground = is_far * np.uint8((far - near) % 256)
    ground += np.uint8(near - SKY)  # ground class - SKY, wrapping in uint8 like the sum itself
    layout = below * ground
    layout += np.uint8(SKY)
    return layout, first_ground, first_far, (near, far)


def _compose_stuff(textures: dict[int, np.ndarray], first_ground: np.ndarray, first_far: np.ndarray | None,
                   ground: tuple[int, int], size: int) -> np.ndarray:
    """The stuff image (3, size, size) float32: each pixel copied from the texture of its class.

    Rows above every horizon point are plain sky, rows below it plain ground; only the band in
    between (and the near/far band of the ground) takes a masked copy.
    """
    image = np.empty((3, size, size), np.float32)
    ranks = _ranks(size)
    top, bottom = int(first_ground.min()), int(first_ground.max())
    near, far = textures[ground[0]], textures[ground[1]]
    if first_far is None or top >= size:
        image[:, top:] = near[:, top:]
    else:
        rows = first_far[top:]
        left, right = int(rows.min()), int(rows.max())
        image[:, top:, :left] = near[:, top:, :left]
        image[:, top:, left:] = far[:, top:, left:]
        np.copyto(image[:, top:, left:right], near[:, top:, left:right],
                  where=ranks[None, left:right] < rows.astype(np.int16)[:, None])
    sky = textures[SKY]
    image[:, :top] = sky[:, :top]
    np.copyto(image[:, top:bottom], sky[:, top:bottom],
              where=ranks[top:bottom, None] < first_ground.astype(np.int16)[None, :])
    return image


def _shape_mask(kind: int, cy: float, cx: float, r: float, angle: float,
                size: int) -> tuple[tuple[slice, slice], np.ndarray]:
    """Full (amodal) mask of one object with centre (cy, cx) and radius r, inside the image.

    Coordinates are float64 (pixel centres are exact in it), the arithmetic that of float32
    centres next to float64 scalars.

    Returns:
        the (rows, cols) window of the image that can hold the shape, and the bool mask in it.
    """
    reach = 1.3 * r  # every shape fits in a disc of this radius
    y0, y1 = max(int(cy - reach), 0), max(min(int(cy + reach) + 2, size), 0)
    x0, x1 = max(int(cx - reach), 0), max(min(int(cx + reach) + 2, size), 0)
    window = (slice(y0, max(y0, y1)), slice(x0, max(x0, x1)))
    ax = _axis64(size)
    dy, dx = ax[y0:y1, None] - cy, ax[None, x0:x1] - cx  # (h, 1), (1, w): broadcast below
    if kind == CIRCLE:
        return window, dy * dy + dx * dx <= r * r
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * dx + s * dy, -s * dx + c * dy
    if kind == SQUARE:
        half = 0.85 * r
        return window, np.maximum(np.abs(u, out=u), np.abs(v, out=v), out=u) <= half
    # equilateral triangle, circumradius 1.25 r: three half-planes at distance R / 2
    # (the two slanted sides: max(a + b, a - b) is exactly a + |b|, so one test covers both)
    inradius = 0.5 * 1.25 * r
    inside = u <= inradius
    a, b = np.multiply(u, -0.5, out=u), np.multiply(v, 0.8660254, out=v)
    inside &= np.add(a, np.abs(b, out=b), out=a) <= inradius
    return window, inside


def _place_objects(rng: np.random.Generator, seg: np.ndarray, size: int
                   ) -> tuple[list[int], list[int], list[tuple[tuple[slice, slice], np.ndarray]], list[int]]:
    """Choose 1-6 objects in drawing order and write them into the segment map.

    Args:
        rng: the scene's generator.
        seg: (size, size) uint8 segment index, 0-2 for stuff on entry; object i is written as
            3 + i where it is on top (in place).
        size: scene side.

    Returns:
        the class id and the colour index of each object, its (window, amodal mask) and its
        visible pixel count.
    """
    scale = size / 128
    min_pixels = _MIN_VISIBLE_PIXELS * scale * scale
    kinds: list[int] = []
    colours: list[int] = []
    shapes: list[tuple[tuple[slice, slice], np.ndarray]] = []
    centres: list[tuple[float, float, float]] = []
    needed: list[float] = []  # pixels each object must keep visible
    visible: list[int] = []  # visible pixels per object so far
    first = len(STUFF)
    for _ in range(int(rng.integers(1, 7))):
        for _attempt in range(8):
            u = rng.random(12).tolist()  # one draw per attempt: far cheaper than a dozen small ones
            r = (7 + 15 * u[0]) * scale
            kind = THINGS[int(u[1] * len(THINGS))]
            colour = int(u[2] * len(THING_COLOURS))
            if centres and u[3] < 0.6:  # put it against an earlier object: touching/overlap
                j = int(u[4] * len(centres))
                py, px, pr = centres[j]
                theta = 2 * np.pi * u[5]
                dist = (pr + r) * (0.7 + 0.3 * u[6])
                cy, cx = py + dist * float(np.sin(theta)), px + dist * float(np.cos(theta))
                if u[7] < 0.5:
                    kind = kinds[j]
                if colour == colours[j]:  # never the neighbour's colour: they would melt into one blob
                    colour = (colour + 1 + int(u[8] * (len(THING_COLOURS) - 1))) % len(THING_COLOURS)
            else:
                cy, cx = 0.6 * r + (size - 1.2 * r) * u[9], 0.6 * r + (size - 1.2 * r) * u[10]
            angle = 2 * np.pi * u[11]
            window, mask = _shape_mask(kind, cy, cx, r, angle, size)
            area = int(np.count_nonzero(mask))
            if area < 2 * min_pixels:
                continue
            # the new object goes on top: every earlier object must stay mostly visible
            (ys, xs) = window
            if any(ys.start < b.stop and b.start < ys.stop and xs.start < c.stop and c.start < xs.stop
                   for (b, c), _ in shapes):  # no overlap, nothing lost: every object keeps what it needs
                lost = np.bincount(seg[window][mask], minlength=first + len(kinds)).tolist()[first:]
                left = [v - lo for v, lo in zip(visible, lost)]
                if not all(v >= need for v, need in zip(left, needed)):
                    continue
                visible = left
            np.copyto(seg[window], first + len(kinds), where=mask)
            visible.append(area)
            needed.append(max(_MIN_VISIBLE_FRACTION * area, min_pixels))
            kinds.append(kind)
            colours.append(colour)
            shapes.append((window, mask))
            centres.append((cy, cx, r))
            break
    return kinds, colours, shapes, visible


def _boxes_from_projections(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Tight xyxy boxes (N, 4) float32 from row and column occupancy (N, H), (N, W) of non-empty regions."""
    h, w = rows.shape[1], cols.shape[1]
    y1, x1 = rows.argmax(1), cols.argmax(1)
    y2, x2 = h - rows[:, ::-1].argmax(1), w - cols[:, ::-1].argmax(1)
    return np.stack([x1, y1, x2, y2], 1).astype(np.float32).reshape(-1, 4)


def _boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    """Tight xyxy boxes (N, 4) float32 of non-empty masks (N, H, W), in pixel-edge coordinates.

    x1, y1 are the first column and row of the mask; x2, y2 are the last ones + 1, so a box's
    width and height count pixels, as in COCO's ``bbox`` and pycocotools' ``toBbox``.
    """
    return _boxes_from_projections(masks.any(2), masks.any(1))  # (N, H), (N, W)


def _segment_boxes(seg: np.ndarray, count: int, areas: list[int]) -> np.ndarray:
    """Boxes (count, 4) float32 of segments 0..count-1 of a segment-index map (H, W) uint8; zeros if absent.

    One bit per segment (count <= 16): OR-ing the bits along rows and columns gives every
    segment's row and column occupancy in two passes, the same as ``(seg == i).any(...)``; the
    boxes are then those of :func:`_boxes_from_masks`.
    """
    bits = np.left_shift(np.uint16(1), seg)  # (H, W) uint16
    occupied = np.stack([np.bitwise_or.reduce(bits, axis=1), np.bitwise_or.reduce(bits, axis=0)])  # (2, H): rows, cols
    occupied = (occupied >> np.arange(count, dtype=np.uint16)[:, None, None]) & 1  # (count, 2, H)
    first = occupied.argmax(2)  # (count, 2): y1, x1
    end = seg.shape[0] - occupied[..., ::-1].argmax(2)  # (count, 2): y2, x2
    boxes = np.concatenate([first[:, ::-1], end[:, ::-1]], 1).astype(np.float32)
    boxes[np.asarray(areas) == 0] = 0
    return boxes


def _paint_objects(image: np.ndarray, semantic: np.ndarray, panoptic: np.ndarray, kinds: list[int],
                   paint: np.ndarray, shapes: list[tuple[tuple[slice, slice], np.ndarray]]) -> list[int]:
    """Paint the objects in drawing order (later ones on top) into the image and the label maps, in place.

    Args:
        image: (3, H, W) float32; gets each object's colour.
        semantic: (H, W) uint8 class ids; gets each object's class.
        panoptic: (H, W) uint16 segment ids; gets ``class * LABEL_DIVISOR + number``.
        kinds: class id per object; paint: (N, 3) float32 colours; shapes: (window, mask) per object.

    Returns:
        the panoptic segment id of each object (its number counts objects of its class so far).
    """
    seen = dict.fromkeys(THINGS, 0)
    ids = []
    for kind, colour, (window, mask) in zip(kinds, paint, shapes):
        seen[kind] += 1
        ids.append(kind * LABEL_DIVISOR + seen[kind])
        np.copyto(image[(slice(None), *window)], colour[:, None, None], where=mask)
        np.copyto(semantic[window], kind, where=mask)
        np.copyto(panoptic[window], ids[-1], where=mask)
    return ids


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
    layout, first_ground, first_far, ground = _stuff_layout(rng, size)
    u = rng.random((len(STUFF) + 1, 4)).tolist()  # per texture: which tile, flip?, crop offsets
    textures = {c: _texture_crop(c, pick, flip, where, size) for c, (pick, flip, *where) in zip(STUFF, u)}
    image = _compose_stuff(textures, first_ground, first_far, ground, size)  # (3, H, W)

    # Every pixel belongs to one segment: stuff classes first (index 0-2), then the objects.
    # Small uint8/uint16 maps, written in each object's window only, are much faster than int64 maps.
    seg = layout - np.uint8(SKY)  # (H, W) uint8 segment index
    kinds, colour_ids, shapes, thing_areas = _place_objects(rng, seg, size)
    n = len(kinds)
    labels = np.asarray(kinds, np.int64).reshape(n)
    paint = np.asarray([THING_COLOURS[c] for c in colour_ids], np.float32).reshape(n, 3)
    panoptic = layout * np.uint16(LABEL_DIVISOR)  # (H, W) uint16; stuff: class_id * 1000
    thing_ids = _paint_objects(image, layout, panoptic, kinds, paint, shapes)  # layout becomes the semantic map
    image *= _crop(_shade_bank(), np.asarray(u[-1][2:]), size) * np.float32(0.9 + 0.2 * u[-1][0])  # uneven lighting

    seg_ids, seg_class = [c * LABEL_DIVISOR for c in STUFF] + thing_ids, STUFF + kinds
    areas = [int(np.count_nonzero(seg == i)) for i in range(len(STUFF))] + thing_areas
    seg_boxes = _segment_boxes(seg, len(seg_ids), areas)
    segments = [{"id": seg_ids[i], "category_id": seg_class[i], "isthing": i >= len(STUFF), "area": areas[i],
                 "bbox": [int(x1), int(y1), int(x2 - x1), int(y2 - y1)], "iscrowd": 0}
                for i, (x1, y1, x2, y2) in enumerate(seg_boxes.tolist()) if areas[i]]
    visible = seg[None] == np.arange(len(STUFF), len(seg_ids), dtype=np.uint8)[:, None, None]  # (N, H, W)
    return {
        "image": torch.from_numpy(np.clip(image, 0, 1, out=image)),
        "semantic": torch.from_numpy(layout.astype(np.int64)),
        "masks": torch.from_numpy(visible),
        "boxes": torch.from_numpy(seg_boxes[len(STUFF):]),
        "labels": torch.from_numpy(labels),
        "colours": torch.from_numpy(paint),
        "panoptic": torch.from_numpy(panoptic.astype(np.int64)),
        "segments": segments,
        "seed": int(seed),
        "index": int(index),
    }
