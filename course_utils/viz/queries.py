"""Figures of the mask-classification half of lesson 10: the matching of one scene, what each query predicts,
and the three outputs (semantic, instances, panoptic) of one model.

The functions take what ``MaskFormer.inspect(image)`` returns (``rec``) or the model's eval-mode outputs.
Class colours are the legend's; instances and panoptic things get the instance palette (``viz.colours``).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.patches import Patch

from ..data.classes import CLASSES, STUFF, THINGS
from ..metrics.prompting import farthest_point
from .colours import UNMATCHED_COLOUR, instance_colours
from .instances import matched_numbers, matched_segment_ids
from .scenes import class_patches, colour_panoptic, colour_semantic, draw_instances, hwc, scene_thing_ids

__all__ = ["LOSS_NAMES", "show_matching", "show_queries", "show_three_outputs"]

LOSS_NAMES: dict[str, str] = {
    "loss_class": "class of every query (CE, 'no object' for the unmatched)",
    "loss_mask": "mask of matched queries: BCE",
    "loss_dice": "mask of matched queries: 1 - Dice",
    "loss_class_true": "class read over the true masks (training only)",
}
"""Readable names of the mask classifier's loss terms, for ``viz.detection.plot_loss_terms(..., names=...)``."""

_LABEL_MARGIN = 12
"""Pixels of white margin round the image of ``show_three_outputs``' instances panel, room for the labels of
objects at the image's border."""


def _class_name(index: int) -> str:
    return CLASSES[index] if 0 <= index < len(CLASSES) else "no object"


def show_matching(scene: dict, cost: torch.Tensor, queries: torch.Tensor, segments: torch.Tensor) -> plt.Figure:
    """The matching cost of one scene (queries x segments) with the Hungarian assignment ringed, and the segments.

    Args:
        scene: the scene dict (``image``, ``panoptic``, ``segments``).
        cost: (Q, T) matching cost, columns in the order of ``scene["segments"]``.
        queries, segments: the matched pairs (T,) each.

    Returns:
        the figure.
    """
    q, t = cost.shape
    fig, (ax_cost, ax_seg) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1.3, 1]})
    # cap the colours: the stuff rows reach costs several times the things', which would flatten the thing rows
    # (twice the smallest per-segment median: the best-described segment's typical query stays mid-scale)
    vmax = max(2 * float(cost.float().median(0).values.min()), 1.0) if cost.numel() else 1.0
    im = ax_cost.imshow(cost.T.numpy(), cmap="viridis", aspect="auto", vmax=vmax)
    ax_cost.scatter(queries.numpy(), segments.numpy(), s=160, facecolors="none", edgecolors="white", linewidths=2,
                    label="the assignment (one query per segment)")
    names = [f"{j}: {CLASSES[s['category_id']]}" for j, s in enumerate(scene["segments"])]
    ax_cost.set_yticks(range(t), names, fontsize=8)
    ax_cost.set_xticks(range(q), [str(i) for i in range(q)], fontsize=7)
    ax_cost.set_xlabel("query")
    ax_cost.set_title("matching cost: -2 p(class) + 5 BCE + 5 (1 - Dice); low = good", fontsize=9)
    fig.colorbar(im, ax=ax_cost, fraction=0.04, extend="max", label="cost (brightest: this or more)")
    ax_cost.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=8, frameon=False)
    ids = torch.tensor([s["id"] for s in scene["segments"]])
    index_map = (scene["panoptic"][None] == ids[:, None, None]).float().argmax(0)  # (H, W) segment index
    ax_seg.imshow(colour_panoptic(scene["panoptic"], scene_thing_ids(scene)), interpolation="nearest")
    for j in range(t):
        mask = (index_map == j) & (scene["panoptic"] == ids[j])
        if bool(mask.any()):
            row, col = farthest_point(mask.numpy())  # the segment's most central pixel, never on a neighbour
            ax_seg.text(col, row, str(j), fontsize=9, ha="center", va="center", color="black",
                        bbox={"facecolor": "white", "alpha": 0.8, "pad": 1, "edgecolor": "none"})
    ax_seg.set_title("the scene's segments (the rows of the cost)", fontsize=9)
    ax_seg.axis("off")
    fig.tight_layout()
    return fig


def show_queries(rec: dict, columns: int = 8, layer: int = -1) -> plt.Figure:
    """Every query's mask after one decoder layer, titled with its most likely class and probability.

    Queries whose most likely answer is "no object" are drawn faded: they are the spare queries.

    Args:
        rec: ``MaskFormer.inspect(image)``.
        columns: queries per row.
        layer: which decoder layer (-1: the last, the model's answer).

    Returns:
        the figure.
    """
    probs, masks = rec["class_probs"][layer], rec["masks"][layer]  # (N, K + 1), (N, H, W)
    n = masks.shape[0]
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 2.15 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        best = int(probs[i].argmax())
        spare = best == probs.shape[1] - 1
        ax.imshow(masks[i].numpy(), cmap="gray", vmin=0, vmax=1, alpha=0.35 if spare else 1.0)
        ax.set_title(f"q{i}: {_class_name(best)} {float(probs[i, best]):.2f}", fontsize=7,
                     color="grey" if spare else "black")
    fig.suptitle("each query's mask (white = 1) and its most likely class; faded: 'no object'", fontsize=9)
    fig.tight_layout()
    return fig


def show_three_outputs(scenes: Sequence[dict], outputs: Sequence[dict], score_threshold: float = 0.5) -> plt.Figure:
    """One row per scene: image | semantic map | instances (score >= threshold) | panoptic map | ground truth.

    Args:
        scenes: ground-truth scene dicts; outputs: the model's eval-mode outputs for them, same order.
        score_threshold: detections drawn in the instances panel.

    Returns:
        the figure.
    """
    rows = len(scenes)
    # the instances panel is drawn larger and at a finer scale, so its labels crowd the objects less
    fig, axes = plt.subplots(rows, 5, figsize=(14, 3.6 * rows), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1, 1.45, 1, 1]})
    titles = ["image", "semantic (one model)", f"instances: score >= {score_threshold:g}",
              "panoptic (one model)", "ground truth"]
    pad = _LABEL_MARGIN
    for r, (scene, out) in enumerate(zip(scenes, outputs)):
        keep = out["scores"] >= score_threshold
        # a white margin round the instances panel's image: labels of objects at the border can sit in it
        framed = F.pad(scene["image"].float(), (pad, pad, pad, pad), value=1.0)
        masks = F.pad(out["masks"][keep, 0].float(), (pad, pad, pad, pad))
        panels = [hwc(scene["image"]), colour_semantic(out["semantic"]),
                  hwc(draw_instances(framed, masks, out["boxes"][keep] + pad,
                                     out["labels"][keep], out["scores"][keep], scale=5, width=2, font_size=30,
                                     colour_ids=matched_numbers(out["masks"][keep, 0] > 0.5, scene["masks"].bool(),
                                                                labels=out["labels"][keep], true_labels=scene["labels"],
                                                                scores=out["scores"][keep]))),
                  colour_panoptic(out["panoptic"], matched_segment_ids(out["panoptic"], scene["masks"],
                                                                       true_labels=scene["labels"])),
                  colour_panoptic(scene["panoptic"], scene_thing_ids(scene))]
        for c, (ax, img) in enumerate(zip(axes[r], panels)):
            ax.imshow(img, interpolation="nearest")
            ax.axis("off")
            ax.set_title(titles[c] if r == 0 else "", fontsize=9)
    handles = class_patches([*STUFF, *THINGS]) + [
        Patch(facecolor="black", label="void (no query claimed it)"),
        Patch(facecolor=[c / 255 for c in instance_colours(1)[0]], label="things in panoptic maps and\n"
              "instances: a colour per object"),
        Patch(facecolor=[c / 255 for c in UNMATCHED_COLOUR],
              label="predicted thing matching no\ntrue object of its class")]
    key_height = 0.55  # inches at the bottom for the key
    fig.tight_layout(rect=(0, key_height / fig.get_figheight(), 1, 1))
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncol=5, fontsize=8, frameon=False)
    return fig
