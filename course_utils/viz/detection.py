"""Figures for Mask R-CNN: loss terms, every stage of the forward pass, detections and a threshold viewer.

The stage figures take an ``Inspection`` from ``course_utils.models.inspection.inspect_maskrcnn``.
Instances are drawn with torchvision's ``draw_bounding_boxes`` / ``draw_segmentation_masks``
(through ``viz.scenes.draw_instances``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Rectangle

from ..data.classes import CLASSES, model_colour
from ..metrics.counting import keep_confident
from ..train.curves import plain_log_axis
from .axes import axes_or_figure
from .colours import text_colour
from .instances import matched_numbers
from .scenes import draw_instances, hwc

LOSS_NAMES: dict[str, str] = {
    "loss_objectness": "RPN objectness",
    "loss_rpn_box_reg": "RPN box regression",
    "loss_classifier": "box head: classification",
    "loss_box_reg": "box head: box regression",
    "loss_mask": "mask head: per-pixel BCE",
}
"""Readable names of torchvision Mask R-CNN's five loss terms."""


def plot_loss_terms(history, smooth: int = 5, names: dict[str, str] | None = None) -> plt.Figure:
    """One panel per loss term (and the total) against the training step.

    Each panel draws the logged values (thin) and their moving average (thick); a key under the panels says so.
    A term that falls by a factor of 2 or more gets a log axis, a flatter one a linear axis; each y label says which.

    Args:
        history: a ``training.History`` whose ``steps`` rows hold the loss terms.
        smooth: moving-average window (in logged rows) drawn over the raw curve.
        names: {loss key: panel title} of the terms to draw, in order (default: Mask R-CNN's, ``LOSS_NAMES``).

    Returns:
        the matplotlib figure.
    """
    rows = history.steps
    names = LOSS_NAMES if names is None else names
    keys = [k for k in names if rows and k in rows[0]] + ["loss"]
    cols = 3
    nrows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(10, 2.6 * nrows), squeeze=False)
    for ax in axes.flat[len(keys):]:
        ax.axis("off")
    steps = [r["step"] for r in rows]
    for ax, key in zip(axes.flat, keys):
        vals = torch.tensor([r.get(key, math.nan) for r in rows], dtype=torch.float64)
        ax.plot(steps, vals, lw=0.8, alpha=0.4, color="tab:blue", label="logged value")
        if len(vals) >= smooth > 1:
            kernel = torch.ones(1, 1, smooth, dtype=torch.float64) / smooth
            sm = torch.nn.functional.conv1d(vals.view(1, 1, -1), kernel).view(-1)  # (len - smooth + 1,)
            ax.plot(steps[smooth - 1:], sm, lw=1.6, color="tab:blue", label=f"moving average of {smooth} logged values")
        ax.set_title(names.get(key, "total loss (weighted sum)"), fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        seen = vals[torch.isfinite(vals) & (vals > 0)]
        if len(seen) and float(seen.max()) >= 2 * float(seen.min()):  # a log axis where the loss falls 2x or more
            plain_log_axis(ax)
            ax.set_ylabel("loss (log scale)", fontsize=8)
        else:  # a narrower range reads better (and keeps its tick labels) on a linear axis
            ax.set_ylabel("loss", fontsize=8)
        ax.grid(alpha=0.3, which="both")
        ax.tick_params(which="both", labelsize=7)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.3 / fig.get_figheight(), 1, 1))
    return fig


def _image_ax(ax: plt.Axes, image: torch.Tensor, title: str) -> None:
    """Show an image (3, H, W) float on ``ax`` with a small title and no ticks."""
    ax.imshow(hwc(image.clamp(0, 1)), interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def _boxes(ax: plt.Axes, boxes: torch.Tensor, colour="yellow", lw: float = 0.8, alpha: float = 1.0) -> None:
    """Draw xyxy boxes (N, 4) as rectangles on ``ax`` (image pixel coordinates)."""
    for x1, y1, x2, y2 in boxes.tolist():
        ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, ec=colour, lw=lw, alpha=alpha))


def show_fpn_levels(insp) -> plt.Figure:
    """The image and, per FPN level, the feature map's size (mean |activation| over channels).

    Args:
        insp: an ``Inspection``.

    Returns:
        the matplotlib figure.
    """
    n = len(insp.features)
    fig, axes = plt.subplots(1, n + 1, figsize=(2.6 * (n + 1), 2.9))
    _image_ax(axes[0], insp.image, f"image {tuple(insp.image.shape[-2:])}")
    for ax, (name, f) in zip(axes[1:], insp.features.items()):
        ax.imshow(f.abs().mean(0), cmap="magma", interpolation="nearest")  # (h, w)
        ax.set_title(f"FPN '{name}': stride {insp.strides[name]}\n{f.shape[0]} x {f.shape[1]} x {f.shape[2]}",
                     fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fig


def show_rpn(insp, level: str | None = None) -> plt.Figure:
    """RPN objectness per level (max over the anchors of each cell) and the anchors of the best cell.

    Args:
        insp: an ``Inspection``.
        level: FPN level whose best cell's anchors are drawn (default: the most confident level).

    Returns:
        the matplotlib figure.
    """
    names = list(insp.objectness)
    best = {k: float(v.max()) for k, v in insp.objectness.items()}
    level = level or max(best, key=best.get)
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(2.6 * (len(names) + 1), 2.9))
    for ax, name in zip(axes, names):
        obj = insp.objectness[name].max(0).values  # (h, w)
        ax.imshow(hwc(insp.image), alpha=0.6)
        ax.imshow(obj, cmap="viridis", vmin=0, vmax=1, alpha=0.75, interpolation="nearest",
                  extent=(-0.5, insp.image.shape[-1] - 0.5, insp.image.shape[-2] - 0.5, -0.5))
        ax.set_title(f"objectness, level '{name}'\n(stride {insp.strides[name]}, max {best[name]:.2f})", fontsize=9)
        ax.axis("off")
    # anchors of the most confident cell on the chosen level
    ax = axes[-1]
    obj = insp.objectness[level]  # (A, h, w)
    a, h, w = obj.shape
    cell = int(obj.max(0).values.flatten().argmax())
    start = sum(n for k, n in zip(insp.objectness, insp.anchors_per_level) if names.index(k) < names.index(level))
    level_anchors = insp.anchors[start:start + a * h * w].view(h, w, a, 4)  # torchvision order: (y, x, anchor)
    _image_ax(ax, insp.image, f"the {a} anchors of the best cell\n(level '{level}')")
    _boxes(ax, level_anchors.view(h * w, a, 4)[cell], colour="cyan", lw=1.0)
    fig.tight_layout()
    return fig


def show_proposals(insp, target: dict | None = None, top: int = 100) -> plt.Figure:
    """Proposals before NMS, after NMS, and the boxes the RoI heads receive.

    Args:
        insp: an ``Inspection``.
        target: ground truth (``boxes``) to colour the head's RoIs: positive (IoU >= 0.5) in green.
        top: draw at most this many pre-NMS proposals (the highest scoring).

    Returns:
        the matplotlib figure.
    """
    from torchvision.ops import box_iou

    fig, axes = plt.subplots(1, 3, figsize=(9, 3.3))
    order = insp.pre_nms_scores.argsort(descending=True)[:top]
    _image_ax(axes[0], insp.image, f"before NMS: {len(insp.proposals_pre_nms)} boxes\n(top {len(order)} drawn)")
    _boxes(axes[0], insp.proposals_pre_nms[order], colour="yellow", lw=0.5, alpha=0.6)
    _image_ax(axes[1], insp.image, f"after NMS: {len(insp.proposals)} proposals")
    _boxes(axes[1], insp.proposals[:top], colour="orange", lw=0.6)
    what = "RoIs sampled for the heads" if insp.mode == "train" else "boxes fed to the box head"
    _image_ax(axes[2], insp.image, f"{what}: {len(insp.head_boxes)}")
    if target is not None and len(target["boxes"]) and len(insp.head_boxes):
        pos = box_iou(insp.head_boxes, target["boxes"].float()).max(1).values >= 0.5  # (R,)
        _boxes(axes[2], insp.head_boxes[~pos], colour="red", lw=0.5, alpha=0.6)
        _boxes(axes[2], insp.head_boxes[pos], colour="lime", lw=0.9)
        axes[2].set_title(f"{what}: {len(insp.head_boxes)}\n{int(pos.sum())} positive (green), "
                          f"{int((~pos).sum())} negative (red)", fontsize=9)
    else:
        _boxes(axes[2], insp.head_boxes, colour="lime", lw=0.6)
    fig.tight_layout()
    return fig


def show_mask_stages(insp, max_objects: int = 4) -> plt.Figure:
    """Per detection: its box, the RoIAlign crop, the 28x28 mask probability and the pasted mask.

    Args:
        insp: an ``Inspection`` in eval mode (with detections).
        max_objects: at most this many detections (highest scores first) are shown.

    Returns:
        the matplotlib figure.
    """
    det = insp.detections
    n = min(max_objects, len(insp.mask_boxes), len(det.get("boxes", [])))
    if n == 0:
        fig, ax = plt.subplots(figsize=(3, 3))
        _image_ax(ax, insp.image, "no detections: nothing reaches the mask head")
        return fig
    fig, axes = plt.subplots(n, 4, figsize=(9, 2.3 * n), squeeze=False)
    for i in range(n):
        box, label, score = det["boxes"][i], int(det["labels"][i]), float(det["scores"][i])
        _image_ax(axes[i, 0], insp.image, f"{CLASSES[label]} {score:.2f}" if label < len(CLASSES) else str(label))
        _boxes(axes[i, 0], box.view(1, 4), colour="yellow", lw=1.2)
        x1, y1, x2, y2 = box.tolist()
        margin = 0.3 * max(x2 - x1, y2 - y1) + 2  # zoom on the detection
        axes[i, 0].set_xlim(x1 - margin, x2 + margin)
        axes[i, 0].set_ylim(y2 + margin, y1 - margin)
        crop = insp.mask_crops[i].abs().mean(0)  # (s, s)
        axes[i, 1].imshow(crop, cmap="magma", interpolation="nearest")
        axes[i, 1].set_title(f"RoIAlign {insp.mask_crops.shape[-1]}x{insp.mask_crops.shape[-1]}\n(mean |feature|)",
                             fontsize=8)
        logits = insp.mask_logits[i, label]  # (28, 28) logits of the predicted class
        axes[i, 2].imshow(torch.sigmoid(logits), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        axes[i, 2].set_title(f"mask head {logits.shape[-1]}x{logits.shape[-1]}\n(class '{CLASSES[label]}')",
                             fontsize=8)
        pasted = det["masks"][i, 0]  # (H, W) probabilities
        axes[i, 3].imshow(pasted, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        _boxes(axes[i, 3], box.view(1, 4), colour="yellow", lw=0.8)
        axes[i, 3].set_title(f"pasted into the image\n{tuple(pasted.shape)}", fontsize=8)
        for ax in axes[i, 1:]:
            ax.axis("off")
    fig.tight_layout()
    return fig


def show_detections(images: Sequence[torch.Tensor], preds: Sequence[dict], targets: Sequence[dict] | None = None,
                    score_thresh: float = 0.5, mask_thresh: float = 0.5, scale: int = 3) -> plt.Figure:
    """Predicted instances (mask, box, class and score) per image, above the ground truth.

    With ``targets``, a detection matched to a true object of its class (mask IoU above 0.5, in score
    order, as COCO counts true positives) has that object's colour; a duplicate, a false alarm or a
    detection of the wrong class has the dark grey no true object has.

    Args:
        images: (3, H, W) float images.
        preds: Mask R-CNN outputs, one per image.
        targets: optional ground truth (``masks``, ``boxes``, ``labels``) drawn in a second row.
        score_thresh: detections below this score are hidden.
        mask_thresh: mask probability threshold.
        scale: upsampling factor so labels stay legible.

    Returns:
        the matplotlib figure.
    """
    rows = 2 if targets is not None else 1
    n = len(images)
    fig, axes = plt.subplots(rows, n, figsize=(2.9 * n, 3.0 * rows), squeeze=False)
    for j, (img, p) in enumerate(zip(images, preds)):
        k = keep_confident(p, score_thresh, mask_thresh)
        found = None  # with the truth: each detection takes the colour of the true object it matches
        if targets is not None:
            found = matched_numbers(k["masks"].bool(), targets[j]["masks"].bool(), labels=k["labels"],
                                    true_labels=targets[j]["labels"], scores=k["scores"])  # as COCO counts them
        pic = draw_instances(img, k["masks"], k["boxes"], k["labels"], k["scores"], scale=scale, colour_ids=found,
                             labels_off_masks=True)  # labels cover as little of any object as they can
        axes[0, j].imshow(hwc(pic))
        axes[0, j].set_title(f"predicted: {len(k['labels'])} objects", fontsize=9)
        axes[0, j].axis("off")
        if targets is not None:
            t = targets[j]
            pic = draw_instances(img, t["masks"], t["boxes"], t["labels"], scale=scale, labels_off_masks=True)
            axes[1, j].imshow(hwc(pic))
            axes[1, j].set_title(f"ground truth: {len(t['labels'])} objects", fontsize=9)
            axes[1, j].axis("off")
    key = ("\ncolour: the true object of its class a detection matches (mask IoU > 0.5, the surest first, as COCO "
           "counts);\ndark grey: it matches none (a duplicate, a false alarm or the wrong class)"
           ) if targets is not None else ""
    fig.suptitle(f"score >= {score_thresh:.2f}, mask probability > {mask_thresh:.2f}{key}", fontsize=9)
    fig.tight_layout()
    return fig


def detection_viewer(images: Sequence[torch.Tensor], preds: Sequence[dict], targets: Sequence[dict] | None = None,
                     score_thresh: float = 0.5, mask_thresh: float = 0.5):
    """Sliders for the score and mask thresholds over :func:`show_detections` (ipywidgets ``interact``).

    Args:
        images, preds, targets: as for :func:`show_detections`.
        score_thresh, mask_thresh: the sliders' starting values.

    Returns:
        the ``interactive`` widget, or None when ipywidgets is missing (a static figure is shown then).
    """
    try:
        from ipywidgets import FloatSlider, interactive
    except ImportError:  # pragma: no cover - ipywidgets ships with the course
        show_detections(images, preds, targets, score_thresh, mask_thresh)
        plt.show()
        return None

    def draw(score_thresh: float, mask_thresh: float) -> None:
        show_detections(images, preds, targets, score_thresh, mask_thresh)
        plt.show()

    return interactive(draw, score_thresh=FloatSlider(value=score_thresh, min=0.0, max=1.0, step=0.05,
                                                      description="score ≥", continuous_update=False),
                       mask_thresh=FloatSlider(value=mask_thresh, min=0.05, max=0.95, step=0.05,
                                               description="mask >", continuous_update=False))


def show_roipool_vs_roialign(image: torch.Tensor, box: Sequence[float], stride: int = 8,
                             output_size: int = 7) -> plt.Figure:
    """What RoIPool's rounding does to a crop, next to RoIAlign, on a coarse "feature map".

    The image is average-pooled by ``stride`` (a stand-in for a backbone's feature map); the box is
    then pooled with ``torchvision.ops.roi_pool`` (box and bins rounded to whole cells, max) and
    ``roi_align`` (exact positions, bilinear samples, ``aligned=True``).

    Args:
        image: (3, H, W) float in [0, 1].
        box: (x1, y1, x2, y2) in image pixels.
        stride: pixels per feature cell.
        output_size: side of the pooled grid.

    Returns:
        the matplotlib figure.
    """
    from torchvision.ops import roi_align, roi_pool

    feats = torch.nn.functional.avg_pool2d(image[None], stride)  # (1, 3, H/s, W/s)
    b = torch.tensor([list(box)], dtype=torch.float32)  # (1, 4)
    pooled = roi_pool(feats, [b], output_size, 1 / stride)[0]  # (3, S, S)
    aligned = roi_align(feats, [b], output_size, 1 / stride, sampling_ratio=2, aligned=True)[0]  # (3, S, S)
    x1, y1, x2, y2 = (round(float(v) / stride) * stride for v in box)  # the box RoIPool actually reads
    fig, axes = plt.subplots(1, 4, figsize=(11, 3))
    _image_ax(axes[0], image, "image and the box")
    _boxes(axes[0], b, colour="yellow", lw=1.5)
    _boxes(axes[0], torch.tensor([[x1, y1, x2 + stride, y2 + stride]], dtype=torch.float32), colour="red", lw=1)
    axes[1].imshow(hwc(feats[0].clamp(0, 1)), interpolation="nearest")
    axes[1].set_title(f"feature map (stride {stride}):\n{feats.shape[-2]} x {feats.shape[-1]} cells", fontsize=9)
    axes[1].axis("off")
    _image_ax(axes[2], pooled, f"RoIPool {output_size}x{output_size}:\nrounded to cells (red box)")
    _image_ax(axes[3], aligned, f"RoIAlign {output_size}x{output_size}:\nexact box, bilinear")
    fig.tight_layout()
    return fig


def plot_ap_per_iou(results: dict[str, dict[str, float]], ax: plt.Axes | None = None) -> plt.Figure:
    """AP at each IoU threshold 0.50 ... 0.95, one line per IoU type (from ``coco_evaluate(per_iou=True)``).

    Args:
        results: ``{iou_type: {"AP@50": ..., ..., "AP@95": ..., "AP": ...}}``.
        ax: axes to draw in (default: a new figure).

    Returns:
        the matplotlib figure.
    """
    fig, ax = axes_or_figure(ax, figsize=(5, 3.2))
    for iou_type, r in results.items():
        keys = sorted((k for k in r if k.startswith("AP@")), key=lambda k: int(k[3:]))
        name = {"segm": "mask", "bbox": "box"}.get(iou_type, iou_type)
        ax.plot([int(k[3:]) / 100 for k in keys], [r[k] for k in keys], "o-", label=f"{name} (AP = {r['AP']:.3f})")
    ax.set_xlabel("IoU threshold")
    ax.set_ylabel("AP at that threshold")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("AP[.50:.95] is the mean of these ten points", fontsize=9)
    fig.tight_layout()
    return fig


def plot_counting(rows: dict[str, dict[str, float]]) -> plt.Figure:
    """Bar charts of counting scores per method (from ``metrics.counting.counting_comparison``).

    Args:
        rows: ``{method: separation_report}``.

    Returns:
        the matplotlib figure.
    """
    keys = [("exact_count_images", "scenes with every count right"),
            ("touching_recovered", "touching objects recovered"), ("recovered", "all objects recovered")]
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.2))
    names = list(rows)
    colours = [model_colour(k) for k in range(len(names))]  # series colours, no class colour
    for ax, (key, title) in zip(axes, keys):
        vals = [rows[n][key] for n in names]
        ax.barh(range(len(names)), vals, color=colours)
        for i, v in enumerate(vals):
            inside = v > 0.2
            ax.text(v - 0.02 if inside else v + 0.02, i, f"{v:.0%}", va="center", ha="right" if inside else "left",
                    fontsize=8, color=[c / 255 for c in text_colour(tuple(round(255 * x) for x in colours[i]))]
                    if inside else "black")
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels([n.replace(" (", "\n(") for n in names] if ax is axes[0] else [], fontsize=7)
        ax.set_xlim(0, 1)
        ax.invert_yaxis()  # first method on top
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
