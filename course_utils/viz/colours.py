"""What each colour of the course's figures means: classes, instances and errors never share a colour.

Class colours (``data.classes.CLASS_COLOURS``, the legend) say which class a pixel has. Instances
(one object each, in instance figures and the thing segments of panoptic maps) take their colours
from :data:`INSTANCE_PALETTE`, chosen far from every class colour, so a learner never reads an
object's identity colour as a class; a prediction that matches no true object is
:data:`UNMATCHED_COLOUR`. Wrong pixels in error maps are :data:`ERROR_COLOUR`, used by nothing else:
not by a class, an instance, an overlay, nor by the paint of the scenes' objects
(``data.classes.THING_COLOURS``, which are data and include magenta, so errors are blue). Object
boundaries and interiors drawn over a figure (lesson 03's boundary band, lesson 05's pixel map) are
:data:`BOUNDARY_COLOUR` and :data:`INTERIOR_COLOUR`, again far from every other colour. The mask that a
click returns (the promptable segmenter) is :data:`PROMPT_COLOUR`; the clicks themselves are black and
white markers (a plus for "this", a minus for "not this"), so they add no colour.
``tests/test_viz_semantic.py`` checks the distances (CIELAB, see :func:`colour_distance`).
"""

from __future__ import annotations

import math

__all__ = ["INSTANCE_PALETTE", "UNMATCHED_COLOUR", "ERROR_COLOUR", "BOUNDARY_COLOUR", "INTERIOR_COLOUR",
           "PROMPT_COLOUR", "instance_colour", "instance_colours", "text_colour", "colour_distance"]

INSTANCE_PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 150, 150),  # teal
    (255, 130, 170),  # pink
    (170, 240, 0),  # lime
    (180, 135, 150),  # mauve
    (140, 80, 30),  # brown
    (120, 120, 0),  # olive
    (110, 30, 80),  # plum
    (255, 205, 150),  # peach
    (255, 0, 135),  # rose
    (0, 105, 165),  # steel blue
)
"""Instance colours (RGB 0-255), none of them close to a class colour or to the paint of an object (an orange
overlay on an orange object would hide it); object k of a scene gets entry k. Ten, as many as the most
objects a scene of either world holds (lesson 11's own-data world: up to 10), so no two objects of one
scene share a colour."""

UNMATCHED_COLOUR: tuple[int, int, int] = (90, 90, 90)
"""Dark grey: a predicted object that matches no true object (a duplicate or a false alarm), beside ground truth
whose object k wears instance colour k; never an instance colour, so it cannot be read as a true object."""

ERROR_COLOUR: tuple[int, int, int] = (0, 0, 255)
"""Bright blue: wrong pixels in error maps (no class, instance, overlay or object paint uses it)."""

BOUNDARY_COLOUR: tuple[int, int, int] = (0, 255, 255)
"""Cyan: object boundaries drawn over a figure (boundary bands, the boundary pixels of a pixel map)."""

INTERIOR_COLOUR: tuple[int, int, int] = (255, 255, 255)
"""White: object interiors in a background / interior / boundary pixel map (background is the void black)."""

PROMPT_COLOUR: tuple[int, int, int] = (0, 255, 120)
"""Spring green: the mask a prompt (a click) returns, in the promptable segmenter's viewer and figures."""


def instance_colour(k: int) -> tuple[int, int, int]:
    """Colour number ``k`` of an object: instance colour k (the palette repeats), or for -1 (a prediction that
    matches no true object) :data:`UNMATCHED_COLOUR`."""
    return INSTANCE_PALETTE[k % len(INSTANCE_PALETTE)] if k >= 0 else UNMATCHED_COLOUR


def instance_colours(n: int) -> list[tuple[int, int, int]]:
    """``n`` instance colours from :data:`INSTANCE_PALETTE`, repeating it when ``n`` is larger.

    Args:
        n: number of instances.

    Returns:
        ``n`` RGB tuples (0-255).
    """
    return [INSTANCE_PALETTE[i % len(INSTANCE_PALETTE)] for i in range(max(n, 0))]


def text_colour(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever reads better on a background of ``colour`` (RGB 0-255).

    Args:
        colour: the background colour.

    Returns:
        (0, 0, 0) on light colours, (255, 255, 255) on dark ones.
    """
    r, g, b = colour
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


def _lab(colour: tuple[int, int, int]) -> tuple[float, float, float]:
    """sRGB (0-255) -> CIELAB (D65)."""
    lin = [(c / 255 / 12.92) if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in colour]
    xyz = (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2],
           0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2],
           0.0193 * lin[0] + 0.1192 * lin[1] + 0.9505 * lin[2])
    f = [v ** (1 / 3) if v > 0.008856 else 7.787 * v + 16 / 116
         for v in (xyz[0] / 0.95047, xyz[1], xyz[2] / 1.08883)]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def colour_distance(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """How different two colours look: the CIELAB distance (delta E 1976; about 2.3 is just noticeable).

    Args:
        a, b: RGB colours (0-255).

    Returns:
        the distance (0 for equal colours).
    """
    return math.dist(_lab(a), _lab(b))
