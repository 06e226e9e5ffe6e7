"""Static figures of the promptable segmenter: its loss terms, clicks and masks on a few scenes, the IoU
distribution, worst cases.

``show_prompt_examples`` is also the viewer's stand-in wherever widgets cannot run (an exported page,
a headless run): the same clicks a person would make first, and the masks they get. Every figure with
masks draws the returned mask in ``PROMPT_COLOUR`` (green), the true segment's edge in ``BOUNDARY_COLOUR``
(cyan) and the clicks as a white plus ("this") or a black minus ("not this"), and its title says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.lines import Line2D

from ..metrics.prompting import click_scene, segment_masks
from ..models.promptable import PADDING, POSITIVE, PromptableSegmenter
from ..train.curves import plain_log_axis
from .prompting import draw_clicks, overlay_mask
from .scenes import hwc

_ONE, _TWO = "0.6", "0.0"  # grey bars and a black outline: one click and two clicks (no class or instance colour)
_CLICKS_KEY = "white plus: a positive click, black minus: a negative click"
_LOSS_PANELS = (("mask BCE", ("bce_click1", "bce_click2")), ("mask 1 - Dice", ("dice_click1", "dice_click2")),
                ("semantic head (weighted cross-entropy)", ("semantic",)), ("total (weighted sum)", ("loss",)))
"""The promptable model's loss terms, one panel each: a mask term after the first click beside the same term after
the corrective click."""


def plot_prompt_losses(history, smooth: int = 5) -> plt.Figure:
    """The promptable segmenter's training loss, one panel per term, the first click's term beside the second's.

    Solid lines are a term after the first click, dashed lines the same term after the corrective click; thin
    lines are the logged values, thick ones their moving average (once ``2 * smooth`` rows are logged). A key
    under the panels says so.

    Args:
        history: the ``History`` of ``train_promptable`` (rows with ``bce_click1``, ``bce_click2``, ...).
        smooth: moving-average window, in logged rows.

    Returns:
        the figure.
    """
    rows = history.steps
    if not rows:
        raise ValueError("the history has no logged steps")
    steps = np.array([r["step"] for r in rows])
    averaged = smooth > 1 and len(rows) >= 2 * smooth  # a run cut very short logs too few rows for an average
    raw = {"lw": 0.7, "alpha": 0.35} if averaged else {"lw": 1.4, "alpha": 1.0}
    panels = [(title, [k for k in keys if k in rows[0]]) for title, keys in _LOSS_PANELS]
    panels = [(title, keys) for title, keys in panels if keys]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.1 * len(panels), 3.0), squeeze=False)
    for ax, (title, keys) in zip(axes[0], panels):
        for key in keys:
            style = "--" if key.endswith("click2") else "-"
            vals = np.array([r.get(key, np.nan) for r in rows], dtype=float)
            ax.plot(steps, vals, style, color="tab:blue", **raw)
            if averaged:
                ax.plot(steps[smooth - 1:], np.convolve(vals, np.ones(smooth) / smooth, mode="valid"), style, lw=1.8,
                        color="tab:blue")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        plain_log_axis(ax)
        ax.grid(alpha=0.3, which="both")
        ax.tick_params(which="both", labelsize=7)
    axes[0, 0].set_ylabel("training loss (log scale)", fontsize=8)
    key = [Line2D([], [], ls="-", color="tab:blue", lw=1.8, label="solid: after the first click"),
           Line2D([], [], ls="--", color="tab:blue", lw=1.8, label="dashed: after the corrective (second) click"),
           Line2D([], [], color="tab:blue", lw=0.7, alpha=0.35, label="thin: logged values"),
           Line2D([], [], color="tab:blue", lw=1.8, label=f"thick: moving average of {smooth} logged values")]
    key = key if averaged else key[:2]
    fig.legend(handles=key, loc="lower center", ncol=len(key), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.35 / fig.get_figheight(), 1, 1))
    return fig


def show_prompt_examples(model: PromptableSegmenter, scenes: Sequence[dict], max_segments: int = 4,
                         device: torch.device | str | None = None) -> plt.Figure:
    """One click per segment on a few scenes, and the mask each click returns (things first, then stuff).

    Args:
        model: a trained ``PromptableSegmenter``.
        scenes: the scenes, one row each.
        max_segments: segments shown per scene (columns after the image).
        device: where the model runs (default: its device).

    Returns:
        the figure: per row the scene, then each segment's mask (green) with the true segment's edge (cyan),
        its click and its IoU.
    """
    if len(scenes) == 0:
        raise ValueError("show_prompt_examples needs at least one scene")
    fig, axes = plt.subplots(len(scenes), max_segments + 1, figsize=(2.1 * (max_segments + 1), 2.25 * len(scenes)),
                             squeeze=False)
    for row_axes, scene in zip(axes, scenes):
        rows = sorted(click_scene(model, scene, device), key=lambda r: not r["isthing"])[:max_segments]
        truths, infos = segment_masks(scene)
        ids = [i["id"] for i in infos]
        image = hwc(scene["image"])
        row_axes[0].imshow(image)
        row_axes[0].set_title(f"scene {scene.get('index', '')}", fontsize=8)
        for ax, r in zip(row_axes[1:], rows):
            ax.imshow(overlay_mask(image, r["mask1"], truths[ids.index(r["id"])]))
            draw_clicks(ax, [(*r["click1"], POSITIVE)], size=7)
            ax.set_title(f"{r['name']}: IoU {r['iou1']:.2f}", fontsize=8)
        for ax in row_axes:
            ax.axis("off")
    fig.suptitle("One click (white plus) per segment, the mask it returns (green) and the true segment's edge (cyan)",
                 fontsize=10)
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
    fig.suptitle(f"Where one click did worst (green: the mask; cyan: the true segment's edge;\n{_CLICKS_KEY})",
                 fontsize=10)
    fig.tight_layout()
    return fig
