"""The one-stage lesson's recipe: training, saving and loading the course's YOLACT-style segmenter.

``train_yolact(cfg)`` generates the training scenes once (``loaders.SceneBatches``, the same
scenes and flips as lesson 07's Mask R-CNN), then calls the course's one training loop, ``fit``,
which sums the loss terms with the model's weights (``Yolact.loss_weights``) and records each of
them unweighted. ``load_yolact`` rebuilds the model from a checkpoint written by ``train_yolact``
(weights + model config).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..device import as_device, seed_everything
from ..models.yolact import Yolact, YolactConfig, build_yolact
from .checkpoints import load_checkpoint
from .maskrcnn import config_from_dict, fit_on_scenes


@dataclass(frozen=True)
class YolactTrainConfig:
    """How the course's one-stage segmenter is trained. Override with ``dataclasses.replace``."""

    model: YolactConfig = field(default_factory=YolactConfig)  # the model to build and train
    num_train: int = 1536  # training scenes of split "train", generated once before training
    batch_size: int = 4  # scenes per optimiser step (in 3 minutes on one core 4 beat 8: ~2x the steps, AP 0.78 vs 0.76)
    num_epochs: int = 4  # passes over the training scenes (each with fresh random flips)
    lr: float = 2e-3  # peak learning rate of the one-cycle schedule (AdamW)
    weight_decay: float = 1e-4  # AdamW weight decay
    flip: bool = True  # random horizontal and vertical flips of training scenes
    max_minutes: float | None = 3.0  # safety net: training stops after this many minutes
    seed: int = 0  # seed of the weights, the batch order and the flips


def train_yolact(cfg: YolactTrainConfig | None = None, device: torch.device | str | None = None,
                 checkpoint: str | Path | None = "yolact", progress: bool = True, live_plot: bool = True):
    """Build the course's one-stage segmenter and train it on the shapes world with ``fit``.

    Args:
        cfg: the recipe (``YolactTrainConfig()`` when None); ``cfg.model`` is the model built.
        device: where to train (default ``device.get_device()``).
        checkpoint: checkpoint name or path to save weights + model config to (None: do not save).
        progress: show a progress bar.
        live_plot: redraw the loss curves during training (notebooks only).

    Returns:
        (model in eval mode, ``History`` with one row per logged step holding every loss term).
    """
    cfg = cfg or YolactTrainConfig()
    seed_everything(cfg.seed)
    model = build_yolact(cfg.model)
    return fit_on_scenes(model, cfg, device, checkpoint, progress, live_plot, "One-stage segmenter losses",
                         model.loss_weights)


def load_yolact(path: str | Path = "yolact", device: torch.device | str | None = None) -> Yolact:
    """Load a model saved by :func:`train_yolact` (a checkpoint name or a file path), in eval mode."""
    payload = load_checkpoint(path)
    if not isinstance(payload.get("config"), dict) or "num_prototypes" not in payload["config"]:
        raise ValueError(f"{path} holds no one-stage segmenter config: was it written by train_yolact?")
    model = build_yolact(config_from_dict(payload["config"], YolactConfig))
    model.load_state_dict(payload["model"])
    return model.to(as_device(device)).eval()
