"""Lesson 08's checks accept the references and reject typical wrong solutions; the references agree with the model."""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import nms

from course_utils import exercises, solutions
from course_utils.models.yolact_parts import assemble_logits, box_region
from course_utils.models.yolact_parts import fast_nms as model_fast_nms

NAMES = ["assemble_masks", "fast_nms"]


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes(name, check_exercise):
    assert name in exercises.NAMES
    assert exercises.lesson_of(name) == "08"
    assert check_exercise(name, getattr(solutions, name))


@pytest.mark.parametrize("name", NAMES)
def test_stub_reports_not_attempted(name, capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError

    assert not exercises.check(name, stub)
    assert "not attempted" in capsys.readouterr().out


def test_assemble_masks_reference_matches_the_model():
    g = torch.Generator().manual_seed(0)
    protos, coef = torch.rand(6, 32, 32, generator=g), torch.randn(5, 6, generator=g)
    xy = torch.rand(5, 2, generator=g) * 20
    boxes = torch.cat([xy, xy + 4 + torch.rand(5, 2, generator=g) * 10], 1)
    model = torch.sigmoid(assemble_logits(protos, coef, (32, 32))) * box_region(boxes, 32, 32)
    torch.testing.assert_close(solutions.assemble_masks(protos, coef, boxes), model)


def test_fast_nms_reference_matches_the_model_and_is_a_subset_of_greedy():
    g = torch.Generator().manual_seed(3)
    for _ in range(20):
        xy = torch.rand(30, 2, generator=g) * 50
        boxes = torch.cat([xy, xy + 6 + torch.rand(30, 2, generator=g) * 20], 1)
        scores = torch.rand(30, generator=g)
        ref = solutions.fast_nms(boxes, scores, 0.4)
        assert torch.equal(ref, model_fast_nms(boxes, scores, torch.ones(30, dtype=torch.long), 0.4))
        assert set(ref.tolist()) <= set(nms(boxes, scores, 0.4).tolist())


def _no_sigmoid(prototypes, coefficients, boxes):
    return solutions.assemble_masks(prototypes, coefficients, boxes).clamp(min=1e-6).logit()


def _swapped_axes(prototypes, coefficients, boxes):
    return solutions.assemble_masks(prototypes, coefficients, boxes[:, [1, 0, 3, 2]])


def _rounded_box(prototypes, coefficients, boxes):
    return solutions.assemble_masks(prototypes, coefficients, boxes.round())


def _greedy(boxes, scores, iou_threshold=0.5):
    return nms(boxes, scores, iou_threshold) if len(boxes) else torch.zeros(0, dtype=torch.long)


def _sorted_positions(boxes, scores, iou_threshold=0.5):
    order = torch.argsort(scores, descending=True)
    keep = solutions.fast_nms(boxes, scores, iou_threshold)
    return torch.nonzero(torch.isin(order, keep))[:, 0]  # positions in the sorted list, not original indices


def _diagonal_included(boxes, scores, iou_threshold=0.5):
    order = torch.argsort(scores, descending=True)
    from torchvision.ops import box_iou
    iou = box_iou(boxes[order], boxes[order]).triu() if len(boxes) else torch.zeros(0, 0)
    return order[iou.max(0).values <= iou_threshold] if len(boxes) else torch.zeros(0, dtype=torch.long)


@pytest.mark.parametrize("wrong", [_no_sigmoid, _swapped_axes, _rounded_box])
def test_assemble_masks_rejects_typical_mistakes(wrong):
    assert not exercises.check("assemble_masks", wrong, verbose=False)


@pytest.mark.parametrize("wrong", [_greedy, _sorted_positions, _diagonal_included])
def test_fast_nms_rejects_typical_mistakes(wrong):
    assert not exercises.check("fast_nms", wrong, verbose=False)
