"""Reference solutions of lesson 10 (masks as queries and prompts): matching queries to segments, class targets.

The model's own versions (``models.mask_former_parts``) are checked against these in the tests.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment


def hungarian_match(cost: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The one-to-one pairing of queries (rows) with segments (columns) of smallest total cost.

    Args:
        cost: (Q, T) float, Q >= T: the cost of giving segment t to query q.

    Returns:
        (queries, segments): int64 (T,) each, sorted by segment, so ``queries[j]`` is the query of segment ``j``.
    """
    if cost.dim() != 2 or cost.shape[0] < cost.shape[1]:
        raise ValueError(f"cost must be (queries, segments) with at least as many queries, got {tuple(cost.shape)}")
    rows, cols = linear_sum_assignment(cost.detach().cpu().numpy())
    order = np.argsort(cols)
    return torch.as_tensor(rows[order], dtype=torch.int64), torch.as_tensor(cols[order], dtype=torch.int64)


def class_targets(num_queries: int, queries: torch.Tensor, labels: torch.Tensor, no_object: int) -> torch.Tensor:
    """The class every query is trained towards: its segment's label if matched, else "no object".

    Args:
        num_queries: Q.
        queries: (M,) int64 the matched queries; labels: (M,) int64 the labels of their segments.
        no_object: the id of the "no object" class.

    Returns:
        (Q,) int64.
    """
    target = torch.full((num_queries,), int(no_object), dtype=torch.int64)
    target[queries.long()] = labels.long()
    return target
