"""Lesson 02's checks accept the references and reject typical wrong solutions; references match torch."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import exercises, solutions
from course_utils.models.fcn import bilinear_kernel as package_kernel


@pytest.mark.parametrize("name", ["conv_output_size", "conv_transpose_output_size", "bilinear_kernel"])
def test_reference_passes(name, check_exercise):
    assert name in exercises.NAMES and exercises.lesson_of(name) == "02"
    assert check_exercise(name, getattr(solutions, name))


@pytest.mark.parametrize(("size", "k", "s", "p", "d"), [(32, 3, 1, 0, 1), (25, 2, 2, 0, 1), (100, 3, 2, 1, 1),
                                                        (124, 7, 2, 3, 1), (20, 3, 1, 0, 2), (10, 1, 3, 0, 1)])
def test_conv_output_size_matches_torch(size, k, s, p, d):
    out = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)(torch.zeros(1, 1, size, size))
    assert solutions.conv_output_size(size, k, s, p, d) == out.shape[-1]


@pytest.mark.parametrize(("size", "k", "s", "p", "op", "d"), [(8, 4, 2, 1, 0, 1), (16, 16, 8, 4, 0, 1),
                                                              (4, 64, 32, 16, 0, 1), (7, 3, 2, 1, 1, 1),
                                                              (6, 3, 2, 0, 0, 2), (1, 4, 2, 1, 0, 1)])
def test_conv_transpose_output_size_matches_torch(size, k, s, p, op, d):
    layer = nn.ConvTranspose2d(1, 1, k, stride=s, padding=p, output_padding=op, dilation=d)
    assert solutions.conv_transpose_output_size(size, k, s, p, op, d) == layer(torch.zeros(1, 1, size, size)).shape[-1]


@pytest.mark.parametrize("factor", [1, 2, 3, 4, 8])
def test_bilinear_kernel_reproduces_interpolate(factor):
    kernel = solutions.bilinear_kernel(factor)
    torch.testing.assert_close(kernel, package_kernel(factor))
    x = torch.rand(1, 1, 6, 7)
    k = kernel.shape[-1]
    up = F.conv_transpose2d(x, kernel[None, None], stride=factor, padding=(k - factor) // 2)
    ref = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    m = factor
    torch.testing.assert_close(up[..., m:-m, m:-m], ref[..., m:-m, m:-m])


# ---- conv_output_size -------------------------------------------------------------------------

def conv_variant(rounding="floor", dilation_used=True, plus_one=True, check_fit=True):
    def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
        span = (dilation if dilation_used else 1) * (kernel_size - 1) + 1
        room = size + 2 * padding - span
        if check_fit and room < 0:
            raise ValueError("does not fit")
        q = {"floor": room // stride, "ceil": math.ceil(room / stride), "true": room / stride}[rounding]
        return q + (1 if plus_one else 0)
    return conv_output_size


def test_conv_variant_harness_is_right(check_exercise):
    assert check_exercise("conv_output_size", conv_variant())


@pytest.mark.parametrize("wrong", [dict(rounding="ceil"), dict(rounding="true"), dict(dilation_used=False),
                                   dict(plus_one=False), dict(check_fit=False)])
def test_conv_output_size_rejects(wrong, check_exercise):
    assert not check_exercise("conv_output_size", conv_variant(**wrong))


# ---- conv_transpose_output_size ---------------------------------------------------------------

def tconv_variant(padding_twice=True, output_padding_used=True, minus_one=True, dilation_used=True, check=True):
    def conv_transpose_output_size(size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
        out = ((size - 1) if minus_one else size) * stride - (2 if padding_twice else 1) * padding
        out += (dilation if dilation_used else 1) * (kernel_size - 1) + (output_padding if output_padding_used else 0)
        out += 1
        if check and out < 1:
            raise ValueError("too small")
        return out
    return conv_transpose_output_size


def test_tconv_variant_harness_is_right(check_exercise):
    assert check_exercise("conv_transpose_output_size", tconv_variant())


@pytest.mark.parametrize("wrong", [dict(padding_twice=False), dict(output_padding_used=False), dict(minus_one=False),
                                   dict(dilation_used=False), dict(check=False)])
def test_conv_transpose_output_size_rejects(wrong, check_exercise):
    assert not check_exercise("conv_transpose_output_size", tconv_variant(**wrong))


def test_conv_transpose_rejects_the_conv_formula(check_exercise):
    assert not check_exercise("conv_transpose_output_size",
                      lambda size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1:
                      (size + 2 * padding - kernel_size) // stride + 1)


# ---- bilinear_kernel --------------------------------------------------------------------------

def kernel_variant(centre="right", size="right", normalise=False, one_d=False, dtype=torch.float32):
    def bilinear_kernel(factor):
        k = {"right": 2 * factor - factor % 2, "plus_one": 2 * factor + 1}[size]
        c = {"right": (k - 1) / 2, "int": factor - 1, "half": k / 2}[centre]
        tent = 1 - (torch.arange(k, dtype=torch.float64) - c).abs() / factor
        out = tent if one_d else torch.outer(tent, tent)
        if normalise:
            out = out / out.sum()
        return out.to(dtype)
    return bilinear_kernel


def test_kernel_variant_harness_is_right(check_exercise):
    assert check_exercise("bilinear_kernel", kernel_variant())


@pytest.mark.parametrize("wrong", [dict(centre="int"), dict(centre="half"), dict(size="plus_one"),
                                   dict(normalise=True), dict(one_d=True), dict(dtype=torch.float64)])
def test_bilinear_kernel_rejects(wrong, check_exercise):
    assert not check_exercise("bilinear_kernel", kernel_variant(**wrong))


def test_bilinear_kernel_failure_mentions_interpolate(capsys):
    exercises.check("bilinear_kernel", kernel_variant(centre="int"))
    assert "interpolate" in capsys.readouterr().out
