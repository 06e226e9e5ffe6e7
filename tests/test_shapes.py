"""The shapes world: determinism, consistency of every label view, colour is not class."""

from collections import defaultdict

import pytest
import torch

from course_utils.data import (
    CLASSES,
    LABEL_DIVISOR,
    NUM_CLASSES,
    STUFF,
    THING_COLOURS,
    THINGS,
    VOID,
    InstanceDataset,
    PanopticDataset,
    PixelDataset,
    SemanticDataset,
    collate,
    make_scene,
    pixel_features,
)

SCENES = [make_scene(3, i) for i in range(40)]


def _same(a: dict, b: dict) -> bool:
    for key, value in a.items():
        other = b[key]
        if isinstance(value, torch.Tensor):
            if value.dtype != other.dtype or not torch.equal(value, other):
                return False
        elif value != other:
            return False
    return True


def test_same_seed_and_index_give_the_same_scene_in_any_order():
    forward = [make_scene(5, i) for i in range(12)]
    backward = [make_scene(5, i) for i in reversed(range(12))][::-1]
    for a, b in zip(forward, backward):
        assert _same(a, b)
    assert _same(make_scene(5, 7), forward[7])
    assert not torch.equal(make_scene(5, 7)["image"], make_scene(6, 7)["image"])


def test_fields_types_and_shapes():
    s = make_scene(0, 0, size=96)
    assert s["image"].shape == (3, 96, 96) and s["image"].dtype == torch.float32
    assert 0 <= float(s["image"].min()) and float(s["image"].max()) <= 1
    n = len(s["labels"])
    assert s["semantic"].shape == (96, 96) and s["semantic"].dtype == torch.int64
    assert s["masks"].shape == (n, 96, 96) and s["masks"].dtype == torch.bool
    assert s["boxes"].shape == (n, 4) and s["boxes"].dtype == torch.float32
    assert s["labels"].dtype == torch.int64 and s["panoptic"].dtype == torch.int64
    assert {"id", "category_id", "isthing"} <= set(s["segments"][0])


def test_class_ids_are_defined_once_and_consistently():
    assert len(CLASSES) == NUM_CLASSES and CLASSES[VOID] == "void"
    assert set(STUFF).isdisjoint(THINGS) and sorted(STUFF + THINGS) == list(range(1, NUM_CLASSES))


@pytest.mark.parametrize("scene", SCENES[:20], ids=lambda s: f"scene{s['index']}")
def test_views_agree(scene):
    masks, labels, boxes = scene["masks"], scene["labels"], scene["boxes"]
    semantic, panoptic = scene["semantic"], scene["panoptic"]
    assert 1 <= len(labels) <= 6
    # visible masks never overlap and none is empty
    assert int(masks.sum(0).max()) <= 1
    assert bool(masks.flatten(1).any(1).all())
    # ground truth never uses void
    assert int((semantic == VOID).sum()) == 0 and int((panoptic == 0).sum()) == 0
    for m, c, b in zip(masks, labels, boxes):
        assert int(c) in THINGS
        # the object's pixels carry its class in the semantic map
        assert bool((semantic[m] == c).all())
        # the box is tight: first and last occupied row/column (+1 at the far edge)
        ys, xs = torch.nonzero(m, as_tuple=True)
        assert b.tolist() == [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]
    # thing pixels in the semantic map are exactly the union of the masks
    thing_pixels = torch.isin(semantic, torch.tensor(THINGS))
    assert torch.equal(thing_pixels, masks.any(0))
    # panoptic: class part equals the semantic map, each segment listed once with the right area
    assert torch.equal(panoptic // LABEL_DIVISOR, semantic)
    ids = sorted(int(i) for i in torch.unique(panoptic))
    seg_ids = sorted(seg["id"] for seg in scene["segments"])
    assert ids == seg_ids
    for seg in scene["segments"]:
        region = panoptic == seg["id"]
        assert seg["area"] == int(region.sum())
        assert seg["category_id"] == seg["id"] // LABEL_DIVISOR
        assert seg["isthing"] == (seg["category_id"] in THINGS)
    thing_segments = [seg for seg in scene["segments"] if seg["isthing"]]
    assert len(thing_segments) == len(labels)
    for seg, m in zip(thing_segments, masks):
        assert torch.equal(panoptic == seg["id"], m)


def test_every_thing_class_comes_in_every_colour():
    seen = defaultdict(set)
    for i in range(300):
        s = make_scene(11, i)
        for c, col in zip(s["labels"].tolist(), s["colours"].tolist()):
            seen[c].add(tuple(round(v, 3) for v in col))
    palette = {tuple(round(v, 3) for v in col) for col in THING_COLOURS}
    for c in THINGS:
        assert seen[c] == palette, f"class {CLASSES[c]} misses colours {palette - seen[c]}"


def test_the_pixel_colour_of_an_object_does_not_name_its_class():
    """A colour-only rule fails: the mean pixel colour of each class's objects is nearly the same."""
    per_class = defaultdict(list)
    for i in range(300):
        s = make_scene(12, i)
        for c, col in zip(s["labels"].tolist(), s["colours"]):
            per_class[c].append(col)
    means = torch.stack([torch.stack(per_class[c]).mean(0) for c in THINGS])
    assert float((means - means.mean(0)).abs().max()) < 0.06


def test_touching_objects_are_common_also_within_one_class():
    touching = same_class = 0
    for s in SCENES:
        m, labels = s["masks"], s["labels"]
        if len(m) < 2:
            continue
        grown = torch.nn.functional.max_pool2d(m[:, None].float(), 3, 1, 1)[:, 0] > 0  # 1 px dilation
        pairs = (grown[:, None] & m[None]).flatten(2).any(2)  # (N, N) touches
        pairs.fill_diagonal_(False)
        touching += bool(pairs.any())
        same_class += bool((pairs & (labels[:, None] == labels[None])).any())
    assert touching >= 15, f"only {touching} of {len(SCENES)} scenes have touching objects"
    assert same_class >= 6, f"only {same_class} of {len(SCENES)} scenes have same-class touching objects"


def test_other_sizes_scale_objects():
    s = make_scene(0, 3, size=64)
    assert s["image"].shape == (3, 64, 64)
    big = make_scene(0, 3, size=320)
    assert big["image"].shape == (3, 320, 320) and int(big["masks"].sum(0).max()) <= 1


def test_datasets_and_collate():
    img, sem = SemanticDataset("val", 4)[1]
    assert img.shape == (3, 128, 128) and sem.shape == (128, 128)
    feats, labels = PixelDataset("train", 2, pixels=100, with_coords=True)[0]
    assert feats.shape == (100, 5) and labels.shape == (100,)
    assert torch.equal(PixelDataset("train", 2, pixels=100)[1][1], PixelDataset("train", 2, pixels=100)[1][1])
    image, target = InstanceDataset("train", 3)[2]
    assert target["masks"].dtype == torch.uint8 and target["boxes"].shape[1] == 4
    assert target["labels"].dtype == torch.int64 and target["image_id"] == 2
    images, targets = collate([InstanceDataset("train", 3)[i] for i in range(3)])
    assert len(images) == 3 and isinstance(targets[0], dict)
    _, pan = PanopticDataset("val", 2)[0]
    assert pan["panoptic"].shape == (128, 128) and pan["segments"]
    with pytest.raises(IndexError):
        SemanticDataset("val", 4)[4]
    with pytest.raises(ValueError, match="unknown split"):
        SemanticDataset("validation", 4)
    f = pixel_features(torch.rand(2, 3, 5, 7), with_coords=True)
    assert f.shape == (2, 5, 5, 7) and float(f[0, 3, -1, 0]) == 1.0 and float(f[0, 4, 0, -1]) == 1.0
