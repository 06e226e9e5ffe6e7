"""Lesson 06's figures (``viz.boxes``): what their keys say and which colours they use."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from course_utils.data import make_scene  # noqa: E402
from course_utils.data.classes import CLASS_COLOURS  # noqa: E402
from course_utils.models import box_coding  # noqa: E402
from course_utils.viz import boxes as vb  # noqa: E402
from course_utils.viz.colours import INSTANCE_PALETTE, colour_distance  # noqa: E402

MEANINGFUL = [tuple(c) for c in CLASS_COLOURS[1:]] + list(INSTANCE_PALETTE)  # class and instance colours


def _edge_colours(ax: plt.Axes) -> set[tuple[int, int, int]]:
    return {tuple(round(255 * v) for v in to_rgb(p.get_edgecolor())) for p in ax.patches
            if isinstance(p, Rectangle) and p.get_fill() is False}


def _far_from_meaningful(colour: tuple[int, int, int]) -> bool:
    return min(colour_distance(colour, m) for m in MEANINGFUL) > 10


@pytest.fixture(scope="module")
def scene():
    return make_scene(1, 9)


def test_anchor_key_gives_the_printed_sides_and_no_class_colour(scene) -> None:
    anchors = box_coding.make_anchors((8, 8), 16, (16.0, 32.0, 64.0), (0.5, 1.0, 2.0))
    fig = vb.show_anchors(scene["image"], anchors, (8, 8), 16, 9, cell=(3, 4))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    own = anchors[(3 * 8 + 4) * 9:(3 * 8 + 5) * 9].round()
    sides = (own[:, 2:] - own[:, :2]).int().tolist()
    for w, h in sides:  # every anchor's printed corners give the sides its legend entry names
        assert any(f"{w} x {h}" in text for text in labels), (w, h, labels)
    assert [text.split(":")[0] for text in labels[:3]] == ["size 16", "size 32", "size 64"]
    assert all(_far_from_meaningful(c) for c in _edge_colours(fig.axes[0])), _edge_colours(fig.axes[0])
    plt.close(fig)


def test_regression_roles_wear_no_class_or_instance_colour(scene) -> None:
    box = scene["boxes"][4]
    anchor = box + torch.tensor([3.0, -2.0, -4.0, 5.0])
    deltas = box_coding.encode_boxes(box[None], anchor[None])[0]
    fig = vb.show_box_regression(scene["image"], anchor, box, deltas, box + 1)
    assert _edge_colours(fig.axes[0]) <= {(0, 0, 0), (255, 255, 255)}, _edge_colours(fig.axes[0])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "anchor", "object (true box)", "centre shift (dx, dy)", "decoded prediction"]
    plt.close(fig)


def test_overlapping_pairs_tell_touching_from_apart() -> None:
    masks = torch.zeros(3, 20, 20, dtype=torch.bool)  # (N, rows, columns)
    masks[0, 0:10, 0:10] = True
    masks[0, 7:10, 7:10] = False  # object 0 leaves the bottom-right corner of its box empty
    masks[1, 8:15, 7:9] = True  # reaches into that corner, next to object 0: boxes overlap, objects touch
    masks[2, 9:16, 9:16] = True  # its box overlaps object 0's corner pixel, the objects are apart
    boxes = torch.tensor([[0, 0, 10, 10], [7, 8, 9, 15], [9, 9, 16, 16]], dtype=torch.float32)
    pairs = {(a, b): (iou, touch) for a, b, iou, touch in vb.overlapping_pairs({"boxes": boxes, "masks": masks})}
    assert set(pairs) == {(0, 1), (0, 2)}  # 1 and 2 touch, but their boxes only share an edge (IoU 0)
    assert pairs[(0, 1)][1] is True and pairs[(0, 2)][1] is False
    assert pairs[(0, 2)][0] == pytest.approx(1 / (100 + 49 - 1))


def test_box_pair_and_formats_draw(scene) -> None:
    fig = vb.show_box_pair(scene, 0, 1)
    assert "box IoU" in fig.axes[0].get_title()
    plt.close(fig)
    fig = vb.show_box_formats(scene["image"], scene["boxes"][3])
    assert not any(".0" in ax.get_title() for ax in fig.axes), [ax.get_title() for ax in fig.axes]
    plt.close(fig)
