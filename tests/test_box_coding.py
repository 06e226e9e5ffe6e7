"""course_utils.models.box_coding against torchvision: conversions, encoding/decoding, anchors and matching."""

from __future__ import annotations

import pytest
import torch
from torchvision.models.detection._utils import BoxCoder, Matcher
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import box_convert, box_iou

from course_utils.models import box_coding as B


def random_boxes(n: int, seed: int = 0) -> torch.Tensor:
    """(n, 4) xyxy boxes with positive sides."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 100
    return torch.cat([xy, xy + 1 + torch.rand(n, 2, generator=g) * 40], dim=1)


@pytest.mark.parametrize("fmt", ["xywh", "cxcywh"])
def test_convert_round_trip_and_torchvision(fmt):
    b = random_boxes(10)
    there = B.convert_boxes(b, "xyxy", fmt)
    torch.testing.assert_close(there, box_convert(b, "xyxy", fmt))
    torch.testing.assert_close(B.convert_boxes(there, fmt, "xyxy"), b)


def test_convert_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown box format"):
        B.convert_boxes(random_boxes(2), "xyxy", "yxyx")
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        B.convert_boxes(torch.zeros(3, 5), "xyxy", "xywh")


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)])
def test_encode_decode_match_torchvision_boxcoder(weights):
    gt, anchors = random_boxes(50, 1), random_boxes(50, 2)
    coder = BoxCoder(weights)
    deltas = B.encode_boxes(gt, anchors, weights)
    torch.testing.assert_close(deltas, coder.encode_single(gt, anchors))
    torch.testing.assert_close(B.decode_boxes(deltas, anchors, weights), coder.decode_single(deltas, anchors))
    torch.testing.assert_close(B.decode_boxes(deltas, anchors, weights), gt, atol=1e-4, rtol=1e-5)


def test_decode_clamps_like_torchvision():
    anchors = random_boxes(3)
    deltas = torch.tensor([[0.0, 0.0, 20.0, 20.0], [0.0, 0.0, -3.0, 50.0], [1.0, -1.0, 0.5, 0.5]])
    out = B.decode_boxes(deltas, anchors)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, BoxCoder((1.0, 1.0, 1.0, 1.0)).decode_single(deltas, anchors))


def test_encode_needs_pairs():
    with pytest.raises(ValueError, match="pair up"):
        B.encode_boxes(random_boxes(3), random_boxes(4))


def test_make_anchors_matches_torchvision_anchor_generator():
    sizes, ratios = (16.0, 32.0), (0.25, 1.0, 4.0)  # shapes that are whole pixels, so rounding changes nothing
    gen = AnchorGenerator(sizes=(sizes,), aspect_ratios=(ratios,))
    image_list = ImageList(torch.zeros(1, 3, 64, 96), [(64, 96)])
    feature = torch.zeros(1, 8, 8, 12)  # stride 8
    expected = gen(image_list, [feature])[0]
    ours = B.make_anchors((8, 12), 8, sizes, ratios, offset=0.0)
    assert ours.shape == (8 * 12 * 6, 4)
    torch.testing.assert_close(ours, expected)


def test_make_anchors_centred_and_shaped():
    anchors = B.make_anchors((2, 3), 16, sizes=(32.0,), aspect_ratios=(0.5, 1.0, 2.0))
    assert anchors.shape == (2 * 3 * 3, 4)
    cxcywh = box_convert(anchors, "xyxy", "cxcywh")
    torch.testing.assert_close(cxcywh[:3, :2], torch.full((3, 2), 8.0))  # first cell's centre
    torch.testing.assert_close(cxcywh[:, 2] * cxcywh[:, 3], torch.full((18,), 32.0 ** 2))  # area = size^2
    torch.testing.assert_close(cxcywh[:3, 3] / cxcywh[:3, 2], torch.tensor([0.5, 1.0, 2.0]))  # ratio = h / w


@pytest.mark.parametrize("low_quality", [True, False])
def test_match_anchors_matches_torchvision_matcher(low_quality):
    anchors = B.make_anchors((16, 16), 8, (16.0, 32.0), (0.5, 1.0, 2.0))
    gt = random_boxes(6, 3)
    ours = B.match_anchors(anchors, gt, fg_iou=0.7, bg_iou=0.3, allow_low_quality=low_quality)
    theirs = Matcher(0.7, 0.3, allow_low_quality_matches=low_quality)(box_iou(gt, anchors))
    assert torch.equal(ours, theirs)
    assert (ours >= 0).any() and (ours == B.BACKGROUND).any() and (ours == B.IGNORE).any()
    if low_quality:  # every object has at least one anchor
        assert set(ours[ours >= 0].tolist()) == set(range(len(gt)))


def test_match_anchors_without_objects():
    anchors = B.make_anchors((2, 2), 8, (8.0,), (1.0,))
    assert (B.match_anchors(anchors, torch.zeros(0, 4)) == B.BACKGROUND).all()
