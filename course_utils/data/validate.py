"""Check a COCO instance-segmentation file before training on it.

``validate_coco(path)`` returns one :class:`Fault` per problem, each naming the annotation (or
image) and giving one sentence of advice; a clean file gives ``[]``. ``print_report`` shows the
list, ``validate_or_raise`` stops on it. ``read_coco_json`` (here) and ``rle.segmentation_to_rle`` are
the careful readers the loader in ``coco.py`` shares, so a broken file ends in a sentence that names
the annotation, never in a bare traceback from inside pycocotools.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from PIL import Image
from pycocotools import mask as mask_utils

from .rle import is_int as _is_int
from .rle import is_number as _is_number
from .rle import segmentation_to_rle

IMAGE_KEYS = ("id", "file_name", "width", "height")
ANNOTATION_KEYS = ("id", "image_id", "category_id", "segmentation", "bbox")
_BOX_TOLERANCE = 0.01  # pixels a box may poke out of the image (float rounding)
_MIN_BOX_MASK_IOU = 0.5  # below this the box does not describe the mask (e.g. xyxy written as xywh)


@dataclass(frozen=True)
class Fault:
    """One problem found in a COCO file."""

    kind: str  # short machine-readable name, e.g. "degenerate-box"
    message: str  # one sentence: what is wrong and what to do about it
    annotation_id: int | None = None  # the annotation at fault, when there is one
    image_id: int | None = None  # the image at fault (or the annotation's image)

    def __str__(self) -> str:
        where = []
        if self.annotation_id is not None:
            where.append(f"annotation {self.annotation_id}")
        if self.image_id is not None:
            where.append(f"image {self.image_id}" if not where else f"(image {self.image_id})")
        return f"[{self.kind}] " + (" ".join(where) + ": " if where else "") + self.message


class CocoFormatError(ValueError):
    """A COCO file that cannot be read at all (bad JSON, missing keys, duplicate ids)."""


class CocoValidationError(ValueError):
    """A COCO file with faults; ``faults`` holds them."""

    def __init__(self, message: str, faults: list[Fault]):
        super().__init__(message)
        self.faults = faults


def resolve_paths(path: str | Path, image_root: str | Path | None = None) -> tuple[Path, Path]:
    """The annotation file and image folder of a dataset given as a file or a folder.

    Args:
        path: ``annotations.json`` itself, or a folder holding it.
        image_root: folder of the images; by default ``images/`` next to the file if it exists,
            else the file's own folder.

    Returns:
        (annotation file, image folder).
    """
    path = Path(path)
    ann_file = path / "annotations.json" if path.is_dir() else path
    if image_root is None:
        image_root = ann_file.parent / "images" if (ann_file.parent / "images").is_dir() else ann_file.parent
    return ann_file, Path(image_root)


def _json_faults(path: Path) -> tuple[dict | None, list[Fault]]:
    """Read a JSON file; a fault instead of an exception when it cannot be read."""
    if not path.is_file():
        return None, [Fault("missing-file", f"{path} does not exist; check the path to the annotation file.")]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        return None, [Fault("malformed-json", f"{path} is not valid JSON ({e.msg} at line {e.lineno}, column "
                                              f"{e.colno}); fix the syntax there (often a missing comma or bracket).")]
    except UnicodeDecodeError:
        return None, [Fault("malformed-json", f"{path} is not UTF-8 text; save the annotation file as UTF-8 JSON.")]
    if not isinstance(data, dict):
        return None, [Fault("malformed-json", f"the top level of {path} is a {type(data).__name__}, not an object; "
                                              'a COCO file is an object with "images", "annotations" and '
                                              '"categories" lists.')]
    return data, []


def _keys(names: list[str]) -> str:
    """'"a", "b"' for a list of key names."""
    return ", ".join(f'"{n}"' for n in names)


def structure_faults(data: dict) -> list[Fault]:
    """Faults that stop a COCO dict from being read at all: missing keys, bad ids, duplicates.

    Args:
        data: the parsed JSON object.

    Returns:
        list of faults (empty when the structure is sound).
    """
    faults = []
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            what = "has no" if key not in data else "has a non-list"
            faults.append(Fault("missing-key", f'the file {what} "{key}" entry; a COCO instance file needs '
                                               '"images", "annotations" and "categories" lists.'))
    if faults:
        return faults
    for i, img in enumerate(data["images"]):
        iid = img.get("id") if isinstance(img, dict) else None
        iid = iid if _is_int(iid) else None
        name = "this image record" if iid is not None else f"image record #{i}"
        missing = [k for k in IMAGE_KEYS if not isinstance(img, dict) or k not in img]
        if missing:
            faults.append(Fault("missing-key", f"{name} has no {_keys(missing)}; every image needs "
                                               '"id", "file_name", "width" and "height".', image_id=iid))
        elif iid is None or not all(_is_int(img[k]) and img[k] > 0 for k in ("width", "height")):
            faults.append(Fault("bad-value", f"{name} has id {img['id']!r}, width {img['width']!r} and height "
                                             f"{img['height']!r}; the id must be an integer and the sizes "
                                             "positive integers.", image_id=iid))
        elif iid < 0:
            faults.append(Fault("bad-id", f"this image record has id {iid}; image ids must be integers >= 0, so "
                                          "renumber the images (and their annotations' image_id).", image_id=iid))
    for i, cat in enumerate(data["categories"]):
        if not isinstance(cat, dict) or not _is_int(cat.get("id")) or "name" not in cat:
            faults.append(Fault("missing-key", f'category record #{i} needs an integer "id" and a "name"; add '
                                               "them, since labels are looked up by id."))
        elif cat["id"] <= 0:
            faults.append(Fault("bad-id", f"category record #{i} ({cat['name']!r}) has id {cat['id']}; category "
                                          "ids must be 1 or more, since id 0 is torchvision's background, so give "
                                          "it an unused positive id and update its annotations."))
    for i, ann in enumerate(data["annotations"]):
        aid = ann.get("id") if isinstance(ann, dict) else None
        aid = aid if _is_int(aid) else None
        name = "this annotation" if aid is not None else f"annotation record #{i}"
        missing = [k for k in ANNOTATION_KEYS if not isinstance(ann, dict) or k not in ann]
        if missing:
            faults.append(Fault("missing-key", f"{name} has no {_keys(missing)}; every annotation needs "
                                               '"id", "image_id", "category_id", "segmentation" and "bbox".',
                                annotation_id=aid))
        elif not (aid is not None and _is_int(ann["image_id"]) and _is_int(ann["category_id"])):
            faults.append(Fault("bad-value", f"{name} has id {ann['id']!r}, image_id {ann['image_id']!r} and "
                                             f"category_id {ann['category_id']!r}; all three must be integers "
                                             "(not strings).", annotation_id=aid))
    for key, what in (("images", "image"), ("annotations", "annotation"), ("categories", "category")):
        ids = Counter(r["id"] for r in data[key] if isinstance(r, dict) and _is_int(r.get("id")))
        for rid, n in sorted(ids.items()):
            if n > 1:
                faults.append(Fault("duplicate-id", f"{n} {key} share {what} id {rid}; give every {what} a unique "
                                                    "id, or lookups and evaluation will mix them up.",
                                    annotation_id=rid if what == "annotation" else None,
                                    image_id=rid if what == "image" else None))
    return faults


def read_coco_json(path: str | Path) -> dict:
    """Read a COCO instance file, raising one clear :class:`CocoFormatError` if it cannot be used.

    Args:
        path: the annotation JSON file, or a dataset folder holding ``annotations.json``.

    Returns:
        the parsed dict, structurally sound (see :func:`structure_faults`).
    """
    ann_file, _ = resolve_paths(path)
    data, faults = _json_faults(ann_file)
    if data is not None:
        faults = structure_faults(data)
    if faults:
        lines = "\n".join(f"  {f}" for f in faults[:20])
        more = f"\n  ... and {len(faults) - 20} more" if len(faults) > 20 else ""
        raise CocoFormatError(f"cannot read {ann_file} as a COCO instance file:\n{lines}{more}")
    return data


def _annotation_faults(ann: dict, img: dict | None, has_record: bool, category_ids: set[int]) -> list[Fault]:
    """Faults of one structurally sound annotation.

    ``img`` is its (sound) image record, or None; ``has_record`` says whether any record has its image id.
    """
    aid, iid, cid = ann["id"], ann["image_id"], ann["category_id"]

    def fault(kind: str, message: str) -> Fault:
        return Fault(kind, message, annotation_id=aid, image_id=iid)

    faults = []
    if aid <= 0:
        faults.append(fault("bad-id", f"the annotation id is {aid}; annotation ids must be 1 or more, because "
                                      "pycocotools' evaluation reads id 0 as \"no match\", so renumber the "
                                      "annotations from 1."))
    if not has_record:
        faults.append(fault("missing-image-record", f'image_id {iid} is not in "images"; add that image record '
                                                    "or remove the annotation."))
    if cid == 0:
        faults.append(fault("background-category", "category_id 0 means background to torchvision and void to "
                                                   "this course, so the object would be learned as background; "
                                                   "give it its real class id (1 or more)."))
    elif cid not in category_ids:
        known = ", ".join(str(c) for c in sorted(category_ids)) or "none"
        faults.append(fault("unknown-category", f'category_id {cid} is not declared in "categories" (declared: '
                                                f"{known}); fix the id or add the category."))
    if "iscrowd" in ann and not (_is_int(ann["iscrowd"]) and ann["iscrowd"] in (0, 1)):
        faults.append(fault("bad-value", f"iscrowd is {ann['iscrowd']!r}; use the integer 0 for a single object "
                                         "(1 only marks a crowd region)."))
    h, w = (img["height"], img["width"]) if img is not None else (None, None)
    if "area" in ann:
        faults += [fault("bad-area", m) for m in _area_faults(ann["area"], h, w)]

    box = ann["bbox"]
    if not (isinstance(box, list) and len(box) == 4 and all(_is_number(v) for v in box)):
        faults.append(fault("bad-box", f"bbox is {box!r}, not a list of 4 finite numbers; write it as "
                                       "[x, y, width, height] in pixels."))
    elif box[2] <= 0 or box[3] <= 0:
        faults.append(fault("degenerate-box", f"bbox {box} has width or height <= 0, which makes the box-regression "
                                              "loss NaN; recompute it from the mask (pycocotools.mask.toBbox) or "
                                              "remove the annotation."))
    elif img is not None and (box[0] < -_BOX_TOLERANCE or box[1] < -_BOX_TOLERANCE
                              or box[0] + box[2] > w + _BOX_TOLERANCE or box[1] + box[3] > h + _BOX_TOLERANCE):
        faults.append(fault("box-outside-image", f"bbox {box} ([x, y, width, height]) reaches outside the "
                                                 f"{w}x{h} image; clip the box to the image or fix the image size."))

    seg = ann["segmentation"]
    if img is None:
        return faults
    if isinstance(seg, dict) and isinstance(seg.get("size"), list) and seg["size"] != [h, w]:
        faults.append(fault("mask-outside-image", f"the RLE mask has size {seg['size']} but the image is "
                                                  f"[{h}, {w}] ([height, width]); re-encode the mask at the "
                                                  "image's size."))
        return faults
    if isinstance(seg, list):
        coords = [v for poly in seg if isinstance(poly, list) for v in poly if _is_number(v)]
        xs, ys = coords[0::2], coords[1::2]
        if xs and (min(xs) < 0 or min(ys) < 0 or max(xs) > w or max(ys) > h):
            faults.append(fault("mask-outside-image", f"polygon points reach x {min(xs):g}..{max(xs):g}, y "
                                                      f"{min(ys):g}..{max(ys):g}, outside the {w}x{h} image; clip "
                                                      "the polygon to the image or fix the image size."))
    try:
        rle = segmentation_to_rle(seg, h, w)
    except ValueError as e:
        faults.append(fault("bad-segmentation", f"{e}; re-export the mask as polygons or as an RLE made by "
                                                "pycocotools.mask.encode."))
        return faults
    mask_area = int(mask_utils.area(rle))
    if mask_area == 0:
        faults.append(fault("empty-mask", "the mask has no pixels, so the object teaches the model nothing; "
                                          "remove the annotation or redraw its segmentation."))
    elif (_is_number(ann.get("area")) and not any(f.kind == "bad-area" for f in faults)
          and not 0.5 <= ann["area"] / mask_area <= 2):
        faults.append(fault("area-mismatch", f"area is {ann['area']:g} but the mask covers {mask_area} pixels; "
                                             "COCOeval sorts objects into small, medium and large by area, so write "
                                             "the mask's pixel count (pycocotools.mask.area)."))
    elif not any(f.kind in ("bad-box", "degenerate-box", "box-outside-image") for f in faults):
        mask_box = [float(v) for v in mask_utils.toBbox(rle)]
        iou = float(mask_utils.iou([box], [mask_box], [0])[0, 0])
        if iou < _MIN_BOX_MASK_IOU:
            faults.append(fault("box-mask-mismatch", f"bbox {box} and the mask's own box {mask_box} overlap only "
                                                     f"by IoU {iou:.2f}; recompute the box from the mask "
                                                     "(pycocotools.mask.toBbox) and check it is [x, y, width, "
                                                     "height], not [x1, y1, x2, y2]."))
    return faults


def _area_faults(area, h: int | None, w: int | None) -> list[str]:
    """The message of a wrong ``area`` value (not a number, <= 0, larger than its image), or none."""
    if not _is_number(area):
        return [f"area is {area!r}, not a finite number; write the mask's pixel count (pycocotools.mask.area)."]
    if area <= 0:
        return [f"area is {area:g}, but an object covers at least one pixel; write the mask's pixel count "
                "(pycocotools.mask.area) or remove the annotation."]
    if h is not None and area > h * w:
        return [f"area is {area:g}, more than the {w * h} pixels of its {w}x{h} image; write the mask's pixel "
                "count (pycocotools.mask.area), since COCOeval sorts objects into small/medium/large by it."]
    return []


def _image_faults(images: list[dict], root: Path) -> list[Fault]:
    """Missing, unreadable or wrongly sized image files."""
    faults, missing = [], []
    for img in images:
        path = root / img["file_name"]
        if not path.is_file():
            missing.append(Fault("missing-image-file", f"{img['file_name']} was not found in {root}; copy it there "
                                                       "or pass image_root= the folder that holds the images.",
                                 image_id=img["id"]))
            continue
        try:
            with Image.open(path) as im:
                size = im.size  # (width, height), read from the header only
        except OSError as e:
            faults.append(Fault("unreadable-image", f"{img['file_name']} cannot be opened as an image ({e}); "
                                                    "replace the file.", image_id=img["id"]))
            continue
        if size != (img["width"], img["height"]):
            faults.append(Fault("image-size-mismatch", f"{img['file_name']} is {size[0]}x{size[1]} pixels but the "
                                                       f"JSON says {img['width']}x{img['height']} (width x height); "
                                                       "correct the JSON's size or the file, as masks and boxes "
                                                       "follow the JSON.",
                                image_id=img["id"]))
    if len(missing) > 1 and len(missing) == len(images):  # a wrong folder, not many lost files
        return [Fault("missing-image-file", f"none of the {len(images)} image files is in {root}; pass "
                                            "image_root= the folder that holds the images.")] + faults
    return missing + faults


def validate_coco(annotation_file: str | Path, image_root: str | Path | None = None,
                  check_images: bool = True) -> list[Fault]:
    """Every fault of a COCO instance-segmentation file, each with the annotation or image at fault.

    Args:
        annotation_file: the JSON file, or a dataset folder holding ``annotations.json``.
        image_root: folder of the image files; by default ``images/`` beside the JSON if it
            exists, else the JSON's own folder.
        check_images: also open every image file (existence and size).

    Returns:
        list of :class:`Fault`: structural ones (keys, ids) first, then each annotation's in file
        order, then the image files'; empty for a clean file.
    """
    ann_file, root = resolve_paths(annotation_file, image_root)
    data, faults = _json_faults(ann_file)
    if data is None:
        return faults
    faults = structure_faults(data)
    if not all(isinstance(data.get(k), list) for k in ("images", "annotations", "categories")):
        return faults  # a top-level list is missing: nothing more to check
    record_ids = {img["id"] for img in data["images"] if isinstance(img, dict) and _is_int(img.get("id"))}
    images = {}  # the sound image records: all keys, int id, positive int sizes (others are reported above)
    for img in data["images"]:
        if (isinstance(img, dict) and all(k in img for k in IMAGE_KEYS) and _is_int(img["id"])
                and all(_is_int(img[k]) and img[k] > 0 for k in ("width", "height"))):
            images.setdefault(img["id"], img)
    category_ids = {c["id"] for c in data["categories"] if isinstance(c, dict) and _is_int(c.get("id"))}
    for ann in data["annotations"]:
        if (isinstance(ann, dict) and all(k in ann for k in ANNOTATION_KEYS)
                and all(_is_int(ann[k]) for k in ("id", "image_id", "category_id"))):
            faults += _annotation_faults(ann, images.get(ann["image_id"]), ann["image_id"] in record_ids,
                                         category_ids)
    if check_images:
        faults += _image_faults([i for i in images.values() if isinstance(i["file_name"], str)], root)
    return faults


def format_report(faults: list[Fault], max_faults: int = 50) -> str:
    """The fault list as text: a count per kind, then one line per fault.

    Args:
        faults: from :func:`validate_coco`.
        max_faults: show at most this many lines.

    Returns:
        the report text.
    """
    if not faults:
        return "No faults found: the file is ready to train on."
    kinds = Counter(f.kind for f in faults)
    head = f"{len(faults)} fault{'s' if len(faults) > 1 else ''} found (" + ", ".join(
        f"{k}: {n}" for k, n in sorted(kinds.items())) + ")"
    lines = [f"  {f}" for f in faults[:max_faults]]
    if len(faults) > max_faults:
        lines.append(f"  ... and {len(faults) - max_faults} more")
    return "\n".join([head, *lines])


def print_report(faults: list[Fault] | str | Path, image_root: str | Path | None = None,
                 file: TextIO | None = None, max_faults: int = 50) -> None:
    """Print the faults of a COCO file (given as a fault list, or a path to validate first).

    Args:
        faults: a list from :func:`validate_coco`, or an annotation file / dataset folder.
        image_root: image folder, when ``faults`` is a path (see :func:`validate_coco`).
        file: where to print (default stdout).
        max_faults: print at most this many fault lines.
    """
    if isinstance(faults, (str, Path)):
        faults = validate_coco(faults, image_root)
    print(format_report(faults, max_faults), file=file or sys.stdout)


def validate_or_raise(annotation_file: str | Path, image_root: str | Path | None = None) -> None:
    """Raise :class:`CocoValidationError` listing every fault, or return quietly for a clean file.

    Args:
        annotation_file: the JSON file or a dataset folder (see :func:`validate_coco`).
        image_root: folder of the image files.
    """
    faults = validate_coco(annotation_file, image_root)
    if faults:
        raise CocoValidationError(f"{annotation_file} is not ready to train on. " + format_report(faults), faults)
