"""Class ids and names of the shapes world, defined once for the whole course.

Id 0 is a declared ``void`` class: no ground-truth pixel ever has it. It plays the part that
"background" plays in torchvision's detection models (label 0 = no object) and that "void"
plays in COCO panoptic (segment id 0 = unlabelled), so the same ids work in every lesson:

====  ========  ======  ==========================================================
 id   name      kind    what it is
====  ========  ======  ==========================================================
 0    void      --      never in ground truth; "background" for Mask R-CNN, void in PQ
 1    sky       stuff   pale, cloudy region, always at the top of a scene
 2    grass     stuff   green, streaky texture
 3    water     stuff   dark blue with horizontal ripples
 4    circle    thing   a disc
 5    square    thing   a rotated square
 6    triangle  thing   a rotated equilateral triangle
====  ========  ======  ==========================================================

Thing classes are defined by *shape*, never by colour: every thing is painted with a colour
drawn from :data:`THING_COLOURS`, whatever its class.
"""

from __future__ import annotations

CLASSES: list[str] = ["void", "sky", "grass", "water", "circle", "square", "triangle"]
"""Class names; the index is the class id used in semantic maps, labels and COCO files."""

VOID: int = 0
"""The void / background id (never in ground truth)."""

STUFF: list[int] = [1, 2, 3]
"""Ids of the amorphous background ("stuff") classes."""

THINGS: list[int] = [4, 5, 6]
"""Ids of the countable object ("thing") classes."""

NUM_CLASSES: int = len(CLASSES)
"""Number of class ids including void (7): the ``num_classes`` of every course model."""

CLASS_COLOURS: list[tuple[int, int, int]] = [
    (0, 0, 0),  # void
    (135, 206, 250),  # sky
    (60, 160, 60),  # grass
    (30, 60, 160),  # water
    (230, 80, 80),  # circle
    (240, 200, 40),  # square
    (170, 90, 220),  # triangle
]
"""A display colour (RGB 0-255) per class id for label-map figures, not the scene colours."""

MODEL_COLOURS: list[tuple[int, int, int]] = [
    (40, 40, 40),  # charcoal
    (150, 150, 150),  # grey
    (0, 90, 90),  # dark teal
    (200, 90, 0),  # dark orange
    (140, 40, 60),  # wine
]
"""Line and bar colours of the series compared in one chart (models in lessons 03 and 04, PQ / SQ / RQ in
lesson 09), far from every class colour, so a curve or bar is never read as a class; series k takes entry k."""

MODEL_SERIES: tuple[str, ...] = ("per-pixel MLP", "FCN-32s", "FCN-8s", "U-Net", "DeepLab")
"""The semantic models of lessons 01-04: each keeps one colour and line style in every chart (FCN-8s is the
same dark teal beside FCN-32s in lesson 03 as beside U-Net in lesson 04); other series go by position."""


def _series(k: int, name: str | None) -> int:
    return MODEL_SERIES.index(name) if name in MODEL_SERIES else k


def model_colour(k: int, name: str | None = None) -> tuple[float, float, float]:
    """Matplotlib colour (0-1 floats) of the ``k``-th series of a chart, or of the model ``name`` when it is one of
    ``MODEL_SERIES``."""
    return tuple(v / 255 for v in MODEL_COLOURS[_series(k, name) % len(MODEL_COLOURS)])


def model_style(k: int, name: str | None = None) -> str:
    """Matplotlib marker and line format of the ``k``-th series (or the model ``name``), so curves differ without
    colour too."""
    return ("o-", "s--", "^:", "D-.", "v--")[_series(k, name) % 5]

THING_COLOURS: list[tuple[float, float, float]] = [
    (0.90, 0.15, 0.15),  # red
    (0.95, 0.55, 0.10),  # orange
    (0.95, 0.90, 0.20),  # yellow
    (0.85, 0.25, 0.75),  # magenta
    (0.55, 0.25, 0.80),  # purple
    (0.96, 0.96, 0.96),  # white
]
"""The paint colours of objects (RGB 0-1); each thing class uses all of them equally often."""

LABEL_DIVISOR: int = 1000
"""Panoptic segment ids are ``class_id * LABEL_DIVISOR + instance_number`` (0 for stuff)."""


def class_name(class_id: int) -> str:
    """Name of a class id, or a readable placeholder for an unknown id."""
    if 0 <= int(class_id) < len(CLASSES):
        return CLASSES[int(class_id)]
    return f"<unknown id {int(class_id)}>"
