"""Lesson 04's U-Net and DeepLab recipes (``train.segmenters``), timed and scored as the lesson trains them.

Both train on the same preloaded scenes as the FCN section (lesson 03's data) with their own
``UNetTrainConfig`` / ``DeepLabTrainConfig`` defaults, validated every epoch. When the same run also
trained the course FCN-8s, each model is compared with FCN-8s's validation mIoU after the same
training time (its last epoch at or before that time), which is the lesson's comparison.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import torch

from course_utils import engine
from course_utils.models.deeplab import DeepLab
from course_utils.models.unet import UNet
from course_utils.train import CropLoader, preload_semantic
from course_utils.train.compare import miou_at_time
from course_utils.train.fcn import time_to_miou
from course_utils.train.segmenters import DeepLabTrainConfig, UNetTrainConfig, train_segmenter

from .pair import ModelPlan, latency, time_step
from .report import UNET_BAR  # §7: U-Net validation mIoU
from .semantic import _scores


@dataclass(frozen=True)
class SegmenterBench:
    """Budgets of the lesson 04 section: the lesson's recipes as they are."""

    unet: UNetTrainConfig = field(default_factory=UNetTrainConfig)
    deeplab: DeepLabTrainConfig = field(default_factory=DeepLabTrainConfig)
    step_repeats: int = 10  # timed training steps on a fixed batch
    step_warmup: int = 3
    latency_repeats: int = 30  # timed batch-1 predictions
    latency_warmup: int = 5


QUICK = SegmenterBench(
    unet=replace(UNetTrainConfig(), num_train=48, num_val=8, size=64, batch_size=8, num_epochs=1),
    deeplab=replace(DeepLabTrainConfig(), num_train=48, num_val=8, size=64, batch_size=8, num_epochs=1),
    step_repeats=2, step_warmup=1, latency_repeats=3, latency_warmup=1,
)


def fcn_miou_at(curve: list[dict] | None, seconds: float) -> float | None:
    """FCN-8s's validation mIoU at its last epoch that ended within ``seconds`` of training (None if none did).

    The lesson's comparison (``train.compare.miou_at_time``), applied to the benchmark's FCN curve.
    """
    epochs = [{"elapsed_s": p["train_s"], "miou": p["miou"]} for p in curve or []]
    at = miou_at_time({"epochs": epochs}, seconds)
    return at[1] if at else None


def run_segmenters(bench: SegmenterBench, device: torch.device, fcn_curve: list[dict] | None = None) -> dict:
    """Train, time and score U-Net and DeepLab with lesson 04's recipes.

    Args:
        bench: the recipes and the timing repeats.
        device: where to train and evaluate.
        fcn_curve: the course FCN-8s's per-epoch ``{"train_s", "miou"}`` of the same run, for the comparison.

    Returns:
        ``{"unet": {...}, "deeplab": {...}}``: parameters, step time, latency, training time, steps, whether the
        whole schedule ran, final scores, the time to U-Net's bar, the per-epoch curve and FCN-8s at the same time.
    """
    out = {}
    data_key = None
    for key, cfg, cls in (("unet", bench.unet, UNet), ("deeplab", bench.deeplab, DeepLab)):
        if (cfg.num_train, cfg.num_val, cfg.size) != data_key:
            train = tuple(t.to(device) for t in preload_semantic("train", cfg.num_train, cfg.size))
            val = tuple(t.to(device) for t in preload_semantic("val", cfg.num_val, cfg.size))
            data_key = (cfg.num_train, cfg.num_val, cfg.size)
        fixed = next(iter(CropLoader(*train, cfg.batch_size, cfg.crop, seed=cfg.seed)))
        plan = ModelPlan(key, lambda c=cfg, k=cls: k(c.model), cfg.lr, 0.0, cfg.num_epochs, bench.step_repeats,
                         bench.step_warmup, bench.latency_repeats, bench.latency_warmup)
        step, params = time_step(plan, fixed, device, cfg.seed)
        engine.seed_everything(cfg.seed)
        t0 = time.perf_counter()
        model, history, scores = train_segmenter(cls(cfg.model), cfg, data=train, val_data=val, device=device,
                                                 progress=False)
        wall = time.perf_counter() - t0
        train_s = history.epochs[-1]["elapsed_s"] if history.epochs else history.total_time_s
        one_image = val[0][:1].float().div(255)[0].cpu()
        out[key] = {
            "name": "U-Net" if key == "unet" else "DeepLabv3+", "params": params, "step": step,
            "recipe": f"{type(cfg).__name__} defaults: {cfg.num_epochs} epochs of {cfg.num_train} scenes, batch "
                      f"{cfg.batch_size}, lr {cfg.lr}, loss {cfg.loss}",
            "train_s": train_s, "wall_s": wall, "steps": history.total_steps,
            "whole_schedule": not history.stopped_early, "final": _scores(scores),
            "time_to_bar": time_to_miou(history, UNET_BAR),
            "curve": [{"train_s": round(e["elapsed_s"], 2), "miou": e["miou"]} for e in history.epochs],
            "fcn_miou_same_time": fcn_miou_at(fcn_curve, train_s),
            "latency": latency(model, lambda m, x=one_image: engine.predict(m, x, device=device),
                               bench.latency_repeats, bench.latency_warmup, device),
        }
        del model
    return out
