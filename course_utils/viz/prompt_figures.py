"""Static figures of the promptable segmenter: clicks and masks on a few scenes, the IoU distribution, worst cases.

``show_prompt_examples`` is also the viewer's stand-in wherever widgets cannot run (an exported page,
a headless run): the same clicks a person would make first, and the masks they get.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..metrics.prompting import click_scene, segment_masks
from ..models.promptable import PADDING, POSITIVE, PromptableSegmenter
from .prompting import draw_clicks, overlay_mask
from .scenes import hwc

_ONE, _TWO = "0.6", "0.0"  # grey bars and a black outline: one click and two clicks (no class or instance colour)


def show_prompt_examples(model: PromptableSegmenter, scenes: Sequence[dict], max_segments: int = 4,
                         device: torch.device | str | None = None) -> plt.Figure:
    """One click per segment on a few scenes, and the mask each click returns (things first, then stuff).

    Args:
        model: a trained ``PromptableSegmenter``.
        scenes: the scenes, one row each.
        max_segments: segments shown per scene (columns after the image).
        device: where the model runs (default: its device).

    Returns:
        the figure: per row the scene, then each segment's mask (green) with its click and its IoU.
    """
    if len(scenes) == 0:
        raise ValueError("show_prompt_examples needs at least one scene")
    fig, axes = plt.subplots(len(scenes), max_segments + 1, figsize=(2.1 * (max_segments + 1), 2.25 * len(scenes)),
                             squeeze=False)
    for row_axes, scene in zip(axes, scenes):
        rows = sorted(click_scene(model, scene, device), key=lambda r: not r["isthing"])[:max_segments]
        image = hwc(scene["image"])
        row_axes[0].imshow(image)
        row_axes[0].set_title(f"scene {scene.get('index', '')}", fontsize=8)
        for ax, r in zip(row_axes[1:], rows):
            ax.imshow(overlay_mask(image, r["mask1"]))
            draw_clicks(ax, [(*r["click1"], POSITIVE)], size=7)
            ax.set_title(f"{r['name']}: IoU {r['iou1']:.2f}", fontsize=8)
        for ax in row_axes:
            ax.axis("off")
    fig.suptitle("One click (white plus) per segment and the mask it returns (green)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_click_ious(result: dict, bins: int = 20) -> plt.Figure:
    """Histograms of the per-segment IoU after one and after two clicks, things and stuff side by side.

    Args:
        result: the output of ``metrics.prompting.evaluate_clicks``.
        bins: histogram bins over [0, 1].

    Returns:
        the figure (means in the legends).
    """
    rows = result["rows"]
    if not rows:
        raise ValueError("the result holds no segments")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=False)
    edges = np.linspace(0, 1, bins + 1)
    for ax, (title, keep) in zip(axes, (("things", True), ("stuff", False))):
        group = [r for r in rows if r["isthing"] == keep]
        for key, colour, label in (("iou1", _ONE, "one click"), ("iou2", _TWO, "two clicks")):
            vals = [r[key] for r in group]
            if vals:  # one click as bars, two clicks as an outline on top: both stay readable where they overlap
                ax.hist(vals, bins=edges, color=colour, histtype="bar" if key == "iou1" else "step",
                        linewidth=2, label=f"{label} (mean {np.mean(vals):.3f})")
        ax.set_title(f"{title}: {len(group)} segments", fontsize=10)
        ax.set_xlabel("mask IoU with the true segment")
        ax.set_ylabel("segments")
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def show_worst_clicks(result: dict, scenes: Sequence[dict], n: int = 5) -> plt.Figure:
    """The ``n`` segments where one click did worst: the first mask, the truth, and the mask after the second click.

    Args:
        result: ``evaluate_clicks(..., keep_masks=True)`` over ``scenes``.
        scenes: the scenes it was measured on.
        n: how many cases (rows).

    Returns:
        the figure; the true segment's outline is cyan, masks green, clicks white plus / black minus.
    """
    rows = result["rows"]
    if not rows or "mask1" not in rows[0]:
        raise ValueError("show_worst_clicks needs evaluate_clicks(..., keep_masks=True)")
    worst = sorted(rows, key=lambda r: r["iou1"])[:n]
    fig, axes = plt.subplots(len(worst), 3, figsize=(7.2, 2.35 * len(worst)), squeeze=False)
    for row_axes, r in zip(axes, worst):
        scene = scenes[r["scene"]]
        image = hwc(scene["image"])
        masks, infos = segment_masks(scene)
        truth = masks[[i["id"] for i in infos].index(r["id"])]
        second = [] if r["click2"] is None else [r["click2"]]
        panels = ((overlay_mask(image, r["mask1"], truth), [(*r["click1"], POSITIVE)],
                   f"one click: IoU {r['iou1']:.2f}"),
                  (overlay_mask(image, None, truth), [], f"truth (outline): {r['name']} (scene {r['scene']})"),
                  (overlay_mask(image, r["mask2"], truth), [(*r["click1"], POSITIVE), *second],
                   f"two clicks: IoU {r['iou2']:.2f}"))
        for ax, (img, clicks, title) in zip(row_axes, panels):
            ax.imshow(img)
            draw_clicks(ax, [c for c in clicks if int(c[2]) != PADDING], size=7)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    fig.suptitle("Where one click did worst (cyan: the true segment's edge)", fontsize=10)
    fig.tight_layout()
    return fig
