"""Figures of lesson 04 (U-Net and DeepLab): skips, dilated taps, gridding, ASPP, output strides, training curves
against time, losses."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.patches import Circle, Rectangle
from matplotlib.ticker import MaxNLocator

from ..data.classes import MODEL_SERIES, model_colour, model_style
from ..metrics.semantic import coarse_oracle, confusion_matrix, mean_iou
from .axes import axes_or_figure
from .scenes import class_patches, colour_semantic

TAP_COLOUR = "0.25"  # kernel taps: dark grey (no class, instance or error colour)
SHADES = ("0.1", "0.4", "0.65", "0.85", "0.55")  # one grey per series (losses, rates): colours stay classes'
HATCHES = ("", "//", "..", "xx", "\\\\")


def show_skip_shapes(fcn_shapes: list[tuple[str, tuple]], unet_shapes: list[tuple[str, tuple]]):
    """FCN-8s's skip (add class scores) beside U-Net's (concatenate features), with the real tensor shapes.

    Args:
        fcn_shapes: [(label, shape), ...] three entries: coarse scores, skip scores, result.
        unet_shapes: the same for U-Net: upsampled features, encoder features, concatenation.

    Returns:
        the matplotlib figure.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
    most = max(s[1] for _, s in [*fcn_shapes, *unet_shapes])  # one scale for both panels
    for ax, shapes, op, title in ((axes[0], fcn_shapes, "+", "FCN-8s: skip by addition"),
                                  (axes[1], unet_shapes, "cat", "U-Net: skip by concatenation")):
        for i, (label, shape) in enumerate(shapes):
            ch = shape[1]
            height = 2.0 * ch / most  # box height in proportion to the channels, the same scale in both panels
            x = i * 2.2
            ax.add_patch(Rectangle((x, 1 - height / 2), 1.4, height, facecolor="0.85", edgecolor="0.2"))
            ax.text(x + 0.7, 1, f"{ch} ch\n{shape[2]}x{shape[3]}", ha="center", va="center", fontsize=9)
            ax.text(x + 0.7, -0.25, label.replace(" ", "\n", 1), ha="center", va="top", fontsize=8)
            if i < len(shapes) - 1:
                ax.text(x + 1.8, 1, op if i == 0 else "=", ha="center", va="center", fontsize=9 if len(op) > 1 else 12)
        ax.set_xlim(-0.3, 6.6)
        ax.set_ylim(-0.9, 2.3)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.text(0.5, 0.01, "box height: number of channels (one scale for both); the size under it is the spatial size",
             ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def show_dilated_taps(rates: tuple[int, ...] = (1, 2, 4), kernel: int = 3, size: int = 11):
    """Where a 3x3 kernel samples its input at each dilation rate (taps filled, the rest empty).

    Args:
        rates: dilation rates to draw.
        kernel: kernel side.
        size: side of the drawn input grid.

    Returns:
        the matplotlib figure.
    """
    fig, axes = plt.subplots(1, len(rates), figsize=(3.2 * len(rates), 3.4))
    c = size // 2
    for ax, r in zip(np.atleast_1d(axes), rates):
        offsets = [(k - kernel // 2) * r for k in range(kernel)]
        for y in range(size):
            for x in range(size):
                tap = (y - c) in offsets and (x - c) in offsets
                ax.add_patch(Rectangle((x, y), 1, 1, facecolor=TAP_COLOUR if tap else "white", edgecolor="0.7"))
        span = r * (kernel - 1) + 1
        ax.set_title(f"rate {r}: 9 weights,\n{span}x{span} window", fontsize=9)
        ax.set_xlim(0, size)
        ax.set_ylim(size, 0)
        ax.set_aspect("equal")
        ax.axis("off")
    fig.tight_layout()
    return fig


def tap_coverage(rates: tuple[int, ...], size: int = 33) -> torch.Tensor:
    """How many paths lead from each input pixel to the centre output of a stack of dilated 3x3 convolutions.

    Args:
        rates: the dilation of each layer, first layer first.
        size: side of the input window (odd).

    Returns:
        float (size, size): 0 where the input pixel never reaches the centre output (gridding holes).
    """
    x = torch.zeros(1, 1, size, size)
    x[..., size // 2, size // 2] = 1.0  # walk backwards from the centre output: a convolution with all-ones taps
    ones = torch.ones(1, 1, 3, 3)
    for r in reversed(rates):
        x = F.conv2d(x, ones, padding=r, dilation=r)
    return x[0, 0]


def show_gridding(stacks: dict[str, tuple[int, ...]], size: int = 33):
    """Input pixels that reach one output through stacks of dilated convolutions (white = never: gridding).

    Args:
        stacks: label -> dilation rates of the stacked 3x3 convolutions.
        size: side of the drawn input window.

    Returns:
        the matplotlib figure.
    """
    fig, axes = plt.subplots(1, len(stacks), figsize=(3.3 * len(stacks), 3.6))
    for ax, (label, rates) in zip(np.atleast_1d(axes), stacks.items()):
        cov = tap_coverage(rates, size)
        holes = int(((cov == 0)[_support(cov)]).sum())
        ax.imshow((cov > 0).float().numpy(), cmap="Greys", vmin=0, vmax=1.3, interpolation="nearest")
        ax.set_title(f"{label}\nrates {rates}: {holes} holes", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def _support(cov: torch.Tensor) -> tuple[slice, slice]:
    """The bounding box of the reached pixels (where holes are counted)."""
    ys, xs = torch.nonzero(cov > 0, as_tuple=True)
    return slice(int(ys.min()), int(ys.max()) + 1), slice(int(xs.min()), int(xs.max()) + 1)


def show_aspp_rates(feature_size: int, rates: tuple[int, ...], centre: tuple[int, int] | None = None):
    """ASPP's 3x3 branches on one feature map: each branch's taps around one cell; taps off the map read padding.

    Args:
        feature_size: side of the feature map ASPP sees (e.g. 8 for 128-px images at output stride 16).
        rates: the 3x3 branches' rates.
        centre: the output cell (default: near a corner, where large rates leave the map).

    Returns:
        the matplotlib figure (the image-pooling branch sees every cell: the whole map is its window).
    """
    cy, cx = centre or (1, feature_size - 3)
    markers = ["o", "s", "^", "D", "v"]
    colours = ["0.0", "0.35", "0.6", "0.2", "0.5"]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    pad = max(rates) + 0.5
    ax.add_patch(Rectangle((0, 0), feature_size, feature_size, facecolor="0.92", edgecolor="0.2"))
    for i in range(feature_size + 1):
        ax.plot([i, i], [0, feature_size], color="0.8", lw=0.5)
        ax.plot([0, feature_size], [i, i], color="0.8", lw=0.5)
    for k, r in enumerate(rates):
        for dy in (-r, 0, r):
            for dx in (-r, 0, r):
                y, x = cy + dy, cx + dx
                on_map = 0 <= y < feature_size and 0 <= x < feature_size
                ax.scatter(x + 0.5 + 0.12 * (k - 1), y + 0.5, marker=markers[k % 5], s=45,
                           facecolors=colours[k % 5] if on_map else "none", edgecolors=colours[k % 5])
        ax.scatter([], [], marker=markers[k % 5], color=colours[k % 5], label=f"rate {r} taps")
    ax.add_patch(Circle((cx + 0.5, cy + 0.5), 0.45, fill=False, edgecolor="k", lw=1.5))
    ax.set_xlim(-pad, feature_size + pad)
    ax.set_ylim(feature_size + pad, -pad)
    ax.set_aspect("equal")
    ax.set_title(f"ASPP's 3x3 branches around one cell of a {feature_size}x{feature_size} feature map\n"
                 f"(hollow: tap outside the map, reads padding; image pooling: all {feature_size ** 2} cells)",
                 fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig


def show_output_strides(target: torch.Tensor, strides: tuple[int, ...] = (8, 16, 32), num_classes: int = 7):
    """The label map that perfect class fractions at each output stride give once upsampled bilinearly.

    Each cell of the coarse grid gets the true fraction of every class in it (an oracle's scores); upsampled
    bilinearly and arg-maxed, that shows what a coarse grid loses even when each cell is right. It is no
    upper bound for the stride: a learned decoder or sharper scores than averages can do better.

    Args:
        target: int (H, W) one scene's semantic map (H, W multiples of every stride).
        strides: output strides to compare.
        num_classes: C.

    Returns:
        the matplotlib figure; each panel's title gives that scene's mIoU at that stride, and a legend the
        class colours.
    """
    fig, axes = plt.subplots(1, len(strides) + 1, figsize=(3.0 * (len(strides) + 1) + 1.4, 3.7))
    axes[0].imshow(colour_semantic(target).numpy(), interpolation="nearest")
    axes[0].set_title("truth", fontsize=9)
    for ax, s in zip(axes[1:], strides):
        pred = coarse_oracle(target[None], s, num_classes)[0]  # (H, W)
        miou = mean_iou(confusion_matrix(pred, target, num_classes))
        ax.imshow(colour_semantic(pred).numpy(), interpolation="nearest")
        ax.set_title(f"stride {s}: perfect fractions,\nbilinear upsampling: mIoU {miou:.2f}", fontsize=9)
    for ax in axes:
        ax.axis("off")
    present = sorted(int(c) for c in torch.unique(target) if int(c) > 0)
    axes[-1].legend(handles=class_patches(present), fontsize=9, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                    frameon=False, title="class colours", title_fontsize=9)
    fig.tight_layout()
    return fig


def _series_name(name: str) -> str | None:
    """The course model a label names ("FCN-8s encoder" -> "FCN-8s"), so it keeps that model's colour and style."""
    return next((m for m in sorted(MODEL_SERIES, key=len, reverse=True) if name.startswith(m)), None)


def plot_receptive_fields(tables: dict[str, list[dict]], ax=None):
    """Receptive field and stride of each model's layers (log scale), one line per model.

    Each model keeps its colour and line style of every chart (``data.classes.MODEL_SERIES``). Where the
    models share layers (the same encoder) their lines coincide, so each later line is drawn thinner, on top
    of the ones before: all stay visible.

    Args:
        tables: model name (starting with a course model's name: "FCN-8s encoder") ->
            ``models.receptive.receptive_field_rows(...)``.
        ax: axes to draw in.

    Returns:
        the matplotlib figure.
    """
    fig, axes = axes_or_figure(ax, figsize=(11, 3.6), ncols=2)
    n = len(tables)
    for i, (name, rows) in enumerate(tables.items()):
        steps = range(1, len(rows) + 1)
        series = _series_name(name)
        marker, ls = model_style(i, series)[0], model_style(i, series)[1:]
        style = dict(marker=marker, ms=4 + 3 * (n - 1 - i), lw=1.2 + 1.6 * (n - 1 - i), ls=ls,
                     color=model_colour(i, series), label=name, zorder=2 + i)
        axes[0].plot(steps, [r["receptive_field"] for r in rows], **style)
        axes[1].plot(steps, [r["stride"] for r in rows], **style)
    axes[0].set_ylabel("receptive field (px)")
    axes[1].set_ylabel("stride of the features (px)")
    for a in axes:
        a.set_xlabel("layer number along the model's deepest path")
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
        a.set_yscale("log", base=2)
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_miou_over_time(histories: dict, ax=None):
    """Validation mIoU against seconds of training (not epochs), one line per model, in the models' colours.

    An epoch costs models different times (and, with different batch sizes, different numbers of steps), so
    curves compared per epoch favour the slower model; against seconds they compare like for like on one
    machine.

    Args:
        histories: model name -> ``History`` whose epochs hold ``miou`` and ``elapsed_s`` (training seconds so
            far, validations left out).
        ax: axes to draw in.

    Returns:
        the matplotlib figure.
    """
    fig, ax = axes_or_figure(ax, figsize=(6, 3.4))
    for k, (name, hist) in enumerate(histories.items()):
        points = [(e["elapsed_s"], e["miou"]) for e in hist.epochs if "miou" in e and "elapsed_s" in e]
        ax.plot(*zip(*points), model_style(k, name), color=model_colour(k, name), label=name)
    ax.set_xlim(left=0)
    ax.set_xlabel("seconds of training (on this machine; one marker per epoch)")
    ax.set_ylabel("validation mIoU")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_loss_comparison(results: dict[str, dict], keys: tuple[str, ...] = ("iou_circle", "iou_square", "iou_triangle"),
                         ax=None):
    """Thing-class IoU after a short run with each loss (grouped bars).

    Args:
        results: loss name -> validation scores (``evaluate_semantic``).
        keys: the score keys to draw.
        ax: axes to draw in.

    Returns:
        the matplotlib figure.
    """
    fig, ax = axes_or_figure(ax, figsize=(8, 3.2))
    width = 0.8 / len(results)
    for i, (name, scores) in enumerate(results.items()):
        ax.bar(np.arange(len(keys)) + i * width, [scores[k] for k in keys], width, label=name, color=SHADES[i % 5],
               edgecolor="k", hatch=HATCHES[i % 5])
    ax.set_xticks(np.arange(len(keys)) + 0.4 - width / 2, [k.replace("iou_", "") for k in keys])
    ax.set_ylabel("validation IoU")
    ax.set_ylim(0, 1.0)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig
