"""Lesson 01-03 figures draw without errors on shapes-world data and close cleanly (smoke tests)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_utils.data import make_scene  # noqa: E402
from course_utils.metrics import semantic as sm  # noqa: E402
from course_utils.models.fcn import build_fcn, receptive_field_table  # noqa: E402
from course_utils.train import curves as vt  # noqa: E402
from course_utils.train import loop as training  # noqa: E402
from course_utils.viz import fcn as vf  # noqa: E402
from course_utils.viz import semantic as vs  # noqa: E402


@pytest.fixture(scope="module")
def batch():
    scenes = [make_scene(1, i) for i in range(3)]
    return torch.stack([s["image"] for s in scenes]), torch.stack([s["semantic"] for s in scenes]), scenes


def _ok(fig):
    assert isinstance(fig, plt.Figure) and fig.axes
    plt.close(fig)


def test_semantic_figures(batch):
    images, targets, scenes = batch
    pred = targets.clone()
    pred[:, ::5] = 1
    _ok(vs.show_label_map(targets[0]))
    _ok(vs.show_pixels(images[0], targets[0], 10, 10, 4))
    _ok(vs.show_predictions(images, targets, {"a": pred, "b": targets}))
    _ok(vs.plot_confusion_matrix(sm.confusion_matrix(pred, targets, 7)))
    _ok(vs.plot_confusion_matrix(sm.confusion_matrix(pred, targets, 7), normalize=False, drop_absent=False))
    _ok(vs.plot_pixel_colours(images, targets, n=500))
    _ok(vs.show_boundary_band(images[0], targets[0]))
    scores = {"a": sm.scores_from_confusion(sm.confusion_matrix(pred, targets, 7), ["void", "sky", "grass", "water",
                                                                                    "circle", "square", "triangle"])}
    _ok(vs.plot_per_class_iou(scores))
    table = vs.scores_table(scores, keys=["miou", "iou_void", "iou_sky"])
    assert table.count("\n") == 2 and "| a |" in table and "n/a" in table  # void: absent, shown as n/a
    areas, acc = sm.object_accuracy(pred[0], scenes[0]["masks"], scenes[0]["labels"])
    _ok(vs.plot_object_accuracy({"a": (areas.repeat(4), acc.repeat(4))}, bins=2))
    err = vs.error_map(pred[0], targets[0], images[0])
    assert err.shape == (128, 128, 3)


def test_fcn_figures(batch):
    images, targets, _ = batch
    _ok(vf.show_receptive_fields(build_fcn(channels=(4, 8, 8, 8, 8)), images[0], point=(40, 70)))
    _ok(vf.plot_receptive_field_growth(receptive_field_table()))
    _ok(vf.show_upsampling(torch.rand(4, 4), factor=8))
    _ok(vf.show_checkerboard())
    _ok(vf.show_context_windows(images[0], (5, 120)))
    _ok(vf.show_edge_filters(images[0]))
    for variant in ("32s", "16s", "8s"):
        _ok(vf.show_fcn_diagram(variant))


def test_training_figures():
    hist = training.History(steps=[{"step": 1, "epoch": 1, "lr": 0.1, "loss": 1.0, "loss_box": 0.4},
                                   {"step": 2, "epoch": 1, "lr": 0.1, "loss": 0.5, "loss_box": 0.2}],
                            epochs=[{"epoch": 1, "train_loss": 0.7, "miou": 0.5, "iou_sky": 0.9}])
    _ok(vt.plot_history(hist, title="t"))
    _ok(vt.plot_history(training.History(steps=hist.steps)))
    _ok(vt.compare_curves({"a": hist, "b": hist}))
    assert not vt.in_notebook()


def test_colours_mean_one_thing() -> None:
    """Instance, error and overlay colours are far from every class colour and from each other.

    The error colour and the instance colours are also far from the paint of the scenes' objects, so a
    wrong pixel never looks like an object and an object's overlay stands out on it.
    """
    from course_utils.data.classes import CLASS_COLOURS, THING_COLOURS
    from course_utils.viz.colours import (
        BOUNDARY_COLOUR,
        ERROR_COLOUR,
        INSTANCE_PALETTE,
        INTERIOR_COLOUR,
        UNMATCHED_COLOUR,
        colour_distance,
    )

    special = [("error", ERROR_COLOUR), ("boundary", BOUNDARY_COLOUR), ("interior", INTERIOR_COLOUR),
               ("unmatched prediction", UNMATCHED_COLOUR)]
    named = [*((f"instance {i}", c) for i, c in enumerate(INSTANCE_PALETTE)), *special]
    for name, colour in named:
        nearest = min(colour_distance(colour, c) for c in CLASS_COLOURS)
        assert nearest >= 30, f"{name} colour {colour} looks like a class colour (delta E {nearest:.0f})"
    for i, (name_a, a) in enumerate(named):
        for name_b, b in named[i + 1:]:
            assert colour_distance(a, b) >= 30, f"{name_a} {a} and {name_b} {b} look alike"
    paint = [tuple(round(255 * v) for v in c) for c in THING_COLOURS]
    assert min(colour_distance(ERROR_COLOUR, c) for c in paint) >= 30, "the error colour looks like an object's paint"
    for i, colour in enumerate(INSTANCE_PALETTE):  # an overlay must stand out on the object it covers
        nearest = min(colour_distance(colour, c) for c in paint)
        assert nearest >= 30, f"instance {i} colour {colour} looks like an object's paint (delta E {nearest:.0f})"
    from course_utils.data.own_world import MAX_OBJECTS

    assert len(INSTANCE_PALETTE) >= MAX_OBJECTS, "two objects of one own-data scene would share a colour"


def test_model_colours_are_no_class_colours() -> None:
    """The colours of compared models' curves and bars are far from every plotted class colour."""
    from course_utils.data.classes import CLASS_COLOURS, MODEL_COLOURS, model_colour
    from course_utils.viz.colours import colour_distance

    for colour in MODEL_COLOURS:  # void (black) is never a series of these charts
        nearest = min(colour_distance(colour, c) for c in CLASS_COLOURS[1:])
        assert nearest >= 30, f"model colour {colour} looks like a class colour (delta E {nearest:.0f})"
    assert len(set(MODEL_COLOURS)) == len(MODEL_COLOURS)
    assert model_colour(len(MODEL_COLOURS)) == model_colour(0)
    assert all(0 <= v <= 1 for v in model_colour(1))
    # a named model of lessons 01-04 keeps its colour whatever its position in a chart
    assert model_colour(0, "FCN-8s") == model_colour(1, "FCN-8s") == model_colour(2)
    assert model_colour(0, "some other series") == model_colour(0)


def test_one_object_has_one_colour_in_instance_and_panoptic_figures() -> None:
    """Object k takes instance colour k in draw_instances and, given scene_thing_ids, in colour_panoptic."""
    from course_utils.data import make_scene
    from course_utils.viz import colour_panoptic, draw_instances
    from course_utils.viz.scenes import scene_thing_ids

    for index in range(6):
        scene = make_scene(1, index)
        pan = colour_panoptic(scene["panoptic"], scene_thing_ids(scene))  # (H, W, 3)
        pic = draw_instances(scene["image"], scene["masks"], alpha=1.0, width=0)  # (3, H, W), no outlines
        for k, mask in enumerate(scene["masks"]):
            inner = mask & ~torch.roll(~mask, 1, 0) & ~torch.roll(~mask, 1, 1)  # away from the outline
            if inner.any():
                y, x = [int(v[0]) for v in torch.nonzero(inner, as_tuple=True)]
                assert tuple(pan[y, x].tolist()) == tuple(pic[:, y, x].tolist()), (index, k)



def test_a_predicted_panoptic_segment_takes_the_colour_of_the_object_it_found() -> None:
    """matched_segment_ids colours a prediction like the truth, also when an object is missed or a segment is extra."""
    from course_utils.data import LABEL_DIVISOR, make_scene
    from course_utils.viz import colour_panoptic
    from course_utils.viz.colours import UNMATCHED_COLOUR
    from course_utils.viz.instances import matched_segment_ids
    from course_utils.viz.scenes import scene_thing_ids

    scenes = (make_scene(1, i) for i in range(20))
    scene = next(s for s in scenes if len(s["masks"]) >= 3 and s["masks"].any((1, 2)).all())
    truth = colour_panoptic(scene["panoptic"], scene_thing_ids(scene))
    assert matched_segment_ids(scene["panoptic"], scene["masks"]) == scene_thing_ids(scene)
    pred = scene["panoptic"].clone()
    pred[scene["masks"][0] & (pred == scene_thing_ids(scene)[0])] = 0  # object 0 missed: void there
    extra = torch.zeros_like(scene["masks"][0])
    extra[:6, :6] = True
    pred[extra] = 4 * LABEL_DIVISOR + 99  # a false alarm (a "circle" in the corner)
    pic = colour_panoptic(pred, matched_segment_ids(pred, scene["masks"]))
    for k in range(1, len(scene["masks"])):
        inside = (pred == scene_thing_ids(scene)[k]) & ~extra
        if inside.any():
            assert (pic[inside] == truth[inside]).all(), f"object {k} changed colour"
    assert tuple(pic[extra][0].tolist()) == UNMATCHED_COLOUR  # a false alarm wears no true object's colour

def test_instance_figures_use_the_instance_palette(batch) -> None:
    from course_utils.data.classes import CLASS_COLOURS, LABEL_DIVISOR, THINGS
    from course_utils.viz import colour_panoptic, draw_instances
    from course_utils.viz.colours import ERROR_COLOUR, INSTANCE_PALETTE

    _, targets, scenes = batch
    scene = scenes[0]
    pan = colour_panoptic(scene["panoptic"])  # (H, W, 3)
    for segment in torch.unique(scene["panoptic"]).tolist():
        colour = tuple(pan[scene["panoptic"] == segment][0].tolist())
        if segment // LABEL_DIVISOR in THINGS:
            assert colour in INSTANCE_PALETTE and colour not in CLASS_COLOURS
    masks = torch.zeros(2, 20, 20, dtype=torch.bool)
    masks[0, 2:8, 2:8] = masks[1, 10:18, 10:18] = True
    pic = draw_instances(torch.zeros(3, 20, 20), masks, alpha=1.0)  # (3, 20, 20) uint8
    assert tuple(pic[:, 4, 4].tolist()) == INSTANCE_PALETTE[0] and tuple(pic[:, 12, 12].tolist()) == INSTANCE_PALETTE[1]
    pred = targets[0].clone()
    pred[0, 0] = 6 if int(targets[0][0, 0]) != 6 else 1
    err = vs.error_map(pred, targets[0], batch[0][0])
    assert tuple(round(255 * float(v)) for v in err[0, 0]) == ERROR_COLOUR
    assert float((err[1:] - err[1:].mean(-1, keepdim=True)).abs().max()) < 1e-6, "right pixels are grey"
