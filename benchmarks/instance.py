"""The course's small Mask R-CNN beside torchvision's stock ``maskrcnn_resnet50_fpn``, same data and batch.

Both are torchvision ``MaskRCNN`` models trained by ``train.fit`` (AdamW, one-cycle) on the same
scenes through lesson 07's loader (``train.SceneBatches``: pre-generated scenes, random
flips; kept on the device), timed on the same fixed batch, and scored with pycocotools
(``metrics.coco_eval.evaluate_maskrcnn``) on the same validation scenes. The course model follows
``MaskRCNNTrainConfig`` (batch size, learning rate, at most ``num_epochs`` passes) within the §7 budget
of 3 minutes of training, as ``train_maskrcnn`` does, with validations added along the way; the
stock model gets the same training time, its schedule sized to the steps it can take in it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from course_utils.data import NUM_CLASSES, InstanceDataset
from course_utils.metrics.coco_eval import evaluate_maskrcnn
from course_utils.models.maskrcnn import build_maskrcnn
from course_utils.train import SceneBatches, to_device
from course_utils.train.maskrcnn import MaskRCNNTrainConfig

from .pair import ModelPlan, benchmark_model, ratios

KEYS = ("mask_AP", "mask_AP50", "box_AP", "box_AP50")  # validation metrics reported


def stock_maskrcnn_resnet50_fpn(size: int = 128, num_classes: int = NUM_CLASSES) -> nn.Module:
    """torchvision's Mask R-CNN (ResNet-50 FPN), untrained, resizing to ``size`` (a no-op on our scenes)."""
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    return maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=num_classes,
                                 min_size=size, max_size=size)


@dataclass(frozen=True)
class InstanceBench:
    """Budgets of the Mask R-CNN comparison."""

    recipe: MaskRCNNTrainConfig = field(default_factory=MaskRCNNTrainConfig)  # the course model and its recipe
    budget_s: float = 180.0  # training seconds for each model (§7: <= 3 min of training)
    num_val: int = 200  # validation scenes (split "val") for every evaluation: the 200 lesson 07 scores (bar: >= 100)
    evals: int = 12  # evaluations of the course model within its budget (time-to-target resolution: 128 steps)
    target_ap50: float = 0.95  # "time to reach" this mask AP50 (§7: with AP >= 0.75, within 90 s of training)
    grad_clip: float | None = None  # gradient-norm clip, both models
    stock_lr: float = 1e-4  # the ResNet-50 model's peak AdamW learning rate (the small model's 2e-3 is too high)
    stock_evals: int = 2  # evaluations of the stock model (slow on a CPU)
    step_repeats: int = 10  # timed steps of the course model on the fixed batch
    step_warmup: int = 3
    stock_step_repeats: int = 3  # ... of the stock model
    stock_step_warmup: int = 1
    latency_repeats: int = 30  # timed batch-1 inferences of the course model
    latency_warmup: int = 5
    stock_latency_repeats: int = 5  # ... of the stock model
    stock_latency_warmup: int = 1


QUICK = InstanceBench(
    recipe=replace(MaskRCNNTrainConfig(), model=replace(MaskRCNNTrainConfig().model, image_size=64), num_train=8,
                   batch_size=2, num_epochs=1),
    budget_s=4.0, num_val=4, evals=1,
    stock_evals=1, step_repeats=2, step_warmup=1, stock_step_repeats=1, stock_step_warmup=1,
    latency_repeats=2, latency_warmup=1, stock_latency_repeats=1, stock_latency_warmup=1,
)


def run_instance(bench: InstanceBench, device: torch.device) -> dict:
    """Train and time both models; see the module docstring.

    Args:
        bench: budgets and the course model's configuration.
        device: where to train and evaluate.

    Returns:
        ``{"data", "course", "stock", "ratios"}`` of plain data (seconds, metrics, curves).
    """
    cfg = bench.recipe  # training fields here, model fields in cfg.model
    size = cfg.model.image_size
    t0 = time.perf_counter()
    batches = SceneBatches("train", cfg.num_train, cfg.batch_size, size, cfg.flip, cfg.seed)
    val_set = InstanceDataset("val", bench.num_val, size)
    val_items = [val_set[i] for i in range(len(val_set))]
    gen_s = time.perf_counter() - t0
    # Scenes live on the device; batches are assembled (and flipped) there, no host copies per step.
    batches.images, batches.targets = to_device(batches.images, device), to_device(batches.targets, device)
    fixed = next(iter(batches))  # the same batch times both models
    one_image = val_items[0][0]  # (3, H, W) on the host

    def eval_fn(m: nn.Module) -> dict:
        res = evaluate_maskrcnn(m, val_items, device=device)
        return {"mask_AP": res["segm"]["AP"], "mask_AP50": res["segm"]["AP50"],
                "box_AP": res["bbox"]["AP"], "box_AP50": res["bbox"]["AP50"]}

    def infer(m: nn.Module) -> list[dict]:
        out = m([one_image.to(device)])
        return [{k: v.cpu() for k, v in o.items()} for o in out]

    targets = {"mask_AP50": bench.target_ap50, "mask_AP": 0.75}
    course_plan = ModelPlan("course Mask R-CNN", lambda: build_maskrcnn(cfg.model), cfg.lr, bench.budget_s, bench.evals,
                            bench.step_repeats, bench.step_warmup, bench.latency_repeats, bench.latency_warmup,
                            bench.grad_clip, max_steps=cfg.num_epochs * len(batches),
                            loss_weights=cfg.loss_weights)
    course = benchmark_model(course_plan, batches, cfg.batch_size, fixed, eval_fn, infer, KEYS, targets, device,
                             cfg.seed)
    course["recipe"] = (f"MaskRCNNTrainConfig defaults: batch {cfg.batch_size}, flips, AdamW + one-cycle, lr {cfg.lr}, "
                        f"{cfg.model.box_batch_size_per_image} RoIs per image "
                        f"({cfg.model.box_positive_fraction:.0%} positive), "
                        f"classifier loss x{cfg.classifier_loss_weight:g}, at most "
                        f"{cfg.num_epochs} epochs of {cfg.num_train} scenes ({cfg.num_epochs * len(batches)} steps), "
                        f"{bench.budget_s:.0f} s of training")
    stock_plan = ModelPlan("torchvision maskrcnn_resnet50_fpn", lambda: stock_maskrcnn_resnet50_fpn(size),
                           bench.stock_lr, course["run"]["train_s"], bench.stock_evals, bench.stock_step_repeats,
                           bench.stock_step_warmup, bench.stock_latency_repeats, bench.stock_latency_warmup,
                           bench.grad_clip)
    stock = benchmark_model(stock_plan, batches, cfg.batch_size, fixed, eval_fn, infer, KEYS, targets, device,
                            cfg.seed)
    stock["recipe"] = (f"min_size=max_size={size}, same scenes and batch; AdamW + one-cycle sized to the "
                       f"course model's training time, lr {bench.stock_lr}")
    return {"data": {"num_train": cfg.num_train, "num_val": bench.num_val, "size": size,
                     "batch_size": cfg.batch_size, "generate_s": gen_s},
            "course": course, "stock": stock, "ratios": ratios(course, stock)}
