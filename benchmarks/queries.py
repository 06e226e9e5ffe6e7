"""Lesson 10's two recipes (``train.mask_former``, ``train.promptable``), trained and scored as the lesson does it.

The mask classifier trains with ``MaskFormerTrainConfig`` defaults (its backbone from lesson 07's Mask R-CNN
checkpoint when ``make bench`` has run the lessons first, else from scratch, as the lesson does) and is
scored with the course's PQ on lesson 09's 128 validation scenes; the promptable model trains with
``PromptTrainConfig`` defaults and is scored by the mean IoU after one and two clicks on the same scenes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from course_utils import engine
from course_utils.data import SPLITS, make_scene
from course_utils.metrics.prompting import evaluate_clicks
from course_utils.train.mask_former import MaskFormerTrainConfig, evaluate_mask_former, predict_all, train_mask_former
from course_utils.train.promptable import PromptTrainConfig, train_promptable


@dataclass(frozen=True)
class QueriesBench:
    """Budgets of the queries section: the lesson's recipes as they are."""

    mask_former: MaskFormerTrainConfig = field(default_factory=MaskFormerTrainConfig)
    promptable: PromptTrainConfig = field(default_factory=PromptTrainConfig)
    num_val: int = 128  # validation scenes, as in the lesson


QUICK = QueriesBench(mask_former=replace(MaskFormerTrainConfig(), num_train=16, num_epochs=1),
                     promptable=replace(PromptTrainConfig(), num_train=8, num_epochs=1), num_val=4)


def run_queries(bench: QueriesBench, device: torch.device) -> dict:
    """Train and score both models of lesson 10.

    Returns:
        ``{"mask_former": {"train_s", "steps", "whole_schedule", "backbone_from", "pq", "pq_things", "pq_stuff",
        "miou", "params"}, "promptable": {"train_s", "steps", "whole_schedule", "iou1", "iou2", "iou1_things"}}``.
    """
    scenes = [make_scene(SPLITS["val"], i) for i in range(bench.num_val)]
    engine.seed_everything(bench.mask_former.seed)
    model, history = train_mask_former(bench.mask_former, device=device, checkpoint=None, progress=False,
                                       live_plot=False)
    outputs, _ = predict_all(model, [s["image"] for s in scenes], device=device)
    summary = evaluate_mask_former(outputs, scenes)
    out = {"mask_former": {"train_s": history.total_time_s, "steps": history.total_steps,
                           "whole_schedule": not history.stopped_early, "backbone_from": model.backbone_source,
                           "pq": summary["all"]["pq"], "pq_things": summary["things"]["pq"],
                           "pq_stuff": summary["stuff"]["pq"], "miou": summary["miou"],
                           "params": sum(p.numel() for p in model.parameters())}}
    engine.seed_everything(bench.promptable.seed)
    prompt_model, prompt_history = train_promptable(bench.promptable, device=device, checkpoint=None,
                                                    progress=False, live_plot=False)
    clicks = evaluate_clicks(prompt_model, scenes, device=device)["summary"]
    out["promptable"] = {"train_s": prompt_history.total_time_s, "steps": prompt_history.total_steps,
                         "whole_schedule": not prompt_history.stopped_early, "iou1": clicks["iou1"],
                         "iou2": clicks["iou2"], "iou1_things": clicks["iou1_things"]}
    return out
