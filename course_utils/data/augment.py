"""Joint augmentation of detection samples with ``torchvision.transforms.v2``: image, masks and boxes together.

A sample (image, target) is wrapped as ``tv_tensors`` (``Image``, ``Mask``, ``BoundingBoxes`` in
XYXY with the image's ``canvas_size``), so every v2 transform moves the masks and boxes with the
pixels: flips mirror all three, a resize scales them, a crop cuts them. Afterwards:

- :class:`TightBoxes` recomputes every box from its (transformed) mask: a box clipped by a crop
  may be looser than what is left of its object (a triangle whose corner left the picture), and a
  resized box may be a pixel off; objects with almost nothing left get an empty box;
- ``v2.SanitizeBoundingBoxes`` then removes the objects with empty boxes, **with** their masks
  and labels (and the index of each kept object in the original, ``target["kept"]``).

:func:`default_augmentation` is lesson 11's recipe; :class:`AugmentedDataset` applies a pipeline
to any (image, target) dataset, the same way for the same (seed, epoch, index).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

__all__ = ["AugmentedDataset", "TightBoxes", "augment_sample", "default_augmentation", "mask_boxes"]


def mask_boxes(masks: torch.Tensor) -> torch.Tensor:
    """Tight xyxy boxes of masks in pixel-edge coordinates (x2, y2 one past the last pixel); zeros for empty masks.

    Args:
        masks: (N, H, W) bool or 0/1.

    Returns:
        (N, 4) float32.
    """
    m = masks.bool()
    rows, cols = m.any(2), m.any(1)  # (N, H), (N, W)
    h, w = rows.shape[1], cols.shape[1]
    y1, x1 = rows.int().argmax(1), cols.int().argmax(1)
    y2, x2 = h - rows.flip(1).int().argmax(1), w - cols.flip(1).int().argmax(1)
    boxes = torch.stack([x1, y1, x2, y2], 1).float().reshape(-1, 4)
    boxes[~rows.any(1)] = 0
    return boxes


class TightBoxes:
    """A step of a v2 pipeline: every box becomes the tight box of its mask (an empty box below ``min_pixels``).

    Args:
        min_pixels: objects with fewer visible pixels than this get an empty box, so that
            ``v2.SanitizeBoundingBoxes`` (the next step) drops them.
    """

    def __init__(self, min_pixels: int = 6):
        self.min_pixels = int(min_pixels)

    def __call__(self, image, target: dict):
        """Return ``(image, target)`` with ``target["boxes"]`` recomputed from ``target["masks"]``."""
        masks = target["masks"]
        boxes = mask_boxes(masks)
        boxes[masks.flatten(1).sum(1) < self.min_pixels] = 0
        canvas = tuple(masks.shape[-2:])
        return image, {**target, "boxes": tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=canvas)}

    def __repr__(self) -> str:
        return f"TightBoxes(min_pixels={self.min_pixels})"


def _labels_and_index(inputs) -> tuple[torch.Tensor, torch.Tensor]:
    """What ``SanitizeBoundingBoxes`` must filter besides boxes and masks: the labels and the kept indices."""
    target = inputs[1]
    return target["labels"], target["kept"]


def default_augmentation(size: int = 128, scale_range: tuple[float, float] = (0.75, 1.5),
                         colour: float = 0.3, hue: float = 0.04, fill: float = 0.5) -> v2.Compose:
    """Lesson 11's augmentation: flips, scale jitter with a random crop, colour jitter, then tight boxes.

    Scale jitter resizes the whole image by a random factor (objects get smaller or larger); the
    crop brings it back to ``size`` x ``size``, padding with grey where it shrank and cutting
    off (or through) objects where it grew.

    Args:
        size: side of the output images (the model's input size).
        scale_range: the range of the resize factor.
        colour: strength of the brightness, contrast and saturation jitter (0 = none).
        hue: hue jitter (0 = none, at most 0.5).
        fill: grey level of the padding.

    Returns:
        a ``v2.Compose`` taking and returning ``(image, target)`` of ``tv_tensors`` (see :func:`augment_sample`).
    """
    lo, hi = scale_range
    if not 0 < lo <= hi:
        raise ValueError(f"scale_range must be two positive factors, low first, not {scale_range}")
    return v2.Compose([
        v2.RandomHorizontalFlip(0.5),
        v2.RandomVerticalFlip(0.5),
        v2.ScaleJitter((size, size), scale_range=(lo, hi), antialias=True),
        v2.RandomCrop(size, pad_if_needed=True, fill={tv_tensors.Image: fill, "others": 0}),
        v2.ColorJitter(brightness=colour, contrast=colour, saturation=colour, hue=hue),
        TightBoxes(),
        v2.SanitizeBoundingBoxes(min_size=1, labels_getter=_labels_and_index),
    ])


def augment_sample(image: torch.Tensor, target: dict, transforms) -> tuple[torch.Tensor, dict]:
    """Apply a v2 pipeline to one detection sample, masks and boxes moving with the image.

    Args:
        image: float (3, H, W) in [0, 1].
        target: ``boxes`` (N, 4) xyxy, ``labels`` (N,), ``masks`` (N, H, W); ``iscrowd`` and other
            keys are kept (per-object ones filtered like the labels).
        transforms: a callable ``(Image, target of tv_tensors) -> (image, target)``, e.g.
            :func:`default_augmentation` (end it with ``v2.SanitizeBoundingBoxes`` that filters
            ``target["kept"]`` too, as that one does, when it may drop objects).

    Returns:
        image float32 (3, H', W') in [0, 1] and a new target: ``boxes`` float32 (M, 4), ``labels``
        int64 (M,), ``masks`` uint8 (M, H', W'), ``area`` float32 (M,) of the new masks,
        ``kept`` int64 (M,) the index in the input of each object left.
    """
    for key in ("boxes", "labels", "masks"):
        if key not in target:
            raise KeyError(f"the target has no {key!r}: augment_sample needs boxes, labels and masks")
    n, (h, w) = len(target["labels"]), image.shape[-2:]
    if len(target["boxes"]) != n or len(target["masks"]) != n:
        raise ValueError(f"the target has {len(target['boxes'])} boxes, {len(target['masks'])} masks and {n} labels: "
                         "one of each per object")
    wrapped = {**target, "boxes": tv_tensors.BoundingBoxes(target["boxes"].float(), format="XYXY", canvas_size=(h, w)),
               "masks": tv_tensors.Mask(target["masks"].to(torch.uint8)), "kept": torch.arange(n)}
    out_image, out = transforms(tv_tensors.Image(image), wrapped)
    kept = out["kept"]
    result = {k: v for k, v in target.items() if k not in ("boxes", "labels", "masks", "area", "iscrowd")}
    result.update(boxes=out["boxes"].as_subclass(torch.Tensor).float(), labels=out["labels"].long(),
                  masks=out["masks"].as_subclass(torch.Tensor).to(torch.uint8), kept=kept)
    result["area"] = result["masks"].flatten(1).sum(1).float()
    if "iscrowd" in target:
        result["iscrowd"] = target["iscrowd"][kept]
    return out_image.as_subclass(torch.Tensor).clamp(0, 1), result


class AugmentedDataset(Dataset):
    """An (image, target) dataset whose items are augmented jointly: a new variant every epoch, reproducibly.

    The base items are read once and kept in memory. With a ``seed``, item ``index`` in epoch
    ``epoch`` (see :meth:`set_epoch`; ``CocoBatches`` calls it before every pass) is always the same
    variant, whatever was drawn before; torch's global random state is left as it was.

    Args:
        dataset: yields (image (3, H, W), target) pairs in torchvision's detection format.
        transforms: the pipeline (default :func:`default_augmentation` for the first image's size).
        seed: seed of the variants; None draws from torch's global generator.
    """

    def __init__(self, dataset, transforms=None, seed: int | None = 0):
        if len(dataset) == 0:
            raise ValueError("the dataset to augment is empty")
        self.items = [dataset[i] for i in range(len(dataset))]
        self.transforms = transforms or default_augmentation(int(self.items[0][0].shape[-1]))
        self.seed, self.epoch = seed, 0
        for name in ("num_classes", "class_names", "label_to_category", "ids"):
            if hasattr(dataset, name):
                setattr(self, name, getattr(dataset, name))

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose variants the next items are."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict]:
        image, target = self.items[index]
        if self.seed is None:
            return augment_sample(image, target, self.transforms)
        state = np.random.SeedSequence([int(self.seed), self.epoch, int(index)]).generate_state(1)[0]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(state))
            return augment_sample(image, target, self.transforms)

    def __repr__(self) -> str:
        return (f"AugmentedDataset({len(self)} items, seed={self.seed}, epoch={self.epoch}, "
                f"transforms={self.transforms})")
