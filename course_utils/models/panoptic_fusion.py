"""Panoptic segmentation by fusing two networks: an FCN for stuff and Mask R-CNN for things.

Scoring the fusion (PQ, threshold sweeps): ``metrics.panoptic.evaluate_fusion`` / ``sweep_fusion``.

The recipe (the baseline heuristic of Kirillov et al., "Panoptic Segmentation", CVPR 2019):

1. Mask R-CNN's detections above a score threshold are pasted onto an empty map, the most
   confident first. A pixel already taken stays with the earlier (more confident) instance.
2. An instance whose still-free part is under ``overlap_threshold`` of its own mask is dropped:
   it is mostly a duplicate of, or hidden behind, a better detection.
3. The remaining pixels take the FCN's class when it is a stuff class: all the free pixels of one
   stuff class form one segment, however many separate islands they make. A stuff class with fewer
   than ``stuff_min_area`` such pixels in the whole image (all its islands together) becomes void (0):
   a class the FCN paints on only a few pixels is likely noise, and void costs less in PQ than a
   false positive. The test is on the class's total area, as in the baseline (and in detectron2's
   ``combine_semantic_and_instance_outputs``): a small island of a class that also covers a large
   region elsewhere is kept, as part of that class's segment.
4. Pixels the FCN calls a thing class but no kept instance covers stay void.

Which detection became which thing segment: :func:`detection_segments`.

Segment ids follow the course's convention ``class_id * 1000 + instance number`` (stuff: ``+ 0``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..data.classes import LABEL_DIVISOR, STUFF, THINGS, VOID


@dataclass(frozen=True)
class FusionConfig:
    """The thresholds of the fusion step. Override with ``dataclasses.replace(cfg, ...)``."""

    score_threshold: float = 0.5  # keep Mask R-CNN detections at least this confident
    mask_threshold: float = 0.5  # a pixel belongs to an instance when its mask probability is at least this
    overlap_threshold: float = 0.5  # drop an instance whose free (unclaimed) part is below this fraction of its mask
    stuff_min_area: int = 64  # a stuff class with fewer free pixels than this in the whole image becomes void


def segments_of(panoptic: torch.Tensor, scores: dict[int, float] | None = None) -> list[dict]:
    """The COCO-style segment list of a panoptic map.

    Args:
        panoptic: (H, W) int64 segment ids, ``class * 1000 + n``, 0 = void.
        scores: optional ``{segment id: detection score}`` stored with thing segments.

    Returns:
        list of ``{"id", "category_id", "isthing", "area", "bbox" [x, y, w, h], "iscrowd"}``
        (plus ``"score"`` for things in ``scores``), in increasing id order.
    """
    out = []
    ids, areas = torch.unique(panoptic, return_counts=True)
    for sid, area in zip(ids.tolist(), areas.tolist()):
        if sid == VOID:
            continue
        ys, xs = torch.nonzero(panoptic == sid, as_tuple=True)
        x0, y0 = int(xs.min()), int(ys.min())
        seg = {"id": sid, "category_id": sid // LABEL_DIVISOR, "isthing": sid // LABEL_DIVISOR in THINGS,
               "area": int(area), "bbox": [x0, y0, int(xs.max()) + 1 - x0, int(ys.max()) + 1 - y0], "iscrowd": 0}
        if scores is not None and sid in scores:
            seg["score"] = float(scores[sid])
        out.append(seg)
    return out


def _binary_masks(masks: torch.Tensor, shape: tuple[int, int], threshold: float) -> torch.Tensor:
    """Instance masks as bool (N, H, W), from bool/uint8 (N, H, W) or probabilities (N, [1,] H, W)."""
    if masks.dim() == 4:
        masks = masks[:, 0]  # (N, 1, H, W) -> (N, H, W), torchvision's layout
    if masks.dim() != 3 or tuple(masks.shape[1:]) != tuple(shape):
        raise ValueError(f"instance masks must be (N, H, W) or (N, 1, H, W) with H, W = {tuple(shape)}, "
                         f"got {tuple(masks.shape)}")
    if masks.dtype == torch.bool:
        return masks
    if masks.is_floating_point():
        return masks >= threshold
    return masks > 0


def _detections(instances: dict, shape: tuple[int, int], cfg: FusionConfig
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Masks (N, H, W) bool, labels (N,) and scores (N,) of Mask R-CNN-style ``instances``, on the CPU."""
    masks = _binary_masks(instances["masks"].detach().cpu(), shape, cfg.mask_threshold)  # (N, H, W)
    labels = instances["labels"].detach().cpu().long().reshape(-1)  # (N,)
    scores = instances["scores"].detach().cpu().float().reshape(-1)  # (N,)
    if not len(masks) == len(labels) == len(scores):
        raise ValueError(f"got {len(masks)} masks, {len(labels)} labels and {len(scores)} scores; "
                         "each detection needs one of each")
    return masks, labels, scores


def _paste_things(masks: torch.Tensor, labels: torch.Tensor, scores: torch.Tensor, cfg: FusionConfig
                  ) -> tuple[torch.Tensor, dict[int, float], list[int]]:
    """Rules 1 and 2: paste the detections, most confident first, dropping mostly covered ones.

    Returns:
        the map with thing segments only (0 elsewhere), ``{segment id: score}``, and per detection the id
        of the segment made from it (0 for one dropped, or left with no free pixel).
    """
    panoptic = torch.zeros(masks.shape[1:], dtype=torch.int64)
    taken = torch.zeros(masks.shape[1:], dtype=torch.bool)
    counts = dict.fromkeys(THINGS, 0)
    kept_scores: dict[int, float] = {}
    sources = [0] * len(masks)
    order = torch.sort(scores, descending=True, stable=True).indices  # most confident first
    for i in order.tolist():
        label, score = int(labels[i]), float(scores[i])
        if score < cfg.score_threshold or label not in counts:
            continue
        mask = masks[i]
        area = int(mask.sum())
        if area == 0:
            continue
        free = mask & ~taken
        if int(free.sum()) < cfg.overlap_threshold * area:
            continue  # mostly under better detections: a duplicate or a hidden guess
        counts[label] += 1
        sid = label * LABEL_DIVISOR + counts[label]
        panoptic[free] = sid
        taken |= free
        kept_scores[sid] = score
        sources[i] = sid if bool(free.any()) else 0
    return panoptic, kept_scores, sources


def detection_segments(instances: dict, cfg: FusionConfig | None = None) -> list[int]:
    """Which thing segment of ``fuse_panoptic``'s map each detection became.

    Args:
        instances: the detections, as for :func:`fuse_panoptic` (masks (N, H, W) or (N, 1, H, W)).
        cfg: fusion thresholds (``FusionConfig()`` when None), the ones the map was fused with.

    Returns:
        N segment ids: the segment made from detection i (its still-free pixels), or 0 where the
        detection left none (under the score threshold, not a thing class, dropped by the overlap rule,
        or with no free pixel).
    """
    cfg = cfg or FusionConfig()
    masks = instances["masks"]
    masks, labels, scores = _detections(instances, tuple(masks.shape[-2:]), cfg)
    return _paste_things(masks, labels, scores, cfg)[2]


def fuse_panoptic(semantic: torch.Tensor, instances: dict, cfg: FusionConfig | None = None
                  ) -> tuple[torch.Tensor, list[dict]]:
    """Combine a semantic map (stuff) and instance detections (things) into one panoptic map.

    Args:
        semantic: (H, W) int64 predicted class per pixel (e.g. the FCN's argmax).
        instances: ``{"masks": (N, H, W) bool or (N, 1, H, W) probabilities, "labels": (N,) int64
            thing class ids, "scores": (N,) float}``, as Mask R-CNN returns them.
        cfg: fusion thresholds (``FusionConfig()`` when None).

    Returns:
        panoptic (H, W) int64 segment ids (0 = void) and its segment list (see ``segments_of``).
    """
    cfg = cfg or FusionConfig()
    if semantic.dim() != 2:
        raise ValueError(f"semantic must be an (H, W) class map, got shape {tuple(semantic.shape)}")
    semantic = semantic.detach().cpu().long()
    shape = tuple(semantic.shape)
    masks, labels, scores = _detections(instances, shape, cfg)
    panoptic, kept_scores, _ = _paste_things(masks, labels, scores, cfg)
    taken = panoptic != VOID
    for c in STUFF:
        region = (semantic == c) & ~taken
        if int(region.sum()) >= max(cfg.stuff_min_area, 1):
            panoptic[region] = c * LABEL_DIVISOR
    return panoptic, segments_of(panoptic, kept_scores)


@torch.no_grad()
def predict_raw(fcn: torch.nn.Module, maskrcnn: torch.nn.Module, images: Sequence[torch.Tensor],
                device: torch.device | str | None = None, batch_size: int = 16,
                min_score: float = 0.05, mask_threshold: float = 0.5) -> list[dict]:
    """Run both networks once and keep what the fusion needs, so thresholds can change freely.

    Args:
        fcn: semantic model, ``fcn(x)`` (B, 3, H, W) -> logits (B, C, H, W) (or ``{"out": logits}``).
        maskrcnn: torchvision-style Mask R-CNN; eval mode gives ``masks`` (N, 1, H, W) probabilities.
        images: float (3, H, W) images in [0, 1].
        device: where to run (default: the device of the FCN's parameters).
        batch_size: images per forward pass.
        min_score: detections below this are not kept (saves memory; the fusion thresholds above it).
        mask_threshold: mask probability from which a pixel is in an instance's mask.

    Returns:
        one dict per image: ``semantic`` (H, W) int64, ``masks`` (N, 1, H, W) bool,
        ``labels`` (N,), ``scores`` (N,), ``boxes`` (N, 4), all on the CPU.
    """
    if device is None:
        device = next(fcn.parameters()).device
    device = torch.device(device)
    fcn_mode, rcnn_mode = fcn.training, maskrcnn.training
    fcn.eval().to(device)
    maskrcnn.eval().to(device)
    out: list[dict] = []
    try:
        for start in range(0, len(images), batch_size):
            batch = [img.to(device) for img in images[start:start + batch_size]]
            logits = fcn(torch.stack(batch))  # (B, C, H, W)
            if isinstance(logits, dict):
                logits = logits["out"]
            semantic = logits.argmax(1).cpu()  # (B, H, W)
            for sem, det in zip(semantic, maskrcnn(batch)):
                keep = det["scores"] >= min_score
                out.append({"semantic": sem, "masks": (det["masks"][keep] >= mask_threshold).cpu(),
                            "labels": det["labels"][keep].cpu(), "scores": det["scores"][keep].cpu(),
                            "boxes": det["boxes"][keep].cpu()})
    finally:
        fcn.train(fcn_mode)
        maskrcnn.train(rcnn_mode)
    return out


def fuse_all(raw: Sequence[dict], cfg: FusionConfig | None = None) -> list[tuple[torch.Tensor, list[dict]]]:
    """``fuse_panoptic`` on every output of ``predict_raw``.

    Returns:
        one (panoptic (H, W) int64, segments) pair per image.
    """
    return [fuse_panoptic(r["semantic"], r, cfg) for r in raw]
