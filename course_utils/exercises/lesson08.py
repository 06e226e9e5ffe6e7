"""Checks of lesson 08's mini assignments: assembling YOLACT masks, Fast NMS."""

from __future__ import annotations

import torch

from .core import Case, exercise


@exercise("assemble_masks", lesson="08",
          hint="masks = sigmoid(coefficients @ prototypes.reshape(k, H * W)).reshape(N, H, W); then keep a pixel only "
               "when its centre (x + 0.5, y + 0.5) lies in [x1, x2) x [y1, y2) of the object's box; rows are y, "
               "columns are x.")
def assemble_masks_cases(gen: torch.Generator) -> list[Case]:
    """Cases for assemble_masks(prototypes (k, H, W), coefficients (N, k), boxes (N, 4)) -> (N, H, W)."""
    protos = torch.rand(4, 12, 16, generator=gen)
    coef = torch.rand(3, 4, generator=gen) * 2 - 1
    boxes = torch.tensor([[1.0, 2.0, 9.0, 10.0], [4.0, 0.0, 16.0, 6.0], [0.0, 0.0, 16.0, 12.0]])
    return [
        Case("3 objects, 4 prototypes of 12x16", args=(protos, coef, boxes)),
        Case("a box wider than tall (x and y must not be swapped)",
             args=(protos, coef[:1], torch.tensor([[2.0, 4.0, 15.0, 7.0]])),
             hint="A mask is indexed [y, x]: the box's x1, x2 limit the COLUMNS, y1, y2 the ROWS."),
        Case("fractional box corners (a pixel is in when its centre is)",
             args=(protos, coef[:2], torch.tensor([[2.4, 1.6, 7.5, 8.5], [0.2, 0.7, 3.4, 11.5]])),
             hint="Compare the pixel centres x + 0.5 with x1 (>=) and x2 (<): do not round the box."),
        Case("the whole image as the box: no crop, only the sigmoid",
             args=(protos, coef[:1], torch.tensor([[0.0, 0.0, 16.0, 12.0]])),
             hint="Apply torch.sigmoid to the combination: masks are probabilities in (0, 1)."),
        Case("a box outside the image: an empty mask",
             args=(protos, coef[:1], torch.tensor([[20.0, 20.0, 30.0, 30.0]]))),
        Case("no objects: a (0, H, W) result",
             args=(protos, torch.zeros(0, 4), torch.zeros(0, 4)),
             hint="With N = 0 return torch.zeros(0, H, W) (the matrix product already gives that shape)."),
        Case("one prototype (k = 1)",
             args=(protos[:1], coef[:, :1], boxes)),
        Case("negative coefficients subtract a prototype",
             args=(protos[:2], torch.tensor([[3.0, -3.0]]), torch.tensor([[0.0, 0.0, 16.0, 12.0]]))),
        Case("float64 prototypes stay float64",
             args=(protos.double(), coef.double(), boxes.double()),
             hint="Compute in the dtype of the prototypes."),
        Case("coefficients that do not match the number of prototypes raise ValueError",
             args=(protos, torch.rand(2, 3, generator=gen), boxes[:2]), expect_error=ValueError,
             hint="Check coefficients.shape[1] == prototypes.shape[0] and raise ValueError otherwise."),
    ]


def _chain(n: int, step: float) -> torch.Tensor:
    """n 10x10 boxes, each shifted right by ``step`` from the previous one."""
    x = torch.arange(n, dtype=torch.float32) * step
    return torch.stack([x, torch.zeros(n), x + 10, torch.full((n,), 10.0)], 1)


@exercise("fast_nms", lesson="08",
          hint="Sort by score (highest first), compute the IoU of every pair of the sorted boxes, keep the part "
               "above the diagonal (iou.triu(diagonal=1): box i scored higher than box j), take the max of each "
               "column and keep the boxes whose max is <= iou_threshold; return their ORIGINAL indices.")
def fast_nms_cases(gen: torch.Generator) -> list[Case]:
    """Boxes with chains, ties and empty sets for fast_nms(boxes (N, 4), scores (N,), iou_threshold) -> (K,) int64."""
    xy = torch.rand(12, 2, generator=gen) * 40
    boxes = torch.cat([xy, xy + 8 + torch.rand(12, 2, generator=gen) * 12], 1)
    scores = torch.rand(12, generator=gen)
    return [
        Case("12 random boxes, threshold 0.5", args=(boxes, scores, 0.5)),
        Case("the same boxes, threshold 0.2 (more removed)", args=(boxes, scores, 0.2)),
        Case("a chain a-b-c: b overlaps both, a and c do not overlap; Fast NMS removes c too",
             args=(_chain(3, 4.0), torch.tensor([0.9, 0.8, 0.7]), 0.3),
             hint="This is where Fast NMS differs from greedy NMS: c is removed by b even though b itself is "
                  "removed. Do not loop and skip removed boxes: use the max over ALL higher-scoring boxes."),
        Case("boxes not given in score order: return original indices, highest score first",
             args=(_chain(4, 12.0), torch.tensor([0.2, 0.9, 0.5, 0.7]), 0.5),
             hint="Return order[keep], not keep: indices into the boxes as given, sorted by falling score."),
        Case("an IoU exactly at the threshold is kept",
             args=(torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 5.0]]), torch.tensor([0.9, 0.8]), 0.5),
             hint="Remove a box only when its IoU is ABOVE the threshold (keep iou <= iou_threshold)."),
        Case("one box", args=(torch.tensor([[1.0, 2.0, 5.0, 9.0]]), torch.tensor([0.3]), 0.5)),
        Case("no boxes at all", args=(torch.zeros(0, 4), torch.zeros(0), 0.5),
             hint="Return an empty int64 tensor (torch.zeros(0, dtype=torch.long))."),
        Case("two identical boxes: the higher score survives",
             args=(torch.tensor([[3.0, 3.0, 9.0, 9.0]] * 2), torch.tensor([0.4, 0.6]), 0.5),
             hint="A box must not suppress itself: only pairs above the diagonal count (triu with diagonal=1)."),
        Case("boxes that do not touch are all kept", args=(_chain(5, 20.0), torch.rand(5, generator=gen), 0.5)),
    ]
