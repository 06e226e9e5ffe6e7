"""Lesson 11 helpers: planted faults are all caught, the original stays clean, offline never hangs."""

from __future__ import annotations

import hashlib
import time
import urllib.error
from pathlib import Path

import pytest
import torch

from course_utils.data.coco import sample_dir, validate_coco
from course_utils.data.faults import PLANTABLE, fault_table, make_broken_copy
from course_utils.models.maskrcnn import try_pretrained_maskrcnn
from course_utils.train.coco import simulate_out_of_memory

SAMPLE = sample_dir() / "train"


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def test_every_planted_fault_is_reported(tmp_path: Path) -> None:
    before = digest(SAMPLE)
    copy, planted = make_broken_copy(SAMPLE, tmp_path / "broken")
    assert digest(SAMPLE) == before, "the original dataset must stay untouched"
    assert validate_coco(SAMPLE) == []
    assert [b.kind for b in planted] == list(PLANTABLE)
    faults = validate_coco(copy)
    kinds = {f.kind for f in faults}
    assert set(PLANTABLE) <= kinds
    for b in planted:  # each fault is reported on the annotation / image that was changed
        assert any(f.kind == b.kind and (b.annotation_id is None or f.annotation_id == b.annotation_id)
                   for f in faults), b
    table = fault_table(planted, faults)
    assert "MISSED" not in table and table.count("validator:") >= len(PLANTABLE)


def test_single_fault_and_malformed_json(tmp_path: Path) -> None:
    copy, planted = make_broken_copy(SAMPLE, tmp_path / "one", faults=("degenerate-box",))
    assert [f.kind for f in validate_coco(copy)] == ["degenerate-box"]
    copy, planted = make_broken_copy(SAMPLE, tmp_path / "json", faults=("malformed-json",))
    faults = validate_coco(copy)
    assert [f.kind for f in faults] == ["malformed-json"] and "line" in faults[0].message


def test_default_destination_is_a_new_temporary_folder() -> None:
    import shutil

    copy, _ = make_broken_copy(SAMPLE, faults=("empty-mask",))
    try:
        assert copy.is_dir() and copy.resolve() != SAMPLE.resolve() and (copy / "annotations.json").is_file()
    finally:
        shutil.rmtree(copy)


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="annotations.json"):
        make_broken_copy(tmp_path)
    with pytest.raises(ValueError, match="cannot plant"):
        make_broken_copy(SAMPLE, tmp_path / "x", faults=("gremlins",))


def test_out_of_memory_is_caught_with_advice() -> None:
    msg = simulate_out_of_memory(batch_size=32, device="cpu")
    assert "out of memory" in msg and "batch size 32" in msg and "lower the batch size" in msg


@pytest.mark.slow
def test_pretrained_offline_falls_back_quickly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No network and no cache: one sentence and a working (randomly initialised) model, fast."""
    import torchvision.models._api as tv_api

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    monkeypatch.setattr(tv_api, "load_state_dict_from_url", offline, raising=False)
    start = time.perf_counter()
    model, message = try_pretrained_maskrcnn(timeout_s=2)
    assert time.perf_counter() - start < 60
    assert "No COCO weights" in message and "randomly initialised" in message
    assert model is not None
    model.eval()
    with torch.no_grad():
        out = model([torch.rand(3, 128, 128)])
    assert set(out[0]) >= {"boxes", "labels", "scores", "masks"}


class OracleDetector(torch.nn.Module):
    """Answers each image with its dataset's ground truth (score 0.9), found by the image's pixel sum."""

    def __init__(self, dataset):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.truth = {round(float(img.sum()), 2): t for img, t in (dataset[i] for i in range(len(dataset)))}

    def forward(self, images):
        out = []
        for img in images:
            t = self.truth[round(float(img.sum()), 2)]
            n = len(t["labels"])
            out.append({"boxes": t["boxes"], "labels": t["labels"], "scores": torch.full((n,), 0.9),
                        "masks": t["masks"][:, None].float()})
        return out


def test_results_json_of_a_perfect_model_scores_ap_one(tmp_path: Path) -> None:
    import contextlib
    import io
    import json

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from course_utils.data.coco import CocoInstanceDataset
    from course_utils.metrics.coco_eval import export_results, predict_dataset

    ds = CocoInstanceDataset(sample_dir() / "val")
    preds, _ = predict_dataset(OracleDetector(ds), ds, batch_size=5)
    assert len(preds) == len(ds)
    results = export_results(preds, ds, tmp_path / "results.json")
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk == results and len(results) == sum(len(p["labels"]) for p in preds)
    assert set(results[0]) == {"image_id", "category_id", "segmentation", "bbox", "score"}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(sample_dir() / "val" / "annotations.json"))
        ev = COCOeval(gt, gt.loadRes(str(tmp_path / "results.json")), "segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0) and ev.stats[1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="whole dataset"):
        export_results(preds[:2], ds, tmp_path / "r.json")


def test_batches_flip_boxes_with_masks() -> None:
    from torch.utils.data import Subset

    from course_utils.data.coco import CocoInstanceDataset
    from course_utils.train import CocoBatches

    ds = Subset(CocoInstanceDataset(sample_dir() / "train"), range(5))
    batches = CocoBatches(ds, batch_size=2, flip=True, seed=1)
    assert len(batches) == 3
    seen = 0
    for _ in range(3):  # several epochs: flips of every kind occur
        for images, targets in batches:
            assert len(images) == len(targets) <= 2
            for t in targets:
                m = t["masks"].bool()  # (N, H, W)
                for box, mask in zip(t["boxes"], m):
                    ys, xs = mask.nonzero(as_tuple=True)
                    expect = torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=torch.float32)
                    assert torch.equal(box, expect)  # boxes still fit their (flipped) masks
                seen += 1
    assert seen == 15


def test_set_num_classes_replaces_only_the_class_heads() -> None:
    from course_utils.models.maskrcnn import MaskRCNNConfig, build_maskrcnn, set_num_classes

    model = build_maskrcnn(MaskRCNNConfig())
    backbone = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    set_num_classes(model, 3)
    assert model.roi_heads.box_predictor.cls_score.out_features == 3
    assert model.roi_heads.box_predictor.bbox_pred.out_features == 12
    assert model.roi_heads.mask_predictor.mask_fcn_logits.out_channels == 3
    assert all(torch.equal(v, model.backbone.state_dict()[k]) for k, v in backbone.items())
    model.eval()
    with torch.no_grad():
        out = model([torch.rand(3, 128, 128)])[0]
    assert out["masks"].shape[1:] == (1, 128, 128)


def test_starting_model_without_checkpoint_is_fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    from course_utils.train.reuse import starting_model

    monkeypatch.setenv("COURSE_CHECKPOINTS", str(tmp_path))
    monkeypatch.setenv("COURSE_REFERENCE", "")  # nor the course's reference one
    model, fine_tuning = starting_model(num_classes=7, device="cpu")
    assert not fine_tuning and "from scratch" in capsys.readouterr().out
    assert model.roi_heads.box_predictor.cls_score.out_features == 7


@pytest.mark.slow
def test_train_on_coco_runs_and_lowers_the_loss() -> None:
    import dataclasses

    from torch.utils.data import Subset

    from course_utils.data.coco import CocoInstanceDataset
    from course_utils.models.maskrcnn import MaskRCNNConfig, build_maskrcnn
    from course_utils.train.coco import OwnDataConfig, train_on_coco

    torch.manual_seed(0)
    ds = Subset(CocoInstanceDataset(sample_dir() / "train"), range(2))
    model = build_maskrcnn(MaskRCNNConfig())
    cfg = dataclasses.replace(OwnDataConfig(), batch_size=2, scratch_epochs=8, scratch_lr=2e-3, max_minutes=None)
    history = train_on_coco(model, ds, cfg, fine_tuning=False, device="cpu", live_plot=False, progress=False)
    assert history.total_steps == 8
    losses = [s["loss"] for s in history.steps]
    assert losses[-1] < losses[0]
    assert not model.training


def test_class_mapping_matches_lesson_07s_classes_by_name_and_drops_the_rest() -> None:
    from course_utils.data import CLASSES
    from course_utils.data.own_world import OWN_CLASSES
    from course_utils.train.own_data import class_mapping, rename_predictions

    mapping = class_mapping(CLASSES, OWN_CLASSES)
    assert mapping == {4: 1, 5: 2, 6: 3}, "circle, square, triangle; no star in lesson 07's classes"
    pred = {"boxes": torch.rand(4, 4), "labels": torch.tensor([4, 2, 6, 5]), "scores": torch.rand(4),
            "masks": torch.rand(4, 1, 8, 8)}
    out = rename_predictions([pred], mapping)[0]
    assert out["labels"].tolist() == [1, 3, 2] and torch.equal(out["scores"], pred["scores"][[0, 2, 3]])
    assert torch.equal(out["masks"], pred["masks"][[0, 2, 3]])


def test_compare_starts_on_a_tiny_budget(tmp_path: Path) -> None:
    """Four rows; the three trained ones take the same number of steps; the starting model is left unchanged."""
    import dataclasses

    from course_utils.data.coco import CocoInstanceDataset, export_coco
    from course_utils.data.own_world import OWN_CATEGORIES, make_own_scene
    from course_utils.models.maskrcnn import MaskRCNNConfig, build_maskrcnn
    from course_utils.train.own_data import ComparisonConfig, compare_starts, format_comparison

    for split, seed in (("train", 5), ("val", 6)):
        export_coco(tmp_path / split, split=seed, length=2, scenes=make_own_scene, categories=OWN_CATEGORIES)
    train, val = CocoInstanceDataset(tmp_path / "train"), CocoInstanceDataset(tmp_path / "val")
    torch.manual_seed(0)
    start = build_maskrcnn(MaskRCNNConfig())  # stands in for lesson 07's model: 7 classes
    before = {k: v.clone() for k, v in start.state_dict().items()}
    cfg = dataclasses.replace(ComparisonConfig(), epochs=2, batch_size=2, max_minutes=None)
    rows = compare_starts(train, val, start, cfg, device="cpu")
    assert [r["start"] for r in rows] == ["lesson 07's model, not fine-tuned", "fine-tuned from lesson 07's model",
                                          "from scratch (random weights)", "fine-tuned, with augmentation"]
    assert [r["steps"] for r in rows] == [0, 2, 2, 2]
    assert rows[0]["history"] is None and all(r["history"].total_steps == 2 for r in rows[1:])
    assert rows[0]["model"] is start and len({id(r["model"]) for r in rows}) == 4  # three new models
    assert rows[0]["train_s"] == 0 and all(r["train_s"] > 0 for r in rows[1:])
    assert all(0 <= r["mask_AP"] <= r["mask_AP50"] <= 1 for r in rows)
    assert all(torch.equal(v, start.state_dict()[k]) for k, v in before.items())
    assert start.roi_heads.box_predictor.cls_score.out_features == 7
    table = format_comparison(rows)
    assert len(table.splitlines()) == 5 and "mask AP" in table and "from scratch" in table
    with pytest.warns(UserWarning, match="outside the mapping"):
        circles_only = CocoInstanceDataset(tmp_path / "val", category_map={1: 1})
    with pytest.raises(ValueError, match="different classes"):
        compare_starts(train, circles_only, start, cfg)
