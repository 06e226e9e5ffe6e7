"""The promptable segmenter's recipe: clicks sampled from ground truth, a corrective click, BCE + Dice.

Each training step, as SAM trains (Kirillov et al., 2023, appendix), on a batch of scenes:

1. embed every scene **once**;
2. pick ``prompts_per_image`` random segments per scene (things and stuff alike) and one **random
   interior click** in each (a pixel at least ``interior_margin`` pixels from the segment's edge);
3. decode: a mask per prompt, scored with BCE + Dice against the segment's mask;
4. a **corrective click**, drawn at random from the first prediction's error region: positive where
   the mask missed part of the segment, negative where it spilled over; decode again with both
   clicks and the first mask as the mask prompt, and score that mask too.

The loop is the course's ``fit`` (progress bar, time budget, live loss curves): a small wrapper
module turns (images, targets) into the two loss terms, as torchvision's detection models do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.classes import LABEL_DIVISOR
from ..data.datasets import split_seed
from ..data.shapes import make_scene
from ..device import as_device, seed_everything
from ..metrics.prompting import corrective_click
from ..models.promptable import NEGATIVE, PADDING, POSITIVE, PromptableConfig, PromptableSegmenter, select
from .checkpoints import load_checkpoint, save_checkpoint
from .loop import fit
from .maskrcnn import config_from_dict


@dataclass(frozen=True)
class PromptTrainConfig:
    """How the course's promptable segmenter is trained. Override with ``dataclasses.replace``."""

    model: PromptableConfig = field(default_factory=PromptableConfig)  # the model to build and train
    num_train: int = 1024  # training scenes of split "train", generated once before training
    batch_size: int = 4  # scenes per optimiser step (each embedded once)
    prompts_per_image: int = 4  # segments prompted per scene and step: the embedding is shared by them
    num_epochs: int = 1  # passes over the training scenes (each with fresh flips, segments and clicks)
    lr: float = 4e-3  # peak learning rate of the one-cycle schedule (AdamW)
    weight_decay: float = 1e-4  # AdamW weight decay
    corrective: bool = True  # also train the second, corrective click (SAM's iterative training)
    thing_fraction: float = 0.6  # chance that a prompt goes to a thing (when the scene has one), else to stuff:
    # stuff is learned fast, things (small, often touching) need more of the clicks
    farthest_correction: float = 0.5  # share of corrective clicks put where the evaluation puts them (the error
    # point farthest from the error's edge), the others anywhere in the error region (as SAM samples them)
    interior_margin: int = 2  # training clicks lie at least this many pixels inside their segment (when it can)
    dice_weight: float = 1.0  # weight of the Dice term next to BCE
    semantic_weight: float = 0.5  # weight of the embedding's auxiliary semantic cross-entropy (if the model has it)
    flip: bool = True  # random horizontal and vertical flips of training scenes
    max_minutes: float | None = 1.5  # safety net for a slow CPU: the schedule is squeezed into it
    seed: int = 0  # seed of the weights, the batch order, the flips and the clicks


class PromptBatches:
    """Shuffled batches of training scenes for prompting: images and segment-index maps, flipped at random.

    Iterating gives ``(images, targets)``: images (B, 3, H, W) float and a list of B dicts with
    ``segments`` (H, W) int64 (segment k of the scene has value k), ``count`` (number of segments) and
    ``stuff`` (how many of them are stuff: segments 0 .. stuff-1, the things follow) and ``semantic``
    (H, W) int64 class ids (for the embedding's auxiliary semantic head).

    Args:
        split: "train", "val", "test" or an int seed.
        length: number of scenes (generated once).
        batch_size: scenes per batch.
        flip: random left-right and top-bottom flips.
        seed: seed of the order and the flips.
    """

    def __init__(self, split: str | int = "train", length: int = 1024, batch_size: int = 8, flip: bool = True,
                 seed: int = 0):
        images, maps, counts, stuff, semantic = [], [], [], [], []
        for i in range(length):
            scene = make_scene(split_seed(split), i)
            ids, index = np.unique(np.asarray(scene["panoptic"]), return_inverse=True)  # stuff ids (class * 1000) first
            images.append((scene["image"] * 255).round().to(torch.uint8))  # (3, H, W) compact in memory
            maps.append(torch.from_numpy(index.reshape(scene["panoptic"].shape).astype(np.uint8)))  # (H, W)
            semantic.append(scene["semantic"].to(torch.uint8))  # (H, W) class ids
            counts.append(len(ids))
            stuff.append(int((ids % LABEL_DIVISOR == 0).sum()))
        self.images, self.maps = torch.stack(images), torch.stack(maps)  # (N, 3, H, W), (N, H, W)
        self.semantic = torch.stack(semantic)  # (N, H, W)
        self.counts, self.stuff = torch.tensor(counts), torch.tensor(stuff)
        self.batch_size, self.flip = int(batch_size), flip
        self.gen = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.images) / self.batch_size)

    def __iter__(self):
        order = torch.randperm(len(self.images), generator=self.gen)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            imgs, maps = self.images[idx].float().div_(255), self.maps[idx].long()  # (B, 3, H, W), (B, H, W)
            sem = self.semantic[idx].long()  # (B, H, W)
            if self.flip:
                for dim, coin in zip((-1, -2), torch.rand(2, generator=self.gen) < 0.5):
                    if coin:
                        imgs, maps, sem = imgs.flip(dim), maps.flip(dim), sem.flip(dim)
            yield imgs, [{"segments": m, "count": c, "stuff": s, "semantic": t}
                         for m, c, s, t in zip(maps, self.counts[idx], self.stuff[idx], sem)]


def sample_points(regions: torch.Tensor, margin: int = 0, generator: torch.Generator | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """One random pixel of each region, at least ``margin`` pixels from its edge where the region allows.

    Args:
        regions: (P, H, W) bool.
        margin: erode by this many pixels first (a region too thin for it falls back to all its pixels).
        generator: torch random generator (CPU) for reproducible draws.

    Returns:
        (P, 2) rows (row, col) as float, and (P,) bool: False for an empty region (its row is 0, 0).
    """
    P, H, W = regions.shape
    weights = regions.float()
    if margin > 0:
        eroded = -F.max_pool2d(-weights[:, None], 2 * margin + 1, stride=1, padding=margin)[:, 0]  # (P, H, W)
        thick = eroded.flatten(1).sum(1) > 0
        weights = torch.where(thick[:, None, None], eroded, weights)
    flat = weights.flatten(1).cpu()  # (P, H*W)
    valid = flat.sum(1) > 0
    cdf = (flat + (~valid)[:, None].float()).cumsum(1)  # (P, H*W); an empty region draws uniformly (and is flagged)
    u = torch.rand(P, 1, generator=generator) * cdf[:, -1:]  # (P, 1)
    picks = torch.searchsorted(cdf, u, right=True)[:, 0].clamp(max=H * W - 1)  # (P,): inverse-CDF sampling
    points = torch.stack([picks // W, picks % W], 1).float()  # (P, 2)
    return points.to(regions.device), valid.to(regions.device)


def corrective_clicks(logits: torch.Tensor, targets: torch.Tensor, generator: torch.Generator | None = None,
                      farthest: float = 0.0) -> torch.Tensor:
    """Training's second click: a random pixel of each prediction's error region, with its sign.

    Args:
        logits: (P, 1, H, W) first-click mask logits.
        targets: (P, H, W) bool true masks.
        generator: torch random generator (CPU).
        farthest: the share of prompts whose click goes instead to the error point farthest from the
            error region's edge (the evaluation's rule, ``metrics.prompting.corrective_click``).

    Returns:
        (P, 1, 3) clicks (row, col, label): 1 in a missed part, 0 in a false-positive part, -1 (padding)
        when the mask had no error.
    """
    error = (logits[:, 0] > 0) ^ targets  # (P, H, W)
    points, valid = sample_points(error, margin=1, generator=generator)
    r, c = points[:, 0].long(), points[:, 1].long()
    missed = targets[torch.arange(len(targets), device=targets.device), r, c]
    labels = torch.where(missed, float(POSITIVE), float(NEGATIVE))
    labels = torch.where(valid, labels, torch.full_like(labels, float(PADDING)))
    clicks = torch.cat([points, labels[:, None]], 1)  # (P, 3)
    if farthest > 0:
        pred_np, target_np = (logits[:, 0] > 0).cpu().numpy(), targets.cpu().numpy()
        for k in (torch.rand(len(clicks), generator=generator) < farthest).nonzero()[:, 0].tolist():
            click = corrective_click(pred_np[k], target_np[k])
            if click is not None:
                clicks[k] = torch.tensor(click, dtype=clicks.dtype)
    return clicks[:, None]  # (P, 1, 3)


def mask_loss(logits: torch.Tensor, targets: torch.Tensor, dice_weight: float = 1.0) -> dict[str, torch.Tensor]:
    """BCE + soft Dice of mask logits against bool masks, averaged over prompts.

    Args:
        logits: (P, 1, H, W).
        targets: (P, H, W) bool.
        dice_weight: scale of the Dice term.

    Returns:
        ``{"bce": ..., "dice": ...}`` 0-dim tensors (the Dice term already scaled).
    """
    t = targets[:, None].to(logits.dtype)
    bce = F.binary_cross_entropy_with_logits(logits, t)
    p = torch.sigmoid(logits).flatten(1)
    dice = 1 - (2 * (p * t.flatten(1)).sum(1) + 1) / (p.sum(1) + t.flatten(1).sum(1) + 1)  # (P,)
    return {"bce": bce, "dice": dice_weight * dice.mean()}


class PromptTraining(nn.Module):
    """Wraps the model for ``fit``: ``forward(images, targets)`` samples the clicks and returns the losses.

    Args:
        model: the ``PromptableSegmenter`` to train.
        cfg: the recipe.
    """

    def __init__(self, model: PromptableSegmenter, cfg: PromptTrainConfig):
        super().__init__()
        self.model, self.cfg = model, cfg
        self.gen = torch.Generator().manual_seed(cfg.seed + 1)

    def forward(self, images: torch.Tensor, targets: list[dict]) -> dict[str, torch.Tensor]:
        cfg, dev = self.cfg, images.device
        counts = torch.stack([torch.as_tensor(t["count"]) for t in targets]).cpu()  # (B,)
        maps = torch.stack([t["segments"] for t in targets])  # (B, H, W)
        index = torch.arange(len(targets)).repeat_interleave(cfg.prompts_per_image)  # (P,) image of each prompt
        stuff = torch.stack([torch.as_tensor(t["stuff"]) for t in targets]).cpu()[index]  # (P,)
        things = counts[index] - stuff
        u, coin = torch.rand(2, len(index), generator=self.gen)
        to_thing = (coin < cfg.thing_fraction) & (things > 0) | (stuff == 0)
        chosen = torch.where(to_thing, stuff + (u * things).long(), (u * stuff).long())  # (P,) a segment of it
        masks = maps[index.to(dev)] == chosen.to(dev)[:, None, None]  # (P, H, W)
        points, _ = sample_points(masks, cfg.interior_margin, self.gen)
        clicks = torch.cat([points, torch.full_like(points[:, :1], POSITIVE)], 1)[:, None]  # (P, 1, 3)
        full = self.model.embed(images)
        emb = select(full, index.to(dev))
        logits = self.model.decode(emb, clicks)  # (P, 1, H, W)
        first = mask_loss(logits, masks, cfg.dice_weight)
        losses = {"bce_click1": first["bce"], "dice_click1": first["dice"]}
        if "class_logits" in full and cfg.semantic_weight > 0:
            semantic = torch.stack([t["semantic"] for t in targets])[:, ::2, ::2]  # (B, H/2, W/2): the head's grid
            losses["semantic"] = cfg.semantic_weight * F.cross_entropy(full["class_logits"], semantic)
        if cfg.corrective:
            with torch.no_grad():
                second = corrective_clicks(logits, masks, self.gen, cfg.farthest_correction)
            logits2 = self.model.decode(emb, torch.cat([clicks, second], 1), mask_prompt=logits.detach())
            two = mask_loss(logits2, masks, cfg.dice_weight)
            losses.update(bce_click2=two["bce"], dice_click2=two["dice"])
        return losses


def train_promptable(cfg: PromptTrainConfig | None = None, device: torch.device | str | None = None,
                     checkpoint: str | Path | None = "promptable", progress: bool = True, live_plot: bool = True):
    """Build the course's promptable segmenter and train it on the shapes world with ``fit``.

    Args:
        cfg: the recipe (``PromptTrainConfig()`` when None); ``cfg.model`` is the model built.
        device: where to train (default ``device.get_device()``).
        checkpoint: checkpoint name or path to save weights + model config to (None: do not save).
        progress: show a progress bar.
        live_plot: redraw the loss curves during training (notebooks only).

    Returns:
        (model in eval mode, ``History`` with one row per logged step holding every loss term).
    """
    cfg = cfg or PromptTrainConfig()
    if cfg.prompts_per_image < 1 or cfg.batch_size < 1:
        raise ValueError(f"batch_size and prompts_per_image must be >= 1, got {cfg.batch_size}, "
                         f"{cfg.prompts_per_image}")
    seed_everything(cfg.seed)
    model = PromptableSegmenter(cfg.model)
    loader = PromptBatches("train", cfg.num_train, cfg.batch_size, cfg.flip, cfg.seed)
    history = fit(PromptTraining(model, cfg), loader, num_epochs=cfg.num_epochs, lr=cfg.lr, device=device,
                  weight_decay=cfg.weight_decay, max_minutes=cfg.max_minutes, live_plot=live_plot,
                  progress=progress, log_every=5, title="Promptable segmenter losses")
    model.eval()
    if checkpoint is not None:
        save_checkpoint(model, checkpoint, config=cfg.model, history=history, train_config=cfg)
    return model, history


def load_promptable(path: str | Path = "promptable", device: torch.device | str | None = None
                    ) -> PromptableSegmenter:
    """Load a model saved by :func:`train_promptable` (a checkpoint name or a file path), in eval mode."""
    payload = load_checkpoint(path)
    if payload.get("model_class") != PromptableSegmenter.__name__ or not isinstance(payload.get("config"), dict):
        raise ValueError(f"{path} holds a {payload.get('model_class')}, not a PromptableSegmenter: "
                         "was it written by train_promptable?")
    model = PromptableSegmenter(config_from_dict(payload["config"], PromptableConfig))
    model.load_state_dict(payload["model"])
    return model.to(as_device(device)).eval()
