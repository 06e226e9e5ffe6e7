"""COCO-style evaluation (pycocotools ``COCOeval``) of instance predictions, all in memory.

``coco_evaluate(predictions, targets)`` builds a ground-truth ``COCO`` object from torchvision
detection targets (masks as RLE via ``pycocotools.mask.encode``, boxes as COCO ``xywh``), feeds
the predictions in as results, runs ``COCOeval`` for ``segm`` and/or ``bbox`` and returns the
12 standard numbers on a 0-1 scale. A value of -1 means "no ground truth of that kind"
(for example no object is large in the shapes world, so ``AP_large`` is -1), not a bad score.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ..data import CLASSES
from ..data.rle import masks_to_rle

STAT_NAMES: tuple[str, ...] = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
                               "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large")
"""Names of ``COCOeval.stats`` in order (AP averaged over IoU .50:.95 unless a threshold is named)."""


def xyxy_to_xywh(boxes: torch.Tensor) -> torch.Tensor:
    """Convert boxes from corner format to COCO's (x, y, width, height).

    Args:
        boxes: (N, 4) x1, y1, x2, y2.

    Returns:
        (N, 4) x, y, w, h.
    """
    boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    return torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], dim=1)


def encode_masks(masks: torch.Tensor) -> list[dict]:
    """Run-length encode binary masks the way COCO stores them.

    Args:
        masks: (N, H, W) bool or 0/1 integers (NOT 0/255 and NOT probabilities: threshold first).

    Returns:
        N RLE dicts ``{"size": [H, W], "counts": str}``.
    """
    masks = torch.as_tensor(masks)
    if masks.dim() != 3:
        raise ValueError(f"masks must be (N, H, W), got shape {tuple(masks.shape)}")
    if masks.is_floating_point():
        raise ValueError("masks are floating point: threshold them first (e.g. probs > 0.5)")
    if masks.numel() and int(masks.max()) > 1:
        raise ValueError(f"masks must hold 0/1 (or bool), found values up to {int(masks.max())}: "
                         "divide 0/255 masks by 255")
    return masks_to_rle(masks.to(torch.uint8).cpu().numpy())  # (N, H, W) uint8


def build_coco_gt(targets: Sequence[dict], image_size: tuple[int, int] | None = None) -> COCO:
    """A pycocotools ``COCO`` ground-truth object built in memory from torchvision targets.

    Args:
        targets: per image ``boxes`` (N, 4) xyxy, ``labels`` (N,), ``masks`` (N, H, W) 0/1,
            optional ``image_id`` (else the position in the list), ``iscrowd`` (N,).
        image_size: (H, W) used for images without masks; taken from the masks otherwise.

    Returns:
        an indexed ``COCO`` object (categories are the course's class ids, background excluded).
    """
    images, annotations = [], []
    for pos, t in enumerate(targets):
        image_id = int(t.get("image_id", pos))
        masks = t["masks"]
        h, w = masks.shape[-2:] if masks.dim() == 3 and masks.shape[-1] > 0 else (image_size or (0, 0))
        images.append({"id": image_id, "height": int(h), "width": int(w)})
        boxes = xyxy_to_xywh(t["boxes"])
        crowd = t.get("iscrowd", torch.zeros(len(boxes), dtype=torch.int64))
        rles = encode_masks(masks) if len(boxes) else []
        for k in range(len(boxes)):
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": int(t["labels"][k]),
                "segmentation": rles[k], "area": float(mask_utils.area(rles[k])),
                "bbox": [float(v) for v in boxes[k]], "iscrowd": int(crowd[k]),
            })
    categories = [{"id": i, "name": name} for i, name in enumerate(CLASSES) if i > 0]
    coco = COCO()
    coco.dataset = {"images": images, "annotations": annotations, "categories": categories}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def predictions_to_coco(predictions: Sequence[dict], image_ids: Sequence[int],
                        mask_threshold: float = 0.5) -> list[dict]:
    """COCO result dicts from torchvision Mask R-CNN outputs.

    Args:
        predictions: per image ``boxes`` (N, 4) xyxy, ``labels`` (N,), ``scores`` (N,) and
            optionally ``masks`` (N, 1, H, W) probabilities or (N, H, W) 0/1.
        image_ids: the image id of each prediction (same order).
        mask_threshold: probability above which a mask pixel is "on".

    Returns:
        list of ``{image_id, category_id, score, bbox (xywh), segmentation (RLE)}``.
    """
    results = []
    for image_id, p in zip(image_ids, predictions):
        boxes = xyxy_to_xywh(p["boxes"].detach().cpu())
        rles = None
        if "masks" in p:
            masks = p["masks"].detach().cpu()
            if masks.dim() == 4:  # (N, 1, H, W) probabilities from the model
                masks = masks[:, 0]
            if masks.is_floating_point():
                masks = masks > mask_threshold
            rles = encode_masks(masks) if len(masks) else []
        for k in range(len(boxes)):
            r = {"image_id": int(image_id), "category_id": int(p["labels"][k]), "score": float(p["scores"][k]),
                 "bbox": [float(v) for v in boxes[k]]}
            if rles is not None:
                r["segmentation"] = rles[k]
            results.append(r)
    return results


def coco_evaluate(predictions: Sequence[dict], targets: Sequence[dict], iou_types: Sequence[str] = ("segm", "bbox"),
                  mask_threshold: float = 0.5, verbose: bool = False,
                  per_iou: bool = False) -> dict[str, dict[str, float]]:
    """COCO AP/AR of predictions against targets, with pycocotools.

    Args:
        predictions: per image, torchvision Mask R-CNN output (``boxes`` xyxy, ``labels``,
            ``scores``, ``masks`` (N, 1, H, W) probabilities); same order as ``targets``.
        targets: per image, torchvision detection targets (``boxes``, ``labels``, ``masks``,
            optional ``image_id``).
        iou_types: any of "segm" (mask IoU) and "bbox" (box IoU).
        mask_threshold: probability above which a predicted mask pixel is "on".
        verbose: print pycocotools' usual table too.
        per_iou: also return the AP at each IoU threshold, as "AP@50", "AP@55", ..., "AP@95".

    Returns:
        ``{iou_type: {"AP": ..., "AP50": ..., ..., "AR_large": ...}}`` on a 0-1 scale;
        -1 marks a number with no ground truth behind it (e.g. no large objects).
    """
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions but {len(targets)} targets: one of each per image")
    for it in iou_types:
        if it not in ("segm", "bbox"):
            raise ValueError(f"unknown iou_type {it!r}; use 'segm' and/or 'bbox'")
    gt = build_coco_gt(targets)
    image_ids = [int(t.get("image_id", i)) for i, t in enumerate(targets)]
    if len(set(image_ids)) != len(image_ids):
        raise ValueError("targets share image_id values: give every image a distinct image_id")
    results = predictions_to_coco(predictions, image_ids, mask_threshold)
    out = {}
    for it in iou_types:
        if it == "segm" and results and "segmentation" not in results[0]:
            raise ValueError("segm evaluation needs predicted 'masks'")
        stats, per_threshold = _run_cocoeval(gt, results, it, image_ids, verbose)
        out[it] = dict(zip(STAT_NAMES, (float(s) for s in stats)))
        if per_iou:
            out[it].update({f"AP@{round(100 * t)}": float(v) for t, v in per_threshold.items()})
    return out


def run_cocoeval(gt: COCO, results: list[dict], iou_type: str = "segm", image_ids: Sequence[int] | None = None,
                 verbose: bool = False) -> COCOeval:
    """Run pycocotools' evaluate / accumulate / summarize once, quietly, on COCO result dicts.

    Args:
        gt: the ground truth (``load_coco`` of a file, or :func:`build_coco_gt`).
        results: non-empty list of ``{image_id, category_id, score, segmentation and/or bbox}``
            (copied: ``loadRes`` writes into the dicts it gets).
        iou_type: "segm" or "bbox".
        image_ids: the images to score (default: every image of ``gt``).
        verbose: print pycocotools' usual table too.

    Returns:
        the ``COCOeval`` after ``summarize``: ``stats`` (the 12 numbers of ``STAT_NAMES``, 0-1, -1 where
        no ground truth), ``evalImgs`` (per image, category and area range) and ``eval``.
    """
    sink = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with sink:
        dt = gt.loadRes([dict(r) for r in results])
        ev = COCOeval(gt, dt, iou_type)
        if image_ids is not None:
            ev.params.imgIds = list(image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def _run_cocoeval(gt: COCO, results: list[dict], iou_type: str, image_ids: list[int],
                  verbose: bool) -> tuple[np.ndarray, dict[float, float]]:
    """Run evaluate/accumulate/summarize once.

    Returns:
        the 12 stats (zeros where ground truth exists if nothing was predicted) and the AP
        (all areas, 100 detections) at each IoU threshold.
    """
    thresholds = COCOeval(iouType=iou_type).params.iouThrs  # (10,) 0.50 ... 0.95
    if not results:  # loadRes cannot take an empty list: nothing found means AP 0 where GT exists
        has = _has_gt_stats(gt)
        return np.where(has, 0.0, -1.0), {float(t): 0.0 if has[0] else -1.0 for t in thresholds}
    ev = run_cocoeval(gt, results, iou_type, image_ids, verbose)
    precision = ev.eval["precision"][:, :, :, 0, -1]  # (T, R, K): all areas, maxDets=100
    per_threshold = {}
    for t, p in zip(ev.params.iouThrs, precision):
        valid = p[p > -1]
        per_threshold[float(t)] = float(valid.mean()) if valid.size else -1.0
    return ev.stats, per_threshold


def _has_gt_stats(gt: COCO) -> np.ndarray:
    """Which of the 12 stats have ground truth behind them (by COCO's area ranges)."""
    areas = np.array([a["area"] for a in gt.dataset["annotations"]])
    any_gt = len(areas) > 0
    small, large = (areas < 32 ** 2).any(), (areas >= 96 ** 2).any()
    medium = ((areas >= 32 ** 2) & (areas < 96 ** 2)).any()
    return np.array([any_gt] * 3 + [small, medium, large] + [any_gt] * 3 + [small, medium, large])


@torch.no_grad()
def predict_dataset(model: torch.nn.Module, dataset, batch_size: int = 16,
                    device: torch.device | str | None = None) -> tuple[list[dict], list[dict]]:
    """Run a detection model over a dataset.

    Args:
        model: a torchvision detection model (put in eval mode here).
        dataset: yields (image (3, H, W), target) pairs.
        batch_size: images per forward pass.
        device: where to run; the model's device when None.

    Returns:
        (predictions on the CPU, targets), one of each per image.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.eval()
    preds, targets = [], []
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        out = model([img.to(device) for img, _ in items])
        preds += [{k: v.cpu() for k, v in o.items()} for o in out]
        targets += [t for _, t in items]
    return preds, targets


@torch.no_grad()
def evaluate_maskrcnn(model: torch.nn.Module, dataset, batch_size: int = 16, device: torch.device | str | None = None,
                      iou_types: Sequence[str] = ("segm", "bbox"),
                      per_iou: bool = False) -> dict[str, dict[str, float]]:
    """Run a detection model over a dataset and score it with :func:`coco_evaluate`.

    Args:
        model: a torchvision detection model (put in eval mode here).
        dataset: yields (image (3, H, W), target) pairs, e.g. ``InstanceDataset("val", 128)``.
        batch_size: images per forward pass.
        device: where to run; the model's device when None.
        iou_types: "segm" and/or "bbox".
        per_iou: also return the AP at each IoU threshold (see :func:`coco_evaluate`).

    Returns:
        the dict of :func:`coco_evaluate`.
    """
    preds, targets = predict_dataset(model, dataset, batch_size, device)
    return coco_evaluate(preds, targets, iou_types, per_iou=per_iou)


def export_results(predictions: list[dict], dataset, path: str | Path, score_threshold: float = 0.05,
                   mask_threshold: float = 0.5) -> list[dict]:
    """Write predictions as a COCO results JSON (the file ``COCO.loadRes`` and the COCO servers read).

    Model labels are turned back into the dataset's category ids (``dataset.label_to_category``),
    and each prediction gets the COCO id of its image (``dataset.ids``).

    Args:
        predictions: from ``metrics.coco_eval.predict_dataset``, in the dataset's order.
        dataset: the ``CocoInstanceDataset`` the predictions were made on.
        path: the JSON file to write.
        score_threshold: leave out detections below this score.
        mask_threshold: mask probability above which a pixel is in the mask.

    Returns:
        the list written: ``{"image_id", "category_id", "segmentation" (RLE), "bbox" (xywh), "score"}``.
    """
    if len(predictions) != len(dataset):
        raise ValueError(f"{len(predictions)} predictions for {len(dataset)} images: predict the whole dataset")
    kept = []
    for p in predictions:
        keep = p["scores"] >= score_threshold
        kept.append({k: v[keep] for k, v in p.items()})
    results = predictions_to_coco(kept, dataset.ids, mask_threshold)
    for r in results:
        r["category_id"] = int(dataset.label_to_category[r["category_id"]])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results), encoding="utf-8")
    return results
