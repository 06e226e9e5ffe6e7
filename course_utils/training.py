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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

NAN_MESSAGE = ("Training stopped because the loss became {value} at step {step}: the usual causes are a "
               "learning rate that is too high, degenerate boxes (zero width or height) or bad labels "
               "(class ids outside [0, num_classes)).")
OOM_MESSAGE = ("Training stopped because the {device} ran out of memory at batch size {batch}: lower the "
               "batch size (or the image size) and run the cell again.")


class TrainingError(RuntimeError):
    """Training had to stop (NaN/inf loss, out of memory); the message says why. ``history`` holds what ran."""

    def __init__(self, message: str, history: History | None = None):
        super().__init__(message)
        self.history = history


@dataclass
class History:
    """What happened during ``fit``.

    ``steps``: one dict per logged step (``step``, ``epoch``, ``lr``, ``loss`` and every loss term,
    averaged over the steps since the previous log). ``epochs``: one dict per epoch (``epoch``,
    ``train_loss``, ``time_s``, ``steps_per_s`` and whatever ``val_fn`` returned).
    """

    steps: list[dict] = field(default_factory=list)  # logged training steps
    epochs: list[dict] = field(default_factory=list)  # per-epoch summaries and validation metrics
    total_steps: int = 0  # optimiser steps taken
    total_time_s: float = 0.0  # wall-clock seconds spent in fit
    stopped_early: str | None = None  # why training ended before num_epochs (e.g. max_minutes)

    @property
    def steps_per_s(self) -> float:
        """Average optimiser steps per second over the whole run."""
        return self.total_steps / self.total_time_s if self.total_time_s else float("nan")

    def val_keys(self) -> list[str]:
        """Names of the validation metrics recorded per epoch."""
        skip = {"epoch", "train_loss", "time_s", "steps_per_s", "lr"}
        keys: list[str] = []
        for e in self.epochs:
            keys += [k for k in e if k not in skip and k not in keys]
        return keys

    def last(self, key: str) -> float:
        """The latest value of an epoch-level entry (e.g. ``"miou"``), NaN if never recorded."""
        for e in reversed(self.epochs):
            if key in e:
                return e[key]
        return float("nan")

    def to_dict(self) -> dict:
        """Plain Python data (for a ``weights_only`` checkpoint)."""
        return {"steps": self.steps, "epochs": self.epochs, "total_steps": self.total_steps,
                "total_time_s": self.total_time_s, "stopped_early": self.stopped_early}


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


def _amp_settings(device: torch.device, amp: bool | None) -> tuple[bool, torch.dtype | None]:
    """Whether to autocast, and to which dtype: bf16 on CUDA when supported, else fp16 with a GradScaler."""
    if device.type != "cuda" or amp is False:
        return False, None
    return True, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _is_oom(err: BaseException) -> bool:
    """True for CUDA/MPS out-of-memory errors."""
    return isinstance(err, torch.OutOfMemoryError) or "out of memory" in str(err).lower()


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
        device: where to train (default ``engine.get_device()``); the model is moved there.
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
        checkpoint: a name (``engine.checkpoint_path(name)``) or a path; the final model is saved there.
        config: the model's configuration, saved with the checkpoint (default ``model.config``).
        log_every: read losses back from the device every this many steps.
        grad_clip: clip the gradient norm to this value (useful for detection models).
        amp: mixed precision on CUDA (default on: bf16 autocast, or fp16 with a GradScaler).
        title: title of the live plot.
        loss_weights: weight per loss term in the total, for models whose loss is a dict (default 1 each).

    Returns:
        the ``History``. Raises ``TrainingError`` with a one-sentence reason when the loss becomes
        NaN/inf or the device runs out of memory.
    """
    from tqdm.auto import tqdm

    from .engine import get_device
    from .viz.training import LivePlot

    if num_epochs < 1 or len(train_loader) == 0:
        raise ValueError(f"nothing to train: num_epochs={num_epochs}, {len(train_loader)} batches per epoch")
    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    if optimizer is None:
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    total = num_epochs * len(train_loader)
    if scheduler not in ("onecycle", None):
        raise ValueError(f"scheduler must be 'onecycle' or None, not {scheduler!r}")
    peaks = [g["lr"] for g in optimizer.param_groups]  # the schedule's peak learning rate per group
    use_amp, amp_dtype = _amp_settings(device, amp)
    scaler = torch.amp.GradScaler("cuda") if use_amp and amp_dtype == torch.float16 else None

    history = History()
    plot = LivePlot(live_plot, title, validation=val_fn is not None)
    bar = tqdm(total=total, desc="training", disable=not progress, leave=True)
    start = time.perf_counter()
    budget = 60 * max_minutes if max_minutes else math.inf  # seconds of training steps allowed
    excluded = 0.0  # seconds spent on validation and plotting, not counted against the budget
    pending: list[tuple[torch.Tensor, dict[str, torch.Tensor]]] = []  # unread losses, on the device
    last_plot, plotted = start, 0  # when the live plot was last drawn, and with how many logged steps
    step, batch = 0, 0
    try:
        for epoch in range(1, num_epochs + 1):
            model.train()
            epoch_start, epoch_steps, epoch_loss_sum = time.perf_counter(), 0, 0.0
            for images, targets in train_loader:
                if scheduler == "onecycle":
                    used = (time.perf_counter() - start - excluded) / budget
                    for group, peak in zip(optimizer.param_groups, peaks):
                        group["lr"] = one_cycle_lr(max(step / total, used), peak)
                images, targets = to_device(images, device), to_device(targets, device)
                batch = batch_size_of(images)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                    loss, terms = compute_loss(model, images, targets, loss_fn, loss_weights)
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.unscale_(optimizer)
                else:
                    loss.backward()
                if grad_clip:
                    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                step += 1
                epoch_steps += 1
                pending.append((loss.detach(), terms))
                out_of_time = time.perf_counter() - start - excluded > budget
                if len(pending) >= log_every or out_of_time:
                    epoch_loss_sum += _log(history, pending, step, epoch, optimizer)
                    bar.update(len(pending))
                    bar.set_postfix(epoch=f"{epoch}/{num_epochs}", loss=f"{history.steps[-1]['loss']:.4f}")
                    pending = []
                    if time.perf_counter() - last_plot > 5:
                        t0 = time.perf_counter()
                        plot.update(history)
                        last_plot, plotted = time.perf_counter(), len(history.steps)
                        excluded += last_plot - t0
                if out_of_time:
                    break
            if pending:
                epoch_loss_sum += _log(history, pending, step, epoch, optimizer)
                bar.update(len(pending))
                pending = []
            seconds = time.perf_counter() - epoch_start
            summary = {"epoch": epoch, "train_loss": epoch_loss_sum / max(epoch_steps, 1), "time_s": seconds,
                       "steps_per_s": epoch_steps / seconds if seconds else math.nan}
            t0 = time.perf_counter()
            if val_fn is not None:
                model.eval()
                with torch.no_grad():
                    summary.update({k: float(v) for k, v in val_fn(model).items() if isinstance(v, (int, float))})
                model.train()
            history.epochs.append(summary)
            bar.set_postfix({k: f"{v:.4f}" for k, v in summary.items() if k in ("train_loss", "miou", "loss")})
            if val_fn is not None or epoch == num_epochs or time.perf_counter() - last_plot > 5:
                plot.update(history)  # drawing costs ~0.1-0.3 s: not after every short epoch
                last_plot, plotted = time.perf_counter(), len(history.steps)
            excluded += time.perf_counter() - t0
            if time.perf_counter() - start - excluded > budget:
                if step < total:
                    history.stopped_early = (f"the time budget max_minutes={max_minutes} was used up after {step} of "
                                             f"{total} steps (epoch {epoch} of {num_epochs})"
                                             + ("; the learning-rate schedule was squeezed into it"
                                                if scheduler == "onecycle" else ""))
                break
    except TrainingError as err:
        err.history = history
        raise
    except RuntimeError as err:
        if _is_oom(err):
            if device.type == "cuda":
                torch.cuda.empty_cache()
            raise TrainingError(OOM_MESSAGE.format(device=device.type.upper(), batch=batch), history) from None
        raise
    finally:
        if len(history.steps) != plotted:
            plot.update(history)  # the final state, also after an early stop
        bar.close()
        plot.close()
        history.total_steps = step
        history.total_time_s = time.perf_counter() - start
    model.eval()
    if history.stopped_early:
        print(f"Stopped early: {history.stopped_early}.")
    if checkpoint is not None:
        save_checkpoint(model, checkpoint, config=config, history=history)
    return history


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


def resolve_checkpoint(name_or_path: str | Path) -> Path:
    """A checkpoint name ("fcn8s") -> ``engine.checkpoint_path(name)``; a path (with / or .pt) stays as is."""
    from .engine import checkpoint_path

    p = Path(name_or_path)
    if p.suffix or len(p.parts) > 1:
        return p
    return checkpoint_path(str(name_or_path))


def _plain(obj: Any) -> Any:
    """Dataclasses -> dicts, tuples -> lists, so ``torch.load(weights_only=True)`` can read it."""
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def save_checkpoint(model: nn.Module, name_or_path: str | Path, *, config: Any = None,
                    history: History | None = None, **extra: Any) -> Path:
    """Save the weights, the model's config (to rebuild it) and optionally the history.

    Args:
        model: the trained model; its ``config`` attribute is saved when ``config`` is None.
        name_or_path: a checkpoint name (see ``engine.checkpoint_path``) or a file path.
        config: a dataclass or dict describing how to rebuild the model.
        history: the training ``History`` to keep with it.
        extra: further plain values (numbers, strings, lists, dicts) to store.

    Returns:
        the path written.
    """
    path = resolve_checkpoint(name_or_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = config if config is not None else getattr(model, "config", None)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"model": state, "config": _plain(config), "model_class": type(model).__name__,
               "history": history.to_dict() if history is not None else None, **_plain(extra)}
    torch.save(payload, path)
    return path


def load_checkpoint(name_or_path: str | Path, model: nn.Module | None = None,
                    map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint safely (``weights_only=True``) and optionally load its weights into ``model``.

    Args:
        name_or_path: a checkpoint name or a file path.
        model: when given, its weights are replaced by the checkpoint's.
        map_location: where to put the tensors.

    Returns:
        the checkpoint dict: ``model`` (state dict), ``config``, ``model_class``, ``history``, ...
    """
    path = resolve_checkpoint(name_or_path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}: run the lesson that trains it first "
                                "(or set COURSE_CHECKPOINTS to the folder that holds it)")
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if model is not None:
        model.load_state_dict(payload["model"])
    return payload
