"""Lesson 04's checks accept the references and reject typical wrong solutions; references match torch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_utils import exercises, solutions
from course_utils.models.unet import concat_skip
from course_utils.train.losses import dice_loss as course_dice_loss


@pytest.mark.parametrize("name", ["dilated_conv2d", "dice_loss", "unet_skip"])
def test_reference_passes(name, check_exercise):
    assert name in exercises.NAMES and exercises.lesson_of(name) == "04"
    assert check_exercise(name, getattr(solutions, name))


@pytest.mark.parametrize(("size", "k", "d"), [((8, 8), 3, 1), ((7, 5), 3, 3), ((10, 9), 5, 2), ((4, 4), 1, 2)])
def test_dilated_conv2d_matches_torch(size, k, d):
    x, w = torch.randn(*size), torch.randn(k, k)
    expected = F.conv2d(x[None, None], w[None, None], padding=d * (k - 1) // 2, dilation=d)[0, 0]
    torch.testing.assert_close(solutions.dilated_conv2d(x, w, d), expected)


def test_dice_reference_agrees_with_the_course_loss_and_has_gradients():
    logits = torch.randn(2, 2, 6, 6, requires_grad=True)
    target = (torch.rand(2, 6, 6) < 0.4).long()
    fg = logits.softmax(1)[:, 1]
    ours = solutions.dice_loss(fg, target)
    ours.backward()
    assert logits.grad is not None and bool(logits.grad.abs().sum() > 0)
    assert 0 <= float(ours) <= 1
    assert float(solutions.dice_loss(torch.zeros(1, 3, 3), torch.zeros(1, 3, 3))) == 0.0
    # the course's multi-class Dice of a 2-class problem averages both classes' Dice (background included)
    assert float(course_dice_loss(torch.randn(1, 2, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long))) < 1


def test_unet_skip_matches_the_model():
    up, skip = torch.randn(2, 3, 6, 7), torch.randn(2, 5, 7, 7)
    torch.testing.assert_close(solutions.unet_skip(up, skip), concat_skip(up, skip))


# ---- dilated_conv2d: wrong versions --------------------------------------------------------

def conv_variant(padding="dilation", flip=False, as_stride=False):
    def dilated_conv2d(image, kernel, dilation):
        if dilation < 1:
            raise ValueError("dilation >= 1")
        k = kernel.flip(0, 1) if flip else kernel
        pad = {"dilation": dilation * (k.shape[0] - 1) // 2, "one": (k.shape[0] - 1) // 2, "none": 0}[padding]
        if as_stride:
            return F.conv2d(image[None, None], k[None, None], padding=pad, stride=dilation)[0, 0]
        return F.conv2d(image[None, None], k[None, None], padding=pad, dilation=dilation)[0, 0]
    return dilated_conv2d


def test_conv_variant_harness_is_right(check_exercise):
    assert check_exercise("dilated_conv2d", conv_variant())


@pytest.mark.parametrize("wrong", [dict(padding="one"), dict(padding="none"), dict(flip=True), dict(as_stride=True)])
def test_dilated_conv2d_rejects(wrong, check_exercise):
    assert not check_exercise("dilated_conv2d", conv_variant(**wrong))


def test_dilated_conv2d_rejects_a_broken_function(check_exercise):
    assert not check_exercise("dilated_conv2d", lambda image, kernel, dilation: image.sum() / 0)


# ---- dice_loss: wrong versions -------------------------------------------------------------

def dice_variant(eps_where="both", threshold=False, per_image=False):
    def dice_loss(probs, target, eps=1.0):
        p = (probs > 0.5).float() if threshold else probs
        t = target.float()
        dims = (1, 2) if per_image else None
        inter = (p * t).sum(dim=dims) if dims else (p * t).sum()
        size = (p.sum(dim=dims) + t.sum(dim=dims)) if dims else p.sum() + t.sum()
        num = 2 * inter + (eps if eps_where == "both" else 0.0)
        den = size + (eps if eps_where in ("both", "denominator") else 0.0)
        return (1 - num / den).mean()
    return dice_loss


def test_dice_variant_harness_is_right(check_exercise):
    assert check_exercise("dice_loss", dice_variant())


@pytest.mark.parametrize("wrong", [dict(eps_where="none"), dict(eps_where="denominator"), dict(threshold=True),
                                   dict(per_image=True)])
def test_dice_loss_rejects(wrong, check_exercise):
    assert not check_exercise("dice_loss", dice_variant(**wrong))


# ---- unet_skip: wrong versions -------------------------------------------------------------

def skip_variant(dim=1, order="skip_first", fit="crop_pad"):
    def unet_skip(up, skip):
        h, w = skip.shape[-2:]
        if fit == "crop_pad":
            up = up[..., :h, :w]
            up = F.pad(up, (0, w - up.shape[-1], 0, h - up.shape[-2]))
        elif fit == "interpolate":
            up = F.interpolate(up, size=(h, w), mode="bilinear", align_corners=False)
        parts = [skip, up] if order == "skip_first" else [up, skip]
        return torch.cat(parts, dim=dim)
    return unet_skip


def test_skip_variant_harness_is_right(check_exercise):
    assert check_exercise("unet_skip", skip_variant())


@pytest.mark.parametrize("wrong", [dict(dim=0), dict(dim=2), dict(order="up_first"), dict(fit="none"),
                                   dict(fit="interpolate")])
def test_unet_skip_rejects(wrong, check_exercise):
    assert not check_exercise("unet_skip", skip_variant(**wrong))


def test_feedback_names_the_failing_case(capsys):
    assert not exercises.check("unet_skip", skip_variant(dim=0))
    out = capsys.readouterr().out
    assert "same size" in out and "Traceback" not in out
