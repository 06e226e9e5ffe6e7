"""Annotations as the labelme tool writes them: one JSON file per image, read with care.

- :func:`read_labelme` reads a file into a :class:`LabelmeFile` (its shapes as
  :class:`LabelmeShape`), :func:`labelme_image` gives its image (embedded ``imageData`` or the
  file at ``imagePath``), :func:`shape_to_mask` rasterises one shape and :func:`labelme_instances`
  joins shapes into objects;
- ``labelme_coco.py`` converts folders of such files to a COCO dataset and back.

labelme's conventions: ``points`` are (x, y) in COCO's pixel coordinates (pixel ``(row, col)``
covers ``[col, col + 1) x [row, row + 1)``); a "rectangle" is two opposite corners, a "circle" its
centre and one point on it, a "mask" the first and last pixel of a box plus a base64 PNG of the
mask inside that box; "point", "line", "linestrip" and "points" shapes have no area. Shapes with
the same label and ``group_id`` are one object. A broken file raises :class:`LabelmeError` whose
message names the file and the shape (its index in ``shapes``, from 0, and its label). What the
converters can work around (shapes without area, holes a polygon fills) they report as a
:class:`LabelmeWarning`, so a caller can catch exactly those and no other library's warnings.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .polygons import polygons_to_mask, simplification_cost, storage_sizes

__all__ = ["AREA_TYPES", "LINE_TYPES", "LabelmeError", "LabelmeWarning", "LabelmeFile", "LabelmeInstance",
           "LabelmeShape", "decode_image_data", "image_file", "labelme_image", "labelme_instances", "read_labelme",
           "shape_to_mask", "simplification_cost", "storage_sizes"]

AREA_TYPES = ("polygon", "rectangle", "circle", "mask")
"""Shape types that cover pixels, so they can be objects."""
LINE_TYPES = ("point", "line", "linestrip", "points")
"""Shape types without area (keypoints and lines): skipped when objects are made."""
REQUIRED_KEYS = ("shapes", "imagePath", "imageData", "imageHeight", "imageWidth")
_IMAGE_ADVICE = "re-save the file in labelme, or set imageData to null and keep the image beside the JSON"


class LabelmeError(ValueError):
    """A labelme file that cannot be used; the message is one sentence naming the file and shape."""


class LabelmeWarning(UserWarning):
    """Something the labelme converters worked around (a shape left out, a hole filled); one sentence."""


@dataclass
class LabelmeShape:
    """One shape of a labelme file."""

    label: str  # the class name typed in labelme
    shape_type: str  # one of AREA_TYPES or LINE_TYPES
    points: np.ndarray  # (P, 2) float (x, y)
    group_id: int | None = None  # shapes with the same label and group_id are one object
    mask: np.ndarray | None = None  # (h, w) bool inside the box of a "mask" shape, else None
    index: int = 0  # position in the file's "shapes" list, from 0


@dataclass
class LabelmeFile:
    """One labelme annotation file."""

    path: Path  # the JSON file
    image_path: str  # "imagePath": the image, relative to the JSON file's folder
    height: int  # "imageHeight"
    width: int  # "imageWidth"
    shapes: list[LabelmeShape] = field(default_factory=list)
    image_data: str | None = None  # "imageData": the base64 image file, or None when not embedded


@dataclass
class LabelmeInstance:
    """One object: the union of the shapes that share its label and group_id."""

    label: str
    mask: np.ndarray  # (H, W) bool
    shapes: list[int]  # indices of its shapes in the file


def _where(path: Path, shape: LabelmeShape | dict | None = None, index: int | None = None) -> str:
    """'frame.json, shape 2 ('cat', polygon)': the start of an error sentence."""
    if shape is None:
        return path.name
    if isinstance(shape, LabelmeShape):
        return f"{path.name}, shape {shape.index} ({shape.label!r}, {shape.shape_type})"
    label = shape.get("label") if isinstance(shape, dict) else None
    kind = shape.get("shape_type", "polygon") if isinstance(shape, dict) else None
    return f"{path.name}, shape {index} ({label!r}, {kind})"


def decode_image_data(data: str, where: str = "imageData", advice: str = _IMAGE_ADVICE) -> bytes:
    """The bytes of a base64 image file (labelme's ``imageData``), checked to be an image.

    Args:
        data: the base64 text.
        where: how to name it in an error message.
        advice: what to do about it, for the error message.

    Returns:
        the image file's bytes.

    Raises:
        LabelmeError: the text is not base64 of an image file.
    """
    try:
        raw = base64.b64decode(data, validate=True)
        with Image.open(io.BytesIO(raw)):  # reads the header: fails on anything but an image file
            pass
    except (binascii.Error, ValueError, TypeError, OSError):
        raise LabelmeError(f"{where}: the base64 text does not decode to an image file; {advice}.") from None
    return raw


def _points(raw, where: str) -> np.ndarray:
    """(P, 2) float of a shape's "points", or a LabelmeError."""
    try:
        pts = np.asarray(raw, dtype=float)
    except (TypeError, ValueError):
        pts = None
    if pts is None or (pts.size and (pts.ndim != 2 or pts.shape[1] != 2)) or not np.isfinite(pts).all():
        raise LabelmeError(f"{where}: points must be a list of [x, y] pairs of finite numbers; redraw the shape.")
    return pts.reshape(-1, 2)


def _shape(raw, index: int, path: Path) -> LabelmeShape:
    """One entry of "shapes", checked."""
    where = _where(path, raw, index)
    if not isinstance(raw, dict) or not isinstance(raw.get("label"), str) or "points" not in raw:
        raise LabelmeError(f"{where}: a shape needs a text \"label\" and a \"points\" list; fix or remove it.")
    kind = raw.get("shape_type") or "polygon"  # labelme's default
    group = raw.get("group_id")
    if group is not None and not (isinstance(group, int) and not isinstance(group, bool)):
        raise LabelmeError(f"{where}: group_id is {group!r}; use an integer or null.")
    if not isinstance(kind, str) or kind not in AREA_TYPES + LINE_TYPES:
        raise LabelmeError(f"{where}: shape_type {kind!r} is not a labelme shape type (one of "
                           f"{', '.join(AREA_TYPES + LINE_TYPES)}); fix the file.")
    shape = LabelmeShape(raw["label"], kind, _points(raw["points"], where), group, None, index)
    need = {"polygon": "at least 3", "rectangle": "2", "circle": "2", "mask": "2"}.get(kind)
    n = len(shape.points)
    if need is not None and (n < 3 if kind == "polygon" else n != 2):
        what = {"polygon": "a polygon", "rectangle": "a rectangle (two corners)",
                "circle": "a circle (its centre and a point on it)", "mask": "a mask (two corners of its box)"}[kind]
        raise LabelmeError(f"{where}: {what} needs {need} points, it has {n}.")
    if kind == "mask":
        if not isinstance(raw.get("mask"), str):
            raise LabelmeError(f"{where}: a mask shape needs its \"mask\" PNG as base64 text; redraw the mask.")
        png = decode_image_data(raw["mask"], f"{where}, its mask", "redraw the mask in labelme")
        with Image.open(io.BytesIO(png)) as im:
            shape.mask = np.asarray(im.convert("L")) > 0  # (h, w)
        (x1, y1), (x2, y2) = np.floor(shape.points.min(0)), np.floor(shape.points.max(0))
        box = (int(y2 - y1) + 1, int(x2 - x1) + 1)  # labelme's corners are the first and last pixel
        if shape.mask.shape != box:
            raise LabelmeError(f"{where}: its mask PNG is {shape.mask.shape[1]}x{shape.mask.shape[0]} pixels but "
                               f"its box holds {box[1]}x{box[0]} (width x height); redraw the mask in labelme.")
    return shape


def read_labelme(path: str | Path) -> LabelmeFile:
    """Read one labelme JSON file, checking every shape.

    Args:
        path: the ``.json`` file labelme saved.

    Returns:
        a :class:`LabelmeFile` (shapes in file order, shapes without area included).

    Raises:
        LabelmeError: the file is missing, not JSON, lacks keys, has a malformed shape, or its
            embedded image is not of the size the file says (one sentence naming file and shape).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LabelmeError(f"{path} does not exist; check the path to the labelme file.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = f" ({e.msg} at line {e.lineno})" if isinstance(e, json.JSONDecodeError) else ""
        raise LabelmeError(f"{path.name} is not valid JSON{where}; re-save it in labelme or fix the syntax.") from None
    if not isinstance(data, dict):
        raise LabelmeError(f"{path.name} holds a {type(data).__name__}, not a labelme object; is it a labelme file?")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise LabelmeError(f"{path.name} has no {', '.join(repr(k) for k in missing)}; a labelme file has "
                           "shapes, imagePath, imageData, imageHeight and imageWidth.")
    h, w = data["imageHeight"], data["imageWidth"]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (h, w)):
        raise LabelmeError(f"{path.name}: imageHeight {h!r} and imageWidth {w!r} must be positive integers.")
    if not isinstance(data["shapes"], list) or not isinstance(data["imagePath"], str):
        raise LabelmeError(f"{path.name}: \"shapes\" must be a list and \"imagePath\" a text path.")
    if data["imageData"] is not None:
        if not isinstance(data["imageData"], str):
            raise LabelmeError(f"{path.name}: imageData must be base64 text or null; {_IMAGE_ADVICE}.")
        with Image.open(io.BytesIO(decode_image_data(data["imageData"], f"{path.name}, imageData"))) as im:
            if im.size != (w, h):
                raise LabelmeError(f"{path.name}: the embedded image is {im.size[0]}x{im.size[1]} but imageWidth x "
                                   f"imageHeight say {w}x{h}; fix the sizes or re-save the file in labelme.")
    shapes = [_shape(s, i, path) for i, s in enumerate(data["shapes"])]
    return LabelmeFile(path, data["imagePath"], h, w, shapes, data["imageData"])


def image_file(lf: LabelmeFile) -> Path:
    """The image file a labelme file points to (``imagePath`` from the JSON's folder; Windows separators too).

    Args:
        lf: from :func:`read_labelme`.

    Returns:
        the path of an existing file.

    Raises:
        LabelmeError: there is no file at imagePath.
    """
    path = lf.path.parent / lf.image_path.replace("\\", "/")
    if not path.is_file():
        raise LabelmeError(f"{lf.path.name}: imagePath {lf.image_path!r} is not a file beside the JSON and no "
                           "image is embedded; copy the image there or fix imagePath.")
    return path


def labelme_image(lf: LabelmeFile) -> Image.Image:
    """The image of a labelme file: decoded from ``imageData``, else opened at ``imagePath``.

    Args:
        lf: from :func:`read_labelme`.

    Returns:
        a loaded PIL image of the file's size.

    Raises:
        LabelmeError: no embedded image and no file at imagePath, or a file of another size.
    """
    if lf.image_data is not None:
        im = Image.open(io.BytesIO(base64.b64decode(lf.image_data)))
    else:
        path = image_file(lf)
        try:
            im = Image.open(path)
        except OSError:
            raise LabelmeError(f"{lf.path.name}: imagePath {lf.image_path!r} cannot be opened as an image; "
                               "replace the file.") from None
    im.load()
    if im.size != (lf.width, lf.height):
        raise LabelmeError(f"{lf.path.name}: the image is {im.size[0]}x{im.size[1]} but imageWidth x imageHeight "
                           f"say {lf.width}x{lf.height}; fix the sizes or re-save the file in labelme.")
    return im


def shape_to_mask(shape: LabelmeShape, height: int, width: int) -> np.ndarray:
    """The pixels one area shape covers (polygons rasterised by pycocotools, like COCO's).

    Args:
        shape: a polygon, rectangle, circle or mask shape.
        height, width: the image size.

    Returns:
        (H, W) bool; parts outside the image are cut off.

    Raises:
        ValueError: the shape has no area (point, line, linestrip, points).
    """
    pts = shape.points  # (P, 2) x, y
    if shape.shape_type == "polygon":
        return polygons_to_mask([pts.reshape(-1).tolist()], height, width)
    if shape.shape_type == "rectangle":
        (x1, y1), (x2, y2) = pts.min(0), pts.max(0)
        return polygons_to_mask([[x1, y1, x2, y1, x2, y2, x1, y2]], height, width)
    if shape.shape_type == "circle":
        (cx, cy), edge = pts[0], pts[1]
        r2 = float(((edge - pts[0]) ** 2).sum())
        ys, xs = np.mgrid[:height, :width] + 0.5  # pixel centres
        return (xs - cx) ** 2 + (ys - cy) ** 2 <= r2
    if shape.shape_type == "mask":
        out = np.zeros((height, width), bool)
        x0, y0 = np.floor(pts.min(0)).astype(int)  # the box's first pixel
        mh, mw = shape.mask.shape
        top, left = max(y0, 0), max(x0, 0)
        part = shape.mask[top - y0:max(min(y0 + mh, height) - y0, 0), left - x0:max(min(x0 + mw, width) - x0, 0)]
        out[top:top + part.shape[0], left:left + part.shape[1]] = part
        return out
    raise ValueError(f"a {shape.shape_type} shape has no area, so it has no mask")


def labelme_instances(lf: LabelmeFile) -> tuple[list[LabelmeInstance], list[str]]:
    """The objects of a labelme file: area shapes joined by (label, group_id), in file order.

    Args:
        lf: from :func:`read_labelme`.

    Returns:
        (objects with a non-empty mask; one sentence per shape left out, naming file and shape:
        shapes without area, and shapes wholly outside the image).
    """
    groups: dict[tuple, LabelmeInstance] = {}
    skipped = []
    for shape in lf.shapes:
        if shape.shape_type in LINE_TYPES:
            skipped.append(f"{_where(lf.path, shape)}: a {shape.shape_type} has no area, so it is no object; "
                           "skipped.")
            continue
        mask = shape_to_mask(shape, lf.height, lf.width)
        if not mask.any():
            skipped.append(f"{_where(lf.path, shape)}: the shape covers no pixel of the {lf.width}x{lf.height} "
                           "image; skipped.")
            continue
        key = (shape.label, shape.group_id) if shape.group_id is not None else ("", -1 - shape.index)
        if key in groups:
            groups[key].mask |= mask
            groups[key].shapes.append(shape.index)
        else:
            groups[key] = LabelmeInstance(shape.label, mask, [shape.index])
    return list(groups.values()), skipped
