"""Lesson 00 reference solutions (the back of the book)."""

from __future__ import annotations

import torch

__all__ = ["count_pixels_of_class"]


def count_pixels_of_class(semantic: torch.Tensor, class_id: int) -> int:
    """How many pixels of a semantic map carry the label ``class_id``.

    Args:
        semantic: semantic map, int64 (H, W); every pixel holds a class id.
        class_id: the class to count (e.g. 1 for "sky").

    Returns:
        the number of pixels whose label equals ``class_id``, as a Python int (0 for an empty map).
    """
    return int((semantic == class_id).sum().item())  # (H, W) bool -> count
