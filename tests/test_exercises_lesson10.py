"""Lesson 10's checks accept the references and reject typical wrong solutions; the references agree with the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from course_utils import exercises, solutions
from course_utils.models.mask_former_parts import match_queries, set_losses

NAMES = ["hungarian_match", "class_targets"]


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes(name, check_exercise):
    assert name in exercises.NAMES
    assert exercises.lesson_of(name) == "10"
    assert check_exercise(name, getattr(solutions, name))


@pytest.mark.parametrize("name", NAMES)
def test_stub_reports_not_attempted(name, capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError

    assert not exercises.check(name, stub)
    assert "not attempted" in capsys.readouterr().out


def test_an_other_optimal_matching_on_ties_passes(check_exercise):
    def reversed_on_ties(cost):
        rows, cols = linear_sum_assignment(-np.arange(cost.numel()).reshape(cost.shape) * 1e-9 + cost.numpy())
        order = np.argsort(cols)
        return torch.as_tensor(rows[order]), torch.as_tensor(cols[order])

    assert check_exercise("hungarian_match", reversed_on_ties)


def _greedy(cost):
    taken, pairs = set(), []
    for t in range(cost.shape[1]):
        order = torch.argsort(cost[:, t]).tolist()
        q = next(q for q in order if q not in taken)
        taken.add(q)
        pairs.append(q)
    return torch.tensor(pairs, dtype=torch.int64), torch.arange(cost.shape[1])


def _globally_greedy(cost):
    """Cheapest remaining pair first (a common first idea)."""
    c = cost.clone()
    q_of = {}
    for _ in range(cost.shape[1]):
        q, t = divmod(int(torch.argmin(c)), c.shape[1])
        q_of[t] = q
        c[q, :] = float("inf")
        c[:, t] = float("inf")
    return torch.tensor([q_of[t] for t in range(cost.shape[1])], dtype=torch.int64), torch.arange(cost.shape[1])


def _transposed(cost):
    cols, rows = linear_sum_assignment(cost.T.numpy())  # rows and columns swapped back the wrong way
    order = np.argsort(rows)
    return torch.as_tensor(cols[order]), torch.as_tensor(rows[order])


def _unsorted(cost):
    rows, cols = linear_sum_assignment(cost.numpy())
    order = np.argsort(rows)[::-1].copy()
    return torch.as_tensor(rows[order]), torch.as_tensor(cols[order])


@pytest.mark.parametrize("wrong", [_greedy, _globally_greedy, _transposed, _unsorted])
def test_hungarian_match_rejects_typical_mistakes(wrong):
    assert not exercises.check("hungarian_match", wrong, verbose=False)


def _void_for_unmatched(num_queries, queries, labels, no_object):
    target = torch.zeros(num_queries, dtype=torch.int64)  # "no object" forgotten: unmatched queries become void
    target[queries] = labels
    return target


def _only_matched(num_queries, queries, labels, no_object):
    return labels.clone()


@pytest.mark.parametrize("wrong", [_void_for_unmatched, _only_matched])
def test_class_targets_rejects_typical_mistakes(wrong):
    assert not exercises.check("class_targets", wrong, verbose=False)


def test_references_agree_with_the_model():
    g = torch.Generator().manual_seed(0)
    for _ in range(10):
        cost = torch.rand(16, 6, generator=g)
        ref_q, ref_t = solutions.hungarian_match(cost)
        q, t = match_queries(cost)
        assert float(cost[ref_q, ref_t].sum()) == pytest.approx(float(cost[q, t].sum()))
        assert torch.equal(t, ref_t)
    # the model's class loss trains exactly solutions.class_targets: with logits that state those targets
    # the class loss is (near) zero, and it is not when the unmatched queries say void instead
    masks = torch.zeros(2, 8, 8)
    masks[0, :4], masks[1, 4:] = 1, 1
    target = {"labels": torch.tensor([4, 2]), "masks": masks}
    mask_logits = torch.full((1, 5, 8, 8), -9.0)
    mask_logits[0, 3] = masks[0] * 18 - 9
    mask_logits[0, 1] = masks[1] * 18 - 9
    expected = solutions.class_targets(5, torch.tensor([3, 1]), target["labels"], no_object=7)
    logits = torch.nn.functional.one_hot(expected, 8).float()[None] * 30
    assert set_losses(logits, mask_logits, [target])["loss_class"] < 1e-6
    void = torch.nn.functional.one_hot(_void_for_unmatched(5, torch.tensor([3, 1]), target["labels"], 7), 8)
    assert set_losses(void.float()[None] * 30, mask_logits, [target])["loss_class"] > 1.0
