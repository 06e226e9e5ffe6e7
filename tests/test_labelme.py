"""labelme files: every shape type, group_id, broken files, conversion to COCO and back, polygon costs."""

from __future__ import annotations

import base64
import io
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from course_utils.data.coco import sample_dir, validate_coco
from course_utils.data.labelme import (
    LabelmeError,
    LabelmeWarning,
    labelme_image,
    labelme_instances,
    read_labelme,
    shape_to_mask,
)
from course_utils.data.labelme_coco import coco_to_labelme, labelme_to_coco
from course_utils.data.polygons import (
    contours,
    mask_iou,
    mask_to_polygons,
    polygons_to_mask,
    simplification_cost,
    storage_sizes,
)
from course_utils.data.rle import rle_to_mask

H, W = 16, 20
VAL = sample_dir() / "val"
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _picture(h: int = H, w: int = W) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)  # (H, W, 3)


def _shape(label, shape_type, points, group_id=None, **extra) -> dict:
    return {"label": label, "points": points, "group_id": group_id, "shape_type": shape_type, "flags": {},
            "description": "", **extra}


MASK_PATCH = np.array([[1, 0, 1], [1, 1, 0]], bool)  # (2, 3) the pixels of the "mask" shape inside its box
SHAPES = [
    _shape("square", "polygon", [[1, 1], [5, 1], [5, 4], [1, 4]]),
    _shape("box", "rectangle", [[8, 7], [2, 3]]),  # corners in any order
    _shape("ball", "circle", [[14, 8], [14, 11]]),
    _shape("blob", "mask", [[4, 12], [6, 13]], mask=_b64(_png(MASK_PATCH))),
    _shape("tip", "point", [[3, 3]]),
    _shape("edge", "line", [[0, 0], [5, 5]]),
    _shape("trail", "linestrip", [[0, 0], [5, 5], [9, 2]]),
    _shape("dots", "points", [[1, 1], [2, 2]]),
]


def _write(path: Path, shapes: list[dict], embed: bool = True, image_name: str = "frame.png", **override) -> Path:
    """A labelme file (and, when not embedded, its image beside it)."""
    raw = _png(_picture())
    if not embed:
        (path.parent / image_name).write_bytes(raw)
    doc = {"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": image_name,
           "imageData": _b64(raw) if embed else None, "imageHeight": H, "imageWidth": W, **override}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_every_area_shape_type_rasterises(tmp_path):
    lf = read_labelme(_write(tmp_path / "frame.json", SHAPES))
    assert (lf.height, lf.width, len(lf.shapes)) == (H, W, len(SHAPES))
    square, box, ball, blob = (shape_to_mask(s, H, W) for s in lf.shapes[:4])
    expected = np.zeros((H, W), bool)
    expected[1:4, 1:5] = True  # x 1..5, y 1..4: pixel columns 1-4, rows 1-3
    assert (square == expected).all()
    expected = np.zeros((H, W), bool)
    expected[3:7, 2:8] = True
    assert (box == expected).all()
    poly = mask_utils.frPyObjects([[1.0, 2.0, 9.0, 3.0, 4.0, 11.0]], H, W)
    tri = read_labelme(_write(tmp_path / "tri.json", [_shape("t", "polygon", [[1, 2], [9, 3], [4, 11]])])).shapes[0]
    assert (shape_to_mask(tri, H, W) == mask_utils.decode(poly)[..., 0].astype(bool)).all()  # pycocotools' pixels
    assert ball[8, 14] and ball[10, 13] and not ball[8, 10] and not ball[12, 14]  # radius 3 around (14, 8)
    assert abs(int(ball.sum()) - np.pi * 9) < 4
    expected = np.zeros((H, W), bool)
    expected[12:14, 4:7] = MASK_PATCH
    assert (blob == expected).all()
    with pytest.raises(ValueError, match="no area"):
        shape_to_mask(lf.shapes[4], H, W)


def test_embedded_and_external_images_are_found(tmp_path):
    inner = labelme_image(read_labelme(_write(tmp_path / "a.json", SHAPES[:1])))
    (tmp_path / "pics").mkdir()
    outer = labelme_image(read_labelme(_write(tmp_path / "pics" / "b.json", SHAPES[:1], embed=False)))
    assert (np.asarray(inner) == _picture()).all() and (np.asarray(outer) == _picture()).all()
    windows = _write(tmp_path / "c.json", SHAPES[:1], embed=False, image_name="pics\\frame.png")
    (tmp_path / "pics\\frame.png").unlink()  # on Linux _write made a file of that name: only pics/frame.png stays
    assert (np.asarray(labelme_image(read_labelme(windows))) == _picture()).all()  # a path saved on Windows
    Image.new("RGB", (W, H + 1)).save(tmp_path / "pics" / "frame.png")
    with pytest.raises(LabelmeError, match=r"b\.json: the image is 20x17 but imageWidth x imageHeight say 20x16;"):
        labelme_image(read_labelme(tmp_path / "pics" / "b.json"))
    with pytest.raises(LabelmeError, match=r"b\.json: frame\.png is 20x17 but imageWidth x imageHeight say 20x16;"):
        labelme_to_coco(tmp_path / "pics", tmp_path / "coco")
    (tmp_path / "pics" / "frame.png").unlink()
    with pytest.raises(LabelmeError, match=r"b\.json: imagePath 'frame\.png' is not a file"):
        labelme_image(read_labelme(tmp_path / "pics" / "b.json"))


def test_shapes_sharing_a_group_id_are_one_object(tmp_path):
    left, right = [[1, 1], [4, 1], [4, 4], [1, 4]], [[10, 1], [14, 1], [14, 4], [10, 4]]
    shapes = [_shape("cat", "polygon", left, 7), _shape("cat", "rectangle", [[10, 1], [14, 4]], 7),
              _shape("dog", "polygon", right, 7),  # same group_id, other label: another object
              _shape("cat", "polygon", left), _shape("cat", "polygon", right)]  # no group_id: one object each
    objects, skipped = labelme_instances(read_labelme(_write(tmp_path / "g.json", shapes)))
    assert [(o.label, o.shapes) for o in objects] == [("cat", [0, 1]), ("dog", [2]), ("cat", [3]), ("cat", [4])]
    assert int(objects[0].mask.sum()) == 9 + 12 and skipped == []


def test_shapes_without_area_are_skipped_with_a_sentence(tmp_path):
    path = _write(tmp_path / "frame_07.json", SHAPES)
    objects, skipped = labelme_instances(read_labelme(path))
    assert [o.label for o in objects] == ["square", "box", "ball", "blob"]
    assert skipped[0] == "frame_07.json, shape 4 ('tip', point): a point has no area, so it is no object; skipped."
    assert len(skipped) == 4
    with pytest.warns(LabelmeWarning, match=r"left out 4 shapes .* shape 4 \('tip', point\)"):
        labelme_to_coco(path, tmp_path / "coco")


def _set_key(key, value):
    def edit(doc):
        doc[key] = value
    return edit


def _set_shape(key, value):
    def edit(doc):
        doc["shapes"][2][key] = value
    return edit


BROKEN = [  # (edit of a good file, what the message must say)
    (_set_shape("points", [[1, 1], [5, 5]]),
     "frame_03.json, shape 2 ('cat', polygon): a polygon needs at least 3 points, it has 2."),
    (_set_shape("shape_type", "rectangle"),  # three points
     "frame_03.json, shape 2 ('cat', rectangle): a rectangle (two corners) needs 2 points, it has 3."),
    (_set_shape("shape_type", "circle"),
     "frame_03.json, shape 2 ('cat', circle): a circle (its centre and a point on it) needs 2 points, it has 3."),
    (lambda d: d["shapes"][2].update(shape_type="mask", points=[[1, 1], [3, 3]], mask="bm90IGEgcG5n"),
     "frame_03.json, shape 2 ('cat', mask), its mask: the base64 text does not decode to an image file"),
    (lambda d: d["shapes"][2].update(shape_type="mask", points=[[1, 1], [3, 3]], mask=_b64(_png(MASK_PATCH))),
     "frame_03.json, shape 2 ('cat', mask): its mask PNG is 3x2 pixels but its box holds 3x3 (width x height)"),
    (lambda d: d["shapes"][2].update(shape_type="mask", points=[[1, 1], [3, 3]]),
     "frame_03.json, shape 2 ('cat', mask): a mask shape needs its \"mask\" PNG"),
    (_set_shape("shape_type", "ellipse"), "frame_03.json, shape 2 ('cat', ellipse): shape_type 'ellipse' is not"),
    (_set_shape("shape_type", ["polygon"]), "frame_03.json, shape 2 ('cat', ['polygon']): shape_type ['polygon'] is"),
    (_set_shape("points", [[1, 1, 2], [5, 5, 2], [3, 3, 3]]),
     "frame_03.json, shape 2 ('cat', polygon): points must be a list of [x, y] pairs"),
    (_set_shape("group_id", "a"), "frame_03.json, shape 2 ('cat', polygon): group_id is 'a'"),
    (lambda d: d["shapes"][2].pop("label"), "frame_03.json, shape 2 (None, polygon): a shape needs a text"),
    (lambda d: d.pop("imageHeight"), "frame_03.json has no 'imageHeight'"),
    (_set_key("imageWidth", 40), "frame_03.json: the embedded image is 20x16 but imageWidth x imageHeight say 40x16"),
    (_set_key("imageData", "%%%"), "frame_03.json, imageData: the base64 text does not decode to an image file"),
    (_set_key("imageHeight", 0), "frame_03.json: imageHeight 0 and imageWidth 20 must be positive integers."),
]


@pytest.mark.parametrize("edit, message", BROKEN, ids=[f"broken-{i}" for i in range(len(BROKEN))])
def test_a_broken_file_names_the_file_and_the_shape(tmp_path, edit, message):
    good = [SHAPES[0], SHAPES[1], _shape("cat", "polygon", [[1, 1], [5, 5], [1, 5]]), SHAPES[3]]
    path = _write(tmp_path / "frame_03.json", good)
    read_labelme(path)  # the good file reads
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(LabelmeError) as info:
        read_labelme(path)
    text = str(info.value)
    assert text.startswith(message), text
    assert text.endswith(".") and "\n" not in text and not re.search(r"\.\s+[A-Z]", text)  # one sentence
    err = info.value  # no chained traceback
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)
    with pytest.raises(LabelmeError):  # the converter stops with the same sentence
        labelme_to_coco(tmp_path, tmp_path / "coco")


def test_a_file_that_is_not_json(tmp_path):
    (tmp_path / "notes.json").write_text("{\"shapes\": [,]}")
    with pytest.raises(LabelmeError, match=r"^notes\.json is not valid JSON \(.* at line 1\);"):
        read_labelme(tmp_path / "notes.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(LabelmeError, match=r"list\.json holds a list, not a labelme object"):
        read_labelme(tmp_path / "list.json")


def test_labelme_to_coco_writes_a_clean_dataset(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _write(src / "a.json", SHAPES[:4])
    _write(src / "b.json", [_shape("ball", "circle", [[5, 5], [5, 8]]), _shape("box", "rectangle", [[0, 0], [3, 3]])],
           embed=False, image_name="b_photo.png")
    ann = labelme_to_coco(src, tmp_path / "coco")
    assert validate_coco(ann) == []
    data = json.loads(ann.read_text())
    assert data["categories"] == [{"id": i + 1, "name": n, "supercategory": "thing"}
                                  for i, n in enumerate(["ball", "blob", "box", "square"])]
    assert [i["file_name"] for i in data["images"]] == ["a.png", "b.png"] and data["images"][0]["id"] == 1
    assert (tmp_path / "coco" / "images" / "b.png").read_bytes() == (src / "b_photo.png").read_bytes()
    assert [a["id"] for a in data["annotations"]] == list(range(1, 7))
    for a in data["annotations"]:
        rle = {"size": a["segmentation"]["size"], "counts": a["segmentation"]["counts"].encode()}
        assert a["area"] == int(rle_to_mask(a["segmentation"]).sum()) > 0 and a["iscrowd"] == 0
        assert a["bbox"] == [float(v) for v in mask_utils.toBbox(rle)]
    assert ann.read_text().splitlines()[1].startswith(' "annotations": [')  # the sample's JSON style
    ann = labelme_to_coco([src / "b.json"], tmp_path / "named", categories={"box": 3, "ball": 9})
    assert [a["category_id"] for a in json.loads(ann.read_text())["annotations"]] == [9, 3]
    with pytest.raises(LabelmeError, match=r"a\.json, shape 0 \('square', polygon\): the label is not among"):
        labelme_to_coco(src, tmp_path / "listed", categories=["ball", "box", "blob"])
    with pytest.raises(ValueError, match="own integer id of 1 or more"):
        labelme_to_coco(src, tmp_path / "zero", categories={"ball": 0, "blob": 1, "box": 2, "square": 3})


def _masks(ann_file: Path) -> list[np.ndarray]:
    return [rle_to_mask(a["segmentation"]).astype(bool) for a in json.loads(ann_file.read_text())["annotations"]]


@pytest.mark.parametrize("shape_type, embed", [("mask", False), ("polygon", True)])
def test_coco_to_labelme_and_back(tmp_path, shape_type, embed):
    ann_file = VAL / "annotations.json"
    original = json.loads(ann_file.read_text())
    files = coco_to_labelme(VAL, tmp_path / "lm", shape_type=shape_type, embed_image=embed)
    assert len(files) == len(original["images"])
    lf = read_labelme(files[0])
    assert (lf.image_data is not None) == embed and {s.shape_type for s in lf.shapes} == {shape_type}
    assert np.asarray(labelme_image(lf)).shape == (128, 128, 3)
    back = labelme_to_coco(tmp_path / "lm", tmp_path / "coco", {c["name"]: c["id"] for c in original["categories"]})
    assert validate_coco(back) == []
    before, after = _masks(ann_file), _masks(back)
    assert len(before) == len(after) == len(original["annotations"])
    assert [a["category_id"] for a in json.loads(back.read_text())["annotations"]] == [
        a["category_id"] for a in original["annotations"]]
    ious = [mask_iou(a, b) for a, b in zip(before, after)]
    if shape_type == "mask":
        assert all((a == b).all() for a, b in zip(before, after))
    else:  # measured: every object comes back exactly (IoU 1.0); the data has no holes
        assert min(ious) >= 0.99 and np.mean(ious) >= 0.999, (min(ious), np.mean(ious))


def test_polygons_fill_holes_and_say_so():
    ring = np.zeros((20, 20), bool)
    ring[2:18, 2:18] = True
    ring[8:12, 8:12] = False
    outlines, holes = contours(ring)
    assert len(outlines) == 1 and holes == 1
    filled = polygons_to_mask(mask_to_polygons(ring), 20, 20)
    assert (filled == np.pad(np.ones((16, 16), bool), 2)).all()
    assert mask_iou(filled, ring) == pytest.approx(240 / 256)
    assert mask_to_polygons(np.zeros((5, 5), bool)) == []


def test_simplification_costs_iou_and_saves_bytes():
    ann = json.loads((VAL / "annotations.json").read_text())["annotations"][0]
    mask = rle_to_mask(ann["segmentation"]).astype(bool)
    rows = simplification_cost(mask)
    assert [r["tolerance"] for r in rows] == [0, 0.5, 1, 2, 4]
    assert rows[0]["iou"] == 1.0
    verts, nbytes, ious = ([r[k] for r in rows] for k in ("vertices", "bytes", "iou"))
    assert verts == sorted(verts, reverse=True) and verts[0] > 3 * verts[-1]
    assert nbytes == sorted(nbytes, reverse=True)
    assert ious[-1] < 0.97 and all(0.5 < v <= 1.0 for v in ious)
    sizes = storage_sizes(mask)
    assert sizes["polygon_iou"] == 1.0 and sizes["raw_bits"] == 128 * 128 // 8
    assert sizes["rle_json"] < sizes["png"] < sizes["raw_bits"] and sizes["rle_json"] < sizes["polygon_json"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert simplification_cost(np.zeros((8, 8), bool), (0, 2)) == [
            {"tolerance": 0.0, "vertices": 0, "iou": 1.0, "bytes": 2}, {"tolerance": 2.0, "vertices": 0, "iou": 1.0,
                                                                         "bytes": 2}]


def test_coco_to_labelme_warns_about_holes_and_masks_keep_them(tmp_path):
    ring = np.zeros((H, W), bool)
    ring[2:14, 2:14] = True
    ring[6:9, 6:9] = False
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "ring.png").write_bytes(_png(_picture()))
    rle = {"size": [H, W], "counts": mask_utils.encode(np.asfortranarray(ring.astype(np.uint8)))["counts"].decode()}
    data = {"images": [{"id": 1, "file_name": "ring.png", "width": W, "height": H}],
            "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "segmentation": rle, "area": int(ring.sum()),
                             "bbox": [2.0, 2.0, 12.0, 12.0], "iscrowd": 0}],
            "categories": [{"id": 1, "name": "donut", "supercategory": "thing"}]}
    (tmp_path / "annotations.json").write_text(json.dumps(data))
    assert validate_coco(tmp_path) == []
    with pytest.warns(LabelmeWarning, match=r"1 object \(annotation 5\) has holes"):
        coco_to_labelme(tmp_path, tmp_path / "poly")
    with warnings.catch_warnings(record=True) as caught:  # as lesson 11 catches them: by category, nothing else
        warnings.simplefilter("always", LabelmeWarning)
        coco_to_labelme(tmp_path, tmp_path / "poly_again")
    ours = [w for w in caught if issubclass(w.category, LabelmeWarning)]
    assert len(ours) == 1 and issubclass(LabelmeWarning, UserWarning), [str(w.message) for w in caught]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        coco_to_labelme(tmp_path, tmp_path / "mask", shape_type="mask")
    for folder, same in (("poly", False), ("mask", True)):
        back = _masks(labelme_to_coco(tmp_path / folder, tmp_path / f"{folder}_coco"))[0]
        assert (back == ring).all() == same and back.sum() == (135 if same else 144)  # 12x12, hole 3x3
