"""Lesson 07's recipe: training, saving and loading the course's Mask R-CNN (also used by lessons 09-10).

``train_maskrcnn(cfg)`` generates the training scenes once (``loaders.SceneBatches``), then calls
the course's one training loop, ``fit``, which sums the five loss terms and records each of them.
``load_maskrcnn`` rebuilds the model from a checkpoint written by ``train_maskrcnn`` (weights +
model config).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..device import as_device, seed_everything
from ..models.maskrcnn import MaskRCNNConfig, build_maskrcnn
from .checkpoints import load_checkpoint, save_checkpoint
from .loaders import SceneBatches
from .loop import fit


@dataclass(frozen=True)
class MaskRCNNTrainConfig:
    """How the course's Mask R-CNN is trained (lesson 07's recipe). Override with ``dataclasses.replace``."""

    model: MaskRCNNConfig = field(default_factory=MaskRCNNConfig)  # the model to build and train
    num_train: int = 1536  # training scenes of split "train", generated once before training
    batch_size: int = 4  # scenes per optimiser step (in 3 minutes 4 beat 8: ~1.8x the steps, ~10% fewer images/s)
    num_epochs: int = 3  # passes over the training scenes (each with fresh random flips); 3 beat 4 to the bars:
    # both (AP 0.75, AP50 0.95) after 1024 of 1152 steps in 70 s, against 1152 of 1536 steps in 85-92 s
    lr: float = 3e-3  # peak learning rate of the one-cycle schedule (AdamW)
    weight_decay: float = 1e-4  # AdamW weight decay
    classifier_loss_weight: float = 2.0  # weight of loss_classifier in the total (the other terms weigh 1)
    flip: bool = True  # random horizontal and vertical flips of training scenes
    max_minutes: float | None = 4.0  # safety net (4 epochs took ~3 min pinned to one core, Xeon); None: every epoch
    seed: int = 0  # seed of the weights, the batch order and the flips

    @property
    def loss_weights(self) -> dict[str, float]:
        """The recipe's weights of the loss terms in the total, as ``fit`` takes them."""
        return {"loss_classifier": self.classifier_loss_weight}


def train_maskrcnn(cfg: MaskRCNNTrainConfig | None = None, device: torch.device | str | None = None,
                   checkpoint: str | Path | None = "maskrcnn", progress: bool = True, live_plot: bool = True):
    """Build the course's Mask R-CNN and train it on the shapes world with ``fit``.

    Args:
        cfg: the recipe (``MaskRCNNTrainConfig()`` when None); ``cfg.model`` is the model built.
        device: where to train (default ``device.get_device()``).
        checkpoint: checkpoint name or path to save weights + model config to (None: do not save).
        progress: show a progress bar.
        live_plot: redraw the loss curves during training (notebooks only).

    Returns:
        (model in eval mode, ``History`` with one row per logged step holding every loss term).
    """
    cfg = cfg or MaskRCNNTrainConfig()
    seed_everything(cfg.seed)
    model = build_maskrcnn(cfg.model)
    return fit_on_scenes(model, cfg, device, checkpoint, progress, live_plot, "Mask R-CNN losses", cfg.loss_weights)


def fit_on_scenes(model: nn.Module, cfg, device: torch.device | str | None, checkpoint: str | Path | None,
                  progress: bool, live_plot: bool, title: str, loss_weights: dict[str, float] | None):
    """Train a detection model on lesson 07's training scenes with ``fit``, then save it (lessons 07 and 08).

    ``cfg`` is a recipe with ``model`` (its config), ``num_train``, ``batch_size``, ``flip``, ``seed``,
    ``num_epochs``, ``lr``, ``weight_decay`` and ``max_minutes``. Returns (model, ``History``).
    """
    loader = SceneBatches("train", cfg.num_train, cfg.batch_size, cfg.model.image_size, cfg.flip, cfg.seed)
    history = fit(model, loader, num_epochs=cfg.num_epochs, lr=cfg.lr, device=device, weight_decay=cfg.weight_decay,
                  max_minutes=cfg.max_minutes, live_plot=live_plot, progress=progress, log_every=5,
                  title=title, loss_weights=loss_weights)
    if checkpoint is not None:
        save_checkpoint(model, checkpoint, config=cfg.model, history=history, train_config=cfg)
    return model, history


def config_from_dict(values: dict, cls: type = MaskRCNNConfig):
    """Rebuild a model config dataclass (default ``MaskRCNNConfig``) from its saved form.

    Lists become tuples again (nested ones too); unknown keys are ignored.
    """
    def tup(v):
        return tuple(tup(x) for x in v) if isinstance(v, (list, tuple)) else v

    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: tup(v) for k, v in values.items() if k in names})


def load_maskrcnn(path: str | Path = "maskrcnn", device: torch.device | str | None = None) -> nn.Module:
    """Load a Mask R-CNN saved by :func:`train_maskrcnn` (a checkpoint name or a file path).

    Args:
        path: checkpoint name (``paths.checkpoint_path(name)``) or path to a ``.pt`` file.
        device: where to put the model (default ``device.get_device()``).

    Returns:
        the model in eval mode, with ``model.config`` set to its ``MaskRCNNConfig``.
    """
    payload = load_checkpoint(path)
    if not isinstance(payload.get("config"), dict):
        raise ValueError(f"{path} has no Mask R-CNN config saved with it: was it written by train_maskrcnn?")
    cfg = config_from_dict(payload["config"])
    model = build_maskrcnn(cfg)
    model.load_state_dict(payload["model"])
    model.config = cfg
    return model.to(as_device(device)).eval()
