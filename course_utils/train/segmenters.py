"""Lesson 04's recipes: U-Net and DeepLab on the same data and with the same loop as lesson 03's FCN.

``train_unet(UNetTrainConfig())`` and ``train_deeplab(DeepLabTrainConfig())`` each return
``(model, History, scores)``: the model in eval mode, its history (``epochs[i]["elapsed_s"]`` is
training time, validation excluded, as for the FCN) and the final validation scores, boundary band
included. The schedule is a number of epochs; ``max_minutes`` is only a safety net for a slow CPU.
The loss is a switch (``loss="weighted_ce" | "ce" | "dice" | "focal" | "ce+dice"``, see ``losses``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from ..device import as_device, seed_everything
from ..models.deeplab import DeepLab, DeepLabConfig
from ..models.unet import UNet, UNetConfig
from .checkpoints import load_checkpoint, save_checkpoint
from .evaluate import evaluate_semantic
from .fcn import class_weights
from .loaders import CropLoader, preload_semantic
from .loop import fit
from .losses import semantic_loss


@dataclass(frozen=True)
class UNetTrainConfig:
    """A U-Net training run on the shapes world (lesson 04's recipe)."""

    model: UNetConfig = field(default_factory=UNetConfig)  # the network
    num_train: int = 2000  # training scenes (lesson 03's)
    num_val: int = 128  # validation scenes (split "val")
    size: int = 128  # scene side in pixels
    crop: int | None = None  # training crop side; None = whole scenes (as lesson 03)
    batch_size: int = 16  # scenes per step (lesson 03's); at 8 (lr 2e-3) 4 epochs reached only 0.88 mIoU (one core)
    num_epochs: int = 4  # passes over the training scenes (500 steps); one core: mIoU 0.923 / 0.930 (seeds 0 / 1)
    lr: float = 4e-3  # peak learning rate of the OneCycle schedule (AdamW); 6e-3 for 3 epochs reached only 0.85
    weight_decay: float = 1e-4  # AdamW weight decay
    loss: str = "weighted_ce"  # see losses.LOSSES
    class_weight_power: float = 0.5  # class weights = frequency ** -power (weighted_ce, focal)
    focal_gamma: float = 2.0  # the focal loss's exponent
    undo_weight_bias: bool = True  # after a class-weighted loss, subtract log(weight) from the class scores
    boundary_width: int = 3  # also score the pixels within this many px of a class boundary
    max_minutes: float | None = 3.5  # safety net for a slow CPU: the schedule is squeezed into it (and ``fit``
    # says so); one core of a slow 2-core machine (AVX2 only) ran the whole schedule in 3.7 minutes
    seed: int = 0  # initialisation and batch order


@dataclass(frozen=True)
class DeepLabTrainConfig(UNetTrainConfig):
    """A DeepLab training run on the shapes world (lesson 04's recipe)."""

    model: DeepLabConfig = field(default_factory=DeepLabConfig)  # the network
    num_epochs: int = 5  # passes over the training scenes (625 steps of 16 scenes); on two cores, mIoU 0.904-0.920
    # in five runs (seeds 0 and 1) after 70-80 s, where 4 epochs of 8 scenes per step (lr 2e-3) reached 0.898 and
    # 0.903, and 4 epochs of this recipe 0.891 and 0.881 (seeds 0 and 1)
    lr: float = 4e-3  # peak learning rate of the OneCycle schedule (AdamW)
    max_minutes: float | None = 2.5  # safety net, as for U-Net


def shift_class_scores(model: torch.nn.Module, weights: torch.Tensor, scale: float = 1.0) -> None:
    """Subtract ``scale * log(weight)`` from each class score (the classifier's bias), in place.

    Undoes the lean towards up-weighted classes that a class-weighted loss leaves (see
    ``fcn.undo_class_weight_bias``); the model needs a final 1x1 ``classifier`` whose output is only
    upsampled afterwards (U-Net, DeepLab).
    """
    bias = model.classifier.bias
    w = weights.detach().to(bias.device, torch.float32)
    shift = torch.where(w > 0, w.clamp(min=1e-12).log(), torch.zeros_like(w))  # (C,)
    with torch.no_grad():
        bias -= scale * shift


def train_segmenter(model: torch.nn.Module, cfg: UNetTrainConfig, *, data=None, val_data=None, device=None,
                    live_plot: bool = False, progress: bool = True, checkpoint: str | None = None,
                    title: str | None = None):
    """Train any logits model with lesson 04's recipe (the same loop and data as lesson 03's FCN).

    Args:
        model: a model returning logits (B, C, H, W) with a final ``classifier`` conv.
        cfg: the recipe.
        data: preloaded training (images, labels) (default: generate ``cfg.num_train`` scenes).
        val_data: preloaded validation (images, labels) (default: ``cfg.num_val`` "val" scenes).
        device: where to train (default ``device.get_device()``).
        live_plot: live loss/mIoU figure.
        progress: progress bar.
        checkpoint: save the trained model under this name (with its config and metrics).
        title: the live plot's title.

    Returns:
        (model in eval mode, ``History``, final validation scores incl. ``boundary_*``).
    """
    device = as_device(device)
    seed_everything(cfg.seed)
    train_images, train_labels = data if data is not None else preload_semantic("train", cfg.num_train, cfg.size)
    val_images, val_labels = val_data if val_data is not None else preload_semantic("val", cfg.num_val, cfg.size)
    loader = CropLoader(train_images, train_labels, cfg.batch_size, crop=cfg.crop, seed=cfg.seed)
    val_loader = CropLoader(val_images, val_labels, 64, crop=None, flip=False, shuffle=False)
    num_classes = model.classifier.out_channels
    weights = class_weights(train_labels, num_classes, cfg.class_weight_power).to(device)
    weighted = cfg.loss in ("weighted_ce", "focal") and cfg.class_weight_power > 0
    loss_fn = semantic_loss(cfg.loss, weights if weighted else None, cfg.focal_gamma)
    adjust = 1.0 if cfg.undo_weight_bias and weighted else 0.0
    clock = {"val": 0.0, "start": time.perf_counter()}

    def val_fn(m):
        t0 = time.perf_counter()
        elapsed = t0 - clock["start"] - clock["val"]  # training time so far, validation excluded
        shift_class_scores(m, weights, adjust)
        scores = evaluate_semantic(m, val_loader, num_classes, device=device)
        shift_class_scores(m, weights, -adjust)
        clock["val"] += time.perf_counter() - t0
        return {**scores, "elapsed_s": elapsed}

    history = fit(model, loader, num_epochs=cfg.num_epochs, lr=cfg.lr, device=device, val_fn=val_fn, loss_fn=loss_fn,
                  weight_decay=cfg.weight_decay, max_minutes=cfg.max_minutes, live_plot=live_plot,
                  progress=progress, title=title or type(model).__name__)
    shift_class_scores(model, weights, adjust)
    scores = evaluate_semantic(model, val_loader, num_classes, device=device, boundary_width=cfg.boundary_width)
    if checkpoint is not None:
        save_checkpoint(model, checkpoint, history=history, train_config=cfg,
                        metrics={"val_miou": scores["miou"], "val_scenes": len(val_images)})
    return model.eval(), history, scores


def train_unet(cfg: UNetTrainConfig = UNetTrainConfig(), **kwargs):
    """Train a U-Net with lesson 04's recipe; keyword arguments as ``train_segmenter`` (title "U-Net").

    Returns:
        (model, ``History``, final validation scores).
    """
    if not isinstance(cfg.model, UNetConfig):
        raise ValueError(f"train_unet needs a UNetConfig in cfg.model, got {type(cfg.model).__name__}")
    return train_segmenter(UNet(cfg.model), cfg, title=kwargs.pop("title", "U-Net"), **kwargs)


def train_deeplab(cfg: DeepLabTrainConfig = DeepLabTrainConfig(), **kwargs):
    """Train a DeepLab with lesson 04's recipe; keyword arguments as ``train_segmenter`` (title "DeepLabv3+").

    Returns:
        (model, ``History``, final validation scores).
    """
    if not isinstance(cfg.model, DeepLabConfig):
        raise ValueError(f"train_deeplab needs a DeepLabConfig in cfg.model, got {type(cfg.model).__name__}")
    return train_segmenter(DeepLab(cfg.model), cfg, title=kwargs.pop("title", "DeepLabv3+"), **kwargs)


def _load(path_or_name, cls, config_cls, map_location):
    payload = load_checkpoint(path_or_name, map_location=map_location)
    config = payload.get("config") or {}
    if payload.get("model_class") != cls.__name__:
        raise ValueError(f"{path_or_name} holds a {payload.get('model_class')}, not a {cls.__name__}")
    tuples = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
    model = cls(config_cls(**tuples))
    model.load_state_dict(payload["model"])
    return model.eval()


def load_unet(path_or_name="unet", map_location: str | torch.device = "cpu") -> UNet:
    """The U-Net saved by ``train_unet(..., checkpoint=name)``, in eval mode."""
    return _load(path_or_name, UNet, UNetConfig, map_location)


def load_deeplab(path_or_name="deeplab", map_location: str | torch.device = "cpu") -> DeepLab:
    """The DeepLab saved by ``train_deeplab(..., checkpoint=name)``, in eval mode."""
    return _load(path_or_name, DeepLab, DeepLabConfig, map_location)

