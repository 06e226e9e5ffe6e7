"""Figures of shapes-world scenes: image, semantic map, instances with boxes, panoptic map."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib import font_manager
from matplotlib.patches import Patch
from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

from ..data.classes import CLASS_COLOURS, CLASSES, LABEL_DIVISOR, STUFF, THINGS
from .axes import axes_or_figure
from .colours import UNMATCHED_COLOUR, instance_colour, instance_colours
from .labels import draw_labels


@lru_cache(maxsize=1)
def _font_path() -> str:
    """A TrueType font that ships with matplotlib, so box labels can be any size."""
    return font_manager.findfont("DejaVu Sans")


def to_uint8(image: torch.Tensor) -> torch.Tensor:
    """Float image (3, H, W) in [0, 1] -> uint8 (3, H, W), the input torchvision's drawers want."""
    return (image.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)


def hwc(image: torch.Tensor) -> torch.Tensor:
    """(3, H, W) -> (H, W, 3) for ``plt.imshow``."""
    return image.detach().cpu().permute(1, 2, 0)


def colour_semantic(semantic: torch.Tensor) -> torch.Tensor:
    """Class-id map (H, W) -> uint8 RGB (H, W, 3) with the course's class colours."""
    palette = torch.tensor(CLASS_COLOURS, dtype=torch.uint8)  # (C, 3)
    return palette[semantic.detach().cpu().long().clamp(0, len(CLASSES) - 1)]


def _outlines(masks: torch.Tensor, width: int) -> torch.Tensor:
    """(N, H, W) bool masks -> their inner borders, ``width`` pixels wide, as (N, H, W) bool."""
    m = masks.float()[:, None]  # (N, 1, H, W)
    inner = -F.max_pool2d(-m, 2 * width + 1, stride=1, padding=width)  # eroded masks
    return (m - inner)[:, 0] > 0.5


def draw_instances(image: torch.Tensor, masks: torch.Tensor, boxes: torch.Tensor | None = None,
                   labels: torch.Tensor | None = None, scores: torch.Tensor | None = None,
                   alpha: float = 0.65, width: int = 1, scale: int = 1, class_names: Sequence[str] | None = None,
                   colour_ids: Sequence[int] | None = None, font_size: int | None = None,
                   labels_off_masks: bool = False) -> torch.Tensor:
    """Overlay instance masks (and boxes with class names / scores) on an image.

    Each instance gets a colour of the instance palette (``viz.colours``; never a class colour): a
    translucent fill, a solid outline, its box and a label on a patch of the same colour, placed where
    it covers no other label (``viz.labels``).

    Args:
        image: float (3, H, W) in [0, 1] or uint8.
        masks: (N, H, W) bool, uint8 or float probabilities (thresholded at 0.5).
        boxes: optional (N, 4) xyxy.
        labels: optional (N,) class ids, written on the boxes.
        scores: optional (N,) confidences, written after the class name.
        alpha: mask opacity.
        width: box line width.
        scale: enlarge by this integer factor first (nearest), so text and lines stay legible.
        class_names: the name of each label (default the course's ``CLASSES``; a COCO dataset's
            ``class_names`` for its own labels).
        colour_ids: which instance colour each object takes (default 0, 1, 2, ...), so that an
            object keeps its colour in several pictures when some objects are missing from one; -1 draws
            it in ``UNMATCHED_COLOUR`` (a prediction that matches no true object).
        font_size: label height in pixels of the returned picture (default ``max(10, 5 * scale)``).
        labels_off_masks: place each label where it covers the fewest pixels of any object's mask (among the
            spots that cover no other label), so that no label hides a small object; default: the first free spot.

    Returns:
        uint8 (3, H*scale, W*scale) picture.
    """
    out = image if image.dtype == torch.uint8 else to_uint8(image)
    out = out.cpu()
    m = masks.detach().cpu()
    m = m > 0.5 if m.is_floating_point() else m.bool()
    if scale > 1:
        out = out.repeat_interleave(scale, 1).repeat_interleave(scale, 2)
        m = m.repeat_interleave(scale, 1).repeat_interleave(scale, 2)
        boxes = None if boxes is None else boxes.detach().cpu().float() * scale
    n = len(m)
    if n == 0:
        return out
    colours = [instance_colour(int(k)) for k in (colour_ids if colour_ids is not None else range(n))]
    # One mask at a time (torchvision blackens pixels that several masks of one call share), the surest last so
    # it is drawn on top where predictions overlap.
    order = range(n) if scores is None else torch.argsort(scores.detach().cpu().float(), stable=True).tolist()
    lines = _outlines(m, max(1, (scale + 1) // 2))
    for i in order:
        out = draw_segmentation_masks(out, m[i:i + 1], alpha=alpha, colors=[colours[i]])
    for i in order:
        out = draw_segmentation_masks(out, lines[i:i + 1], alpha=1.0, colors=[colours[i]])
    if boxes is not None and len(boxes):
        boxes = boxes.detach().cpu().float()
        out = draw_bounding_boxes(out, boxes, colors=colours, width=width)
        if labels is not None:
            names = CLASSES if class_names is None else list(class_names)
            text = [names[int(c)] if 0 <= int(c) < len(names) else str(int(c)) for c in labels]
            if scores is not None:
                text = [f"{t} {float(s):.2f}" for t, s in zip(text, scores)]
            out = draw_labels(out, boxes, text, colours, _font_path(), font_size or max(10, 5 * scale),
                              occupied=m.any(0) if labels_off_masks else None)
    return out


def colour_panoptic(panoptic: torch.Tensor, thing_ids: Sequence[int] | None = None) -> torch.Tensor:
    """Panoptic map (H, W) of ``class * 1000 + instance`` ids -> uint8 RGB (H, W, 3).

    Stuff segments get their class colour; each thing segment its own instance colour (``viz.colours``, never a
    class colour: the colour says which object, not which class); void is black.

    Args:
        panoptic: the map.
        thing_ids: segment ids in colour order (``scene_thing_ids(scene)``: object k of the scene takes
            instance colour k, as in every instance figure; ``matched_segment_ids`` for a prediction); a thing
            segment not listed is drawn in ``UNMATCHED_COLOUR``. Default (None): every thing segment by id.
    """
    pan = panoptic.detach().cpu().long()
    out = torch.zeros(*pan.shape, 3, dtype=torch.uint8)
    ids = [int(i) for i in torch.unique(pan) if int(i) != 0]
    listed = thing_ids is not None
    first = [int(i) for i in (thing_ids or [])]
    things = first if listed else [i for i in ids if i // LABEL_DIVISOR in THINGS]
    for i in ids:
        if i // LABEL_DIVISOR in STUFF:
            out[pan == i] = torch.tensor(CLASS_COLOURS[i // LABEL_DIVISOR], dtype=torch.uint8)
        elif listed and i // LABEL_DIVISOR in THINGS and i not in first:  # matches no listed object
            out[pan == i] = torch.tensor(UNMATCHED_COLOUR, dtype=torch.uint8)
    for i, col in zip(things, instance_colours(len(things))):
        if i in ids:
            out[pan == i] = torch.tensor(col, dtype=torch.uint8)
    return out


def class_patches(class_ids: list[int] | None = None) -> list[Patch]:
    """Legend entries of class colours, one ``"id name"`` patch per class.

    Args:
        class_ids: the classes (default: all except void).

    Returns:
        matplotlib patches for ``ax.legend(handles=...)``.
    """
    ids = class_ids if class_ids is not None else list(range(1, len(CLASSES)))
    return [Patch(color=[c / 255 for c in CLASS_COLOURS[i]], label=f"{i} {CLASSES[i]}") for i in ids]


def class_legend(ax: plt.Axes, class_ids: list[int] | None = None, **kwargs) -> None:
    """Add a legend of class colours (all classes except void by default) to ``ax``."""
    kwargs.setdefault("loc", "upper left")
    kwargs.setdefault("bbox_to_anchor", (1.01, 1.0))
    kwargs.setdefault("fontsize", 8)
    ax.legend(handles=class_patches(class_ids), frameon=False, **kwargs)


def scene_thing_ids(scene: dict) -> list[int]:
    """The panoptic segment id of each of a scene's objects, in object order (0 for a hidden one).

    Passed to :func:`colour_panoptic`, object k's segment takes instance colour k, the colour
    :func:`draw_instances` gives object k, so one object has one colour in every figure.
    """
    pan = scene["panoptic"].cpu()
    return [int(pan[m.cpu().bool()].mode().values) if bool(m.any()) else 0 for m in scene["masks"]]


def show_scene(scene: dict, axes: list[plt.Axes] | None = None, title: str | None = None) -> plt.Figure:
    """One scene as four panels: image | semantic map | instances with boxes | panoptic map.

    Args:
        scene: a dict from ``make_scene``.
        axes: four axes to draw into (a new figure when None).
        title: optional title above the image panel.

    Returns:
        the matplotlib figure.
    """
    fig, axes = axes_or_figure(axes, figsize=(13, 3.4), ncols=4)
    n = len(scene["labels"])
    panels = [
        (hwc(scene["image"]), title or f"image (seed {scene.get('seed')}, index {scene.get('index')})"),
        (colour_semantic(scene["semantic"]), "semantic: a class per pixel"),
        (hwc(draw_instances(scene["image"], scene["masks"], scene["boxes"], scene["labels"], scale=3, width=2,
                            alpha=0.85, font_size=19, labels_off_masks=True)),
         f"instances: {n} object{'s' if n != 1 else ''}, mask + box each\n(a colour per object, not per class)"),
        (colour_panoptic(scene["panoptic"], scene_thing_ids(scene)),  # object k: colour k in both panels
         "panoptic: stuff by class colour,\na colour per thing (object)"),
    ]
    for ax, (img, name) in zip(axes, panels):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    class_legend(axes[1], loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=3,
                 title="class colours (semantic map; stuff in the panoptic map)", title_fontsize=8)
    fig.tight_layout()
    return fig


def show_scenes(scenes: list[dict], cols: int = 5, what: str = "image") -> plt.Figure:
    """A grid of scenes showing one view each: "image", "semantic", "instances" or "panoptic".

    Args:
        scenes: dicts from ``make_scene``.
        cols: panels per row.
        what: which view to draw.

    Returns:
        the matplotlib figure.
    """
    views = {
        "image": lambda s: hwc(s["image"]),
        "semantic": lambda s: colour_semantic(s["semantic"]),
        "instances": lambda s: hwc(draw_instances(s["image"], s["masks"], s["boxes"], s["labels"], scale=2)),
        "panoptic": lambda s: colour_panoptic(s["panoptic"], scene_thing_ids(s)),
    }
    if what not in views:
        raise ValueError(f"what={what!r} is not one of {sorted(views)}")
    rows = -(-len(scenes) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, s in zip(axes.flat, scenes):
        ax.imshow(views[what](s), interpolation="nearest")
        n = len(s["labels"])
        ax.set_title(f"#{s.get('index')}: {n} object{'s' if n != 1 else ''}", fontsize=8)
    if what == "semantic":
        class_legend(axes[0, -1])
    fig.tight_layout()
    return fig
