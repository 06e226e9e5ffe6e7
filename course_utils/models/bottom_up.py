"""A bottom-up (FCN-driven) instance segmenter: label pixels first, then group them into objects.

Lesson 05's baseline, built from parts the course already has:

1. an FCN with ``num_classes=3`` (``models.fcn``) labels every pixel background / object
   interior / object boundary. The interior is each object's core (the pixels deeper inside it
   than ``interior_fraction`` of its largest depth), the boundary the rim around it, so where two
   objects touch there is a thick band of boundary between their interiors: thick enough for an
   FCN whose finest features have stride 8 to see;
2. connected components (``scipy.ndimage.label``) of the predicted interior give one seed per
   object, even for touching objects of the same class;
3. every predicted object pixel (interior or boundary) joins its nearest seed, which grows the
   seeds back to full objects;
4. each object takes the class most of its pixels get from lesson 03's semantic FCN (a majority
   vote among the thing classes).

``bottom_up_instances(model, semantic_model, image)`` runs all four steps on one image.
``semantic_instances(semantic)`` is the plain alternative it is compared with: connected
components of each thing class straight from a semantic map, which merges touching objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage as ndi
from torch.utils.data import Dataset

from ..data.classes import NUM_CLASSES, THINGS
from ..data.datasets import split_seed
from ..data.shapes import make_scene
from .fcn import FCN, build_fcn

BACKGROUND, INTERIOR, BOUNDARY = 0, 1, 2
"""The three pixel classes the bottom-up FCN predicts."""

PIXEL_CLASSES = ["background", "interior", "boundary"]
"""Names of the three pixel classes, index = id."""


@dataclass(frozen=True)
class BottomUpConfig:
    """The bottom-up model of lesson 05 and its pixel targets (training: ``train.bottom_up.BottomUpTrainConfig``)."""

    interior_fraction: float = 0.5  # a pixel is interior when its depth in the object >= this x the deepest
    min_rim: float = 1.5  # ... and at least this many pixels deep (so every object has a rim)
    channels: tuple[int, ...] = (16, 32, 64, 128, 128)  # FCN encoder widths (the lesson 03 FCN's defaults)
    variant: str = "8s"  # FCN variant: the stride-8 skip keeps boundaries sharp
    min_area: int = 3  # interior components smaller than this many pixels are dropped as noise


def boundary_target(masks: torch.Tensor, interior_fraction: float = 0.5, min_rim: float = 1.5) -> torch.Tensor:
    """The 3-class training target of a scene: background, object interior, object boundary.

    A pixel's *depth* is its distance to the nearest pixel outside its own object (the image
    border does not count). Interior pixels are those with depth >= ``interior_fraction`` x the
    object's largest depth and > ``min_rim``; the other object pixels are boundary.

    Args:
        masks: (N, H, W) bool, non-overlapping instance masks (visible parts).
        interior_fraction: how deep the interior starts, relative to the object's deepest pixel.
        min_rim: the smallest depth of an interior pixel, in pixels.

    Returns:
        (H, W) int64 with values ``BACKGROUND``, ``INTERIOR``, ``BOUNDARY``.
    """
    m = masks.cpu().numpy().astype(bool)
    target = np.zeros(m.shape[1:], np.int64)
    for mask in m:
        if not mask.any():
            continue
        depth = ndi.distance_transform_edt(np.pad(mask, 1, mode="edge"))[1:-1, 1:-1]  # border: not an edge
        target[mask] = BOUNDARY
        target[mask & (depth >= max(interior_fraction * depth.max(), min_rim))] = INTERIOR
    return torch.from_numpy(target)


class BoundaryDataset(Dataset):
    """(image (3, H, W), target (H, W) int64 background/interior/boundary) pairs, generated on the fly."""

    def __init__(self, split: str | int = "train", length: int = 2048, size: int = 128,
                 interior_fraction: float = 0.5, min_rim: float = 1.5):
        self.seed = split_seed(split)
        self.length, self.size = int(length), int(size)
        self.interior_fraction, self.min_rim = float(interior_fraction), float(min_rim)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of {self.length} scenes")
        scene = make_scene(self.seed, index, self.size)
        return scene["image"], boundary_target(scene["masks"], self.interior_fraction, self.min_rim)


def build_bottom_up(cfg: BottomUpConfig = BottomUpConfig()) -> FCN:
    """The bottom-up pixel model: lesson 03's FCN with 3 output classes.

    Args:
        cfg: the configuration (``variant`` and ``channels`` are used).

    Returns:
        an untrained FCN: images (B, 3, H, W) -> logits (B, 3, H, W).
    """
    return build_fcn(num_classes=len(PIXEL_CLASSES), variant=cfg.variant, channels=cfg.channels)


def _as_numpy_map(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def group_pixels(pixel_map: torch.Tensor | np.ndarray, min_area: int = 3,
                 return_seeds: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Steps 2-3: seeds = connected interior components, then every object pixel joins its nearest seed.

    Args:
        pixel_map: (H, W) ids ``BACKGROUND`` / ``INTERIOR`` / ``BOUNDARY`` (the FCN's argmax).
        min_area: interior components smaller than this are ignored.
        return_seeds: also return the seed map.

    Returns:
        (H, W) int64 instance ids: 0 = no object, 1..K = objects; with ``return_seeds`` also the
        (H, W) seed ids (the same numbers, on the interior pixels only).
    """
    pm = _as_numpy_map(pixel_map)
    seeds, k = ndi.label(pm == INTERIOR)  # 4-connected components
    if k:
        areas = ndi.sum_labels(np.ones_like(seeds), seeds, index=np.arange(1, k + 1))
        keep = np.concatenate([[0], np.where(areas >= min_area, np.cumsum(areas >= min_area), 0)])
        seeds = keep[seeds]  # renumber 1..K', small ones -> 0
    if seeds.max() == 0:
        grown = np.zeros(pm.shape, np.int64)
    else:
        # index of the nearest seed pixel for every pixel (distance transform of "not a seed")
        _, (iy, ix) = ndi.distance_transform_edt(seeds == 0, return_indices=True)
        grown = np.where(pm != BACKGROUND, seeds[iy, ix], 0).astype(np.int64)
    return (grown, seeds.astype(np.int64)) if return_seeds else grown


def _instances_from_ids(ids: np.ndarray, class_votes: np.ndarray | None, labels_fixed: list[int] | None,
                        class_probs: np.ndarray | None, vote_ids: np.ndarray | None = None) -> dict:
    """Masks, labels, scores and boxes of an instance-id map (ids 1..K; 0 = none).

    Each instance's class is the most frequent thing class of ``class_votes`` over its pixels in
    ``vote_ids`` (e.g. its interior seed, where a semantic FCN is most reliable), or over its
    whole mask when ``vote_ids`` is None or has no pixel of it.
    """
    from torchvision.ops import masks_to_boxes

    present = [i for i in np.unique(ids) if i != 0]
    masks = np.stack([ids == i for i in present]) if present else np.zeros((0, *ids.shape), bool)
    labels, scores = [], []
    for n, (i, mask) in enumerate(zip(present, masks)):
        if labels_fixed is not None:
            labels.append(labels_fixed[n])
            scores.append(1.0)
            continue
        where = mask if vote_ids is None or not (vote_ids == i).any() else vote_ids == i
        counts = np.bincount(class_votes[where], minlength=NUM_CLASSES)[THINGS]  # votes of the thing classes
        cls = THINGS[int(np.argmax(counts))]
        labels.append(cls)
        scores.append(float(class_probs[cls][mask].mean()) if class_probs is not None else 1.0)
    m = torch.from_numpy(masks)
    boxes = masks_to_boxes(m) + torch.tensor([0.0, 0.0, 1.0, 1.0]) if len(m) else torch.zeros(0, 4)
    return {"masks": m, "labels": torch.tensor(labels, dtype=torch.int64), "scores": torch.tensor(scores),
            "boxes": boxes.float()}


def semantic_instances(semantic: torch.Tensor | np.ndarray) -> dict:
    """Instances read straight off a semantic map: connected components of each thing class.

    Touching objects of one class come out as ONE instance: this is what lesson 05 shows fails.

    Args:
        semantic: (H, W) class ids (ground truth or a model's argmax).

    Returns:
        ``masks`` (K, H, W) bool, ``labels`` (K,), ``scores`` (K,) all 1, ``boxes`` (K, 4) xyxy
        (pixel edges, x2 = last column + 1).
    """
    sem = _as_numpy_map(semantic)
    ids = np.zeros(sem.shape, np.int64)
    labels: list[int] = []
    for cls in THINGS:
        comp, k = ndi.label(sem == cls)
        ids[comp > 0] = comp[comp > 0] + len(labels)
        labels += [cls] * k
    return _instances_from_ids(ids, None, labels, None)


@torch.no_grad()
def bottom_up_instances(model: torch.nn.Module, semantic_model: torch.nn.Module, image: torch.Tensor,
                        min_area: int = 3) -> dict:
    """Instance masks and labels of one image with the bottom-up method (steps 1-4 of the module docstring).

    Args:
        model: the 3-class bottom-up FCN.
        semantic_model: lesson 03's semantic FCN (``NUM_CLASSES`` outputs), for the class vote.
        image: (3, H, W) float in [0, 1].
        min_area: interior components smaller than this are ignored.

    Returns:
        dict with ``masks`` (K, H, W) bool, ``labels`` (K,) int64 thing class ids, ``scores`` (K,)
        (mean semantic probability of the chosen class), ``boxes`` (K, 4) xyxy, ``pixel_map``
        (H, W) the FCN's background/interior/boundary map and ``ids`` (H, W) the instance ids.
    """
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"image must be one (3, H, W) tensor, got shape {tuple(image.shape)}")
    was = model.training, semantic_model.training
    model.eval()
    semantic_model.eval()
    x = image[None].to(next(model.parameters()).device)  # (1, 3, H, W)
    pixel_map = model(x).argmax(1)[0].cpu().numpy()  # (H, W)
    probs = semantic_model(x.to(next(semantic_model.parameters()).device)).softmax(1)[0].cpu().numpy()  # (C, H, W)
    model.train(was[0])
    semantic_model.train(was[1])
    ids = group_pixels(pixel_map, min_area)
    out = _instances_from_ids(ids, probs.argmax(0), None, probs)
    out["pixel_map"] = torch.from_numpy(pixel_map)
    out["ids"] = torch.from_numpy(ids)
    return out
