"""COCO run-length encoding (RLE) of masks: the course's one encoder, and segmentations read with care.

- :func:`masks_to_rle`: binary masks -> COCO compressed RLE ``{"size": [H, W], "counts": str}``
  via pycocotools (runs counted down the *columns*, i.e. in Fortran order); every RLE the course
  writes (annotations, COCO export, COCO evaluation) comes from here. :func:`rle_to_mask`
  decodes one back.
- pycocotools says little about a bad segmentation (a bare "Invalid RLE mask representation", and
  older releases did not check run lengths at all), so ``segmentation_to_rle`` checks sizes and
  run lengths first and raises a ``ValueError`` with one readable sentence instead.
"""

from __future__ import annotations

import math

import numpy as np
from pycocotools import mask as mask_utils


def masks_to_rle(masks: np.ndarray) -> list[dict]:
    """COCO compressed RLE of binary masks, as stored in a COCO JSON file.

    Args:
        masks: (N, H, W) bool or 0/1 integers (callers check the values).

    Returns:
        N dicts ``{"size": [H, W], "counts": str}``.
    """
    # (H, W, N) uint8 in column-major memory, the layout pycocotools reads
    arr = np.asfortranarray(np.asarray(masks).transpose(1, 2, 0).astype(np.uint8))
    return [{"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}
            for rle in mask_utils.encode(arr)]


def rle_to_mask(rle: dict) -> np.ndarray:
    """Decode a compressed or uncompressed COCO RLE to an (H, W) uint8 0/1 mask.

    Args:
        rle: ``{"size": [H, W], "counts": list[int] | str | bytes}``.

    Returns:
        (H, W) uint8 0/1.
    """
    if isinstance(rle.get("counts"), list):  # uncompressed: convert first
        rle = mask_utils.frPyObjects(rle, *rle["size"])
    elif isinstance(rle.get("counts"), str):
        rle = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
    return mask_utils.decode(rle)


def is_int(v) -> bool:
    """True for an int that is not a bool."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v) -> bool:
    """True for a finite int or float that is not a bool."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def rle_string_counts(s: str | bytes) -> list[int]:
    """Run lengths of a compressed COCO RLE string ("from scratch", the format of pycocotools' maskApi.c).

    Each count is stored in 5-bit groups as characters offset by 48, low bits first, bit 0x20
    meaning "more groups follow" and bit 0x10 of the last group the sign; from the third count on
    the value is the difference to the count two places earlier.

    Args:
        s: the ``counts`` string of a compressed RLE.

    Returns:
        the run lengths, alternately background and foreground, starting with background.
    """
    if isinstance(s, bytes):
        s = s.decode("ascii")
    counts: list[int] = []
    pos = 0
    while pos < len(s):
        value, shift, more = 0, 0, True
        while more:
            if pos >= len(s):
                raise ValueError("the RLE string ends in the middle of a count")
            c = ord(s[pos]) - 48
            if not 0 <= c < 64:
                raise ValueError(f"the RLE counts string contains {s[pos]!r}, which compressed COCO RLE never uses")
            value |= (c & 0x1F) << shift
            more = bool(c & 0x20)
            pos += 1
            shift += 5
            if not more and c & 0x10:
                value |= -1 << shift
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def segmentation_to_rle(segmentation, height: int, width: int) -> dict:
    """One compressed RLE of an annotation's segmentation (polygons, uncompressed or compressed RLE).

    Args:
        segmentation: a list of polygons ``[[x1, y1, x2, y2, ...], ...]`` or an RLE dict
            ``{"size": [h, w], "counts": list[int] | str}``.
        height, width: the image size the mask must have.

    Returns:
        compressed RLE dict (``counts`` bytes), ready for ``pycocotools.mask.decode``.

    Raises:
        ValueError: a sentence saying what is wrong with the segmentation.
    """
    if isinstance(segmentation, list):  # polygons
        if not segmentation:
            return mask_utils.encode(np.zeros((height, width), np.uint8, order="F"))
        for poly in segmentation:
            if (not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2
                    or not all(is_number(v) for v in poly)):
                raise ValueError("each polygon must be a flat list of at least 3 (x, y) pairs of finite numbers")
        # one polygon at a time: pycocotools reads a 4-number list as a box, not a polygon
        rles = [mask_utils.frPyObjects([poly], height, width)[0] for poly in segmentation]
        return mask_utils.merge(rles)
    if not isinstance(segmentation, dict) or "counts" not in segmentation or "size" not in segmentation:
        raise ValueError('segmentation must be a list of polygons or an RLE dict with "size" and "counts"')
    size = segmentation["size"]
    if not (isinstance(size, list) and len(size) == 2 and all(is_int(v) for v in size)):
        raise ValueError(f'RLE "size" must be [height, width], got {size!r}')
    if list(size) != [height, width]:
        raise ValueError(f"the RLE mask is {size[0]}x{size[1]} (height x width) but its image is {height}x{width}")
    counts = segmentation["counts"]
    if isinstance(counts, list):
        if not all(is_int(c) and c >= 0 for c in counts):
            raise ValueError("uncompressed RLE counts must be non-negative integers")
        runs = counts
    elif isinstance(counts, (str, bytes)):
        runs = rle_string_counts(counts)
        if any(c < 0 for c in runs):
            raise ValueError("the compressed RLE string decodes to negative run lengths")
    else:
        raise ValueError(f'RLE "counts" must be a list of ints or a string, got {type(counts).__name__}')
    if sum(runs) != height * width:
        raise ValueError(f"the RLE runs cover {sum(runs)} pixels, but a {height}x{width} mask has {height * width}")
    if isinstance(counts, list):
        return mask_utils.frPyObjects(segmentation, height, width)
    return {"size": [height, width], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
