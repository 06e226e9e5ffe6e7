"""Back of the book for lesson 01: pixel accuracy, the confusion matrix and mean IoU, from scratch.

The package's own versions (with ``ignore_index`` and boundary bands) are in
``course_utils.metrics.semantic``; the tests prove both agree with plain loops.
"""

from __future__ import annotations

import torch


def pixel_accuracy(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Fraction of pixels whose predicted class equals the true class.

    Args:
        pred: int64 (H, W) or (B, H, W) predicted class ids.
        target: int64, same shape, true class ids.

    Returns:
        a float in [0, 1]. Raises ValueError when the shapes differ or the maps are empty.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape")
    if target.numel() == 0:
        raise ValueError("pixel accuracy of an empty map is undefined")
    correct = (pred == target).sum()  # number of right pixels
    return correct.item() / target.numel()


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Count, for every (true class, predicted class) pair, how many pixels have it.

    Args:
        pred: int64 (...) predicted class ids in [0, num_classes).
        target: int64, same shape, true class ids in [0, num_classes).
        num_classes: C.

    Returns:
        (C, C) int64, rows = true class, columns = predicted class.
    """
    t = target.reshape(-1).long()  # (P,)
    p = pred.reshape(-1).long()  # (P,)
    pair = t * num_classes + p  # one number per (true, predicted) pair
    counts = torch.bincount(pair, minlength=num_classes * num_classes)  # (C * C,)
    return counts.reshape(num_classes, num_classes)


def mean_iou(confusion: torch.Tensor) -> float:
    """Mean intersection over union from a confusion matrix, leaving out absent classes.

    IoU of class c = TP / (TP + FP + FN), with TP = confusion[c, c], FN = rest of row c
    (class-c pixels predicted as something else), FP = rest of column c. A class with no pixel in
    the target and none in the prediction has an empty union: it is left out of the mean.

    Args:
        confusion: (C, C) counts, rows = true class, columns = predicted class.

    Returns:
        the mean IoU over present classes, a float. Raises ValueError when no class is present.
    """
    cm = confusion.double()
    tp = cm.diag()  # (C,)
    union = cm.sum(dim=1) + cm.sum(dim=0) - tp  # true + predicted - both
    present = union > 0
    if not bool(present.any()):
        raise ValueError("no class is present in the target or the prediction: mean IoU is undefined")
    return (tp[present] / union[present]).mean().item()
