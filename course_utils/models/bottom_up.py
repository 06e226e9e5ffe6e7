"""A bottom-up (FCN-driven) instance segmenter: label pixels first, then group them into objects.

Lesson 04's baseline, built from parts the course already has:

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
    """How to build and train the bottom-up model (lesson 04); training reuses lesson 03's fast FCN recipe."""

    interior_fraction: float = 0.5  # a pixel is interior when its depth in the object >= this x the deepest
    min_rim: float = 1.5  # ... and at least this many pixels deep (so every object has a rim)
    channels: tuple[int, ...] = (16, 32, 64, 128, 128)  # FCN encoder widths (the lesson 03 FCN's defaults)
    variant: str = "8s"  # FCN variant: the stride-8 skip keeps boundaries sharp
    num_train: int = 1500  # training scenes (split "train"), generated once
    num_val: int = 64  # validation scenes (split "val") scored after every epoch
    crop: int | None = 64  # training crop side (the FCN is fully convolutional; None = whole scenes)
    batch_size: int = 32  # crops per step
    num_epochs: int = 4  # passes over the training scenes
    lr: float = 1e-2  # peak learning rate (AdamW, one-cycle schedule)
    class_weight_power: float = 0.5  # loss weight per class = frequency ** -power (rare boundary pixels count more)
    max_minutes: float | None = 2.5  # training-time budget (CPU); the schedule is squeezed into it; None = all epochs
    min_area: int = 3  # interior components smaller than this many pixels are dropped as noise
    size: int = 128  # scene side in pixels
    seed: int = 0  # seeds initialisation and crop order


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


def preload_boundary(split: str | int, length: int, cfg: BottomUpConfig = BottomUpConfig()
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate ``length`` scenes once with their interior/boundary targets, as compact tensors.

    Args:
        split: "train", "val", "test" or an int seed.
        length: number of scenes.
        cfg: target settings (``interior_fraction``, ``min_rim``, ``size``).

    Returns:
        images uint8 (N, 3, size, size) (x 255) and targets uint8 (N, size, size).
    """
    seed = split_seed(split)
    images = torch.empty(length, 3, cfg.size, cfg.size, dtype=torch.uint8)
    targets = torch.empty(length, cfg.size, cfg.size, dtype=torch.uint8)
    for i in range(length):
        scene = make_scene(seed, i, cfg.size)
        images[i] = (scene["image"] * 255).round_().to(torch.uint8)
        targets[i] = boundary_target(scene["masks"], cfg.interior_fraction, cfg.min_rim).to(torch.uint8)
    return images, targets


def train_bottom_up(cfg: BottomUpConfig = BottomUpConfig(), device: torch.device | str | None = None,
                    checkpoint: str | None = "bottom_up", live_plot: bool = True,
                    progress: bool = True):
    """Train the bottom-up FCN with lesson 03's fast recipe and save it.

    The scenes and their 3-class targets are generated once; training uses random crops
    (``semantic_training.CropLoader``), a class-weighted cross-entropy and ``engine.fit``'s
    one-cycle schedule, with background/interior/boundary IoU on validation scenes after every epoch.

    Args:
        cfg: the configuration.
        device: where to train (default ``engine.get_device()``).
        checkpoint: checkpoint name to save to (``engine.checkpoint_path(checkpoint)``), or None.
        live_plot: draw the loss and validation curves while training (notebooks).
        progress: show a progress bar.

    Returns:
        (model in eval mode, ``History``, validation scores after the last epoch).
    """
    from ..engine import evaluate_semantic, get_device, seed_everything
    from ..semantic_training import CropLoader, class_weights
    from ..training import fit

    device = torch.device(device) if device is not None else get_device()
    seed_everything(cfg.seed)
    images, targets = preload_boundary("train", cfg.num_train, cfg)
    val_images, val_targets = preload_boundary("val", cfg.num_val, cfg)
    model = build_bottom_up(cfg)
    loader = CropLoader(images, targets, cfg.batch_size, cfg.crop, seed=cfg.seed)
    val_loader = CropLoader(val_images, val_targets, 64, crop=None, flip=False, shuffle=False)
    weight = class_weights(targets, len(PIXEL_CLASSES), cfg.class_weight_power).to(device)

    def loss_fn(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(logits, target, weight=weight)

    def val_fn(m: torch.nn.Module) -> dict[str, float]:
        return evaluate_semantic(m, val_loader, len(PIXEL_CLASSES), device=device, class_names=PIXEL_CLASSES)

    history = fit(model, loader, num_epochs=cfg.num_epochs, lr=cfg.lr, device=device, loss_fn=loss_fn, val_fn=val_fn,
                  max_minutes=cfg.max_minutes, live_plot=live_plot, progress=progress, checkpoint=checkpoint,
                  title="bottom-up FCN: background / interior / boundary")
    return model.eval(), history, (history.epochs[-1] if history.epochs else val_fn(model))


def load_bottom_up(name: str = "bottom_up", device: torch.device | str | None = None) -> FCN:
    """The bottom-up FCN saved by lesson 04 (``engine.checkpoint_path(name)``), in eval mode.

    Args:
        name: checkpoint name or path.
        device: where to put it (default: the CPU).

    Returns:
        the 3-class FCN, ready for :func:`bottom_up_instances`.
    """
    from .fcn import load_fcn

    return load_fcn(name).to(device or "cpu").eval()


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

    Touching objects of one class come out as ONE instance: this is what lesson 04 shows fails.

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


@dataclass(frozen=True)
class FastSemanticConfig:
    """A quicker lesson-03 FCN-8s run, for when lesson 03's checkpoint is missing."""

    num_train: int = 1000  # training scenes (lesson 03: 2000)
    num_epochs: int = 4  # passes over them (lesson 03: 12)
    max_minutes: float | None = 1.5  # time budget on a CPU; None = all epochs
    checkpoint: str = "fcn8s_fast"  # saved here (not over lesson 03's "fcn8s"), so a re-run loads it


def semantic_fcn(device: torch.device | str | None = None, name: str = "fcn8s",
                 fast: FastSemanticConfig = FastSemanticConfig(), live_plot: bool = True) -> tuple[FCN, str]:
    """Lesson 03's semantic FCN-8s, or (when its checkpoint is missing) a quickly trained stand-in.

    Looks for the checkpoint ``name``, then ``fast.checkpoint``; trains the stand-in with lesson
    03's recipe and fewer scenes and epochs only when neither exists.

    Args:
        device: where to put (and train) the model (default ``engine.get_device()``).
        name: lesson 03's checkpoint name.
        fast: how to train the stand-in.
        live_plot: show the training curves while the stand-in trains.

    Returns:
        (model in eval mode on ``device``, one sentence saying where it came from).
    """
    from ..engine import checkpoint_path, get_device
    from ..semantic_training import FCNTrainConfig, train_fcn
    from .fcn import load_fcn

    device = torch.device(device) if device is not None else get_device()
    for candidate in (name, fast.checkpoint):
        if checkpoint_path(candidate).exists():
            return load_fcn(candidate).to(device).eval(), f"Loaded the FCN-8s from {checkpoint_path(candidate)}."
    cfg = FCNTrainConfig(num_train=fast.num_train, num_epochs=fast.num_epochs, max_minutes=fast.max_minutes)
    model, _, scores = train_fcn(cfg, device=device, live_plot=live_plot, checkpoint=fast.checkpoint)
    return model.to(device).eval(), (
        f"Lesson 03's checkpoint {checkpoint_path(name)} is missing, so a quicker FCN-8s was trained here "
        f"(validation mIoU {scores['miou']:.2f}, saved as {checkpoint_path(fast.checkpoint)}); run lesson 03 "
        "for the real one.")
