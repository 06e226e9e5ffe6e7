"""Checks of lesson 01's mini assignments: pixel accuracy, confusion matrix, mean IoU."""

from __future__ import annotations

import torch

from .core import Case, exercise


def _maps(gen: torch.Generator, shape: tuple[int, ...], num_classes: int, agree: float = 0.7):
    """(pred, target) int64 label maps of ``shape`` that agree on about ``agree`` of the pixels."""
    target = torch.randint(0, num_classes, shape, generator=gen)
    noise = torch.randint(0, num_classes, shape, generator=gen)
    pred = torch.where(torch.rand(shape, generator=gen) < agree, target, noise)
    return pred, target


@exercise("pixel_accuracy", lesson="01",
          hint="Compare element-wise (pred == target), count the True values, divide by the number of pixels "
               "(target.numel()), and return a Python float with .item().")
def pixel_accuracy_cases(gen: torch.Generator) -> list[Case]:
    """Random, perfect, all-wrong, batched, non-square and bad-input cases for pixel_accuracy(pred, target)."""
    pred, target = _maps(gen, (8, 8), 4)
    wide_pred, wide_target = _maps(gen, (3, 17), 7)
    batch_pred, batch_target = _maps(gen, (2, 5, 6), 3, agree=0.5)
    return [
        Case("two random 8x8 maps", args=(pred, target)),
        Case("a perfect prediction (accuracy 1)", args=(target.clone(), target)),
        Case("every pixel wrong (accuracy 0)", args=((target + 1) % 4, target)),
        Case("a wide 3x17 map", args=(wide_pred, wide_target),
             hint="Divide by the number of pixels (numel), not by the number of rows or columns."),
        Case("a batch of 2 maps of 5x6", args=(batch_pred, batch_target),
             hint="Count over every pixel of every map in the batch."),
        Case("a single pixel", args=(torch.tensor([[3]]), torch.tensor([[3]]))),
        Case("maps of different shapes: raise ValueError", args=(pred, target[:4]), expect_error=ValueError,
             hint="Check pred.shape == target.shape first and raise ValueError with a clear message."),
        Case("an empty map: raise ValueError", args=(torch.zeros(0, 0, dtype=torch.long),) * 2,
             expect_error=ValueError, hint="0 / 0 is undefined: raise ValueError when target.numel() == 0."),
    ]


@exercise("confusion_matrix", lesson="01",
          hint="Turn every (true, predicted) pair into one number t * num_classes + p, count them with "
               "torch.bincount(..., minlength=num_classes ** 2), and reshape to (C, C): rows = true class.")
def confusion_matrix_cases(gen: torch.Generator) -> list[Case]:
    """Random, asymmetric, missing-class, batched and empty cases for confusion_matrix(pred, target, num_classes)."""
    pred, target = _maps(gen, (8, 8), 4)
    batch_pred, batch_target = _maps(gen, (2, 6, 7), 5, agree=0.5)
    return [
        Case("two random 8x8 maps, 4 classes", args=(pred, target, 4)),
        Case("truth is all class 1, prediction is all class 2",
             args=(torch.full((3, 3), 2), torch.ones(3, 3, dtype=torch.long), 3),
             hint="Rows are the TRUE class, columns the PREDICTED class: all 9 pixels go to row 1, column 2."),
        Case("the highest class never occurs, but the matrix is still 6x6", args=(pred, target, 6),
             hint="bincount only counts up to the largest value it sees: pass minlength=num_classes ** 2."),
        Case("a batch of 2 maps, 5 classes", args=(batch_pred, batch_target, 5)),
        Case("a perfect prediction: only the diagonal is non-zero", args=(target.clone(), target, 4)),
        Case("an empty map: a matrix of zeros", args=(torch.zeros(0, dtype=torch.long),) * 2 + (3,),
             hint="With no pixels every count is 0; the result is still (C, C) int64."),
    ]


@exercise("mean_iou", lesson="01",
          hint="TP = the diagonal; union = row sum + column sum - TP. Keep only classes whose union is > 0, "
               "average TP / union over them, and return a float.")
def mean_iou_cases(gen: torch.Generator) -> list[Case]:
    """Random, perfect, absent-class, predicted-only-class and empty matrices for mean_iou(confusion)."""
    g_pred, g_target = _maps(gen, (16, 16), 4)
    random_cm = torch.bincount(g_target.flatten() * 4 + g_pred.flatten(), minlength=16).reshape(4, 4)
    absent = random_cm.clone()
    absent[2, :] = 0
    absent[:, 2] = 0
    asym = torch.tensor([[5, 3, 0], [0, 2, 0], [1, 0, 0]])
    return [
        Case("a random 4x4 confusion matrix", args=(random_cm,)),
        Case("a perfect prediction (mIoU 1)", args=(torch.diag(torch.tensor([10, 4, 7])),)),
        Case("class 2 appears in neither truth nor prediction: leave it out", args=(absent,),
             hint="A class with union 0 has no IoU at all; do not count it as 0 and do not let a NaN through."),
        Case("an asymmetric matrix (rows = truth, columns = prediction)", args=(asym,),
             hint="Union = pixels of the class in the truth (row sum) + in the prediction (column sum) - TP. "
                  "TP / row sum alone is recall, not IoU."),
        Case("a class that is predicted but never true has IoU 0 and counts",
             args=(torch.tensor([[6, 2], [0, 0]]),),
             hint="Class 1 is never true but predicted twice: its union is 2, its IoU 0, and it stays in the mean."),
        Case("a float64 matrix of counts", args=(random_cm.double(),)),
        Case("an all-zero matrix: raise ValueError", args=(torch.zeros(3, 3, dtype=torch.long),),
             expect_error=ValueError, hint="No class is present at all: raise ValueError."),
    ]
