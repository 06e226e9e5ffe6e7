"""COCO export, loading and validation, and the committed data/ sample."""

import contextlib
import copy
import filecmp
import io
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from course_utils.data import (
    CLASSES,
    CocoFormatError,
    CocoInstanceDataset,
    CocoValidationError,
    export_coco,
    instance_target,
    load_coco,
    make_scene,
    print_report,
    sample_dir,
    segmentation_to_mask,
    validate_coco,
    validate_or_raise,
    write_sample,
)
from course_utils.data.coco import SAMPLE_SPLITS, png_bytes, to_uint8
from course_utils.data.faults import EXTRA_PLANTABLE, fault_table, make_broken_copy
from course_utils.data.own_world import OWN_CATEGORIES, OWN_CLASSES, OWN_THINGS, make_own_scene
from course_utils.data.rle import rle_string_counts

SEED, LENGTH = 7, 6
pytestmark = [  # library deprecations unrelated to what is tested here
    pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("coco") / "ds"
    export_coco(out, split=SEED, length=LENGTH)
    return out


def _runs(mask: np.ndarray) -> list[int]:
    """Uncompressed COCO RLE counts of a (H, W) mask: column-major runs, starting with zeros."""
    flat = mask.flatten(order="F").astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    return ([0] + runs) if flat[0] == 1 else runs


# ---------------------------------------------------------------- export


def test_export_matches_make_scene_through_pycocotools(exported):
    coco = COCO(str(exported / "annotations.json"))
    assert sorted(coco.getImgIds()) == list(range(LENGTH))
    assert [c["id"] for c in coco.dataset["categories"]] == list(range(1, len(CLASSES)))
    for c in coco.dataset["categories"]:
        assert c["name"] == CLASSES[c["id"]] and c["isthing"] == int(c["supercategory"] == "thing")
    for index in range(LENGTH):
        scene = make_scene(SEED, index)
        info = coco.imgs[index]
        assert (info["file_name"], info["width"], info["height"]) == (f"{index:06d}.png", 128, 128)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[index]))
        assert len(anns) == len(scene["labels"]) > 0
        masks = np.stack([coco.annToMask(a) for a in anns])
        assert np.array_equal(masks, scene["masks"].numpy())
        xywh = torch.tensor([a["bbox"] for a in anns])
        assert torch.equal(torch.cat([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1), scene["boxes"])
        assert [a["category_id"] for a in anns] == scene["labels"].tolist()
        assert [a["area"] for a in anns] == scene["masks"].flatten(1).sum(1).tolist()
        assert all(a["iscrowd"] == 0 and isinstance(a["segmentation"]["counts"], str) for a in anns)
        # the PNG decodes to the rounded image with both libpng (torchvision) and Pillow
        data = torchvision.io.read_file(str(exported / "images" / info["file_name"]))
        expected = to_uint8(scene["image"])
        assert np.array_equal(torchvision.io.decode_png(data).permute(1, 2, 0).numpy(), expected)
        assert np.array_equal(np.asarray(Image.open(exported / "images" / info["file_name"])), expected)
    assert {a["id"] for a in coco.dataset["annotations"]} == set(range(1, len(coco.dataset["annotations"]) + 1))


def test_exported_ground_truth_scores_ap_1_against_itself(exported):
    coco = load_coco(exported)
    results = [{"image_id": a["image_id"], "category_id": a["category_id"], "segmentation": a["segmentation"],
                "score": 1.0} for a in coco.dataset["annotations"]]
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(coco, coco.loadRes(results), "segm")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    assert evaluator.stats[0] == pytest.approx(1.0) and evaluator.stats[1] == pytest.approx(1.0)


def test_export_is_reproducible_and_removes_stale_images(tmp_path, exported):
    export_coco(tmp_path, split=SEED, length=LENGTH)
    for path in sorted(exported.rglob("*")):
        if path.is_file():
            assert filecmp.cmp(path, tmp_path / path.relative_to(exported), shallow=False), path
    export_coco(tmp_path, split=SEED, length=2)
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["000000.png", "000001.png"]
    assert len(json.loads((tmp_path / "annotations.json").read_text())["images"]) == 2


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (100, 300)])  # 100x300 spans two stored deflate blocks
def test_png_bytes_decode_exactly(shape):
    rgb = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    data = png_bytes(rgb)
    assert np.array_equal(torchvision.io.decode_png(torch.frombuffer(bytearray(data), dtype=torch.uint8))
                          .permute(1, 2, 0).numpy(), rgb)


def test_rle_string_counts_matches_pycocotools():
    rng = np.random.default_rng(1)
    for _ in range(20):
        mask = rng.random((int(rng.integers(1, 40)), int(rng.integers(1, 40)))) < rng.random()
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert rle_string_counts(rle["counts"]) == _runs(mask)


# ---------------------------------------------------------------- loading


def test_dataset_gives_the_course_target(exported):
    ds = CocoInstanceDataset(exported)
    assert len(ds) == LENGTH and ds.num_classes == len(CLASSES) and ds.class_names == CLASSES
    assert ds.category_map == {i: i for i in range(1, len(CLASSES))}
    for index in range(LENGTH):
        image, target = ds[index]
        scene = make_scene(SEED, index)
        assert image.dtype == torch.float32 and image.shape == (3, 128, 128)
        assert (image - scene["image"]).abs().max() <= 0.5 / 255 + 1e-6
        expected = instance_target(scene, image_id=index)
        assert target["image_id"] == index
        for key in ("boxes", "labels", "masks", "area", "iscrowd"):
            assert target[key].dtype == expected[key].dtype and torch.equal(target[key], expected[key]), key


def test_loader_reads_uncompressed_rle(exported, tmp_path):
    data = json.loads((exported / "annotations.json").read_text())
    for ann in data["annotations"]:
        mask = mask_utils.decode(ann["segmentation"])
        ann["segmentation"] = {"size": [128, 128], "counts": _runs(mask)}
    shutil.copytree(exported / "images", tmp_path / "images")
    (tmp_path / "annotations.json").write_text(json.dumps(data))
    assert validate_coco(tmp_path) == []
    a, b = CocoInstanceDataset(exported), CocoInstanceDataset(tmp_path)
    for index in range(LENGTH):
        assert torch.equal(a[index][1]["masks"], b[index][1]["masks"])


def _polygon_dataset(root: Path) -> Path:
    """Three images (grey, RGBA, 16-bit grey) with polygon annotations and foreign category ids."""
    (root / "imgs").mkdir(parents=True)
    Image.fromarray(np.full((20, 30), 200, np.uint8), mode="L").save(root / "imgs" / "grey.png")
    Image.fromarray(np.full((20, 30, 4), 100, np.uint8), mode="RGBA").save(root / "imgs" / "rgba.png")
    Image.fromarray(np.full((20, 30), 65535, np.uint16)).save(root / "imgs" / "deep.png")
    data = {
        "images": [{"id": 10, "file_name": "grey.png", "width": 30, "height": 20},
                   {"id": 11, "file_name": "rgba.png", "width": 30, "height": 20},
                   {"id": 12, "file_name": "deep.png", "width": 30, "height": 20}],
        "categories": [{"id": 17, "name": "cat"}, {"id": 42, "name": "dog"}],
        "annotations": [
            {"id": 1, "image_id": 10, "category_id": 42, "bbox": [2, 3, 10, 5], "area": 50, "iscrowd": 0,
             "segmentation": [[2, 3, 12, 3, 12, 8, 2, 8]]},
            {"id": 2, "image_id": 10, "category_id": 17, "bbox": [1, 2, 24, 16], "area": 79, "iscrowd": 0,
             "segmentation": [[15, 2, 25, 2, 20, 16], [1, 15, 4, 15, 4, 18, 1, 18]]},  # two parts
            {"id": 3, "image_id": 11, "category_id": 17, "bbox": [0, 0, 30, 20], "area": 600, "iscrowd": 0,
             "segmentation": [[0, 0, 30, 0, 30, 20, 0, 20]]},
        ],
    }
    path = root / "instances.json"
    path.write_text(json.dumps(data))
    return path


def test_loader_reads_polygons_foreign_ids_and_image_modes(tmp_path):
    ann_file = _polygon_dataset(tmp_path)
    assert validate_coco(ann_file, image_root=tmp_path / "imgs") == []
    ds = CocoInstanceDataset(tmp_path / "imgs", annotation_file=ann_file)
    assert ds.category_map == {17: 1, 42: 2} and ds.class_names == ["background", "cat", "dog"]
    assert ds.num_classes == 3 and ds.label_to_category == {1: 17, 2: 42}
    coco = COCO(str(ann_file))
    image, target = ds[0]
    assert image.shape == (3, 20, 30) and torch.allclose(image, torch.full_like(image, 200 / 255))
    assert target["labels"].tolist() == [2, 1] and target["image_id"] == 10
    assert torch.equal(target["boxes"], torch.tensor([[2.0, 3, 12, 8], [1, 2, 25, 18]]))
    expected = np.stack([coco.annToMask(a) for a in coco.loadAnns([1, 2])])
    assert target["masks"].dtype == torch.uint8 and np.array_equal(target["masks"].numpy(), expected)
    assert target["masks"][1, 15:18, 1:4].all()  # the second polygon of annotation 2
    image, target = ds[1]  # RGBA: alpha dropped
    assert torch.allclose(image, torch.full_like(image, 100 / 255)) and int(target["masks"].sum()) == 600
    image, target = ds[2]  # 16-bit grey, no annotations: empty targets of the right shapes
    assert torch.allclose(image, torch.ones_like(image))
    assert target["boxes"].shape == (0, 4) and target["boxes"].dtype == torch.float32
    assert target["labels"].shape == (0,) and target["labels"].dtype == torch.int64
    assert target["masks"].shape == (0, 20, 30) and target["masks"].dtype == torch.uint8
    assert target["area"].shape == (0,) and target["iscrowd"].shape == (0,)


def test_category_map_modes(tmp_path):
    ann_file = _polygon_dataset(tmp_path)
    ds = CocoInstanceDataset(tmp_path / "imgs", annotation_file=ann_file, category_map="identity")
    assert ds.num_classes == 43 and ds[0][1]["labels"].tolist() == [42, 17]
    with pytest.warns(UserWarning, match="skipping 2 annotations"):
        ds = CocoInstanceDataset(tmp_path / "imgs", annotation_file=ann_file, category_map={42: 1})
    assert ds.class_names == ["background", "dog"] and ds[0][1]["labels"].tolist() == [1]
    with pytest.raises(ValueError, match="undeclared"):
        CocoInstanceDataset(tmp_path / "imgs", annotation_file=ann_file, category_map={5: 1})


def test_segmentation_to_mask_refuses_a_bad_rle_instead_of_crashing():
    too_long = mask_utils.encode(np.asfortranarray(np.ones((20, 20), np.uint8)))["counts"].decode()
    with pytest.raises(ValueError, match="cover 400 pixels"):
        segmentation_to_mask({"size": [10, 10], "counts": too_long}, 10, 10)
    with pytest.raises(ValueError, match="10x10"):
        segmentation_to_mask({"size": [10, 10], "counts": [100]}, 20, 20)
    with pytest.raises(ValueError, match="polygon"):
        segmentation_to_mask([[1, 2, 3, 4]], 10, 10)


# ---------------------------------------------------------------- validation


def _first_ann(data):
    return data["annotations"][1]  # id 2


def _set(key, value):
    def mutate(data):
        _first_ann(data)[key] = copy.deepcopy(value)
    return mutate


def _del_key(data):
    del _first_ann(data)["bbox"]


def _duplicate(data):
    data["annotations"][2]["id"] = 2


def _polygon_off_the_edge(data):
    _first_ann(data).update(segmentation=[[100, 100, 140, 100, 120, 120]], bbox=[100.0, 100.0, 28.0, 20.0])


def _empty_rle():
    return {"size": [128, 128], "counts": mask_utils.encode(np.zeros((128, 128), np.uint8, order="F"))["counts"]
            .decode()}


# (kind, mutation, annotation id named, image id named)
ANNOTATION_FAULTS = [
    ("unknown-category", _set("category_id", 9), 2, 1),
    ("background-category", _set("category_id", 0), 2, 1),
    ("empty-mask", _set("segmentation", _empty_rle()), 2, 1),
    ("mask-outside-image", _set("segmentation", {"size": [64, 64], "counts": [4096]}), 2, 1),
    ("mask-outside-image", _polygon_off_the_edge, 2, 1),
    ("bad-segmentation", _set("segmentation", {"size": [128, 128], "counts": [5, 3]}), 2, 1),
    ("box-outside-image", _set("bbox", [100.0, 100.0, 40.0, 10.0]), 2, 1),
    ("box-mask-mismatch", _set("bbox", [0.0, 0.0, 20.0, 20.0]), 2, 1),
    ("degenerate-box", _set("bbox", [10.0, 10.0, 0.0, 5.0]), 2, 1),
    ("degenerate-box", _set("bbox", [10.0, 10.0, 5.0, -3.0]), 2, 1),
    ("bad-box", _set("bbox", [1, 2, 3]), 2, 1),
    ("missing-image-record", _set("image_id", 999), 2, 999),
    ("missing-key", _del_key, 2, None),
    ("duplicate-id", _duplicate, 2, None),
    ("bad-value", _set("iscrowd", 5), 2, 1),
    ("bad-value", _set("iscrowd", True), 2, 1),
    ("bad-value", _set("iscrowd", 1.0), 2, 1),
    ("bad-id", _set("id", 0), 0, 1),
    ("bad-id", _set("id", -4), -4, 1),
    ("bad-area", _set("area", 0), 2, 1),
    ("bad-area", _set("area", -12.5), 2, 1),
    ("bad-area", _set("area", "720"), 2, 1),
    ("bad-area", _set("area", None), 2, 1),
    ("bad-area", _set("area", 128 * 128 + 1), 2, 1),
    ("area-mismatch", lambda d: _first_ann(d).update(area=_first_ann(d)["area"] * 3), 2, 1),
    ("area-mismatch", lambda d: _first_ann(d).update(area=_first_ann(d)["area"] / (128 * 128)), 2, 1),
]


def _broken_copy(src: Path, dst: Path, mutate=None) -> Path:
    shutil.copytree(src, dst)
    if mutate is not None:
        data = json.loads((dst / "annotations.json").read_text())
        mutate(data)
        (dst / "annotations.json").write_text(json.dumps(data))
    return dst


def test_clean_file_passes_silently(exported, capsys):
    assert validate_coco(exported) == []
    assert validate_coco(exported / "annotations.json") == []
    validate_or_raise(exported)
    assert capsys.readouterr().out == ""
    print_report(exported)
    assert "No faults found" in capsys.readouterr().out


@pytest.mark.parametrize("kind, mutate, ann_id, image_id", ANNOTATION_FAULTS,
                         ids=[f"{k}-{i}" for i, (k, *_) in enumerate(ANNOTATION_FAULTS)])
def test_each_annotation_fault_is_named(exported, tmp_path, kind, mutate, ann_id, image_id):
    assert _first_ann(json.loads((exported / "annotations.json").read_text()))["image_id"] == 1
    faults = validate_coco(_broken_copy(exported, tmp_path / "ds", mutate))
    assert [f.kind for f in faults] == [kind], faults
    fault = faults[0]
    assert (fault.annotation_id, fault.image_id) == (ann_id, image_id)
    assert str(fault).startswith(f"[{kind}] annotation {ann_id}")
    assert fault.message.endswith(".") and fault.message.count("; ") >= 1  # what is wrong; what to do


def test_image_faults_are_named(exported, tmp_path):
    root = _broken_copy(exported, tmp_path / "ds")
    (root / "images" / "000001.png").unlink()
    Image.new("RGB", (64, 32)).save(root / "images" / "000002.png")
    (root / "images" / "000003.png").write_bytes(b"not a png")
    faults = validate_coco(root)
    assert [(f.kind, f.image_id) for f in faults] == [
        ("missing-image-file", 1), ("image-size-mismatch", 2), ("unreadable-image", 3)]
    assert "64x32" in faults[1].message and "128x128" in faults[1].message
    all_gone = validate_coco(root, image_root=tmp_path)  # the wrong folder: one fault, not one per image
    assert [f.kind for f in all_gone] == ["missing-image-file"] and "none of the 6" in all_gone[0].message


def test_every_fault_is_reported_at_once(exported, tmp_path):
    def mutate(data):
        data["annotations"][0]["category_id"] = 0
        data["annotations"][1]["bbox"][2] = 0.0
        data["annotations"][2]["image_id"] = 77
        data["images"][3]["id"] = data["images"][2]["id"]
    faults = validate_coco(_broken_copy(exported, tmp_path / "ds", mutate))
    assert {(f.kind, f.annotation_id, f.image_id) for f in faults} >= {
        ("background-category", 1, 0), ("degenerate-box", 2, 1), ("missing-image-record", 3, 77),
        ("duplicate-id", None, 2)}
    with pytest.raises(CocoValidationError, match="background-category") as info:
        validate_or_raise(tmp_path / "ds")
    assert info.value.faults == faults


def test_missing_top_level_key(exported, tmp_path):
    faults = validate_coco(_broken_copy(exported, tmp_path / "ds", lambda d: d.pop("annotations")))
    assert [f.kind for f in faults] == ["missing-key"] and '"annotations"' in faults[0].message


def test_bad_json_gives_a_clear_message(tmp_path):
    path = tmp_path / "annotations.json"
    path.write_text('{"images": [],\n "annotations": [}')
    faults = validate_coco(path)
    assert [f.kind for f in faults] == ["malformed-json"] and "line 2" in faults[0].message
    with pytest.raises(CocoFormatError, match="not valid JSON") as info:
        load_coco(path)
    assert info.value.__cause__ is None and info.value.__context__ is None  # no chained traceback
    with pytest.raises(CocoFormatError, match="not valid JSON"):
        CocoInstanceDataset(tmp_path)
    assert [f.kind for f in validate_coco(tmp_path / "nope.json")] == ["missing-file"]
    path.write_text("[1, 2]")
    assert "not an object" in validate_coco(path)[0].message


# ---------------------------------------------------------------- the committed sample


def test_write_sample_reproduces_committed_data_byte_for_byte(tmp_path):
    committed = sample_dir()
    assert (committed / "README.md").is_file(), "data/ is missing: run python -m course_utils make-data"
    write_sample(tmp_path / "data")
    ours = sorted(p.relative_to(tmp_path / "data") for p in (tmp_path / "data").rglob("*") if p.is_file())
    theirs = sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    assert ours == theirs
    different = [str(p) for p in ours if not filecmp.cmp(tmp_path / "data" / p, committed / p, shallow=False)]
    assert different == []


def test_committed_sample_is_clean_and_loads():
    total = 0
    for split, n in (("train", 48), ("val", 24)):
        assert validate_coco(sample_dir() / split) == []
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ds = CocoInstanceDataset(sample_dir() / split)
        assert len(ds) == n and ds.class_names == OWN_CLASSES  # the dataset's own categories, not the course's
        assert ds.category_map == {c["id"]: c["id"] for c in OWN_CATEGORIES}
        total += sum(len(ds.annotations(i)) for i in range(len(ds)))
    size = sum(p.stat().st_size for p in sample_dir().rglob("*") if p.is_file())
    assert size < 5_000_000 and total > 72


def test_committed_sample_is_the_shifted_world():
    """Every split holds ``make_own_scene`` scenes of its seed: same pixels (to 8 bits), masks, labels and boxes."""
    for split, (seed, n) in SAMPLE_SPLITS.items():
        ds = CocoInstanceDataset(sample_dir() / split)
        assert len(ds) == n
        for i in (0, n - 1):
            scene = make_own_scene(seed, i)
            image, target = ds[i]
            assert torch.equal(torch.from_numpy(to_uint8(image)), torch.from_numpy(to_uint8(scene["image"])))
            assert torch.equal(target["masks"].bool(), scene["masks"])
            assert torch.equal(target["labels"], scene["labels"]) and torch.equal(target["boxes"], scene["boxes"])
        labels = {int(c) for i in range(n) for c in ds[i][1]["labels"]}
        assert labels == set(OWN_THINGS), f"{split}: every category, the new star included, has objects"


def test_dataset_skips_untrainable_annotations_and_names_bad_files(exported, tmp_path):
    root = _broken_copy(exported, tmp_path / "ds", _set("bbox", [10.0, 10.0, 0.0, 5.0]))
    (root / "images" / "000003.png").unlink()
    with pytest.warns(UserWarning, match="1 with a degenerate box"):
        ds = CocoInstanceDataset(root)
    assert 2 not in [a["id"] for a in ds.annotations(1)]
    assert len(ds[1][1]["labels"]) == len(make_scene(SEED, 1)["labels"]) - 1
    with pytest.raises(FileNotFoundError, match="image 3: 000003.png is not in"):
        ds[3]


@pytest.mark.parametrize("mutate, kind", [(lambda d: d["images"][0].pop("width"), "missing-key"),
                                          (lambda d: d["images"][0].update(width=0), "bad-value"),
                                          (lambda d: d["images"][0].update(width=-128), "bad-value"),
                                          (lambda d: d["images"][0].update(height=128.0), "bad-value"),
                                          (lambda d: d["images"][0].update(height="128"), "bad-value")])
def test_a_broken_image_record_is_one_fault_not_one_per_annotation(exported, tmp_path, mutate, kind):
    faults = validate_coco(_broken_copy(exported, tmp_path / "ds", mutate))
    assert [(f.kind, f.image_id, f.annotation_id) for f in faults] == [(kind, 0, None)]


def _renumber_image_0(data):
    data["images"][0]["id"] = -1
    for ann in data["annotations"]:
        if ann["image_id"] == 0:
            ann["image_id"] = -1


def test_ids_outside_their_range_are_named(exported, tmp_path):
    faults = validate_coco(_broken_copy(exported, tmp_path / "a", _renumber_image_0))
    assert [(f.kind, f.image_id, f.annotation_id) for f in faults] == [("bad-id", -1, None)]
    assert "-1" in faults[0].message and ">= 0" in faults[0].message

    def declare_void(data):
        data["categories"].append({"id": 0, "name": "void", "supercategory": "stuff"})
        data["categories"].append({"id": -2, "name": "odd", "supercategory": "thing"})
    faults = validate_coco(_broken_copy(exported, tmp_path / "b", declare_void))
    assert [f.kind for f in faults] == ["bad-id", "bad-id"]
    assert "'void'" in faults[0].message and "'odd'" in faults[1].message and "-2" in faults[1].message


def test_the_range_checks_leave_a_real_area_alone(exported, tmp_path):
    def fractional_areas(data):  # polygon tools write fractional areas: a number in range is fine
        for ann in data["annotations"]:
            ann["area"] = ann["area"] - 0.25
        data["annotations"][0].pop("area")  # area is optional
    assert validate_coco(_broken_copy(exported, tmp_path / "ds", fractional_areas)) == []


def test_the_range_faults_can_be_planted(tmp_path):
    copy_dir, planted = make_broken_copy(sample_dir() / "train", tmp_path / "broken", faults=EXTRA_PLANTABLE)
    faults = validate_coco(copy_dir)
    assert sorted(f.kind for f in faults) == ["bad-area", "bad-id"]
    assert {(b.kind, b.annotation_id) for b in planted} == {(f.kind, f.annotation_id) for f in faults}
    assert "MISSED" not in fault_table(planted, faults)
