"""FCN-8s (lesson 03's recipe, ``train.fcn.train_fcn``) beside torchvision's ``fcn_resnet50``.

Both models see the same preloaded scenes through the same ``CropLoader`` (random crops and
flips), and are scored by ``engine.evaluate_semantic`` on the same validation scenes. The course
FCN is trained exactly as lesson 03 trains it (``FCNTrainConfig`` defaults); torchvision's model
then gets the same *training* time (validation excluded), with the one-cycle schedule sized to it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from course_utils import engine
from course_utils.data import NUM_CLASSES
from course_utils.train import CropLoader, preload_semantic
from course_utils.train.fcn import FCNTrainConfig, recipe_fcn, time_to_miou, train_fcn

from .pair import ModelPlan, benchmark_model, latency, ratios, time_step
from .timing import sync

KEYS = ("miou", "pixel_acc")  # validation metrics reported


def stock_fcn_resnet50(num_classes: int = NUM_CLASSES) -> nn.Module:
    """torchvision's FCN with a ResNet-50 backbone, untrained, without the auxiliary head."""
    from torchvision.models.segmentation import fcn_resnet50

    return fcn_resnet50(weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=False)


@dataclass(frozen=True)
class SemanticBench:
    """Budgets of the FCN comparison."""

    train: FCNTrainConfig = field(default_factory=FCNTrainConfig)  # the course FCN's recipe (lesson 03 defaults)
    target_miou: float = 0.90  # §7 bar: "time to reach" this validation mIoU
    stock_lr: float = 1e-3  # fcn_resnet50's peak AdamW learning rate (1e-2 is the small FCN's; too high for it)
    stock_evals: int = 2  # validations of fcn_resnet50 within its budget (each is slow on a CPU)
    step_repeats: int = 10  # timed training steps of the course FCN on the fixed batch
    step_warmup: int = 3  # untimed steps first
    stock_step_repeats: int = 3  # ... of fcn_resnet50 (about 40x slower per step)
    stock_step_warmup: int = 1
    latency_repeats: int = 30  # timed batch-1 predictions of the course FCN
    latency_warmup: int = 5
    stock_latency_repeats: int = 5  # ... of fcn_resnet50
    stock_latency_warmup: int = 1


QUICK = SemanticBench(
    train=replace(FCNTrainConfig(), num_train=48, num_val=8, size=64, crop=32, batch_size=8, num_epochs=2),
    stock_evals=1, step_repeats=2, step_warmup=1, stock_step_repeats=1, stock_step_warmup=1,
    latency_repeats=3, latency_warmup=1, stock_latency_repeats=1, stock_latency_warmup=1,
)


def _scores(scores: dict) -> dict:
    """The reported subset of ``evaluate_semantic``'s scores, plus the mean IoU of the thing classes."""
    out = {k: float(scores[k]) for k in KEYS if k in scores}
    things = [float(scores[f"iou_{n}"]) for n in ("circle", "square", "triangle") if f"iou_{n}" in scores]
    out["things_miou"] = sum(things) / len(things) if things else None
    return out


def run_semantic(bench: SemanticBench, device: torch.device) -> dict:
    """Train and time both models; see the module docstring.

    Args:
        bench: budgets and the course recipe.
        device: where to train and evaluate.

    Returns:
        ``{"data", "course", "stock", "ratios"}`` of plain data (seconds, metrics, curves).
    """
    cfg = bench.train
    t0 = time.perf_counter()
    train_images, train_labels = preload_semantic("train", cfg.num_train, cfg.size)
    val_images, val_labels = preload_semantic("val", cfg.num_val, cfg.size)
    gen_s = time.perf_counter() - t0
    # Data lives on the device; CropLoader indexes it there, so steps never wait for host copies.
    train = (train_images.to(device), train_labels.to(device))
    val = (val_images.to(device), val_labels.to(device))
    fixed = next(iter(CropLoader(*train, cfg.batch_size, cfg.crop, seed=cfg.seed)))  # (B,3,c,c), (B,c,c)
    sample = f"{cfg.crop}x{cfg.crop} crops" if cfg.crop and cfg.crop < cfg.size else f"{cfg.size}x{cfg.size} scenes"
    one_image = val_images[:1].float().div(255)  # (1, 3, H, W), on the host

    def build_course() -> nn.Module:
        return recipe_fcn(cfg)

    def infer(m: nn.Module) -> torch.Tensor:
        return engine.predict(m, one_image[0], device=device)  # (H, W) class ids, back on the host

    course_plan = ModelPlan("course FCN-8s", build_course, cfg.lr, 0.0, cfg.num_epochs, bench.step_repeats,
                            bench.step_warmup, bench.latency_repeats, bench.latency_warmup)
    step, params = time_step(course_plan, fixed, device, cfg.seed)
    sync(device)
    model, history, scores = train_fcn(cfg, data=train, val_data=val, device=device, progress=False)
    batches_per_epoch = -(-cfg.num_train // cfg.batch_size)
    curve = [{"train_s": round(e["elapsed_s"], 2), "steps": e["epoch"] * batches_per_epoch,
              **_scores(e)} for e in history.epochs]
    train_s = history.epochs[-1]["elapsed_s"] if history.epochs else history.total_time_s
    course = {
        "name": course_plan.name, "params": params, "lr": cfg.lr, "budget_s": None, "step": step,
        "recipe": f"FCNTrainConfig defaults: {cfg.num_epochs} epochs of {cfg.num_train} scenes, batch "
                  f"{cfg.batch_size} {sample}, AdamW + one-cycle, lr {cfg.lr}",
        "run": {"train_s": train_s, "steps": history.total_steps, "batch": cfg.batch_size,
                "s_per_step": train_s / history.total_steps if history.total_steps else None,
                "images_per_s": history.total_steps * cfg.batch_size / train_s if train_s else None,
                "final": _scores(scores),
                "time_to": {f"miou>={bench.target_miou}": time_to_miou(history, bench.target_miou)},
                "curve": curve, "error": None, "eval_s": None},
        "latency": latency(model, infer, bench.latency_repeats, bench.latency_warmup, device),
    }
    del model
    val_loader = CropLoader(*val, 64, crop=None, flip=False, shuffle=False)

    def eval_fn(m: nn.Module) -> dict:
        return _scores(engine.evaluate_semantic(m, val_loader, cfg.num_classes, device=device))

    stock_plan = ModelPlan("torchvision fcn_resnet50", lambda: stock_fcn_resnet50(cfg.num_classes), bench.stock_lr,
                           train_s, bench.stock_evals, bench.stock_step_repeats, bench.stock_step_warmup,
                           bench.stock_latency_repeats, bench.stock_latency_warmup)
    source = CropLoader(*train, cfg.batch_size, cfg.crop, seed=cfg.seed)
    stock = benchmark_model(stock_plan, source, cfg.batch_size, fixed, eval_fn, infer, (*KEYS, "things_miou"),
                            {"miou": bench.target_miou}, device, cfg.seed)
    stock["recipe"] = (f"same scenes, crops and batch; AdamW + one-cycle sized to the budget, lr {bench.stock_lr}; "
                       f"{bench.stock_evals} validation(s)")
    return {"data": {"num_train": cfg.num_train, "num_val": cfg.num_val, "size": cfg.size, "sample": sample,
                     "batch_size": cfg.batch_size, "generate_s": gen_s},
            "course": course, "stock": stock, "ratios": ratios(course, stock)}
