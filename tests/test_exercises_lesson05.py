"""Lesson 05's checks accept the references and reject typical wrong solutions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from pycocotools import mask as mask_utils

from course_utils import exercises, solutions
from course_utils.data import make_scene


@pytest.mark.parametrize("name", ["masks_to_boxes", "mask_iou"])
def test_reference_passes(name, check_exercise):
    assert name in exercises.NAMES
    assert check_exercise(name, getattr(solutions, name))


def test_masks_to_boxes_matches_scenes_and_torchvision():
    for index in range(10):
        scene = make_scene(1, index)
        ours = solutions.masks_to_boxes(scene["masks"])
        assert torch.equal(ours, scene["boxes"])  # the scenes' own pixel-edge boxes
        tv = torchvision.ops.masks_to_boxes(scene["masks"]) + torch.tensor([0.0, 0.0, 1.0, 1.0])
        assert torch.equal(ours, tv)


def test_mask_iou_matches_pycocotools():
    a, b = make_scene(1, 3)["masks"], make_scene(1, 4)["masks"]
    b = torch.cat([b, a[:1]])  # one identical pair too
    rle = lambda m: mask_utils.encode(np.asfortranarray(m.numpy().transpose(1, 2, 0).astype(np.uint8)))  # noqa: E731
    expected = mask_utils.iou(rle(a), rle(b), [0] * len(b))
    np.testing.assert_allclose(solutions.mask_iou(a, b).numpy(), expected, atol=1e-6)


# ---- masks_to_boxes --------------------------------------------------------------------------

def boxes_variant(plus_one=True, swap=False, guard_empty=True, as_float=True):
    def masks_to_boxes(masks):
        out = []
        for m in masks.bool():
            rows, cols = torch.nonzero(m.any(1)).flatten(), torch.nonzero(m.any(0)).flatten()
            if swap:
                rows, cols = cols, rows
            if len(rows) == 0:
                if guard_empty:
                    out.append([0, 0, 0, 0])
                    continue
                rows = cols = torch.tensor([0])
            e = 1 if plus_one else 0
            out.append([int(cols[0]), int(rows[0]), int(cols[-1]) + e, int(rows[-1]) + e])
        return torch.tensor(out, dtype=torch.float32 if as_float else torch.int64).reshape(-1, 4)
    return masks_to_boxes


def test_boxes_variant_harness_is_right(check_exercise):
    assert check_exercise("masks_to_boxes", boxes_variant())


@pytest.mark.parametrize("wrong", [dict(plus_one=False), dict(swap=True), dict(guard_empty=False),
                                   dict(as_float=False)])
def test_masks_to_boxes_rejects(wrong, check_exercise):
    assert not check_exercise("masks_to_boxes", boxes_variant(**wrong))


def test_masks_to_boxes_rejects_torchvision_as_is(check_exercise):
    # torchvision's masks_to_boxes gives the last row/column, not last + 1: an off-by-one here
    assert not check_exercise("masks_to_boxes", lambda m: torchvision.ops.masks_to_boxes(m.bool()))


# ---- mask_iou --------------------------------------------------------------------------------

def iou_variant(guard=True, subtract=True, transpose=False, dtype=torch.float32):
    def mask_iou(m1, m2):
        a, b = m1.flatten(1).double(), m2.flatten(1).double()
        inter = a @ b.T
        union = a.sum(1)[:, None] + b.sum(1)[None, :] - (inter if subtract else 0)
        iou = inter / union
        if guard:
            iou = torch.where(union > 0, iou, torch.zeros_like(iou))
        iou = iou.T if transpose else iou
        return iou.to(dtype)
    return mask_iou


def test_iou_variant_harness_is_right(check_exercise):
    assert check_exercise("mask_iou", iou_variant())


@pytest.mark.parametrize("wrong", [dict(guard=False), dict(subtract=False), dict(transpose=True),
                                   dict(dtype=torch.float64)])
def test_mask_iou_rejects(wrong, check_exercise):
    assert not check_exercise("mask_iou", iou_variant(**wrong))
