"""Where the text labels of boxes go, so that no label covers another one.

``draw_instances`` writes a class name (and score) on a patch at each box. torchvision's
``draw_bounding_boxes`` always puts it at the box's top-left corner, so two boxes that start close
together get one label on top of the other. :func:`place_labels` tries a few spots around each
box instead and takes the first that overlaps no label placed before it (the least-overlapping one
when every spot is taken); given a map of occupied pixels (the objects' masks), it takes, among the spots
that cover no earlier label, the one covering the fewest of them, so a label hides no object where it can
help it. :func:`draw_labels` paints them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .colours import text_colour

__all__ = ["place_labels", "draw_labels"]

Rect = tuple[float, float, float, float]


def _overlap(a: Rect, b: Rect) -> float:
    """Area shared by two (x1, y1, x2, y2) rectangles."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _candidates(box: Sequence[float], w: float, h: float) -> list[tuple[float, float]]:
    """Top-left corners to try for a ``w`` x ``h`` label of ``box``, the usual spot first."""
    x1, y1, x2, y2 = (float(v) for v in box)
    spots = [(x1, y1 - h), (x1, y1), (x1, y2), (x1, y2 - h),  # above, inside top, below, inside bottom (left)
             (x2 - w, y1 - h), (x2 - w, y1), (x2 - w, y2), (x2 - w, y2 - h)]  # the same on the right
    # then a stack of rows down the box's left side and below it, for crowded corners (e.g. at the image edge)
    return spots + [(x1, y1 + k * h) for k in range(1, 6)] + [(x1, y2 + k * h) for k in range(1, 3)]


def _covered(table: np.ndarray | None, rect: Rect) -> float:
    """How many occupied pixels ``rect`` covers, from the summed-area ``table`` of the occupied map (0 without one)."""
    if table is None:
        return 0.0
    h, w = table.shape[0] - 1, table.shape[1] - 1
    x1, y1 = min(max(int(rect[0]), 0), w), min(max(int(rect[1]), 0), h)
    x2, y2 = min(max(int(np.ceil(rect[2])), 0), w), min(max(int(np.ceil(rect[3])), 0), h)
    return float(table[y2, x2] - table[y1, x2] - table[y2, x1] + table[y1, x1])


def place_labels(boxes: Sequence[Sequence[float]], sizes: Sequence[tuple[float, float]],
                 width: float, height: float, occupied: np.ndarray | None = None) -> list[Rect]:
    """A rectangle per label, inside the image and overlapping no earlier label where possible.

    Labels are placed in the given order (draw detections by falling score, so the surest keeps the
    usual spot above its box's top-left corner).

    Args:
        boxes: (N, 4) xyxy boxes in pixels.
        sizes: (w, h) of each label in pixels.
        width, height: image size in pixels; labels are kept inside it.
        occupied: optional (height, width) bool map of pixels a label should rather not cover (e.g. the
            union of the objects' masks). Without it the first spot that covers no earlier label wins; with it,
            the spot covering the fewest occupied pixels among those (the earlier spot on a tie).

    Returns:
        N rectangles (x1, y1, x2, y2).
    """
    table = None
    if occupied is not None:  # summed-area table: any rectangle's count in four look-ups
        table = np.pad(np.asarray(occupied, dtype=np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    placed: list[Rect] = []
    for box, (w, h) in zip(boxes, sizes):
        best, best_cost = None, (float("inf"), float("inf"))
        for x, y in _candidates(box, w, h):
            x = min(max(x, 0.0), max(width - w, 0.0))
            y = min(max(y, 0.0), max(height - h, 0.0))
            rect = (x, y, x + w, y + h)
            cost = (sum(_overlap(rect, other) for other in placed), _covered(table, rect))
            if cost < best_cost:
                best, best_cost = rect, cost
            if cost == (0, 0):
                break
        placed.append(best)
    return placed


def draw_labels(image: torch.Tensor, boxes: torch.Tensor, texts: Sequence[str],
                colours: Sequence[tuple[int, int, int]], font_path: str, font_size: int,
                occupied: torch.Tensor | None = None) -> torch.Tensor:
    """Write each text on a patch of its box's colour, placed by :func:`place_labels`.

    Args:
        image: uint8 (3, H, W).
        boxes: (N, 4) xyxy in pixels of ``image``.
        texts: N labels.
        colours: N RGB colours (0-255), the patches; the text is black or white, whichever reads better.
        font_path: a TrueType font file.
        font_size: in pixels.
        occupied: optional (H, W) bool map of pixels the labels should rather not cover (see
            :func:`place_labels`).

    Returns:
        uint8 (3, H, W) copy with the labels.
    """
    pic = Image.fromarray(image.permute(1, 2, 0).contiguous().numpy())
    draw = ImageDraw.Draw(pic)
    font = ImageFont.truetype(font_path, font_size)
    pad = 1
    sizes = []
    for text in texts:
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        sizes.append((right - left + 2 * pad, bottom - top + 2 * pad))
    covered = None if occupied is None else occupied.detach().cpu().numpy()
    rects = place_labels(boxes.tolist(), sizes, pic.width, pic.height, covered)
    for text, colour, rect in zip(texts, colours, rects):
        draw.rectangle(rect, fill=tuple(colour))
        left, top, _, _ = draw.textbbox((0, 0), text, font=font)
        draw.text((rect[0] + pad - left, rect[1] + pad - top), text, fill=text_colour(tuple(colour)), font=font)
    return torch.from_numpy(np.asarray(pic).copy()).permute(2, 0, 1).contiguous()
