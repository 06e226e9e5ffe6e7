"""One model's benchmark (fixed-batch step time, budgeted training, latency) and a side-by-side pair."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from course_utils import engine
from course_utils.train.budget import train_budgeted

from .timing import median_time, step_time


@dataclass(frozen=True)
class ModelPlan:
    """How one model of a comparison is built, trained and timed."""

    name: str  # shown in the tables, e.g. "course FCN-8s"
    build: Callable[[], nn.Module]  # a fresh, untrained model
    lr: float  # peak learning rate (AdamW, one-cycle, as engine.fit does)
    budget_s: float  # training seconds (evaluation excluded)
    evals: int  # evaluations spread over the budget (the time-to-target resolution)
    step_repeats: int  # timed steps on the fixed batch
    step_warmup: int  # untimed steps first
    latency_repeats: int  # timed batch-1 inferences
    latency_warmup: int  # untimed inferences first
    grad_clip: float | None = None  # gradient-norm clip in training
    max_steps: int | None = None  # the recipe's step count, if it caps the schedule below the budget
    loss_weights: dict[str, float] | None = None  # the recipe's weights of its loss terms (detection models)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def benchmark_model(plan: ModelPlan, source: Iterable, batch: int, fixed_batch: tuple[Any, Any],
                    eval_fn: Callable[[nn.Module], dict[str, float]], infer: Callable[[nn.Module], Any],
                    keys: Sequence[str], targets: dict[str, float], device: torch.device, seed: int) -> dict:
    """Step time on a fixed batch, then budgeted training with an evaluation curve, then latency.

    Args:
        plan: the model and its budgets.
        source: training batches (re-iterable), on the device where possible.
        batch: images per training batch.
        fixed_batch: (images, targets) used for the step timing.
        eval_fn: ``eval_fn(model) -> metrics`` on the validation set.
        infer: ``infer(model)`` runs one batch-1 inference (timed for the latency).
        keys: metrics reported at the end of training.
        targets: quality targets, e.g. ``{"miou": 0.9}``, for "time to reach".
        device: where to run.
        seed: seeds the weights (the same for the timing copy and the trained model).

    Returns:
        ``{"name", "params", "lr", "budget_s", "step", "run", "latency"}`` (plain data).
    """
    step, params = time_step(plan, fixed_batch, device, seed)
    engine.seed_everything(seed)
    model = plan.build()
    run = train_budgeted(model, source, batch=batch, budget_s=plan.budget_s, lr=plan.lr, s_per_step=step["median_s"],
                         eval_fn=eval_fn, evals=plan.evals, device=device, grad_clip=plan.grad_clip,
                         max_steps=plan.max_steps, loss_weights=plan.loss_weights)
    lat = latency(model, infer, plan.latency_repeats, plan.latency_warmup, device)
    return {"name": plan.name, "params": params, "lr": plan.lr, "budget_s": plan.budget_s, "grad_clip": plan.grad_clip,
            "step": step, "run": run.summary(keys, targets), "latency": lat}


def time_step(plan: ModelPlan, fixed_batch: tuple[Any, Any], device: torch.device, seed: int) -> tuple[dict, int]:
    """Median training-step time of a throw-away copy of the model on the fixed batch, and its size.

    Returns:
        (``timing.step_time``'s dict, number of trainable parameters).
    """
    engine.seed_everything(seed)
    model = plan.build()
    params = count_parameters(model)
    step = step_time(model, *fixed_batch, plan.lr, device, plan.step_repeats, plan.step_warmup, plan.loss_weights)
    del model
    return step, params


def latency(model: nn.Module, infer: Callable[[nn.Module], Any], repeats: int, warmup: int,
            device: torch.device) -> dict:
    """Median batch-1 inference time of a trained model (eval mode, no gradients)."""
    model.eval()
    with torch.no_grad():
        return median_time(lambda: infer(model), repeats, warmup, device)


def ratios(course: dict, stock: dict) -> dict:
    """Stock / course ratios of one run: step time on the same batch, latency, parameters."""
    def div(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    return {"step_time": div(stock["step"]["median_s"], course["step"]["median_s"]),
            "latency": div(stock["latency"]["median_s"], course["latency"]["median_s"]),
            "params": div(stock["params"], course["params"]),
            "steps_in_budget": div(course["run"]["steps"], stock["run"]["steps"])}
