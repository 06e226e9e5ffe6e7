"""Lesson 09's figures: one matching colours a row, thing segments name their class, keys say what colours mean."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt  # the Agg backend: tests/conftest.py
import pytest
import torch

from course_utils.data.classes import CLASSES
from course_utils.models.panoptic_fusion import FusionConfig, detection_segments, fuse_panoptic
from course_utils.viz import panoptic as panoptic_figures
from course_utils.viz.colours import INSTANCE_PALETTE, UNMATCHED_COLOUR, instance_colour

CIRCLE, SQUARE, TRIANGLE = (CLASSES.index(n) for n in ("circle", "square", "triangle"))


def _box(y0: int, y1: int, x0: int, x1: int, size: int = 32) -> torch.Tensor:
    m = torch.zeros(size, size, dtype=torch.bool)
    m[y0:y1, x0:x1] = True
    return m


@pytest.fixture
def row() -> dict:
    """Two true objects and four detections: the surest covers object 0 loosely, a lower-scoring duplicate fits
    it exactly (the overlap rule drops it), one finds object 1 with the wrong class, one is a false alarm."""
    true_masks = torch.stack([_box(2, 12, 2, 12), _box(18, 28, 18, 28)])
    masks = torch.stack([_box(2, 13, 2, 13),  # object 0, IoU 100/121: kept first
                         _box(2, 12, 2, 12),  # object 0 exactly (IoU 1), but all of it already taken: dropped
                         _box(18, 28, 18, 28),  # object 1, called a circle
                         _box(2, 8, 20, 30)])  # nothing there
    raw = {"semantic": torch.ones(32, 32, dtype=torch.long), "masks": masks[:, None],
           "labels": torch.tensor([SQUARE, SQUARE, CIRCLE, TRIANGLE]), "scores": torch.tensor([0.98, 0.9, 0.8, 0.7]),
           "boxes": torch.tensor([[2.0, 2, 13, 13], [2, 2, 12, 12], [18, 18, 28, 28], [20, 2, 30, 8]])}
    return {"raw": raw, "true_masks": true_masks, "true_labels": torch.tensor([SQUARE, SQUARE])}


def test_a_detection_and_the_segment_made_from_it_share_a_colour(row: dict) -> None:
    cfg = FusionConfig()
    pan, _ = fuse_panoptic(row["raw"]["semantic"], row["raw"], cfg)
    sources = detection_segments(row["raw"], cfg)
    assert sources[1] == 0 and all(sources[i] for i in (0, 2, 3)), "only the duplicate left no segment"
    order, numbers = panoptic_figures.row_colours(row["raw"], pan, row["true_masks"], cfg)
    picture = panoptic_figures.colour_panoptic(pan, order)
    for i in (0, 2, 3):  # each detection wears the colour its fused segment has in the fused panel
        pixels = picture[pan == sources[i]]
        assert (pixels == torch.tensor(instance_colour(numbers[i]), dtype=torch.uint8)).all(), i
    assert numbers[0] == 0, "the surest detection of object 0 wears object 0's colour, not the closer duplicate"
    assert numbers[2] == 1, "a segment of the wrong class still wears the colour of the object it matches"
    assert instance_colour(numbers[1]) == UNMATCHED_COLOUR, "a dropped detection matches nothing in the fused map"
    assert instance_colour(numbers[3]) == UNMATCHED_COLOUR, "a detection matching no object is dark grey"
    assert tuple(picture[pan == sources[3]][0].tolist()) == UNMATCHED_COLOUR


def test_fused_segments_name_their_class_and_mark_a_wrong_one(row: dict) -> None:
    scene = {"image": torch.zeros(3, 32, 32), "masks": row["true_masks"], "labels": row["true_labels"]}
    pan, segs = fuse_panoptic(row["raw"]["semantic"], row["raw"], FusionConfig())
    scene["panoptic"] = torch.where(row["true_masks"][0], 5001, torch.where(row["true_masks"][1], 5002, 1000))
    scene["semantic"] = scene["panoptic"] // 1000
    scene["segments"] = [{"id": i, "isthing": i > 1000} for i in (1000, 5001, 5002)]
    fig = panoptic_figures.show_panoptic_predictions([scene], [row["raw"]], fused=[(pan, segs)])
    fused_labels = sorted(t.get_text() for t in fig.axes[3].texts)
    assert fused_labels == sorted(["square", f"circle {panoptic_figures.WRONG_CLASS_MARK}", "triangle"])
    assert sorted(t.get_text() for t in fig.axes[4].texts) == ["square", "square"]
    plt.close(fig)


def test_spread_labels_keeps_labels_apart_and_inside_their_panel() -> None:
    pan = torch.full((40, 40), 1000)
    pan[10:14, 10:14], pan[10:14, 14:18], pan[10:14, 18:22] = 6001, 6002, 6003  # three tiny triangles in a row
    pan[36:40, 0:4] = 5001  # a square in the corner
    fig, ax = plt.subplots(figsize=(2, 2))
    picture = panoptic_figures.colour_panoptic(pan)
    ax.imshow(picture)
    texts = panoptic_figures.label_things(ax, pan, picture)
    fig.tight_layout()
    renderer = fig.canvas.get_renderer()
    before = [t.get_window_extent(renderer) for t in texts]
    assert any(a.overlaps(b) for a, b in itertools.combinations(before, 2)), "the case needs crowded labels"
    panoptic_figures.spread_labels(fig, [(ax, texts)])
    boxes = [t.get_window_extent(renderer) for t in texts]
    frame = ax.get_window_extent(renderer)
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), (a, b)
    for b in boxes:
        assert frame.x0 - 0.5 <= b.x0 and b.x1 <= frame.x1 + 0.5 and frame.y0 - 0.5 <= b.y0 and b.y1 <= frame.y1 + 0.5
    plt.close(fig)


def test_toy_figure_greys_an_unmatched_prediction_and_keeps_class_names_off_instance_colours() -> None:
    gt = torch.full((6, 8), 1000)
    gt[1:3, 1:4] = 4001
    gt[3:, 5:] = 0
    pred = gt.clone()
    pred[3:, 5:] = 2000
    pred[4:, 6:] = 5001  # on void: matches no true segment
    fig = panoptic_figures.show_toy_panoptic({"ground truth": gt, "prediction": pred})
    truth_img, pred_img = (ax.images[0].get_array() for ax in fig.axes[:2])
    assert tuple(pred_img[5, 7]) == UNMATCHED_COLOUR, "the unmatched square is the unmatched grey"
    assert tuple(pred_img[1, 1]) == tuple(truth_img[1, 1]) == INSTANCE_PALETTE[0], "the matched circle keeps its colour"
    palette = {tuple(round(c / 255, 3) for c in col) for col in INSTANCE_PALETTE}
    for patch, text in zip(fig.legends[0].get_patches(), fig.legends[0].get_texts()):
        if tuple(round(c, 3) for c in patch.get_facecolor()[:3]) in palette:
            assert not any(name in text.get_text() for name in ("circle", "square", "triangle")), text.get_text()
    plt.close(fig)


def test_sweep_spreads_the_small_stuff_areas() -> None:
    summary = {g: {"pq": 0.9, "sq": 0.9, "rq": 0.9} for g in ("all", "things", "stuff")}
    sweep = {"overlap_threshold": [(v, summary) for v in (0.0, 0.5, 1.0)],
             "stuff_min_area": [(v, summary) for v in (0, 16, 64, 256, 1024, 2048)]}
    fig = panoptic_figures.plot_fusion_sweep(sweep)
    ax = fig.axes[1]
    assert ax.get_xscale() == "symlog"
    xs = ax.transData.transform([(v, 0) for v in (0, 16, 64, 256, 1024, 2048)])[:, 0]
    gaps = xs[1:] - xs[:-1]
    assert gaps.min() > 0.4 * gaps.max(), "no two swept values crowd together"
    plt.close(fig)
