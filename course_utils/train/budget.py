"""Training for a fixed number of seconds, with evaluations along the way (time-to-quality curves).

Budgeted training runs the course's own loop (``fit``) and only adds bookkeeping around it: a
loader that stops handing out batches once the *training* time budget is spent, and a ``val_fn``
that evaluates every "epoch" (one evaluation interval of steps) and records
``(training seconds, steps, metrics)``. Evaluation time is paused out of the training clock, so
"time to reach" a quality target is training time only, the same for every model compared.
The benchmarks (``benchmarks/``) use it to compare the course's models with torchvision's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..device import synchronize
from .loop import TrainingError, fit


@dataclass
class Clock:
    """Training time: wall time since start minus the time spent evaluating."""

    device: torch.device  # synchronised before reading the time on a GPU
    start: float | None = None  # perf_counter at the first batch
    paused: float = 0.0  # seconds spent in evaluation

    def train_s(self) -> float:
        """Seconds of training so far (0 before the first batch)."""
        return 0.0 if self.start is None else time.perf_counter() - self.start - self.paused


class BudgetedLoader:
    """A loader for ``fit``: ``steps_per_epoch`` batches per epoch, none once the budget is spent.

    Batches are drawn from ``source`` (any re-iterable loader), starting a new pass over it
    whenever one ends, so an "epoch" here is one evaluation interval, not a pass over the data.

    Args:
        source: the training batches, e.g. ``loaders.CropLoader`` or
            ``loaders.SceneBatches``.
        steps_per_epoch: batches per epoch (one evaluation interval).
        clock: the training clock (started at the first batch).
        budget_s: training seconds allowed.
    """

    def __init__(self, source: Iterable, steps_per_epoch: int, clock: Clock, budget_s: float):
        self.source, self.steps_per_epoch, self.clock, self.budget_s = source, steps_per_epoch, clock, budget_s
        self.steps = 0
        self._it: Iterator | None = None

    def __len__(self) -> int:
        return self.steps_per_epoch

    def _next(self) -> Any:
        """The next batch of the source, starting a new pass when one ends."""
        if self._it is not None:
            try:
                return next(self._it)
            except StopIteration:
                pass
        self._it = iter(self.source)
        return next(self._it)

    def __iter__(self):
        if self.clock.start is None:
            synchronize(self.clock.device)
            self.clock.start = time.perf_counter()
        for _ in range(self.steps_per_epoch):
            if self.exhausted():
                return
            self.steps += 1
            yield self._next()

    def exhausted(self) -> bool:
        """Whether the training budget is spent."""
        return self.clock.train_s() >= self.budget_s


@dataclass
class Run:
    """What a budgeted training run reached: the evaluation curve and the totals."""

    curve: list[dict] = field(default_factory=list)  # {"train_s", "steps", **metrics} after each interval
    train_s: float = 0.0  # training seconds used (evaluation excluded)
    steps: int = 0  # optimiser steps taken
    batch: int = 0  # images per step
    eval_s: float = 0.0  # seconds spent evaluating
    error: str | None = None  # why training stopped early (NaN loss, out of memory), if it did

    def time_to(self, key: str, target: float) -> float | None:
        """Training seconds at the first evaluation where ``key >= target`` (None if never)."""
        for point in self.curve:
            if point.get(key) is not None and point[key] >= target:
                return point["train_s"]
        return None

    def final(self, key: str) -> float:
        """The metric at the last evaluation (NaN if none)."""
        return self.curve[-1][key] if self.curve else math.nan

    def summary(self, keys: Sequence[str], targets: dict[str, float]) -> dict:
        """Plain data for results.json: totals, final metrics, time to each target, the curve."""
        out = {"train_s": self.train_s, "steps": self.steps, "batch": self.batch, "eval_s": self.eval_s,
               "error": self.error,
               "s_per_step": self.train_s / self.steps if self.steps else None,
               "images_per_s": self.steps * self.batch / self.train_s if self.train_s else None,
               "final": {k: self.final(k) for k in keys},
               "time_to": {f"{k}>={t}": self.time_to(k, t) for k, t in targets.items()},
               "curve": self.curve}
        return out


def train_budgeted(model: nn.Module, source: Iterable, *, batch: int, budget_s: float, lr: float, s_per_step: float,
                   eval_fn: Callable[[nn.Module], dict[str, float]], evals: int, device: torch.device,
                   grad_clip: float | None = None, weight_decay: float = 1e-4, max_steps: int | None = None,
                   loss_weights: dict[str, float] | None = None) -> Run:
    """Train with ``fit`` for ``budget_s`` seconds of training time, evaluating ``evals`` times.

    The one-cycle schedule is sized from ``s_per_step`` (a measured step time, plus 10%) so it
    completes at about the end of the budget; training stops at whichever comes first.

    Args:
        model: the model to train (moved to ``device``).
        source: the training batches (re-iterable; passes are restarted as needed).
        batch: images per batch (for images/s).
        budget_s: training seconds (evaluation excluded).
        lr: peak learning rate (AdamW, one-cycle: ``fit``'s defaults).
        s_per_step: measured seconds per step, to size the schedule and the evaluation interval.
        eval_fn: ``eval_fn(model) -> {metric: float}`` (the model is in eval mode).
        evals: evaluations spread evenly over the budget (the last one at the end).
        device: where to train.
        grad_clip: gradient-norm clip passed to ``fit``.
        weight_decay: AdamW weight decay passed to ``fit``.
        max_steps: cap on the steps (a recipe's own step count), whatever the budget would allow.
        loss_weights: weights of the loss terms passed to ``fit``.

    Returns:
        the ``Run`` with its curve.
    """
    # 10% margin: steps inside fit (logging, a fresh pass of the loader) run a little slower than
    # the fixed-batch timing, and a schedule cut short never anneals its learning rate.
    total_steps = max(evals, int(budget_s / (1.1 * s_per_step)))
    if max_steps is not None:
        total_steps = max(evals, min(total_steps, max_steps))
    steps_per_epoch = max(1, math.ceil(total_steps / evals))
    clock = Clock(device)
    loader = BudgetedLoader(source, steps_per_epoch, clock, budget_s)
    run = Run(batch=batch)
    done = False

    def val_fn(m: nn.Module) -> dict[str, float]:
        nonlocal done
        if done:  # budget spent and already scored: nothing new to evaluate
            return {}
        synchronize(device)
        t0 = time.perf_counter()
        metrics = eval_fn(m)
        synchronize(device)
        spent = time.perf_counter() - t0
        clock.paused += spent
        run.eval_s += spent
        run.curve.append({"train_s": round(clock.train_s(), 2), "steps": loader.steps, **metrics})
        done = loader.exhausted()
        return metrics

    try:
        fit(model, loader, num_epochs=math.ceil(total_steps / steps_per_epoch), lr=lr, device=device,
                   val_fn=val_fn, weight_decay=weight_decay, live_plot=False, progress=False, grad_clip=grad_clip,
                   loss_weights=loss_weights)
    except TrainingError as err:  # a diverging model is a result too: keep its curve and say why it stopped
        run.error = str(err)
    run.train_s = clock.train_s() if not run.curve else run.curve[-1]["train_s"]
    run.steps = loader.steps
    return run
