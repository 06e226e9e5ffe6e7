"""Lesson 01's checks accept the references and reject typical wrong solutions."""

from __future__ import annotations

import pytest
import torch

from course_utils import exercises, solutions
from course_utils.metrics import semantic


@pytest.mark.parametrize("name", ["pixel_accuracy", "confusion_matrix", "mean_iou"])
def test_reference_passes(name, check_exercise):
    assert name in exercises.NAMES and exercises.lesson_of(name) == "01"
    assert check_exercise(name, getattr(solutions, name))


def test_references_agree_with_package_metrics():
    g = torch.Generator().manual_seed(1)
    target = torch.randint(0, 6, (3, 20, 20), generator=g)
    pred = torch.where(torch.rand(3, 20, 20, generator=g) < 0.5, target, torch.randint(0, 6, (3, 20, 20), generator=g))
    cm = solutions.confusion_matrix(pred, target, 7)
    assert torch.equal(cm, semantic.confusion_matrix(pred, target, 7))
    assert solutions.pixel_accuracy(pred, target) == pytest.approx(semantic.pixel_accuracy(pred, target))
    assert solutions.mean_iou(cm) == pytest.approx(semantic.mean_iou(cm))


def test_stub_reports_not_attempted(capsys):
    def stub(pred, target):
        raise NotImplementedError

    assert not exercises.check("pixel_accuracy", stub)
    assert "not attempted" in capsys.readouterr().out


# ---- pixel_accuracy ---------------------------------------------------------------------------

def acc_variant(denominator="numel", check_shape=True, check_empty=True):
    def pixel_accuracy(pred, target):
        if check_shape and pred.shape != target.shape:
            raise ValueError("shapes")
        if check_empty and target.numel() == 0:
            raise ValueError("empty")
        correct = (pred == target).sum().item()
        n = {"numel": target.numel(), "rows": target.shape[0], "last": target.shape[-1]}[denominator]
        return correct / n
    return pixel_accuracy


def test_pixel_accuracy_variant_harness_is_right(check_exercise):
    assert check_exercise("pixel_accuracy", acc_variant())


@pytest.mark.parametrize("wrong", [dict(denominator="rows"), dict(denominator="last"), dict(check_shape=False),
                                   dict(check_empty=False)])
def test_pixel_accuracy_rejects(wrong, check_exercise):
    assert not check_exercise("pixel_accuracy", acc_variant(**wrong))


def test_pixel_accuracy_rejects_integer_division(check_exercise):
    def pixel_accuracy(pred, target):
        if pred.shape != target.shape or target.numel() == 0:
            raise ValueError("bad input")
        return (pred == target).sum().item() // target.numel()
    assert not check_exercise("pixel_accuracy", pixel_accuracy)


# ---- confusion_matrix -------------------------------------------------------------------------

def cm_variant(transpose=False, minlength=True, dtype=torch.int64):
    def confusion_matrix(pred, target, num_classes):
        t, p = target.reshape(-1), pred.reshape(-1)
        pair = (p * num_classes + t) if transpose else (t * num_classes + p)
        counts = torch.bincount(pair, minlength=num_classes ** 2 if minlength else 0)
        if not minlength:
            side = int(round(counts.numel() ** 0.5))
            return counts[: side * side].reshape(side, side).to(dtype)
        return counts.reshape(num_classes, num_classes).to(dtype)
    return confusion_matrix


def test_confusion_matrix_variant_harness_is_right(check_exercise):
    assert check_exercise("confusion_matrix", cm_variant())


@pytest.mark.parametrize("wrong", [dict(transpose=True), dict(minlength=False), dict(dtype=torch.float32)])
def test_confusion_matrix_rejects(wrong, check_exercise):
    assert not check_exercise("confusion_matrix", cm_variant(**wrong))


def test_confusion_matrix_rejects_off_by_one_classes(check_exercise):
    def confusion_matrix(pred, target, num_classes):
        c = num_classes - 1
        return torch.bincount(target.reshape(-1) * c + pred.reshape(-1), minlength=c * c)[: c * c].reshape(c, c)
    assert not check_exercise("confusion_matrix", confusion_matrix)


# ---- mean_iou ---------------------------------------------------------------------------------

def miou_variant(absent="skip", union="full", raise_empty=True):
    def mean_iou(confusion):
        cm = confusion.double()
        tp = cm.diag()
        u = {"full": cm.sum(0) + cm.sum(1) - tp, "row": cm.sum(1), "no_minus": cm.sum(0) + cm.sum(1)}[union]
        present = u > 0
        if raise_empty and not present.any():
            raise ValueError("nothing present")
        if absent == "skip":
            return (tp[present] / u[present]).mean().item()
        if absent == "zero":
            return (tp / u.clamp(min=1)).mean().item()
        return (tp / u).mean().item()  # NaN leaks through
    return mean_iou


def test_mean_iou_variant_harness_is_right(check_exercise):
    assert check_exercise("mean_iou", miou_variant())


@pytest.mark.parametrize("wrong", [dict(absent="zero"), dict(absent="nan"), dict(union="row"),
                                   dict(union="no_minus"), dict(raise_empty=False)])
def test_mean_iou_rejects(wrong, check_exercise):
    assert not check_exercise("mean_iou", miou_variant(**wrong))
