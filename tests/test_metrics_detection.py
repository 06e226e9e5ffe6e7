"""From-scratch detection AP against pycocotools, and the precision/recall pieces against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.data import InstanceDataset
from course_utils.metrics import detection as D


def test_lesson06_detections_hand_ap_equals_pycocotools():
    raw, kept, targets = D.demo_detections()
    for preds in (raw, kept):
        ours, coco = D.detection_ap(preds, targets), D.coco_bbox_ap(preds, targets)
        for key in ("AP", "AP50", "AP75"):
            assert abs(ours[key] - coco[key]) < 1e-6, (key, ours[key], coco[key])
    # the lesson's story: duplicates are false positives, NMS removes them and AP50 rises
    assert D.detection_ap(kept, targets)["AP50"] > D.detection_ap(raw, targets)["AP50"] + 0.1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hand_ap_equals_pycocotools_with_ties_and_missing_classes(seed):
    ds = InstanceDataset("test", 12)
    targets = [ds[i][1] for i in range(len(ds))]
    preds = D.simulate_detections(targets, seed=seed, copies=2, jitter=0.12, false_positives=2.0)
    for p in preds:
        p["scores"] = (p["scores"] * 4).round() / 4  # many tied scores, within and across images
    preds[0] = {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.int64)}
    ours, coco = D.detection_ap(preds, targets), D.coco_bbox_ap(preds, targets)
    for key in ("AP", "AP50", "AP75"):
        assert abs(ours[key] - coco[key]) < 1e-6, (key, ours[key], coco[key])


def test_precision_recall_by_hand():
    curve = D.precision_recall_curve(np.array([0.3, 0.9, 0.6, 0.8]), np.array([True, True, False, False]), 4)
    np.testing.assert_allclose(curve["scores"], [0.9, 0.8, 0.6, 0.3])
    np.testing.assert_allclose(curve["precision"], [1.0, 0.5, 1 / 3, 0.5])
    np.testing.assert_allclose(curve["recall"], [0.25, 0.25, 0.25, 0.5])
    np.testing.assert_allclose(curve["envelope"], [1.0, 0.5, 0.5, 0.5])


def test_average_precision_by_hand():
    # TP, FP, TP with 2 objects: recall 0.5 at precision 1, recall 1 at precision 2/3
    ap = D.average_precision(np.array([0.9, 0.8, 0.7]), np.array([True, False, True]), 2)
    assert ap == pytest.approx((51 * 1.0 + 50 * 2 / 3) / 101)
    assert D.average_precision(np.array([0.9, 0.8]), np.array([True, True]), 2) == pytest.approx(1.0)
    assert D.average_precision(np.zeros(0), np.zeros(0, bool), 3) == 0.0
    with pytest.raises(ValueError, match="num_gt"):
        D.average_precision(np.array([0.5]), np.array([True]), 0)


def test_match_detections_duplicates_are_false_positives():
    gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    pred = np.array([[0, 0, 10, 10], [1, 0, 10, 10], [20, 20, 30, 31], [50, 50, 60, 60]], float)
    scores, is_tp = D.match_detections(pred, np.array([0.9, 0.95, 0.5, 0.7]), gt, 0.5)
    np.testing.assert_allclose(scores, [0.95, 0.9, 0.7, 0.5])
    assert is_tp.tolist() == [True, False, False, True]  # the second copy of object 0 is a duplicate


def test_simulated_detections_are_deterministic_and_shaped():
    ds = InstanceDataset("val", 4)
    targets = [ds[i][1] for i in range(len(ds))]
    a, b = D.simulate_detections(targets, seed=5, copies=3), D.simulate_detections(targets, seed=5, copies=3)
    for x, y in zip(a, b):
        assert set(x) == {"boxes", "scores", "labels"}
        assert x["boxes"].shape[1] == 4 and len(x["boxes"]) == len(x["scores"]) == len(x["labels"])
        assert torch.equal(x["boxes"], y["boxes"]) and torch.equal(x["scores"], y["scores"])
        assert ((x["scores"] > 0) & (x["scores"] < 1)).all()
