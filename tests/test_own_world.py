"""The shifted world of lesson 11: deterministic scenes that keep ``make_scene``'s contract, and differ from it."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from course_utils.data import make_scene
from course_utils.data.coco import category_mapping
from course_utils.data.own_world import (
    MAX_OBJECTS,
    OWN_CATEGORIES,
    OWN_CLASSES,
    OWN_THINGS,
    STAR,
    TEXTURES,
    make_own_scene,
    photo_textures,
)

TRAIN_SEED = 100  # the committed sample's train split


def tight_box(mask: torch.Tensor) -> list[float]:
    ys, xs = mask.nonzero(as_tuple=True)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


def test_same_seed_and_index_same_scene_in_any_order() -> None:
    later = make_own_scene(3, 5)
    for i in range(4):
        make_own_scene(3, i)
    again = make_own_scene(3, 5)
    for key in ("image", "masks", "boxes", "labels", "semantic", "panoptic", "colours"):
        assert torch.equal(later[key], again[key]), key
    assert later["segments"] == again["segments"] and later["textures"] == again["textures"]
    assert not torch.equal(make_own_scene(3, 6)["image"], later["image"])
    assert not torch.equal(make_own_scene(4, 5)["image"], later["image"])


@pytest.mark.parametrize("index", range(12))
def test_contract_of_make_scene(index: int) -> None:
    s = make_own_scene(TRAIN_SEED, index)
    ref = make_scene(0, 0)
    assert set(ref) <= set(s), "every key of make_scene is there"
    img, masks, boxes, labels = s["image"], s["masks"], s["boxes"], s["labels"]
    assert img.dtype == torch.float32 and img.shape == (3, 128, 128) and 0 <= img.min() and img.max() <= 1
    n = len(labels)
    assert 1 <= n <= MAX_OBJECTS and masks.shape == (n, 128, 128) and masks.dtype == torch.bool
    assert boxes.shape == (n, 4) and boxes.dtype == torch.float32 and labels.dtype == torch.int64
    assert int(masks.sum(0).max()) <= 1, "visible masks never overlap"
    assert all(int(m.sum()) > 0 for m in masks)
    assert [tight_box(m) for m in masks] == boxes.tolist(), "boxes are the tight boxes of the masks"
    assert set(labels.tolist()) <= set(OWN_THINGS)
    sem = torch.zeros(128, 128, dtype=torch.int64)
    for m, c in zip(masks, labels):
        sem[m] = c
    assert torch.equal(sem, s["semantic"])
    assert [seg["area"] for seg in s["segments"]] == masks.sum((1, 2)).tolist()
    assert [seg["category_id"] for seg in s["segments"]] == labels.tolist()
    assert len(set(s["panoptic"].unique().tolist()) - {0}) == n
    assert set(s["textures"]) <= set(TEXTURES) and 1 <= len(s["textures"]) <= 2


def test_a_split_has_every_class_the_new_star_included_and_its_own_sizes() -> None:
    scenes = [make_own_scene(TRAIN_SEED, i) for i in range(48)]
    counts = Counter(int(c) for s in scenes for c in s["labels"])
    assert set(counts) == set(OWN_THINGS) and counts[STAR] >= 0.15 * sum(counts.values())
    per_scene = [len(s["labels"]) for s in scenes]
    shapes_per_scene = [len(make_scene(TRAIN_SEED, i)["labels"]) for i in range(48)]
    assert np.mean(per_scene) > np.mean(shapes_per_scene) + 2, "more objects per image than the shapes world"
    areas = np.array([a for s in scenes for a in s["masks"].sum((1, 2)).tolist()])
    shape_areas = np.array([a for i in range(48) for a in make_scene(TRAIN_SEED, i)["masks"].sum((1, 2)).tolist()])
    assert np.median(areas) < 0.6 * np.median(shape_areas), "smaller objects than the shapes world"
    textures = Counter(t for s in scenes for t in s["textures"])
    assert set(textures) == set(TEXTURES)
    assert sum(len(s["textures"]) == 2 for s in scenes) >= 12, "two photographs meet in many scenes"


def test_a_star_has_five_tips() -> None:
    """A lone star's outline crosses a circle around its centre ten times (five tips, five notches)."""
    from course_utils.data.own_world import _star_mask

    (ys, xs), mask = _star_mask(64.0, 64.0, 20.0, 0.3, 128)
    full = np.zeros((128, 128), bool)
    full[ys, xs] = mask
    theta = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    ring = full[(64 + 20 * np.sin(theta)).astype(int), (64 + 20 * np.cos(theta)).astype(int)]
    assert int((ring != np.roll(ring, 1)).sum()) == 10
    assert full[64, 64] and not full[0, 0]


def test_backgrounds_are_the_scikit_image_photographs() -> None:
    tex = photo_textures()
    assert set(tex) == set(TEXTURES)
    assert all(t.shape == (512, 512) and t.dtype == np.float32 and 0 <= t.min() < t.max() <= 1 for t in tex.values())
    assert photo_textures() is tex, "read once per process"


def test_categories_are_the_datasets_own_and_load_as_labels_1_to_4() -> None:
    assert [(c["id"], c["name"]) for c in OWN_CATEGORIES] == list(enumerate(OWN_CLASSES))[1:]
    mapping, names = category_mapping(OWN_CATEGORIES)
    assert mapping == {1: 1, 2: 2, 3: 3, 4: 4} and names == OWN_CLASSES


def test_bad_size_is_one_sentence() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        make_own_scene(0, 0, size=8)
