"""Lesson 01's recipe: the per-pixel classifier (a few seconds on a CPU).

Small per-pixel models train on random 32x32 crops of preloaded scenes (``loaders.CropLoader``):
a model that sees one pixel at a time needs no more context than that.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ..data.classes import NUM_CLASSES
from ..device import as_device, seed_everything
from ..models.pixel import PixelClassifier, PixelConfig, build_pixel_classifier
from .checkpoints import load_checkpoint
from .evaluate import evaluate_semantic
from .loaders import CropLoader, preload_semantic
from .loop import fit


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
    cfg = replace(cfg, **overrides) if overrides else cfg
    device = as_device(device)
    seed_everything(cfg.seed)
    train_images, train_labels = data if data is not None else preload_semantic("train", cfg.num_train)
    val_images, val_labels = val_data if val_data is not None else preload_semantic("val", cfg.num_val)
    model = build_pixel_classifier(cfg.hidden, cfg.with_coords)
    loader = CropLoader(train_images, train_labels, cfg.batch_size, cfg.crop, seed=cfg.seed)
    history = fit(model, loader, num_epochs=cfg.num_epochs, lr=cfg.lr, device=device, live_plot=live_plot,
                  progress=progress, title="per-pixel classifier", checkpoint=checkpoint)
    val_loader = CropLoader(val_images, val_labels, 64, crop=None, flip=False, shuffle=False)
    return model, history, evaluate_semantic(model, val_loader, NUM_CLASSES, device=device, boundary_width=3)


def load_pixel_classifier(path_or_name, map_location: str | torch.device = "cpu") -> PixelClassifier:
    """Rebuild a ``PixelClassifier`` from a checkpoint saved by ``fit``/``save_checkpoint``.

    Args:
        path_or_name: a checkpoint name (e.g. "pixel_mlp") or a file path.
        map_location: where to put the weights.

    Returns:
        the model in eval mode.
    """
    payload = load_checkpoint(path_or_name, map_location=map_location)
    model = PixelClassifier(PixelConfig(**payload["config"]))
    model.load_state_dict(payload["model"])
    return model.eval()
