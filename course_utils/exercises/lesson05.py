"""Checks of lesson 05's mini assignments: masks_to_boxes and mask_iou."""

from __future__ import annotations

import torch

from ..data.shapes import make_scene
from .core import Case, exercise


def _blank(n: int, h: int = 6, w: int = 8) -> torch.Tensor:
    return torch.zeros(n, h, w, dtype=torch.bool)


@exercise("masks_to_boxes", lesson="05",
          hint="For each mask: the rows that contain a True pixel (mask.any(dim=1)) give y1 (first) and y2 (last + 1); "
               "the columns (mask.any(dim=0)) give x1 and x2. Return float32 (N, 4); an empty mask gets (0, 0, 0, 0).")
def masks_to_boxes_cases(gen: torch.Generator) -> list[Case]:
    """Scene, single-pixel, full, border, wide/tall, empty and multi-part masks for masks_to_boxes(masks)."""
    scene = make_scene(1, 9)
    pixel = _blank(1)
    pixel[0, 2, 5] = True
    wide = _blank(1)
    wide[0, 1, 1:7] = True  # one row, six columns
    tall = _blank(1)
    tall[0, 0:5, 6] = True  # five rows, one column
    parts = _blank(1)
    parts[0, 0, 0] = parts[0, 4, 6] = True  # two separate pixels: one box around both
    one_empty = _blank(2)
    one_empty[1, 2:4, 3:5] = True
    return [
        Case("the five objects of a scene", args=(scene["masks"],)),
        Case("a single pixel at row 2, column 5: box (5, 2, 6, 3)", args=(pixel,),
             hint="x2 and y2 are the last column and row + 1, so a single pixel is a 1 x 1 box: (5, 2, 6, 3)."),
        Case("a mask covering the whole image", args=(torch.ones(1, 6, 8, dtype=torch.bool),)),
        Case("a wide mask: one row, six columns", args=(wide,),
             hint="x comes from the columns (dim=1 of a (H, W) mask is the column index), y from the rows."),
        Case("a tall mask touching the right border", args=(tall,)),
        Case("a mask in two separate parts: one box around both", args=(parts,)),
        Case("an empty mask next to a normal one", args=(one_empty,),
             hint="An empty mask has no first row: give it the box (0, 0, 0, 0) instead of failing."),
        Case("0/1 uint8 masks instead of bool", args=(scene["masks"].to(torch.uint8),)),
        Case("no masks at all: shape (0, 4)", args=(_blank(0),),
             hint="torch.zeros(0, 4) for zero masks."),
    ]


@exercise("mask_iou", lesson="05",
          hint="Flatten each mask to a row of 0/1 floats; intersection = a @ b.T; union = area_a[:, None] + "
               "area_b[None, :] - intersection; IoU = intersection / union, and 0 where the union is 0.")
def mask_iou_cases(gen: torch.Generator) -> list[Case]:
    """Scene, random, identical, disjoint, empty and shape edge cases for mask_iou(masks1, masks2)."""
    scene = make_scene(1, 9)
    rand_a = torch.rand(3, 10, 12, generator=gen) > 0.5
    rand_b = torch.rand(4, 10, 12, generator=gen) > 0.6
    left, right = _blank(1), _blank(1)
    left[0, :, :4] = True
    right[0, :, 4:] = True
    half = _blank(1)
    half[0, :, :2] = True
    return [
        Case("the scene's masks against themselves", args=(scene["masks"], scene["masks"])),
        Case("3 random masks against 4 random masks", args=(rand_a, rand_b)),
        Case("a mask against half of itself (IoU 0.5)", args=(left, half)),
        Case("two masks that do not overlap (IoU 0)", args=(left, right)),
        Case("an empty mask against an empty mask (IoU 0, not NaN)", args=(_blank(1), _blank(1)),
             hint="When the union is 0 there is nothing to compare: return 0 there instead of 0 / 0 = NaN."),
        Case("an empty mask against a normal one", args=(_blank(1), left)),
        Case("0/1 uint8 masks", args=(rand_a.to(torch.uint8), rand_b.to(torch.uint8)),
             hint="Convert to float before multiplying: uint8 arithmetic overflows above 255."),
        Case("no masks on the left: shape (0, 4)", args=(_blank(0, 10, 12), rand_b)),
    ]
