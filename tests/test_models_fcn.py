"""FCN and per-pixel classifier: output sizes, bilinear upsampling, skips, overfitting, checkpoints."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_utils import engine
from course_utils.models import fcn as fcn_module
from course_utils.models.fcn import FCN, FCNConfig, bilinear_upsampler, build_fcn
from course_utils.models.pixel import PixelClassifier, PixelConfig, build_pixel_classifier
from course_utils.train import CropLoader, preload_semantic
from course_utils.train.fcn import load_fcn
from course_utils.train.pixel import load_pixel_classifier

SMALL = {"channels": (4, 8, 8, 8, 8), "convs_per_stage": (1, 1, 1, 1, 1)}


@pytest.mark.parametrize("variant", ["32s", "16s", "8s"])
@pytest.mark.parametrize("size", [(100, 124), (128, 128), (33, 65), (7, 5)])
def test_fcn_output_size_equals_input_size(variant, size):
    model = build_fcn(num_classes=7, variant=variant).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, *size))
    assert out.shape == (2, 7, *size)


@pytest.mark.parametrize("num_classes", [2, 3, 7])
def test_fcn_num_classes(num_classes):
    model = build_fcn(num_classes=num_classes, variant="8s", **SMALL).eval()
    assert model(torch.rand(1, 3, 64, 64)).shape == (1, num_classes, 64, 64)


@pytest.mark.parametrize("config", [PixelConfig(hidden=0), PixelConfig(hidden=16, with_coords=True)])
def test_pixel_classifier_output_size(config):
    model = PixelClassifier(config)
    assert model(torch.rand(2, 3, 100, 124)).shape == (2, 7, 100, 124)


def test_pixel_classifier_sees_one_pixel_only():
    model = build_pixel_classifier(hidden=8).eval()
    x = torch.rand(1, 3, 9, 9, requires_grad=True)
    model(x)[0, :, 4, 4].sum().backward()
    touched = x.grad.abs().sum(1)[0] > 0  # (9, 9)
    assert touched.sum() == 1 and touched[4, 4]


def test_fcn_sees_a_neighbourhood():
    model = build_fcn(variant="8s").eval()
    x = torch.rand(1, 3, 64, 64, requires_grad=True)
    model(x)[0, :, 32, 32].sum().backward()
    assert (x.grad.abs().sum(1)[0] > 0).sum() > 500


def test_bilinear_kernel_values():
    torch.testing.assert_close(fcn_module.bilinear_kernel(2)[0], torch.tensor([0.0625, 0.1875, 0.1875, 0.0625]))
    assert fcn_module.bilinear_kernel(3).shape == (5, 5) and fcn_module.bilinear_kernel(3)[2, 2] == 1
    with pytest.raises(ValueError):
        fcn_module.bilinear_kernel(0)


@pytest.mark.parametrize("factor", [2, 3, 4, 8, 32])
def test_bilinear_upsampler_matches_interpolate_in_the_interior(factor):
    x = torch.rand(2, 3, 5, 6)
    up = bilinear_upsampler(3, factor)(x)
    ref = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert up.shape == ref.shape
    m = factor  # the outer half-cell of pixels differs (zero padding vs edge clamping)
    torch.testing.assert_close(up[..., m:-m, m:-m], ref[..., m:-m, m:-m], atol=1e-5, rtol=1e-5)


def test_untrained_fcn8s_scores_are_the_upsampled_stride32_scores():
    """Skip scores start at zero and the x2 upsamplers are bilinear: before training FCN-8s's stride-8 scores are
    the stride-32 scores upsampled twice by bilinear interpolation, borders included."""
    torch.manual_seed(0)
    model = build_fcn(variant="8s", **SMALL).eval()
    x = torch.rand(1, 3, 64, 96)
    coarse = model.score32(model.features(x)[32])
    expected = F.interpolate(F.interpolate(coarse, scale_factor=2, mode="bilinear"), scale_factor=2, mode="bilinear")
    torch.testing.assert_close(model.coarse_scores(x), expected)


def test_fuse_skip_and_match_size():
    coarse, skip = torch.rand(1, 2, 4, 4), torch.rand(1, 2, 7, 9)
    out = fcn_module.fuse_skip(coarse, skip)
    assert out.shape == skip.shape
    torch.testing.assert_close(out - skip, F.interpolate(coarse, size=(7, 9), mode="bilinear", align_corners=False))
    assert fcn_module.fuse_skip(coarse, skip, bilinear_upsampler(2, 2)).shape == skip.shape
    exact = torch.rand(1, 2, 8, 8)  # exactly x2: the learned path at its bilinear start equals interpolate everywhere
    torch.testing.assert_close(fcn_module.fuse_skip(coarse, exact, bilinear_upsampler(2, 2)) - exact,
                               F.interpolate(coarse, size=(8, 8), mode="bilinear", align_corners=False))
    assert fcn_module.match_size(torch.rand(1, 1, 3, 3), (5, 2)).shape == (1, 1, 5, 2)


def test_receptive_field_table():
    rows = fcn_module.receptive_field_table(FCNConfig(convs_per_stage=(1, 1, 1, 1, 1)))
    assert [r["stride"] for r in rows if r["layer"].endswith("pool")] == [2, 4, 8, 16, 32]
    assert rows[0]["receptive_field"] == 3 and rows[1]["receptive_field"] == 4
    assert rows[-1]["receptive_field"] > rows[0]["receptive_field"]


def test_bad_configs_are_explained():
    with pytest.raises(ValueError, match="variant"):
        build_fcn(variant="4s")
    with pytest.raises(ValueError, match="B, 3, H, W"):
        build_fcn()(torch.rand(3, 32, 32))


@pytest.mark.parametrize("variant", ["32s", "8s"])
def test_fcn_overfits_one_batch(variant):
    torch.manual_seed(0)
    images, labels = preload_semantic("train", 4, 64)
    batch = next(iter(CropLoader(images, labels, batch_size=4, crop=None, flip=False, shuffle=False)))
    model = build_fcn(variant=variant, channels=(8, 16, 32, 32, 32))
    before = engine.evaluate_semantic(model, [batch], 7, device="cpu")["pixel_acc"]
    hist = engine.fit(model, [batch] * 20, num_epochs=4, lr=1e-2, device="cpu", live_plot=False, progress=False)
    after = engine.evaluate_semantic(model, [batch], 7, device="cpu")["pixel_acc"]
    assert hist.steps[-1]["loss"] < 0.5 * hist.steps[0]["loss"]
    assert after > max(before, 0.85)


def test_fcn_checkpoint_rebuilds_model(tmp_path):
    torch.manual_seed(0)
    model = build_fcn(num_classes=3, variant="16s", **SMALL).eval()
    with torch.no_grad():  # make the skip layer non-trivial so it must be restored
        model.score16.weight.normal_()
    path = engine.save_checkpoint(model, tmp_path / "fcn.pt")
    loaded = load_fcn(path)
    assert loaded.config == model.config and isinstance(loaded, FCN)
    x = torch.rand(2, 3, 100, 124)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_pixel_checkpoint_rebuilds_model(tmp_path):
    model = build_pixel_classifier(hidden=8, with_coords=True).eval()
    path = engine.save_checkpoint(model, tmp_path / "pix.pt")
    loaded = load_pixel_classifier(path)
    x = torch.rand(1, 3, 10, 12)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="not an FCN checkpoint"):
        load_fcn(path)


def test_crop_loader_shapes_and_errors():
    images, labels = preload_semantic("val", 5, 32)
    batches = list(CropLoader(images, labels, batch_size=2, crop=16))
    assert len(batches) == 3
    x, y = batches[0]
    assert x.shape == (2, 3, 16, 16) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    with pytest.raises(ValueError, match="crop"):
        CropLoader(images, labels, crop=64)


def test_class_weights_favour_rare_classes():
    from course_utils.train.fcn import class_weights

    labels = torch.tensor([[1] * 90 + [4] * 10])
    w = class_weights(labels, 7, power=0.5)
    assert w[0] == 0 and w[2] == 0  # absent classes
    assert w[4] == pytest.approx(w[1] * 3)  # (0.1 / 0.9) ** -0.5 = 3
    assert float(w[1] * 0.9 + w[4] * 0.1) == pytest.approx(1.0)  # the average pixel keeps weight 1
    assert torch.allclose(class_weights(labels, 7, power=0.0)[[1, 4]], torch.ones(2))


def test_undo_class_weight_bias_shifts_every_output_pixel():
    from course_utils.train.fcn import undo_class_weight_bias

    torch.manual_seed(0)
    model = build_fcn(num_classes=3, variant="8s", **SMALL).eval()
    with torch.no_grad():
        model.score16.weight.normal_()
        model.score8.weight.normal_()
    x = torch.rand(2, 3, 64, 96)
    w = torch.tensor([0.0, 0.5, 4.0])
    with torch.no_grad():
        before = model(x)
        undo_class_weight_bias(model, w)
        after = model(x)
    expected = before - torch.tensor([0.0, 0.5, 4.0]).clamp(min=1e-12).log().where(w > 0, torch.tensor(0.0))[
        None, :, None, None]
    torch.testing.assert_close(after, expected, atol=1e-5, rtol=1e-5)
    undo_class_weight_bias(model, w, scale=-1)
    with torch.no_grad():
        torch.testing.assert_close(model(x), before, atol=1e-5, rtol=1e-5)


def test_train_fcn_recipe_smoke(tmp_path):
    from course_utils.train.fcn import FCNTrainConfig, time_to_miou, train_fcn

    data, val = preload_semantic("train", 8, 64), preload_semantic("val", 4, 64)
    cfg = FCNTrainConfig(channels=(4, 8, 8, 8, 8), convs_per_stage=(1, 1, 1, 1, 1), num_epochs=2, batch_size=4,
                         size=64)
    model, hist, scores = train_fcn(cfg, data=data, val_data=val, device="cpu", progress=False,
                                    checkpoint=tmp_path / "fcn.pt")
    assert len(hist.epochs) == 2 and "elapsed_s" in hist.epochs[0] and "boundary_miou" in scores
    assert time_to_miou(hist, 0.0) == hist.epochs[0]["elapsed_s"] and time_to_miou(hist, 1.01) is None
    assert load_fcn(tmp_path / "fcn.pt").config == model.config


def test_train_pixel_classifier_smoke():
    from course_utils.train.pixel import train_pixel_classifier

    data, val = preload_semantic("train", 8, 64), preload_semantic("val", 4, 64)
    model, hist, scores = train_pixel_classifier(data=data, val_data=val, device="cpu", progress=False,
                                                 num_epochs=1, hidden=4)
    assert isinstance(model, PixelClassifier) and hist.total_steps == 1 and 0 <= scores["pixel_acc"] <= 1


@pytest.mark.parametrize("first_stage", ["pool", "stride"])
def test_the_first_stage_halves_the_size_by_pooling_or_by_a_strided_conv(first_stage):
    model = build_fcn(7, "8s", first_stage=first_stage).eval()
    with torch.no_grad():
        feats = model.features(torch.rand(2, 3, 64, 96))
        assert model(torch.rand(1, 3, 50, 70)).shape == (1, 7, 50, 70)
    assert {s: tuple(f.shape[-2:]) for s, f in feats.items()} == {2 ** k: (64 >> k, 96 >> k) for k in range(1, 6)}
    first_conv = model.stages[0][0]
    assert first_conv.stride == ((2, 2) if first_stage == "stride" else (1, 1))
    assert any(isinstance(m, torch.nn.MaxPool2d) for m in model.stages[0]) == (first_stage == "pool")
    rows = fcn_module.receptive_field_table(model.config)
    assert ("stage1.pool" in [r["layer"] for r in rows]) == (first_stage == "pool")
    assert [max(r["stride"] for r in rows if r["stage"] == s) for s in range(1, 6)] == [2, 4, 8, 16, 32]


def test_a_strided_first_stage_sees_one_pixel_less_than_conv_then_pool():
    pooled = fcn_module.receptive_field_table(FCNConfig(first_stage="pool"))
    strided = fcn_module.receptive_field_table(FCNConfig(first_stage="stride"))
    assert strided[0]["receptive_field"] == 3 and strided[0]["stride"] == 2  # the 3x3 conv, its outputs 2 px apart
    assert pooled[1]["receptive_field"] == 4 and pooled[1]["stride"] == 2  # conv (3 px), then the 2x2 pool
    assert strided[-1]["receptive_field"] == pooled[-1]["receptive_field"] - 1


def test_an_unknown_first_stage_is_explained():
    with pytest.raises(ValueError, match="first_stage must be one of"):
        build_fcn(first_stage="avgpool")
