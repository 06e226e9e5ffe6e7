"""U-Net, DeepLab, receptive fields and lesson 04's losses: shapes, strides, references, overfitting one batch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_utils.models.deeplab import ASPP, DeepLab, DeepLabConfig, build_deeplab, deeplab_layers
from course_utils.models.receptive import conv_output_size, receptive_field_rows
from course_utils.models.unet import UNet, UNetConfig, build_unet, concat_skip, crop_or_pad, unet_layers
from course_utils.train.losses import LOSSES, dice_loss, focal_loss, semantic_loss
from course_utils.train.segmenters import (
    DeepLabTrainConfig,
    UNetTrainConfig,
    load_deeplab,
    load_unet,
    train_deeplab,
    train_unet,
)
from course_utils.viz.encoder_decoder import tap_coverage

SMALL_UNET = dict(channels=(4, 8, 8), convs_per_level=(1, 1, 1))
SMALL_DEEPLAB = dict(channels=(4, 8, 8, 8, 8), aspp_channels=8, low_level_channels=4, decoder_channels=8)


@pytest.mark.parametrize("size", [(32, 32), (33, 47), (17, 64), (50, 31)])
@pytest.mark.parametrize("upsampling", ["transposed", "bilinear"])
def test_unet_gives_full_size_logits_for_odd_and_even_sizes(size, upsampling):
    model = build_unet(7, upsampling=upsampling, **SMALL_UNET).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, *size)).shape == (2, 7, *size)


@pytest.mark.parametrize("size", [(32, 32), (33, 47), (128, 128), (50, 31)])
@pytest.mark.parametrize("output_stride", [8, 16])
@pytest.mark.parametrize("decoder", [True, False])
def test_deeplab_gives_full_size_logits(size, output_stride, decoder):
    model = build_deeplab(5, output_stride=output_stride, decoder=decoder, **SMALL_DEEPLAB).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, *size)).shape == (1, 5, *size)


@pytest.mark.parametrize("output_stride", [8, 16])
def test_deeplab_output_stride_is_the_feature_stride(output_stride):
    model = build_deeplab(7, output_stride=output_stride, **SMALL_DEEPLAB).eval()
    with torch.no_grad():
        feats = model.features(torch.rand(1, 3, 128, 128))
    assert feats["high"].shape[-1] == 128 // output_stride and feats["low"].shape[-1] == 32
    assert model.output_stride == output_stride and model.score_stride == 4


def test_bad_configs_and_inputs_get_clear_messages():
    with pytest.raises(ValueError, match="output_stride"):
        DeepLab(DeepLabConfig(output_stride=32))
    with pytest.raises(ValueError, match="upsampling"):
        UNet(UNetConfig(upsampling="nearest"))
    with pytest.raises(ValueError, match="convs_per_level"):
        UNet(UNetConfig(channels=(4, 8), convs_per_level=(1, 1, 1)))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        build_unet(7, **SMALL_UNET)(torch.rand(3, 32, 32))
    with pytest.raises(ValueError, match="DeepLabConfig"):
        train_deeplab(UNetTrainConfig())


def test_crop_or_pad_and_concat_skip():
    up = torch.randn(1, 3, 6, 9)
    assert crop_or_pad(up, (7, 8)).shape == (1, 3, 7, 8)
    assert torch.equal(crop_or_pad(up, (7, 8))[..., 6, :], torch.zeros(1, 3, 8))
    out = concat_skip(up, torch.randn(1, 2, 7, 8))
    assert out.shape == (1, 5, 7, 8)


@pytest.mark.parametrize(("size", "k", "s", "p", "d"), [(16, 3, 1, 1, 1), (16, 3, 1, 3, 3), (15, 3, 2, 2, 2),
                                                        (7, 5, 1, 0, 2), (5, 3, 1, 0, 4)])
def test_conv_output_size_matches_torch(size, k, s, p, d):
    expected = F.conv2d(torch.zeros(1, 1, size, size), torch.zeros(1, 1, k, k), stride=s, padding=p,
                        dilation=d).shape[-1] if size + 2 * p >= d * (k - 1) + 1 else 0
    assert conv_output_size(size, k, s, p, d) == expected
    with pytest.raises(ValueError, match="dilation"):
        conv_output_size(size, k, s, p, 0)


def test_dilated_conv_with_padding_dilation_keeps_the_size_and_samples_the_taps():
    x = torch.zeros(1, 1, 11, 11)
    x[..., 5, 5] = 1
    w = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    y = F.conv2d(x, w, padding=2, dilation=2)
    assert y.shape == x.shape
    taps = torch.nonzero(y[0, 0]).tolist()
    assert taps == [[r, c] for r in (3, 5, 7) for c in (3, 5, 7)]


def _empirical_rf(layers) -> int:
    """Receptive field of the centre output of a stack of convs, measured with autograd."""
    modules = [torch.nn.Conv2d(1, 1, k, stride=s, padding=d * (k - 1) // 2, dilation=d, bias=False)
               for _, k, s, d in layers]
    for m in modules:
        torch.nn.init.constant_(m.weight, 1.0)
    x = torch.ones(1, 1, 97, 97, requires_grad=True)
    y = torch.nn.Sequential(*modules)(x)
    y[0, 0, y.shape[-2] // 2, y.shape[-1] // 2].backward()
    cols = torch.nonzero(x.grad[0, 0].abs().sum(0))
    return int(cols.max() - cols.min() + 1)


@pytest.mark.parametrize("rates", [(1, 1, 1), (1, 2, 4), (2, 2, 2), (3,), (1, 2, 3, 6)])
def test_receptive_field_rows_match_autograd_for_dilated_stacks(rates):
    layers = [(f"conv{i}", 3, 1, r) for i, r in enumerate(rates)]
    assert receptive_field_rows(layers)[-1]["receptive_field"] == _empirical_rf(layers) == 1 + 2 * sum(rates)


def test_model_receptive_fields_and_strides():
    dl = receptive_field_rows(deeplab_layers(DeepLabConfig()))
    assert dl[-1]["stride"] == 16
    dl8 = receptive_field_rows(deeplab_layers(DeepLabConfig(output_stride=8)))
    assert dl8[-1]["stride"] == 8
    # dilating stage 5 by 2 instead of pooling before it: its convolutions widen the view just as much
    def growth(rows):
        rf = {r["layer"]: r["receptive_field"] for r in rows}
        return rf["stage5.conv2"] - rf["stage4.conv2"] - (8 if "stage4.pool" in rf else 0)  # the pool's own 2x2
    assert growth(dl8) == growth(dl) == 64
    un = receptive_field_rows(unet_layers(UNetConfig()))
    assert un[-1]["stride"] == 1 and un[-1]["receptive_field"] > 100


def test_gridding_holes():
    assert int((tap_coverage((2, 2, 2)) == 0)[8:25, 8:25].sum()) > 0
    assert int((tap_coverage((1, 2, 4)) == 0)[9:24, 9:24].sum()) == 0


def test_aspp_image_pooling_works_on_a_batch_of_one():
    aspp = ASPP(8, 4, (1, 2), image_pooling=True).train()
    assert aspp(torch.randn(1, 8, 4, 4)).shape == (1, 4, 4, 4)


def test_losses():
    logits, target = torch.randn(2, 4, 5, 5), torch.randint(0, 4, (2, 5, 5))
    torch.testing.assert_close(focal_loss(logits, target, gamma=0.0), F.cross_entropy(logits, target))
    w = torch.tensor([0.5, 1.0, 2.0, 3.0])
    torch.testing.assert_close(focal_loss(logits, target, 0.0, w), F.cross_entropy(logits, target, weight=w))
    assert float(focal_loss(logits, target, 2.0)) < float(F.cross_entropy(logits, target))
    perfect = F.one_hot(target, 4).permute(0, 3, 1, 2).float() * 50
    assert float(dice_loss(perfect, target)) < 1e-3
    void = target.clone()
    void[0] = 255
    assert torch.isfinite(dice_loss(logits, void, ignore_index=255))
    for name in LOSSES:
        fn = semantic_loss(name, w)
        assert torch.isfinite(fn(logits, target))
    with pytest.raises(ValueError, match="loss must be one of"):
        semantic_loss("hinge")
    with pytest.raises(ValueError, match="dice_loss"):
        dice_loss(logits, target[0])


@pytest.mark.parametrize("build", [lambda: build_unet(7, **SMALL_UNET), lambda: build_deeplab(7, **SMALL_DEEPLAB)])
def test_overfits_one_batch(build):
    torch.manual_seed(0)
    model = build()
    x = torch.rand(2, 3, 32, 32)
    y = torch.zeros(2, 32, 32, dtype=torch.long)
    y[:, 8:24, 8:24] = 4
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(150):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    acc = float((model(x).argmax(1) == y).float().mean())
    assert float(loss) < 0.1 and acc > 0.97


def test_recipes_train_save_and_load(tmp_path):
    images = (torch.rand(8, 3, 32, 32) * 255).to(torch.uint8)
    labels = torch.randint(1, 7, (8, 32, 32)).to(torch.uint8)
    data = (images, labels)
    for train, load, cfg in ((train_unet, load_unet, UNetTrainConfig(model=UNetConfig(**SMALL_UNET))),
                             (train_deeplab, load_deeplab, DeepLabTrainConfig(model=DeepLabConfig(**SMALL_DEEPLAB),
                                                                              loss="focal"))):
        from dataclasses import replace
        cfg = replace(cfg, num_epochs=1, batch_size=4)
        path = tmp_path / f"{train.__name__}.pt"
        model, history, scores = train(cfg, data=data, val_data=data, device="cpu", progress=False, checkpoint=path)
        assert history.total_steps == 2 and "boundary_miou" in scores and "elapsed_s" in history.epochs[-1]
        again = load(path)
        with torch.no_grad():
            torch.testing.assert_close(again(images[:2].float() / 255), model(images[:2].float() / 255))


@pytest.mark.parametrize("first_stage", ["pool", "stride"])
def test_deeplab_first_stage_pools_or_strides_and_its_layers_say_so(first_stage):
    model = build_deeplab(7, first_stage=first_stage, **SMALL_DEEPLAB).eval()
    with torch.no_grad():
        f = model.features(torch.rand(1, 3, 64, 64))
    assert tuple(f["low"].shape[-2:]) == (16, 16) and tuple(f["high"].shape[-2:]) == (4, 4)
    assert model.stages[0][0].stride == ((2, 2) if first_stage == "stride" else (1, 1))
    layers = deeplab_layers(model.config)
    assert ("stage1.pool" in [name for name, *_ in layers]) == (first_stage == "pool")
    assert receptive_field_rows(layers)[-1]["stride"] == 16
    pooled = receptive_field_rows(deeplab_layers(DeepLabConfig(first_stage="pool")))[-1]["receptive_field"]
    assert receptive_field_rows(layers)[-1]["receptive_field"] == pooled - (first_stage == "stride")


def test_a_deeplab_saved_before_first_stage_existed_loads_with_its_pooled_first_stage(tmp_path):
    from course_utils.train import save_checkpoint

    model = build_deeplab(7, first_stage="pool", **SMALL_DEEPLAB).eval()
    path = tmp_path / "deeplab.pt"
    save_checkpoint(model, path)
    payload = torch.load(path, weights_only=True)
    del payload["config"]["first_stage"]  # as an older checkpoint stored it
    torch.save(payload, path)
    again = load_deeplab(path)
    assert again.config.first_stage == "pool"
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x))
    with pytest.raises(ValueError, match="first_stage must be one of"):
        build_deeplab(7, first_stage="avgpool")
