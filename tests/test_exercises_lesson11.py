"""Lesson 11's check accepts the reference ``to_coco_annotations`` and rejects typical wrong ones."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from course_utils import exercises, solutions
from course_utils.data.coco import validate_coco


def make_solution(mistake: str | None = None):
    """A learner's solution written independently of the reference, with one typical mistake switched on."""

    def to_coco_annotations(instance_map, classes, image_id, first_id=1):
        if mistake != "no_checks" and instance_map.dim() != 2:
            raise ValueError("2-D please")
        background = set() if mistake == "with_background" else {0}
        ids = sorted({int(v) for v in instance_map.flatten().tolist()} - background)
        if mistake == "descending":
            ids = ids[::-1]
        out = []
        for n, i in enumerate(ids):
            if mistake != "no_checks" and (i not in classes or classes[i] < 1):
                raise ValueError("bad class")
            mask = (instance_map == i).numpy().astype(np.uint8)
            if mistake == "transposed":
                mask = np.ascontiguousarray(mask.T)
                rle = mask_utils.encode(np.asfortranarray(mask))
                rle["size"] = list(instance_map.shape)
            else:
                rle = mask_utils.encode(np.asfortranarray(mask))
            counts = rle["counts"] if mistake == "bytes_counts" else rle["counts"].decode()
            rows, cols = np.where(mask if mistake != "transposed" else mask.T)
            x0, x1, y0, y1 = cols.min(), cols.max(), rows.min(), rows.max()
            w, h = x1 - x0 + 1, y1 - y0 + 1
            bbox = {"off_by_one": [x0, y0, w - 1, h - 1], "xyxy": [x0, y0, x1 + 1, y1 + 1],
                    "swapped_xy": [y0, x0, h, w]}.get(mistake, [x0, y0, w, h])
            area = int(w * h) if mistake == "area_from_box" else int(mask.sum())
            out.append({
                "id": (n if mistake == "ids_from_zero" else first_id + n),
                "image_id": image_id,
                "category_id": i if mistake == "class_is_instance_id" else int(classes.get(i, 1)),
                "segmentation": {"size": [int(s) for s in rle["size"]], "counts": counts},
                "area": area, "bbox": [float(v) for v in bbox], "iscrowd": 0,
            })
        return out

    return to_coco_annotations


def test_reference_passes() -> None:
    assert exercises.check("to_coco_annotations", solutions.to_coco_annotations, verbose=False)


def test_independent_correct_solution_passes() -> None:
    assert exercises.check("to_coco_annotations", make_solution(), verbose=False)


@pytest.mark.parametrize("mistake", ["off_by_one", "xyxy", "swapped_xy", "bytes_counts", "ids_from_zero",
                                     "class_is_instance_id", "transposed", "area_from_box", "with_background",
                                     "descending", "no_checks"])
def test_typical_mistakes_are_rejected(mistake: str) -> None:
    assert not exercises.check("to_coco_annotations", make_solution(mistake), verbose=False)


def test_feedback_names_the_problem(capsys: pytest.CaptureFixture) -> None:
    exercises.check("to_coco_annotations", make_solution("bytes_counts"))
    assert "JSON" in capsys.readouterr().out
    exercises.check("to_coco_annotations", make_solution("off_by_one"))
    out = capsys.readouterr().out
    assert "bbox" in out or "validator" in out


def test_reference_output_passes_validator_and_round_trips(tmp_path) -> None:
    inst = torch.zeros(20, 30, dtype=torch.int64)
    inst[2:8, 3:9] = 1
    inst[10:20, 25:30] = 2
    anns = solutions.to_coco_annotations(inst, {1: 4, 2: 6}, image_id=3)
    data = {"images": [{"id": 3, "file_name": "x.png", "width": 30, "height": 20}], "annotations": anns,
            "categories": [{"id": 4, "name": "circle"}, {"id": 6, "name": "triangle"}]}
    (tmp_path / "annotations.json").write_text(json.dumps(data))
    assert validate_coco(tmp_path / "annotations.json", check_images=False) == []
    assert anns[1]["bbox"] == [25.0, 10.0, 5.0, 10.0] and anns[1]["area"] == 50
    for a, i in zip(anns, (1, 2)):
        assert np.array_equal(mask_utils.decode(a["segmentation"]), (inst == i).numpy())
        assert a["bbox"] == [float(v) for v in mask_utils.toBbox(a["segmentation"])]
