"""Checks of lesson 10's mini assignments: Hungarian matching of queries to segments, the class targets."""

from __future__ import annotations

import torch

from .core import Case, exercise


def _optimal_matching(expected, got) -> str | None:
    """Accept any optimal one-to-one matching (ties may have several), sorted by segment."""
    exp_q, exp_t = expected
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return "return two tensors: (query indices, segment indices)"
    got_q, got_t = (torch.as_tensor(g).long().flatten() for g in got)
    if not torch.equal(got_t, exp_t):
        return (f"the segment indices should be {exp_t.tolist()} (every segment once, in order), "
                f"got {got_t.tolist()}")
    if len(got_q) != len(exp_q):
        return f"expected {len(exp_q)} query indices, got {len(got_q)}"
    if len(set(got_q.tolist())) != len(got_q):
        return f"a query is used twice: {got_q.tolist()} (each query takes at most one segment)"
    return None


def _matching_case(description: str, cost: torch.Tensor, hint: str | None = None) -> Case:
    def compare(expected, got):
        problem = _optimal_matching(expected, got)
        if problem:
            return problem
        best = float(cost[expected[0], expected[1]].sum())
        total = float(cost[torch.as_tensor(got[0]).long(), torch.as_tensor(got[1]).long()].sum())
        if total > best + 1e-6:
            return f"a valid matching, but its total cost is {total:.4f}; the smallest is {best:.4f}"
        return None

    return Case(description, args=(cost,), hint=hint, compare=compare)


@exercise("hungarian_match", lesson="10",
          hint="scipy.optimize.linear_sum_assignment(cost.numpy()) returns (rows, cols) of the best one-to-one "
               "matching: rows are queries, cols segments. Sort both by the segment index and return them as "
               "int64 tensors.")
def hungarian_match_cases(gen: torch.Generator) -> list[Case]:
    """Cases for hungarian_match(cost (Q, T)) -> (queries (T,), segments (T,))."""
    greedy_trap = torch.tensor([[1.0, 2.0], [2.0, 100.0], [3.0, 100.0]])
    return [
        _matching_case("16 queries, 5 segments, random costs", torch.rand(16, 5, generator=gen)),
        _matching_case("greedy picking fails: the cheapest pair (0, 0) is not in the best matching", greedy_trap,
                       hint="Taking the cheapest pair first gives query 0 to segment 0 and leaves segment 1 a cost "
                            "of 100: optimise the TOTAL, as the Hungarian algorithm does."),
        _matching_case("more queries than segments (rows are queries): 6 x 2",
                       torch.rand(6, 2, generator=gen),
                       hint="cost[q, t] is query q and segment t; do not transpose it."),
        _matching_case("as many queries as segments", torch.rand(4, 4, generator=gen)),
        _matching_case("ties: several matchings are optimal, any one of them passes", torch.ones(5, 3)),
        _matching_case("negative costs (a class term -p(class)) are fine", -torch.rand(8, 3, generator=gen)),
        _matching_case("one segment: the single cheapest query", torch.rand(7, 1, generator=gen)),
        _matching_case("no segment at all: two empty tensors", torch.zeros(4, 0),
                       hint="With T = 0 return two empty int64 tensors."),
    ]


@exercise("class_targets", lesson="10",
          hint="Start with torch.full((num_queries,), no_object, dtype=torch.int64), then write each matched "
               "query's label at its index.")
def class_targets_cases(gen: torch.Generator) -> list[Case]:
    """Cases for class_targets(num_queries, queries (M,), labels (M,), no_object) -> (Q,) int64."""
    q = torch.randperm(16, generator=gen)[:5]
    return [
        Case("16 queries, 5 matched", args=(16, q, torch.tensor([1, 4, 5, 6, 2]), 7)),
        Case("unmatched queries must say 'no object' (not void 0, not left out)",
             args=(6, torch.tensor([4, 1]), torch.tensor([5, 3]), 7),
             hint="Every query gets a target: a query without a segment is trained to answer 'no object'."),
        Case("nothing matched: every query 'no object'", args=(4, torch.zeros(0, dtype=torch.int64),
                                                               torch.zeros(0, dtype=torch.int64), 7)),
        Case("every query matched", args=(3, torch.tensor([2, 0, 1]), torch.tensor([4, 4, 1]), 7)),
        Case("a different 'no object' id", args=(5, torch.tensor([0]), torch.tensor([2]), 3)),
    ]
