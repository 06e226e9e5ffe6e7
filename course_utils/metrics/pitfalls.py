"""A gauntlet of COCO evaluation pitfalls: each fault planted on purpose, its symptom measured with pycocotools.

``run_gauntlet(annotation_file)`` scores a COCO ground truth (by default the course's
``data/val``) against predictions made from the ground truth itself, once correctly and once per
planted fault, and returns one :class:`PitfallResult` per pitfall; ``gauntlet_table`` prints
them. It lives in ``metrics/`` because it runs the course's COCO evaluation
(``coco_eval.run_cocoeval``) and a piece of torchvision's Mask R-CNN.

The pitfalls: (a) ground truth scored against itself must give AP 1.0; (b) RLE encoded from a
row-major (C-order) array; (c) result boxes written as xyxy instead of COCO's xywh; (d) a wrong
``area`` in the ground truth; (e) ``iscrowd`` regions; (f) category id 0; (g) the AP scale and -1.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from scipy import ndimage
from torchvision.models.detection.roi_heads import RoIHeads

from ..data.coco import category_mapping, load_coco, sample_dir, validate_coco
from ..data.rle import masks_to_rle, rle_to_mask
from .coco_eval import STAT_NAMES, run_cocoeval

AREA_BUCKETS = {"small": (0, 32 ** 2), "medium": (32 ** 2, 96 ** 2), "large": (96 ** 2, float("inf"))}
"""COCOeval's area ranges in pixels (``area`` of the ground truth, mask area of a result)."""


@dataclass(frozen=True)
class PitfallResult:
    """One planted fault and what it did to the evaluation."""

    name: str  # short name, e.g. "(c) xyxy boxes"
    fault: str  # what was planted, in words
    symptom: str  # one sentence with the measured numbers
    values: dict = field(default_factory=dict)  # the measured numbers by name


def _coco(dataset: dict) -> COCO:
    """An indexed ``COCO`` of a dataset dict, quietly."""
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def perfect_results(gt: COCO) -> list[dict]:
    """The ground truth as COCO results (mask and box), every score 1.0.

    Args:
        gt: a ground truth ``COCO``.

    Returns:
        one result ``{image_id, category_id, segmentation, bbox, score}`` per annotation.
    """
    return [{"image_id": a["image_id"], "category_id": a["category_id"], "segmentation": a["segmentation"],
             "bbox": list(a["bbox"]), "score": 1.0} for a in gt.dataset["annotations"]]


def _stats(gt: COCO, results: list[dict], iou_type: str = "segm") -> dict[str, float]:
    """The 12 COCOeval numbers by name."""
    return dict(zip(STAT_NAMES, (float(s) for s in run_cocoeval(gt, results, iou_type).stats)))


def row_major_rle(mask: np.ndarray) -> dict:
    """The RLE of a mask with runs counted along rows (C order), the bug: COCO counts down columns.

    Args:
        mask: (H, W) 0/1.

    Returns:
        compressed RLE dict (pycocotools reads it as column runs, so it decodes to a transposed mask).
    """
    h, w = mask.shape
    flat = np.asarray(mask, np.uint8).ravel(order="C")  # the rows one after the other
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
    runs = np.diff(bounds).tolist()
    runs = [0] + runs if flat[0] else runs  # COCO runs start with background
    return mask_utils.frPyObjects({"size": [h, w], "counts": runs}, h, w)


def _sanity(gt: COCO) -> PitfallResult:
    segm, bbox = _stats(gt, perfect_results(gt)), _stats(gt, perfect_results(gt), "bbox")
    return PitfallResult("(a) sanity check", "the ground truth itself is scored as the predictions (score 1.0)",
                         f"segm AP = {segm['AP']:.3f} and bbox AP = {bbox['AP']:.3f}: anything below 1.0 here "
                         "means the evaluation code, not the model, is broken.",
                         {"segm_AP": segm["AP"], "bbox_AP": bbox["AP"]})


def _fortran(gt: COCO) -> PitfallResult:
    anns = gt.dataset["annotations"]
    masks = [rle_to_mask(a["segmentation"]) for a in anns]  # (H, W) uint8 each
    try:
        mask_utils.encode(np.ascontiguousarray(masks[0]))
        error = "no error"
    except ValueError as e:
        error = f"{type(e).__name__}: {e}"
    results = perfect_results(gt)
    for r, m in zip(results, masks):
        r["segmentation"] = row_major_rle(m)
    ap = _stats(gt, results)["AP"]
    same = sum(bool((m == m.T).all()) if m.shape[0] == m.shape[1] else False for m in masks)
    return PitfallResult("(b) C-order RLE", "masks run-length encoded from a C-order (row-major) array",
                         f"pycocotools.mask.encode refuses a C-order array ({error}); runs counted along rows "
                         f"instead decode as transposed masks and segm AP falls from 1.0 to {ap:.3f} ("
                         + (f"only {same} of {len(masks)} masks are their own transpose)." if same else
                            f"none of the {len(masks)} masks is its own transpose)."),
                         {"encode_error": error, "segm_AP": ap, "symmetric_masks": same})


def _xyxy(gt: COCO) -> PitfallResult:
    results = perfect_results(gt)
    for r in results:
        x, y, w, h = r["bbox"]
        r["bbox"] = [x, y, x + w, y + h]
        r.pop("segmentation")
    stats = _stats(gt, results, "bbox")
    # read as [x, y, w, h], the box keeps its corner and grows to (x + w) x (y + h): IoU = w h / ((x + w)(y + h))
    kept = sum(w * h >= 0.5 * (x + w) * (y + h) for x, y, w, h in (a["bbox"] for a in gt.dataset["annotations"]))
    return PitfallResult("(c) xyxy boxes", "result boxes written as [x1, y1, x2, y2]; COCO reads [x, y, w, h]",
                         f"bbox AP falls from 1.0 to {stats['AP']:.3f} (AP50 {stats['AP50']:.3f}): every box "
                         "is read x1 and y1 pixels too wide and tall, so it misses its object unless the object "
                         f"sits near the top-left corner ({kept} of {len(results)} boxes still overlap theirs by "
                         "IoU >= 0.5).", {"bbox_AP": stats["AP"], "bbox_AP50": stats["AP50"]})


def _bucket_counts(anns: list[dict]) -> dict[str, int]:
    """How many non-crowd annotations fall in each COCO area bucket by their ``area``."""
    return {b: sum(lo <= a["area"] < hi for a in anns if not a.get("iscrowd", 0)) for b, (lo, hi) in
            AREA_BUCKETS.items()}


def _area(gt: COCO) -> PitfallResult:
    data = copy.deepcopy(gt.dataset)
    for a in data["annotations"]:
        a["area"] = 4 * a["area"]  # measured on images at twice the size, as a converter that forgot to rescale
    results = _eroded_results(gt)  # masks one pixel too small: small objects lose more IoU than large ones
    before, after = _stats(gt, results), _stats(_coco(data), results)
    nb, na = _bucket_counts(gt.dataset["annotations"]), _bucket_counts(data["annotations"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "annotations.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        reported = sum(f.kind == "area-mismatch" for f in validate_coco(path, check_images=False))

    def shown(v: float) -> str:
        return f"{v:.0f} (no ground truth)" if v < 0 else f"{v:.3f}"

    return PitfallResult("(d) wrong area", "ground-truth area measured at twice the image size (4x the pixels)",
                         f"objects per bucket (small/medium/large) go from {nb['small']}/{nb['medium']}/"
                         f"{nb['large']} to {na['small']}/{na['medium']}/{na['large']}, so AP_small goes from "
                         f"{shown(before['AP_small'])} to {shown(after['AP_small'])} and AP_medium from "
                         f"{shown(before['AP_medium'])} to {shown(after['AP_medium'])} for the same predictions "
                         f"(masks one pixel too small), while the overall AP stays {after['AP']:.3f} (the validator "
                         f"reports {reported} area-mismatch).",
                         {"area_mismatch_reported": reported, "buckets_before": nb, "buckets_after": na,
                          "AP_small": (before["AP_small"], after["AP_small"]),
                          "AP_medium": (before["AP_medium"], after["AP_medium"]), "AP": (before["AP"], after["AP"])})


def _crowd_counts(ev) -> tuple[int, int]:
    """(ground truth counted, detections ignored) at IoU 0.5, all areas, from ``evalImgs``."""
    counted = ignored = 0
    for e in ev.evalImgs:
        if e is not None and e["aRng"] == ev.params.areaRng[0]:
            counted += int((np.asarray(e["gtIgnore"]) == 0).sum())
            ignored += int(np.asarray(e["dtIgnore"])[0].sum()) if len(e["dtIds"]) else 0
    return counted, ignored


def _crowd(gt: COCO) -> PitfallResult:
    data = copy.deepcopy(gt.dataset)
    crowd = [a["id"] for a in data["annotations"][3::4]]  # every fourth object becomes a crowd region
    for a in data["annotations"]:
        a["iscrowd"] = int(a["id"] in crowd)
    ev = run_cocoeval(_coco(data), perfect_results(gt))
    counted, ignored = _crowd_counts(ev)
    dropped = copy.deepcopy(gt.dataset)
    dropped["annotations"] = [a for a in dropped["annotations"] if a["id"] not in crowd]
    without = _stats(_coco(dropped), perfect_results(gt))["AP"]
    n = len(data["annotations"])
    return PitfallResult("(e) iscrowd", f"{len(crowd)} of {n} ground-truth objects marked iscrowd=1",
                         f"the ground truth counted drops from {n} to {counted} and the {ignored} detections on "
                         f"crowd regions are ignored, neither true nor false positives (segm AP "
                         f"{ev.stats[0]:.3f}); deleting those objects instead makes the same detections false "
                         f"positives (AP {without:.3f}).",
                         {"gt_total": n, "gt_counted": counted, "dt_ignored": ignored, "AP_crowd": float(ev.stats[0]),
                          "AP_deleted": without})


def _roi_labels(gt: COCO) -> torch.Tensor:
    """The label torchvision's RoIHeads gives each ground-truth box used as its own proposal."""
    heads = RoIHeads(None, None, None, 0.5, 0.5, 512, 0.25, None, 0.05, 0.5, 100)
    labels = []
    for iid in gt.getImgIds():
        anns = gt.imgToAnns.get(iid, [])
        if not anns:
            continue
        boxes = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32)  # (N, 4) xywh
        boxes[:, 2:] += boxes[:, :2]  # -> xyxy
        _, lab = heads.assign_targets_to_proposals([boxes], [boxes],
                                                   [torch.tensor([a["category_id"] for a in anns])])
        labels.append(lab[0])
    return torch.cat(labels)


def _category_zero(gt: COCO) -> PitfallResult:
    data = copy.deepcopy(gt.dataset)
    first = min(a["category_id"] for a in data["annotations"])
    name = next(c["name"] for c in data["categories"] if c["id"] == first)
    for rec in data["categories"] + data["annotations"]:
        key = "id" if "name" in rec else "category_id"
        if rec[key] == first:
            rec[key] = 0
    zeroed = sum(a["category_id"] == 0 for a in data["annotations"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "annotations.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        kinds = Counter(f.kind for f in validate_coco(path, check_images=False))
    coco0 = _coco(data)
    ap = _stats(coco0, perfect_results(coco0))["AP"]
    background = int((_roi_labels(coco0) == 0).sum())
    label = category_mapping(data["categories"])[0][0]  # what CocoInstanceDataset would make of id 0
    said = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    return PitfallResult("(f) category id 0", f"category {name!r} (id {first}) renumbered to 0 ({zeroed} objects)",
                         f"pycocotools scores it like any class (segm AP {ap:.3f}), but torchvision's RoIHeads "
                         f"labels {background} of the {len(data['annotations'])} objects' own boxes background "
                         f"(label 0), so they would be learned as background; the validator reports {said}, and "
                         f"the course's loader renumbers every class (id 0 becomes label {label}).",
                         {"objects_id0": zeroed, "segm_AP": ap, "torchvision_background": background,
                          "validator": dict(kinds), "loader_label": label})


def _eroded_results(gt: COCO) -> list[dict]:
    """An imperfect "model": the ground truth as results, every mask one pixel too small all round."""
    results = perfect_results(gt)
    for r in results:
        m = ndimage.binary_erosion(rle_to_mask(r["segmentation"])).astype(np.uint8)
        r["segmentation"] = masks_to_rle(m[None])[0]
    return results


def _scale(gt: COCO) -> PitfallResult:
    stats = _stats(gt, _eroded_results(gt))
    aps = [stats[k] for k in STAT_NAMES[:6]]
    naive = float(np.mean(aps))
    valid = float(np.mean([v for v in aps if v > -1]))
    absent = [b for b in ("small", "medium", "large") if stats[f"AP_{b}"] == -1]
    if absent:
        names = " and ".join(f"AP_{b}" for b in absent)
        minus = (f"{names} {'is' if len(absent) == 1 else 'are'} -1 because no object is "
                 f"{' or '.join(absent)}, and averaging the six AP numbers with {'it' if len(absent) == 1 else 'them'} "
                 f"gives {naive:.3f} instead of {valid:.3f}")
    else:
        minus = "every size range has objects here, so no stat is -1; where one is, leave it out of any average"
    return PitfallResult("(g) AP scale and -1", "masks one pixel too small; the stats read as printed",
                         f"COCOeval's AP is {stats['AP']:.3f} on a 0-1 scale, which papers print as "
                         f"{100 * stats['AP']:.1f}; {minus}.", {"AP": stats["AP"], "AP_percent": 100 * stats["AP"],
                                           "AP_large": stats["AP_large"], "naive_mean": naive, "mean": valid})


def run_gauntlet(annotation_file: str | Path | None = None) -> list[PitfallResult]:
    """Plant each evaluation pitfall on a COCO ground truth and measure its symptom.

    Args:
        annotation_file: a COCO instance file or dataset folder (default: the course's ``data/val``);
            it needs at least four objects, and masks for the mask pitfalls.

    Returns:
        seven :class:`PitfallResult`, (a) to (g).
    """
    gt = load_coco(sample_dir() / "val" if annotation_file is None else annotation_file)
    if len(gt.dataset["annotations"]) < 4:
        raise ValueError(f"{annotation_file} has {len(gt.dataset['annotations'])} objects; the gauntlet needs 4.")
    return [step(gt) for step in (_sanity, _fortran, _xyxy, _area, _crowd, _category_zero, _scale)]


def gauntlet_table(results: list[PitfallResult]) -> str:
    """The gauntlet as a markdown table: pitfall, planted fault, measured symptom.

    Args:
        results: from :func:`run_gauntlet`.

    Returns:
        the table text, one row per pitfall.
    """
    rows = ["| pitfall | planted fault | symptom (measured) |", "|---|---|---|"]
    rows += [f"| {r.name} | {r.fault} | {r.symptom} |" for r in results]
    return "\n".join(rows)
