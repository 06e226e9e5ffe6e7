"""Fast recipes for the semantic models of lessons 01 and 03 (pixel classifier, FCN), also used by benchmarks.

Speed on a laptop CPU comes from three choices:

* scenes are generated **once** into uint8 tensors (``preload_semantic``), not on every epoch;
* batches of whole scenes (or random crops) with horizontal flips come straight from those
  tensors (``CropLoader``); small per-pixel models train on 32x32 crops, the FCN on whole scenes;
* a class-weighted loss makes the rare shape classes learn sooner, and a **OneCycle** schedule
  gets a good model in few epochs.

``train_fcn(FCNTrainConfig(...))`` returns the model, its ``History`` and validation scores;
``History.epochs[i]["elapsed_s"]`` and ``time_to_miou(history, 0.9)`` give time-to-quality.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import partial

import torch
import torch.nn.functional as F

from .data.classes import NUM_CLASSES
from .data.datasets import split_seed
from .data.shapes import make_scene


def preload_semantic(split: str | int = "train", length: int = 2000,
                     size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate ``length`` scenes of a split once, as compact tensors.

    Args:
        split: "train", "val", "test" or an int seed.
        length: number of scenes.
        size: image side in pixels.

    Returns:
        images uint8 (N, 3, size, size) (x 255) and semantic maps uint8 (N, size, size).
    """
    seed = split_seed(split)
    images = torch.empty(length, 3, size, size, dtype=torch.uint8)
    labels = torch.empty(length, size, size, dtype=torch.uint8)
    for i in range(length):
        s = make_scene(seed, i, size)
        images[i] = (s["image"] * 255).round_().to(torch.uint8)
        labels[i] = s["semantic"].to(torch.uint8)
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


@dataclass(frozen=True)
class FCNTrainConfig:
    """A full FCN training run on the shapes world (lesson 03's recipe)."""

    variant: str = "8s"  # "32s", "16s" or "8s"
    num_classes: int = NUM_CLASSES  # classes of the model (7 for the shapes world)
    channels: tuple[int, ...] = (8, 24, 48, 96, 128)  # encoder widths (see FCNConfig)
    convs_per_stage: tuple[int, ...] = (1, 1, 2, 2, 2)  # 3x3 convs per encoder stage
    num_train: int = 2000  # training scenes, generated once
    num_val: int = 128  # validation scenes (split "val")
    size: int = 128  # scene side in pixels
    crop: int | None = None  # training crop side; None = whole scenes (crops of 64 learn far slower per second)
    batch_size: int = 8  # scenes per step
    num_epochs: int = 12  # passes over the training scenes (lesson 03: mIoU 0.90-0.91 after 9, 0.91 after 12)
    lr: float = 3e-3  # peak learning rate of the OneCycle schedule (AdamW)
    weight_decay: float = 1e-4  # AdamW weight decay
    class_weight_power: float = 0.5  # loss weight per class = frequency ** -power (0: plain cross-entropy)
    undo_weight_bias: bool = True  # subtract log(weight) from the scores after training (and when validating)
    boundary_width: int = 3  # also score pixels within this many px of a class boundary
    max_minutes: float | None = None  # wall-clock budget of the training steps (the schedule is squeezed into it)
    seed: int = 0  # seeds initialisation and batch order


def class_weights(labels: torch.Tensor, num_classes: int, power: float = 0.5) -> torch.Tensor:
    """Per-class loss weights from pixel frequencies: ``freq ** -power``, scaled to a pixel-weighted mean of 1.

    Rare classes (the shapes) get larger weights, so they pull harder on the loss; ``power=0``
    gives all ones, ``power=1`` full inverse frequency. Classes that never occur get weight 0.

    Args:
        labels: int (N, H, W) training label maps.
        num_classes: C.
        power: how strongly to favour rare classes.

    Returns:
        (C,) float32 weights for ``F.cross_entropy(weight=...)``.
    """
    counts = torch.bincount(labels.reshape(-1).long(), minlength=num_classes).double()  # (C,)
    freq = counts / counts.sum()
    w = torch.where(counts > 0, freq.clamp(min=1e-12) ** -power, torch.zeros_like(freq))
    w = w / (w * freq).sum()  # the average pixel keeps weight 1, so the learning rate means the same
    return w.float()


def undo_class_weight_bias(model, weights: torch.Tensor, scale: float = 1.0) -> None:
    """Remove the bias a class-weighted loss puts into an FCN's predictions (logit adjustment), in place.

    Training with weights ``w`` makes the model's softmax approximate ``w_c p(c | x)`` (normalised)
    instead of ``p(c | x)``, so boundary pixels lean towards the up-weighted rare classes. Subtracting
    ``log w_c`` from every class score undoes that; for an FCN it is a change of the stride-32
    classifier's bias, because bilinear upsampling and skip additions carry a constant through.

    Args:
        model: an ``FCN`` trained with ``F.cross_entropy(weight=weights)``.
        weights: (C,) the class weights used in training; classes with weight 0 are left alone.
        scale: how much of ``log w`` to subtract (``-1`` puts it back).
    """
    w = weights.detach().to(model.score32.bias.device, torch.float32)
    shift = torch.where(w > 0, w.clamp(min=1e-12).log(), torch.zeros_like(w))  # (C,)
    with torch.no_grad():
        model.score32.bias -= scale * shift


def time_to_miou(history, target: float = 0.9) -> float | None:
    """Seconds of training (validation excluded) until validation mIoU first reached ``target``, else None."""
    for e in history.epochs:
        if e.get("miou", 0.0) >= target:
            return e["elapsed_s"]
    return None


def train_fcn(cfg: FCNTrainConfig = FCNTrainConfig(), *, data=None, val_data=None, device=None,
              live_plot: bool = False, progress: bool = True, checkpoint: str | None = None, **overrides):
    """Train an FCN on the shapes world with validation every epoch.

    Args:
        cfg: the run's configuration; keyword ``overrides`` replace its fields.
        data: preloaded training (images, labels) to reuse (default: generate ``cfg.num_train`` scenes).
        val_data: preloaded validation (images, labels) (default: ``cfg.num_val`` "val" scenes).
        device: where to train (default ``engine.get_device()``).
        live_plot: live loss/mIoU figure (notebooks).
        progress: progress bar.
        checkpoint: save the trained model under this name/path (with its config).

    Returns:
        (model in eval mode, ``History``, final validation scores dict incl. boundary scores).
    """
    from .engine import evaluate_semantic, get_device, seed_everything
    from .models.fcn import build_fcn
    from .training import fit

    cfg = replace(cfg, **overrides) if overrides else cfg
    device = torch.device(device) if device is not None else get_device()
    seed_everything(cfg.seed)
    train_images, train_labels = data if data is not None else preload_semantic("train", cfg.num_train, cfg.size)
    val_images, val_labels = val_data if val_data is not None else preload_semantic("val", cfg.num_val, cfg.size)
    loader = CropLoader(train_images, train_labels, cfg.batch_size, cfg.crop, seed=cfg.seed)
    val_loader = CropLoader(val_images, val_labels, 64, crop=None, flip=False, shuffle=False)
    model = build_fcn(cfg.num_classes, cfg.variant, channels=cfg.channels, convs_per_stage=cfg.convs_per_stage)
    weights = class_weights(train_labels, cfg.num_classes, cfg.class_weight_power).to(device)
    loss_fn = partial(F.cross_entropy, weight=weights)
    clock = {"val": 0.0, "start": time.perf_counter()}
    adjust = 1.0 if cfg.undo_weight_bias and cfg.class_weight_power else 0.0

    def val_fn(m):
        t0 = time.perf_counter()
        elapsed = t0 - clock["start"] - clock["val"]  # training time so far, validation excluded
        undo_class_weight_bias(m, weights, adjust)
        scores = evaluate_semantic(m, val_loader, cfg.num_classes, device=device)
        undo_class_weight_bias(m, weights, -adjust)
        clock["val"] += time.perf_counter() - t0
        return {**scores, "elapsed_s": elapsed}

    history = fit(model, loader, num_epochs=cfg.num_epochs, lr=cfg.lr, device=device, val_fn=val_fn, loss_fn=loss_fn,
                  weight_decay=cfg.weight_decay, max_minutes=cfg.max_minutes, live_plot=live_plot,
                  progress=progress, title=f"FCN-{cfg.variant}")
    undo_class_weight_bias(model, weights, adjust)
    scores = evaluate_semantic(model, val_loader, cfg.num_classes, device=device, boundary_width=cfg.boundary_width)
    if checkpoint is not None:
        from .training import save_checkpoint

        save_checkpoint(model, checkpoint, history=history, train_config=cfg)
    return model, history, scores


@dataclass(frozen=True)
class PixelTrainConfig:
    """A per-pixel classifier training run (lesson 01's defaults)."""

    hidden: int = 32  # MLP width; 0 = logistic regression
    with_coords: bool = False  # also feed each pixel's (y, x) position
    num_train: int = 500  # training scenes
    num_val: int = 128  # validation scenes (split "val")
    crop: int = 32  # random crops: 1,024 pixels per crop is plenty for a model that sees one pixel
    batch_size: int = 16  # crops per step
    num_epochs: int = 10  # passes over the training scenes
    lr: float = 3e-2  # peak learning rate (OneCycle, AdamW)
    seed: int = 0  # seeds initialisation and crop order


def train_pixel_classifier(cfg: PixelTrainConfig = PixelTrainConfig(), *, data=None, val_data=None, device=None,
                           live_plot: bool = False, progress: bool = True, checkpoint: str | None = None,
                           **overrides):
    """Train lesson 01's per-pixel classifier (a few seconds on a CPU).

    Args:
        cfg: the run's configuration; keyword ``overrides`` replace its fields.
        data: preloaded training (images, labels) (default: ``cfg.num_train`` "train" scenes).
        val_data: preloaded validation (images, labels) (default: ``cfg.num_val`` "val" scenes).
        device: where to train.
        live_plot: live loss figure (notebooks).
        progress: progress bar.
        checkpoint: save the model under this name/path.

    Returns:
        (model in eval mode, ``History``, validation scores dict).
    """
    from .engine import evaluate_semantic, get_device, seed_everything
    from .models.pixel import build_pixel_classifier
    from .training import fit

    cfg = replace(cfg, **overrides) if overrides else cfg
    device = torch.device(device) if device is not None else get_device()
    seed_everything(cfg.seed)
    train_images, train_labels = data if data is not None else preload_semantic("train", cfg.num_train)
    val_images, val_labels = val_data if val_data is not None else preload_semantic("val", cfg.num_val)
    model = build_pixel_classifier(cfg.hidden, cfg.with_coords)
    loader = CropLoader(train_images, train_labels, cfg.batch_size, cfg.crop, seed=cfg.seed)
    history = fit(model, loader, num_epochs=cfg.num_epochs, lr=cfg.lr, device=device, live_plot=live_plot,
                  progress=progress, title="per-pixel classifier", checkpoint=checkpoint)
    val_loader = CropLoader(val_images, val_labels, 64, crop=None, flip=False, shuffle=False)
    return model, history, evaluate_semantic(model, val_loader, NUM_CLASSES, device=device, boundary_width=3)
