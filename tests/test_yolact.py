"""The one-stage (YOLACT-style) segmenter: builder, its pieces against references, overfitting, save/load."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import batched_nms, box_iou

from course_utils.models.maskrcnn import example_batch
from course_utils.models.yolact import YolactConfig, build_yolact
from course_utils.models.yolact_parts import (
    assemble_logits,
    assign_locations,
    box_region,
    centerness_target,
    fast_nms,
    ltrb_to_boxes,
)
from course_utils.train import save_checkpoint
from course_utils.train.yolact import load_yolact

LOSSES = {"loss_classifier", "loss_box", "loss_centerness", "loss_mask", "loss_semantic"}


@pytest.fixture(scope="module")
def batch():
    return example_batch(2, split="val")


@pytest.mark.parametrize("classifier", ["aligned", "dense"])
@pytest.mark.parametrize("nms", ["batched", "fast"])
def test_losses_and_detections_in_torchvisions_format(classifier, nms, batch):
    torch.manual_seed(0)
    model = build_yolact(YolactConfig(classifier=classifier, nms=nms, score_thresh=0.0))
    images, targets = batch
    model.train()
    losses = model(images, targets)
    assert set(losses) == LOSSES and all(torch.isfinite(v) and v.requires_grad for v in losses.values())
    model.eval()
    with torch.no_grad():
        out = model(images)
    assert len(out) == 2
    for o in out:
        n = len(o["boxes"])
        assert 0 < n <= model.config.detections_per_img
        assert o["masks"].shape == (n, 1, 128, 128) and o["masks"].dtype == torch.float32
        assert o["labels"].shape == (n,) and o["scores"].shape == (n,)
        assert ((o["labels"] >= 1) & (o["labels"] < 7)).all()
        assert (o["masks"] >= 0).all() and (o["masks"] <= 1).all()
        assert (o["scores"][:-1] >= o["scores"][1:]).all()
        outside = ~box_region(o["boxes"], 128, 128)[:, None]
        assert (o["masks"][outside] == 0).all(), "masks must be cropped to their boxes"


def test_images_without_objects_give_finite_losses(batch):
    images, targets = batch
    empty = {**targets[0], "boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long),
             "masks": torch.zeros(0, 128, 128, dtype=torch.uint8)}
    model = build_yolact().train()
    losses = model(images[:1], [empty])
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()  # the graph reaches the parameters even with no positive location


def test_bad_configs_and_calls_are_explained(batch):
    with pytest.raises(ValueError, match="background"):
        build_yolact(YolactConfig(num_classes=1))
    with pytest.raises(ValueError, match="nms"):
        build_yolact(YolactConfig(nms="soft"))
    with pytest.raises(ValueError, match="classifier"):
        build_yolact(YolactConfig(classifier="mlp"))
    with pytest.raises(ValueError, match="targets"):
        build_yolact().train()(batch[0])
    with pytest.raises(ValueError, match="same size"):
        build_yolact().eval()([torch.rand(3, 128, 128), torch.rand(3, 64, 64)])


def greedy_nms(boxes, scores, labels, thresh):
    """The textbook loop: keep the best remaining box, drop its same-class overlaps, repeat."""
    order = scores.argsort(descending=True).tolist()
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        order = [j for j in order if labels[j] != labels[i] or box_iou(boxes[i:i + 1], boxes[j:j + 1])[0, 0] <= thresh]
    return torch.tensor(keep, dtype=torch.long)


@pytest.mark.parametrize("seed", range(5))
def test_fast_nms_keeps_a_subset_of_greedy_nms(seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(40, 2, generator=g) * 60
    boxes = torch.cat([xy, xy + 10 + torch.rand(40, 2, generator=g) * 20], 1)
    scores = torch.rand(40, generator=g)
    labels = torch.randint(1, 3, (40,), generator=g)
    greedy = greedy_nms(boxes, scores, labels, 0.5)
    assert torch.equal(batched_nms(boxes, scores, labels, 0.5), greedy)
    fast = fast_nms(boxes, scores, labels, 0.5)
    assert set(fast.tolist()) <= set(greedy.tolist())
    assert (scores[fast][:-1] >= scores[fast][1:]).all()
    iou = box_iou(boxes[fast], boxes[fast]) * (labels[fast][:, None] == labels[fast][None])
    assert (iou.triu(1) <= 0.5).all()


def test_fast_nms_removes_what_greedy_keeps_in_a_chain():
    # a overlaps b, b overlaps c, a does not overlap c: greedy keeps a and c, Fast NMS only a
    boxes = torch.tensor([[0.0, 0, 10, 10], [4, 0, 14, 10], [8, 0, 18, 10]])
    scores, labels = torch.tensor([0.9, 0.8, 0.7]), torch.ones(3, dtype=torch.long)
    assert greedy_nms(boxes, scores, labels, 0.3).tolist() == [0, 2]
    assert fast_nms(boxes, scores, labels, 0.3).tolist() == [0]
    assert fast_nms(boxes, scores, torch.tensor([1, 2, 1]), 0.3).tolist() == [0, 1, 2]
    assert fast_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5).numel() == 0


def test_assign_locations_centre_sampling_and_smallest_box_wins():
    stride = 4
    ys, xs = torch.meshgrid(torch.arange(8) * 4 + 2.0, torch.arange(8) * 4 + 2.0, indexing="ij")
    points = torch.stack([xs.flatten(), ys.flatten()], 1)  # 8x8 grid over a 32x32 image
    boxes = torch.tensor([[0.0, 0, 32, 32], [8, 8, 16, 16]])
    labels = torch.tensor([4, 6])
    cls_t, box_t, idx = assign_locations(points, boxes, labels, stride, 1.5, 7)
    grid = idx.view(8, 8)
    assert (grid[2:4, 2:4] == 1).all(), "the small box's locations predict the small box"
    assert ((grid == 0).sum() > 0) and (grid[0, 0] == -1), "the big box keeps only its centre region"
    assert torch.equal(cls_t[idx == 1].argmax(1), torch.full(((idx == 1).sum(),), 5))
    assert torch.equal(box_t[idx == 0], boxes[0].expand((idx == 0).sum(), 4))
    assert (cls_t[idx == -1] == 0).all() and (box_t[idx == -1] == 0).all()
    _, _, none = assign_locations(points, torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), stride, 1.5, 7)
    assert (none == -1).all()


def test_boxes_centerness_and_crop_regions():
    pts = torch.tensor([[10.0, 10.0]])
    assert torch.equal(ltrb_to_boxes(pts, torch.tensor([[1.0, 2.0, 3.0, 4.0]])), torch.tensor([[9.0, 8.0, 13.0, 14.0]]))
    boxes = torch.tensor([[0.0, 0.0, 20.0, 20.0]])
    assert centerness_target(pts, boxes).item() == pytest.approx(1.0)
    assert centerness_target(torch.tensor([[1.0, 10.0]]), boxes).item() == pytest.approx((1 / 19) ** 0.5)
    region = box_region(torch.tensor([[2.0, 3.0, 5.0, 4.5]]), 8, 8)[0]
    assert region.sum() == 3 and region[3, 2:5].all()  # pixel centres 2.5-4.5 in x, 3.5 in y
    assert box_region(torch.tensor([[2.0, 3.0, 5.0, 4.5]]), 8, 8, margin=1)[0].sum() == 5 * 3


def test_assemble_logits_is_a_linear_combination_upsampled():
    g = torch.Generator().manual_seed(0)
    protos, coef = torch.rand(4, 8, 8, generator=g), torch.randn(3, 4, generator=g)
    out = assemble_logits(protos, coef, (16, 16))
    ref = F.interpolate(torch.einsum("nk,khw->nhw", coef, protos)[:, None], size=(16, 16), mode="bilinear",
                        align_corners=False)[:, 0]
    assert out.shape == (3, 16, 16) and torch.allclose(out, ref, atol=1e-5)


def test_inspect_records_prototypes_coefficients_and_masks(batch):
    torch.manual_seed(0)
    model = build_yolact(YolactConfig(score_thresh=0.0)).train()
    rec = model.inspect(batch[0][0])
    assert model.training, "inspect puts the model back in the mode it was in"
    k = model.config.num_prototypes
    assert rec["prototypes"].shape == (k, 64, 64) and (rec["prototypes"] >= 0).all()
    assert rec["objectness"].shape == (32, 32)
    det = rec["detections"]
    n = len(det["boxes"])
    assert det["coefficients"].shape == (n, k) and det["uncropped_masks"].shape == (n, 1, 128, 128)
    assert torch.allclose(det["masks"], det["uncropped_masks"] * box_region(det["boxes"], 128, 128)[:, None])


@pytest.mark.slow
def test_overfits_one_batch():
    torch.manual_seed(0)
    model = build_yolact().train()
    images, targets = example_batch(4)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        losses = model(images, targets)
        first = first if first is not None else {k: float(v.detach()) for k, v in losses.items()}
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
    last = {k: float(v.detach()) for k, v in model(images, targets).items()}
    assert sum(last.values()) < 0.4 * sum(first.values()), (first, last)
    assert last["loss_mask"] < 0.5 * first["loss_mask"] and last["loss_classifier"] < 0.5 * first["loss_classifier"]


def test_save_and_load_round_trip(tmp_path, batch):
    cfg = dataclasses.replace(YolactConfig(), num_prototypes=8, tower_dilations=(1, 2), score_thresh=0.0)
    torch.manual_seed(0)
    model = build_yolact(cfg).eval()
    path = save_checkpoint(model, tmp_path / "y.pt", config=cfg)
    loaded = load_yolact(path, device="cpu")
    assert loaded.config == cfg and not loaded.training
    with torch.no_grad():
        a, b = model(batch[0][:1])[0], loaded(batch[0][:1])[0]
    assert torch.equal(a["boxes"], b["boxes"]) and torch.equal(a["masks"], b["masks"])
    with pytest.raises(ValueError, match="train_yolact"):
        bad = save_checkpoint(torch.nn.Linear(2, 2), tmp_path / "bad.pt", config={"lr": 1})
        load_yolact(bad)


def test_mask_boxes_are_tight_and_empty_masks_keep_their_box():
    from course_utils.models.yolact_parts import mask_boxes

    masks = torch.zeros(2, 10, 12, dtype=torch.bool)
    masks[0, 2:5, 3:9] = True
    fallback = torch.tensor([[0.0, 0.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    assert torch.equal(mask_boxes(masks, fallback), torch.tensor([[3.0, 2.0, 9.0, 5.0], [1.0, 2.0, 3.0, 4.0]]))
    assert mask_boxes(torch.zeros(0, 10, 12, dtype=torch.bool), torch.zeros(0, 4)).shape == (0, 4)


def test_failure_breakdown_and_the_comparison_table():
    from course_utils.metrics.instances import failure_breakdown
    from course_utils.train.compare_instances import instance_table_markdown

    masks = torch.zeros(3, 20, 20, dtype=torch.uint8)
    masks[0, 0:10, 0:10] = 1  # big, touches object 1 (same class)
    masks[1, 0:10, 10:20] = 1
    masks[2, 15:18, 15:18] = 1  # small, alone
    target = {"masks": masks, "labels": torch.tensor([4, 4, 5])}
    perfect = {"masks": masks[:, None].float(), "labels": target["labels"], "scores": torch.ones(3)}
    r = failure_breakdown([perfect], [target], small_area=20)
    assert r["all objects"] == {"objects": 3, "found": 1.0, "exact": 1.0, "mean_iou": 1.0}
    assert r["touching a same-class object"]["objects"] == 2 and r["small (< 20 px)"]["objects"] == 1
    none = r["neither touching nor small"]
    assert none["objects"] == 0 and none["found"] == 0.0
    wrong_class = {**perfect, "labels": torch.tensor([4, 6, 5])}
    assert failure_breakdown([wrong_class], [target], small_area=20)["all objects"]["found"] == pytest.approx(2 / 3)
    nothing = {"masks": torch.zeros(0, 1, 20, 20), "labels": torch.zeros(0, dtype=torch.long), "scores": torch.zeros(0)}
    assert failure_breakdown([nothing], [target])["all objects"]["found"] == 0.0
    row = {"mask_AP": 0.8, "mask_AP50": 0.9, "mask_AP75": 0.85, "mask_AP_small": 0.7, "box_AP": 0.6, "params": 1234,
           "latency_ms": 12.34, "training_s": float("nan")}
    table = instance_table_markdown({"a": row})
    assert "| a | 0.800 | 0.900 | 0.850 | 0.700 | 0.600 | 1,234 | 12.3 | unknown |" in table
    noted = instance_table_markdown({"b": {**row, "training_s": 83.94, "training_note": "reference, another machine"}})
    assert "| 12.3 | 83.9 (reference, another machine) |" in noted


def test_a_reference_checkpoints_training_time_says_where_it_was_measured(tmp_path, monkeypatch):
    from course_utils.train.compare_instances import checkpoint_training, training_time_sentence

    monkeypatch.setenv("COURSE_CHECKPOINTS", str(tmp_path / "mine"))
    monkeypatch.setenv("COURSE_REFERENCE", str(tmp_path / "reference"))
    history = {"steps": [], "epochs": [], "total_steps": 10, "total_time_s": 83.9, "stopped_early": None}
    made_by = {"cpu": "Some CPU", "threads": 2, "date": "2026-01-01 10:00 UTC", "train_s": 83.9}
    reference = tmp_path / "reference" / "maskrcnn.pt"
    reference.parent.mkdir()
    torch.save({"model": {}, "history": history, "made_by": made_by}, reference)
    info = checkpoint_training(str(reference))
    assert info["reference"] and info["whole_schedule"] and info["seconds"] == pytest.approx(83.9)
    said = training_time_sentence("Mask R-CNN", info)
    assert "make checkpoints" in said and "Some CPU" in said and "not on this machine" in said, said
    mine = tmp_path / "mine" / "maskrcnn.pt"
    mine.parent.mkdir()
    torch.save({"model": {}, "history": {**history, "stopped_early": "max_minutes"}}, mine)
    info = checkpoint_training("maskrcnn")
    assert not info["reference"] and info["whole_schedule"] is False
    said = training_time_sentence("Mask R-CNN", info)
    assert "cut short by its time budget" in said and "make checkpoints" not in said, said
    assert "no training time" in training_time_sentence("Mask R-CNN", checkpoint_training(None))


def test_loss_weights_name_the_terms_the_model_returns(batch):
    images, targets = batch
    for weight in (1.0, 0.0):
        model = build_yolact(YolactConfig(semantic_loss_weight=weight)).train()
        terms = set(model(images, targets))
        assert set(model.loss_weights) <= terms and ("loss_semantic" in terms) == (weight > 0)


def test_candidates_are_the_detections_before_nms(batch):
    torch.manual_seed(0)
    model = build_yolact(YolactConfig(score_thresh=0.0, detections_per_img=100)).eval()
    images = batch[0]
    cands = model.candidates(images)
    with torch.no_grad():
        dets = model(images)
    for c, d in zip(cands, dets):
        assert set(c) == {"boxes", "labels", "scores"} and len(c["boxes"]) == model.config.pre_nms_top_n
        keep = batched_nms(c["boxes"], c["scores"], c["labels"], model.config.nms_thresh)
        assert torch.equal(c["boxes"][keep], d["boxes"]) and torch.equal(c["labels"][keep], d["labels"])
