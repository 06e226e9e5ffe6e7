"""Training, saving and loading the course's Mask R-CNN (lessons 06-08).

``train_maskrcnn(cfg)`` generates the training scenes once, then calls the course's one training
loop, ``engine.fit``, which sums the five loss terms and records each of them. ``load_maskrcnn``
rebuilds the model from a checkpoint written by ``train_maskrcnn`` (weights + config).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import torch
from torch import nn

from ..data import make_scene
from ..data.datasets import instance_target, split_seed
from .maskrcnn import MaskRCNNConfig, build_maskrcnn


class SceneBatches:
    """Shuffled batches of pre-generated scenes, flipped at random, in detection format.

    Iterating gives ``(images, targets)``: a list of (3, H, W) tensors and a list of target dicts
    (``boxes`` (N, 4) xyxy, ``labels`` (N,), ``masks`` (N, H, W) uint8). Every epoch reshuffles
    and draws new flips. ``len`` is the number of batches per epoch (the last one may be smaller).
    """

    def __init__(self, split: str | int = "train", length: int = 1536, batch_size: int = 8, size: int = 128,
                 flip: bool = True, seed: int = 0):
        seed_of_split = split_seed(split)
        self.images, self.targets = [], []
        for i in range(length):
            scene = make_scene(seed_of_split, i, size)
            t = instance_target(scene, image_id=i)
            self.images.append(scene["image"])  # (3, H, W)
            self.targets.append({k: t[k] for k in ("boxes", "labels", "masks")})
        self.batch_size = int(batch_size)
        self.flip = flip
        self.gen = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.images) / self.batch_size)

    def __iter__(self):
        order = torch.randperm(len(self.images), generator=self.gen)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size].tolist()
            flips = torch.rand(len(idx), 2, generator=self.gen) < 0.5  # (B, 2) left-right, top-bottom
            flips &= self.flip
            pairs = [flip_scene(self.images[i], self.targets[i], bool(fx), bool(fy)) for i, (fx, fy) in zip(idx, flips)]
            yield [p[0] for p in pairs], [p[1] for p in pairs]


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


def train_maskrcnn(cfg: MaskRCNNConfig | None = None, device: torch.device | str | None = None,
                   checkpoint: str | Path | None = "maskrcnn", progress: bool = True, live_plot: bool = True):
    """Build the course's Mask R-CNN and train it on the shapes world with ``engine.fit``.

    Args:
        cfg: the configuration (``MaskRCNNConfig()`` when None).
        device: where to train (default ``engine.get_device()``).
        checkpoint: checkpoint name or path to save weights + config to (None: do not save).
        progress: show a progress bar.
        live_plot: redraw the loss curves during training (notebooks only).

    Returns:
        (model in eval mode, ``History`` with one row per logged step holding every loss term).
    """
    from ..engine import fit, seed_everything

    cfg = cfg or MaskRCNNConfig()
    seed_everything(cfg.seed)
    model = build_maskrcnn(cfg)
    loader = SceneBatches("train", cfg.num_train, cfg.batch_size, cfg.image_size, cfg.flip, cfg.seed)
    history = fit(model, loader, num_epochs=cfg.num_epochs, lr=cfg.lr, device=device, weight_decay=cfg.weight_decay,
                  max_minutes=cfg.max_minutes, live_plot=live_plot, progress=progress, checkpoint=checkpoint,
                  config=cfg, log_every=5, title="Mask R-CNN losses",
                  loss_weights=cfg.loss_weights)
    return model, history


def config_from_dict(values: dict) -> MaskRCNNConfig:
    """Rebuild a ``MaskRCNNConfig`` from its saved form (lists back to tuples; unknown keys ignored)."""
    def tup(v):
        return tuple(tup(x) for x in v) if isinstance(v, (list, tuple)) else v

    names = {f.name for f in dataclasses.fields(MaskRCNNConfig)}
    return MaskRCNNConfig(**{k: tup(v) for k, v in values.items() if k in names})


def load_maskrcnn(path: str | Path = "maskrcnn", device: torch.device | str | None = None) -> nn.Module:
    """Load a Mask R-CNN saved by :func:`train_maskrcnn` (a checkpoint name or a file path).

    Args:
        path: checkpoint name (``engine.checkpoint_path(name)``) or path to a ``.pt`` file.
        device: where to put the model (default ``engine.get_device()``).

    Returns:
        the model in eval mode, with ``model.config`` set to its ``MaskRCNNConfig``.
    """
    from ..engine import get_device
    from ..training import load_checkpoint

    payload = load_checkpoint(path)
    if not isinstance(payload.get("config"), dict):
        raise ValueError(f"{path} has no Mask R-CNN config saved with it: was it written by train_maskrcnn?")
    cfg = config_from_dict(payload["config"])
    model = build_maskrcnn(cfg)
    model.load_state_dict(payload["model"])
    model.config = cfg
    return model.to(device if device is not None else get_device()).eval()
