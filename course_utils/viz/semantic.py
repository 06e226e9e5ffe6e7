"""Semantic segmentation figures: label maps, predictions with error maps, confusion matrices, score tables.

Receptive-field and upsampling figures (lesson 02) are in ``viz/fcn.py``.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Patch

from ..data.classes import CLASS_COLOURS, CLASSES, STUFF, THINGS, model_colour, model_style
from ..train.curves import plain_log_axis
from .axes import axes_or_figure
from .colours import BOUNDARY_COLOUR, ERROR_COLOUR, text_colour
from .scenes import class_legend, class_patches, colour_semantic, hwc


def _np(x):
    """A tensor as a NumPy array for matplotlib (other values unchanged)."""
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x


def _off(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def show_label_map(semantic: torch.Tensor, ax=None, title: str | None = None, legend: bool = True):
    """A class-id map in the course's class colours, with a legend of the classes.

    Args:
        semantic: int (H, W) class ids.
        ax: axes to draw in (default: a new figure).
        title: axes title.
        legend: add the class legend to the right.

    Returns:
        the matplotlib figure.
    """
    fig, ax = axes_or_figure(ax, figsize=(4.5, 3.2))
    ax.imshow(_np(colour_semantic(semantic)), interpolation="nearest")
    _off(ax)
    if title:
        ax.set_title(title, fontsize=9)
    if legend:
        class_legend(ax)
    return fig


def show_pixels(image: torch.Tensor, semantic: torch.Tensor, top: int, left: int, size: int = 6):
    """An image is an array: a small window of pixels with their RGB values and class ids written in.

    Args:
        image: float (3, H, W) in [0, 1].
        semantic: int (H, W).
        top, left: corner of the window.
        size: window side in pixels.

    Returns:
        the figure: the image with the window outlined | RGB values | class ids.
    """
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    axes[0].imshow(_np(hwc(image)))
    for edge, lw in (("black", 3.5), ("white", 1.5)):  # a white frame with a black halo: no colour that means something
        axes[0].add_patch(plt.Rectangle((left - 0.5, top - 0.5), size, size, fill=False, ec=edge, lw=lw))
    axes[0].set_title("image (3, H, W) float in [0, 1]", fontsize=9)
    win = image[:, top:top + size, left:left + size]  # (3, s, s)
    lab = semantic[top:top + size, left:left + size]  # (s, s)
    axes[1].imshow(_np(hwc(win)), interpolation="nearest")
    axes[2].imshow(_np(colour_semantic(lab)), interpolation="nearest")
    for y in range(win.shape[1]):
        for x in range(win.shape[2]):
            r, g, b = (win[:, y, x] * 255).round().int().tolist()
            axes[1].text(x, y, f"{r}\n{g}\n{b}", ha="center", va="center", fontsize=8,
                         color=[v / 255 for v in text_colour((r, g, b))])  # readable on the pixel's own colour
            on = text_colour(CLASS_COLOURS[int(lab[y, x])])  # black or white, readable on the class colour
            axes[2].text(x, y, f"{int(lab[y, x])}\n{CLASSES[int(lab[y, x])]}", ha="center", va="center", fontsize=8,
                         color=[v / 255 for v in on])
    axes[1].set_title("the window's R, G, B values (x 255)", fontsize=9)
    axes[2].set_title("the label map: one class id per pixel", fontsize=9)
    for ax in axes:
        _off(ax)
    fig.tight_layout()
    return fig


def error_map(pred: torch.Tensor, target: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
    """RGB picture of where a prediction is wrong: wrong pixels blue, right ones a pale grey copy of the image.

    The blue is ``viz.colours.ERROR_COLOUR``, a colour no class, instance, overlay or object paint uses.

    Args:
        pred: int (H, W).
        target: int (H, W).
        image: optional float (3, H, W) shown in pale grey under the errors.

    Returns:
        float (H, W, 3) in [0, 1].
    """
    wrong = (pred.cpu() != target.cpu())  # (H, W)
    if image is not None:  # grey, so that no colour of the image can pass for an error
        base = (0.5 + 0.4 * hwc(image).float().mean(-1, keepdim=True)).expand(*wrong.shape, 3)
    else:
        base = torch.full((*wrong.shape, 3), 0.85)
    out = base.clone()
    out[wrong] = torch.tensor([c / 255 for c in ERROR_COLOUR])
    return out


def show_predictions(images: torch.Tensor, targets: torch.Tensor, preds: dict[str, torch.Tensor],
                     errors: bool = True, max_rows: int = 3):
    """Image | truth | each model's prediction (and its error map) for a few scenes, each with its pixel accuracy.

    Args:
        images: float (B, 3, H, W).
        targets: int (B, H, W).
        preds: model name -> int (B, H, W) predictions.
        errors: add an error-map column after every prediction (wrong pixels in blue).
        max_rows: scenes to show.

    Returns:
        the matplotlib figure.
    """
    rows = min(max_rows, len(images))
    cols = 2 + len(preds) * (2 if errors else 1)
    height = max(2.2 * rows, 3.0 if errors else 2.2)  # room for the legend beside a single row
    fig, axes = plt.subplots(rows, cols, figsize=(2.1 * cols + 1.2, height), squeeze=False)
    for r in range(rows):
        panels = [("image", hwc(images[r])), ("truth", colour_semantic(targets[r]))]
        for name, p in preds.items():
            acc = float((p[r].cpu() == targets[r].cpu()).float().mean())  # this scene's, written on its own panel
            panels.append((f"{name}\npixel acc {acc:.2f}" if r == 0 else f"pixel acc {acc:.2f}", colour_semantic(p[r])))
            if errors:
                panels.append((f"{name}: errors" if r == 0 else "", error_map(p[r], targets[r], images[r])))
        for c, (title, pic) in enumerate(panels):
            axes[r, c].imshow(_np(pic), interpolation="nearest")
            _off(axes[r, c])
            if r == 0 or title not in ("image", "truth"):
                axes[r, c].set_title(title, fontsize=10)
    handles = class_patches()
    if errors:  # set apart under a heading of its own: the error blue is no class colour (not water's darker blue)
        handles += [Patch(visible=False, label=" "), Patch(visible=False, label="error maps:"),
                    Patch(color=[c / 255 for c in ERROR_COLOUR], label="wrong pixel")]
    axes[0, -1].legend(handles=handles, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9,
                       title="class colours:", title_fontsize=9, alignment="left")
    fig.tight_layout()
    return fig


def plot_confusion_matrix(cm: torch.Tensor, class_names: list[str] | None = None, normalize: bool = True,
                          drop_absent: bool = True, ax=None, title: str | None = None):
    """Heatmap of a confusion matrix (rows = true class, columns = predicted class) with class names.

    Args:
        cm: (C, C) counts.
        class_names: names of the C classes (default ``data.CLASSES`` when C matches).
        normalize: show each row as fractions of that true class (rows sum to 1).
        drop_absent: hide classes that occur neither in truth nor in predictions (e.g. void).
        ax: axes to draw in (default: a new figure).
        title: axes title.

    Returns:
        the matplotlib figure.
    """
    cm = cm.detach().cpu().double()
    c = cm.shape[0]
    names = class_names or (CLASSES if c == len(CLASSES) else [str(i) for i in range(c)])
    keep = [i for i in range(c) if not drop_absent or cm[i].sum() + cm[:, i].sum() > 0]
    sub = cm[keep][:, keep]
    shown = sub / sub.sum(1, keepdim=True).clamp(min=1) if normalize else sub
    fig, ax = axes_or_figure(ax, figsize=(1.0 + 0.75 * len(keep), 0.8 + 0.7 * len(keep)))
    ax.imshow(shown.numpy(), cmap="Blues", vmin=0, vmax=1 if normalize else None)
    for i in range(len(keep)):
        for j in range(len(keep)):
            v = float(shown[i, j])
            text = f"{v:.2f}" if normalize else f"{int(v)}"
            ax.text(j, i, text, ha="center", va="center", fontsize=9 if normalize else 8,
                    color="white" if v > (0.5 if normalize else float(shown.max()) / 2) else "black")
    labels = [names[i] for i in keep]
    ax.set_xticks(range(len(keep)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(keep)), labels, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_per_class_iou(scores: dict[str, dict], classes: list[int] | None = None, ax=None):
    """Grouped bars of per-class IoU for several models (keys ``iou_<class>`` of ``evaluate_semantic``).

    Args:
        scores: model name -> scores dict.
        classes: class ids to show (default: stuff then things).
        ax: axes to draw in.

    Returns:
        the matplotlib figure.
    """
    classes = classes or [*STUFF, *THINGS]
    fig, ax = axes_or_figure(ax, figsize=(7, 3))
    width = 0.8 / max(len(scores), 1)
    for k, (name, s) in enumerate(scores.items()):
        vals = [s.get(f"iou_{CLASSES[c]}", math.nan) for c in classes]
        ax.bar(np.arange(len(classes)) + (k - (len(scores) - 1) / 2) * width, vals, width, label=name,
               color=model_colour(k, name))
    ax.set_xticks(range(len(classes)), [CLASSES[c] for c in classes])
    ax.axvline(len([c for c in classes if c in STUFF]) - 0.5, color="grey", lw=0.8, ls="--")
    ax.set_ylabel("IoU")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # beside the bars, not on them
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def scores_table(scores: dict[str, dict], keys: list[str] | None = None, digits: int = 3) -> str:
    """A Markdown table, one row per model: pixel accuracy, mIoU and per-class IoU (or ``keys``).

    Args:
        scores: model name -> scores dict (``evaluate_semantic``'s keys).
        keys: columns to show (default pixel_acc, miou, then iou of each stuff and thing class).
        digits: decimals.

    Returns:
        Markdown text (show it with ``IPython.display.Markdown``).
    """
    keys = keys or ["pixel_acc", "miou"] + [f"iou_{CLASSES[c]}" for c in (*STUFF, *THINGS)]
    head = "| model | " + " | ".join(k.replace("miou", "mIoU").replace("iou_", "IoU ").replace("_", " ") for k in keys)
    head += " |"
    lines = [head, "|---" * (len(keys) + 1) + "|"]
    for name, s in scores.items():
        vals = [s.get(k, math.nan) for k in keys]
        lines.append(f"| {name} | " + " | ".join("n/a" if math.isnan(v) else f"{v:.{digits}f}" for v in vals) + " |")
    return "\n".join(lines)


def plot_pixel_colours(images: torch.Tensor, targets: torch.Tensor, n: int = 4000, seed: int = 0):
    """Where each class lives in colour space: pixels plotted by (red, green) and by (blue, brightness).

    Stuff classes form their own clouds; the three thing classes lie on top of each other,
    because every thing colour is used by every shape. That is why a per-pixel classifier fails.

    Args:
        images: float (B, 3, H, W).
        targets: int (B, H, W).
        n: pixels drawn at random.
        seed: which pixels.

    Returns:
        the matplotlib figure.
    """
    rgb = images.permute(0, 2, 3, 1).reshape(-1, 3)  # (P, 3)
    lab = targets.reshape(-1)  # (P,)
    pick = torch.randperm(len(lab), generator=torch.Generator().manual_seed(seed))[:n]
    rgb, lab = rgb[pick], lab[pick]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for c in (*STUFF, *THINGS):
        sel = lab == c
        colour = [v / 255 for v in CLASS_COLOURS[c]]
        axes[0].scatter(_np(rgb[sel, 0]), _np(rgb[sel, 1]), s=3, color=colour, label=CLASSES[c], alpha=0.6)
        axes[1].scatter(_np(rgb[sel, 2]), _np(rgb[sel].mean(1)), s=3, color=colour, label=CLASSES[c], alpha=0.6)
    axes[0].set_xlabel("red")
    axes[0].set_ylabel("green")
    axes[1].set_xlabel("blue")
    axes[1].set_ylabel("brightness (mean of R, G, B)")
    axes[1].legend(markerscale=4, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.suptitle("each dot is a pixel, coloured by its TRUE class", fontsize=10)
    fig.tight_layout()
    return fig


def show_boundary_band(image: torch.Tensor, target: torch.Tensor, width: int = 3, ax=None):
    """The pixels within ``width`` px of a class boundary (where boundary metrics look), over the image.

    Args:
        image: float (3, H, W).
        target: int (H, W).
        width: band half-width.
        ax: axes to draw in.

    Returns:
        the matplotlib figure.
    """
    from ..metrics.semantic import class_boundaries

    band = class_boundaries(target, width)
    fig, ax = axes_or_figure(ax, figsize=(3.5, 3.5))
    pic = hwc(image).float() * 0.5
    pic[band] = torch.tensor([c / 255 for c in BOUNDARY_COLOUR])
    ax.imshow(_np(pic), interpolation="nearest")
    ax.set_title(f"boundary band: {int(band.sum())} px ({100 * float(band.float().mean()):.0f}%)", fontsize=9)
    ax.legend(handles=[Patch(color=[c / 255 for c in BOUNDARY_COLOUR], label=f"within {width} px of a class boundary")],
              loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize=7, frameon=False)
    _off(ax)
    return fig


def plot_object_accuracy(results: dict[str, tuple[torch.Tensor, torch.Tensor]], bins: int = 6, ax=None):
    """Mean fraction of each object's pixels labelled with its class, by object size, for several models.

    Args:
        results: model name -> (areas (N,), accuracies (N,)) over many objects (``metrics.semantic.object_accuracy``).
        bins: number of size bins (quantiles of the areas, so each bin holds as many objects).
        ax: axes to draw in.

    Returns:
        the matplotlib figure.
    """
    fig, ax = axes_or_figure(ax, figsize=(6, 3.2))
    areas = next(iter(results.values()))[0].double()
    edges = torch.quantile(areas, torch.linspace(0, 1, bins + 1, dtype=torch.float64))
    centres = []
    for i in range(bins):
        sel = (areas >= edges[i]) & (areas <= edges[i + 1])
        centres.append(float(areas[sel].median()))
    for k, (name, (a, acc)) in enumerate(results.items()):
        a = a.double()
        means = [float(acc[(a >= edges[i]) & (a <= edges[i + 1])].mean()) for i in range(bins)]
        ax.plot(centres, means, model_style(k, name), color=model_colour(k, name), label=name)
    plain_log_axis(ax, "x")
    ax.set_xlabel("object size (visible pixels, median of each bin)")
    ax.set_ylabel("fraction of the object's pixels\ngiven its class")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
