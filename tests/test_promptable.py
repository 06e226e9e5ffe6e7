"""The promptable segmenter: shapes, clear errors, overfitting one batch, the click rules, IoU, the viewer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import distance_transform_edt
from torch import nn

from course_utils.data import SPLITS, make_scene
from course_utils.metrics.prompting import (
    click_scene,
    corrective_click,
    evaluate_clicks,
    farthest_point,
    mask_iou,
    segment_masks,
)
from course_utils.models.promptable import NEGATIVE, PADDING, POSITIVE, PromptableSegmenter, build_promptable, select
from course_utils.train.promptable import (
    PromptBatches,
    PromptTrainConfig,
    PromptTraining,
    corrective_clicks,
    load_promptable,
    sample_points,
    train_promptable,
)


@pytest.fixture(scope="module")
def scene() -> dict:
    return make_scene(SPLITS["val"], 3)


def test_embedding_once_and_decode_shapes() -> None:
    torch.manual_seed(0)
    model = build_promptable().eval()
    images = torch.rand(2, 3, 128, 96)
    emb = model.embed(images)
    assert emb["fine"].shape == (2, model.config.fine_dim, 64, 48)
    assert emb["coarse"].shape == (2, model.config.coarse_dim, 16, 12)
    clicks = torch.tensor([[[10.0, 20.0, POSITIVE], [0, 0, PADDING]], [[100.0, 50.0, POSITIVE], [90, 40, NEGATIVE]]])
    logits = model.decode(emb, clicks)
    assert logits.shape == (2, 1, 128, 96)
    again = model.decode(emb, clicks, mask_prompt=logits)
    assert again.shape == (2, 1, 128, 96) and torch.isfinite(again).all()
    three = model.decode(select(emb, torch.tensor([0, 0, 1])), clicks[[0, 0, 1]])  # several prompts, one embedding
    assert torch.allclose(three[0], logits[0], atol=1e-5) and torch.allclose(three[2], logits[1], atol=1e-5)
    assert model(images, clicks).shape == (2, 1, 128, 96)


@pytest.mark.parametrize("clicks, message", [
    (torch.zeros(1, 2), "shape"),
    (torch.tensor([[[5.0, 5.0, 2.0]]]), "labels must be"),
    (torch.tensor([[[5.0, 5.0, 0.0]]]), "at least one positive"),
    (torch.tensor([[[500.0, 5.0, 1.0]]]), "inside the 64x64 image"),
])
def test_bad_clicks_get_a_clear_message(clicks, message) -> None:
    model = build_promptable().eval()
    emb = model.embed(torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError, match=message):
        model.decode(emb, clicks)


def test_bad_images_get_a_clear_message() -> None:
    model = build_promptable()
    with pytest.raises(ValueError, match="multiples of 8"):
        model.embed(torch.rand(1, 3, 60, 64))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model.embed(torch.rand(3, 64, 64))


def test_farthest_point_is_inside_and_maximal(scene) -> None:
    masks, infos = segment_masks(scene)
    assert len(infos) == len(scene["segments"]) and masks.shape[1:] == (128, 128)
    for mask in masks:
        r, c = farthest_point(mask)
        assert mask[r, c]
        # brute force: distance of every inside pixel to the nearest outside pixel or the border
        outside = np.argwhere(~np.pad(mask, 1)) - 1  # (M, 2), the padding ring included
        inside = np.argwhere(mask)
        best = max(np.sqrt(((outside - p) ** 2).sum(1)).min() for p in inside[:: max(1, len(inside) // 300)])
        here = np.sqrt(((outside - (r, c)) ** 2).sum(1)).min()
        assert here >= best - 1e-6
        assert here == pytest.approx(distance_transform_edt(np.pad(mask, 1)).max())
    with pytest.raises(ValueError, match="non-empty"):
        farthest_point(np.zeros((4, 4), bool))


def test_corrective_click_falls_in_the_error_with_the_right_sign() -> None:
    target = np.zeros((40, 40), bool)
    target[5:25, 5:25] = True
    missed = target.copy()
    missed[5:25, 15:25] = False  # the right half missed: a positive click there
    r, c, label = corrective_click(missed, target)
    assert label == POSITIVE and target[r, c] and not missed[r, c]
    spilled = target.copy()
    spilled[5:25, 25:38] = True  # a false-positive strip: a negative click there
    r, c, label = corrective_click(spilled, target)
    assert label == NEGATIVE and spilled[r, c] and not target[r, c]
    assert corrective_click(target, target) is None


def test_training_samplers_stay_inside() -> None:
    gen = torch.Generator().manual_seed(0)
    regions = torch.zeros(3, 32, 32, dtype=torch.bool)
    regions[0, 4:20, 4:20] = True
    regions[1, 10, 3:30] = True  # one pixel thin: the margin falls back to every pixel
    points, valid = sample_points(regions, margin=2, generator=gen)
    assert valid.tolist() == [True, True, False]
    r, c = points[:2].long().T
    assert regions[[0, 1], r, c].all()
    assert 6 <= int(r[0]) <= 17 and 6 <= int(c[0]) <= 17  # two pixels inside the square
    targets = regions[:2].clone()
    logits = torch.full((2, 1, 32, 32), -5.0)
    logits[0, 0, 4:20, 4:12] = 5  # misses the right half: positive
    logits[1, 0] = 5  # everything: false positives around the line, negative (or positive on the line)
    clicks = corrective_clicks(logits, targets, gen)
    assert clicks.shape == (2, 1, 3)
    for k in range(2):
        r, c, label = (int(v) for v in clicks[k, 0])
        assert ((logits[k, 0, r, c] > 0) != targets[k, r, c])  # inside the error region
        assert label == (POSITIVE if targets[k, r, c] else NEGATIVE)
    exact = corrective_clicks(torch.where(targets[:, None], 5.0, -5.0), targets, gen)
    assert (exact[:, 0, 2] == PADDING).all()


@pytest.mark.slow
def test_overfit_one_batch() -> None:
    torch.manual_seed(0)
    cfg = PromptTrainConfig(batch_size=4, prompts_per_image=4, seed=0)
    loader = PromptBatches("train", 4, 4, flip=False)
    images, targets = next(iter(loader))
    step = PromptTraining(PromptableSegmenter(cfg.model), cfg)
    opt = torch.optim.AdamW(step.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = sum(step(images, targets).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert np.mean(losses[-5:]) < 0.35 * np.mean(losses[:5]), losses[::10]


class Oracle(nn.Module):
    """Returns the true segment under the first positive click: every IoU must be 1."""

    def __init__(self, scenes):
        super().__init__()
        self.maps = {id(s["image"]): torch.as_tensor(s["panoptic"]) for s in scenes}
        self.scale = nn.Parameter(torch.ones(()))

    def embed(self, images):
        return {"panoptic": torch.stack([self.maps[self.current] for _ in images]).float()}

    def decode(self, embedding, clicks, mask_prompt=None):
        pan = embedding["panoptic"]  # (B, H, W)
        r, c = clicks[:, 0, 0].long(), clicks[:, 0, 1].long()
        ids = pan[torch.arange(len(pan)), r, c]
        return torch.where(pan == ids[:, None, None], 10.0, -10.0)[:, None] * self.scale


def test_iou_of_the_ground_truth_is_one() -> None:
    scenes = [make_scene(SPLITS["val"], i) for i in range(4)]
    oracle = Oracle(scenes)
    rows = []
    for k, s in enumerate(scenes):
        oracle.current = id(s["image"])
        rows += [{"scene": k, **r} for r in click_scene(oracle, s)]
    assert len(rows) == sum(len(s["segments"]) for s in scenes)
    assert all(r["iou1"] == 1.0 and r["iou2"] == 1.0 and r["click2"] is None for r in rows)
    assert mask_iou(np.zeros((3, 3), bool), np.zeros((3, 3), bool)) == 1.0


def test_evaluate_clicks_summary_and_rows() -> None:
    torch.manual_seed(0)
    model = build_promptable().eval()
    scenes = [make_scene(SPLITS["val"], i) for i in range(2)]
    res = evaluate_clicks(model, scenes, keep_masks=True)
    s = res["summary"]
    assert s["segments"] == len(res["rows"]) == s["things"] + s["stuff"] and s["scenes"] == 2
    assert 0 <= s["iou1"] <= 1 and 0 <= s["iou2_things"] <= 1
    assert res["rows"][0]["mask1"].shape == (128, 128)
    with pytest.raises(ValueError, match="at least one scene"):
        evaluate_clicks(model, [])


def test_train_save_load_round_trip(tmp_path) -> None:
    cfg = PromptTrainConfig(num_train=8, batch_size=4, num_epochs=1, max_minutes=None)
    model, history = train_promptable(cfg, checkpoint=tmp_path / "p.pt", progress=False, live_plot=False)
    assert history.total_steps == 2 and {"bce_click1", "dice_click2"} <= set(history.steps[-1])
    loaded = load_promptable(tmp_path / "p.pt")
    images = make_scene(SPLITS["val"], 0)["image"][None]
    clicks = torch.tensor([[[30.0, 40.0, POSITIVE]]])
    with torch.no_grad():
        assert torch.allclose(model(images, clicks), loaded(images, clicks), atol=1e-5)
    torch.save({"model": {}, "config": {}, "model_class": "FCN"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a PromptableSegmenter"):
        load_promptable(tmp_path / "other.pt")


def test_viewer_click_handler_updates_mask_image_and_status(scene) -> None:
    pytest.importorskip("ipywidgets")
    from course_utils.viz.prompting import ClickViewer

    torch.manual_seed(0)
    viewer = ClickViewer(build_promptable().eval(), [scene, make_scene(SPLITS["val"], 4)])
    box = viewer.build()
    assert box is not None and viewer.mask is None
    before = viewer._image_widget.value
    masks, infos = segment_masks(scene)
    thing = next(k for k, i in enumerate(infos) if i["isthing"])
    r, c = farthest_point(masks[thing])
    mask = viewer.click(r, c)
    assert mask is not None and mask.shape == (128, 128) and viewer.clicks == [(r, c, POSITIVE)]
    assert infos[thing]["name"] in viewer._status_widget.value and "positive" in viewer._status_widget.value
    assert viewer._image_widget.value != before
    viewer._on_event({"type": "click", "dataX": 3 * 5 + 1, "dataY": 3 * 7 + 2, "shiftKey": True})
    assert viewer.clicks[-1] == (7, 5, NEGATIVE) and "negative" in viewer.status_text
    assert viewer.click(500, 3) is None and "outside" in viewer.status_text
    viewer.reset()
    assert viewer.clicks == [] and viewer.mask is None
    assert viewer.click(5, 5, negative=True) is None and "positive click" in viewer.status_text
    viewer.show(1)
    assert viewer.index == 1 and 1 not in viewer._embeddings
    viewer.click(10, 10)
    assert 1 in viewer._embeddings  # embedded once, on the first click, then reused


def test_prompt_colour_means_one_thing() -> None:
    from course_utils.data.classes import CLASS_COLOURS, THING_COLOURS
    from course_utils.viz.colours import (
        BOUNDARY_COLOUR,
        ERROR_COLOUR,
        INSTANCE_PALETTE,
        INTERIOR_COLOUR,
        PROMPT_COLOUR,
        colour_distance,
    )

    paint = [tuple(round(255 * v) for v in c) for c in THING_COLOURS]
    others = [*CLASS_COLOURS, *INSTANCE_PALETTE, ERROR_COLOUR, BOUNDARY_COLOUR, INTERIOR_COLOUR, *paint]
    assert min(colour_distance(PROMPT_COLOUR, c) for c in others) >= 30


def test_static_figures_pair_the_clicks_and_outline_the_truth(scene) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_utils.train.history import History
    from course_utils.viz import prompt_figures
    from course_utils.viz.colours import BOUNDARY_COLOUR

    history = History()
    history.steps = [{"step": s, "loss": 2.0 / s, "bce_click1": 0.5 / s, "dice_click1": 0.4 / s, "semantic": 0.3 / s,
                      "bce_click2": 0.45 / s, "dice_click2": 0.35 / s} for s in range(1, 13)]
    fig = prompt_figures.plot_prompt_losses(history)
    bce, dice, semantic, total = fig.axes
    assert bce.get_title() == "mask BCE" and total.get_title().startswith("total")
    assert {ln.get_linestyle() for ln in bce.lines} == {"-", "--"} == {ln.get_linestyle() for ln in dice.lines}
    assert {ln.get_linestyle() for ln in semantic.lines} == {"-"} and len(bce.lines) == 4  # raw + average, per click
    assert "dashed" in " ".join(t.get_text() for t in fig.legends[0].get_texts())
    plt.close(fig)
    history.steps = history.steps[:9]  # a run cut very short: no average drawn, and the key does not list one
    fig = prompt_figures.plot_prompt_losses(history)
    assert len(fig.axes[0].lines) == 2 and "average" not in " ".join(t.get_text() for t in fig.legends[0].get_texts())
    plt.close(fig)

    torch.manual_seed(0)
    fig = prompt_figures.show_prompt_examples(build_promptable().eval(), [scene], max_segments=2)
    assert "cyan" in fig.texts[0].get_text()
    shown = fig.axes[1].get_images()[0].get_array().data  # the first segment's panel: its true edge is drawn
    assert (np.abs(np.asarray(shown) - np.asarray(BOUNDARY_COLOUR) / 255).sum(-1) < 1e-3).any()
    plt.close(fig)
