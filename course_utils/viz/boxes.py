"""Figures of lesson 06: box formats, IoU, anchors, box regression, NMS and precision-recall curves.

Boxes are drawn with matplotlib patches over ``imshow(..., extent=(0, W, H, 0))``, so a box's
pixel-edge coordinates (x2 = last column + 1) land exactly on the pixel borders. Boxes that play a
role rather than stand for an object (an anchor, a ground-truth box, a decoded prediction) are black
and white with a halo, told apart by line style, so they never wear a class or an instance colour.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import patheffects
from matplotlib.colors import to_rgb
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Rectangle
from torchvision.ops import batched_nms, box_convert, box_iou

from ..data.classes import CLASSES
from .axes import axes_or_figure
from .colours import instance_colour
from .scenes import hwc, instance_colours

_HALO = [patheffects.withStroke(linewidth=3, foreground="black")]  # white marks stay visible on any paint


def _rgb(colour: tuple[int, int, int]) -> tuple[float, float, float]:
    return tuple(c / 255 for c in colour)


def _halo_box(ax: plt.Axes, box: Sequence[float], style: str = "-", width: float = 1.5, ink: str = "white",
              halo: str = "black") -> None:
    """A box in ``ink`` (any line style) over a solid ``halo`` band, readable on any paint."""
    draw_box(ax, box, halo, width=width + 1.2, alpha=0.8)
    draw_box(ax, box, ink, style=style, width=width)


def _halo_key(label: str, style: str = "-", width: float = 1.5, ink: str = "white", halo: str = "black") -> tuple:
    """The legend entry of :func:`_halo_box` (a tuple of handles, which matplotlib draws one over the other)."""
    return (Line2D([], [], color=halo, lw=width + 1.2, alpha=0.8, label=label),
            Line2D([], [], color=ink, ls=style, lw=width, label=label))


def _show_image(ax: plt.Axes, image: torch.Tensor, title: str = "") -> None:
    """Draw a (3, H, W) image with pixel-edge coordinates and no ticks."""
    h, w = image.shape[-2:]
    ax.imshow(hwc(image), extent=(0, w, h, 0), interpolation="nearest")
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_title(title, fontsize=9, pad=10)
    ax.set_xticks([])
    ax.set_yticks([])


def draw_box(ax: plt.Axes, box: Sequence[float], colour="yellow", style: str = "-", width: float = 1.5,
             text: str | None = None, fill: bool = False, alpha: float = 1.0) -> None:
    """Draw one xyxy box (optionally labelled) on ``ax``.

    Args:
        ax: matplotlib axes.
        box: (4,) x1, y1, x2, y2.
        colour: any matplotlib colour.
        style: line style ("-", "--", ":").
        width: line width.
        text: optional label above the box's top-left corner.
        fill: fill the box with a translucent colour.
        alpha: line opacity.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linestyle=style, lw=width,
                           alpha=alpha))
    if fill:
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, color=colour, alpha=0.25 * alpha, lw=0))
    if text:
        r, g, b = to_rgb(colour)
        ink = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.55 else "white"  # readable on the label's patch
        ax.text(x1, y1 - 1, text, color=ink, fontsize=7, va="bottom",
                bbox={"facecolor": colour, "alpha": 0.8, "pad": 1, "lw": 0})


def show_box_formats(image: torch.Tensor, box: torch.Tensor) -> plt.Figure:
    """One box and the same numbers in the three formats: corners, corner + size, centre + size.

    Args:
        image: (3, H, W) float image.
        box: (4,) xyxy box.

    Returns:
        the figure.
    """
    b = box.reshape(1, 4).float()
    xywh, cxcywh = box_convert(b, "xyxy", "xywh")[0], box_convert(b, "xyxy", "cxcywh")[0]
    x1, y1, x2, y2 = b[0].tolist()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.8))
    titles = [f"xyxy = ({x1:g}, {y1:g}, {x2:g}, {y2:g})",  # :g: whole pixels without a decimal, halves as .5
              "xywh = ({:g}, {:g}, {:g}, {:g})  (COCO)".format(*xywh.tolist()),
              "cxcywh = ({:g}, {:g}, {:g}, {:g})".format(*cxcywh.tolist())]
    for ax, title in zip(axes, titles):
        _show_image(ax, image, title)
        draw_box(ax, b[0], "white", width=2)  # a role, not an object: white on a black halo, like every role box
        ax.patches[-1].set_path_effects(_HALO)
    marks = {"color": "white", "markeredgecolor": "black", "markeredgewidth": 1.2}
    text = {"color": "white", "fontsize": 8, "fontweight": "bold", "path_effects": _HALO}
    for (x, y), name in (((x1, y1), "(x1, y1)"), ((x2, y2), "(x2, y2)")):
        axes[0].plot(x, y, "o", ms=6, **marks)
        axes[0].annotate(name, (x, y), xytext=(4, 4), textcoords="offset points", **text)
    axes[1].plot(x1, y1, "o", ms=6, **marks)
    for start, end in (((x1, y1 - 2), (x2, y1 - 2)), ((x2 + 2, y1), (x2 + 2, y2))):
        arrow = axes[1].annotate("", end, start, arrowprops={"arrowstyle": "<->", "color": "white"})
        arrow.arrow_patch.set_path_effects(_HALO)
    axes[1].text((x1 + x2) / 2, y1 - 4, "w", ha="center", **{**text, "fontsize": 9})
    axes[1].text(x2 + 4, (y1 + y2) / 2, "h", va="center", **{**text, "fontsize": 9})
    cx, cy = cxcywh[:2].tolist()
    axes[2].plot(cx, cy, "+", ms=12, mew=2, color="white", path_effects=_HALO)
    axes[2].annotate("(cx, cy)", (cx, cy), xytext=(4, 4), textcoords="offset points", **text)
    fig.tight_layout()
    return fig


def show_iou_examples(pairs: Sequence[tuple[Sequence[float], Sequence[float]]], size: int = 60) -> plt.Figure:
    """Pairs of boxes with their intersection shaded and their IoU in the title.

    Args:
        pairs: a few (box_a, box_b) xyxy pairs inside a ``size`` x ``size`` canvas.
        size: canvas side in pixels.

    Returns:
        the figure.
    """
    fig, axes = plt.subplots(1, len(pairs), figsize=(2.8 * len(pairs), 3))
    for ax, (a, b) in zip(np.atleast_1d(axes), pairs):
        ta, tb = torch.tensor([a], dtype=torch.float32), torch.tensor([b], dtype=torch.float32)
        iou = float(box_iou(ta, tb)[0, 0])
        ax.set_xlim(0, size)
        ax.set_ylim(size, 0)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        draw_box(ax, a, "tab:blue", width=2, fill=True)
        draw_box(ax, b, "tab:orange", width=2, fill=True)
        lt, rb = torch.maximum(ta[0, :2], tb[0, :2]), torch.minimum(ta[0, 2:], tb[0, 2:])
        if (rb > lt).all():
            ax.add_patch(Rectangle(tuple(lt.tolist()), *(rb - lt).tolist(), hatch="///", fill=False,
                                   edgecolor="black", lw=0))
        ax.set_title(f"IoU = {iou:.2f}", fontsize=10)
    fig.suptitle("IoU = area of the hatched intersection / area of the union", fontsize=10)
    fig.tight_layout()
    return fig


def overlapping_pairs(scene: dict) -> list[tuple[int, int, float, bool]]:
    """Every pair of objects of a scene whose boxes overlap, and whether the objects themselves touch.

    Two objects touch when one's mask, grown by one pixel (its 8 neighbours), meets the other's: the
    scenes' masks never overlap, so touching is the closest two objects can come.

    Args:
        scene: a dict from ``make_scene`` (``boxes`` (N, 4) xyxy, ``masks`` (N, H, W) bool).

    Returns:
        (a, b, box IoU, touch) for every pair a < b with a box IoU above 0, in index order.
    """
    iou = box_iou(scene["boxes"].float(), scene["boxes"].float())  # (N, N)
    masks = scene["masks"].bool()  # (N, H, W)
    grown = torch.nn.functional.max_pool2d(masks[:, None].float(), 3, 1, 1)[:, 0].bool()  # (N, H, W)
    return [(a, b, float(iou[a, b]), bool((grown[a] & masks[b]).any()))
            for a in range(len(iou)) for b in range(a + 1, len(iou)) if iou[a, b] > 0]


def show_box_pair(scene: dict, a: int, b: int, margin: int = 4) -> plt.Figure:
    """Two objects' boxes, zoomed in on them, with the boxes' intersection hatched: where boxes overlap, do the
    objects?

    Args:
        scene: a dict from ``make_scene``.
        a, b: the two objects (their boxes wear instance colours a and b, as in the scene's instance panel).
        margin: pixels shown around the two boxes.

    Returns:
        the figure.
    """
    boxes = scene["boxes"].float()
    h, w = scene["image"].shape[-2:]
    x1, y1 = (torch.minimum(boxes[a, :2], boxes[b, :2]) - margin).clamp(min=0).tolist()
    x2, y2 = (torch.maximum(boxes[a, 2:], boxes[b, 2:]) + margin).tolist()
    x2, y2 = min(x2, w), min(y2, h)
    fig, ax = plt.subplots(figsize=(4.2, 0.9 + 4.2 * (y2 - y1) / (x2 - x1)))  # the crop's own aspect ratio
    iou = float(box_iou(boxes[a:a + 1], boxes[b:b + 1])[0, 0])
    _show_image(ax, scene["image"], f"seed {scene.get('seed')}, index {scene.get('index')}: objects {a} and {b}, "
                                    f"box IoU {iou:.2f}")
    for k in (a, b):
        draw_box(ax, boxes[k], _rgb(instance_colour(k)), width=2.5,
                 text=f"{k} {CLASSES[int(scene['labels'][k])]}")
    lt, rb = torch.maximum(boxes[a, :2], boxes[b, :2]), torch.minimum(boxes[a, 2:], boxes[b, 2:])
    if (rb > lt).all():
        ax.add_patch(Rectangle(tuple(lt.tolist()), *(rb - lt).tolist(), hatch="//", fill=False, edgecolor="black",
                               lw=0))
    ax.set_xlim(x1, x2)
    ax.set_ylim(y2, y1)
    ax.set_xlabel("hatched: where the two boxes overlap", fontsize=8)
    fig.tight_layout()
    return fig


def show_anchors(image: torch.Tensor, anchors: torch.Tensor, feature_size: tuple[int, int], stride: int,
                 anchors_per_cell: int, cell: tuple[int, int], gt_boxes: torch.Tensor | None = None,
                 matches: torch.Tensor | None = None) -> plt.Figure:
    """Anchors over a feature map: the grid of cells, one cell's anchor shapes, and the matched anchors.

    The anchors of ``cell`` are white with a black halo, one line style per size (sqrt of the area); the
    legend gives each size's sides, w x h, from the corners rounded to whole pixels (as a print of
    ``anchors.round()`` shows them).

    Args:
        image: (3, H, W) float image.
        anchors: (H' * W' * A, 4) xyxy, from ``box_coding.make_anchors``.
        feature_size: (H', W') of the feature map.
        stride: pixels per feature cell.
        anchors_per_cell: A.
        cell: (row, col) whose anchors are drawn in the first panel.
        gt_boxes: optional (G, 4) objects; with ``matches`` a second panel shows the positive anchors.
        matches: optional (H' * W' * A,) from ``box_coding.match_anchors``.

    Returns:
        the figure.
    """
    panels = 2 if gt_boxes is not None and matches is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 5))
    axes = np.atleast_1d(axes)
    fh, fw = feature_size
    _show_image(axes[0], image, f"{fh}x{fw} feature cells (stride {stride}), {anchors_per_cell} anchors per cell "
                                f"= {len(anchors)} anchors")
    for k in range(1, fw):
        axes[0].axvline(k * stride, color="white", lw=0.5, alpha=0.6)
    for k in range(1, fh):
        axes[0].axhline(k * stride, color="white", lw=0.5, alpha=0.6)
    centres = box_convert(anchors[::anchors_per_cell], "xyxy", "cxcywh")[:, :2]
    axes[0].plot(centres[:, 0], centres[:, 1], ".", color="white", ms=3)
    first = (cell[0] * fw + cell[1]) * anchors_per_cell
    own = anchors[first:first + anchors_per_cell]  # (A, 4)
    sizes = ((own[:, 2:] - own[:, :2]).prod(1).sqrt()).round(decimals=2).tolist()  # sqrt(area) of each anchor
    ordered = sorted(set(sizes))
    rounded = own.round()  # the corners as the lesson prints them
    sides = (rounded[:, 2:] - rounded[:, :2]).int().tolist()
    styles = ("-", "--", ":", "-.")  # small to large
    shapes, labels = [], []
    for size in ordered:
        style = styles[ordered.index(size) % len(styles)]
        for box in own[torch.tensor(sizes) == size]:
            _halo_box(axes[0], box, style=style, width=1.5)
        shapes.append(_halo_key("", style=style))
        labels.append(f"size {size:g}: " + ", ".join(f"{w} x {h}" for (w, h), s in zip(sides, sizes) if s == size))
    shapes.append(Line2D([], [], marker="o", ls="", ms=4, color="white", mec="black"))
    labels.append("cell centre")
    axes[0].legend(shapes, labels, title=f"anchors of cell {tuple(cell)}: w x h px", loc="upper center",
                   bbox_to_anchor=(0.5, -0.01), ncol=2, fontsize=7, title_fontsize=8, frameon=False,
                   handlelength=3)
    if panels == 2:
        palette = instance_colours(len(gt_boxes))
        _show_image(axes[1], image, f"positive anchors: {int((matches >= 0).sum())} of {len(anchors)}, "
                                    "coloured by their object")
        for g, box in enumerate(gt_boxes):
            draw_box(axes[1], box, _rgb(palette[g]), width=2.5)
            for a in torch.nonzero(matches == g).flatten().tolist():
                draw_box(axes[1], anchors[a], _rgb(palette[g]), style="--", width=1)
        key = [Line2D([], [], color="0.2", lw=2.5, label="solid: an object's box"),
               Line2D([], [], color="0.2", ls="--", lw=1, label="dashed: a positive anchor of that object")]
        axes[1].legend(handles=key, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=2, fontsize=8,
                       frameon=False)
    fig.tight_layout()
    return fig


def show_box_regression(image: torch.Tensor, anchor: torch.Tensor, target: torch.Tensor,
                        deltas: torch.Tensor, decoded: torch.Tensor | None = None) -> plt.Figure:
    """An anchor, the object it should become, the offsets between them and (optionally) a decoded box.

    Args:
        image: (3, H, W) float image.
        anchor: (4,) xyxy anchor.
        target: (4,) xyxy object box.
        deltas: (4,) (dx, dy, dw, dh) that turn the anchor into the target.
        decoded: optional (4,) xyxy box decoded from (other) offsets, e.g. a network's prediction.

    Returns:
        the figure.
    """
    fig, ax = plt.subplots(figsize=(5, 5.4))
    dx, dy, dw, dh = deltas.tolist()
    _show_image(ax, image, f"targets: dx = {dx:+.2f}, dy = {dy:+.2f}, dw = {dw:+.2f}, dh = {dh:+.2f}")
    _halo_box(ax, anchor, style="--", width=2)  # roles, not objects: black and white, told apart by line style
    _halo_box(ax, target, width=2)
    a, t = box_convert(torch.stack([anchor, target]).float(), "xyxy", "cxcywh")
    for colour, lw in (("black", 4.5), ("white", 2)):  # a white arrow with a black halo reads on any paint
        ax.add_patch(FancyArrowPatch(tuple(a[:2].tolist()), tuple(t[:2].tolist()), arrowstyle="->",
                                     mutation_scale=12, color=colour, lw=lw))
    handles = [_halo_key("anchor", style="--", width=2), _halo_key("object (true box)", width=2),
               Line2D([], [], color="white", lw=2, marker=">", markeredgecolor="black")]
    labels = ["anchor", "object (true box)", "centre shift (dx, dy)"]
    if decoded is not None:
        _halo_box(ax, decoded, style=":", width=2, ink="black", halo="white")
        handles.append(_halo_key("decoded prediction", style=":", width=2, ink="black", halo="white"))
        labels.append("decoded prediction")
    leg = ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=2, fontsize=8,
                    facecolor="0.45", labelcolor="white", frameon=True, handlelength=3)
    leg.get_frame().set_alpha(0.9)
    fig.tight_layout()
    return fig


def show_nms(image: torch.Tensor, boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
             iou_threshold: float, min_score: float = 0.0) -> plt.Figure:
    """Raw detections next to what survives per-class NMS (``torchvision.ops.batched_nms``).

    Args:
        image: (3, H, W) float image.
        boxes: (D, 4) xyxy candidates.
        scores: (D,) confidences.
        labels: (D,) class ids (NMS runs within each class).
        iou_threshold: NMS threshold.
        min_score: candidates below this score are dropped first.

    Returns:
        the figure.
    """
    sel = scores >= min_score
    boxes, scores, labels = boxes[sel], scores[sel], labels[sel]
    keep = batched_nms(boxes.float(), scores.float(), labels, iou_threshold)  # (K,) best first
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    _show_image(axes[0], image, f"before NMS: {len(boxes)} boxes")
    for box, score in zip(boxes, scores):
        draw_box(axes[0], box, plt.cm.viridis(float(score)), width=1, alpha=0.9)
    _show_image(axes[1], image, f"after NMS at IoU {iou_threshold:.2f}: {len(keep)} boxes")
    for i in keep.tolist():
        name = CLASSES[int(labels[i])] if 0 <= int(labels[i]) < len(CLASSES) else str(int(labels[i]))
        draw_box(axes[1], boxes[i], plt.cm.viridis(float(scores[i])), width=2, text=f"{name} {float(scores[i]):.2f}")
    fig.colorbar(plt.cm.ScalarMappable(cmap="viridis"), ax=axes, fraction=0.025, label="score")
    return fig


def nms_viewer(image: torch.Tensor, boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
               value: float = 0.5) -> None:
    """A slider over the NMS IoU threshold (ipywidgets ``interact``); redraws :func:`show_nms`.

    Args:
        image: (3, H, W) float image.
        boxes: (D, 4) xyxy candidates.
        scores: (D,) confidences.
        labels: (D,) class ids.
        value: the slider's starting threshold.
    """
    try:
        from ipywidgets import FloatSlider, interact
    except ImportError:
        print("ipywidgets is not installed: use show_nms(...) with a fixed threshold instead.")
        return

    def draw(iou_threshold: float) -> None:
        show_nms(image, boxes, scores, labels, iou_threshold)
        plt.show()

    interact(draw, iou_threshold=FloatSlider(value=value, min=0.05, max=1.0, step=0.05, continuous_update=False,
                                             description="IoU thr."))


def show_pr_curve(curve: dict[str, np.ndarray], ap: float, title: str = "", ax: plt.Axes | None = None) -> plt.Axes:
    """A precision-recall curve: raw precision, its envelope and COCO's 101 interpolation points.

    Args:
        curve: output of ``metrics.detection.precision_recall_curve``.
        ap: the AP to print in the legend.
        title: axes title.
        ax: axes to draw into (a new figure when None).

    Returns:
        the axes.
    """
    _, ax = axes_or_figure(ax, figsize=(5, 4))
    recall = np.concatenate([[0.0], curve["recall"]])
    ax.plot(curve["recall"], curve["precision"], color="0.6", lw=1, label="precision (raw)")
    ax.step(recall, np.concatenate([curve["envelope"][:1], curve["envelope"]]), where="pre", color="tab:blue", lw=2,
            label="envelope (best precision at this recall or beyond)")
    levels = np.linspace(0, 1, 101)
    idx = np.searchsorted(curve["recall"], levels, side="left")
    points = np.where(idx < len(curve["envelope"]), curve["envelope"][np.minimum(idx, len(curve["envelope"]) - 1)], 0)
    ax.fill_between(levels, points, step="post", alpha=0.15, color="tab:blue")
    ax.plot(levels, points, ".", color="tab:red", ms=3, label=f"101 points: AP = mean = {ap:.3f}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.05)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    return ax
