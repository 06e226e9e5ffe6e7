"""COCO instance-segmentation datasets: export the shapes world, load any COCO dataset, check it.

- ``export_coco`` / ``write_sample`` (from ``coco_export.py``) write scenes as COCO files;
- ``load_coco`` gives pycocotools' ``COCO`` index of a file, ``segmentation_to_mask`` decodes a
  polygon or RLE segmentation, ``CocoInstanceDataset`` serves (image, target) pairs in
  torchvision's detection format;
- ``validate_coco`` / ``print_report`` / ``validate_or_raise`` (from ``validate.py``) find
  every fault of a file before training.

Category ids that are the course's class ids are used as labels unchanged; any other set of
ids is mapped to contiguous labels 1..K (label 0 is background, as torchvision expects).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from torch.utils.data import Dataset

from .classes import CLASSES, VOID
from .coco_export import (
    SAMPLE_SPLITS,
    coco_categories,
    export_coco,
    png_bytes,
    sample_dir,
    scene_annotations,
    to_uint8,
    write_sample,
)
from .rle import segmentation_to_rle
from .validate import (
    CocoFormatError,
    CocoValidationError,
    Fault,
    format_report,
    print_report,
    read_coco_json,
    resolve_paths,
    validate_coco,
    validate_or_raise,
)

__all__ = ["SAMPLE_SPLITS", "CocoFormatError", "CocoInstanceDataset", "CocoValidationError", "Fault",
           "category_mapping", "coco_categories", "export_coco", "format_report", "load_coco", "png_bytes",
           "print_report", "read_image", "sample_dir", "scene_annotations", "segmentation_to_mask", "to_uint8",
           "validate_coco", "validate_or_raise", "write_sample"]


def load_coco(path: str | Path) -> COCO:
    """A pycocotools ``COCO`` index of an annotation file, read quietly with clear errors.

    Args:
        path: the JSON file, or a dataset folder holding ``annotations.json``.

    Returns:
        ``pycocotools.coco.COCO`` (``coco.dataset`` is the parsed JSON).

    Raises:
        CocoFormatError: the file is missing, is not JSON, lacks required keys, or repeats ids.
    """
    coco = COCO()
    coco.dataset = read_coco_json(path)
    with contextlib.redirect_stdout(io.StringIO()):  # createIndex prints progress lines
        coco.createIndex()
    return coco


def segmentation_to_mask(segmentation, height: int, width: int) -> np.ndarray:
    """The binary mask of a COCO segmentation (polygons, uncompressed or compressed RLE).

    Args:
        segmentation: an annotation's ``segmentation`` value.
        height, width: the image size.

    Returns:
        (H, W) uint8 of 0/1.

    Raises:
        ValueError: the segmentation is malformed or has another size (a sentence says how).
    """
    return mask_utils.decode(segmentation_to_rle(segmentation, height, width))


def read_image(path: str | Path) -> torch.Tensor:
    """An image file as float32 RGB in [0, 1], whatever its mode (grey, RGBA, palette, 16-bit).

    Args:
        path: image file.

    Returns:
        (3, H, W) float32.
    """
    with Image.open(path) as im:
        if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # one high-depth channel
            grey = np.asarray(im, dtype=np.float32)
            grey = np.clip(grey / (65535.0 if grey.max() > 255 else 255.0), 0, 1)
            rgb = np.repeat(grey[..., None], 3, axis=2)
        else:  # alpha is dropped: convert keeps the colour under it
            rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))  # (3, H, W)


def category_mapping(categories: list[dict], mode: str | dict[int, int] = "auto") -> tuple[dict[int, int], list[str]]:
    """How COCO category ids become model labels, and the name of each label.

    Args:
        categories: the file's ``categories`` records (``id``, ``name``).
        mode: "auto" (the course's ids unchanged when the categories are the course's classes,
            else "contiguous"), "identity" (labels = category ids), "contiguous" (categories
            sorted by id become 1..K), or a dict {category_id: label >= 1}; categories left out
            of a dict are skipped.

    Returns:
        ({category_id: label}, class names indexed by label, entry 0 being background/void).
    """
    names = {int(c["id"]): str(c["name"]) for c in categories}
    if mode == "auto":
        course = all(0 < i < len(CLASSES) and CLASSES[i] == n for i, n in names.items())
        mode = "identity" if course and names else "contiguous"
    if mode == "identity":
        if VOID in names:
            raise ValueError("category id 0 cannot be a label (torchvision's background); use "
                             'category_map="contiguous"')
        mapping = {i: i for i in names}
    elif mode == "contiguous":
        mapping = {i: k + 1 for k, i in enumerate(sorted(names))}
    elif isinstance(mode, dict):
        mapping = {int(i): int(lab) for i, lab in mode.items()}
        unknown = sorted(set(mapping) - set(names))
        if unknown or any(lab < 1 for lab in mapping.values()):
            raise ValueError(f"category_map must send declared category ids to labels >= 1; undeclared: {unknown}")
    else:
        raise ValueError(f'category_map must be "auto", "identity", "contiguous" or a dict, not {mode!r}')
    num_classes = max(mapping.values(), default=0) + 1
    labels: list[list[str]] = [[] for _ in range(num_classes)]
    for i, lab in sorted(mapping.items()):
        labels[lab].append(names[i])
    course = mapping == {i: i for i in names} and all(CLASSES[i] == n for i, n in names.items() if i < len(CLASSES))
    class_names = ["/".join(n) if n else f"<unused {k}>" for k, n in enumerate(labels)]
    class_names[0] = CLASSES[VOID] if course else "background"
    return mapping, class_names


class CocoInstanceDataset(Dataset):
    """(image, target) pairs of a COCO instance dataset on disk, in torchvision's detection format.

    image: float32 (3, H, W) in [0, 1]. target: ``boxes`` float32 (N, 4) xyxy, ``labels`` int64
    (N,), ``masks`` uint8 (N, H, W), ``image_id`` int (the COCO id), ``area`` float32 (N,),
    ``iscrowd`` int64 (N,). Annotations a model cannot train on (degenerate boxes, categories
    outside the mapping) are skipped with one warning; ``validate_coco`` says why.
    """

    def __init__(self, root: str | Path, annotation_file: str | Path | None = None,
                 image_dir: str | Path | None = None, category_map: str | dict[int, int] = "auto",
                 transforms: Callable | None = None):
        """Index the dataset (no image is read yet).

        Args:
            root: the dataset folder (holding ``annotations.json`` and ``images/``), or the
                annotation file itself; with ``annotation_file`` given, the image folder.
            annotation_file: the JSON file, absolute or relative to ``root``.
            image_dir: folder of the images; default ``root/images`` if it exists, else ``root``.
            category_map: see :func:`category_mapping`.
            transforms: optional callable ``(image, target) -> (image, target)``.
        """
        root = Path(root)
        if annotation_file is None:
            ann_file, images = resolve_paths(root, image_dir)
        else:
            ann_file = Path(annotation_file)
            if not ann_file.is_absolute() and not ann_file.exists() and (root / ann_file).exists():
                ann_file = root / ann_file
            images = Path(image_dir) if image_dir is not None else (
                root / "images" if (root / "images").is_dir() else root)
        self.annotation_file, self.image_dir = ann_file, images
        self.coco = load_coco(ann_file)
        self.category_map, self.class_names = category_mapping(self.coco.dataset["categories"], category_map)
        self.label_to_category = {lab: cid for cid, lab in sorted(self.category_map.items(), reverse=True)}
        self.num_classes = len(self.class_names)
        self.transforms = transforms
        self.ids = list(dict.fromkeys(img["id"] for img in self.coco.dataset["images"]))
        self._anns, skipped = {}, Counter()
        for iid in self.ids:
            keep = []
            for ann in self.coco.imgToAnns.get(iid, []):
                reason = self._skip_reason(ann)
                if reason:
                    skipped[reason] += 1
                else:
                    keep.append(ann)
            self._anns[iid] = keep
        if skipped:
            why = ", ".join(f"{n} {r}" for r, n in sorted(skipped.items()))
            total = sum(skipped.values())
            warnings.warn(f"{ann_file}: skipping {total} annotation{'s' if total != 1 else ''} ({why}); run "
                          f"validate_coco({str(ann_file)!r}) for the list.", stacklevel=2)

    def _skip_reason(self, ann: dict) -> str | None:
        """Why an annotation cannot be trained on, or None."""
        if ann["category_id"] not in self.category_map:
            return "with a category outside the mapping"
        box, img = ann["bbox"], self.coco.imgs[ann["image_id"]]
        if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)
                and np.isfinite(box).all()):
            return "with a malformed box"
        x1, y1 = max(box[0], 0), max(box[1], 0)  # the box as the target will hold it: clipped to the image
        x2, y2 = min(box[0] + box[2], img["width"]), min(box[1] + box[3], img["height"])
        if x2 <= x1 or y2 <= y1:
            return "with a degenerate box"
        return None

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        n_anns = sum(len(a) for a in self._anns.values())
        return (f"CocoInstanceDataset({len(self)} images, {n_anns} objects, num_classes={self.num_classes}: "
                f"{self.class_names}, from {self.annotation_file})")

    def image_info(self, index: int) -> dict:
        """The COCO ``images`` record of item ``index``."""
        return self.coco.imgs[self.ids[index]]

    def annotations(self, index: int) -> list[dict]:
        """The COCO annotations used for item ``index`` (after skipping untrainable ones)."""
        return self._anns[self.ids[index]]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict]:
        info = self.image_info(index)
        path = self.image_dir / info["file_name"]
        if not path.is_file():
            raise FileNotFoundError(f"image {info['id']}: {info['file_name']} is not in {self.image_dir}; run "
                                    "validate_coco on the file, or pass image_dir= the folder of the images.")
        image = read_image(path)  # (3, H, W)
        h, w = info["height"], info["width"]
        if tuple(image.shape[1:]) != (h, w):
            raise ValueError(f"image {info['id']}: {info['file_name']} is {image.shape[2]}x{image.shape[1]} but "
                             f"the JSON says {w}x{h}; run validate_coco on the file.")
        target = annotations_to_target(self.annotations(index), h, w, self.category_map, info["id"])
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target


def annotations_to_target(anns: list[dict], height: int, width: int, category_map: dict[int, int],
                          image_id: int = 0) -> dict:
    """A torchvision detection target from one image's COCO annotations.

    Args:
        anns: COCO annotation dicts (``bbox`` [x, y, w, h], ``segmentation``, ``category_id``...).
        height, width: the image size.
        category_map: {category_id: label}.
        image_id: stored as ``target["image_id"]``.

    Returns:
        dict: boxes float32 (N, 4) xyxy clipped to the image, labels int64 (N,), masks uint8
        (N, H, W), image_id int, area float32 (N,), iscrowd int64 (N,).
    """
    masks = np.zeros((len(anns), height, width), np.uint8)  # (N, H, W)
    for k, ann in enumerate(anns):
        try:
            masks[k] = segmentation_to_mask(ann["segmentation"], height, width)
        except ValueError as e:
            raise ValueError(f"annotation {ann.get('id')}: {e}; run validate_coco on the file.") from None
    boxes = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32).reshape(-1, 4)  # (N, 4) xywh
    boxes[:, 2:] += boxes[:, :2]  # -> xyxy
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
    area = [float(a["area"]) if "area" in a else float(m.sum()) for a, m in zip(anns, masks)]
    return {
        "boxes": boxes,
        "labels": torch.tensor([category_map[a["category_id"]] for a in anns], dtype=torch.int64),
        "masks": torch.from_numpy(masks),
        "image_id": int(image_id),
        "area": torch.tensor(area, dtype=torch.float32),
        "iscrowd": torch.tensor([int(a.get("iscrowd", 0)) for a in anns], dtype=torch.int64),
    }
