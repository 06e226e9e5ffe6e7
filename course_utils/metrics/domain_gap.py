"""Scores on lesson 11's real photograph (``data.photo.voc_photo``): the domain gap of a shapes-trained model.

``domain_gap`` scores a model class-agnostic (does it find the objects at all?) on the photo scaled
to the shapes world's size; ``pretrained_on_photo`` scores a COCO-pretrained model with VOC's
classes, its labels matched by name.
"""

from __future__ import annotations

import torch

from ..data.photo import coco_label_for_voc
from .coco_eval import coco_evaluate


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
