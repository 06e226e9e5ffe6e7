"""Comparing trained segmentation models on the same scenes: quality, size and speed (lesson 04's table).

* ``miou_at_time``: a model's validation mIoU after a given amount of training time, from its history;
* ``same_time_verdict``: lesson 04's bar, a new model against the FCN-8s after the same training time, in words;
* ``ms_per_training_step`` and ``latency_ms``: timed on the machine at hand (a few repeats, median);
* ``comparison_row``: one table row (mIoU, thing-class mIoU, boundary-band mIoU, parameters, timings).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..data.classes import CLASSES, THINGS
from ..device import synchronize
from .evaluate import evaluate_semantic


def training_seconds(history) -> list[tuple[float, float]]:
    """(training seconds so far, validation mIoU) after every epoch of a ``History``.

    Uses ``elapsed_s`` when the recipe recorded it, else the running sum of the epochs' ``time_s``.
    """
    out, total = [], 0.0
    for e in history.epochs:
        total += e.get("time_s", 0.0)
        if "miou" in e:
            out.append((e.get("elapsed_s", total), e["miou"]))
    return out


def _as_history(history):
    """A ``History`` from a ``History`` or its ``to_dict()``."""
    if isinstance(history, dict):
        from .history import History

        return History(**{k: v for k, v in history.items() if k in ("steps", "epochs")})
    return history


def miou_at_time(history, seconds: float) -> tuple[float, float] | None:
    """The last validation mIoU reached within ``seconds`` of training.

    Args:
        history: a ``History`` (or its ``to_dict()``) with per-epoch ``miou``.
        seconds: the training time.

    Returns:
        (the epoch's training time, its mIoU), or None when no epoch ended within ``seconds``.
    """
    points = [p for p in training_seconds(_as_history(history)) if p[0] <= seconds]
    return points[-1] if points else None


def same_time_verdict(name: str, miou: float, seconds: float, fcn_history: dict, fcn_final_miou: float,
                      timed: str = "") -> tuple[bool | None, str]:
    """Lesson 04's bar: a model's mIoU against the FCN-8s's after the same training time, as one printed line.

    The FCN-8s's value is its last validation within ``seconds`` (``miou_at_time``), or its final mIoU when
    its whole run was shorter. When the model finished before the FCN-8s's first validation, there is no
    FCN-8s value that early, and the line says so instead of giving a verdict.

    Args:
        name: the model ("U-Net"); miou: its validation mIoU; seconds: its training seconds.
        fcn_history: the FCN-8s's history as a dict with ``epochs`` (``time_s``, ``elapsed_s``, ``miou``).
        fcn_final_miou: the FCN-8s's mIoU on the same validation scenes as ``miou``.
        timed: where the FCN-8s's seconds were measured, a few words for the line ("timed in lesson 03's run").

    Returns:
        (True when at least as good, False when worse, None when there is nothing to compare with; the line:
        "U-Net: mIoU 0.929 after 85 s of training; FCN-8s after the same time: 0.910 (...) -> at least as good").
    """
    where = f", {timed}" if timed else ""
    head = f"{name}: mIoU {miou:.3f} after {seconds:.0f} s of training; FCN-8s after the same time: "
    epochs = fcn_history.get("epochs") or []
    validations = [e for e in epochs if "miou" in e]
    if not validations:
        return None, head + "none (its checkpoint holds no training history) -> no verdict"
    total = sum(e.get("time_s", 0.0) for e in epochs)
    if seconds >= total:
        fcn, how = fcn_final_miou, f"its final mIoU: its whole run took {total:.0f} s{where}"
    else:
        at = miou_at_time(fcn_history, seconds)
        if at is None:
            first = training_seconds(_as_history(fcn_history))[0]
            return None, head + (f"none (its first validation came after {first[0]:.0f} s{where}) -> no verdict: "
                                 "no FCN-8s value that early")
        fcn, how = at[1], f"its validation after {at[0]:.0f} s{where}"
    ok = miou >= fcn
    return ok, head + f"{fcn:.3f} ({how}) -> {'at least as good' if ok else 'WORSE'}"


def _median_ms(fn: Callable[[], None], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times)


def ms_per_training_step(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor,
                         repeats: int = 5, device: torch.device | str | None = None) -> float:
    """Median milliseconds of one training step (forward, cross-entropy, backward, SGD update) on a batch.

    The model's weights are restored afterwards, so timing does not change a trained model.

    Args:
        model: a logits model.
        images: (B, 3, H, W) float batch.
        labels: (B, H, W) int64.
        repeats: timed steps (after one warm-up step).
        device: where to run (default: the model's device).

    Returns:
        milliseconds.
    """
    device = device or next(model.parameters()).device
    state = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.SGD(model.parameters(), lr=1e-6)
    x, y = images.to(device), labels.to(device)
    was_training = model.training
    model.train()

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        synchronize(device)

    step()
    ms = _median_ms(step, repeats)
    model.load_state_dict(state)
    model.train(was_training)
    return ms


@torch.no_grad()
def latency_ms(model: torch.nn.Module, image: torch.Tensor, repeats: int = 10,
               device: torch.device | str | None = None) -> float:
    """Median milliseconds to segment one image (batch of 1, eval mode).

    Args:
        model: a logits model.
        image: (3, H, W) float.
        repeats: timed calls (after one warm-up call).
        device: where to run (default: the model's device).

    Returns:
        milliseconds.
    """
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    x = image[None].to(device)

    def call():
        model(x)
        synchronize(device)

    call()
    ms = _median_ms(call, repeats)
    model.train(was_training)
    return ms


def comparison_row(model: torch.nn.Module, val_loader, batch: tuple[torch.Tensor, torch.Tensor],
                   boundary_width: int = 3, repeats: int = 5) -> dict:
    """One row of lesson 04's table for a trained model.

    Args:
        model: a trained logits model (7 shapes-world classes).
        val_loader: the validation batches every model is scored on.
        batch: (images, labels) of one training batch, for the step time (its first image gives the latency).
        boundary_width: width of the boundary band.
        repeats: timed repeats.

    Returns:
        ``{"miou", "thing_miou", "boundary_miou", "params", "ms_per_step", "latency_ms", "scores"}``.
    """
    scores = evaluate_semantic(model, val_loader, len(CLASSES), boundary_width=boundary_width)
    things = [scores[f"iou_{CLASSES[c]}"] for c in THINGS]
    return {"miou": scores["miou"], "thing_miou": sum(things) / len(things) if all(map(math.isfinite, things))
            else math.nan, "boundary_miou": scores["boundary_miou"],
            "params": sum(p.numel() for p in model.parameters()),
            "ms_per_step": ms_per_training_step(model, *batch, repeats=repeats),
            "latency_ms": latency_ms(model, batch[0][0], repeats=2 * repeats), "scores": scores}


def comparison_markdown(rows: dict[str, dict]) -> str:
    """Lesson 04's table as Markdown: one row per model (``comparison_row`` results, plus optional ``trained``)."""
    lines = ["| model | val mIoU | thing-class mIoU | boundary-band mIoU | parameters | ms / training step "
             "| batch-1 latency (ms) | training |", "|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['miou']:.3f} | {r['thing_miou']:.3f} | {r['boundary_miou']:.3f} | "
                     f"{r['params']:,} | {r['ms_per_step']:.0f} | {r['latency_ms']:.1f} | {r.get('trained', '')} |")
    return "\n".join(lines)
