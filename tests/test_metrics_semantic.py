"""Semantic metrics against plain-Python loops on random label maps."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils.metrics import semantic as sm


def loop_confusion(pred, target, num_classes, ignore_index=None):
    cm = [[0] * num_classes for _ in range(num_classes)]
    for p, t in zip(pred.flatten().tolist(), target.flatten().tolist()):
        if ignore_index is not None and t == ignore_index:
            continue
        cm[t][p] += 1
    return cm


def loop_ious(pred, target, num_classes, ignore_index=None):
    pairs = [(p, t) for p, t in zip(pred.flatten().tolist(), target.flatten().tolist())
             if ignore_index is None or t != ignore_index]
    out = []
    for c in range(num_classes):
        inter = sum(1 for p, t in pairs if p == c and t == c)
        union = sum(1 for p, t in pairs if p == c or t == c)
        out.append(inter / union if union else math.nan)
    return out


def random_maps(seed, shape=(3, 17, 23), num_classes=5, ignore_index=None):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, num_classes, shape, generator=g)
    pred = torch.where(torch.rand(shape, generator=g) < 0.6, target, torch.randint(0, num_classes, shape, generator=g))
    if ignore_index is not None:
        target[torch.rand(shape, generator=g) < 0.1] = ignore_index
    return pred, target


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("ignore_index", [None, 255])
def test_confusion_and_ious_match_loops(seed, ignore_index):
    pred, target = random_maps(seed, ignore_index=ignore_index)
    cm = sm.confusion_matrix(pred, target, 5, ignore_index=ignore_index)
    assert cm.dtype == torch.int64 and cm.tolist() == loop_confusion(pred, target, 5, ignore_index)
    expected = loop_ious(pred, target, 5, ignore_index)
    got = sm.iou_per_class(cm).tolist()
    for e, g in zip(expected, got):
        assert (math.isnan(e) and math.isnan(g)) or e == pytest.approx(g)
    keep = [e for e in expected if not math.isnan(e)]
    assert sm.mean_iou(cm) == pytest.approx(sum(keep) / len(keep))
    pairs = [(p, t) for p, t in zip(pred.flatten().tolist(), target.flatten().tolist())
             if ignore_index is None or t != ignore_index]
    acc = sum(p == t for p, t in pairs) / len(pairs)
    assert sm.pixel_accuracy(pred, target, ignore_index) == pytest.approx(acc)
    assert sm.accuracy_from_confusion(cm) == pytest.approx(acc)


def test_absent_class_is_left_out_of_the_mean():
    target = torch.tensor([[1, 1], [2, 2]])
    pred = torch.tensor([[1, 1], [2, 1]])
    cm = sm.confusion_matrix(pred, target, num_classes=4)  # classes 0 and 3 never appear
    iou = sm.iou_per_class(cm)
    assert math.isnan(iou[0]) and math.isnan(iou[3])
    assert sm.mean_iou(cm) == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_class_only_predicted_counts_as_zero():
    target = torch.tensor([1, 1, 1, 1])
    pred = torch.tensor([1, 1, 1, 3])
    iou = sm.iou_per_class(sm.confusion_matrix(pred, target, 4))
    assert iou[3] == 0 and iou[1] == pytest.approx(0.75)


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match="shape"):
        sm.confusion_matrix(torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="argmax"):
        sm.pixel_accuracy(torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        sm.confusion_matrix(torch.tensor([0, 5]), torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match="integer"):
        sm.confusion_matrix(torch.zeros(2), torch.zeros(2), 3)


def test_empty_maps():
    empty = torch.zeros(0, dtype=torch.long)
    assert sm.confusion_matrix(empty, empty, 3).sum() == 0
    assert math.isnan(sm.pixel_accuracy(empty, empty))
    assert math.isnan(sm.mean_iou(torch.zeros(3, 3, dtype=torch.long)))


def loop_boundary(target, width):
    h, w = target.shape
    edge = [[False] * w for _ in range(h)]
    for y in range(h):
        for x in range(w):
            for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                yy, xx = y + dy, x + dx
                if 0 <= yy < h and 0 <= xx < w and target[yy, xx] != target[y, x]:
                    edge[y][x] = True
    r = width - 1
    return [[any(edge[yy][xx] for yy in range(max(0, y - r), min(h, y + r + 1))
                 for xx in range(max(0, x - r), min(w, x + r + 1))) for x in range(w)] for y in range(h)]


@pytest.mark.parametrize("width", [1, 2, 3])
def test_class_boundaries_match_loop(width):
    target = torch.zeros(12, 14, dtype=torch.long)
    target[3:8, 4:9] = 2
    target[9:, :5] = 1
    band = sm.class_boundaries(target, width)
    assert band.tolist() == loop_boundary(target, width)
    batched = sm.class_boundaries(torch.stack([target, target.flip(0)]), width)
    assert batched[0].tolist() == band.tolist() and batched[1].tolist() == band.flip(0).tolist()


def test_boundary_confusion_counts_band_pixels_only():
    target = torch.zeros(10, 10, dtype=torch.long)
    target[:, 5:] = 1
    pred = torch.zeros_like(target)  # everything right of column 4 is wrong
    cm = sm.boundary_confusion(pred, target, 2, width=1)
    assert cm.sum() == 20 and cm[1, 0] == 10 and cm[0, 0] == 10
    with pytest.raises(ValueError, match="width"):
        sm.class_boundaries(target, 0)


def test_confusion_meter_accumulates():
    meter = sm.ConfusionMeter(5, boundary_width=2)
    preds, targets = zip(*(random_maps(s) for s in range(3)))
    for p, t in zip(preds, targets):
        meter.update(p, t)
    total = sm.confusion_matrix(torch.cat(preds), torch.cat(targets), 5)
    assert torch.equal(meter.cm, total)
    scores = meter.scores(["a", "b", "c", "d", "e"])
    assert scores["miou"] == pytest.approx(sm.mean_iou(total)) and "iou_c" in scores and "boundary_miou" in scores


def test_coarse_oracle_is_perfect_at_stride_1_and_worse_when_coarser():
    g = torch.Generator().manual_seed(0)
    target = torch.zeros(2, 32, 32, dtype=torch.long)
    target[:, 5:20, 7:18] = 2
    target[1, 20:, 20:] = 1
    assert torch.equal(sm.coarse_oracle(target, 1, 3), target)
    mious = [sm.mean_iou(sm.confusion_matrix(sm.coarse_oracle(target, s, 3), target, 3)) for s in (2, 8, 16)]
    assert mious[0] >= mious[1] >= mious[2] and mious[2] < 1
    del g


def test_object_accuracy_and_count_regions():
    pred = torch.tensor([[4, 4, 0, 5], [4, 0, 0, 5]])
    masks = torch.zeros(2, 2, 4, dtype=torch.bool)
    masks[0, :, :2] = True  # 4 pixels, 3 predicted 4
    masks[1, :, 3] = True  # 2 pixels, both predicted 5
    areas, acc = sm.object_accuracy(pred, masks, torch.tensor([4, 5]))
    assert areas.tolist() == [4, 2] and acc.tolist() == pytest.approx([0.75, 1.0])
    touching = torch.tensor([[4, 4, 0, 4], [0, 4, 0, 4]])
    assert sm.count_regions(touching, 4) == 2 and sm.count_regions(touching, 6) == 0
