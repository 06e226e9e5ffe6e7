"""Panoptic fusion: ground truth in gives ground truth out; each rule does what it says."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from course_utils.data import make_scene
from course_utils.metrics.panoptic import evaluate_fusion, panoptic_quality
from course_utils.models.panoptic_fusion import (
    FusionConfig,
    detection_segments,
    fuse_all,
    fuse_panoptic,
    predict_raw,
    segments_of,
)


def gt_instances(scene: dict, scores: torch.Tensor | None = None) -> dict:
    """A scene's ground-truth objects dressed as Mask R-CNN output (scores 1 unless given)."""
    n = len(scene["labels"])
    return {"masks": scene["masks"][:, None].float(), "labels": scene["labels"],
            "scores": torch.ones(n) if scores is None else scores}


@pytest.mark.parametrize("index", range(25))
def test_fusion_of_ground_truth_reproduces_the_panoptic_map(index: int) -> None:
    scene = make_scene(1, index)
    pan, segs = fuse_panoptic(scene["semantic"], gt_instances(scene), FusionConfig(stuff_min_area=0))
    assert torch.equal(pan, scene["panoptic"])
    ours = {s["id"]: {k: s[k] for k in ("category_id", "isthing", "area", "bbox", "iscrowd")} for s in segs}
    theirs = {s["id"]: {k: s[k] for k in ("category_id", "isthing", "area", "bbox", "iscrowd")}
              for s in scene["segments"]}
    assert ours == theirs


def test_fusion_of_ground_truth_scores_pq_one_with_default_thresholds() -> None:
    scenes = [make_scene(1, i) for i in range(30)]
    fused = [fuse_panoptic(s["semantic"], gt_instances(s)) for s in scenes]
    out = panoptic_quality([p for p, _ in fused], [s["panoptic"] for s in scenes],
                           [g for _, g in fused], [s["segments"] for s in scenes])
    assert out["things"]["pq"] == pytest.approx(1.0)
    assert out["stuff"]["pq"] > 0.95  # only stuff slivers under 64 px can be lost to void


def test_small_stuff_regions_become_void() -> None:
    sem = torch.full((10, 10), 1)
    sem[:, :3] = 2  # 30 pixels of grass
    empty = {"masks": torch.zeros(0, 10, 10, dtype=torch.bool), "labels": torch.zeros(0, dtype=torch.long),
             "scores": torch.zeros(0)}
    pan, segs = fuse_panoptic(sem, empty, FusionConfig(stuff_min_area=31))
    assert (pan[:, :3] == 0).all() and (pan[:, 3:] == 1000).all()
    assert [s["id"] for s in segs] == [1000]
    pan, _ = fuse_panoptic(sem, empty, FusionConfig(stuff_min_area=30))
    assert (pan[:, :3] == 2000).all()


def test_thing_pixels_without_an_instance_are_void() -> None:
    sem = torch.full((6, 6), 1)
    sem[2:4, 2:4] = 4  # the FCN sees a circle, Mask R-CNN does not
    empty = {"masks": torch.zeros(0, 6, 6), "labels": torch.zeros(0, dtype=torch.long), "scores": torch.zeros(0)}
    pan, _ = fuse_panoptic(sem, empty, FusionConfig(stuff_min_area=1))
    assert (pan[2:4, 2:4] == 0).all() and (pan == 1000).sum() == 32


def two_overlapping() -> dict:
    """Two square detections on a 10x10 image: A (score 0.6) 4x4, B (score 0.9) overlapping 2x4 of it."""
    masks = torch.zeros(2, 10, 10, dtype=torch.bool)
    masks[0, 0:4, 0:4] = True
    masks[1, 2:6, 0:4] = True
    return {"masks": masks, "labels": torch.tensor([4, 5]), "scores": torch.tensor([0.6, 0.9])}


def test_instances_are_pasted_in_score_order() -> None:
    sem = torch.full((10, 10), 1)
    pan, segs = fuse_panoptic(sem, two_overlapping(), FusionConfig(overlap_threshold=0.5))
    assert (pan[2:6, 0:4] == 5001).all()  # the more confident B keeps the shared pixels
    assert (pan[0:2, 0:4] == 4001).all()  # A keeps exactly half its mask: 0.5 >= 0.5, kept
    assert {s["id"]: s.get("score") for s in segs if s["isthing"]} == {5001: pytest.approx(0.9),
                                                                       4001: pytest.approx(0.6)}


def test_overlap_rule_drops_mostly_hidden_instances() -> None:
    sem = torch.full((10, 10), 1)
    pan, _ = fuse_panoptic(sem, two_overlapping(), FusionConfig(overlap_threshold=0.6, stuff_min_area=1))
    assert not (pan // 1000 == 4).any()  # A's free part is 50% < 60%: dropped
    assert (pan[0:2, 0:4] == 1000).all()  # its free pixels fall back to the FCN's stuff


def test_score_threshold_and_non_thing_labels_are_ignored() -> None:
    sem = torch.full((10, 10), 1)
    inst = two_overlapping()
    inst["scores"] = torch.tensor([0.6, 0.3])
    pan, _ = fuse_panoptic(sem, inst, FusionConfig(score_threshold=0.5))
    assert (pan[0:4, 0:4] == 4001).all() and not (pan == 5001).any()
    inst["labels"] = torch.tensor([2, 5])  # a detector that outputs a stuff class: skipped
    pan, _ = fuse_panoptic(sem, inst, FusionConfig(score_threshold=0.0))
    assert not (pan // 1000 == 2).any()


def test_detection_segments_name_the_segment_each_detection_became() -> None:
    assert detection_segments(two_overlapping(), FusionConfig(overlap_threshold=0.5)) == [4001, 5001]
    assert detection_segments(two_overlapping(), FusionConfig(overlap_threshold=0.6)) == [0, 5001]  # A dropped
    assert detection_segments(two_overlapping(), FusionConfig(score_threshold=0.7)) == [0, 5001]
    scene = make_scene(1, 3)  # the true objects as detections: each becomes its own segment of the map
    pan, _ = fuse_panoptic(scene["semantic"], gt_instances(scene), FusionConfig(stuff_min_area=0))
    for mask, sid in zip(scene["masks"].bool(), detection_segments(gt_instances(scene))):
        assert sid == 0 or ((pan == sid) <= mask).all() and (pan == sid).any()
    assert sorted(s for s in detection_segments(gt_instances(scene)) if s) == sorted(
        int(i) for i in torch.unique(pan) if int(i) // 1000 >= 4)


def test_instance_numbers_count_per_class() -> None:
    masks = torch.zeros(3, 8, 8, dtype=torch.bool)
    masks[0, :2], masks[1, 3:5], masks[2, 6:] = True, True, True
    inst = {"masks": masks, "labels": torch.tensor([4, 6, 4]), "scores": torch.tensor([0.7, 0.8, 0.9])}
    pan, _ = fuse_panoptic(torch.full((8, 8), 3), inst)
    assert pan[0, 0] == 4002 and pan[7, 0] == 4001 and pan[3, 0] == 6001


def test_bad_inputs() -> None:
    sem = torch.zeros(4, 4, dtype=torch.long)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        fuse_panoptic(sem, {"masks": torch.zeros(1, 5, 5), "labels": torch.tensor([4]), "scores": torch.ones(1)})
    with pytest.raises(ValueError, match="each detection"):
        fuse_panoptic(sem, {"masks": torch.zeros(2, 4, 4), "labels": torch.tensor([4]), "scores": torch.ones(1)})
    with pytest.raises(ValueError, match="class map"):
        fuse_panoptic(sem[None], {"masks": torch.zeros(0, 4, 4), "labels": torch.tensor([]), "scores": torch.ones(0)})


def test_segments_of_matches_scene_segments() -> None:
    scene = make_scene(2, 7)
    assert segments_of(scene["panoptic"]) == sorted(scene["segments"], key=lambda s: s["id"])


class OracleFCN(nn.Module):
    """Returns one-hot logits of given semantic maps, looked up by the first pixel of each image."""

    def __init__(self, scenes: list[dict]):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))
        self.lookup = {float(s["image"][0, 0, 0]): s for s in scenes}

    def forward(self, x: torch.Tensor) -> dict:
        sem = torch.stack([self.lookup[float(img[0, 0, 0])]["semantic"] for img in x])  # (B, H, W)
        return {"out": nn.functional.one_hot(sem, 7).permute(0, 3, 1, 2).float()}  # (B, 7, H, W)


class OracleRCNN(nn.Module):
    """Returns the scene's objects as detections (score 0.99) plus one low-score decoy."""

    def __init__(self, scenes: list[dict]):
        super().__init__()
        self.lookup = {float(s["image"][0, 0, 0]): s for s in scenes}

    def forward(self, images: list[torch.Tensor]) -> list[dict]:
        out = []
        for img in images:
            s = self.lookup[float(img[0, 0, 0])]
            n = len(s["labels"])
            decoy = torch.ones(1, 1, *s["semantic"].shape)
            out.append({"masks": torch.cat([s["masks"][:, None].float(), decoy]),
                        "labels": torch.cat([s["labels"], torch.tensor([4])]),
                        "scores": torch.cat([torch.full((n,), 0.99), torch.tensor([0.02])]),
                        "boxes": torch.zeros(n + 1, 4)})
        return out


def test_predict_raw_fuse_and_evaluate_with_oracle_models() -> None:
    scenes = [make_scene(1, i) for i in range(12)]
    raw = predict_raw(OracleFCN(scenes), OracleRCNN(scenes), [s["image"] for s in scenes], batch_size=5)
    assert len(raw) == 12 and raw[0]["masks"].dtype == torch.bool
    assert all(len(r["scores"]) == len(s["labels"]) for r, s in zip(raw, scenes))  # decoy under min_score
    fused = fuse_all(raw, FusionConfig(stuff_min_area=0))
    assert all(torch.equal(p, s["panoptic"]) for (p, _), s in zip(fused, scenes))
    out = evaluate_fusion(raw, scenes, dataclasses.replace(FusionConfig(), stuff_min_area=0))
    assert out["all"]["pq"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="predictions"):
        evaluate_fusion(raw[:3], scenes)


def test_load_or_train_models_trains_only_what_is_missing(monkeypatch: pytest.MonkeyPatch, tmp_path,
                                                          capsys: pytest.CaptureFixture) -> None:
    import course_utils.train.reuse as reuse
    from course_utils.models.fcn import build_fcn
    from course_utils.models.maskrcnn import build_maskrcnn
    from course_utils.train import record_metrics, save_checkpoint
    from course_utils.train.reuse import load_or_train_models

    monkeypatch.setenv("COURSE_CHECKPOINTS", str(tmp_path))
    monkeypatch.setenv("COURSE_REFERENCE", "")  # no reference checkpoints either: the stand-ins are trained
    calls = []

    def fake_train_fcn(cfg, device=None, checkpoint=None, live_plot=True):
        calls.append(("fcn", checkpoint, cfg.max_minutes))
        model = build_fcn()
        save_checkpoint(model, checkpoint, metrics={"val_miou": 0.5, "val_scenes": 8})
        return model, None, {"miou": 0.5}

    def fake_train_maskrcnn(cfg, device=None, checkpoint=None, progress=True, live_plot=True):
        calls.append(("maskrcnn", checkpoint, cfg.max_minutes))
        model = build_maskrcnn(cfg.model)
        save_checkpoint(model, checkpoint, config=cfg.model)
        return model, None

    monkeypatch.setattr(reuse, "train_fcn", fake_train_fcn)
    monkeypatch.setattr(reuse, "train_maskrcnn", fake_train_maskrcnn)
    monkeypatch.setattr(reuse, "evaluate_maskrcnn", lambda *a, **k: {"segm": {"AP": 0.25, "AP50": 0.5}})
    fcn, rcnn = load_or_train_models("cpu")
    fast_fcn, fast_rcnn = reuse.FastSemanticConfig(), reuse.FastMaskRCNNConfig()
    assert calls == [("fcn", "fcn8s_fast", fast_fcn.max_minutes), ("maskrcnn", "maskrcnn_fast", fast_rcnn.max_minutes)]
    out = capsys.readouterr().out
    assert out.count("checkpoint") >= 2 and "is missing" in out  # says it trained stand-ins, never silently
    assert "val mIoU 0.500" in out and "mask AP 0.250" in out  # ... and what they reached
    assert not fcn.training and not rcnn.training
    calls.clear()
    load_or_train_models("cpu")  # the stand-ins exist now: nothing is trained again
    assert calls == [] and "trained earlier" in capsys.readouterr().out
    save_checkpoint(build_fcn(), "fcn8s", metrics={"val_miou": 0.91, "val_scenes": 128})  # the lessons' own
    save_checkpoint(build_maskrcnn(), "maskrcnn", config=reuse.MaskRCNNConfig())
    record_metrics("maskrcnn", mask_AP=0.8, mask_AP50=0.96, val_scenes=200)
    load_or_train_models("cpu")
    out = capsys.readouterr().out
    assert calls == [] and "Loaded lesson 03's FCN-8s" in out and "Loaded lesson 07's Mask R-CNN" in out
    assert "val mIoU 0.910 on 128 validation scenes" in out and "mask AP 0.800, mask AP50 0.960" in out


def test_panoptic_predictions_figure_keeps_its_panels_large():
    """The key sits below the panels: a key attached to one panel made tight_layout shrink every panel to a
    sliver (each image was a few percent of the figure wide)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_utils.data.shapes import make_scene
    from course_utils.viz import panoptic as panoptic_figures

    scenes = [make_scene(1, i) for i in range(2)]
    raws = [{"semantic": s["semantic"], "masks": s["masks"][:, None].float(), "labels": s["labels"],
             "scores": torch.ones(len(s["labels"])), "boxes": s["boxes"]} for s in scenes]
    fig = panoptic_figures.show_panoptic_predictions(scenes, raws)
    fig.canvas.draw()
    widths = [ax.get_position().width for ax in fig.axes]
    assert len(widths) == 10 and min(widths) > 0.12, widths
    assert fig.legends, "the class key is a figure legend"
    plt.close(fig)
