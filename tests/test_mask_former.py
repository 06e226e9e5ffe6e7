"""The mask classifier (``models.mask_former``): matching, losses, inference and the model's contract."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils.data import LABEL_DIVISOR, SPLITS, make_scene, segment_target
from course_utils.metrics.panoptic import panoptic_quality
from course_utils.models.mask_former import MaskFormer, MaskFormerConfig, sine_positions
from course_utils.models.mask_former_parts import (
    bce_cost,
    dice_cost,
    instance_inference,
    match_queries,
    panoptic_inference,
    semantic_inference,
    set_losses,
)

SMALL = MaskFormerConfig(channels=(8, 16, 16, 24), fpn_channels=16, hidden_dim=16, mask_dim=16, ff_dim=32,
                         num_layers=2, num_queries=10)


def brute_force_min(cost: np.ndarray) -> float:
    """The smallest total cost over every one-to-one assignment (rows >= columns)."""
    q, t = cost.shape
    return min(sum(cost[r, c] for c, r in enumerate(rows)) for rows in itertools.permutations(range(q), t))


@pytest.mark.parametrize("shape", [(5, 3), (4, 4), (6, 1)])
def test_match_queries_is_optimal_one_to_one(shape):
    rng = np.random.default_rng(sum(shape))
    cost = rng.random(shape)
    rows, cols = match_queries(torch.as_tensor(cost))
    assert cols.tolist() == list(range(shape[1]))  # sorted by target, every target matched once
    assert len(set(rows.tolist())) == shape[1]
    assert cost[rows.numpy(), cols.numpy()].sum() == pytest.approx(brute_force_min(cost))


def test_match_queries_rejects_nan_with_a_sentence():
    with pytest.raises(ValueError, match="NaN or inf"):
        match_queries(torch.tensor([[0.0, float("nan")]]))


def test_costs_match_the_losses_they_stand_for():
    logits, target = torch.randn(3, 50), (torch.rand(2, 50) > 0.5).float()
    bce = bce_cost(logits, target)
    for q, t in itertools.product(range(3), range(2)):
        assert bce[q, t] == pytest.approx(float(F.binary_cross_entropy_with_logits(logits[q], target[t])), rel=1e-5)
        p = logits[q].sigmoid()
        dice = (2 * (p * target[t]).sum() + 1) / (p.sum() + target[t].sum() + 1)
        assert dice_cost(logits, target)[q, t] == pytest.approx(float(1 - dice), rel=1e-5)


def test_set_losses_teach_unmatched_queries_no_object():
    masks = torch.zeros(1, 8, 8)
    masks[0, :4] = 1
    targets = [{"labels": torch.tensor([4]), "masks": masks}, {"labels": torch.zeros(0, dtype=torch.int64),
                                                                "masks": torch.zeros(0, 8, 8)}]
    class_logits = torch.zeros(2, 3, 8)
    class_logits[0, 1, 4] = 10  # query 1 of image 0 says circle: it should be the one matched
    mask_logits = torch.full((2, 3, 8, 8), -5.0)
    mask_logits[0, 1] = masks[0] * 10 - 5
    losses = set_losses(class_logits, mask_logits, targets)
    assert losses["loss_mask"] < 0.01 and losses["loss_dice"] < 0.01
    # unmatched queries are pushed to "no object", so a model answering it everywhere but query 1 scores better
    better = class_logits.clone()
    better[..., -1] = 10
    better[0, 1, -1] = 0
    assert set_losses(better, mask_logits, targets)["loss_class"] < losses["loss_class"]


def test_sine_positions_are_distinct_per_location():
    codes = sine_positions(4, 6, 16)
    assert codes.shape == (24, 16)
    assert torch.cdist(codes, codes).add(torch.eye(24)).min() > 1e-3


def perfect_logits(scene: dict, num_queries: int = 12, num_classes: int = 7):
    """Class and mask logits that state a scene's ground truth exactly (one query per segment)."""
    target = segment_target(scene)
    n = len(target["labels"])
    class_logits = torch.full((num_queries, num_classes + 1), -20.0)
    class_logits[:, -1] = 20  # no object ...
    class_logits[torch.arange(n), -1] = -20
    class_logits[torch.arange(n), target["labels"]] = 20  # ... except one query per segment
    mask_logits = torch.full((num_queries, *scene["panoptic"].shape), -20.0)
    mask_logits[:n] = target["masks"].float() * 40 - 20
    return class_logits, mask_logits


def test_inference_of_the_ground_truth_scores_perfectly():
    from course_utils.metrics.coco_eval import coco_evaluate

    scenes = [make_scene(SPLITS["val"], i) for i in range(6)]
    outputs = [perfect_logits(s) for s in scenes]
    panoptic = [panoptic_inference(c, m) for c, m in outputs]
    summary = panoptic_quality([p for p, _ in panoptic], [s["panoptic"] for s in scenes],
                               [segs for _, segs in panoptic], [s["segments"] for s in scenes])
    assert summary["all"]["pq"] == pytest.approx(1.0)
    for (c, m), s in zip(outputs, scenes):
        assert torch.equal(semantic_inference(c, m), s["semantic"])
    dets = [instance_inference(c, m) for c, m in outputs]
    stats = coco_evaluate(dets, [{"boxes": s["boxes"], "labels": s["labels"], "masks": s["masks"]} for s in scenes])
    assert stats["segm"]["AP"] == pytest.approx(1.0)


def test_panoptic_inference_numbers_things_and_merges_stuff():
    scene = make_scene(SPLITS["val"], 3)
    c, m = perfect_logits(scene)
    panoptic, segments = panoptic_inference(c, m)
    assert {s["id"] // LABEL_DIVISOR for s in segments} == {s["category_id"] for s in scene["segments"]}
    assert all("score" in s for s in segments if s["isthing"])
    empty, none = panoptic_inference(torch.zeros(4, 8).index_fill_(1, torch.tensor([7]), 10), m[:4])
    assert none == [] and int(empty.abs().sum()) == 0  # every query says "no object": all void


@pytest.fixture(scope="module")
def small_batch():
    scenes = [make_scene(SPLITS["train"], i, size=64) for i in range(2)]
    return torch.stack([s["image"] for s in scenes]), [segment_target(s) for s in scenes]


def test_model_outputs_all_three_formats(small_batch):
    images, _ = small_batch
    model = MaskFormer(SMALL).eval()
    with torch.no_grad():
        out = model(images)
    assert len(out) == 2
    for o in out:
        assert o["semantic"].shape == (64, 64) and o["panoptic"].shape == (64, 64)
        assert o["masks"].shape[1:] == (1, 64, 64) and o["boxes"].shape == (len(o["labels"]), 4)
        assert o["scores"].shape == o["labels"].shape and isinstance(o["segments"], list)
    with pytest.raises(ValueError, match="targets"):
        model.train()(images)


def test_overfits_one_batch(small_batch):
    torch.manual_seed(0)
    images, targets = small_batch
    model = MaskFormer(SMALL).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        losses = model(images, targets)
        total = sum(model.loss_weights[k] * v for k, v in losses.items())
        first = total.item() if first is None else first
        opt.zero_grad()
        total.backward()
        opt.step()
    assert total.item() < 0.3 * first


def test_inspect_records_every_layer():
    scene = make_scene(SPLITS["val"], 0, size=64)
    model = MaskFormer(SMALL)
    seen = model.inspect(scene["image"])
    assert seen["class_probs"].shape == (SMALL.num_layers, SMALL.num_queries, 8)
    assert seen["masks"].shape == (SMALL.num_layers, SMALL.num_queries, 64, 64)
    assert torch.allclose(seen["class_probs"].sum(-1), torch.ones(SMALL.num_layers, SMALL.num_queries))
    assert model.training  # inspect restores the mode it found
