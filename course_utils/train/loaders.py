"""Batch loaders for training: data generated once, batches cut, flipped and stacked from memory.

* ``preload_semantic`` + ``CropLoader``: semantic scenes as compact uint8 tensors, batches of
  whole scenes or random crops with flips (pixel classifier, FCN, bottom-up FCN);
* ``SceneBatches`` (shapes-world scenes) and ``CocoBatches`` (any detection dataset): shuffled,
  randomly flipped batches in torchvision's detection format (Mask R-CNN), sharing one
  ``DetectionBatches.__iter__``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..data.datasets import instance_target, segment_target, split_seed
from ..data.shapes import make_scene


def preload_semantic(split: str | int = "train", length: int = 2000, size: int = 128,
                     target: Callable[[dict], torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate ``length`` scenes of a split once, as compact tensors.

    Args:
        split: "train", "val", "test" or an int seed.
        length: number of scenes.
        size: image side in pixels.
        target: ``target(scene) -> (size, size)`` map to keep per scene (default: ``scene["semantic"]``).

    Returns:
        images uint8 (N, 3, size, size) (x 255) and target maps uint8 (N, size, size).
    """
    seed = split_seed(split)
    images = torch.empty(length, 3, size, size, dtype=torch.uint8)
    labels = torch.empty(length, size, size, dtype=torch.uint8)
    for i in range(length):
        s = make_scene(seed, i, size)
        images[i] = (s["image"] * 255).round_().to(torch.uint8)
        labels[i] = (s["semantic"] if target is None else target(s)).to(torch.uint8)
    return images, labels


class CropLoader:
    """Batches of random crops (and flips) from preloaded uint8 tensors, as float images and int64 maps.

    Iterating gives ``len(self)`` batches ``(images (B, 3, c, c) float in [0, 1], targets (B, c, c) int64)``.
    Each pass uses a new random order; ``crop=None`` gives whole images and ``shuffle=False`` a
    fixed order (for evaluation).

    Args:
        images: uint8 (N, 3, H, W).
        labels: uint8 or int64 (N, H, W).
        batch_size: images per batch.
        crop: side of the random square crop, or None for the whole image.
        flip: random horizontal flips (the shapes world has no left/right preference).
        shuffle: new random order every pass.
        seed: seed of the crop/flip/order generator.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 32, crop: int | None = 64,
                 flip: bool = True, shuffle: bool = True, seed: int = 0):
        if len(images) != len(labels) or len(images) == 0:
            raise ValueError(f"need as many images as label maps (and at least one): {len(images)} vs {len(labels)}")
        size = images.shape[-1]
        if crop is not None and not 0 < crop <= min(images.shape[-2:]):
            raise ValueError(f"crop must be between 1 and the image size {size}, got {crop}")
        self.images, self.labels = images, labels
        self.batch_size, self.crop, self.flip, self.shuffle = batch_size, crop, flip, shuffle
        self.gen = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.images) // self.batch_size)

    def __iter__(self):
        n = len(self.images)
        order = torch.randperm(n, generator=self.gen) if self.shuffle else torch.arange(n)
        h, w = self.images.shape[-2:]
        for idx in order.split(self.batch_size):
            imgs, labs = self.images[idx], self.labels[idx]  # (B, 3, H, W), (B, H, W)
            if self.crop is not None and self.crop < min(h, w):
                c = self.crop
                oy = int(torch.randint(0, h - c + 1, (1,), generator=self.gen))
                ox = int(torch.randint(0, w - c + 1, (1,), generator=self.gen))
                imgs, labs = imgs[..., oy:oy + c, ox:ox + c], labs[..., oy:oy + c, ox:ox + c]
            if self.flip and bool(torch.rand((), generator=self.gen) < 0.5):
                imgs, labs = imgs.flip(-1), labs.flip(-1)
            yield imgs.float().div_(255), labs.long()


class DetectionBatches:
    """Shuffled batches of in-memory (image, target) pairs, flipped at random, in detection format.

    Iterating gives ``(images, targets)``: a list of (3, H, W) tensors and a list of target dicts
    (``boxes`` (N, 4) xyxy, ``labels`` (N,), ``masks`` (N, H, W) uint8). Every epoch reshuffles
    and draws new flips. ``len`` is the number of batches per epoch (the last one may be smaller).

    Args:
        images: (3, H, W) tensors.
        targets: their target dicts (only ``boxes``, ``labels`` and ``masks`` are kept).
        batch_size: images per batch.
        flip: random left-right and top-bottom flips.
        seed: seed of the order and the flips.
    """

    def __init__(self, images: list[torch.Tensor], targets: list[dict], batch_size: int = 8, flip: bool = True,
                 seed: int = 0):
        self.images = list(images)  # (3, H, W) each
        self.targets = [{k: t[k] for k in ("boxes", "labels", "masks")} for t in targets]
        self.batch_size, self.flip = int(batch_size), flip
        self.gen = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.images) / self.batch_size)

    def __iter__(self):
        order = torch.randperm(len(self.images), generator=self.gen).tolist()
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            flips = (torch.rand(len(idx), 2, generator=self.gen) < 0.5) & self.flip  # (B, 2) left-right, top-bottom
            pairs = [flip_scene(self.images[i], self.targets[i], bool(fx), bool(fy)) for i, (fx, fy) in zip(idx, flips)]
            yield [p[0] for p in pairs], [p[1] for p in pairs]


class SceneBatches(DetectionBatches):
    """``DetectionBatches`` of ``length`` shapes-world scenes of a split, generated once.

    Args:
        split: "train", "val", "test" or an int seed.
        length: number of scenes.
        batch_size: scenes per batch.
        size: scene side in pixels.
        flip: random flips.
        seed: seed of the order and the flips.
    """

    def __init__(self, split: str | int = "train", length: int = 1536, batch_size: int = 8, size: int = 128,
                 flip: bool = True, seed: int = 0):
        seed_of_split = split_seed(split)
        images, targets = [], []
        for i in range(length):
            scene = make_scene(seed_of_split, i, size)
            images.append(scene["image"])  # (3, H, W)
            targets.append(instance_target(scene, image_id=i))
        super().__init__(images, targets, batch_size, flip, seed)


class SegmentBatches(DetectionBatches):
    """``DetectionBatches`` whose targets hold every segment of a scene, stuff and things (``segment_target``).

    Args: as ``SceneBatches``.
    """

    def __init__(self, split: str | int = "train", length: int = 1536, batch_size: int = 8, size: int = 128,
                 flip: bool = True, seed: int = 0):
        scenes = [make_scene(split_seed(split), i, size) for i in range(length)]
        super().__init__([s["image"] for s in scenes], [segment_target(s) for s in scenes], batch_size, flip, seed)


class CocoBatches(DetectionBatches):
    """``DetectionBatches`` of a whole detection dataset, loaded into memory once.

    A dataset with a ``set_epoch`` method (``data.augment.AugmentedDataset``) is read again before
    every pass instead, with the pass's number, so each epoch trains on new augmented variants.

    Args:
        dataset: yields (image (3, H, W), target) pairs in torchvision's format (e.g. ``CocoInstanceDataset``).
        batch_size: images per batch.
        flip: random left-right and top-bottom flips.
        seed: seed of the order and the flips.
    """

    def __init__(self, dataset, batch_size: int = 8, flip: bool = True, seed: int = 0):
        if len(dataset) == 0:
            raise ValueError("the dataset is empty: there is nothing to train on")
        self.dataset = dataset if callable(getattr(dataset, "set_epoch", None)) else None
        self.epoch = 0
        if self.dataset is not None:
            self.dataset.set_epoch(0)
        super().__init__(*self._read(dataset), batch_size, flip, seed)

    @staticmethod
    def _read(dataset) -> tuple[list[torch.Tensor], list[dict]]:
        """Every (image, target) of the dataset, as two lists."""
        items = [dataset[i] for i in range(len(dataset))]
        return [img for img, _ in items], [t for _, t in items]

    def __iter__(self):
        if self.dataset is not None:
            if self.epoch > 0:  # epoch 0 was read when the batches were made
                self.dataset.set_epoch(self.epoch)
                images, targets = self._read(self.dataset)
                self.images = images
                self.targets = [{k: t[k] for k in ("boxes", "labels", "masks")} for t in targets]
            self.epoch += 1
        yield from super().__iter__()


def flip_scene(image: torch.Tensor, target: dict, horizontal: bool, vertical: bool) -> tuple[torch.Tensor, dict]:
    """Mirror a scene and its target left-right and/or top-bottom.

    Args:
        image: (3, H, W).
        target: ``boxes`` (N, 4) xyxy in pixel-edge coordinates, ``labels`` (N,), ``masks`` (N, H, W).
        horizontal: mirror left-right; vertical: mirror top-bottom.

    Returns:
        the flipped image (3, H, W) and a new target dict.
    """
    h, w = image.shape[-2:]
    boxes, masks = target["boxes"], target["masks"]
    if horizontal:
        image, masks = image.flip(-1), masks.flip(-1)
        boxes = torch.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], dim=1)  # (N, 4)
    if vertical:
        image, masks = image.flip(-2), masks.flip(-2)
        boxes = torch.stack([boxes[:, 0], h - boxes[:, 3], boxes[:, 2], h - boxes[:, 1]], dim=1)  # (N, 4)
    return image, {**target, "boxes": boxes, "masks": masks}
