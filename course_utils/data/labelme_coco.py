"""labelme files to a COCO dataset and back.

- :func:`labelme_to_coco` turns a folder of labelme JSON files into ``annotations.json`` plus
  ``images/``, laid out and written like the course's ``data/`` sample (compressed RLE masks,
  ``bbox`` and ``area`` from the mask, ids from 1), so ``validate_coco`` and
  ``CocoInstanceDataset`` read it;
- :func:`coco_to_labelme` writes one labelme file per image of a COCO dataset, with the objects as
  polygons (traced from the masks) or as labelme "mask" shapes (exact), to correct them in labelme.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from .coco_export import _dump_json
from .labelme import LabelmeError, LabelmeWarning, decode_image_data, image_file, labelme_instances, read_labelme
from .polygons import contours, mask_to_polygons
from .rle import masks_to_rle, segmentation_to_rle
from .validate import read_coco_json, resolve_paths

LABELME_VERSION = "5.5.0"
"""The labelme format version written by :func:`coco_to_labelme` (mask shapes need 5.3 or later)."""
_SUFFIXES = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp", "TIFF": ".tif", "GIF": ".gif", "WEBP": ".webp"}


def labelme_files(source) -> list[Path]:
    """The labelme JSON files of a folder (sorted by name), a single file, or a list of files.

    Args:
        source: a folder, a ``.json`` file, or a list of them.

    Returns:
        the JSON files, in order.
    """
    if isinstance(source, (str, Path)):
        source = Path(source)
        if source.is_dir():
            files = sorted(source.glob("*.json"))
            if not files:
                raise LabelmeError(f"{source} holds no .json file; pass the folder labelme saved its files in.")
            return files
        return [source]
    return [Path(p) for p in source]


def _category_ids(categories, labels: list[str]) -> dict[str, int]:
    """{label: category id} from ``categories`` (a list of names, a dict, or None: the sorted labels)."""
    if categories is None:
        return {name: k + 1 for k, name in enumerate(sorted(set(labels)))}
    if isinstance(categories, dict):
        ids = dict(categories)
        bad = {n: i for n, i in ids.items() if not (isinstance(i, int) and not isinstance(i, bool) and i > 0)}
        if bad or len(set(ids.values())) != len(ids):
            raise ValueError(f"categories must give every name its own integer id of 1 or more, got {ids}.")
        return ids
    names = list(categories)
    if len(set(names)) != len(names):
        raise ValueError(f"categories lists a name twice: {names}.")
    return {name: k + 1 for k, name in enumerate(names)}


def _write_image(lf, out_images: Path, used: set[str]) -> str:
    """Copy (or decode) one labelme file's image into ``out_images``; returns its file name there."""
    if lf.image_data is not None:
        raw = decode_image_data(lf.image_data, f"{lf.path.name}, imageData")
        with Image.open(io.BytesIO(raw)) as im:
            suffix = _SUFFIXES.get(im.format or "", ".png")
    else:
        src = image_file(lf)
        try:
            with Image.open(src) as im:
                size = im.size  # (width, height), from the header
        except OSError:
            raise LabelmeError(f"{lf.path.name}: imagePath {lf.image_path!r} cannot be opened as an image; "
                               "replace the file.") from None
        if size != (lf.width, lf.height):
            raise LabelmeError(f"{lf.path.name}: {src.name} is {size[0]}x{size[1]} but imageWidth x imageHeight "
                               f"say {lf.width}x{lf.height}; fix the sizes or re-save the file in labelme.")
        raw, suffix = None, src.suffix.lower() or ".png"
    name, k = lf.path.stem + suffix, 1
    while name in used:  # two JSON files of the same name from different folders
        name, k = f"{lf.path.stem}_{k}{suffix}", k + 1
    used.add(name)
    if raw is None:
        shutil.copyfile(src, out_images / name)
    else:
        (out_images / name).write_bytes(raw)
    return name


def labelme_to_coco(json_files_or_folder, out_dir: str | Path, categories=None) -> Path:
    """Convert labelme files to a COCO instance dataset (``annotations.json`` and ``images/``).

    Shapes with the same label and group_id become one object; shapes without area (points,
    lines) are left out with one ``LabelmeWarning`` that counts them.

    Args:
        json_files_or_folder: a folder of labelme ``.json`` files, one file, or a list of files.
        out_dir: the dataset folder to write.
        categories: category names in id order (ids 1..K), a dict {name: id}, or None for the
            labels found, sorted by name.

    Returns:
        the path of ``annotations.json``.

    Raises:
        LabelmeError: a file is malformed, or a label is not among ``categories`` (naming file and shape).
    """
    files = [read_labelme(p) for p in labelme_files(json_files_or_folder)]
    ids = _category_ids(categories, [s.label for lf in files for s in lf.shapes])
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    images, annotations, skipped, used = [], [], [], set()
    for lf in files:
        objects, notes = labelme_instances(lf)
        skipped += notes
        for obj in objects:
            if obj.label not in ids:
                s = lf.shapes[obj.shapes[0]]
                raise LabelmeError(f"{lf.path.name}, shape {s.index} ({s.label!r}, {s.shape_type}): the label is "
                                   f"not among the categories ({', '.join(ids)}); add it or rename the shape.")
        image_id = len(images) + 1
        name = _write_image(lf, out_dir / "images", used)
        images.append({"id": image_id, "file_name": name, "width": lf.width, "height": lf.height})
        rles = masks_to_rle(np.stack([o.mask for o in objects])) if objects else []
        for obj, rle in zip(objects, rles):
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": ids[obj.label],
                                "segmentation": rle, "area": int(mask_utils.area(rle)),
                                "bbox": [float(v) for v in mask_utils.toBbox(rle)], "iscrowd": 0})
    if skipped:
        warnings.warn(f"left out {len(skipped)} shape{'s' if len(skipped) > 1 else ''} that cannot be objects, "
                      f"e.g. {skipped[0]}", LabelmeWarning, stacklevel=2)
    info = {"description": f"Converted from {len(files)} labelme files", "version": "1.0",
            "contributor": "course_utils.data.labelme_coco.labelme_to_coco", "url": "", "year": 2024}
    cats = [{"id": i, "name": n, "supercategory": "thing"} for n, i in sorted(ids.items(), key=lambda t: t[1])]
    data = {"info": info, "licenses": [], "images": images, "annotations": annotations, "categories": cats}
    path = out_dir / "annotations.json"
    path.write_text(_dump_json(data), encoding="utf-8", newline="\n")
    return path


def _mask_png(mask: np.ndarray) -> str:
    """A (h, w) bool mask as base64 of a 1-bit PNG, as labelme stores a mask shape."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(mask, bool)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def annotation_shapes(mask: np.ndarray, label: str, group_id: int | None, shape_type: str = "polygon",
                      tolerance: float = 1e-9) -> list[dict]:
    """labelme shapes of one object's mask.

    Args:
        mask: (H, W) bool.
        label: the category name.
        group_id: written on every shape when the object needs more than one (else null).
        shape_type: "polygon" (one per region; holes are filled) or "mask" (one, exact).
        tolerance: polygon simplification in pixels (see ``polygons.mask_to_polygons``).

    Returns:
        the shape dicts, as labelme writes them.
    """
    if shape_type == "mask":
        ys, xs = np.nonzero(mask)
        if not len(xs):
            return []
        x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())
        return [{"label": label, "points": [[float(x0), float(y0)], [float(x1), float(y1)]], "group_id": None,
                 "description": "", "shape_type": "mask", "flags": {}, "mask": _mask_png(mask[y0:y1 + 1, x0:x1 + 1])}]
    if shape_type != "polygon":
        raise ValueError(f'shape_type must be "polygon" or "mask", not {shape_type!r}.')
    polygons = mask_to_polygons(mask, tolerance)
    group = group_id if len(polygons) > 1 else None
    return [{"label": label, "points": np.reshape(p, (-1, 2)).tolist(), "group_id": group, "description": "",
             "shape_type": "polygon", "flags": {}, "mask": None} for p in polygons]


def coco_to_labelme(annotation_file: str | Path, out_dir: str | Path, image_root: str | Path | None = None,
                    shape_type: str = "polygon", embed_image: bool = False, tolerance: float = 1e-9) -> list[Path]:
    """Write one labelme file per image of a COCO dataset, to open and correct in labelme.

    Args:
        annotation_file: the COCO JSON, or a dataset folder holding ``annotations.json``.
        out_dir: folder for the ``.json`` files (named after the images).
        image_root: folder of the images (default as ``validate_coco`` finds it).
        shape_type: "polygon" (outlines traced with ``find_contours``; holes are filled) or "mask"
            (labelme mask shapes: the exact pixels).
        embed_image: also store the image in each file (``imageData``), so the file stands alone.
        tolerance: polygon simplification in pixels; the default only drops points on straight lines.

    Returns:
        the files written, in the order of the ``images`` list. Objects whose polygons fill a hole are
        named in one ``LabelmeWarning``.
    """
    if shape_type not in ("polygon", "mask"):
        raise ValueError(f'shape_type must be "polygon" or "mask", not {shape_type!r}.')
    ann_file, root = resolve_paths(annotation_file, image_root)
    data = read_coco_json(ann_file)
    names = {c["id"]: str(c["name"]) for c in data["categories"]}
    by_image: dict[int, list[dict]] = {}
    for ann in data["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    out_dir = Path(out_dir)
    written, holed = [], []
    for img in data["images"]:
        h, w = img["height"], img["width"]
        shapes = []
        for ann in by_image.get(img["id"], []):
            try:
                mask = mask_utils.decode(segmentation_to_rle(ann["segmentation"], h, w)).astype(bool)
            except ValueError as e:
                raise ValueError(f"annotation {ann['id']}: {e}; run validate_coco on {ann_file.name}.") from None
            label = names.get(ann["category_id"], str(ann["category_id"]))
            shapes += annotation_shapes(mask, label, ann["id"], shape_type, tolerance)
            if shape_type == "polygon" and contours(mask)[1]:
                holed.append(ann["id"])
        path = out_dir / Path(img["file_name"]).with_suffix(".json")
        path.parent.mkdir(parents=True, exist_ok=True)
        image_file = root / img["file_name"]
        if embed_image and not image_file.is_file():
            raise FileNotFoundError(f"image {img['id']}: {img['file_name']} is not in {root}, so it cannot be "
                                    "embedded; pass image_root= the folder of the images, or embed_image=False.")
        image_data = base64.b64encode(image_file.read_bytes()).decode("ascii") if embed_image else None
        doc = {"version": LABELME_VERSION, "flags": {}, "shapes": shapes,
               "imagePath": Path(os.path.relpath(image_file, path.parent)).as_posix(), "imageData": image_data,
               "imageHeight": h, "imageWidth": w}
        path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
        written.append(path)
    if holed:
        ids = ", ".join(map(str, holed[:5])) + (", ..." if len(holed) > 5 else "")
        many = len(holed) > 1
        what = f"{len(holed)} objects (annotations {ids}) have" if many else f"1 object (annotation {ids}) has"
        warnings.warn(f'{what} holes, which labelme polygons fill; use shape_type="mask" to keep them.', LabelmeWarning,
                      stacklevel=2)
    return written
