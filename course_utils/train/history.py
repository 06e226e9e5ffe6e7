"""What a training run leaves behind: its ``History``, the ``TrainingError`` that can stop it, and the
sentence a run stopped by its time budget prints."""

from __future__ import annotations

from dataclasses import dataclass, field

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


def stop_sentence(history: History) -> str:
    """One calm sentence for a run that used up its time budget: where it stopped and what it reached.

    Args:
        history: the ``History`` of a ``fit`` call with ``stopped_early`` set.

    Returns:
        e.g. "Training stopped at its time budget: max_minutes=2.6 ran out after 2250 of 3000 steps (epoch 9
        of 12), with the learning-rate schedule squeezed into that time; the last validation gave miou 0.893."
    """
    last = history.epochs[-1] if history.epochs else {}
    metrics = [f"{k} {last[k]:.3f}" for k in ("miou", "pixel_acc", "mask_AP", "mask_AP50") if k in last]
    reached = f"; the last validation gave {', '.join(metrics)}" if metrics else ""
    return f"Training stopped at its time budget: {history.stopped_early}{reached}."
