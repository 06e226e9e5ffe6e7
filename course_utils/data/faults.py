"""Planted faults: a copy of a COCO dataset folder broken on purpose, to see what the validator says.

- ``make_broken_copy`` copies a COCO dataset folder and plants the common faults in it, so the
  validator's messages can be seen on a file that is known to be wrong;
- ``fault_table`` pairs each planted fault with what the validator said about it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .validate import Fault

PLANTABLE = ("degenerate-box", "background-category", "unknown-category", "missing-image-record",
             "box-outside-image", "mask-outside-image", "bad-segmentation", "empty-mask", "duplicate-id",
             "missing-image-file", "image-size-mismatch")
"""The faults ``make_broken_copy`` plants by default (one of each), named as the validator names them."""
EXTRA_PLANTABLE = ("bad-area", "bad-id")
"""Range faults ``make_broken_copy`` plants only when asked: an area of 0 and an annotation id of 0."""


@dataclass(frozen=True)
class Breakage:
    """One fault planted on purpose in a copy of a dataset."""

    kind: str  # the validator's name for it, e.g. "degenerate-box"
    what: str  # what was changed, in words
    annotation_id: int | None = None  # the annotation changed, if any
    image_id: int | None = None  # the image changed (or the changed annotation's image)


def make_broken_copy(src: str | Path, dst: str | Path | None = None,
                     faults: tuple[str, ...] = PLANTABLE) -> tuple[Path, list[Breakage]]:
    """Copy a COCO dataset folder and plant common faults in the copy (the original is untouched).

    Args:
        src: dataset folder holding ``annotations.json`` and ``images/``.
        dst: where to put the copy (a new temporary folder when None).
        faults: which faults to plant, from ``PLANTABLE`` and ``EXTRA_PLANTABLE``; "malformed-json"
            instead truncates the JSON file (then nothing else can be read, so plant it alone).

    Returns:
        (the copy's folder, one ``Breakage`` per planted fault).
    """
    src = Path(src)
    ann_file = src / "annotations.json"
    if not ann_file.is_file():
        raise FileNotFoundError(f"{src} has no annotations.json; pass the folder of one split, e.g. data/train")
    unknown = sorted(set(faults) - set(PLANTABLE) - set(EXTRA_PLANTABLE) - {"malformed-json"})
    if unknown:
        raise ValueError(f"cannot plant {unknown}; choose from {PLANTABLE + EXTRA_PLANTABLE + ('malformed-json',)}")
    dst = Path(tempfile.mkdtemp(prefix="broken_coco_")) if dst is None else Path(dst)
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    text = ann_file.read_text(encoding="utf-8")
    if "malformed-json" in faults:
        cut = text.rfind("},", 0, len(text) // 2)
        (dst / "annotations.json").write_text(text[:cut] + "}\n  {", encoding="utf-8")
        return dst, [Breakage("malformed-json", "cut the JSON file off in the middle of the annotation list")]

    data = json.loads(text)
    out = _plant(data, dst, faults, src)
    (dst / "annotations.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    return dst, out


def _plant(data: dict, dst: Path, faults: tuple[str, ...], src: Path) -> list[Breakage]:
    """Plant ``faults`` in a loaded COCO dict (in place; image files deleted under ``dst``)."""
    images, anns = data["images"], data["annotations"]
    if len(images) < 4 or len(anns) < 2 * len(PLANTABLE):
        raise ValueError(f"{src} is too small to plant every fault in (needs >= 4 images, >= 22 annotations)")
    img_by_id = {img["id"]: img for img in images}
    # image faults on the first two images; annotation faults on annotations of other images only
    lost_img, resized_img = images[0], images[1]
    spare = [a for a in anns if a["image_id"] not in (lost_img["id"], resized_img["id"])]
    pick = iter(spare[::2])  # every other annotation: spread over the file
    out: list[Breakage] = []

    def plant(kind: str, what: str, ann: dict | None = None, img: dict | None = None) -> None:
        out.append(Breakage(kind, what, ann["id"] if ann else None,
                            ann["image_id"] if ann else (img["id"] if img else None)))

    for kind in faults:
        if kind == "missing-image-file":
            (dst / "images" / lost_img["file_name"]).unlink()
            plant(kind, f"deleted the image file {lost_img['file_name']}", img=lost_img)
        elif kind == "image-size-mismatch":
            resized_img["width"] *= 2
            plant(kind, f"doubled the width of {resized_img['file_name']} in the JSON", img=resized_img)
            continue
        else:
            a = next(pick)
            img = img_by_id[a["image_id"]]
            plant(kind, _break_annotation(kind, a, img["width"], img["height"], pick), a)
            if kind == "missing-image-record":
                out[-1] = Breakage(kind, out[-1].what, a["id"], 99999)
    return out


def _break_annotation(kind: str, a: dict, w: int, h: int, pick) -> str:
    """Plant one annotation fault in ``a`` (in place); returns what was changed, in words."""
    if kind == "degenerate-box":
        a["bbox"][2] = 0.0
        return "set a box's width to 0"
    if kind == "background-category":
        a["category_id"] = 0
        return "set a category_id to 0 (background)"
    if kind == "unknown-category":
        a["category_id"] = 42
        return "set a category_id to 42, which is not declared"
    if kind == "missing-image-record":
        a["image_id"] = 99999
        return "pointed an annotation at image_id 99999, which does not exist"
    if kind == "box-outside-image":
        a["bbox"] = [float(w - 5), a["bbox"][1], 20.0, a["bbox"][3]]
        return "moved a box so it pokes 15 px out of the image"
    if kind == "mask-outside-image":
        a["segmentation"]["size"] = [h // 2, w // 2]
        return "gave an RLE mask half the image's size"
    if kind == "bad-segmentation":
        a["segmentation"]["counts"] = "not an RLE!"
        return "replaced an RLE string by text that is not RLE"
    if kind == "empty-mask":
        a["segmentation"] = []
        return "emptied a segmentation (no polygon at all)"
    if kind == "bad-area":
        a["area"] = 0
        return "set an area to 0"
    if kind == "bad-id":
        a["id"] = 0
        return "set an annotation id to 0"
    if kind == "duplicate-id":
        other = next(pick)
        a["id"] = other["id"]
        return f"gave two annotations the same id {other['id']}"
    raise ValueError(f"cannot plant {kind!r}")


def fault_table(planted: list[Breakage], found: list[Fault]) -> str:
    """A text table: each planted fault, and the validator's message about it (or that it was missed).

    Args:
        planted: from ``make_broken_copy``.
        found: from ``validate_coco`` on the broken copy.

    Returns:
        the table, one block per planted fault, then any further faults the validator reported.
    """
    used: set[int] = set()
    blocks = []
    for b in planted:
        hits = [i for i, f in enumerate(found) if f.kind == b.kind
                and (b.annotation_id is None or f.annotation_id in (None, b.annotation_id))
                and (b.image_id is None or f.image_id in (None, b.image_id))]
        used.update(hits)
        said = "\n".join(f"    validator: {found[i]}" for i in hits) or "    validator: (MISSED: not reported)"
        blocks.append(f"{b.kind}: we {b.what}\n{said}")
    rest = [f for i, f in enumerate(found) if i not in used]
    if rest:
        blocks.append("and as a consequence:\n" + "\n".join(f"    validator: {f}" for f in rest))
    return "\n".join(blocks)
