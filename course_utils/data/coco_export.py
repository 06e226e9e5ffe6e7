"""Export generated scenes as COCO instance-segmentation files, and the committed ``data/`` sample.

``export_coco`` writes a split as ``images/NNNNNN.png`` plus ``annotations.json`` (compressed RLE
masks; category ids = the course's class ids for shapes-world scenes, or the categories given);
``write_sample`` makes the committed sample: scenes of the shifted world (``own_world.py``), the
"somebody else's data" of lesson 11.

Every byte written is a function of the scenes only: PNGs come from a tiny encoder below (stored
deflate blocks, no metadata), because compressed PNG bytes change with the zlib build inside
Pillow; JSON is written with sorted keys, one record per line.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from pycocotools import mask as mask_utils

from .classes import CLASSES, STUFF, THINGS, VOID
from .datasets import split_seed
from .own_world import MAX_OBJECTS, MAX_RADIUS, MIN_OBJECTS, MIN_RADIUS, OWN_CATEGORIES, TEXTURES, make_own_scene
from .rle import masks_to_rle
from .shapes import make_scene

SAMPLE_SPLITS: dict[str, tuple[int, int]] = {"train": (100, 48), "val": (101, 24)}
"""(seed, number of scenes) of each split of the committed sample (shifted-world scenes, ``make_own_scene``)."""


def png_bytes(rgb: np.ndarray) -> bytes:
    """A PNG file of an 8-bit RGB image, byte-for-byte the same on every machine.

    Args:
        rgb: (H, W, 3) uint8.

    Returns:
        the PNG file's bytes (filter 0 on every row, deflate "stored" blocks, no ancillary chunks).
    """
    h, w, _ = rgb.shape
    rows = np.zeros((h, 1 + 3 * w), np.uint8)  # each row: filter byte 0, then R G B R G B ...
    rows[:, 1:] = rgb.reshape(h, 3 * w)
    raw = rows.tobytes()
    blocks = [raw[i:i + 65535] for i in range(0, len(raw), 65535)]
    stream = b"\x78\x01" + b"".join(  # zlib header, then stored blocks (BFINAL on the last one)
        struct.pack("<BHH", int(i == len(blocks) - 1), len(b), len(b) ^ 0xFFFF) + b for i, b in enumerate(blocks)
    ) + struct.pack(">I", zlib.adler32(raw))

    def chunk(tag: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", zlib.crc32(tag + payload))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit truecolour, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", stream) + chunk(b"IEND", b"")


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """A float image (3, H, W) in [0, 1] as uint8 (H, W, 3), rounded to the nearest level."""
    return np.round(image.clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)


def _dump_json(data: dict) -> str:
    """Stable, diff-friendly JSON: sorted keys, one list entry per line."""
    parts = []
    for key in sorted(data):
        value = data[key]
        if isinstance(value, list) and value:
            items = ",\n".join("  " + json.dumps(v, sort_keys=True) for v in value)
            parts.append(f' "{key}": [\n{items}\n ]')
        else:
            parts.append(f" {json.dumps(key)}: {json.dumps(value, sort_keys=True)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def coco_categories() -> list[dict]:
    """COCO ``categories`` of the course: every class but void, id = class id."""
    return [{"id": c, "name": CLASSES[c], "supercategory": "stuff" if c in STUFF else "thing",
             "isthing": int(c in THINGS)} for c in range(len(CLASSES)) if c != VOID]


def scene_annotations(scene: dict, image_id: int, first_id: int) -> list[dict]:
    """COCO annotations of a scene's objects (visible masks as compressed RLE).

    Args:
        scene: a ``make_scene`` dict.
        image_id: the image id to refer to.
        first_id: id of the first annotation (ids count up from it).

    Returns:
        one dict per object: id, image_id, category_id, segmentation, area, bbox [x, y, w, h], iscrowd.
    """
    rles = masks_to_rle(scene["masks"].numpy())  # (N, H, W) bool -> N RLE dicts
    anns = []
    for k, (rle, label) in enumerate(zip(rles, scene["labels"].tolist())):
        anns.append({"id": first_id + k, "image_id": image_id, "category_id": int(label), "segmentation": rle,
                     "area": int(mask_utils.area(rle)), "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                     "iscrowd": 0})
    return anns


def export_coco(out_dir: str | Path, split: str | int = "train", length: int = 64, size: int = 128,
                description: str | None = None, scenes: Callable[[int, int, int], dict] = make_scene,
                categories: list[dict] | None = None) -> Path:
    """Write ``length`` scenes of a split as a COCO instance dataset, reproducibly.

    Args:
        out_dir: folder to write; gets ``images/000000.png ...`` and ``annotations.json``.
            Numbered PNGs left from an earlier, longer export are removed.
        split: split name ("train", "val", "test") or an int seed.
        length: number of scenes (image ids 0 .. length - 1 are the scene indices).
        size: image side in pixels.
        description: text for ``info.description``.
        scenes: the generator, ``scenes(seed, index, size) -> scene dict`` (default the shapes world's
            ``make_scene``; ``own_world.make_own_scene`` for the shifted world).
        categories: the COCO ``categories`` the scenes' labels refer to (default: the course's classes,
            :func:`coco_categories`, which is what ``make_scene`` labels are).

    Returns:
        the path of ``annotations.json``.
    """
    if not callable(scenes):
        raise TypeError(f"scenes must be a function (seed, index, size) -> scene, not {type(scenes).__name__}")
    out_dir = Path(out_dir)
    seed = split_seed(split)
    image_dir = out_dir / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for index in range(int(length)):
        scene = scenes(seed, index, size)
        name = f"{index:06d}.png"
        (image_dir / name).write_bytes(png_bytes(to_uint8(scene["image"])))
        images.append({"id": index, "file_name": name, "width": size, "height": size})
        annotations += scene_annotations(scene, index, len(annotations) + 1)  # ids from 1: COCOeval needs > 0
    for stale in image_dir.glob("*.png"):
        if re.fullmatch(r"\d{6}\.png", stale.name) and int(stale.stem) >= length:
            stale.unlink()
    info = {"description": description or f"Shapes world scenes, seed {seed}, {length} images of {size}x{size}",
            "version": "1.0", "contributor": "course_utils.data.coco.export_coco", "seed": seed,
            "url": "", "year": 2024}
    data = {"info": info, "licenses": [], "images": images, "annotations": annotations,
            "categories": coco_categories() if categories is None else categories}
    path = out_dir / "annotations.json"
    path.write_text(_dump_json(data), encoding="utf-8", newline="\n")
    return path


def sample_dir() -> Path:
    """The committed sample's folder (``data/`` at the repository root)."""
    return Path(__file__).resolve().parents[2] / "data"


def write_sample(out_dir: str | Path = "data") -> Path:
    """Write the course's sample COCO dataset (``train/``, ``val/`` and ``README.md``), byte-for-byte.

    Args:
        out_dir: destination folder; ``python -m course_utils make-data`` uses the repository's ``data/``.

    Returns:
        the folder written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    objects = {}
    for name, (seed, length) in SAMPLE_SPLITS.items():
        path = export_coco(out_dir / name, split=seed, length=length, size=128, scenes=make_own_scene,
                           categories=OWN_CATEGORIES, description=f"Shifted-world sample (photographic "
                           f"backgrounds, stars), {name} split: seed {seed}, {length} images of 128x128")
        anns = json.loads(path.read_text(encoding="utf-8"))["annotations"]
        objects[name] = {c["id"]: sum(a["category_id"] == c["id"] for a in anns) for c in OWN_CATEGORIES}
    (out_dir / "README.md").write_text(_sample_readme(objects), encoding="utf-8", newline="\n")
    # git must not convert line endings (core.autocrlf), or the files stop matching byte-for-byte
    (out_dir / ".gitattributes").write_text("# written by write_sample: keep every file byte-for-byte\n* -text\n",
                                            encoding="utf-8", newline="\n")
    return out_dir


def _sample_readme(objects: dict[str, dict[int, int]]) -> str:
    """The text of ``data/README.md``; ``objects`` is the number of annotations per split and category id."""
    (train_seed, n_train), (val_seed, n_val) = SAMPLE_SPLITS["train"], SAMPLE_SPLITS["val"]
    total = {name: sum(counts.values()) for name, counts in objects.items()}
    rows = "\n".join(f"| {c['id']} | {c['name']} | {c['supercategory']} | {objects['train'][c['id']]} | "
                     f"{objects['val'][c['id']]} |" for c in OWN_CATEGORIES)
    textures = ", ".join(f"`skimage.data.{t}()`" for t in TEXTURES)
    return f"""# `data/`: a small COCO-format dataset that is not the shapes world

Lesson 11 loads this folder as if it were somebody else's dataset: it validates the file,
fine-tunes lesson 07's Mask R-CNN on `train/` and evaluates on `val/`. The scenes are deliberately
unlike the shapes world that lesson 07's model was trained on, the way a learner's own data would be:

- **Backgrounds are photographs**, not the generated sky, grass and water: crops of the three
  texture photographs that ship with scikit-image (512 x 512, grey),
  {textures},
  rotated by quarter turns, mirrored, half the time zoomed out 2x, tinted (green, grey-beige,
  brick red, with a per-scene jitter of contrast, brightness and colour); in about 60 % of the
  images two of them meet along a straight boundary at a random angle. Uneven light and a little
  sensor noise come on top.
- **A new class**: five-pointed **stars**, beside circles, squares and triangles. Lesson 07's model
  has never seen a star.
- **Smaller and more numerous objects**: {MIN_OBJECTS}-{MAX_OBJECTS} objects per image (fewer when a placement
  fails) with radii of {MIN_RADIUS:g}-{MAX_RADIUS:g} px (a star's tips reach 1.45 radii; the shapes world: 1-6
  objects of 7-22 px), painted in colours of any hue and shaded by the texture under them;
  many are placed against an earlier one, so they touch or overlap (the hidden parts are not in
  the masks).

The scenes come from `course_utils.data.own_world.make_own_scene` with seeds {train_seed} (train) and
{val_seed} (val); no other lesson uses this world.

The texture photographs are scikit-image's (`skimage/data/`); its documentation gives their
sources and licence: grass from DeviantArt (linolafett, "Grass 01"), gravel ("Gravel04") and brick
("Bricks25") from CC0Textures, all under the **Creative Commons CC0** licence (public domain).

## Layout

```
data/
  README.md                  this file
  .gitattributes             tells git never to change line endings here (the bytes must not move)
  train/
    annotations.json         COCO instance annotations: {n_train} images, {total["train"]} objects
    images/000000.png ...    {n_train} images, 000000.png to {n_train - 1:06d}.png
  val/
    annotations.json         COCO instance annotations: {n_val} images, {total["val"]} objects
    images/000000.png ...    {n_val} images, 000000.png to {n_val - 1:06d}.png
```

Images are 128x128 8-bit RGB PNGs. They are stored without compression (about 49 KB each) so
that the files are the same bytes on every machine: compressed PNG bytes depend on the zlib build.

## `annotations.json`

Standard COCO instance format (keys sorted, one record per line):

- `info`: description, seed, version, contributor; no dates, so regenerating changes nothing.
- `licenses`: empty.
- `images`: `id` (the scene index, from 0), `file_name` (relative to `images/`), `width`, `height`.
- `annotations`: one per object.
  - `id`: unique in the file, from 1 (pycocotools' evaluation treats id 0 as "no match").
  - `image_id`: the image it belongs to.
  - `category_id`: the dataset's own category id (table below).
  - `segmentation`: the object's *visible* pixels (occluded parts excluded, so masks never
    overlap) as compressed RLE: `{{"size": [height, width], "counts": "<string>"}}`; decode it with
    `pycocotools.mask.decode`.
  - `area`: number of pixels in the mask.
  - `bbox`: `[x, y, width, height]` of the tightest box around the mask, exactly as
    `pycocotools.mask.toBbox` gives it.
  - `iscrowd`: always 0.
- `categories`: the four object classes, with `supercategory` "shape" and `isthing` 1.

## Ids

The category ids are this dataset's own, numbered from 1 as a real dataset would number them;
they are **not** the course's class ids (where 4-6 are circle, square, triangle). The loader
(`CocoInstanceDataset`, `category_mapping`) gives them the labels 1-4 and keeps label 0 for
torchvision's background; lesson 11 maps lesson 07's classes to these by name.

| id | name | supercategory | objects in train | objects in val |
|---|---|---|---|---|
{rows}

## Using and regenerating it

```python
from course_utils.data import CocoInstanceDataset, validate_coco
faults = validate_coco("../data/train")        # [] : the file is clean (paths from notebooks/)
dataset = CocoInstanceDataset("../data/train")  # (image, target) in torchvision's format
```

Regenerate it with `python -m course_utils make-data` (or `make data`), which calls
`course_utils.data.coco.write_sample("data")` (scikit-image must be installed: it holds the
photographs). The result is byte-for-byte identical to the committed files; `tests/test_coco.py`
checks that.
"""
