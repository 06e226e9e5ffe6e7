"""Torch datasets over the shapes world, one per task, plus a collate for detection batches.

Every dataset generates scenes on the fly from ``(seed, index)``: a split is a seed and a
length, so nothing is stored on disk. ``SPLITS`` names the seeds the course uses.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from .shapes import make_scene

SPLITS: dict[str, int] = {"train": 0, "val": 1, "test": 2}
"""Seed of each named split. Different seeds never share a scene."""


def split_seed(split: str | int) -> int:
    """The seed of a split name ("train", "val", "test") or an explicit int seed."""
    if isinstance(split, int):
        return split
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {sorted(SPLITS)} or an int seed")
    return SPLITS[split]


class _SceneDataset(Dataset):
    """Base: ``length`` scenes of one split at one size."""

    def __init__(self, split: str | int = "train", length: int = 512, size: int = 128):
        self.seed = split_seed(split)
        self.length = int(length)
        self.size = int(size)

    def __len__(self) -> int:
        return self.length

    def scene(self, index: int) -> dict:
        """The full scene dict behind item ``index``."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of {self.length} scenes")
        return make_scene(self.seed, index, self.size)


class SemanticDataset(_SceneDataset):
    """(image float32 (3, H, W), semantic int64 (H, W)) pairs for semantic segmentation."""

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.scene(index)
        return s["image"], s["semantic"]


class PixelDataset(_SceneDataset):
    """Single pixels for per-pixel classification: (features (P, F), labels (P,)) per scene.

    Features are RGB, plus normalised (y, x) in [0, 1] when ``with_coords``. ``pixels`` random
    pixels are drawn per scene (the same ones every time); ``pixels=None`` returns all of them.
    """

    def __init__(self, split: str | int = "train", length: int = 512, size: int = 128,
                 pixels: int | None = 1024, with_coords: bool = False):
        super().__init__(split, length, size)
        self.pixels = pixels
        self.with_coords = with_coords

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.scene(index)
        feats = pixel_features(s["image"], self.with_coords)  # (F, H, W)
        feats = feats.flatten(1).T  # (H*W, F)
        labels = s["semantic"].flatten()  # (H*W,)
        if self.pixels is not None:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
            pick = torch.randperm(labels.numel(), generator=g)[: self.pixels]
            feats, labels = feats[pick], labels[pick]
        return feats, labels


def pixel_features(images: torch.Tensor, with_coords: bool = False) -> torch.Tensor:
    """Per-pixel input features: RGB, optionally followed by normalised (y, x) coordinates.

    Args:
        images: (3, H, W) or (B, 3, H, W) float.
        with_coords: append two channels holding each pixel's row and column in [0, 1].

    Returns:
        (3 or 5, H, W), or (B, 3 or 5, H, W).
    """
    if not with_coords:
        return images
    h, w = images.shape[-2:]
    yy = torch.linspace(0, 1, h, device=images.device).view(h, 1).expand(h, w)
    xx = torch.linspace(0, 1, w, device=images.device).view(1, w).expand(h, w)
    coords = torch.stack([yy, xx]).to(images.dtype)  # (2, H, W)
    if images.dim() == 4:
        coords = coords.expand(images.shape[0], -1, -1, -1)
    return torch.cat([images, coords], dim=-3)


class InstanceDataset(_SceneDataset):
    """(image, target) pairs in torchvision's detection format.

    target: ``boxes`` float32 (N, 4) xyxy, ``labels`` int64 (N,) class ids (see ``THINGS``),
    ``masks`` uint8 (N, H, W), ``image_id`` int, ``area`` float32 (N,), ``iscrowd`` int64 (N,).
    """

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict]:
        s = self.scene(index)
        return s["image"], instance_target(s, image_id=index)


def instance_target(scene: dict, image_id: int = 0) -> dict:
    """The torchvision detection target of a scene dict (see ``InstanceDataset``)."""
    masks = scene["masks"]
    return {
        "boxes": scene["boxes"].clone(),
        "labels": scene["labels"].clone(),
        "masks": masks.to(torch.uint8),
        "image_id": int(image_id),
        "area": masks.flatten(1).sum(1).to(torch.float32),
        "iscrowd": torch.zeros(len(masks), dtype=torch.int64),
    }


def segment_target(scene: dict) -> dict:
    """Every segment of a scene, stuff and things, as one target (what a mask classifier learns).

    Returns:
        ``boxes`` (S, 4) xyxy, ``labels`` (S,) class ids, ``masks`` uint8 (S, H, W), in the order of
        ``scene["segments"]`` (stuff first).
    """
    panoptic, segments = scene["panoptic"], scene["segments"]
    ids = torch.as_tensor([s["id"] for s in segments], dtype=panoptic.dtype)
    masks = (panoptic[None] == ids[:, None, None]).to(torch.uint8)  # (S, H, W)
    boxes = torch.as_tensor([[x, y, x + w, y + h] for x, y, w, h in (s["bbox"] for s in segments)],
                            dtype=torch.float32).reshape(-1, 4)
    labels = torch.as_tensor([s["category_id"] for s in segments], dtype=torch.int64)
    return {"boxes": boxes, "labels": labels, "masks": masks}


class PanopticDataset(_SceneDataset):
    """(image, target) with ``panoptic`` int64 (H, W) segment ids, ``segments`` and ``semantic``."""

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict]:
        s = self.scene(index)
        return s["image"], {"panoptic": s["panoptic"], "segments": s["segments"], "semantic": s["semantic"],
                            "image_id": index}


def collate(batch: list) -> tuple:
    """Detection-style collate: a list of (image, target) pairs -> (images tuple, targets tuple).

    Images of a detection batch may differ in size, so they are not stacked.
    """
    return tuple(zip(*batch))
