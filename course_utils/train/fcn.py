"""Lesson 03's FCN recipe (also used by the benchmarks and lesson 05's bottom-up FCN).

Speed on a laptop CPU comes from three choices:

* scenes are generated **once** into uint8 tensors (``loaders.preload_semantic``), not on every epoch;
* batches of whole scenes (or random crops) with horizontal flips come straight from those
  tensors (``loaders.CropLoader``); the FCN trains on whole scenes;
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

from ..data.classes import NUM_CLASSES
from ..device import as_device, seed_everything
from ..models.fcn import FCN, build_fcn
from .checkpoints import load_checkpoint, save_checkpoint
from .evaluate import evaluate_semantic
from .loaders import CropLoader, preload_semantic
from .loop import fit


@dataclass(frozen=True)
class FCNTrainConfig:
    """A full FCN training run on the shapes world (lesson 03's recipe)."""

    variant: str = "8s"  # "32s", "16s" or "8s"
    num_classes: int = NUM_CLASSES  # classes of the model (7 for the shapes world)
    channels: tuple[int, ...] = (8, 16, 32, 64, 128)  # encoder widths (see FCNConfig); narrower than FCNConfig's
    # default: ~1.6x cheaper steps on one CPU core, the same mIoU after the same 12 epochs
    convs_per_stage: tuple[int, ...] = (1, 1, 2, 2, 2)  # 3x3 convs per encoder stage
    first_stage: str = "stride"  # stage 1 halves the size with a stride-2 conv, not conv + max-pooling (see
    # FCNConfig): on two cores ~1.3x cheaper steps (59 vs 77 ms); FCN-8s mIoU 0.900-0.909 in five runs (pooled:
    # 0.903-0.909), 0.90 first reached after 55-84 s, at whichever epoch the seed's curve crosses it
    num_train: int = 2000  # training scenes, generated once
    num_val: int = 128  # validation scenes (split "val")
    size: int = 128  # scene side in pixels
    crop: int | None = None  # training crop side; None = whole scenes (crops of 64 learn far slower per second)
    batch_size: int = 16  # scenes per step (16 at lr 8e-3 passed 0.90 mIoU ~1.3x sooner than 8 at 5e-3, one core)
    num_epochs: int = 12  # passes over the training scenes
    lr: float = 8e-3  # peak learning rate of the OneCycle schedule (AdamW)
    weight_decay: float = 1e-4  # AdamW weight decay
    class_weight_power: float = 0.5  # loss weight per class = frequency ** -power (0: plain cross-entropy)
    undo_weight_bias: bool = True  # subtract log(weight) from the scores after training (and when validating)
    boundary_width: int = 3  # also score pixels within this many px of a class boundary
    max_minutes: float | None = None  # wall-clock budget of the training steps (the schedule is squeezed into it)
    seed: int = 0  # seeds initialisation and batch order


def recipe_fcn(cfg: FCNTrainConfig = FCNTrainConfig(), variant: str | None = None) -> FCN:
    """The untrained FCN of a recipe: its classes, encoder widths, convs per stage and first stage.

    Args:
        cfg: the recipe.
        variant: "32s", "16s" or "8s" (default ``cfg.variant``).
    """
    return build_fcn(cfg.num_classes, variant or cfg.variant, channels=cfg.channels,
                     convs_per_stage=cfg.convs_per_stage, first_stage=cfg.first_stage)


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
        device: where to train (default ``device.get_device()``).
        live_plot: live loss/mIoU figure (notebooks).
        progress: progress bar.
        checkpoint: save the trained model under this name/path (with its config).

    Returns:
        (model in eval mode, ``History``, final validation scores dict incl. boundary scores).
    """
    cfg = replace(cfg, **overrides) if overrides else cfg
    device = as_device(device)
    seed_everything(cfg.seed)
    train_images, train_labels = data if data is not None else preload_semantic("train", cfg.num_train, cfg.size)
    val_images, val_labels = val_data if val_data is not None else preload_semantic("val", cfg.num_val, cfg.size)
    loader = CropLoader(train_images, train_labels, cfg.batch_size, cfg.crop, seed=cfg.seed)
    val_loader = CropLoader(val_images, val_labels, 64, crop=None, flip=False, shuffle=False)
    model = recipe_fcn(cfg)
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
        save_checkpoint(model, checkpoint, history=history, train_config=cfg,
                        metrics={"val_miou": scores["miou"], "val_scenes": cfg.num_val})
    return model, history, scores


def load_fcn(path_or_name="fcn8s", map_location: str | torch.device = "cpu") -> FCN:
    """Rebuild a trained FCN from a checkpoint written by ``fit``/``save_checkpoint``.

    Args:
        path_or_name: a checkpoint name ("fcn8s" is lesson 03's) or a file path.
        map_location: where to put the weights.

    Returns:
        the FCN with its weights, in eval mode.
    """
    payload = load_checkpoint(path_or_name, map_location=map_location)
    if not payload.get("config") or "variant" not in payload["config"]:
        raise ValueError(f"{path_or_name} is not an FCN checkpoint (its config is {payload.get('config')!r})")
    model = build_fcn(**payload["config"])
    model.load_state_dict(payload["model"])
    return model.eval()
