"""COCO evaluation built in memory: ground truth scored as predictions, formats, -1 and bad input."""

from __future__ import annotations

import pytest
import torch
from pycocotools import mask as mask_utils

from course_utils.data import InstanceDataset
from course_utils.metrics.coco_eval import (
    STAT_NAMES,
    build_coco_gt,
    coco_evaluate,
    encode_masks,
    predictions_to_coco,
    xyxy_to_xywh,
)


@pytest.fixture(scope="module")
def targets():
    ds = InstanceDataset("val", 24)
    return [ds[i][1] for i in range(len(ds))]


def perfect(targets):
    return [{"boxes": t["boxes"], "labels": t["labels"], "scores": torch.linspace(0.99, 0.9, len(t["labels"])),
             "masks": t["masks"][:, None].float()} for t in targets]


def test_ground_truth_as_predictions_scores_one(targets):
    res = coco_evaluate(perfect(targets), targets)
    for iou_type in ("segm", "bbox"):
        r = res[iou_type]
        assert set(r) == set(STAT_NAMES)
        assert r["AP"] == pytest.approx(1.0) and r["AP50"] == pytest.approx(1.0) and r["AP75"] == pytest.approx(1.0)
        assert r["AR100"] == pytest.approx(1.0)
        assert r["AP_large"] == -1.0  # no object of the shapes world is >= 96x96 pixels
        assert all(v == -1.0 or 0.0 <= v <= 1.0 for v in r.values())  # a 0-1 scale


def test_gt_object_matches_targets(targets):
    gt = build_coco_gt(targets)
    anns = gt.dataset["annotations"]
    assert len(anns) == sum(len(t["labels"]) for t in targets)
    first = targets[0]
    ann = gt.loadAnns(gt.getAnnIds(imgIds=[first["image_id"]]))[0]
    assert ann["bbox"] == pytest.approx(xyxy_to_xywh(first["boxes"][:1])[0].tolist())
    decoded = mask_utils.decode(ann["segmentation"])  # (H, W)
    assert (torch.from_numpy(decoded) == first["masks"][0]).all()
    assert ann["area"] == int(first["masks"][0].sum())
    assert sorted(gt.getCatIds()) == [1, 2, 3, 4, 5, 6]  # background 0 is not a category


def test_degraded_predictions_score_lower(targets):
    preds = perfect(targets)
    shifted = [{**p, "boxes": p["boxes"] + 3, "masks": torch.roll(p["masks"], shifts=(3, 3), dims=(2, 3))}
               for p in preds]
    res = coco_evaluate(shifted, targets)
    assert res["segm"]["AP"] < 0.8 and res["bbox"]["AP"] < 0.8
    wrong_class = [{**p, "labels": torch.full_like(p["labels"], 4)} for p in preds]
    assert coco_evaluate(wrong_class, targets)["segm"]["AP"] < 1.0


def test_missed_objects_lower_recall(targets):
    half = [{k: v[: len(v) // 2] for k, v in p.items()} for p in perfect(targets)]
    r = coco_evaluate(half, targets, iou_types=("segm",))["segm"]
    assert r["AR100"] < 0.75


def test_no_predictions_at_all(targets):
    empty = [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64), "scores": torch.zeros(0),
              "masks": torch.zeros(0, 1, 128, 128)} for _ in targets]
    r = coco_evaluate(empty, targets)["segm"]
    assert r["AP"] == 0.0 and r["AP_large"] == -1.0


def test_result_format(targets):
    res = predictions_to_coco(perfect(targets[:1]), [7])
    assert res[0]["image_id"] == 7 and isinstance(res[0]["segmentation"]["counts"], str)
    b = targets[0]["boxes"][0]
    assert res[0]["bbox"] == pytest.approx([float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])])


def test_bad_masks_are_explained():
    with pytest.raises(ValueError, match="255"):
        encode_masks(torch.full((1, 4, 4), 255, dtype=torch.uint8))
    with pytest.raises(ValueError, match="threshold"):
        encode_masks(torch.rand(1, 4, 4))
    with pytest.raises(ValueError, match="one of each"):
        coco_evaluate([], [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0), "masks": torch.zeros(0, 4, 4)}])
