"""The bottom-up instance pipeline, its metrics, and the mask storage formats of lesson 05."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from course_utils.data import THINGS, make_scene
from course_utils.data import annotations as A
from course_utils.data.rle import rle_string_counts
from course_utils.metrics import instances as I
from course_utils.models import bottom_up as BU
from course_utils.train import bottom_up as train_bu


def test_boundary_target_rims_and_interiors():
    scene = make_scene(1, 9)
    target = BU.boundary_target(scene["masks"])
    objects = scene["masks"].any(0)
    assert torch.equal(target > 0, objects)  # every object pixel is interior or boundary, nothing else
    for mask in scene["masks"]:  # each object has both a core and a rim
        assert (target[mask] == BU.INTERIOR).any() and (target[mask] == BU.BOUNDARY).any()
    # the interiors of touching objects are apart: grouping a perfect map finds every object
    ids = BU.group_pixels(target, min_area=1)
    assert ids.max() == len(scene["masks"])
    grown, owners = torch.from_numpy(ids), set()
    for mask in scene["masks"]:
        owner = int(grown[mask].mode().values)
        owners.add(owner)
        assert owner > 0 and (grown[mask] == owner).float().mean() > 0.9
    assert len(owners) == len(scene["masks"])


def test_perfect_pixel_maps_separate_touching_objects():
    scenes = [make_scene(1, i) for i in range(40)]
    perfect, plain = [], []
    for s in scenes:
        ids = BU.group_pixels(BU.boundary_target(s["masks"]), min_area=6)
        perfect.append(BU._instances_from_ids(ids, s["semantic"].numpy(), None, None))
        plain.append(BU.semantic_instances(s["semantic"]))
    good, bad = I.separation_report(scenes, perfect), I.separation_report(scenes, plain)
    assert bad["touching"] > 20
    assert good["touching_recovered"] > 0.95 > 0.6 > bad["touching_recovered"]
    assert good["count_mae"] < bad["count_mae"]


def test_semantic_instances_merge_touching_same_class():
    masks = torch.zeros(2, 10, 10, dtype=torch.bool)
    masks[0, 2:6, 1:5] = True
    masks[1, 2:6, 5:9] = True  # touches the first one
    semantic = torch.full((10, 10), 1)
    semantic[masks.any(0)] = THINGS[0]
    inst = BU.semantic_instances(semantic)
    assert len(inst["labels"]) == 1 and inst["labels"][0] == THINGS[0]
    assert torch.equal(inst["boxes"][0], torch.tensor([1.0, 2.0, 9.0, 6.0]))
    assert I.touching_same_class(masks, torch.tensor([4, 4])).tolist() == [True, True]
    assert I.touching_same_class(masks, torch.tensor([4, 5])).tolist() == [False, False]
    assert not I.recovered(inst["masks"], inst["labels"], masks, torch.tensor([4, 4])).any()
    assert I.count_errors(inst["labels"], torch.tensor([4, 4]))[4] == -1


def test_bottom_up_model_shapes_and_instances():
    cfg = BU.BottomUpConfig(channels=(4, 4, 8, 8, 8))
    model = BU.build_bottom_up(cfg)
    from course_utils.models.fcn import build_fcn

    semantic = build_fcn(7, channels=(4, 4, 8, 8, 8))
    image = make_scene(1, 0)["image"]
    assert model(image[None]).shape == (1, 3, 128, 128)
    out = BU.bottom_up_instances(model, semantic, image)
    assert out["masks"].dtype == torch.bool and out["masks"].shape[1:] == (128, 128)
    assert len(out["masks"]) == len(out["labels"]) == len(out["scores"]) == len(out["boxes"])
    assert set(out["labels"].tolist()) <= set(THINGS)
    with pytest.raises(ValueError, match="one"):
        BU.bottom_up_instances(model, semantic, image[None])


@pytest.mark.slow
def test_bottom_up_overfits_a_few_scenes():
    torch.manual_seed(0)
    cfg = BU.BottomUpConfig(channels=(8, 16, 32, 32, 32))
    model = BU.build_bottom_up(cfg)
    data = BU.BoundaryDataset("train", 4)
    images = torch.stack([data[i][0] for i in range(4)])
    targets = torch.stack([data[i][1] for i in range(4)])
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    first = None
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(model(images), targets)
        first = first if first is not None else float(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.5 * first


@pytest.mark.slow
def test_train_bottom_up_smoke(tmp_path):
    cfg = train_bu.BottomUpTrainConfig(model=BU.BottomUpConfig(channels=(4, 8, 8, 8, 8)), num_train=8, num_val=4,
                                       num_epochs=1, batch_size=4, max_minutes=None)
    images, targets = train_bu.preload_boundary("train", 3, cfg.model)
    assert images.dtype == targets.dtype == torch.uint8 and targets.max() <= BU.BOUNDARY
    model, history, scores = train_bu.train_bottom_up(cfg, device="cpu", checkpoint=str(tmp_path / "bu.pt"),
                                                      live_plot=False, progress=False)
    assert {"iou_background", "iou_interior", "iou_boundary", "miou"} <= set(scores)
    loaded = train_bu.load_bottom_up(str(tmp_path / "bu.pt"))
    image = make_scene(1, 0)["image"][None]
    torch.testing.assert_close(loaded(image), model.cpu()(image))


# ---- storage formats -------------------------------------------------------------------------

def test_rle_round_trip_and_column_major_runs():
    for mask in make_scene(1, 3)["masks"]:
        rle = A.mask_to_rle(mask)
        assert np.array_equal(A.rle_to_mask(rle), mask.numpy())
        runs = A.rle_runs(mask)
        assert sum(runs) == mask.numel()
        assert runs == rle_string_counts(rle["counts"])  # the same runs the compressed string holds
    m = np.zeros((3, 2), np.uint8)
    m[0, 0] = m[1, 0] = m[1, 1] = 1  # read down the columns: 1 1 0 | 0 1 0
    assert A.rle_runs(m) == [0, 2, 2, 1, 1]


def test_polygons_round_trip_through_pycocotools():
    for mask in make_scene(1, 2)["masks"]:
        exact = A.mask_to_polygons(mask)
        back = A.polygons_to_mask(exact, 128, 128)
        assert np.array_equal(back, mask.numpy())  # outlines on pixel edges rasterise back exactly
        rough = A.mask_to_polygons(mask, tolerance=1.0)
        back = A.polygons_to_mask(rough, 128, 128).astype(bool)
        iou = (back & mask.numpy()).sum() / (back | mask.numpy()).sum()
        assert iou > 0.85 and sum(map(len, rough)) < sum(map(len, exact))
        rle = mask_utils.frPyObjects(exact, 128, 128)
        assert mask_utils.area(mask_utils.merge(rle)) == int(mask.sum())


def test_annotation_errors_are_readable():
    with pytest.raises(ValueError, match="2-D"):
        A.mask_to_rle(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="0/1"):
        A.mask_to_rle(np.full((3, 3), 255))
