"""Lesson 11's recipe: training (or fine-tuning) a Mask R-CNN on a small COCO dataset with ``fit``.

``simulate_out_of_memory`` shows the message the training loop gives when a GPU runs out of memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..device import seed_everything
from .loaders import CocoBatches
from .loop import TrainingError, fit


@dataclass(frozen=True)
class OwnDataConfig:
    """How lesson 11 trains Mask R-CNN on a small COCO dataset. Override with ``dataclasses.replace``."""

    batch_size: int = 8  # images per training step; lower it if a GPU runs out of memory
    fine_tune_epochs: int = 5  # passes over the data when starting from lesson 07's trained model
    fine_tune_lr: float = 2e-4  # peak learning rate when fine-tuning: small, so the model keeps what it knows
    scratch_epochs: int = 60  # passes over the data when starting from random weights
    scratch_lr: float = 2e-3  # peak learning rate from random weights (lesson 07's)
    weight_decay: float = 1e-4  # AdamW weight decay
    flip: bool = True  # random left-right / top-bottom flips: more variety from few images
    max_minutes: float | None = 3.0  # stop training after this long, whatever the epochs
    seed: int = 0  # seeds the batch order and the flips


def train_on_coco(model: nn.Module, dataset, cfg: OwnDataConfig | None = None, fine_tuning: bool = True,
                  device: torch.device | str | None = None, live_plot: bool = True, progress: bool = True):
    """Train (or fine-tune) a Mask R-CNN on a COCO dataset with the course's training loop ``fit``.

    Args:
        model: a torchvision-style Mask R-CNN with ``dataset.num_classes`` classes.
        dataset: a ``CocoInstanceDataset`` (any (image, target) dataset in detection format works).
        cfg: epochs, learning rates, batch size (``OwnDataConfig()`` when None).
        fine_tuning: use the fine-tuning epochs and learning rate, else the from-scratch ones.
        device: where to train (default ``device.get_device()``); mixed precision on CUDA.
        live_plot: redraw the loss curves while training (notebooks).
        progress: show a progress bar.

    Returns:
        the ``History`` of ``fit``; the model ends in eval mode.
    """
    cfg = cfg or OwnDataConfig()
    seed_everything(cfg.seed)
    batches = CocoBatches(dataset, cfg.batch_size, cfg.flip, cfg.seed)
    epochs, lr = (cfg.fine_tune_epochs, cfg.fine_tune_lr) if fine_tuning else (cfg.scratch_epochs, cfg.scratch_lr)
    return fit(model, batches, num_epochs=epochs, lr=lr, device=device, weight_decay=cfg.weight_decay,
               max_minutes=cfg.max_minutes, live_plot=live_plot, progress=progress, log_every=2,
               title="Mask R-CNN on your data: " + ("fine-tuning" if fine_tuning else "from scratch"))


class _OutOfMemoryModel(nn.Module):
    """A stand-in model whose forward pass fails the way a too-large batch fails on a GPU."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total "
                                     "capacity; 6.90 GiB already allocated)")


def simulate_out_of_memory(batch_size: int = 64, device: torch.device | str | None = None) -> str:
    """Run ``fit`` on a model that raises a CUDA out-of-memory error, and return the message it gives.

    Args:
        batch_size: the batch size the message will mention.
        device: where ``fit`` runs (default ``device.get_device()``); the message names its type.

    Returns:
        the ``TrainingError`` message of the course's training loop.
    """
    batch = (torch.zeros(batch_size, 3, 8, 8), torch.zeros(batch_size, 8, 8, dtype=torch.int64))
    try:
        fit(_OutOfMemoryModel(), [batch], num_epochs=1, lr=1e-3, device=device, live_plot=False, progress=False)
    except TrainingError as err:
        return str(err)
    return "the training loop did not report the out-of-memory error"
