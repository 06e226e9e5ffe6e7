"""Lesson 11, back of the book: your own label images -> COCO annotations."""

from __future__ import annotations

import numpy as np
import torch
from pycocotools import mask as mask_utils

__all__ = ["to_coco_annotations"]


def to_coco_annotations(instance_map: torch.Tensor, classes: dict[int, int], image_id: int,
                        first_id: int = 1) -> list[dict]:
    """COCO annotations, one per object, from a label image of instance ids and a class per id.

    Args:
        instance_map: (H, W) integer label image; 0 = background, each other value one object.
        classes: ``{instance id: category id}`` (category ids >= 1); ids absent from the map are skipped.
        image_id: the COCO id of the image the objects are in.
        first_id: annotation id of the first object; the others follow (first_id + 1, ...).

    Returns:
        one dict per instance id present, in increasing instance-id order, with ``id``,
        ``image_id``, ``category_id``, ``segmentation`` (compressed RLE, ``counts`` a str),
        ``area`` (pixels), ``bbox`` [x, y, width, height] and ``iscrowd`` 0; JSON-ready.

    Raises:
        ValueError: the map is not 2-D, an object has no class, or a class is < 1.
    """
    if instance_map.dim() != 2:
        raise ValueError(f"instance_map must be an (H, W) label image, got shape {tuple(instance_map.shape)}")
    present = [int(i) for i in torch.unique(instance_map) if int(i) != 0]
    missing = [i for i in present if i not in classes]
    if missing:
        raise ValueError(f"instance ids {missing} are in the map but have no class in `classes`")
    annotations = []
    for k, inst in enumerate(present):
        category = int(classes[inst])
        if category < 1:
            raise ValueError(f"instance {inst} has category {category}; 0 means background, use ids >= 1")
        mask = (instance_map == inst).cpu().numpy().astype(np.uint8)  # (H, W)
        rle = mask_utils.encode(np.asfortranarray(mask))  # pycocotools wants column-major (Fortran) order
        ys, xs = np.nonzero(mask)
        x0, y0 = int(xs.min()), int(ys.min())
        annotations.append({
            "id": first_id + k,
            "image_id": int(image_id),
            "category_id": category,
            "segmentation": {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")},
            "area": int(mask.sum()),
            "bbox": [float(x0), float(y0), float(xs.max() + 1 - x0), float(ys.max() + 1 - y0)],  # +1: count pixels
            "iscrowd": 0,
        })
    return annotations
