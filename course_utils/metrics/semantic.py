"""Semantic segmentation metrics: confusion matrix, pixel accuracy, per-class IoU, mean IoU.

Conventions used throughout:

* ``pred`` and ``target`` are integer class-id maps of the same shape, e.g. (H, W) or (B, H, W).
* The confusion matrix ``cm`` is (C, C) int64 with **rows = true class, columns = predicted
  class**: ``cm[t, p]`` counts pixels of true class ``t`` predicted as ``p``.
* Pixels whose target equals ``ignore_index`` are left out of every count.
* IoU of class c = TP / (TP + FP + FN). A class that appears neither in the target nor in the
  prediction has no IoU (NaN) and is **left out of the mean** (``mean_iou``), so that, for
  example, the never-used ``void`` class of the shapes world neither helps nor hurts.
* Boundary metrics look only at pixels within ``width`` pixels of a class boundary of the
  target, where coarse models (FCN-32s) fail first.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_maps(pred: torch.Tensor, target: torch.Tensor) -> None:
    """Raise a clear ValueError when two label maps cannot be compared."""
    if not isinstance(pred, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise ValueError("pred and target must be torch tensors of class ids")
    if pred.shape != target.shape:
        raise ValueError(f"pred has shape {tuple(pred.shape)} but target has shape {tuple(target.shape)}; "
                         "they must match (did you forget argmax over the class dimension?)")
    if pred.is_floating_point() or target.is_floating_point():
        raise ValueError("pred and target must hold integer class ids, not floats (take logits.argmax(1))")


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                     ignore_index: int | None = None) -> torch.Tensor:
    """Count (true class, predicted class) pairs over all pixels with one ``bincount``.

    Args:
        pred: int (...) predicted class ids in [0, num_classes).
        target: int (...) true class ids, same shape; ``ignore_index`` pixels are skipped.
        num_classes: C.
        ignore_index: a target value to leave out (e.g. 255 for "don't care").

    Returns:
        (C, C) int64 on pred's device, rows = true class, columns = predicted class.
    """
    _check_maps(pred, target)
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()  # (P,)
    if ignore_index is not None:
        keep = target != ignore_index
        pred, target = pred[keep], target[keep]
    if pred.numel():
        lo = torch.minimum(pred.min(), target.min())
        hi = torch.maximum(pred.max(), target.max())
        if bool(lo < 0) or bool(hi >= num_classes):
            raise ValueError(f"class ids must lie in [0, {num_classes}); found values from {int(lo)} to {int(hi)}")
    counts = torch.bincount(target * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def pixel_accuracy(pred: torch.Tensor, target: torch.Tensor, ignore_index: int | None = None) -> float:
    """Fraction of (non-ignored) pixels whose predicted class is right.

    Args:
        pred: int (...) predicted class ids.
        target: int (...) true class ids, same shape.
        ignore_index: a target value to leave out.

    Returns:
        accuracy in [0, 1] (NaN when no pixel is left).
    """
    _check_maps(pred, target)
    keep = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    n = int(keep.sum())
    return float(((pred == target) & keep).sum()) / n if n else float("nan")


def accuracy_from_confusion(cm: torch.Tensor) -> float:
    """Pixel accuracy from a (C, C) confusion matrix: trace / total (NaN when empty)."""
    total = int(cm.sum())
    return float(cm.diag().sum()) / total if total else float("nan")


def iou_per_class(cm: torch.Tensor) -> torch.Tensor:
    """Intersection over union of every class from a (C, C) confusion matrix.

    Args:
        cm: (C, C) counts, rows = true class, columns = predicted class.

    Returns:
        (C,) float64; NaN for a class absent from both target and prediction.
    """
    cm = cm.double()
    tp = cm.diag()  # (C,)
    union = cm.sum(0) + cm.sum(1) - tp  # predicted + true - both
    return torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, float("nan")))


def mean_iou(cm: torch.Tensor) -> float:
    """Mean IoU over the classes present in the target or the prediction (absent ones left out).

    Args:
        cm: (C, C) confusion matrix.

    Returns:
        mIoU in [0, 1] (NaN if no class is present at all).
    """
    iou = iou_per_class(cm)
    present = ~iou.isnan()
    return float(iou[present].mean()) if bool(present.any()) else float("nan")


def class_boundaries(target: torch.Tensor, width: int = 3, ignore_index: int | None = None) -> torch.Tensor:
    """Pixels within ``width`` px (chessboard distance) of a boundary between two classes.

    A pixel is on a boundary when one of its 4-neighbours has another class; the band is that
    edge grown by ``width - 1`` pixels in every direction (so ``width=1`` is the edge itself).

    Args:
        target: int (H, W) or (B, H, W) class ids.
        width: half-width of the band in pixels (>= 1).
        ignore_index: pixels with this target value are never in the band.

    Returns:
        bool mask, same shape as ``target``.
    """
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    t = target.long()
    t4 = t.reshape(-1, 1, *t.shape[-2:])  # (B, 1, H, W)
    edge = torch.zeros_like(t4, dtype=torch.bool)
    vertical = t4[..., 1:, :] != t4[..., :-1, :]  # differs from the pixel below
    horizontal = t4[..., :, 1:] != t4[..., :, :-1]  # differs from the pixel to the right
    edge[..., 1:, :] |= vertical
    edge[..., :-1, :] |= vertical
    edge[..., :, 1:] |= horizontal
    edge[..., :, :-1] |= horizontal
    if width > 1:
        k = 2 * (width - 1) + 1
        edge = F.max_pool2d(edge.float(), k, stride=1, padding=width - 1) > 0
    band = edge.reshape(t.shape)
    if ignore_index is not None:
        band &= t != ignore_index
    return band


def boundary_confusion(pred: torch.Tensor, target: torch.Tensor, num_classes: int, width: int = 3,
                       ignore_index: int | None = None) -> torch.Tensor:
    """Confusion matrix restricted to the boundary band of the target (see ``class_boundaries``).

    Args:
        pred: int (H, W) or (B, H, W) predictions.
        target: int, same shape.
        num_classes: C.
        width: band half-width in pixels.
        ignore_index: a target value to leave out.

    Returns:
        (C, C) int64 counts over boundary pixels only.
    """
    _check_maps(pred, target)
    band = class_boundaries(target, width, ignore_index)
    return confusion_matrix(pred[band], target[band], num_classes)


def scores_from_confusion(cm: torch.Tensor, class_names: list[str] | None = None,
                          prefix: str = "") -> dict[str, float]:
    """Flat dict of pixel accuracy, mIoU and per-class IoU (NaN for absent classes) from a confusion matrix.

    Args:
        cm: (C, C) confusion matrix.
        class_names: names for the per-class keys (default: the class index).
        prefix: put in front of every key (e.g. "boundary_").

    Returns:
        ``{prefix+"pixel_acc": .., prefix+"miou": .., prefix+"iou_<name>": .., ...}``.
    """
    out = {f"{prefix}pixel_acc": accuracy_from_confusion(cm), f"{prefix}miou": mean_iou(cm)}
    for c, v in enumerate(iou_per_class(cm).tolist()):
        name = class_names[c] if class_names is not None else str(c)
        out[f"{prefix}iou_{name}"] = v
    return out


def coarse_oracle(target: torch.Tensor, stride: int, num_classes: int) -> torch.Tensor:
    """The best label map a model whose class scores live at ``stride`` can give with bilinear upsampling.

    The "scores" are the true class fractions of every ``stride x stride`` cell (a perfect
    classifier at that resolution); they are upsampled bilinearly and the arg-max is taken. The
    mIoU of the result shows what resolution alone costs (FCN-32s vs FCN-8s), before any
    classification error.

    Args:
        target: int (B, H, W) class ids, H and W multiples of ``stride``.
        stride: cell size (e.g. 32 or 8).
        num_classes: C.

    Returns:
        int64 (B, H, W) predictions.
    """
    onehot = F.one_hot(target.long(), num_classes).permute(0, 3, 1, 2).float()  # (B, C, H, W)
    cells = F.avg_pool2d(onehot, stride)  # (B, C, H/stride, W/stride): class fractions per cell
    return F.interpolate(cells, scale_factor=stride, mode="bilinear", align_corners=False).argmax(1)


def object_accuracy(pred: torch.Tensor, masks: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each object of one scene: its visible area and the fraction of its pixels given its class.

    Args:
        pred: int (H, W) predicted class ids.
        masks: bool (N, H, W) visible mask of each object.
        labels: int (N,) class id of each object.

    Returns:
        areas (N,) int64 pixels and accuracies (N,) float32 in [0, 1].
    """
    m = masks.bool().flatten(1)  # (N, H*W)
    right = pred.reshape(1, -1) == labels.reshape(-1, 1)  # (N, H*W): pixel labelled as this object's class
    areas = m.sum(1)
    return areas, (m & right).sum(1).float() / areas.clamp(min=1)


def count_regions(semantic: torch.Tensor, class_id: int) -> int:
    """Number of 4-connected regions of ``class_id`` in a label map (touching objects count once).

    Args:
        semantic: int (H, W) class ids (truth or prediction).
        class_id: the class to count.

    Returns:
        the number of connected regions.
    """
    from scipy import ndimage

    _, n = ndimage.label((semantic == class_id).cpu().numpy())
    return int(n)


class ConfusionMeter:
    """Accumulates a confusion matrix over batches; ``scores()`` gives accuracy and IoUs.

    Args:
        num_classes: C.
        ignore_index: a target value to leave out.
        boundary_width: when set, also accumulates a boundary-band confusion matrix.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = None, boundary_width: int | None = None):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.boundary_width = boundary_width
        self.cm = torch.zeros(num_classes, num_classes, dtype=torch.int64)
        self.boundary_cm = torch.zeros_like(self.cm)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch of predictions (B, H, W) and targets (B, H, W)."""
        self.cm += confusion_matrix(pred, target, self.num_classes, self.ignore_index).cpu()
        if self.boundary_width:
            self.boundary_cm += boundary_confusion(pred, target, self.num_classes, self.boundary_width,
                                                   self.ignore_index).cpu()

    def scores(self, class_names: list[str] | None = None) -> dict[str, float]:
        """Pixel accuracy, mIoU, per-class IoU (and the same on boundaries when tracked)."""
        out = scores_from_confusion(self.cm, class_names)
        if self.boundary_width:
            out.update(scores_from_confusion(self.boundary_cm, class_names, prefix="boundary_"))
        return out
