"""Panoptic quality: the course's vectorised PQ against an independent, loop-based one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.data import STUFF, THINGS, make_scene
from course_utils.metrics.panoptic import PQStats, format_pq, panoptic_quality, pq_image_stats


def reference_pq(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """PQ written the long way: every (gt, pred) segment pair, pixels counted one by one with masks.

    Follows the COCO panoptic rules from the paper's text: class from ``id // 1000``, match at
    IoU > 0.5 with the union taken over non-void pixels, unmatched predictions that lie more than
    half in void are not counted.
    """
    counts: dict[int, list[float]] = {}  # class -> [tp, fp, fn, iou_sum]

    def bump(c: int, k: int, v: float = 1.0) -> None:
        counts.setdefault(c, [0.0, 0.0, 0.0, 0.0])[k] += v

    for pred, gt in pairs:
        gt_ids = [int(i) for i in np.unique(gt) if i != 0]
        pred_ids = [int(i) for i in np.unique(pred) if i != 0]
        valid = gt != 0
        matched_gt, matched_pred = set(), set()
        for g in gt_ids:
            for p in pred_ids:
                if g // 1000 != p // 1000:
                    continue
                gm, pm = gt == g, pred == p
                inter = int(np.sum(gm & pm))
                union = int(np.sum((gm | pm) & valid))
                if inter and inter / union > 0.5:
                    assert g not in matched_gt and p not in matched_pred, "matches must be unique"
                    matched_gt.add(g)
                    matched_pred.add(p)
                    bump(g // 1000, 0)
                    bump(g // 1000, 3, inter / union)
        for g in gt_ids:
            if g not in matched_gt:
                bump(g // 1000, 2)
        for p in pred_ids:
            if p not in matched_pred:
                pm = pred == p
                if np.sum(pm & ~valid) / np.sum(pm) <= 0.5:
                    bump(p // 1000, 1)

    def avg(classes):
        pqs, sqs, rqs = [], [], []
        for c in classes:
            if c not in counts:
                continue
            tp, fp, fn, iou = counts[c]
            pqs.append(iou / (tp + fp / 2 + fn / 2))
            sqs.append(iou / tp if tp else 0.0)
            rqs.append(tp / (tp + fp / 2 + fn / 2))
        if not pqs:
            return {"pq": 0.0, "sq": 0.0, "rq": 0.0, "n": 0}
        return {"pq": float(np.mean(pqs)), "sq": float(np.mean(sqs)), "rq": float(np.mean(rqs)), "n": len(pqs)}

    return {"all": avg(range(7)), "things": avg(THINGS), "stuff": avg(STUFF), "counts": counts}


def random_map(rng: np.random.Generator, size: int, seeds: np.ndarray, ids: np.ndarray,
               void_boxes: int) -> np.ndarray:
    """Nearest-seed partition of a size x size grid into the given segment ids, with void rectangles."""
    yy, xx = np.mgrid[0:size, 0:size]
    d = (yy[None] - seeds[:, 0, None, None]) ** 2 + (xx[None] - seeds[:, 1, None, None]) ** 2
    out = ids[np.argmin(d, 0)]
    for _ in range(void_boxes):
        y, x = rng.integers(0, size, 2)
        h, w = rng.integers(1, size // 3, 2)
        out[y:y + h, x:x + w] = 0
    return out


def random_pair(rng: np.random.Generator, size: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """A ground-truth map and a perturbed prediction: jittered seeds, some class flips, void."""
    k = int(rng.integers(2, 9))
    seeds = rng.uniform(0, size, (k, 2))
    classes = rng.integers(1, 7, k)
    ids = classes * 1000 + np.arange(1, k + 1)
    gt = random_map(rng, size, seeds, ids, int(rng.integers(0, 3)))
    jitter = rng.normal(0, rng.uniform(0.5, 4.0), seeds.shape)
    pclasses = np.where(rng.random(k) < 0.2, rng.integers(1, 7, k), classes)
    extra = int(rng.integers(0, 3))  # spurious predicted segments
    pseeds = np.concatenate([seeds + jitter, rng.uniform(0, size, (extra, 2))])
    pids = np.concatenate([pclasses, rng.integers(1, 7, extra)]) * 1000 + np.arange(1, k + extra + 1)
    pred = random_map(rng, size, pseeds, pids, int(rng.integers(0, 3)))
    return pred, gt


@pytest.mark.parametrize("seed", range(40))
def test_single_image_matches_independent_implementation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pred, gt = random_pair(rng)
    ours = PQStats().update(torch.from_numpy(pred), torch.from_numpy(gt))
    ref = reference_pq([(pred, gt)])
    for c, (tp, fp, fn, iou) in ref["counts"].items():
        assert (ours.tp[c], ours.fp[c], ours.fn[c]) == (tp, fp, fn), f"class {c}"
        assert ours.iou_sum[c] == pytest.approx(iou, abs=1e-12)
    summary = ours.summary()
    for key in ("all", "things", "stuff"):
        for m in ("pq", "sq", "rq", "n"):
            assert summary[key][m] == pytest.approx(ref[key][m], abs=1e-12), (key, m)


def test_split_accumulates_counts_not_image_averages() -> None:
    rng = np.random.default_rng(123)
    pairs = [random_pair(rng) for _ in range(30)]
    ours = panoptic_quality([p for p, _ in pairs], [g for _, g in pairs])
    ref = reference_pq(pairs)
    for key in ("all", "things", "stuff"):
        for m in ("pq", "sq", "rq", "n"):
            assert ours[key][m] == pytest.approx(ref[key][m], abs=1e-12)
    # the mean of per-image PQs is a different number in general: the split PQ must not be that
    per_image = np.mean([panoptic_quality([p], [g])["all"]["pq"] for p, g in pairs])
    assert abs(per_image - ours["all"]["pq"]) > 1e-6


def test_random_pairs_cover_every_outcome() -> None:
    """The random maps above exercise TP, FP, FN and void-ignored predictions (else the test is weak)."""
    rng = np.random.default_rng(5)
    pairs = [random_pair(rng) for _ in range(40)]
    total = PQStats()
    for p, g in pairs:
        total.update(p, g)
    assert total.tp.sum() > 20 and total.fp.sum() > 10 and total.fn.sum() > 10
    ious = []
    for p, g in pairs:
        s = pq_image_stats(p, g)
        if s.tp.sum():
            ious.append(s.iou_sum.sum() / s.tp.sum())
    assert min(ious) < 0.9  # imperfect matches occur


def test_perfect_prediction_gives_one_on_shapes_scenes() -> None:
    scenes = [make_scene(1, i) for i in range(10)]
    out = panoptic_quality([s["panoptic"] for s in scenes], [s["panoptic"] for s in scenes],
                           [s["segments"] for s in scenes], [s["segments"] for s in scenes])
    for key in ("all", "things", "stuff"):
        assert out[key]["pq"] == pytest.approx(1.0)
        assert out[key]["sq"] == pytest.approx(1.0) and out[key]["rq"] == pytest.approx(1.0)
    assert out["all"]["n"] == 6


def test_renumbered_instances_still_match() -> None:
    """Segment ids need not agree between prediction and ground truth, only classes and pixels."""
    s = make_scene(1, 3)
    pred = s["panoptic"].clone()
    things = pred >= 4000
    pred[things] = pred[things] + 50  # other instance numbers, same classes
    assert panoptic_quality([pred], [s["panoptic"]])["all"]["pq"] == pytest.approx(1.0)


def test_void_handling_hand_made() -> None:
    gt = np.zeros((4, 10), np.int64)
    gt[:, :5] = 1000  # sky, 20 pixels; right half void
    pred = np.zeros_like(gt)
    pred[:, :7] = 1000  # covers all of the sky plus 8 void pixels: IoU 1 after ignoring void
    pred[:, 7:] = 4001  # a circle entirely on void: ignored, not a false positive
    s = pq_image_stats(pred, gt)
    assert s.tp[1] == 1 and s.iou_sum[1] == pytest.approx(1.0)
    assert s.fp.sum() == 0 and s.fn.sum() == 0
    # half in void is still a false positive (strictly more than half is needed to be ignored)
    pred2 = pred.copy()
    pred2[:, 3:5] = 4002
    pred2[:, 5:7] = 4002
    s2 = pq_image_stats(pred2, gt)
    assert s2.fp[4] == 1


def test_iou_exactly_half_is_not_a_match() -> None:
    gt = np.full((2, 4), 2000)
    pred = np.full((2, 4), 3000)
    pred[:, :2] = 2000  # 4 of 8 pixels: IoU = 0.5 exactly
    s = pq_image_stats(pred, gt)
    assert s.tp[2] == 0 and s.fn[2] == 1 and s.fp[2] == 1 and s.fp[3] == 1


def test_segment_lists_override_id_convention() -> None:
    gt = np.array([[1, 1, 2, 2]])
    pred = np.array([[7, 7, 9, 9]])
    gsegs = [{"id": 1, "category_id": 1}, {"id": 2, "category_id": 4}]
    psegs = [{"id": 7, "category_id": 1}, {"id": 9, "category_id": 5}]
    s = pq_image_stats(pred, gt, psegs, gsegs)
    assert s.tp[1] == 1 and s.fn[4] == 1 and s.fp[5] == 1


def test_bad_inputs_give_clear_messages() -> None:
    with pytest.raises(ValueError, match="same shape"):
        pq_image_stats(np.zeros((2, 2), np.int64), np.zeros((2, 3), np.int64))
    with pytest.raises(ValueError, match="2-D"):
        pq_image_stats(np.zeros((1, 2, 2), np.int64), np.zeros((1, 2, 2), np.int64))
    with pytest.raises(ValueError, match="integer"):
        pq_image_stats(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="segment list"):
        pq_image_stats(np.array([[5]]), np.array([[1000]]), pred_segments=[])
    with pytest.raises(ValueError, match="void"):
        pq_image_stats(np.array([[5]]), np.array([[1000]]))
    with pytest.raises(ValueError, match="predictions"):
        panoptic_quality([np.zeros((2, 2), np.int64)], [])


def test_empty_and_all_void() -> None:
    assert PQStats().update(np.zeros((0, 0), np.int64), np.zeros((0, 0), np.int64)).average()["n"] == 0
    out = panoptic_quality([np.zeros((3, 3), np.int64)], [np.zeros((3, 3), np.int64)])
    assert out["all"] == {"pq": 0.0, "sq": 0.0, "rq": 0.0, "n": 0}
    assert "PQ" in format_pq(out)
