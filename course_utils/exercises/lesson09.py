"""Lesson 09 checks: ``pq_single_image``, panoptic quality of one image."""

from __future__ import annotations

import torch

from ..data import make_scene
from .core import Case, exercise

_HINT = ("Per class: a predicted and a true segment match when IoU > 0.5, with the union counted over "
         "non-void ground-truth pixels only; unmatched predictions lying more than half on void are not "
         "false positives. PQ_c = sum(IoU) / (TP + FP/2 + FN/2), then average over the classes that occur.")


def _partition(gen: torch.Generator, size: int, seeds: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Nearest-seed partition (size, size) int64 of the grid into ``ids`` (one per seed (K, 2))."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    d = (yy[None] - seeds[:, 0, None, None]) ** 2 + (xx[None] - seeds[:, 1, None, None]) ** 2  # (K, H, W)
    return ids[d.argmin(0)]


def _random_pair(gen: torch.Generator, size: int = 16, void: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """A random ground-truth map and an imperfect prediction of it (moved borders, class flips, extras)."""
    k = int(torch.randint(2, 7, (1,), generator=gen))
    seeds = torch.rand(k, 2, generator=gen) * size
    classes = torch.randint(1, 7, (k,), generator=gen)
    gt = _partition(gen, size, seeds, classes * 1000 + torch.arange(1, k + 1))
    moved = seeds + torch.randn(k, 2, generator=gen) * 2.0
    flip = torch.rand(k, generator=gen) < 0.2
    pclasses = torch.where(flip, torch.randint(1, 7, (k,), generator=gen), classes)
    extra = torch.rand(1, 2, generator=gen) * size
    pred = _partition(gen, size, torch.cat([moved, extra]),
                      torch.cat([pclasses, torch.randint(1, 7, (1,), generator=gen)]) * 1000 + torch.arange(1, k + 2))
    if void:
        y, x = torch.randint(0, size - 4, (2,), generator=gen).tolist()
        gt[y:y + 4, x:x + 5] = 0
    return pred, gt


def _scene_cases() -> list[Case]:
    """Cases built from real shapes-world scenes."""
    s = make_scene(1, 4)
    gt = s["panoptic"]
    renumbered = gt.clone()
    renumbered[gt >= 4000] += 10
    missing = gt.clone()
    first = int(s["segments"][-1]["id"])
    missing[gt == first] = int(s["segments"][0]["id"])  # an object swallowed by a stuff segment
    shifted = torch.roll(gt, shifts=(2, 1), dims=(0, 1))
    return [
        Case("a perfect prediction of a shapes scene (PQ must be 1)", args=(gt.clone(), gt.clone())),
        Case("the same scene with other instance numbers (ids differ, segments are the same)",
             args=(renumbered, gt.clone()), hint="Match segments by class and pixels, never by their id numbers."),
        Case("one object missed, its pixels given to a stuff segment", args=(missing, gt.clone())),
        Case("the whole prediction shifted by (2, 1) pixels", args=(shifted, gt.clone())),
    ]


@exercise("pq_single_image", lesson="09", hint=_HINT)
def pq_single_image_cases(gen: torch.Generator) -> list[Case]:
    """Shapes scenes, random maps with void, hand-made void and threshold cases, bad inputs."""
    cases = _scene_cases()

    gt = torch.zeros(4, 10, dtype=torch.int64)
    gt[:, :5] = 1000
    pred = torch.zeros_like(gt)
    pred[:, :7] = 1000  # spills 8 pixels onto void: IoU still 1
    cases.append(Case("a sky prediction spilling onto void ground truth (void pixels are ignored)",
                      args=(pred.clone(), gt.clone()),
                      hint="Leave predicted pixels that lie on void ground truth out of the union."))
    pred[:, 7:] = 4001  # a circle entirely on void
    cases.append(Case("a predicted circle lying entirely on void (not a false positive)", args=(pred, gt.clone()),
                      hint="An unmatched prediction more than half on void is ignored, not counted as FP."))

    half = torch.full((2, 4), 2000)
    half_pred = torch.full((2, 4), 3000)
    half_pred[:, :2] = 2000
    cases.append(Case("IoU exactly 0.5: not a match (the rule is IoU > 0.5)", args=(half_pred, half),
                      hint="Use a strict '>' for the 0.5 threshold."))
    cls = torch.full((4, 4), 1000)
    cls_pred = cls.clone()
    cls_pred[:2] = 2000
    cases.append(Case("half the sky predicted as grass: one class scores, another only has a false positive",
                      args=(cls_pred, cls), hint="Average PQ over every class with TP + FP + FN > 0."))
    two = torch.full((4, 8), 1000)
    two[:, 4:] = 4001
    same_pix = two.clone()
    same_pix[:, 4:] = 5001
    cases.append(Case("right pixels, wrong class: a square predicted where a circle is", args=(same_pix, two),
                      hint="Only segments of the same class (id // 1000) can match."))
    for i in range(6):  # after the hand-made cases, so a mistake meets its targeted hint first
        pred, gt = _random_pair(gen, void=i % 2 == 0)
        cases.append(Case(f"random 16x16 maps #{i + 1}" + (" with a void block in the ground truth" if i % 2 == 0
                                                            else ""), args=(pred, gt)))
    cases.append(Case("int32 maps", args=(two.to(torch.int32), two.to(torch.int32))))
    cases.append(Case("maps of different shapes", args=(torch.zeros(3, 3, dtype=torch.int64),
                                                       torch.zeros(3, 4, dtype=torch.int64)),
                      expect_error=ValueError, hint="Raise ValueError when the shapes differ."))
    cases.append(Case("empty maps (no pixels)", args=(torch.zeros(0, 0, dtype=torch.int64),) * 2,
                      expect_error=ValueError, hint="Raise ValueError when the maps have no pixels."))
    return cases
