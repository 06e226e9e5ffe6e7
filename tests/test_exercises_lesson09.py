"""Lesson 09's check accepts the reference PQ and rejects typical wrong ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils import exercises, solutions
from course_utils.exercises.lesson09 import _random_pair
from course_utils.metrics.panoptic import pq_image_stats


def make_pq(match_ge: bool = False, void_in_union: bool = False, void_fp: bool = False, ignore_class: bool = False,
            pool_classes: bool = False, sq_only: bool = False, no_checks: bool = False):
    """A PQ with one typical mistake switched on (all off gives a correct one)."""

    def pq(pred: torch.Tensor, gt: torch.Tensor) -> float:
        if not no_checks and (pred.shape != gt.shape or gt.numel() == 0):
            raise ValueError("bad maps")
        pred, gt = pred.long(), gt.long()
        valid = gt != 0
        stats: dict[int, list[float]] = {}
        matched = set()
        for g in [int(i) for i in gt.unique() if i != 0]:
            c = g // 1000
            row = stats.setdefault(c, [0, 0, 0, 0.0])
            hit = False
            for p in [int(i) for i in pred.unique() if i != 0]:
                if not ignore_class and p // 1000 != c:
                    continue
                inter = int(((gt == g) & (pred == p)).sum())
                union_mask = (gt == g) | (pred == p)
                union = int(union_mask.sum() if void_in_union else (union_mask & valid).sum())
                iou = inter / union if union else 0.0
                if inter and (iou >= 0.5 if match_ge else iou > 0.5):
                    row[0] += 1
                    row[3] += iou
                    matched.add(p)
                    hit = True
                    break
            if not hit:
                row[2] += 1
        for p in [int(i) for i in pred.unique() if i != 0]:
            if p in matched:
                continue
            pm = pred == p
            if not void_fp and int((pm & ~valid).sum()) > 0.5 * int(pm.sum()):
                continue
            stats.setdefault(p // 1000, [0, 0, 0, 0.0])[1] += 1
        if not stats:
            return 0.0
        if pool_classes:
            tp, fp, fn, iou = (sum(r[k] for r in stats.values()) for k in range(4))
            return iou / (tp + fp / 2 + fn / 2)
        if sq_only:
            return float(np.mean([r[3] / r[0] if r[0] else 0.0 for r in stats.values()]))
        return float(np.mean([r[3] / (r[0] + r[1] / 2 + r[2] / 2) for r in stats.values()]))

    return pq


def test_reference_passes() -> None:
    assert exercises.check("pq_single_image", solutions.pq_single_image, verbose=False)


def test_correct_independent_solution_passes() -> None:
    assert exercises.check("pq_single_image", make_pq(), verbose=False)


@pytest.mark.parametrize("mistake", ["match_ge", "void_in_union", "void_fp", "ignore_class", "pool_classes",
                                     "sq_only", "no_checks"])
def test_typical_mistakes_are_rejected(mistake: str) -> None:
    assert not exercises.check("pq_single_image", make_pq(**{mistake: True}), verbose=False)


def test_stub_is_not_attempted(capsys: pytest.CaptureFixture) -> None:
    def stub(pred, gt):
        raise NotImplementedError

    assert not exercises.check("pq_single_image", stub)
    assert "not attempted" in capsys.readouterr().out


@pytest.mark.parametrize("seed", range(20))
def test_reference_agrees_with_course_metric(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    pred, gt = _random_pair(gen)
    assert solutions.pq_single_image(pred, gt) == pytest.approx(pq_image_stats(pred, gt).average()["pq"], abs=1e-12)
