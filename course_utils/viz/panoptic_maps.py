"""Panoptic maps up close, for lesson 09's first and third sections: what a pixel stores, and toy maps to score by hand.

The figures of fused predictions, PQ and the fusion thresholds are in ``viz/panoptic.py`` (which re-exports these).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Patch

from ..data.classes import CLASS_COLOURS, CLASSES, LABEL_DIVISOR, STUFF, THINGS
from .colours import UNMATCHED_COLOUR, instance_colour, text_colour
from .instances import matched_segment_ids
from .scenes import colour_panoptic, scene_thing_ids

__all__ = ["show_pixel_stories", "show_toy_panoptic"]


def show_pixel_stories(scene: dict, points: Sequence[tuple[int, int]]) -> plt.Figure:
    """The panoptic map with a few pixels marked, and what each task stores at those pixels.

    Args:
        scene: a scene dict.
        points: (row, col) pixels to mark.

    Returns:
        the matplotlib figure (the table of values is in the right panel).
    """
    fig, (ax, ax_t) = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1, 1.6]})
    ax.imshow(colour_panoptic(scene["panoptic"], scene_thing_ids(scene)), interpolation="nearest")
    rows = []
    for k, (y, x) in enumerate(points, start=1):
        ax.plot(x, y, "wo", ms=9, mec="k")
        ax.text(x, y, str(k), ha="center", va="center", fontsize=7)
        cls = int(scene["semantic"][y, x])
        seg = int(scene["panoptic"][y, x])
        inst = "-" if cls in STUFF else str(next((i for i, m in enumerate(scene["masks"]) if m[y, x]), "-"))
        kind = "thing" if cls in THINGS else "stuff"
        rows.append([str(k), f"({y}, {x})", f"{cls} = {CLASSES[cls]} ({kind})", inst, str(seg)])
    ax.set_title("panoptic map", fontsize=9)
    ax.axis("off")
    ax_t.axis("off")
    table = ax_t.table(cellText=rows, colLabels=["#", "pixel\n(row, col)", "semantic:\nclass", "instance:\nmask #",
                                                 "panoptic:\nsegment id"], loc="center", cellLoc="center",
                       colWidths=[0.06, 0.18, 0.32, 0.18, 0.22])
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1, 2.0)
    fig.tight_layout()
    return fig


def _toy_colours(maps: dict[str, torch.Tensor], truth: str) -> dict[str, torch.Tensor]:
    """Each toy map coloured as in the lesson's other figures: a true thing segment k in instance colour k, a
    predicted one in the colour of the true segment it matches (mask IoU above 0.5), dark grey if none."""
    gt = maps[truth].long()
    true_ids = [int(i) for i in torch.unique(gt) if int(i) // LABEL_DIVISOR in THINGS]
    true_masks = torch.stack([gt == i for i in true_ids]) if true_ids else torch.zeros(0, *gt.shape, dtype=bool)
    return {name: colour_panoptic(m, true_ids if name == truth else matched_segment_ids(m, true_masks))
            for name, m in maps.items()}


def show_toy_panoptic(maps: dict[str, torch.Tensor], truth: str | None = None) -> plt.Figure:
    """Small panoptic maps drawn cell by cell, each cell marked with its class id ("v" for void), with a key.

    Stuff cells wear their class colour; thing cells an instance colour, one per true object, shared by the
    predicted segment matching it, or dark grey for a predicted one matching none, as in the lesson's
    other figures. The key names the stuff and void colours; a thing's class is the digit in its cells.

    Args:
        maps: title -> (H, W) panoptic ids (``class * 1000 + instance``, 0 = void), a few pixels each.
        truth: the title of the ground-truth map (default: the first); the others are predictions.

    Returns:
        the matplotlib figure.
    """
    truth = truth if truth is not None else next(iter(maps))
    pictures = _toy_colours(maps, truth)
    fig, axes = plt.subplots(1, len(maps), figsize=(3.2 * len(maps), 3.0), squeeze=False)
    shown: set[int] = set()
    for ax, (name, m) in zip(axes[0], maps.items()):
        pic = pictures[name]  # (H, W, 3) uint8
        ax.imshow(pic, interpolation="nearest")
        for (y, x), v in zip(torch.cartesian_prod(torch.arange(m.shape[0]), torch.arange(m.shape[1])).tolist(),
                             m.flatten().tolist()):
            ink = [c / 255 for c in text_colour(tuple(pic[y, x].tolist()))]
            ax.text(x, y, v // LABEL_DIVISOR if v else "v", ha="center", va="center", fontsize=8, color=ink)
            shown.add(v // LABEL_DIVISOR)
        ax.set_xticks([x - 0.5 for x in range(1, m.shape[1])], minor=True)
        ax.set_yticks([y - 0.5 for y in range(1, m.shape[0])], minor=True)
        ax.grid(which="minor", color="0.6", lw=0.5)
        ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
        ax.set_title(name, fontsize=9)
    things = ", ".join(f"{c} = {CLASSES[c]}" for c in THINGS if c in shown)
    handles = [Patch(facecolor=[v / 255 for v in CLASS_COLOURS[c]], edgecolor="0.4", label=f"{c} = {CLASSES[c]}")
               for c in STUFF if c in shown]
    handles += [Patch(facecolor="black", edgecolor="0.4", label="v = void (unlabelled)"),
                Patch(facecolor=[v / 255 for v in instance_colour(0)], edgecolor="0.4",
                      label="a thing: a colour per true object (not per\nclass), shared by the prediction matching it"),
                Patch(facecolor=[v / 255 for v in UNMATCHED_COLOUR], edgecolor="0.4",
                      label="a predicted thing matching\nno true object")]
    rows = (len(handles) + 2) // 3
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.07), ncol=3, fontsize=8, frameon=False)
    fig.text(0.5, 0.015, f"a thing's class is the digit in its cells: {things}", ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.08 * rows + 0.08, 1, 1))
    return fig
