"""The one-stage lesson's recipe (``train.yolact``), trained, timed and scored as the lesson does it.

The model trains with ``YolactTrainConfig`` defaults (lesson 07's scenes, the §7 budget of 3 minutes),
then is scored with pycocotools on the 200 validation scenes the lesson uses. Its batch-1 latency is
compared with lesson 07's Mask R-CNN from that lesson's checkpoint (``make bench`` runs the lessons
first, which saves it), else from the course's reference checkpoint of it (``reference/maskrcnn.pt``);
with neither, the comparison is reported as not measured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import torch

from course_utils import engine
from course_utils.data import InstanceDataset
from course_utils.metrics.coco_eval import evaluate_maskrcnn
from course_utils.train import find_checkpoint
from course_utils.train.maskrcnn import load_maskrcnn
from course_utils.train.yolact import YolactTrainConfig, train_yolact

from .pair import latency


@dataclass(frozen=True)
class OneStageBench:
    """Budgets of the one-stage section: the lesson's recipe as it is."""

    recipe: YolactTrainConfig = field(default_factory=YolactTrainConfig)
    num_val: int = 200  # validation scenes, as in the lesson
    latency_repeats: int = 30  # timed batch-1 predictions of each model
    latency_warmup: int = 5


QUICK = OneStageBench(recipe=replace(YolactTrainConfig(), num_train=16, num_epochs=1), num_val=8,
                      latency_repeats=3, latency_warmup=1)


def run_one_stage(bench: OneStageBench, device: torch.device) -> dict:
    """Train and score the one-stage model; time it and lesson 07's Mask R-CNN at batch 1.

    Returns:
        ``{"params", "recipe", "train_s", "wall_s", "steps", "whole_schedule", "final" (mask/box AP...),
        "latency", "maskrcnn_latency" (None without lesson 07's or the reference checkpoint)}``.
    """
    engine.seed_everything(bench.recipe.seed)
    t0 = time.perf_counter()
    model, history = train_yolact(bench.recipe, device=device, checkpoint=None, progress=False, live_plot=False)
    wall = time.perf_counter() - t0
    val = InstanceDataset("val", bench.num_val)
    scores = evaluate_maskrcnn(model, val, device=device)
    image = val[0][0].to(device)

    def infer(m):
        return m([image])

    out = {"params": sum(p.numel() for p in model.parameters()),
           "recipe": f"YolactTrainConfig defaults: {bench.recipe.num_epochs} epochs of {bench.recipe.num_train} "
                     f"scenes, batch {bench.recipe.batch_size}, lr {bench.recipe.lr}, at most "
                     f"{bench.recipe.max_minutes} min",
           "train_s": history.total_time_s, "wall_s": wall, "steps": history.total_steps,
           "whole_schedule": not history.stopped_early,
           "final": {"mask_AP": scores["segm"]["AP"], "mask_AP50": scores["segm"]["AP50"],
                     "mask_AP75": scores["segm"]["AP75"], "box_AP": scores["bbox"]["AP"]},
           "latency": latency(model.eval(), infer, bench.latency_repeats, bench.latency_warmup, device),
           "maskrcnn_latency": None}
    name = find_checkpoint("maskrcnn")
    if name is not None:
        maskrcnn = load_maskrcnn(name, device=device)
        out["maskrcnn_latency"] = latency(maskrcnn, infer, bench.latency_repeats, bench.latency_warmup, device)
    return out
