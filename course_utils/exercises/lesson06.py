"""Checks of lesson 06's mini assignments: box IoU, NMS, box encoding/decoding and AP."""

from __future__ import annotations

import torch

from .core import Case, exercise


def _random_boxes(gen: torch.Generator, n: int, extent: float = 60.0, max_side: float = 30.0) -> torch.Tensor:
    """(n, 4) float32 xyxy boxes with positive sides inside [0, extent + max_side]."""
    xy = torch.rand(n, 2, generator=gen) * extent
    wh = 2 + torch.rand(n, 2, generator=gen) * max_side
    return torch.cat([xy, xy + wh], dim=1)


def _boxes(*rows: tuple[float, float, float, float], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A (len(rows), 4) box tensor from literal rows."""
    return torch.tensor(rows, dtype=dtype).reshape(-1, 4)


@exercise("box_iou", lesson="06",
          hint="Intersection corners: max of the top-left corners, min of the bottom-right corners; clamp the "
               "intersection's width and height at 0; union = area1 + area2 - intersection. Broadcast "
               "boxes1[:, None] against boxes2[None] to get an (N, M) table.")
def box_iou_cases(gen: torch.Generator) -> list[Case]:
    """Random, nested, disjoint, touching, wide/tall and empty box sets for box_iou(boxes1, boxes2) -> (N, M)."""
    return [
        Case("5 random boxes against 7 random boxes", args=(_random_boxes(gen, 5), _random_boxes(gen, 7))),
        Case("a box against itself (IoU 1)", args=(_boxes((2, 3, 12, 9)), _boxes((2, 3, 12, 9)))),
        Case("one box inside another", args=(_boxes((0, 0, 20, 20)), _boxes((5, 5, 10, 10)))),
        Case("two boxes far apart (IoU 0)", args=(_boxes((0, 0, 10, 10)), _boxes((30, 40, 50, 60))),
             hint="With no overlap, both the intersection's width and height come out negative, and their product "
                  "is positive! Clamp each at 0 before multiplying."),
        Case("boxes side by side: they overlap in y but not in x (IoU 0)",
             args=(_boxes((0, 0, 10, 10)), _boxes((15, 2, 25, 8))),
             hint="Clamp the intersection's width at 0: here it is negative while the height is positive."),
        Case("boxes sharing an edge (IoU 0)", args=(_boxes((0, 0, 10, 10)), _boxes((10, 0, 20, 10)))),
        Case("a wide box against a tall box", args=(_boxes((0, 10, 40, 20)), _boxes((15, 0, 25, 40))),
             hint="Columns 0 and 2 are x, columns 1 and 3 are y: boxes are (x1, y1, x2, y2)."),
        Case("a zero-width box (a line) against a normal box", args=(_boxes((5, 0, 5, 10)), _boxes((0, 0, 10, 10)))),
        Case("no boxes on the left: the result is (0, 3)", args=(torch.zeros(0, 4), _random_boxes(gen, 3))),
        Case("float64 boxes keep float64", args=(_random_boxes(gen, 3).double(), _random_boxes(gen, 4).double()),
             hint="Do not convert to float32: compute in the dtype you are given."),
    ]


@exercise("nms", lesson="06",
          hint="Sort by score, best first (torch.sort(..., descending=True, stable=True)); walk down the list; keep a "
               "box unless a box you already KEPT overlaps it with IoU > iou_threshold.")
def nms_cases(gen: torch.Generator) -> list[Case]:
    """Random, duplicate-heavy, tied, chained and edge cases for nms(boxes, scores, iou_threshold) -> (K,) int64."""
    centres = _random_boxes(gen, 4, extent=80, max_side=25)
    dup = centres.repeat_interleave(5, 0) + 3 * torch.randn(20, 4, generator=gen)  # five noisy copies per object
    dup = torch.cat([dup[:, :2], torch.maximum(dup[:, 2:], dup[:, :2] + 1)], dim=1)
    return [
        Case("20 random boxes, threshold 0.5", args=(_random_boxes(gen, 20), torch.rand(20, generator=gen), 0.5)),
        Case("5 noisy copies of each of 4 objects, threshold 0.5", args=(dup, torch.rand(20, generator=gen), 0.5)),
        Case("the same boxes at threshold 0.3", args=(dup, torch.rand(20, generator=gen), 0.3)),
        Case("a chain: A overlaps B, B overlaps C, A does not overlap C",
             args=(_boxes((0, 0, 10, 10), (4, 0, 14, 10), (8, 0, 18, 10)), torch.tensor([0.9, 0.8, 0.7]), 0.3),
             hint="Only boxes you KEEP suppress others: B is removed by A, so B cannot remove C."),
        Case("IoU exactly at the threshold is kept (suppress only when IoU > threshold)",
             args=(_boxes((0, 0, 10, 10), (0, 0, 10, 5)), torch.tensor([0.9, 0.8]), 0.5),
             hint="torchvision suppresses a box when IoU > iou_threshold, not >=."),
        Case("scores given in increasing order", args=(_boxes((0, 0, 10, 10), (1, 1, 11, 11), (30, 30, 40, 40)),
                                                        torch.tensor([0.2, 0.5, 0.9]), 0.5),
             hint="Visit boxes from the HIGHEST score down, and return the kept indices in that order."),
        Case("tied scores: the earlier box wins", args=(_boxes((0, 0, 10, 10), (1, 0, 11, 10), (50, 50, 60, 60)),
                                                        torch.tensor([0.7, 0.7, 0.7]), 0.5),
             hint="Use a stable sort (torch.sort(scores, descending=True, stable=True)) so ties keep input order."),
        Case("threshold 1.0 keeps every box", args=(dup[:6], torch.rand(6, generator=gen), 1.0)),
        Case("no boxes at all", args=(torch.zeros(0, 4), torch.zeros(0), 0.5),
             hint="Return an empty int64 tensor: torch.tensor([], dtype=torch.int64)."),
    ]


def _anchor_pairs(gen: torch.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 4) boxes and (n, 4) anchors near them, of different shapes."""
    anchors = _random_boxes(gen, n)
    boxes = anchors + torch.randn(n, 4, generator=gen) * 4
    boxes = torch.cat([boxes[:, :2], torch.maximum(boxes[:, 2:], boxes[:, :2] + 1)], dim=1)
    return boxes, anchors


@exercise("encode_boxes", lesson="06",
          hint="Convert both to centre form (cx, cy, w, h); dx = (gx - ax) / aw, dy = (gy - ay) / ah, "
               "dw = log(gw / aw), dh = log(gh / ah).")
def encode_boxes_cases(gen: torch.Generator) -> list[Case]:
    """Random, identical, scaled, wide/tall and empty inputs for encode_boxes(boxes, anchors) -> (N, 4)."""
    boxes, anchors = _anchor_pairs(gen, 8)
    return [
        Case("8 boxes with an anchor each", args=(boxes, anchors)),
        Case("a box equal to its anchor gives zero offsets", args=(_boxes((4, 6, 20, 30)), _boxes((4, 6, 20, 30)))),
        Case("a box twice the anchor's size, same centre", args=(_boxes((0, 0, 40, 20)), _boxes((10, 5, 30, 15))),
             hint="dw = log(gw / aw) = log(2) here, not gw / aw and not log(aw / gw)."),
        Case("a box shifted right by half the anchor's width", args=(_boxes((15, 0, 45, 10)), _boxes((0, 0, 30, 10))),
             hint="dx is measured from centre to centre, in units of the ANCHOR's width."),
        Case("a wide anchor and a tall box", args=(_boxes((10, 0, 20, 40)), _boxes((0, 15, 40, 25))),
             hint="dx uses the width (x2 - x1), dy the height (y2 - y1)."),
        Case("no boxes at all", args=(torch.zeros(0, 4), torch.zeros(0, 4))),
        Case("float64 inputs keep float64", args=(boxes[:3].double(), anchors[:3].double())),
    ]


@exercise("decode_boxes", lesson="06",
          hint="Anchor to centre form; cx = ax + dx * aw, cy = ay + dy * ah, w = aw * exp(dw), h = ah * exp(dh) "
               "(clamp dw and dh at log(1000 / 16) first); then back to (x1, y1, x2, y2).")
def decode_boxes_cases(gen: torch.Generator) -> list[Case]:
    """Random, zero, round-trip, clamped and empty inputs for decode_boxes(deltas, anchors) -> (N, 4)."""
    boxes, anchors = _anchor_pairs(gen, 8)
    deltas = torch.randn(8, 4, generator=gen) * 0.3
    from ..models.box_coding import encode_boxes  # the round trip: decoding the package's encoding gives the boxes back

    return [
        Case("8 anchors with random offsets", args=(deltas, anchors)),
        Case("zero offsets give the anchors back", args=(torch.zeros(3, 4), anchors[:3])),
        Case("decoding encode_boxes(boxes, anchors) gives the boxes back",
             args=(encode_boxes(boxes, anchors), anchors)),
        Case("dx = 1 moves the centre by one anchor width",
             args=(torch.tensor([[1.0, 0, 0, 0]]), _boxes((0, 0, 20, 10)))),
        Case("a wild dw = 10 is clamped at log(1000 / 16) before exp",
             args=(torch.tensor([[0.0, 0, 10.0, -1.0]]), _boxes((0, 0, 16, 16))),
             hint="dw = dw.clamp(max=math.log(1000 / 16)) (same for dh) before torch.exp."),
        Case("no boxes at all", args=(torch.zeros(0, 4), torch.zeros(0, 4))),
    ]


def _detections(gen: torch.Generator, n: int, p_tp: float = 0.6) -> tuple[torch.Tensor, torch.Tensor]:
    """(n,) random scores and (n,) bool true-positive flags."""
    return torch.rand(n, generator=gen), torch.rand(n, generator=gen) < p_tp


@exercise("average_precision", lesson="06",
          hint="Sort by score (best first, stable); cumulative TP and FP; precision = TP / (TP + FP), recall = TP / "
               "num_gt; make precision non-increasing from the right; at each recall level r in "
               "torch.linspace(0, 1, 101) take the precision of the first detection whose recall >= r (0 if none); "
               "average the 101 values.")
def average_precision_cases(gen: torch.Generator) -> list[Case]:
    """Random, perfect, empty, tied, low-recall and invalid inputs for average_precision(scores, is_tp, num_gt)."""
    scores, is_tp = _detections(gen, 30)
    many_scores, many_tp = _detections(gen, 200, 0.4)
    return [
        Case("30 detections, 25 objects", args=(scores, is_tp, 25)),
        Case("200 detections, 90 objects", args=(many_scores, many_tp, int(many_tp.sum()) + 10)),
        Case("scores in increasing order", args=(torch.tensor([0.1, 0.2, 0.3, 0.4]),
                                                 torch.tensor([False, True, True, False]), 2),
             hint="Sort detections by score, highest first, before accumulating."),
        Case("every detection right and every object found (AP 1)", args=(torch.tensor([0.9, 0.8, 0.7]),
                                                                         torch.tensor([True, True, True]), 3)),
        Case("a false positive on top, then all objects", args=(torch.tensor([0.95, 0.9, 0.8, 0.7]),
                                                                torch.tensor([False, True, True, True]), 3),
             hint="Interpolate: at every recall level use the BEST precision reached at that recall or beyond."),
        Case("half of the objects never found", args=(torch.tensor([0.9, 0.8, 0.7]),
                                                      torch.tensor([True, True, False]), 4),
             hint="Divide by num_gt, not by the number of true positives; unreached recall levels count as 0."),
        Case("tied scores keep their input order", args=(torch.tensor([0.9, 0.5, 0.5, 0.5, 0.2]),
                                                          torch.tensor([True, False, False, True, True]), 4),
             hint="Use a stable sort (torch.sort(..., descending=True, stable=True)), as COCO does."),
        Case("no detections at all (AP 0)", args=(torch.zeros(0), torch.zeros(0, dtype=torch.bool), 5)),
        Case("no objects: AP is undefined", args=(torch.tensor([0.5]), torch.tensor([False]), 0),
             expect_error=ValueError, hint="raise ValueError when num_gt <= 0: AP has no meaning without objects."),
    ]
