"""Pieces of the course's mask classifier (``models.mask_former``): set matching, its losses, and inference.

Kept apart from the model so that each can be read, tested and reused on its own:

* :func:`match_queries` pairs predictions with ground-truth segments by the Hungarian algorithm
  (``scipy.optimize.linear_sum_assignment``) on a cost of class + mask BCE + Dice;
* :func:`matching_cost` builds that cost, :func:`set_losses` the loss on the matched pairs;
* :func:`semantic_inference`, :func:`panoptic_inference` and :func:`instance_inference` turn one
  image's (class logits, mask logits) into the three outputs of segmentation.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from ..data import LABEL_DIVISOR, THINGS
from .panoptic_fusion import segments_of
from .yolact_parts import mask_boxes


def match_queries(cost: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The one-to-one assignment of queries (rows) to targets (columns) with the smallest total cost.

    Args:
        cost: (Q, T) matching cost; Q >= T in this course (more queries than segments), but any shape works.

    Returns:
        (query indices, target indices), int64 (min(Q, T),) each, sorted by target index.
    """
    c = cost.detach().cpu().numpy() if isinstance(cost, torch.Tensor) else np.asarray(cost)
    if c.ndim != 2:
        raise ValueError(f"cost must be a (queries, targets) matrix, got shape {c.shape}")
    if not np.isfinite(c).all():
        raise ValueError("cost holds NaN or inf: the predictions it was built from are not finite")
    rows, cols = linear_sum_assignment(c)
    order = np.argsort(cols)
    return torch.as_tensor(rows[order], dtype=torch.int64), torch.as_tensor(cols[order], dtype=torch.int64)


def dice_cost(mask_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """1 - Dice between every predicted mask and every target mask.

    Args:
        mask_logits: (Q, P) logits at P pixels.
        targets: (T, P) target masks in [0, 1].

    Returns:
        (Q, T) costs in [0, 1].
    """
    p = mask_logits.sigmoid()
    inter = p @ targets.T  # (Q, T)
    return 1 - (2 * inter + 1) / (p.sum(1)[:, None] + targets.sum(1)[None] + 1)


def bce_cost(mask_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of every predicted mask against every target mask.

    Args:
        mask_logits: (Q, P) logits; targets: (T, P) in [0, 1].

    Returns:
        (Q, T) mean BCE over the P pixels.
    """
    pos = F.softplus(-mask_logits)  # BCE(x, 1) = log(1 + e^-x)
    neg = pos + mask_logits  # BCE(x, 0) = log(1 + e^x) = BCE(x, 1) + x
    return (pos @ targets.T + neg @ (1 - targets).T) / mask_logits.shape[1]


def matching_cost(class_logits: torch.Tensor, mask_logits: torch.Tensor, labels: torch.Tensor,
                  masks: torch.Tensor, weights: tuple[float, float, float] = (2.0, 5.0, 5.0)) -> torch.Tensor:
    """The (queries x segments) cost that the Hungarian matching minimises (MaskFormer's).

    Args:
        class_logits: (Q, K + 1) class logits of one image, the last column "no object".
        mask_logits: (Q, P) mask logits at P pixels.
        labels: (T,) class ids of the ground-truth segments.
        masks: (T, P) their masks in [0, 1] at the same pixels.
        weights: (class, BCE, Dice) weights.

    Returns:
        (Q, T) cost: ``-w_class * p(label) + w_bce * BCE + w_dice * (1 - Dice)``.
    """
    w_class, w_bce, w_dice = weights
    prob = class_logits.softmax(-1)[:, labels]  # (Q, T)
    return -w_class * prob + w_bce * bce_cost(mask_logits, masks) + w_dice * dice_cost(mask_logits, masks)


def set_losses(class_logits: torch.Tensor, mask_logits: torch.Tensor, targets: list[dict],
               no_object_weight: float = 0.1, cost_weights: tuple[float, float, float] = (2.0, 5.0, 5.0)
               ) -> dict[str, torch.Tensor]:
    """Match every image's queries to its segments, then the losses of the matched pairs.

    Args:
        class_logits: (B, Q, K + 1) logits, the last class "no object".
        mask_logits: (B, Q, h, w) mask logits at the loss resolution.
        targets: per image ``labels`` (T,) and ``masks`` (T, h, w) float in [0, 1] at that resolution.
        no_object_weight: weight of the "no object" class in the class loss (most queries are unmatched).
        cost_weights: (class, BCE, Dice) weights of the matching cost.

    Returns:
        ``loss_class`` (cross-entropy over all queries; unmatched ones must say "no object"),
        ``loss_mask`` (BCE of the matched masks) and ``loss_dice`` (1 - Dice of the matched masks).
    """
    b, q, k1 = class_logits.shape
    no_object = k1 - 1
    class_target = torch.full((b, q), no_object, dtype=torch.int64, device=class_logits.device)
    pred_masks, true_masks = [], []
    for i, t in enumerate(targets):
        if len(t["labels"]) == 0:
            continue
        flat_pred, flat_true = mask_logits[i].flatten(1), t["masks"].flatten(1).to(mask_logits.dtype)  # (Q, P), (T, P)
        with torch.no_grad():
            cost = matching_cost(class_logits[i].float(), flat_pred.float(), t["labels"], flat_true.float(),
                                 cost_weights)
        rows, cols = match_queries(cost)
        rows, cols = rows.to(class_logits.device), cols.to(class_logits.device)
        class_target[i, rows] = t["labels"][cols]
        pred_masks.append(flat_pred[rows])
        true_masks.append(flat_true[cols])
    weight = torch.ones(k1, device=class_logits.device)
    weight[no_object] = no_object_weight
    loss_class = F.cross_entropy(class_logits.flatten(0, 1), class_target.flatten(), weight=weight)
    if not pred_masks:  # no segment in the whole batch: only "no object" to learn
        zero = mask_logits.sum() * 0
        return {"loss_class": loss_class, "loss_mask": zero, "loss_dice": zero}
    pred, true = torch.cat(pred_masks), torch.cat(true_masks)  # (M, P)
    loss_mask = F.binary_cross_entropy_with_logits(pred, true)
    p = pred.sigmoid()
    dice = (2 * (p * true).sum(1) + 1) / (p.sum(1) + true.sum(1) + 1)
    return {"loss_class": loss_class, "loss_mask": loss_mask, "loss_dice": (1 - dice).mean()}


def query_scores(class_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each query's best real class and its probability ("no object", the last class, excluded).

    Args:
        class_logits: (Q, K + 1).

    Returns:
        (scores (Q,), labels (Q,) int64).
    """
    prob = class_logits.softmax(-1)[:, :-1]  # (Q, K)
    return prob.max(-1)


def semantic_inference(class_logits: torch.Tensor, mask_logits: torch.Tensor) -> torch.Tensor:
    """The semantic map of one image: per pixel, the class with most ``sum_q p_q(class) * sigmoid(mask_q)``.

    Args:
        class_logits: (Q, K + 1); mask_logits: (Q, H, W) at the image size.

    Returns:
        (H, W) int64 class ids (void, id 0, is never chosen).
    """
    prob = class_logits.softmax(-1)[:, :-1]  # (Q, K)
    scores = torch.einsum("qk,qhw->khw", prob, mask_logits.sigmoid())  # (K, H, W)
    scores[0] = -1  # void is not a prediction
    return scores.argmax(0)


def panoptic_inference(class_logits: torch.Tensor, mask_logits: torch.Tensor, score_threshold: float = 0.5,
                       overlap_threshold: float = 0.8) -> tuple[torch.Tensor, list[dict]]:
    """The panoptic map of one image, as MaskFormer reads it from its queries.

    Queries that say "no object", or a class with probability below ``score_threshold``, are dropped.
    Every pixel goes to the kept query with the highest ``score * sigmoid(mask)``; a query keeps its
    segment only if it is non-empty and at least ``overlap_threshold`` of the query's own mask
    (sigmoid >= 0.5), so a query buried under others does not leave fragments. Stuff queries of one
    class merge into one segment. Pixels no query claims are void (0).

    Args:
        class_logits: (Q, K + 1); mask_logits: (Q, H, W) at the image size.
        score_threshold: minimum class probability of a kept query.
        overlap_threshold: minimum fraction of its mask a query must keep.

    Returns:
        (panoptic (H, W) int64 ids ``class * 1000 + n``, the COCO-style segment list with thing scores).
    """
    scores, labels = query_scores(class_logits)
    is_object = class_logits.argmax(-1) != class_logits.shape[-1] - 1
    keep = (is_object & (scores >= score_threshold)).nonzero().flatten()
    h, w = mask_logits.shape[-2:]
    panoptic = torch.zeros((h, w), dtype=torch.int64, device=mask_logits.device)
    if len(keep) == 0:
        return panoptic, []
    probs = mask_logits[keep].sigmoid()  # (M, H, W)
    owner = (scores[keep, None, None] * probs).argmax(0)  # (H, W) index into keep
    thing_scores, next_id = {}, {}
    for j in torch.argsort(scores[keep], descending=True).tolist():
        cls = int(labels[keep[j]])
        own = (probs[j] >= 0.5)
        mine = (owner == j) & own
        if int(own.sum()) == 0 or int(mine.sum()) < overlap_threshold * int(own.sum()):
            continue
        if cls in THINGS:
            next_id[cls] = next_id.get(cls, 0) + 1
            sid = cls * LABEL_DIVISOR + next_id[cls]
            thing_scores[sid] = float(scores[keep[j]])
        else:
            sid = cls * LABEL_DIVISOR
        panoptic[mine & (panoptic == 0)] = sid
    return panoptic, segments_of(panoptic, thing_scores)


def instance_inference(class_logits: torch.Tensor, mask_logits: torch.Tensor, max_detections: int = 16,
                       min_score: float = 0.05) -> dict[str, torch.Tensor]:
    """The thing queries of one image as detections in torchvision's format (for ``coco_evaluate``).

    A query's score is its class probability times the mean mask probability inside its mask
    (Mask2Former's rule), so a confident class with a vague mask ranks low.

    Args:
        class_logits: (Q, K + 1); mask_logits: (Q, H, W) at the image size.
        max_detections: keep at most this many, best first.
        min_score: drop detections below this score.

    Returns:
        ``boxes`` (N, 4) xyxy, ``labels`` (N,), ``scores`` (N,), ``masks`` (N, 1, H, W) probabilities.
    """
    prob = class_logits.softmax(-1)[:, :-1]  # (Q, K)
    things = torch.as_tensor(THINGS, device=prob.device)
    thing_prob = prob[:, things]  # (Q, 3): a query may be read as any thing class, as Mask2Former does
    masks = mask_logits.sigmoid()  # (Q, H, W)
    binary = masks >= 0.5
    mask_score = (masks * binary).flatten(1).sum(1) / binary.flatten(1).sum(1).clamp(min=1)  # (Q,)
    scores = (thing_prob * mask_score[:, None]).flatten()  # (Q * 3,)
    top = torch.argsort(scores, descending=True)[:max_detections]
    top = top[scores[top] >= min_score]
    q, c = top // len(THINGS), top % len(THINGS)
    keep_binary = binary[q]
    nonempty = keep_binary.flatten(1).any(1)
    q, c, top, keep_binary = q[nonempty], c[nonempty], top[nonempty], keep_binary[nonempty]
    boxes = mask_boxes(keep_binary, torch.zeros((len(q), 4), device=mask_logits.device))  # every mask is non-empty
    return {"boxes": boxes, "labels": things[c], "scores": scores[top], "masks": masks[q][:, None]}
