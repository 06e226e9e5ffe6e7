"""Figures of lesson 05 about methods: the bottom-up pipeline, a map of instance models, applications."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, Patch
from scipy import ndimage as ndi
from scipy.optimize import linear_sum_assignment

from ..data.classes import CLASS_COLOURS, CLASSES, MODEL_COLOURS, VOID
from ..metrics.instances import mask_iou_matrix
from .colours import BOUNDARY_COLOUR, INTERIOR_COLOUR
from .instances import _count_text, _off, colour_ids, masks_to_ids, matched_ids
from .scenes import hwc, instance_colours

PIXEL_MAP_COLOURS = ListedColormap([tuple(v / 255 for v in c) for c in (CLASS_COLOURS[VOID], INTERIOR_COLOUR,
                                                                         BOUNDARY_COLOUR)])
"""Display colours of background / interior / boundary: the void black and the overlay colours of
``viz.colours``, none of them a class or instance colour."""


def pixel_map_legend(ax: plt.Axes, fontsize: float = 8) -> None:
    """The colour key of a background / interior / boundary map drawn with ``PIXEL_MAP_COLOURS``."""
    ax.legend(handles=[Patch(color=PIXEL_MAP_COLOURS(i), label=n)
                       for i, n in enumerate(["background", "interior", "boundary"])], fontsize=fontsize,
              loc="lower right")


SMALL_BLOB = 150
"""Pixels below which a region's class tag would cover it: the tag goes beside it, with a pointer and a ring."""


def _label_instances(ax: plt.Axes, instances: dict) -> None:
    """A class tag on each region; beside a small one (fewer than ``SMALL_BLOB`` pixels), so it stays visible."""
    for mask, lab in zip(instances["masks"], instances["labels"]):
        ys, xs = torch.nonzero(mask, as_tuple=True)
        if not len(xs):
            continue
        x, y, tag = float(xs.float().mean()), float(ys.float().mean()), CLASSES[int(lab)][:3]
        box = {"facecolor": "white", "alpha": 0.8, "pad": 0.5, "lw": 0}
        if len(xs) >= SMALL_BLOB:
            ax.text(x, y, tag, fontsize=8, ha="center", va="center", bbox=box)
            continue
        size = mask.shape[-1]
        r = max(float(xs.max() - xs.min()), float(ys.max() - ys.min())) / 2 + 3
        ax.add_patch(Circle((x, y), r, fill=False, ls="--", lw=1.2, edgecolor="white"))
        dx = 22.0 if x < size / 2 else -22.0  # towards the middle, where there is room for the tag
        dy = 22.0 if y < size / 2 else -22.0
        ax.annotate(tag, (x + (r if dx > 0 else -r) * 0.7, y + (r if dy > 0 else -r) * 0.7), (x + dx, y + dy),
                    fontsize=8, ha="center", va="center", bbox=box,
                    arrowprops={"arrowstyle": "-", "color": "white", "lw": 1})


def show_bottom_up(scene: dict, result: dict, plain: dict) -> plt.Figure:
    """The bottom-up pipeline on one scene, next to plain connected components of the semantic map.

    Args:
        scene: a scene dict (image, labels).
        result: ``bottom_up_instances(...)`` output (``pixel_map``, ``ids``, ``masks``, ``labels``).
        plain: ``semantic_instances(semantic FCN's map)`` (``masks``, ``labels``).

    Returns:
        the figure (five panels).
    """
    from ..models.bottom_up import INTERIOR

    seeds, _ = ndi.label(result["pixel_map"].numpy() == INTERIOR)
    fig, axes = plt.subplots(1, 5, figsize=(17, 3.9))
    axes[0].imshow(hwc(scene["image"]))
    _off(axes[0], f"image: {len(scene['labels'])} objects")
    axes[1].imshow(result["pixel_map"], cmap=PIXEL_MAP_COLOURS, vmin=0, vmax=2, interpolation="nearest")
    pixel_map_legend(axes[1], fontsize=8)
    _off(axes[1], "1. FCN: background / interior / boundary")
    seed_masks = torch.from_numpy(seeds[None] == np.arange(1, int(seeds.max()) + 1)[:, None, None])
    axes[2].imshow(colour_ids(matched_ids(seed_masks, scene["masks"], min_iou=0.0)), interpolation="nearest")
    _off(axes[2], f"2. interior components: {int(seeds.max())} seeds")
    axes[3].imshow(colour_ids(matched_ids(result["masks"], scene["masks"])), interpolation="nearest")
    _label_instances(axes[3], result)
    _off(axes[3], f"3-4. grown + class vote: {len(result['labels'])} objects")
    axes[3].set_xlabel(_count_text(result["labels"], scene["labels"]), fontsize=8)
    axes[4].imshow(colour_ids(matched_ids(plain["masks"], scene["masks"])), interpolation="nearest")
    _label_instances(axes[4], plain)
    _off(axes[4], f"plain components of the semantic map: {len(plain['labels'])}")
    axes[4].set_xlabel(_count_text(plain["labels"], scene["labels"]), fontsize=8)
    fig.text(0.5, 0.01, "colours: in panel 2., a seed takes the colour of the true object it overlaps most; in "
             "3-4. and the last, a region takes the colour of the true object it matches (mask IoU > 0.5), as in the "
             "scene figures; a region matching none is dark grey; a dashed ring marks a small region, its tag beside "
             "it", ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


# (name, x: 0 top-down .. 1 bottom-up, y: 0 one-stage / real time .. 1 two-stage / accurate, in Detectron2, note)
MODEL_MAP: list[tuple[str, float, float, bool, str]] = [
    ("Mask R-CNN (2017)", 0.12, 0.78, True, "boxes from an RPN, then class + box + mask per box"),
    ("Cascade Mask R-CNN (2018)", 0.08, 0.95, True, "a cascade of box heads, stricter IoUs"),
    ("PointRend (2020)", 0.26, 0.88, True, "Mask R-CNN + sharp masks refined point by point"),
    ("Panoptic FPN (2019)", 0.35, 0.66, True, "Mask R-CNN things + an FCN branch for stuff"),
    ("TensorMask (2019)", 0.42, 0.40, True, "dense sliding-window masks, no proposals"),
    ("YOLACT (2019)", 0.5, 0.12, False, "on the border: masks assembled densely (prototypes x coefficients), "
     "but a box per object crops them; one stage, real time"),
    ("SOLO (2020)", 0.7, 0.22, False, "no boxes: each grid cell predicts the mask of the object centred there"),
    ("InstanceCut / Deep Watershed (2017)", 0.86, 0.55, False, "FCN semantics + boundaries/energy, then grouping"),
    ("this lesson's baseline", 0.92, 0.33, False, "FCN interior/boundary + connected components"),
]
"""Where each model sits on lesson 05's map (qualitative positions, not measurements)."""


def show_model_map() -> plt.Figure:
    """A qualitative map of instance segmentation models: top-down vs bottom-up, two-stage vs one-stage.

    The family is where a model sits (the tinted halves, named in the legend and under the axis); every marker
    is the same charcoal, so no colour has to be decoded. Filled markers: implemented in Facebook AI
    Research's Detectron2 library; hollow: its own code base.

    Returns:
        the figure.
    """
    fig, ax = plt.subplots(figsize=(12.5, 7.0))
    left, right = -0.5, 1.5  # two equal halves, wide enough that every caption stays inside its model's half
    top_down, bottom_up = (0.86, 0.9, 1.0), (0.88, 0.96, 0.88)  # pale tints of the two halves, behind everything
    ax.axvspan(left, 0.5, color=top_down, zorder=0)
    ax.axvspan(0.5, right, color=bottom_up, zorder=0)
    ink = tuple(v / 255 for v in MODEL_COLOURS[0])  # charcoal
    for name, x, y, d2, note in MODEL_MAP:
        ax.plot(x, y, "o", ms=12, color=ink, mfc=ink if d2 else "white", mew=2, zorder=3)
        text = "\n".join([name, *textwrap.wrap(note, 38)])
        side = -1 if x < 0.5 else 1  # top-down captions to the left of their marker, the others to the right
        ax.annotate(text, (x, y), xytext=(10 * side, -3), textcoords="offset points", fontsize=9, va="top",
                    ha="right" if side < 0 else "left", zorder=3)
    ax.set_xlim(left, right)
    ax.set_ylim(-0.05, 1.08)  # room under YOLACT for its caption
    ax.set_xticks([0.0, 1.0])
    ax.set_xticklabels(["top-down / R-CNN-driven:\nfind boxes, then a mask per box",
                        "bottom-up / FCN-driven:\nlabel pixels, then group them into objects"], fontsize=10)
    ax.set_yticks([0.12, 0.85])
    ax.set_yticklabels(["one stage\n(fast, real time)", "two stages\n(proposals, then heads:\nslower, precise)"],
                       fontsize=10)
    handles = [Patch(color=top_down, label="top-down family"), Patch(color=bottom_up, label="bottom-up family"),
               Line2D([], [], ls="", marker="o", ms=10, color=ink, label="in Detectron2 (FAIR's library)"),
               Line2D([], [], ls="", marker="o", ms=10, color=ink, mfc="white", mew=2, label="own code base")]
    ax.legend(handles=handles, loc="upper right", fontsize=9, framealpha=0.95)
    ax.set_title("A map of instance segmentation models (qualitative positions; on the line between the halves: "
                 "a bit of both)", fontsize=11)
    fig.tight_layout()
    return fig


def show_applications(scene: dict, shift: tuple[int, int] = (5, 3)) -> plt.Figure:
    """Four things only per-object masks make possible, on one scene.

    Counting (satellite / environment), grasp points and orientation (robotics), tracking the same
    objects into the next frame (video, autonomous driving), and drawing a virtual object behind a
    real one (augmented reality).

    Args:
        scene: a scene dict.
        shift: (dy, dx) pixels the "next frame" is moved by, for the tracking panel.

    Returns:
        the figure.
    """
    image, masks, labels = scene["image"], scene["masks"], scene["labels"]
    n, size = len(masks), image.shape[-1]
    colours = [np.array(c) / 255 for c in instance_colours(n)]
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.3))
    axes[0].imshow(colour_ids(masks_to_ids(masks)))
    _off(axes[0], "counting (satellite, ecology):\n" + _count_text(labels))
    axes[1].imshow(hwc(image))
    for k, mask in enumerate(masks):
        ys, xs = torch.nonzero(mask, as_tuple=True)
        cy, cx = float(ys.float().mean()), float(xs.float().mean())
        cov = np.cov(np.stack([xs.float().numpy(), ys.float().numpy()]))  # (2, 2) spread of the pixels
        evals, evecs = np.linalg.eigh(cov)
        d = evecs[:, 1] * 2 * np.sqrt(max(evals[1], 1e-6))
        axes[1].plot([cx - d[0], cx + d[0]], [cy - d[1], cy + d[1]], color="black", lw=2)
        axes[1].plot(cx, cy, "o", color=colours[k], mec="black", ms=8)
    _off(axes[1], "robotics: a grasp point (centre)\nand main axis per object")
    moved = torch.roll(masks, shifts=shift, dims=(1, 2))  # the next frame: everything moved a little
    moved[:, :shift[0]] = False  # what rolled over the edge has left the picture
    moved[:, :, :shift[1]] = False
    iou = mask_iou_matrix(masks, moved)  # (N, N)
    rows, cols = linear_sum_assignment(-iou)  # best one-to-one matching by mask IoU
    frame2 = np.zeros((size, size, 3))
    for r, c in zip(rows, cols):
        frame2[moved[c].numpy()] = colours[r]
    axes[2].imshow(0.35 * hwc(image).numpy() + 0.65 * frame2)
    for mask in masks:
        ys, xs = torch.nonzero(mask, as_tuple=True)
        axes[2].annotate("", (float(xs.float().mean()) + shift[1], float(ys.float().mean()) + shift[0]),
                         (float(xs.float().mean()), float(ys.float().mean())),
                         arrowprops={"arrowstyle": "->", "color": "black", "lw": 1.5})
    _off(axes[2], f"video / driving: {len(rows)} objects tracked into\nthe next frame by mask IoU (same colour)")
    areas = masks.flatten(1).sum(1)
    front = int(areas.argmax())  # the largest object stands "in front of" the virtual ball
    ys, xs = torch.nonzero(masks[front], as_tuple=True)
    cx, cy = float(xs.max()) + 2, float(ys.float().mean()) - 4  # half behind the object's right edge
    ball = np.zeros((size, size), bool)
    yy, xx = np.mgrid[:size, :size]
    ball[(yy - cy) ** 2 + (xx - cx) ** 2 <= 14 ** 2] = True
    ar = hwc(image).numpy().copy()
    ar[ball & ~masks[front].numpy()] = (0.85, 0.25, 0.75)  # object paint; the real mask hides part
    axes[3].imshow(ar)
    axes[3].add_patch(Circle((cx, cy), 14, fill=False, ls=":", color="black"))
    _off(axes[3], f"AR: a virtual ball drawn behind\nthe real {CLASSES[int(labels[front])]} (its mask occludes it)")
    fig.tight_layout()
    return fig

