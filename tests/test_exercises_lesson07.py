"""Lesson 07's checks accept the references and reject typical wrong solutions."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from course_utils import exercises, solutions

NAMES = ["roi_align_single", "paste_mask", "count_instances"]


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes(name, check_exercise):
    assert name in exercises.NAMES
    assert exercises.lesson_of(name) == "07"
    assert check_exercise(name, getattr(solutions, name))


@pytest.mark.parametrize("name", NAMES)
def test_stub_reports_not_attempted(name, capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError

    assert not exercises.check(name, stub)
    assert "not attempted" in capsys.readouterr().out


def test_roi_align_reference_matches_torchvision():
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(3, 10, 13, generator=g, dtype=torch.float64)
    for i in range(200):
        xy = torch.rand(2, generator=g, dtype=torch.float64) * 70 - 15
        wh = torch.rand(2, generator=g, dtype=torch.float64) * 40 * (i % 9 != 0)  # some zero-area boxes
        box = torch.cat([xy, xy + wh])
        size, scale, ratio = [1, 3, 7][i % 3], [0.25, 0.5, 0.125][i % 3], [1, 2, 3][i % 3]
        expected = roi_align(feats[None], [box[None]], size, scale, ratio, aligned=True)[0]
        torch.testing.assert_close(solutions.roi_align_single(feats, box, size, scale, ratio), expected)


def test_paste_mask_reference_matches_grid_sample():
    g = torch.Generator().manual_seed(2)
    mask = torch.rand(28, 28, generator=g, dtype=torch.float64)
    h, w = 50, 60
    cy, cx = torch.arange(h, dtype=torch.float64) + 0.5, torch.arange(w, dtype=torch.float64) + 0.5
    for _ in range(100):
        xy = torch.rand(2, generator=g, dtype=torch.float64) * 70 - 10
        box = torch.cat([xy, xy + 1 + torch.rand(2, generator=g, dtype=torch.float64) * 35])
        gy, gx = (cy - box[1]) / (box[3] - box[1]) * 2 - 1, (cx - box[0]) / (box[2] - box[0]) * 2 - 1
        grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)[None]  # (1, H, W, 2) as (x, y)
        sampled = F.grid_sample(mask[None, None], grid, mode="bilinear", padding_mode="border", align_corners=False)
        inside = ((cy >= box[1]) & (cy < box[3]))[:, None] & ((cx >= box[0]) & (cx < box[2]))[None]
        torch.testing.assert_close(solutions.paste_mask(mask, box, h, w), sampled[0, 0] * inside)


def test_paste_mask_of_ones_is_the_box():
    out = solutions.paste_mask(torch.ones(28, 28), torch.tensor([2.0, 3.0, 9.0, 7.0]), 10, 12)
    expected = torch.zeros(10, 12)
    expected[3:7, 2:9] = 1
    assert torch.equal(out, expected)


# ---- roi_align_single: wrong versions ----------------------------------------------------------

def roi_variant(half_pixel=True, swap_xy=False, clamp_edges=True, offset=0.5, zero_outside=True):
    def roi_align_single(features, box, output_size, spatial_scale=1.0, sampling_ratio=2):
        box = box.to(features.dtype)
        x1, y1, x2, y2 = (box * spatial_scale - (0.5 if half_pixel else 0.0)).unbind()
        if swap_xy:
            x1, y1, x2, y2 = y1, x1, y2, x2
        s, r = output_size, sampling_ratio
        c, h, w = features.shape
        steps = torch.arange(s * r, dtype=features.dtype)
        frac = steps // r + ((steps % r) + offset) / r
        ys, xs = y1 + frac * (y2 - y1) / s, x1 + frac * (x2 - x1) / s
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        y, x = yy.reshape(-1), xx.reshape(-1)
        outside = (y < -1) | (y > h) | (x < -1) | (x > w)
        y, x = y.clamp(min=0), x.clamp(min=0)
        if clamp_edges:
            y0, x0 = y.floor().long().clamp(max=h - 1), x.floor().long().clamp(max=w - 1)
            y = torch.where(y0 >= h - 1, y0.to(y.dtype), y)
            x = torch.where(x0 >= w - 1, x0.to(x.dtype), x)
            y1i, x1i = (y0 + 1).clamp(max=h - 1), (x0 + 1).clamp(max=w - 1)
        else:  # forgets the last row/column: indexes out of range or wraps around
            y0, x0 = y.floor().long(), x.floor().long()
            y1i, x1i = y0 + 1, x0 + 1
        ly, lx = y - y0, x - x0
        v = ((1 - ly) * (1 - lx) * features[:, y0, x0] + (1 - ly) * lx * features[:, y0, x1i]
             + ly * (1 - lx) * features[:, y1i, x0] + ly * lx * features[:, y1i, x1i])
        if zero_outside:
            v = torch.where(outside, torch.zeros((), dtype=v.dtype), v)
        return v.view(c, s, r, s, r).mean(dim=(2, 4))
    return roi_align_single


def test_roi_variant_with_defaults_is_right(check_exercise):
    assert check_exercise("roi_align_single", roi_variant())


@pytest.mark.parametrize("wrong", [
    dict(half_pixel=False),  # aligned=False arithmetic
    dict(swap_xy=True),  # x and y swapped
    dict(clamp_edges=False),  # no clamp at the last row/column
    dict(offset=0.0),  # samples at the bin corners, not inside
    dict(zero_outside=False),  # far-outside points not zeroed
], ids=["no-half-pixel", "swapped-xy", "no-edge-clamp", "corner-samples", "outside-not-zero"])
def test_roi_align_rejects(wrong, check_exercise):
    assert not check_exercise("roi_align_single", roi_variant(**wrong))


def test_roi_align_rejects_torchvision_unaligned(check_exercise):
    def unaligned(features, box, output_size, spatial_scale=1.0, sampling_ratio=2):
        return roi_align(features[None], [box[None].to(features.dtype)], output_size, spatial_scale,
                         sampling_ratio, aligned=False)[0]

    assert not check_exercise("roi_align_single", unaligned)


# ---- paste_mask: wrong versions ---------------------------------------------------------------

def paste_variant(centre=0.5, swap_hw=False, cell_centre=True, integer_box=False, resize_whole=False):
    def paste_mask(mask, box, height, width):
        m = mask.shape[-1]
        box = box.to(mask.dtype)
        if integer_box:
            box = box.round()
        x1, y1, x2, y2 = box.unbind()
        h, w = (width, height) if swap_hw else (height, width)
        out = torch.zeros(h, w, dtype=mask.dtype)
        cy, cx = torch.arange(h, dtype=mask.dtype) + centre, torch.arange(w, dtype=mask.dtype) + centre
        iy, ix = (cy >= y1) & (cy < y2), (cx >= x1) & (cx < x2)
        if not iy.any() or not ix.any():
            return out
        if resize_whole:  # interpolate to the box size with F.interpolate, ignoring fractional corners
            rows, cols = iy.nonzero()[:, 0], ix.nonzero()[:, 0]
            r = F.interpolate(mask[None, None], size=(len(rows), len(cols)), mode="bilinear", align_corners=False)
            out[rows[:, None], cols[None, :]] = r[0, 0]
            return out
        shift = 0.5 if cell_centre else 0.0
        v = ((cy[iy] - y1) / (y2 - y1) * m - shift).clamp(0, m - 1)
        u = ((cx[ix] - x1) / (x2 - x1) * m - shift).clamp(0, m - 1)
        v0, u0 = v.floor().long().clamp(max=m - 1), u.floor().long().clamp(max=m - 1)
        v1, u1 = (v0 + 1).clamp(max=m - 1), (u0 + 1).clamp(max=m - 1)
        lv, lu = (v - v0)[:, None], (u - u0)[None, :]
        vals = ((1 - lv) * (1 - lu) * mask[v0][:, u0] + (1 - lv) * lu * mask[v0][:, u1]
                + lv * (1 - lu) * mask[v1][:, u0] + lv * lu * mask[v1][:, u1])
        out[iy.nonzero()[:, 0][:, None], ix.nonzero()[:, 0][None, :]] = vals
        return out
    return paste_mask


def test_paste_variant_with_defaults_is_right(check_exercise):
    assert check_exercise("paste_mask", paste_variant())


@pytest.mark.parametrize("wrong", [
    dict(centre=0.0),  # pixel corners instead of centres
    dict(swap_hw=True),  # (W, H) image
    dict(cell_centre=False),  # mask cell centres not at i + 0.5
    dict(integer_box=True),  # box rounded to whole pixels first
    dict(resize_whole=True),  # plain F.interpolate to the box's pixel size
], ids=["pixel-corners", "swapped-hw", "cell-corners", "rounded-box", "interpolate"])
def test_paste_mask_rejects(wrong, check_exercise):
    assert not check_exercise("paste_mask", paste_variant(**wrong))


# ---- count_instances: wrong versions ----------------------------------------------------------

def count_strict(prediction, score_thresh=0.5, num_classes=7):
    labels = prediction["labels"][prediction["scores"] > score_thresh]
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError("bad class id")
    return torch.bincount(labels, minlength=num_classes)


def count_no_minlength(prediction, score_thresh=0.5, num_classes=7):
    labels = prediction["labels"][prediction["scores"] >= score_thresh]
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError("bad class id")
    return torch.bincount(labels)


def count_ignores_threshold(prediction, score_thresh=0.5, num_classes=7):
    labels = prediction["labels"]
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError("bad class id")
    return torch.bincount(labels, minlength=num_classes)


def count_top_k(prediction, score_thresh=0.5, num_classes=7):
    """Assumes detections are sorted by score and stops at the first one below the threshold."""
    labels, scores = prediction["labels"], prediction["scores"]
    n = 0
    while n < len(scores) and scores[n] >= score_thresh:
        n += 1
    kept = labels[:n]
    if len(kept) and (kept.min() < 0 or kept.max() >= num_classes):
        raise ValueError("bad class id")
    return torch.bincount(kept, minlength=num_classes)


def count_no_validation(prediction, score_thresh=0.5, num_classes=7):
    return torch.bincount(prediction["labels"][prediction["scores"] >= score_thresh], minlength=num_classes)


def count_float(prediction, score_thresh=0.5, num_classes=7):
    return count_no_validation(prediction, score_thresh, num_classes).float()


@pytest.mark.parametrize("wrong", [count_strict, count_no_minlength, count_ignores_threshold, count_top_k,
                                   count_no_validation, count_float])
def test_count_instances_rejects(wrong, check_exercise):
    assert not check_exercise("count_instances", wrong)
