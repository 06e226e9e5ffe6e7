"""Lesson 11 checks: ``to_coco_annotations``, a label image of instance ids -> COCO annotations.

The learner's annotations must pass the course's COCO validator (written to a temporary file
with a matching image record) and decode to exactly the reference's masks.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..data import make_scene
from ..data.validate import segmentation_to_rle, validate_coco
from .core import Case, exercise

_HINT = ("One annotation per instance id (skip 0), in increasing id order: mask = (instance_map == i), "
         "pycocotools.mask.encode(np.asfortranarray(mask.numpy().astype(np.uint8))) with counts decoded to a "
         "str, area = number of pixels, bbox = [x_min, y_min, width, height] where width counts columns "
         "(x_max - x_min + 1), iscrowd 0, ids first_id, first_id + 1, ...")
_KEYS = ("id", "image_id", "category_id", "segmentation", "area", "bbox", "iscrowd")


def _validator_message(got: list, image_id: int, height: int, width: int) -> str | None:
    """Run the course's validator on the learner's annotations; a message listing faults, or None."""
    data = {"images": [{"id": image_id, "file_name": "image.png", "width": width, "height": height}],
            "annotations": got, "categories": [{"id": i, "name": f"class {i}"} for i in range(1, 7)]}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "annotations.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        faults = validate_coco(path, check_images=False)
    if not faults:
        return None
    shown = "; ".join(str(f) for f in faults[:3])
    return f"the COCO validator rejects your annotations: {shown}"


def _compare_annotations(expected: list[dict], got) -> str | None:
    """Validator first, then field by field against the reference (masks decoded and compared)."""
    if not isinstance(got, list):
        return f"your result should be a list of annotation dicts, but it is a {type(got).__name__}."
    if len(got) != len(expected):
        return f"your result has {len(got)} annotations, expected {len(expected)} (one per object, none for 0)."
    if not expected:
        return None
    try:
        json.dumps(got)
    except (TypeError, ValueError) as err:
        return (f"your annotations cannot be written as JSON ({err}); convert tensors and NumPy numbers with "
                "int()/float(), and decode RLE counts bytes with .decode('ascii').")
    height, width = expected[0]["segmentation"]["size"]
    for i, g in enumerate(got):
        if not isinstance(g, dict):
            return f"annotation [{i}] should be a dict, but it is a {type(g).__name__}."
        missing = [k for k in _KEYS if k not in g]
        if missing:
            return f"annotation [{i}] is missing the key(s) {missing}; every annotation needs {list(_KEYS)}."
    msg = _validator_message(got, expected[0]["image_id"], height, width)
    if msg:
        return msg
    for i, (e, g) in enumerate(zip(expected, got)):
        for key in ("id", "image_id", "category_id", "iscrowd"):
            if g[key] != e[key]:
                return f"annotation [{i}] has {key} {g[key]!r}, expected {e[key]!r}."
        try:
            from pycocotools import mask as mask_utils

            mine = mask_utils.decode(segmentation_to_rle(g["segmentation"], height, width))
        except ValueError as err:
            return f"annotation [{i}]'s segmentation cannot be decoded: {err}."
        ref = mask_utils.decode(segmentation_to_rle(e["segmentation"], height, width))
        if not np.array_equal(mine, ref):
            diff = int((mine != ref).sum())
            hint = " (is it transposed? pycocotools wants an (H, W) array in Fortran order)" if np.array_equal(
                mine, ref.T) or mine.sum() == ref.sum() else ""
            return f"annotation [{i}]'s mask differs from the object's pixels in {diff} pixels{hint}."
        if g["area"] != e["area"]:
            return f"annotation [{i}] has area {g['area']}, expected {e['area']} (the number of mask pixels)."
        if not (isinstance(g["bbox"], list) and len(g["bbox"]) == 4
                and np.allclose(np.asarray(g["bbox"], float), e["bbox"], atol=1e-6)):
            return (f"annotation [{i}] has bbox {g['bbox']}, expected {e['bbox']} "
                    "([x, y, width, height]; width counts the columns, x_max - x_min + 1).")
    return None


def _scene_map(seed: int, index: int) -> tuple[torch.Tensor, dict[int, int]]:
    """A shapes scene as a label image of instance ids 1..N and its {id: class} table."""
    s = make_scene(seed, index)
    inst = torch.zeros(s["semantic"].shape, dtype=torch.int64)
    for k, m in enumerate(s["masks"], start=1):
        inst[m] = k
    return inst, {k: int(c) for k, c in enumerate(s["labels"].tolist(), start=1)}


@exercise("to_coco_annotations", lesson="11", hint=_HINT)
def to_coco_annotations_cases(gen: torch.Generator) -> list[Case]:
    """Scenes, odd ids, non-square images, edge-touching, tiny and split objects, bad inputs."""
    cmp = _compare_annotations
    cases = []
    inst, classes = _scene_map(1, 5)
    cases.append(Case("a shapes scene as a label image (ids 1..N)", args=(inst, classes, 7), compare=cmp))

    m = torch.zeros(6, 10, dtype=torch.int64)
    m[1:3, 2:5] = 3
    m[4:6, 7:10] = 12  # touches the bottom and right edges
    m[0, 9] = 7  # a single pixel in the top-right corner
    cases.append(Case("a 6x10 (non-square) map with ids 3, 7, 12 and first_id=100", args=(m, {3: 4, 7: 6, 12: 5}, 2),
                      kwargs={"first_id": 100}, compare=cmp,
                      hint="Height is the first dimension, width the second; bbox is [x, y, w, h]."))
    one = torch.zeros(5, 5, dtype=torch.int64)
    one[2, 3] = 1
    cases.append(Case("a one-pixel object", args=(one, {1: 4}, 0), compare=cmp,
                      hint="A single pixel has bbox width and height 1, not 0: count pixels."))
    split = torch.zeros(8, 8, dtype=torch.int64)
    split[1:3, 1:3] = 5
    split[5:8, 4:7] = 5  # the same object in two pieces (seen through a gap)
    cases.append(Case("one object in two separate pieces", args=(split, {5: 6}, 3), compare=cmp))
    u8 = torch.randint(0, 4, (12, 9), generator=gen).to(torch.uint8)  # like a PNG label image
    cases.append(Case("a random uint8 label image (as read from a PNG)", args=(u8, {1: 4, 2: 5, 3: 6}, 11),
                      compare=cmp))
    cases.append(Case("classes lists an id that is not in the map (skip it)",
                      args=(one.clone(), {1: 5, 9: 6}, 4), compare=cmp))
    cases.append(Case("a map with no objects at all", args=(torch.zeros(4, 4, dtype=torch.int64), {}, 1),
                      compare=cmp))
    inst2, classes2 = _scene_map(1, 9)
    cases.append(Case("another shapes scene, first_id=50", args=(inst2, classes2, 9), kwargs={"first_id": 50},
                      compare=cmp))
    cases.append(Case("an object without a class", args=(one.clone(), {}, 0), expect_error=ValueError,
                      hint="Raise ValueError when an instance id of the map is missing from `classes`."))
    cases.append(Case("an object of category 0 (background)", args=(one.clone(), {1: 0}, 0), expect_error=ValueError,
                      hint="Category 0 means background: raise ValueError."))
    cases.append(Case("a 3-D input instead of an (H, W) map", args=(one[None].clone(), {1: 4}, 0),
                      expect_error=ValueError, hint="Raise ValueError when instance_map is not 2-D."))
    return cases
