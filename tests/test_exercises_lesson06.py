"""Lesson 06's checks accept the references and reject typical wrong solutions."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision

from course_utils import exercises, solutions
from course_utils.models.box_coding import encode_boxes


@pytest.mark.parametrize("name", ["box_iou", "nms", "encode_boxes", "decode_boxes", "average_precision"])
def test_reference_passes(name, check_exercise):
    assert name in exercises.NAMES
    assert check_exercise(name, getattr(solutions, name))


def test_references_agree_with_torchvision():
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(40, 2, generator=g) * 50
    boxes = torch.cat([xy, xy + 1 + torch.rand(40, 2, generator=g) * 30], 1)
    scores = (torch.rand(40, generator=g) * 5).round() / 5  # ties too
    torch.testing.assert_close(solutions.box_iou(boxes, boxes[:7]), torchvision.ops.box_iou(boxes, boxes[:7]))
    for thr in (0.0, 0.3, 0.5, 0.9):
        assert torch.equal(solutions.nms(boxes, scores, thr), torchvision.ops.nms(boxes, scores, thr))
    anchors = boxes.flip(0)
    torch.testing.assert_close(solutions.decode_boxes(solutions.encode_boxes(boxes, anchors), anchors), boxes,
                               atol=1e-4, rtol=1e-5)


def test_stubs_report_not_attempted(capsys):
    def stub(*args):
        raise NotImplementedError

    assert not exercises.check("nms", stub)
    assert "not attempted" in capsys.readouterr().out


# ---- box_iou ---------------------------------------------------------------------------------

def iou_variant(clamp=True, plus_one=False, subtract_inter=True, keep_dtype=True, swap_minmax=False):
    def box_iou(b1, b2):
        if not keep_dtype:
            b1, b2 = b1.float(), b2.float()
        extra = 1 if plus_one else 0
        a1 = (b1[:, 2] - b1[:, 0] + extra) * (b1[:, 3] - b1[:, 1] + extra)
        a2 = (b2[:, 2] - b2[:, 0] + extra) * (b2[:, 3] - b2[:, 1] + extra)
        lo, hi = (torch.minimum, torch.maximum) if swap_minmax else (torch.maximum, torch.minimum)
        lt, rb = lo(b1[:, None, :2], b2[None, :, :2]), hi(b1[:, None, 2:], b2[None, :, 2:])
        wh = rb - lt + extra
        if clamp:
            wh = wh.clamp(min=0)
        inter = wh[..., 0] * wh[..., 1]
        return inter / (a1[:, None] + a2[None, :] - (inter if subtract_inter else 0))
    return box_iou


def test_box_iou_variant_harness_is_right(check_exercise):
    assert check_exercise("box_iou", iou_variant())


@pytest.mark.parametrize("wrong", [dict(clamp=False), dict(plus_one=True), dict(subtract_inter=False),
                                   dict(keep_dtype=False), dict(swap_minmax=True)])
def test_box_iou_rejects(wrong, check_exercise):
    assert not check_exercise("box_iou", iou_variant(**wrong))


# ---- nms -------------------------------------------------------------------------------------

def nms_variant(descending=True, strict=True, only_kept=True, index_order=False):
    def nms(boxes, scores, thr):
        order = torch.sort(scores, descending=descending, stable=True).indices.tolist()
        iou = torchvision.ops.box_iou(boxes, boxes)
        keep, removed = [], set()
        for i in order:
            if i in removed and only_kept:
                continue
            if i not in removed:
                keep.append(i)
            for j in order:
                if j != i and ((iou[i, j] > thr) if strict else (iou[i, j] >= thr)):
                    removed.add(j)
        if index_order:
            keep = sorted(keep)
        return torch.tensor(keep, dtype=torch.int64)
    return nms


def test_nms_variant_harness_is_right(check_exercise):
    assert check_exercise("nms", nms_variant())


@pytest.mark.parametrize("wrong", [dict(descending=False), dict(strict=False), dict(only_kept=False),
                                   dict(index_order=True)])
def test_nms_rejects(wrong, check_exercise):
    assert not check_exercise("nms", nms_variant(**wrong))


# ---- encode / decode -------------------------------------------------------------------------

def _cxcywh(b):
    return torchvision.ops.box_convert(b, "xyxy", "cxcywh").unbind(1)


def encode_variant(inverted_log=False, by_gt_size=False, corners=False, no_log=False):
    def encode(boxes, anchors):
        gx, gy, gw, gh = _cxcywh(boxes)
        ax, ay, aw, ah = _cxcywh(anchors)
        if corners:
            gx, gy, ax, ay = boxes[:, 0], boxes[:, 1], anchors[:, 0], anchors[:, 1]
        nw, nh = (gw, gh) if by_gt_size else (aw, ah)
        dw, dh = (gw / aw, gh / ah) if no_log else (torch.log(gw / aw), torch.log(gh / ah))
        if inverted_log:
            dw, dh = -dw, -dh
        return torch.stack([(gx - ax) / nw, (gy - ay) / nh, dw, dh], 1)
    return encode


def test_encode_variant_harness_is_right(check_exercise):
    assert check_exercise("encode_boxes", encode_variant())


@pytest.mark.parametrize("wrong", [dict(inverted_log=True), dict(by_gt_size=True), dict(corners=True),
                                   dict(no_log=True)])
def test_encode_rejects(wrong, check_exercise):
    assert not check_exercise("encode_boxes", encode_variant(**wrong))


def decode_variant(clamp=True, use_exp=True, centre_form=False, swap_wh=False):
    def decode(deltas, anchors):
        ax, ay, aw, ah = _cxcywh(anchors)
        dx, dy, dw, dh = deltas.unbind(1)
        if clamp:
            dw, dh = dw.clamp(max=math.log(1000 / 16)), dh.clamp(max=math.log(1000 / 16))
        if swap_wh:
            aw, ah = ah, aw
        w, h = (aw * torch.exp(dw), ah * torch.exp(dh)) if use_exp else (aw * dw, ah * dh)
        out = torch.stack([ax + dx * aw, ay + dy * ah, w, h], 1)
        return out if centre_form else torchvision.ops.box_convert(out, "cxcywh", "xyxy")
    return decode


def test_decode_variant_harness_is_right(check_exercise):
    assert check_exercise("decode_boxes", decode_variant())


@pytest.mark.parametrize("wrong", [dict(clamp=False), dict(use_exp=False), dict(centre_form=True),
                                   dict(swap_wh=True)])
def test_decode_rejects(wrong, check_exercise):
    assert not check_exercise("decode_boxes", decode_variant(**wrong))


def test_round_trip_of_the_references():
    g = torch.Generator().manual_seed(1)
    anchors = torch.tensor([[0.0, 0, 16, 16], [10, 10, 42, 26], [5, 20, 13, 52]])
    boxes = anchors + torch.randn(3, 4, generator=g)
    torch.testing.assert_close(solutions.decode_boxes(encode_boxes(boxes, anchors), anchors), boxes)


# ---- average precision -----------------------------------------------------------------------

def ap_variant(envelope=True, points=101, descending=True, recall_by_tp=False):
    def average_precision(scores, is_tp, num_gt):
        if num_gt <= 0:
            raise ValueError("num_gt must be positive")
        order = torch.sort(torch.as_tensor(scores, dtype=torch.float64), descending=descending, stable=True).indices
        tp = torch.as_tensor(is_tp)[order].double().cumsum(0)
        fp = (~torch.as_tensor(is_tp)[order]).double().cumsum(0)
        precision = tp / (tp + fp).clamp(min=1)
        denom = max(float(tp[-1]), 1.0) if recall_by_tp and len(tp) else num_gt
        recall = tp / denom
        if envelope and len(precision):
            precision = precision.flip(0).cummax(0).values.flip(0)
        total = 0.0
        for r in torch.linspace(0, 1, points, dtype=torch.float64):
            hit = (recall >= r - 1e-12).nonzero()
            total += float(precision[hit[0, 0]]) if len(hit) else 0.0
        return total / points
    return average_precision


def test_ap_variant_harness_is_right(check_exercise):
    assert check_exercise("average_precision", ap_variant())


@pytest.mark.parametrize("wrong", [dict(envelope=False), dict(points=11), dict(descending=False),
                                   dict(recall_by_tp=True)])
def test_ap_rejects(wrong, check_exercise):
    assert not check_exercise("average_precision", ap_variant(**wrong))


# ---- the lesson's stubs -----------------------------------------------------------------------

def test_lesson06_stubs_shadow_nothing_the_lesson_calls():
    """The learner's stubs (box_iou, nms, ...) must not rebind a name the lesson's sections 1-8 call: after the stub
    cell has run, rerunning an earlier section would call the learner's half-finished function instead."""
    import ast

    from notebook_tools import NOTEBOOK_DIR, code_cells, read

    cells = code_cells(read(NOTEBOOK_DIR / "06_detection_building_blocks.ipynb"))
    stubs = {n.name for c in cells if c.section == "Mini assignment" for n in c.tree.body
             if isinstance(n, ast.FunctionDef)}
    assert {"box_iou", "nms", "encode_boxes", "decode_boxes", "average_precision"} <= stubs
    used = {n.id for c in cells if c.section != "Mini assignment" for n in ast.walk(c.tree) if isinstance(n, ast.Name)}
    assert not stubs & used, f"lesson 06 calls {sorted(stubs & used)} by the name of a learner's stub"
