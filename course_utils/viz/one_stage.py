"""Figures of the one-stage lesson: the prototypes of a scene, how coefficients combine them, the crop.

Each function takes what ``Yolact.inspect(image)`` returns (``rec``) and the image, and returns a
matplotlib figure. Given the scene's true masks, a drawn detection takes the instance colour of the true
object it matches (``viz.colours``; matched among the detections drawn only, as in
``viz.detection.show_detections``), and one that matches none the dark grey ``UNMATCHED_COLOUR``; a key
in the figure says so. A coefficient's sign is drawn as fill (solid: added, hatched: subtracted), never as
a colour of its own, so grey keeps its one meaning.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Patch, Rectangle

from ..data.classes import CLASSES
from .colours import UNMATCHED_COLOUR, instance_colour
from .instances import matched_numbers

__all__ = ["LOSS_NAMES", "show_prototypes", "show_assembly", "show_two_families"]

LOSS_NAMES: dict[str, str] = {
    "loss_classifier": "objectness (focal) + class (CE)",
    "loss_box": "box: generalised IoU",
    "loss_centerness": "centre-ness: BCE",
    "loss_mask": "mask: per-pixel BCE in the box",
    "loss_semantic": "semantic map (training only)",
}
"""Readable names of the one-stage model's loss terms, for ``viz.detection.plot_loss_terms(..., names=...)``."""


def _rgb(i: int) -> tuple[float, float, float]:
    """Instance colour ``i`` (0-1 floats); -1 is the colour of a detection matching no true object."""
    return tuple(c / 255 for c in instance_colour(i))


def _numbers(det: dict, drawn: list[int], true_masks: torch.Tensor | None,
             true_labels: torch.Tensor | None = None) -> dict[int, int]:
    """The colour number of each drawn detection (index into ``det``): the true object it matches, else -1.

    Only the drawn detections take part in the one-to-one match (as in ``show_detections``, which matches
    the confident ones it draws), so a duplicate that is not drawn cannot take a drawn detection's object
    and leave it grey. With ``true_labels`` the match is COCO's (``matched_numbers``): a detection only
    matches an object of its own class, the surest first. Without ``true_masks``: numbered by rank.
    """
    if true_masks is None or not drawn:
        return {i: r for r, i in enumerate(drawn)}
    masks = det["masks"][drawn, 0] > 0.5
    if true_labels is None:
        numbers = matched_numbers(masks, true_masks.bool())
    else:
        numbers = matched_numbers(masks, true_masks.bool(), labels=det["labels"][drawn], true_labels=true_labels,
                                  scores=det["scores"][drawn])
    return dict(zip(drawn, numbers))


def _colour_key(fig: plt.Figure, matched: bool, what: str = "box") -> None:
    """A key under the figure: what a drawn detection's colour means."""
    if matched:
        handles = [Patch(facecolor="none", edgecolor="none",
                         label=f"{what} colour: the true object of its class the detection matches (mask IoU > 0.5)"),
                   Patch(facecolor=[c / 255 for c in UNMATCHED_COLOUR],
                         label="dark grey: it matches none (a duplicate, a false alarm or the wrong class)")]
    else:
        handles = [Patch(facecolor="none", edgecolor="none", label=f"{what} colour: the detection's rank")]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False,
               handlelength=1.2, bbox_to_anchor=(0.5, 0.0))


def _image(ax, image: torch.Tensor, title: str) -> None:
    ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy())
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def _box(ax, box: torch.Tensor, colour, lw: float = 1.5) -> None:
    x1, y1, x2, y2 = box.tolist()
    ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linewidth=lw))


def _name(label: int) -> str:
    return CLASSES[label] if 0 <= label < len(CLASSES) else str(label)


def show_prototypes(rec: dict, image: torch.Tensor, columns: int = 8) -> plt.Figure:
    """The scene and its k prototype masks, each scaled to its own maximum (bright = high).

    Args:
        rec: ``Yolact.inspect(image)``.
        image: (3, H, W) in [0, 1].
        columns: prototypes per row.

    Returns:
        the figure.
    """
    protos = rec["prototypes"]  # (k, h, w)
    k = protos.shape[0]
    rows = math.ceil(k / columns)
    fig, axes = plt.subplots(rows, columns + 1, figsize=(1.45 * (columns + 1), 1.75 * rows), squeeze=False)
    _image(axes[0, 0], image, "the scene")
    for r in range(1, rows):
        axes[r, 0].axis("off")
    for i in range(rows * columns):
        ax = axes[i // columns, 1 + i % columns]
        ax.axis("off")
        if i < k:
            p = protos[i]
            ax.imshow(p, cmap="magma", vmin=0, vmax=max(float(p.max()), 1e-6), interpolation="nearest")
            ax.set_title(f"{i}: max {float(p.max()):.1f}", fontsize=8, pad=3)
    fig.suptitle(f"{k} prototypes at {protos.shape[-2]}x{protos.shape[-1]}, shared by every object of the scene "
                 "(title: prototype number, its largest value)", fontsize=9)
    fig.tight_layout(h_pad=1.2)
    return fig


def show_assembly(rec: dict, image: torch.Tensor, indices: tuple[int, ...] = (0, 1),
                  true_masks: torch.Tensor | None = None, true_labels: torch.Tensor | None = None) -> plt.Figure:
    """Per detection: its box, its k coefficients, the combined mask before the crop, and after it.

    Args:
        rec: ``Yolact.inspect(image)``.
        image: (3, H, W) in [0, 1].
        indices: which detections (0 = highest score) to show, one row each.
        true_masks: the scene's (N, H, W) masks: a detection then takes the colour of the true object it
            matches among the rows drawn, as in every detection figure (without them: colours by rank).
        true_labels: the scene's (N,) classes: then a detection only matches an object of its class.

    Returns:
        the figure.
    """
    det = rec["detections"]
    indices = [i for i in indices if i < len(det["boxes"])]
    if not indices:
        fig, ax = plt.subplots(figsize=(3, 3))
        _image(ax, image, "no detection above the score threshold")
        return fig
    fig, axes = plt.subplots(len(indices), 4, figsize=(10, 2.5 * len(indices) + 0.4), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1.6, 1, 1]})
    numbers = _numbers(det, indices, true_masks, true_labels)
    for row, i in enumerate(indices):
        colour = _rgb(numbers[i])
        box, label, score = det["boxes"][i], int(det["labels"][i]), float(det["scores"][i])
        ax = axes[row]
        _image(ax[0], image, f"detection {i}: {_name(label)} {score:.2f}")
        _box(ax[0], box, colour)
        coef = det["coefficients"][i]
        _coefficient_bars(ax[1], coef, colour)
        ax[2].imshow(det["uncropped_masks"][i, 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax[2].set_title("sigmoid(coefficients . prototypes)\nbefore the crop", fontsize=8)
        ax[2].axis("off")
        _box(ax[2], box, colour, lw=1.0)
        ax[3].imshow(det["masks"][i, 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax[3].set_title("cropped to its box\n(what the model returns)", fontsize=8)
        ax[3].axis("off")
        _box(ax[3], box, colour, lw=1.0)
    _colour_key(fig, true_masks is not None, "box and bar")
    fig.tight_layout(rect=(0, 0.3 / fig.get_figheight(), 1, 1))
    return fig


def _coefficient_bars(ax: plt.Axes, coef: torch.Tensor, colour) -> None:
    """The k coefficients as bars in the detection's colour: solid when added, hatched when subtracted."""
    for j, c in enumerate(coef.tolist()):
        negative = c < 0
        ax.bar(j, c, facecolor="white" if negative else colour, edgecolor=colour, hatch="////" if negative else None,
               linewidth=1.0)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xticks(range(len(coef)))
    ax.tick_params(labelsize=6)
    ax.set_xlabel("prototype", fontsize=7, labelpad=1)
    ax.set_title("its coefficients (solid: added, hatched: subtracted)", fontsize=8)


def show_two_families(maskrcnn_insp, rec: dict, image: torch.Tensor, max_objects: int = 4,
                      true_masks: torch.Tensor | None = None, true_labels: torch.Tensor | None = None) -> plt.Figure:
    """Mask R-CNN's small mask per box (top row) beside the one-stage model's shared prototypes (bottom row).

    Args:
        maskrcnn_insp: ``inspect_maskrcnn(model, image)`` of lesson 07's model (eval mode).
        rec: ``Yolact.inspect(image)``.
        image: (3, H, W) in [0, 1].
        max_objects: at most this many of Mask R-CNN's masks and of the prototypes are shown.
        true_masks: the scene's (N, H, W) masks, to colour each drawn box as the true object it matches
            (among the boxes drawn).
        true_labels: the scene's (N,) classes: then a box only matches an object of its class.

    Returns:
        the figure.
    """
    det = maskrcnn_insp.detections
    n = min(max_objects, len(det.get("boxes", [])), len(maskrcnn_insp.mask_logits))
    protos = rec["prototypes"]
    cols = 1 + max(max_objects, 1)
    fig, axes = plt.subplots(2, cols, figsize=(1.9 * cols, 5.1), squeeze=False)
    _image(axes[0, 0], image, "Mask R-CNN: a mask\nper detected box")
    numbers = _numbers(det, list(range(n)), true_masks, true_labels)
    for j in range(n):
        _box(axes[0, 0], det["boxes"][j], _rgb(numbers[j]))
    for j in range(max_objects):
        ax = axes[0, 1 + j]
        ax.axis("off")
        if j < n:
            label = int(det["labels"][j])
            logits = maskrcnn_insp.mask_logits[j, label]
            ax.imshow(torch.sigmoid(logits), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(f"box {j}: {_name(label)} {float(det['scores'][j]):.2f}\n"
                         f"{logits.shape[-1]}x{logits.shape[-1]}", fontsize=8, color=_rgb(numbers[j]))
    _image(axes[1, 0], image, "one-stage: prototypes\nshared by all objects")
    for j in range(max_objects):
        ax = axes[1, 1 + j]
        ax.axis("off")
        if j < protos.shape[0]:
            p = protos[j]
            ax.imshow(p, cmap="magma", vmin=0, vmax=max(float(p.max()), 1e-6), interpolation="nearest")
            ax.set_title(f"prototype {j} of {protos.shape[0]}\n{p.shape[-2]}x{p.shape[-1]}", fontsize=8)
    _colour_key(fig, true_masks is not None, "box and title")
    fig.tight_layout(rect=(0, 0.3 / fig.get_figheight(), 1, 1))
    return fig
