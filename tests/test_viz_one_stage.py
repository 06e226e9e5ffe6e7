"""The one-stage lesson's figures: a drawn detection keeps its object's colour, coefficient signs add no colour."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch

matplotlib.use("Agg")

from course_utils.viz import one_stage  # noqa: E402
from course_utils.viz.colours import UNMATCHED_COLOUR, instance_colour  # noqa: E402


def _rgb(colour) -> tuple[float, float, float]:
    return tuple(round(float(c), 3) for c in matplotlib.colors.to_rgb(colour))


def _expected(k: int) -> tuple[float, float, float]:
    return _rgb([c / 255 for c in instance_colour(k)])


@pytest.fixture
def scene():
    """Two true objects; detection 0 (score 0.95) is a fair mask of object 1, detection 1 (score 0.40) a
    duplicate of object 1 with a better mask, detection 2 (score 0.90) a fair mask of object 0, detection 3
    (score 0.30) a false alarm."""
    truth = torch.zeros(2, 32, 32, dtype=torch.bool)
    truth[0, 2:12, 2:12] = True
    truth[1, 16:30, 16:30] = True
    masks = torch.zeros(4, 1, 32, 32)
    masks[0, 0, 17:30, 16:30] = 1.0  # IoU 13/14 with object 1
    masks[1, 0, 16:30, 16:30] = 1.0  # IoU 1: the undrawn duplicate would win a match over all detections
    masks[2, 0, 2:12, 3:12] = 1.0
    masks[3, 0, 20:30, 2:8] = 1.0
    det = {"boxes": torch.tensor([[16.0, 17, 30, 30], [16, 16, 30, 30], [3, 2, 12, 12], [2, 20, 8, 30]]),
           "labels": torch.tensor([4, 4, 5, 6]), "scores": torch.tensor([0.95, 0.40, 0.90, 0.30]), "masks": masks,
           "coefficients": torch.tensor([[0.5, -0.5], [0.4, -0.4], [-0.2, 0.9], [0.3, -0.7]]),
           "uncropped_masks": masks.clone()}
    rec = {"prototypes": torch.rand(2, 16, 16), "detections": det}
    return truth, det, rec


def test_a_drawn_detection_keeps_its_objects_colour_when_an_undrawn_duplicate_overlaps_it(scene) -> None:
    truth, det, rec = scene
    image = torch.zeros(3, 32, 32)
    assert one_stage._numbers(det, [0], truth) == {0: 1}
    assert one_stage._numbers(det, [0, 2], truth) == {0: 1, 2: 0}
    # Mask R-CNN's row draws its first max_objects detections: the duplicate (index 1) is not drawn
    order = [0, 2, 1, 3]
    mrcnn = SimpleNamespace(detections={k: v[order] for k, v in det.items() if k in ("boxes", "labels", "scores",
                                                                                      "masks")},
                            mask_logits=torch.zeros(4, 7, 28, 28))
    fig = one_stage.show_two_families(mrcnn, rec, image, max_objects=2, true_masks=truth)
    axes = fig.axes
    assert _rgb(axes[0].patches[0].get_edgecolor()) == _expected(1), "the confident detection of object 1"
    assert _rgb(axes[1].title.get_color()) == _expected(1)
    assert _rgb(axes[2].title.get_color()) == _expected(0)
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert any("dark grey" in t for t in labels), "a key says what the grey means"
    plt.close(fig)
    fig = one_stage.show_assembly(rec, image, indices=(0,), true_masks=truth)
    assert _rgb(fig.axes[0].patches[0].get_edgecolor()) == _expected(1)
    plt.close(fig)


def test_coefficient_signs_are_fills_in_the_detections_colour_not_a_grey(scene) -> None:
    truth, _, rec = scene
    fig = one_stage.show_assembly(rec, torch.zeros(3, 32, 32), indices=(0, 2, 3), true_masks=truth)
    grey = _rgb([c / 255 for c in UNMATCHED_COLOUR])
    rows = [(0, _expected(1)), (2, _expected(0)), (3, grey)]  # the false alarm: grey, its negative bars hatched
    for row, (i, colour) in enumerate(rows):
        bars = fig.axes[4 * row + 1].patches
        coef = rec["detections"]["coefficients"][i]
        assert len(bars) == len(coef)
        for bar, c in zip(bars, coef):
            assert _rgb(bar.get_edgecolor()) == colour
            if c < 0:
                assert bar.get_hatch() and _rgb(bar.get_facecolor()) == (1.0, 1.0, 1.0)
            else:
                assert _rgb(bar.get_facecolor()) == colour
    plt.close(fig)
