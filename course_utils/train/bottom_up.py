"""Lesson 05's recipe: the bottom-up FCN (background / interior / boundary), trained like lesson 03's FCN.

The scenes and their 3-class targets are generated once (``preload_boundary``); training uses
random crops (``loaders.CropLoader``), a class-weighted cross-entropy and ``fit``'s one-cycle
schedule, with background/interior/boundary IoU on validation scenes after every epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..device import as_device, seed_everything
from ..models.bottom_up import PIXEL_CLASSES, BottomUpConfig, boundary_target, build_bottom_up
from ..models.fcn import FCN
from .evaluate import evaluate_semantic
from .fcn import class_weights, load_fcn
from .loaders import CropLoader, preload_semantic
from .loop import fit


@dataclass(frozen=True)
class BottomUpTrainConfig:
    """How lesson 05 trains the bottom-up model. Override with ``dataclasses.replace``."""

    model: BottomUpConfig = field(default_factory=BottomUpConfig)  # the model and its pixel targets
    num_train: int = 1500  # training scenes (split "train"), generated once
    num_val: int = 64  # validation scenes (split "val") scored after every epoch
    size: int = 128  # scene side in pixels
    crop: int | None = 64  # training crop side (the FCN is fully convolutional; None = whole scenes)
    batch_size: int = 32  # crops per step
    num_epochs: int = 4  # passes over the training scenes
    lr: float = 1e-2  # peak learning rate (AdamW, one-cycle schedule)
    class_weight_power: float = 0.5  # loss weight per class = frequency ** -power (rare boundary pixels count more)
    max_minutes: float | None = 2.5  # training-time budget (CPU); the schedule is squeezed into it; None = all epochs
    seed: int = 0  # seeds initialisation and crop order


def preload_boundary(split: str | int, length: int, cfg: BottomUpConfig | None = None, size: int = 128
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate ``length`` scenes once with their interior/boundary targets, as compact tensors.

    Args:
        split: "train", "val", "test" or an int seed.
        length: number of scenes.
        cfg: target settings (``interior_fraction``, ``min_rim``; ``BottomUpConfig()`` when None).
        size: scene side in pixels.

    Returns:
        images uint8 (N, 3, size, size) (x 255) and targets uint8 (N, size, size).
    """
    cfg = cfg or BottomUpConfig()

    def target(scene: dict) -> torch.Tensor:
        return boundary_target(scene["masks"], cfg.interior_fraction, cfg.min_rim)

    return preload_semantic(split, length, size, target)


def train_bottom_up(cfg: BottomUpTrainConfig | None = None, device: torch.device | str | None = None,
                    checkpoint: str | None = "bottom_up", live_plot: bool = True,
                    progress: bool = True):
    """Train the bottom-up FCN with lesson 03's fast recipe and save it.

    Args:
        cfg: the recipe (``BottomUpTrainConfig()`` when None).
        device: where to train (default ``device.get_device()``).
        checkpoint: checkpoint name to save to (``paths.checkpoint_path(checkpoint)``), or None.
        live_plot: draw the loss and validation curves while training (notebooks).
        progress: show a progress bar.

    Returns:
        (model in eval mode, ``History``, validation scores after the last epoch).
    """
    cfg = cfg or BottomUpTrainConfig()
    device = as_device(device)
    seed_everything(cfg.seed)
    images, targets = preload_boundary("train", cfg.num_train, cfg.model, cfg.size)
    val_images, val_targets = preload_boundary("val", cfg.num_val, cfg.model, cfg.size)
    model = build_bottom_up(cfg.model)
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
    """The bottom-up FCN saved by lesson 05 (``paths.checkpoint_path(name)``), in eval mode.

    Args:
        name: checkpoint name or path.
        device: where to put it (default: the CPU).

    Returns:
        the 3-class FCN, ready for ``models.bottom_up.bottom_up_instances``.
    """
    return load_fcn(name).to(device or "cpu").eval()
