"""One training loop for every model of the course, and checkpoints.

``fit`` trains two kinds of model with the same code:

* **logits models** (pixel classifier, FCN): ``model(images)`` returns logits (B, C, H, W) and
  ``loss_fn(logits, targets)`` (cross-entropy by default) gives the loss;
* **detection models** (torchvision's Mask R-CNN): in train mode ``model(images, targets)``
  returns a dict of loss tensors. They are summed, and every term is recorded.

A batch is ``(images, targets)``: images a stacked tensor (B, 3, H, W) or a tuple/list of
(3, H, W) tensors; targets a tensor or a tuple of dicts of tensors. Everything is moved to the
device. Losses stay on the device and are read back only every ``log_every`` steps, so the
loop does not wait for the GPU at each step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..device import amp_settings, as_device
from .bars import close_bar, training_bar
from .checkpoints import save_checkpoint
from .curves import LivePlot
from .history import NAN_MESSAGE, OOM_MESSAGE, History, TrainingError, stop_sentence  # noqa: F401


def to_device(obj: Any, device: torch.device) -> Any:
    """Move tensors to ``device``, looking inside tuples, lists and dicts (other values unchanged)."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


def batch_size_of(images: Any) -> int:
    """Number of images in a batch (stacked tensor or sequence)."""
    return images.shape[0] if isinstance(images, torch.Tensor) else len(images)


def compute_loss(model: nn.Module, images: Any, targets: Any, loss_fn: Callable | None = None,
                 loss_weights: dict[str, float] | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Forward pass and loss for either loss style.

    Args:
        model: a logits model or a detection model (see the module docstring).
        images: (B, 3, H, W) tensor or a sequence of (3, H, W) tensors, on the model's device.
        targets: (B, H, W) class ids, or a sequence of detection target dicts.
        loss_fn: ``(logits, targets) -> loss tensor or dict of loss tensors``; when None,
            detection targets (dicts) mean ``model(images, targets)`` returns the losses, and
            anything else means cross-entropy on ``model(images)``.
        loss_weights: for losses that come as a dict, a weight per term name in the total (terms
            not named weigh 1); the recorded terms stay unweighted.

    Returns:
        the total loss (0-dim) and every term (0-dim tensors, detached) by name.
    """
    detection = loss_fn is None and isinstance(targets, (list, tuple)) and targets and isinstance(targets[0], dict)
    if detection:
        out = model(images, targets)
        if not isinstance(out, dict):
            raise TypeError("a model trained with target dicts must return a dict of losses in train mode "
                            f"(torchvision detection style), but it returned {type(out).__name__}")
    else:
        logits = model(images)
        if isinstance(logits, dict):  # torchvision segmentation models return {"out": logits, ...}
            logits = logits["out"]
        out = (loss_fn or F.cross_entropy)(logits, targets)
    if isinstance(out, dict):
        weights = loss_weights or {}
        unknown = set(weights) - set(out)
        if unknown:
            raise ValueError(f"loss_weights names {sorted(unknown)}, but the losses are {sorted(out)}")
        total = sum(v * weights.get(k, 1.0) for k, v in out.items())
        terms = {k: v.detach() for k, v in out.items()}
    else:
        total, terms = out, {}
    return total, terms


def one_cycle_lr(progress: float, lr: float, warmup: float = 0.25, start_div: float = 25.0,
                 final_div: float = 1e4) -> float:
    """The OneCycle learning rate at ``progress`` in [0, 1]: cosine warm-up to ``lr``, then cosine decay.

    Args:
        progress: fraction of training done (steps done / total, or time used / budget).
        lr: the peak learning rate.
        warmup: fraction of training spent warming up.
        start_div: the schedule starts at ``lr / start_div``.
        final_div: and ends at ``lr / start_div / final_div`` (as ``torch.optim.lr_scheduler.OneCycleLR``).

    Returns:
        the learning rate.
    """
    p = min(max(progress, 0.0), 1.0)
    low, end = lr / start_div, lr / start_div / final_div
    if p < warmup:
        return low + (lr - low) * (1 - math.cos(math.pi * p / warmup)) / 2
    q = (p - warmup) / (1 - warmup)
    return end + (lr - end) * (1 + math.cos(math.pi * q)) / 2


def _is_oom(err: BaseException) -> bool:
    """True for CUDA/MPS out-of-memory errors."""
    return isinstance(err, torch.OutOfMemoryError) or "out of memory" in str(err).lower()


class _Run:
    """The state of one ``fit`` call: optimiser, schedule, clock, logging, progress bar and live plot."""

    def __init__(self, model: nn.Module, loader, num_epochs: int, lr: float, device: torch.device,
                 optimizer: torch.optim.Optimizer | None, scheduler: str | None, weight_decay: float,
                 max_minutes: float | None, amp: bool | None, log_every: int, plot, bar):
        if optimizer is None:
            params = [p for p in model.parameters() if p.requires_grad]
            optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
        self.model, self.loader, self.optimizer, self.device = model, loader, optimizer, device
        self.num_epochs, self.scheduler, self.log_every = num_epochs, scheduler, log_every
        self.max_minutes = max_minutes
        self.total = num_epochs * len(loader)  # optimiser steps of the full schedule
        self.peaks = [g["lr"] for g in optimizer.param_groups]  # the schedule's peak learning rate per group
        self.use_amp, self.amp_dtype = amp_settings(device, amp)
        self.scaler = torch.amp.GradScaler("cuda") if self.use_amp and self.amp_dtype == torch.float16 else None
        self.history, self.plot, self.bar = History(), plot, bar
        self.start = time.perf_counter()
        self.budget = 60 * max_minutes if max_minutes else math.inf  # seconds of training steps allowed
        self.excluded = 0.0  # seconds spent on validation and plotting, not counted against the budget
        self.pending: list[tuple[torch.Tensor, dict[str, torch.Tensor]]] = []  # unread losses, on the device
        self.last_plot, self.plotted = self.start, 0  # when the live plot was last drawn, and with how many rows
        self.step, self.batch = 0, 0

    def training_s(self) -> float:
        """Seconds of training steps so far (validation and plotting excluded)."""
        return time.perf_counter() - self.start - self.excluded

    def set_lr(self) -> None:
        """The one-cycle learning rate for this step (by steps or by time, whichever is further along)."""
        if self.scheduler == "onecycle":
            used = self.training_s() / self.budget
            for group, peak in zip(self.optimizer.param_groups, self.peaks):
                group["lr"] = one_cycle_lr(max(self.step / self.total, used), peak)

    def optimise(self, images: Any, targets: Any, loss_fn: Callable | None, loss_weights: dict | None,
                 grad_clip: float | None) -> None:
        """One optimiser step on a batch; its losses stay on the device in ``pending``."""
        images, targets = to_device(images, self.device), to_device(targets, self.device)
        self.batch = batch_size_of(images)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
            loss, terms = compute_loss(self.model, images, targets, loss_fn, loss_weights)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if grad_clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.step += 1
        self.pending.append((loss.detach(), terms))

    def flush(self, epoch: int) -> float:
        """Read the pending losses back into the history and the bar; returns their sum."""
        total = _log(self.history, self.pending, self.step, epoch, self.optimizer)
        self.bar.update(len(self.pending))
        self.pending = []
        return total

    def draw(self) -> None:
        """Redraw the live plot (its time is not counted against the budget)."""
        t0 = time.perf_counter()
        self.plot.update(self.history)
        self.last_plot, self.plotted = time.perf_counter(), len(self.history.steps)
        self.excluded += self.last_plot - t0

    def train_epoch(self, epoch: int, loss_fn: Callable | None, loss_weights: dict | None,
                    grad_clip: float | None) -> tuple[int, float]:
        """One pass over the loader (cut short when the time budget runs out).

        Returns:
            (steps taken in the epoch, sum of their losses).
        """
        self.model.train()
        steps, loss_sum = 0, 0.0
        for images, targets in self.loader:
            self.set_lr()
            self.optimise(images, targets, loss_fn, loss_weights, grad_clip)
            steps += 1
            out_of_time = self.training_s() > self.budget
            if len(self.pending) >= self.log_every or out_of_time:
                loss_sum += self.flush(epoch)
                self.bar.set_postfix(epoch=f"{epoch}/{self.num_epochs}", loss=f"{self.history.steps[-1]['loss']:.4f}")
                if time.perf_counter() - self.last_plot > 5:
                    self.draw()
            if out_of_time:
                break
        if self.pending:
            loss_sum += self.flush(epoch)
        return steps, loss_sum

    def end_epoch(self, epoch: int, steps: int, loss_sum: float, seconds: float, val_fn: Callable | None) -> bool:
        """Record the epoch's summary (and validation); returns True when the time budget is used up."""
        summary = {"epoch": epoch, "train_loss": loss_sum / max(steps, 1), "time_s": seconds,
                   "steps_per_s": steps / seconds if seconds else math.nan}
        t0 = time.perf_counter()
        if val_fn is not None:
            self.model.eval()
            with torch.no_grad():
                summary.update({k: float(v) for k, v in val_fn(self.model).items() if isinstance(v, (int, float))})
            self.model.train()
        self.history.epochs.append(summary)
        self.bar.set_postfix({k: f"{v:.4f}" for k, v in summary.items() if k in ("train_loss", "miou", "loss")})
        if val_fn is not None or epoch == self.num_epochs or time.perf_counter() - self.last_plot > 5:
            self.plot.update(self.history)  # drawing costs ~0.1-0.3 s: not after every short epoch
            self.last_plot, self.plotted = time.perf_counter(), len(self.history.steps)
        self.excluded += time.perf_counter() - t0
        if self.training_s() <= self.budget:
            return False
        if self.step < self.total:
            self.history.stopped_early = (
                f"max_minutes={self.max_minutes:g} ran out after {self.step} of {self.total} steps "
                f"(epoch {epoch} of {self.num_epochs})"
                + (", with the learning-rate schedule squeezed into that time" if self.scheduler == "onecycle" else ""))
        return True

    def close(self) -> None:
        """Final plot, close the bar and the plot, and total up the history."""
        if len(self.history.steps) != self.plotted:
            self.plot.update(self.history)  # the final state, also after an early stop
        if self.history.stopped_early:
            _finish_bar(self.bar, self.step)
        close_bar(self.bar)
        self.plot.close()
        self.history.total_steps = self.step
        self.history.total_time_s = time.perf_counter() - self.start


def fit(model: nn.Module, train_loader, *, num_epochs: int, lr: float, device: torch.device | str | None = None,
        loss_fn: Callable | None = None, val_fn: Callable[[nn.Module], dict[str, float]] | None = None,
        optimizer: torch.optim.Optimizer | None = None, scheduler: str | None = "onecycle",
        weight_decay: float = 1e-4, max_minutes: float | None = None, live_plot: bool = True,
        progress: bool = True, checkpoint: str | Path | None = None, config: Any = None,
        log_every: int = 10, grad_clip: float | None = None, amp: bool | None = None,
        title: str | None = None, loss_weights: dict[str, float] | None = None) -> History:
    """Train ``model`` on ``train_loader`` and return the ``History``.

    Args:
        model: a logits model or a detection model (see the module docstring).
        train_loader: iterable of ``(images, targets)`` batches with a ``len``.
        num_epochs: passes over ``train_loader``.
        lr: (peak) learning rate.
        device: where to train (default ``device.get_device()``); the model is moved there.
        loss_fn: ``(logits, targets) -> loss`` for logits models (default cross-entropy).
        val_fn: ``val_fn(model) -> {metric: float}`` called after every epoch (model in eval mode).
        optimizer: default AdamW over the parameters that require gradients.
        scheduler: "onecycle" (``one_cycle_lr`` over all steps) or None (constant learning rate). With
            ``max_minutes``, the schedule follows whichever runs out first, steps or time, so a
            slow machine still finishes the cycle (and its final low-learning-rate phase) in time.
        weight_decay: AdamW weight decay of the default optimiser.
        max_minutes: wall-clock budget of the training steps (validation excluded); training stops when
            it is used up, and the OneCycle schedule is squeezed into it.
        live_plot: redraw loss and validation curves in place (notebooks only).
        progress: show a ``tqdm.auto`` progress bar.
        checkpoint: a name (``paths.checkpoint_path(name)``) or a path; the final model is saved there.
        config: the model's configuration, saved with the checkpoint (default ``model.config``).
        log_every: read losses back from the device every this many steps.
        grad_clip: clip the gradient norm to this value (useful for detection models).
        amp: mixed precision on CUDA (default on: bf16 autocast, or fp16 with a GradScaler). On a CPU,
            denormal floats are flushed to zero while training (``torch.set_flush_denormal``).
        title: title of the live plot.
        loss_weights: weight per loss term in the total, for models whose loss is a dict (default 1 each).

    Returns:
        the ``History``. Raises ``TrainingError`` with a one-sentence reason when the loss becomes
        NaN/inf or the device runs out of memory.
    """
    if num_epochs < 1 or len(train_loader) == 0:
        raise ValueError(f"nothing to train: num_epochs={num_epochs}, {len(train_loader)} batches per epoch")
    if scheduler not in ("onecycle", None):
        raise ValueError(f"scheduler must be 'onecycle' or None, not {scheduler!r}")
    device = as_device(device)
    model.to(device)
    plot = LivePlot(live_plot, title, validation=val_fn is not None)
    bar = training_bar(num_epochs * len(train_loader), enabled=progress)
    run = _Run(model, train_loader, num_epochs, lr, device, optimizer, scheduler, weight_decay, max_minutes, amp,
               log_every, plot, bar)
    # Tiny (denormal) floats are slow on CPUs: as training goes on, activations, gradients and Adam's
    # moments produce many. Flushing them to zero made the Mask R-CNN step ~16% faster on one core,
    # with the same results; the setting is global, so it is switched back off when training ends.
    flushing = device.type == "cpu" and torch.set_flush_denormal(True)
    try:
        for epoch in range(1, num_epochs + 1):
            epoch_start = time.perf_counter()
            steps, loss_sum = run.train_epoch(epoch, loss_fn, loss_weights, grad_clip)
            if run.end_epoch(epoch, steps, loss_sum, time.perf_counter() - epoch_start, val_fn):
                break
    except TrainingError as err:
        err.history = run.history
        raise
    except RuntimeError as err:
        if _is_oom(err):
            if device.type == "cuda":
                torch.cuda.empty_cache()
            raise TrainingError(OOM_MESSAGE.format(device=device.type.upper(), batch=run.batch), run.history) from None
        raise
    finally:
        if flushing:
            torch.set_flush_denormal(False)
        run.close()
    model.eval()
    if run.history.stopped_early:
        print(stop_sentence(run.history))
    if checkpoint is not None:
        save_checkpoint(model, checkpoint, config=config, history=run.history)
    return run.history


def _finish_bar(bar, steps: int) -> None:
    """End a progress bar at the steps actually taken, so a run stopped by its time budget does not end red."""
    if not bar.total or bar.n >= bar.total:
        return
    bar.total = steps
    container = getattr(bar, "container", None)  # tqdm.notebook's widget: (label, progress, text)
    if container is not None:
        container.children[1].max = steps
    bar.refresh()


def _log(history: History, pending: list, step: int, epoch: int, optimizer) -> float:
    """Read the pending losses back (one host sync), check they are finite, and append a log row.

    Returns:
        the sum of the pending total losses (for the epoch mean).
    """
    losses = torch.stack([p[0].float() for p in pending]).cpu()  # (n,)
    if not bool(torch.isfinite(losses).all()):
        bad = int((~torch.isfinite(losses)).nonzero()[0, 0])
        raise TrainingError(NAN_MESSAGE.format(value=float(losses[bad]), step=step - len(pending) + bad + 1))
    row = {"step": step, "epoch": epoch, "lr": optimizer.param_groups[0]["lr"], "loss": float(losses.mean())}
    if pending[0][1]:
        names = list(pending[0][1])
        terms = torch.stack([torch.stack([p[1][k].float() for k in names]) for p in pending]).cpu()  # (n, T)
        row.update({k: float(v) for k, v in zip(names, terms.mean(0))})
    history.steps.append(row)
    return float(losses.sum())
