"""Lesson 03's checks accept the references and reject typical wrong solutions; references match torch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_utils import exercises, solutions
from course_utils.models.fcn import fuse_skip as package_fuse_skip


@pytest.mark.parametrize("name", ["fuse_skip", "weighted_cross_entropy"])
def test_reference_passes(name, check_exercise):
    assert name in exercises.NAMES and exercises.lesson_of(name) == "03"
    assert check_exercise(name, getattr(solutions, name))


def test_fuse_skip_matches_package():
    coarse, skip = torch.randn(2, 7, 4, 4), torch.randn(2, 7, 7, 8)
    torch.testing.assert_close(solutions.fuse_skip(coarse, skip), package_fuse_skip(coarse, skip))


@pytest.mark.parametrize("ignore_index", [255, -1, 0])
def test_weighted_cross_entropy_matches_torch(ignore_index):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 6, 5, generator=g)
    target = torch.randint(0, 4, (2, 6, 5), generator=g)
    target[torch.rand(2, 6, 5, generator=g) < 0.2] = ignore_index
    w = torch.tensor([0.2, 1.0, 3.0, 0.7])
    torch.testing.assert_close(solutions.weighted_cross_entropy(logits, target, w, ignore_index),
                               F.cross_entropy(logits, target, weight=w, ignore_index=ignore_index))


# ---- fuse_skip --------------------------------------------------------------------------------

def fuse_variant(how="size", mode="bilinear", align_corners=False, combine="add"):
    def fuse_skip(coarse, skip):
        kw = {} if mode == "nearest" else {"align_corners": align_corners}
        if how == "size":
            up = F.interpolate(coarse, size=skip.shape[-2:], mode=mode, **kw)
        else:
            up = F.interpolate(coarse, scale_factor=2, mode=mode, **kw)
        return up + skip if combine == "add" else torch.maximum(up, skip)
    return fuse_skip


def test_fuse_variant_harness_is_right(check_exercise):
    assert check_exercise("fuse_skip", fuse_variant())


@pytest.mark.parametrize("wrong", [dict(how="x2"), dict(mode="nearest"), dict(align_corners=True),
                                   dict(combine="max")])
def test_fuse_skip_rejects(wrong, check_exercise):
    assert not check_exercise("fuse_skip", fuse_variant(**wrong))


def test_fuse_skip_rejects_concatenation(check_exercise):
    assert not check_exercise("fuse_skip", lambda coarse, skip: torch.cat(
        [F.interpolate(coarse, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], dim=1))


# ---- weighted_cross_entropy -------------------------------------------------------------------

def wce_variant(normalise="weights", ignore=True, weight_by="target"):
    def weighted_cross_entropy(logits, target, weights, ignore_index=255):
        logp = F.log_softmax(logits, 1)
        keep = target != ignore_index if ignore else torch.ones_like(target, dtype=torch.bool)
        safe = torch.where(target != ignore_index, target, torch.zeros_like(target))
        nll = -logp.gather(1, safe[:, None])[:, 0]
        cls = safe if weight_by == "target" else logits.argmax(1)
        w = weights[cls] * keep
        denom = {"weights": w.sum(), "pixels": keep.sum(), "all": torch.tensor(float(target.numel()))}[normalise]
        return (w * nll).sum() / denom
    return weighted_cross_entropy


def test_wce_variant_harness_is_right(check_exercise):
    assert check_exercise("weighted_cross_entropy", wce_variant())


@pytest.mark.parametrize("wrong", [dict(normalise="pixels"), dict(normalise="all"), dict(ignore=False),
                                   dict(weight_by="prediction")])
def test_weighted_cross_entropy_rejects(wrong, check_exercise):
    assert not check_exercise("weighted_cross_entropy", wce_variant(**wrong))
