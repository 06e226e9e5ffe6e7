"""The course's Mask R-CNN: builder, inspector, exact mask paste, overfitting one batch, save/load."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from course_utils import solutions
from course_utils.data import NUM_CLASSES
from course_utils.models.inspection import inspect_maskrcnn
from course_utils.models.maskrcnn import MaskRCNNConfig, build_maskrcnn, example_batch, paste_masks_exact
from course_utils.train import SceneBatches, flip_scene
from course_utils.train.maskrcnn import load_maskrcnn

LOSSES = {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"}


@pytest.fixture(scope="module")
def batch():
    return example_batch(2, split="val")


@pytest.mark.parametrize("num_classes", [2, 10])
def test_builder_any_number_of_classes(num_classes, batch):
    torch.manual_seed(0)
    model = build_maskrcnn(MaskRCNNConfig(num_classes=num_classes))
    images, targets = batch
    targets = [{**t, "labels": torch.ones_like(t["labels"]) if num_classes == 2 else t["labels"]} for t in targets]
    model.train()
    losses = model(images, targets)
    assert set(losses) == LOSSES and all(torch.isfinite(v) for v in losses.values())
    model.eval()
    with torch.no_grad():
        out = model(images)
    assert len(out) == 2
    for o in out:
        n = len(o["boxes"])
        assert o["masks"].shape == (n, 1, 128, 128) and o["labels"].shape == (n,) and o["scores"].shape == (n,)
        assert (o["labels"] >= 1).all() and (o["labels"] < num_classes).all()
    assert model.roi_heads.box_predictor.cls_score.out_features == num_classes
    assert model.roi_heads.mask_predictor.mask_fcn_logits.out_channels == num_classes


def test_num_classes_must_count_background():
    with pytest.raises(ValueError, match="background"):
        build_maskrcnn(MaskRCNNConfig(num_classes=1))
    assert MaskRCNNConfig().num_classes == NUM_CLASSES == 7


def test_model_never_resizes(batch):
    model = build_maskrcnn()
    assert model.transform.min_size == (128,) and model.transform.max_size == 128


def test_resnet50_builds_offline_without_weights():
    model = build_maskrcnn(MaskRCNNConfig(backbone="resnet50"))
    assert model.roi_heads.box_predictor.cls_score.out_features == NUM_CLASSES
    assert model.transform.min_size == (128,)


def test_pretrained_download_failure_falls_back(monkeypatch, capsys):
    import torchvision.models.detection as det

    real = det.maskrcnn_resnet50_fpn

    def offline(*, weights=None, **kwargs):
        if weights is not None:
            raise OSError("no network")
        return real(weights=None, **kwargs)

    monkeypatch.setattr(det, "maskrcnn_resnet50_fpn", offline)
    model = build_maskrcnn(MaskRCNNConfig(backbone="resnet50", pretrained=True))
    assert "randomly initialised" in capsys.readouterr().out
    assert model.roi_heads.box_predictor.cls_score.out_features == NUM_CLASSES


@pytest.mark.parametrize("train", [False, True])
def test_inspector_shapes_are_consistent(train, batch):
    torch.manual_seed(0)
    model = build_maskrcnn().eval()
    images, targets = batch
    before = {k: v.clone() for k, v in model.state_dict().items()}
    insp = inspect_maskrcnn(model, images[0], targets[0] if train else None)
    assert not model.training  # mode restored
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # BN statistics untouched
    cfg = MaskRCNNConfig()
    assert list(insp.features) == ["0", "1", "2"] and list(insp.strides.values()) == [4, 8, 16]
    for name, f in insp.features.items():
        assert f.shape == (cfg.fpn_channels, 128 // insp.strides[name], 128 // insp.strides[name])
        assert insp.objectness[name].shape == (insp.anchors_per_location, *f.shape[1:])
    assert len(insp.anchors) == sum(insp.anchors_per_level)
    assert insp.anchors_per_level == [insp.anchors_per_location * f[0].numel() for f in insp.features.values()]
    assert len(insp.proposals) <= len(insp.proposals_pre_nms)
    assert len(insp.pre_nms_scores) == len(insp.proposals_pre_nms)
    assert insp.box_crops.shape == (len(insp.head_boxes), cfg.fpn_channels, cfg.roi_output_size, cfg.roi_output_size)
    m = len(insp.mask_boxes)
    assert insp.mask_crops.shape[0] == m and insp.mask_logits.shape[0] == m
    if train:
        assert insp.mode == "train" and set(insp.losses) == LOSSES
        assert len(insp.head_boxes) <= cfg.box_batch_size_per_image
    else:
        assert insp.mode == "eval" and len(insp.head_boxes) == len(insp.proposals)
        d = len(insp.detections["boxes"])
        assert insp.detections["masks"].shape == (d, 1, 128, 128)  # pasted masks are image-sized
        if d:
            assert insp.mask_crops.shape[1:] == (cfg.fpn_channels, 14, 14)
            assert insp.mask_logits.shape[1:] == (NUM_CLASSES, 28, 28)
    assert "proposals after NMS" in insp.summary()


def test_exact_paste_matches_reference():
    g = torch.Generator().manual_seed(0)
    masks = torch.rand(3, 1, 28, 28, generator=g, dtype=torch.float64)
    boxes = torch.tensor([[10.0, 12.0, 40.0, 30.0], [3.3, 5.7, 17.2, 28.9], [100.0, 90.0, 127.0, 128.0]],
                         dtype=torch.float64)
    out = paste_masks_exact(masks, boxes, 128, 128, shift=0.0)
    for i in range(3):
        torch.testing.assert_close(out[i, 0], solutions.paste_mask(masks[i, 0], boxes[i], 128, 128))
    assert paste_masks_exact(masks[:0], boxes[:0], 128, 128).shape == (0, 1, 128, 128)


def test_exact_paste_of_a_target_round_trip():
    """GT masks cut out like torchvision's mask targets and pasted back: exact paste ~ lossless, torchvision's not."""
    from torchvision.models.detection.roi_heads import paste_masks_in_image
    from torchvision.ops import roi_align

    _, targets = example_batch(30, split="val")
    exact, stock = [], []
    for t in targets:
        masks = t["masks"][:, None].float()  # (N, 1, H, W)
        rois = torch.cat([torch.arange(len(masks))[:, None].float(), t["boxes"]], 1)  # (N, 5)
        crops = roi_align(masks, rois, (28, 28), 1.0)  # (N, 1, 28, 28): how torchvision builds mask targets
        gt = t["masks"].bool()
        for out, pasted in ((exact, paste_masks_exact(crops, t["boxes"], 128, 128)),
                            (stock, paste_masks_in_image(crops, t["boxes"], (128, 128)))):
            p = pasted[:, 0] > 0.5  # (N, H, W)
            out.append((p & gt).flatten(1).sum(1) / (p | gt).flatten(1).sum(1))
    exact, stock = torch.cat(exact), torch.cat(stock)
    assert exact.min() > 0.94 and exact.mean() > 0.98, exact
    assert stock.mean() < exact.mean() - 0.03  # why the course model pastes its own way


def test_flip_scene_keeps_boxes_on_masks(batch):
    images, targets = batch
    from course_utils.data.shapes import _boxes_from_masks

    for h, v in [(True, False), (False, True), (True, True)]:
        img, t = flip_scene(images[0], targets[0], h, v)
        expected = torch.from_numpy(_boxes_from_masks(t["masks"].bool().numpy()))
        assert torch.equal(t["boxes"], expected)
        assert img.shape == images[0].shape


def test_scene_batches():
    loader = SceneBatches("train", 10, batch_size=4)
    assert len(loader) == 3
    sizes = [len(images) for images, _ in loader]
    assert sizes == [4, 4, 2]


@pytest.mark.slow
def test_overfits_one_batch(tmp_path):
    """Sixty steps on one fixed batch cut the total loss, the mask and the classification losses.

    The box-regression term can rise at first (more proposals match an object, so more RoIs are regressed),
    and 40 steps left the total at 0.29-0.37 of the first step's depending on the CPU and thread count.
    """
    torch.manual_seed(0)
    model = build_maskrcnn()
    images, targets = example_batch(4)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    first = None
    for _ in range(60):
        losses = model(images, targets)
        loss = sum(losses.values())
        first = first if first is not None else {k: float(v.detach()) for k, v in losses.items()}
        opt.zero_grad()
        loss.backward()
        opt.step()
    last = {k: float(v) for k, v in model(images, targets).items()}
    assert sum(last.values()) < 0.35 * sum(first.values()), (first, last)
    assert last["loss_mask"] < 0.5 * first["loss_mask"]
    assert last["loss_classifier"] < 0.5 * first["loss_classifier"]


def test_save_and_load_round_trip(tmp_path, batch):
    from course_utils.train import save_checkpoint

    cfg = dataclasses.replace(MaskRCNNConfig(), mask_layers=(32,), representation_size=64)
    torch.manual_seed(0)
    model = build_maskrcnn(cfg).eval()
    path = save_checkpoint(model, tmp_path / "m.pt", config=cfg)
    loaded = load_maskrcnn(path, device="cpu")
    assert loaded.config == cfg
    images, _ = batch
    with torch.no_grad():
        a, b = model(images[:1])[0], loaded(images[:1])[0]
    torch.testing.assert_close(a["boxes"], b["boxes"])


@pytest.mark.parametrize("output_size,sampling_ratio", [(7, 1), (14, 1), (5, 2)])
def test_grid_roi_align_matches_torchvision(output_size, sampling_ratio):
    """Values and gradients equal torchvision's roi_align(aligned=False), boxes partly outside the map included."""
    from torchvision.ops import roi_align

    from course_utils.models.roi_align import roi_align_grid

    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 5, 32, 32, generator=gen, requires_grad=True)
    corners = torch.rand(2, 6, 2, generator=gen) * 120
    boxes = [torch.cat([c, c + torch.rand(6, 2, generator=gen) * 40 + 0.5], 1) for c in corners]
    boxes[0][0] = torch.tensor([-10.0, -6.0, 139.0, 133.0])  # sticks out on every side
    boxes[1][1] = torch.tensor([126.0, 3.0, 127.0, 3.5])  # thinner than one feature cell
    rois = torch.cat([torch.cat([torch.full((6, 1), float(i)), b], 1) for i, b in enumerate(boxes)])
    want = roi_align(feats, rois, output_size, spatial_scale=0.25, sampling_ratio=sampling_ratio, aligned=False)
    got = roi_align_grid(feats, boxes, output_size, 0.25, sampling_ratio)
    assert got.shape == want.shape == (12, 5, output_size, output_size)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    weights = torch.randn(want.shape, generator=gen)
    g_want, = torch.autograd.grad((want * weights).sum(), feats)
    g_got, = torch.autograd.grad((got * weights).sum(), feats)
    torch.testing.assert_close(g_got, g_want, atol=1e-4, rtol=1e-4)


def test_grid_roi_align_in_the_model_matches_torchvision(batch):
    """The course model gives the same losses with either RoIAlign (same weights, same batch)."""
    images, targets = batch
    losses = {}
    for impl in ("grid", "torchvision"):
        torch.manual_seed(0)
        model = build_maskrcnn(dataclasses.replace(MaskRCNNConfig(), roi_align=impl)).train()
        torch.manual_seed(1)  # the same RoI sampling in both runs
        losses[impl] = {k: v.item() for k, v in model(images, targets).items()}
    assert losses["grid"].keys() == losses["torchvision"].keys()
    for key, value in losses["grid"].items():
        assert value == pytest.approx(losses["torchvision"][key], rel=1e-3, abs=1e-5), key
    with pytest.raises(ValueError, match="roi_align"):
        build_maskrcnn(dataclasses.replace(MaskRCNNConfig(), roi_align="fast"))


def _mask_head_rois(model, images, targets, seed=0):
    """Train-mode losses of one batch, and how many RoIs the mask head got (same sampling for a given seed)."""
    seen = []
    hook = model.roi_heads.mask_head.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].shape[0]))
    torch.manual_seed(seed)
    try:
        losses = model.train()(images, targets)
    finally:
        hook.remove()
    return losses, seen[0]


def test_mask_head_trains_on_at_most_the_cap(batch):
    images, targets = batch
    torch.manual_seed(0)
    model = build_maskrcnn(MaskRCNNConfig(mask_rois_per_image=2))
    losses, rois = _mask_head_rois(model, images, targets)
    assert 0 < rois <= 2 * len(images)  # at most 2 positives per image reach the mask head
    assert set(losses) == {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_mask"}
    assert all(torch.isfinite(v) for v in losses.values())
    model.roi_heads.mask_rois_per_image = None  # torchvision's behaviour: every sampled positive
    _, all_rois = _mask_head_rois(model, images, targets)
    assert all_rois > rois


def test_a_cap_above_the_positives_gives_torchvisions_losses(batch):
    """The course's mask branch with a cap that never bites computes exactly torchvision's losses."""
    images, targets = batch
    torch.manual_seed(0)
    model = build_maskrcnn(MaskRCNNConfig(mask_rois_per_image=None))
    reference, ref_rois = _mask_head_rois(model, images, targets)
    model.roi_heads.mask_rois_per_image = 1000
    capped, rois = _mask_head_rois(model, images, targets)
    assert rois == ref_rois
    for name in reference:
        torch.testing.assert_close(capped[name], reference[name])
    model.eval()
    with torch.no_grad():  # inference never uses the cap
        a = model(images[:1])
        model.roi_heads.mask_rois_per_image = 2
        b = model(images[:1])
    torch.testing.assert_close(a[0]["masks"], b[0]["masks"])
