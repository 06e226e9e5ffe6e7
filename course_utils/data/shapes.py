"""The shapes world: a deterministic, random-access generator of labelled scenes.

``make_scene(seed, index)`` always returns the same scene for the same ``(seed, index)``,
whatever else was generated before, so a split of any length needs no stored files.

A scene is textured "stuff" (sky on top, then grass and/or water) with 1-6 "things"
(circles, rotated squares, rotated triangles) painted on top in random colours. Later objects
occlude earlier ones; masks, boxes and maps describe the *visible* parts only.
"""

from __future__ import annotations

import numpy as np
import torch

from .classes import LABEL_DIVISOR, STUFF, THING_COLOURS, THINGS
from .stuff import _axis, _compose_stuff, _crop, _shade_bank, _stuff_layout, _texture_crop

SKY, GRASS, WATER = STUFF
CIRCLE, SQUARE, TRIANGLE = THINGS

_MIN_VISIBLE_FRACTION = 0.5  # an occluded object keeps at least this much of its area
_MIN_VISIBLE_PIXELS = 24  # ... and at least this many pixels (at 128x128)


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
    ax = _axis(size)  # float32 next to float64 scalars: float64 arithmetic (NumPy 2 promotion rules)
    dy, dx = ax[y0:y1, None] - np.float64(cy), ax[None, x0:x1] - np.float64(cx)  # (h, 1), (1, w): broadcast below
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
    bits = np.left_shift(1, seg, dtype=np.uint16)  # (H, W)
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
