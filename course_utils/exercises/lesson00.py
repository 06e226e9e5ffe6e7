"""Lesson 00 check: ``count_pixels_of_class``, the warm-up that shows how mini assignments work."""

from __future__ import annotations

import torch

from ..data import make_scene
from .core import Case, exercise

_HINT = "Compare the whole map with class_id at once (semantic == class_id gives a bool map), then count the Trues."


@exercise("count_pixels_of_class", lesson="00", hint=_HINT)
def count_pixels_of_class_cases(gen: torch.Generator) -> list[Case]:
    """Random maps, a real shapes-world scene, and edge cases for count_pixels_of_class(semantic, class_id)."""
    small = torch.randint(1, 7, (6, 6), generator=gen)  # (6, 6) int64, labels 1..6
    wide = torch.randint(1, 4, (3, 10), generator=gen)  # (3, 10): not square, so rows != columns
    scene = make_scene(0, 0)["semantic"]  # (128, 128) int64
    thing = int(scene.max())
    return [
        Case("a random 6x6 map, counting class 2", args=(small, 2)),
        Case("a 3x10 map (not square), counting class 1", args=(wide, 1),
             hint="Count over all pixels, not over one row or one column."),
        Case("a class that does not occur in the map (the count is 0)", args=(small.clamp(max=5), 6)),
        Case("every pixel has the class", args=(torch.full((4, 5), 3, dtype=torch.int64), 3)),
        Case("a 1x1 map", args=(torch.tensor([[4]]), 4)),
        Case("an empty 0x0 map", args=(torch.zeros(0, 0, dtype=torch.int64), 1),
             hint="An empty map has no pixels of any class: the answer is 0, not an error."),
        Case("the semantic map of shapes-world scene (seed 0, index 0), counting sky (class 1)", args=(scene, 1)),
        Case(f"the same scene, counting class {thing}", args=(scene, thing)),
    ]
