"""Figures of lesson 05: counting failures, stuff vs things, annotation formats, hard cases, three steps.

The bottom-up pipeline, the model map and the applications figure are in ``viz/instance_methods.py``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Circle, Patch, Polygon, Rectangle
from scipy import ndimage as ndi

from ..data.annotations import mask_to_polygons, rle_runs
from ..data.classes import CLASS_COLOURS, CLASSES, LABEL_DIVISOR, STUFF, THINGS
from ..metrics.instances import MIN_PIECE, mask_iou_matrix
from .colours import BOUNDARY_COLOUR, instance_colour
from .scenes import colour_semantic, draw_instances, hwc, instance_colours

_OUTLINE = tuple(v / 255 for v in BOUNDARY_COLOUR)  # annotation outlines: the boundary colour


def _off(ax: plt.Axes, title: str = "") -> None:
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def colour_ids(ids: torch.Tensor | np.ndarray) -> np.ndarray:
    """Instance-id map (H, W) (0 = none) -> RGB uint8 (H, W, 3): black background, id k in instance colour k - 1.

    The colour follows the id, not the rank among the ids present, so object k of a scene has the same
    colour in every figure (``draw_instances`` gives mask k the same one) even when another object is
    hidden; give predictions the ids of the true objects they match (:func:`matched_ids`) to keep it.
    """
    ids = ids.cpu().numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids)
    out = np.zeros((*ids.shape, 3), np.uint8)
    for i in np.unique(ids):
        if i != 0:  # id k + 1 is object k; -1 matches no true object (matched_ids)
            out[ids == i] = instance_colour(int(i) - 1 if i > 0 else -1)
    return out


def matched_ids(masks: torch.Tensor, true_masks: torch.Tensor, min_iou: float = 0.5) -> np.ndarray:
    """(H, W) id map of predicted masks numbered after the true objects they match, for :func:`colour_ids`.

    A prediction matched one-to-one (Hungarian on mask IoU, IoU above ``min_iou``) to true object k
    gets id k + 1, so it takes that object's colour; the others get id -1 (:data:`UNMATCHED_COLOUR`).

    Args:
        masks: (K, H, W) bool predicted masks.
        true_masks: (N, H, W) bool true masks.
        min_iou: the smallest IoU that counts as the same object.

    Returns:
        (H, W) int64 ids (0 = none).
    """
    ids = np.zeros(masks.shape[1:], np.int64)
    for mask, number in zip(masks.cpu().numpy().astype(bool), matched_numbers(masks, true_masks, min_iou)):
        ids[mask] = number + 1 if number >= 0 else -1
    return ids


def matched_numbers(masks: torch.Tensor, true_masks: torch.Tensor, min_iou: float = 0.5, *,
                    labels=None, true_labels=None, scores=None) -> list[int]:
    """The colour number of each prediction: k for the one matched to true object k, -1 for the rest.

    With ``labels`` and ``true_labels``, matching follows COCO's rule (as the AP the lessons print
    does): predictions in order of ``scores`` (highest first; the given order without scores), each
    taking the unmatched true object of its own class with the highest mask IoU above ``min_iou``. So
    the confident right-class detection of an object wears its colour, and a duplicate, a false alarm
    or a right mask with the wrong class wears the dark grey :data:`UNMATCHED_COLOUR`, which no true
    object has. Without labels the match is one-to-one over every class (Hungarian on mask IoU).

    Args:
        masks: (K, H, W) bool predicted masks.
        true_masks: (N, H, W) bool true masks.
        min_iou: the smallest IoU that counts as the same object.
        labels, true_labels: (K,) and (N,) class ids (both or neither).
        scores: (K,) confidences, for the order in which predictions pick (with labels only).

    Returns:
        K ints.
    """
    k, n = len(masks), len(true_masks)
    numbers = [-1] * k
    if not (k and n):
        return numbers
    iou = mask_iou_matrix(masks, true_masks)  # (K, N)
    if labels is None or true_labels is None:
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(-iou)
        for r, c in zip(rows, cols):
            if iou[r, c] > min_iou:
                numbers[r] = int(c)
        return numbers
    labels, true_labels = np.asarray(torch.as_tensor(labels).cpu()), np.asarray(torch.as_tensor(true_labels).cpu())
    iou = np.where(labels[:, None] == true_labels[None, :], iou, 0.0)  # only same-class pairs can match
    order = range(k) if scores is None else np.argsort(-np.asarray(torch.as_tensor(scores).float().cpu()),
                                                       kind="stable")
    taken = np.zeros(n, bool)
    for r in order:
        free = np.where(taken, -1.0, iou[r])
        c = int(free.argmax())
        if free[c] > min_iou:
            numbers[int(r)], taken[c] = c, True
    return numbers


def matched_segment_ids(panoptic: torch.Tensor, true_masks: torch.Tensor, min_iou: float = 0.5,
                        true_labels=None) -> list[int]:
    """A predicted panoptic map's thing segments in colour order, for ``colour_panoptic(panoptic, ids)``.

    Entry k is the segment matched to true object k (:func:`matched_numbers`), or -1 where none was, so
    a segment takes the colour of the object it found, as in the ground-truth map beside it; a segment
    matching none is left out, and ``colour_panoptic`` draws it in :data:`UNMATCHED_COLOUR`.

    Args:
        panoptic: (H, W) ``class * 1000 + instance`` ids.
        true_masks: (N, H, W) bool masks of the scene's objects.
        min_iou: the smallest IoU that counts as the same object.
        true_labels: (N,) the objects' classes: then a segment only matches an object of its own class
            (a segment with the wrong class is unmatched, as PQ counts it).

    Returns:
        segment ids (-1 for an object no segment found).
    """
    pan = panoptic.detach().cpu().long()
    ids = [int(i) for i in torch.unique(pan) if int(i) // LABEL_DIVISOR in THINGS]
    if not ids:
        return []
    labels = None if true_labels is None else [i // LABEL_DIVISOR for i in ids]
    numbers = matched_numbers(torch.stack([pan == i for i in ids]), true_masks.cpu().bool(), min_iou,
                              labels=labels, true_labels=true_labels)
    order = [-1] * len(true_masks)
    for seg, number in zip(ids, numbers):
        if number >= 0:
            order[number] = seg
    return order


def masks_to_ids(masks: torch.Tensor) -> np.ndarray:
    """(K, H, W) bool masks -> (H, W) int64 ids 1..K (later masks win where they overlap)."""
    m = masks.cpu().numpy().astype(bool)
    ids = np.zeros(m.shape[1:], np.int64)
    for k, mask in enumerate(m, start=1):
        ids[mask] = k
    return ids


def _count_text(labels: torch.Tensor, truth: torch.Tensor | None = None) -> str:
    parts = []
    for c in THINGS:
        n = int((labels == c).sum())
        if truth is None:
            parts.append(f"{CLASSES[c]} {n}")
        else:
            t = int((truth == c).sum())
            parts.append(f"{CLASSES[c]} {n}/{t}" + (" ✗" if n != t else ""))
    return ", ".join(parts)


def show_count_failure(scene: dict, semantic: torch.Tensor, instances: dict, source: str = "FCN") -> plt.Figure:
    """Image | semantic map | its connected components, with counted vs true objects per class.

    Args:
        scene: a scene dict (image, labels).
        semantic: (H, W) class ids the components come from (ground truth or a model's).
        instances: ``semantic_instances(semantic)`` (masks, labels).
        source: who made the semantic map, for the titles.

    Returns:
        the figure.
    """
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 4))
    axes[0].imshow(hwc(scene["image"]))
    _off(axes[0], f"image: {len(scene['labels'])} objects")
    axes[1].imshow(colour_semantic(semantic), interpolation="nearest")
    _off(axes[1], f"semantic map ({source})")
    axes[2].imshow(colour_ids(matched_ids(instances["masks"], scene["masks"])), interpolation="nearest")
    _off(axes[2], f"connected components: {len(instances['labels'])} blobs")
    axes[2].set_xlabel("counted/true: " + _count_text(instances["labels"], scene["labels"]), fontsize=8)
    present = [c for c in range(1, len(CLASSES)) if bool((semantic == c).any())]
    fig.legend(handles=[Patch(color=np.array(CLASS_COLOURS[c]) / 255, label=CLASSES[c]) for c in present],
               loc="lower left", bbox_to_anchor=(0.34, 0.0), ncol=len(present), fontsize=7, title="semantic map",
               title_fontsize=7)
    fig.text(0.68, 0.035, "blobs: the colour of the true object a blob matches (IoU > 0.5),\n"
             "as in the scene figures; a blob matching no object is dark grey", fontsize=7, va="center")
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    return fig


def show_stuff_and_things(scene: dict) -> plt.Figure:
    """Stuff (one segment per class, uncountable) next to things (one segment per object).

    Each panel leaves the other kind's pixels black (the void colour: "not in this view"), with a legend entry
    saying so; dark grey stays what it is in every instance figure, a prediction matching no true object.

    Args:
        scene: a scene dict.

    Returns:
        the figure.
    """
    sem = scene["semantic"]
    stuff = colour_semantic(torch.where(torch.isin(sem, torch.tensor(THINGS)), 0, sem)).numpy()  # things: void
    things = colour_ids(masks_to_ids(scene["masks"]))
    void = np.array(CLASS_COLOURS[0]) / 255
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 4))
    axes[0].imshow(hwc(scene["image"]))
    _off(axes[0], "image")
    axes[1].imshow(stuff, interpolation="nearest")
    present = [c for c in STUFF if bool((sem == c).any())]
    _off(axes[1], f"stuff: {len(present)} regions, one per class (no 'second sky')")
    handles = [Patch(color=np.array(CLASS_COLOURS[c]) / 255, label=CLASSES[c]) for c in present]
    axes[1].legend(handles=handles + [Patch(facecolor=void, edgecolor="0.6", label="thing pixels (not stuff)")],
                   fontsize=8, loc="lower right")
    axes[2].imshow(things, interpolation="nearest")
    _off(axes[2], f"things: {len(scene['labels'])} objects, each its own id (object 0, 1, ...)")
    for k, (mask, lab) in enumerate(zip(scene["masks"], scene["labels"])):  # numbered as the printed "object k"
        ys, xs = torch.nonzero(mask, as_tuple=True)
        if not len(xs):  # hidden behind others: nothing to label
            continue
        axes[2].text(float(xs.float().mean()), float(ys.float().mean()), f"{CLASSES[int(lab)]} #{k}", fontsize=8,
                     ha="center", va="center", color="black", bbox={"facecolor": "white", "alpha": 0.7, "pad": 1})
    axes[2].legend(handles=[Patch(facecolor=void, edgecolor="0.6", label="stuff pixels (no thing)")], fontsize=8,
                   loc="lower right")
    fig.tight_layout()
    return fig


def _crop_window(box: torch.Tensor, size: int, margin: int = 6) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (int(v) for v in box)
    return max(x1 - margin, 0), max(y1 - margin, 0), min(x2 + margin, size), min(y2 + margin, size)


def show_annotation_types(scene: dict, index: int, tolerance: float = 1.0) -> plt.Figure:
    """One object annotated three ways: a box (4 numbers), a polygon (clicked vertices) and a mask (pixels).

    Args:
        scene: a scene dict.
        index: which object.
        tolerance: polygon simplification in pixels (how carefully the annotator clicks).

    Returns:
        the figure.
    """
    mask, box = scene["masks"][index], scene["boxes"][index]
    size = mask.shape[-1]
    x0, y0, x1, y1 = _crop_window(box, size)
    polygons = mask_to_polygons(mask, tolerance)
    n_vertices = sum(len(p) for p in polygons) // 2
    fig, axes = plt.subplots(1, 3, figsize=(11, 4))
    titles = ["box: 4 numbers (x, y, w, h)", f"polygon: {n_vertices} vertices = {2 * n_vertices} numbers",
              f"mask: {int(mask.sum())} object pixels of {mask.numel()}"]
    for ax, title in zip(axes, titles):
        ax.imshow(hwc(scene["image"]), extent=(0, size, size, 0), interpolation="nearest")
        ax.set_xlim(x0, x1)
        ax.set_ylim(y1, y0)
        _off(ax, title)
    bx1, by1, bx2, by2 = box.tolist()
    axes[0].add_patch(Rectangle((bx1, by1), bx2 - bx1, by2 - by1, fill=False, edgecolor=_OUTLINE, lw=2))
    for poly in polygons:
        pts = np.asarray(poly).reshape(-1, 2)
        axes[1].add_patch(Polygon(pts, closed=True, fill=False, edgecolor=_OUTLINE, lw=2))
        axes[1].plot(pts[:, 0], pts[:, 1], "o", color="red", ms=4)
    overlay = np.zeros((*mask.shape, 4))
    overlay[mask.numpy()] = (1.0, 1.0, 0.0, 0.6)
    axes[2].imshow(overlay, extent=(0, size, size, 0), interpolation="nearest")
    fig.tight_layout()
    return fig


def show_rle(mask: torch.Tensor | np.ndarray) -> plt.Figure:
    """A small mask with its pixels numbered in COCO's column-major order and its run lengths.

    Args:
        mask: (H, W) bool or 0/1, small (e.g. 6 x 8) so every pixel can be read.

    Returns:
        the figure.
    """
    m = mask.cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    h, w = m.shape
    runs = rle_runs(m)
    fig, ax = plt.subplots(figsize=(0.55 * w + 1, 0.55 * h + 1.2))
    ax.imshow(m, cmap="Greys", vmin=-0.3, vmax=1.3, extent=(0, w, h, 0))
    for r in range(h):
        for c in range(w):
            ax.text(c + 0.5, r + 0.5, str(c * h + r), ha="center", va="center", fontsize=7,
                    color="white" if m[r, c] else "black")
    ax.set_xticks(np.arange(w + 1), minor=False)
    ax.set_yticks(np.arange(h + 1))
    ax.grid(color="0.6", lw=0.5)
    ax.tick_params(labelbottom=False, labelleft=False, length=0)
    for c in range(w):
        ax.annotate("", (c + 0.15, h - 0.1), (c + 0.15, 0.1), arrowprops={"arrowstyle": "->", "color": "tab:red",
                                                                         "alpha": 0.5})
    ax.set_title(f"read down each column: runs = {runs}", fontsize=9)
    fig.tight_layout()
    return fig


def _pieces(mask: torch.Tensor) -> list[tuple[float, float, float]]:
    """(x, y, radius) of each visible piece of a mask with at least ``MIN_PIECE`` pixels (``scene_traits``'s rule)."""
    labels, n = ndi.label(mask.cpu().numpy())
    out = []
    for k in range(1, n + 1):
        ys, xs = np.nonzero(labels == k)
        if len(xs) >= MIN_PIECE:
            out.append((float(xs.mean()), float(ys.mean()), float(max(np.ptp(xs), np.ptp(ys))) / 2 + 4))
    return out


def show_hard_cases(examples: list[tuple[dict, str]]) -> plt.Figure:
    """Scenes that make instance segmentation hard, each with its true instances overlaid.

    The overlays carry no class tags (the titles count each class): tags of crowded objects would cover each
    other and the small objects. An object cut into several visible pieces by another (``scene_traits``'s
    "split") gets a dashed white circle around each piece, with its number: still one instance.

    Args:
        examples: (scene, what makes it hard) pairs.

    Returns:
        the figure.
    """
    fig, axes = plt.subplots(2, len(examples), figsize=(3.4 * len(examples), 7.6), layout="constrained")
    scale, split_any = 3, False
    for col, (scene, text) in enumerate(examples):
        axes[0, col].imshow(hwc(scene["image"]))
        _off(axes[0, col], text)
        pic = draw_instances(scene["image"], scene["masks"], scene["boxes"], scale=scale, width=2)
        axes[1, col].imshow(hwc(pic))
        for k, mask in enumerate(scene["masks"]):
            pieces = _pieces(mask)
            for x, y, r in pieces if len(pieces) > 1 else []:
                split_any = True
                axes[1, col].add_patch(Circle(((x + 0.5) * scale, (y + 0.5) * scale), r * scale, fill=False,
                                              ls="--", lw=1.8, edgecolor="white"))
                axes[1, col].text((x + 0.5) * scale, (y - r - 1) * scale, f"#{k}", color="white", fontsize=9,
                                  ha="center", va="bottom", fontweight="bold")
        counts = ", ".join(f"{n} {CLASSES[c]}{'s' if n != 1 else ''}" for c in THINGS
                           if (n := int((scene["labels"] == c).sum())))
        _off(axes[1, col], f"{len(scene['labels'])} true instances:\n{counts}")
    if split_any:
        fig.supxlabel("dashed white circles: the visible pieces of one object (#k: object k), cut apart by an object "
                      "in front of it; still one instance", fontsize=9)
    return fig


def show_three_steps(scene: dict) -> plt.Figure:
    """Instance segmentation as three steps: find each object (a box), classify it, mask it.

    Args:
        scene: a scene dict.

    Returns:
        the figure.
    """
    image, boxes, labels, masks = scene["image"], scene["boxes"], scene["labels"], scene["masks"]
    size = image.shape[-1]
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 4))
    colours = [np.array(c) / 255 for c in instance_colours(len(boxes))]
    titles = ["1. find: where is each object? (a box)", "2. classify: what is it?", "3. mask: which pixels are it?"]
    for step, (ax, title) in enumerate(zip(axes, titles)):
        ax.imshow(hwc(image), extent=(0, size, size, 0))
        _off(ax, title)
        for k, (box, lab, col) in enumerate(zip(boxes, labels, colours)):
            x1, y1, x2, y2 = box.tolist()
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=col, lw=2))
            if step >= 1:
                ax.text(x1, y1 - 1, CLASSES[int(lab)], fontsize=7, va="bottom",
                        bbox={"facecolor": col, "alpha": 0.85, "pad": 1, "lw": 0})
            if step == 2:
                overlay = np.zeros((size, size, 4))
                overlay[masks[k].numpy()] = (*col, 0.6)
                ax.imshow(overlay, extent=(0, size, size, 0), interpolation="nearest")
    fig.tight_layout()
    return fig
