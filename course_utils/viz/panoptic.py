"""Panoptic figures: fused predictions next to their inputs, PQ bars, threshold sweeps, a slider viewer.

The pixel-stories and toy-map figures live in ``viz/panoptic_maps.py`` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Patch

from ..data.classes import CLASSES, LABEL_DIVISOR, STUFF, THINGS, model_colour
from ..metrics.panoptic import evaluate_fusion
from ..metrics.prompting import farthest_point
from ..models.panoptic_fusion import FusionConfig, detection_segments, fuse_panoptic
from .axes import axes_or_figure
from .colours import UNMATCHED_COLOUR, instance_colour, text_colour
from .instances import matched_segment_ids
from .panoptic_maps import show_pixel_stories, show_toy_panoptic  # noqa: F401 (lesson 09 calls them from here)
from .scenes import class_patches, colour_panoptic, colour_semantic, draw_instances, hwc, scene_thing_ids

WRONG_CLASS_MARK = "✗"
"""Written after the class name of a fused thing segment whose class is not that of the true object it matches."""


def _kept(raw: dict, cfg: FusionConfig) -> dict:
    """The detections of one raw output at or above the score threshold."""
    keep = raw["scores"] >= cfg.score_threshold
    return {k: raw[k][keep] for k in ("masks", "labels", "scores", "boxes")}


def row_colours(raw: dict, panoptic: torch.Tensor, true_masks: torch.Tensor, cfg: FusionConfig | None = None
                ) -> tuple[list[int], list[int]]:
    """The one matching that colours a row: fused segments to true objects, detections after their segments.

    The fused map's thing segments are matched one-to-one to the true objects (:func:`matched_segment_ids`,
    mask IoU above 0.5, class ignored); each detection then wears the colour of the segment the fusion made
    from it (``detection_segments``), so a detection and its fused segment always share a colour, and one
    that left no segment (dropped by the overlap rule) or whose segment matches no object is dark grey.

    Args:
        raw: one output of ``predict_raw`` (the detections).
        panoptic: the map ``fuse_panoptic`` made from ``raw`` with ``cfg``.
        true_masks: (N, H, W) masks of the scene's objects.
        cfg: the fusion settings (``FusionConfig()`` when None).

    Returns:
        the segment ids in colour order (for ``colour_panoptic``; -1 for an object no segment found) and
        the colour number of each detection of ``raw`` (k: true object k's colour, -1: ``UNMATCHED_COLOUR``).
    """
    order = matched_segment_ids(panoptic, true_masks.bool())
    number = {sid: k for k, sid in enumerate(order) if sid > 0}
    return order, [number.get(sid, -1) for sid in detection_segments(raw, cfg or FusionConfig())]


def label_things(ax: plt.Axes, panoptic: torch.Tensor, picture: torch.Tensor | np.ndarray,
                 true_classes: dict[int, int] | None = None) -> list:
    """Write each thing segment's class name at its most central pixel, on a patch of the segment's colour.

    Args:
        ax: the axes the map is drawn in (pixel coordinates).
        panoptic: (H, W) segment ids.
        picture: (H, W, 3) uint8, the coloured map (the patches take its colours).
        true_classes: ``{segment id: class of the true object it matches}``; a segment whose own class
            differs gets :data:`WRONG_CLASS_MARK` after its name.

    Returns:
        the labels (matplotlib texts), largest segment first, for :func:`spread_labels`.
    """
    pan = panoptic.detach().cpu().long()
    pic = np.asarray(picture)
    ids, areas = torch.unique(pan, return_counts=True)
    texts = []
    for sid, _ in sorted(zip(ids.tolist(), areas.tolist()), key=lambda p: -p[1]):  # largest first
        cls = sid // LABEL_DIVISOR
        if cls not in THINGS:
            continue
        y, x = farthest_point((pan == sid).numpy())
        colour = tuple(int(v) for v in pic[y, x])
        wrong = true_classes is not None and true_classes.get(sid, cls) != cls
        texts.append(ax.text(x, y, CLASSES[cls] + (f" {WRONG_CLASS_MARK}" if wrong else ""), ha="center",
                             va="center", fontsize=6, color=[v / 255 for v in text_colour(colour)],
                             bbox={"boxstyle": "square,pad=0.15", "facecolor": [v / 255 for v in colour],
                                   "edgecolor": "none"}))
    return texts


def spread_labels(fig: plt.Figure, labels: Sequence[tuple[plt.Axes, list]]) -> None:
    """Move labels of :func:`label_things` apart and inside their panel, once the layout is final.

    A label that would cover an earlier one of its panel (the larger segments' come first) moves up or down
    by its height, to the nearest free place; each is pushed inside its panel's edges.

    Args:
        fig: the figure, after ``tight_layout``.
        labels: (axes, its labels) pairs.
    """
    canvas = fig.canvas
    renderer = canvas.get_renderer() if hasattr(canvas, "get_renderer") else fig._get_renderer()
    for ax, texts in labels:
        frame = ax.get_window_extent(renderer)
        placed = []
        for text in texts:
            box = text.get_window_extent(renderer).padded(1.5)
            dx = max(frame.x0 - box.x0, 0) - max(box.x1 - frame.x1, 0)
            shifts = [k * box.height for k in (0, -1, 1, -2, 2, -3, 3)]  # display y grows upwards
            shifts = [dy for dy in shifts if frame.y0 <= box.y0 + dy and box.y1 + dy <= frame.y1] or [0.0]
            moved = [box.translated(dx, dy) for dy in shifts]
            best = next((b for b in moved if not any(b.overlaps(p) for p in placed)), moved[0])
            placed.append(best)
            x, y = ax.transData.transform(text.get_position())
            text.set_position(ax.transData.inverted().transform((x + best.x0 - box.x0, y + best.y0 - box.y0)))


def _fused_panel(raw: dict, pan: torch.Tensor, scene: dict, cfg: FusionConfig
                 ) -> tuple[torch.Tensor, list[int], dict[int, int]]:
    """The coloured fused map, the detections' colour numbers and each matched segment's true class."""
    order, numbers = row_colours(raw, pan, scene["masks"], cfg)
    true_classes = {sid: int(scene["labels"][k]) for k, sid in enumerate(order) if sid > 0}
    return colour_panoptic(pan, order), numbers, true_classes


def _key(fig: plt.Figure, ncol: int, bottom: float) -> None:
    """The shared key of the fused figures: class colours, void, instance colours, unmatched, class names."""
    handles = class_patches([*STUFF, *THINGS]) + [
        Patch(facecolor="black", label="void (no segment)"),
        Patch(facecolor=[c / 255 for c in instance_colour(0)], label="a colour per true object, worn by the fused\n"
              "segment matching it and the detection it came from"),
        Patch(facecolor=[c / 255 for c in UNMATCHED_COLOUR], label="a segment matching no true object (and its\n"
              "detection), or a detection the fusion dropped")]
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, bottom), ncol=ncol, fontsize=7,
               frameon=False)


def show_panoptic_predictions(scenes: Sequence[dict], raws: Sequence[dict], cfg: FusionConfig | None = None,
                              fused: Sequence[tuple[torch.Tensor, list]] | None = None) -> plt.Figure:
    """One row per scene: image | FCN classes | Mask R-CNN instances | fused panoptic | ground truth.

    One matching colours a row (:func:`row_colours`): a fused thing segment takes the colour of the true
    object it matches, and the detection it was made from the same colour. Thing segments carry their class
    name (:func:`label_things`), marked when it is not the matched object's class.

    Args:
        scenes: ground-truth scene dicts.
        raws: matching outputs of ``panoptic.predict_raw``.
        cfg: fusion thresholds (``FusionConfig()`` when None).
        fused: the fused (panoptic, segments) pairs, recomputed from ``raws`` when None.

    Returns:
        the matplotlib figure.
    """
    cfg = cfg or FusionConfig()
    fused = fused if fused is not None else [fuse_panoptic(r["semantic"], r, cfg) for r in raws]
    rows = len(scenes)
    fig, axes = plt.subplots(rows, 5, figsize=(13, 2.7 * rows), squeeze=False)
    titles = ["image", "FCN: a class per pixel", f"Mask R-CNN: score >= {cfg.score_threshold:g}",
              "fused panoptic", "ground truth"]
    labels = []
    for r, (scene, raw, (pan, segs)) in enumerate(zip(scenes, raws, fused)):
        det = _kept(raw, cfg)
        fused_pic, numbers, true_classes = _fused_panel(raw, pan, scene, cfg)
        kept_numbers = [n for n, keep in zip(numbers, (raw["scores"] >= cfg.score_threshold).tolist()) if keep]
        n_things = sum(s["isthing"] for s in segs)
        panels = [hwc(scene["image"]), colour_semantic(raw["semantic"]),
                  hwc(draw_instances(scene["image"], det["masks"][:, 0].float(), det["boxes"], det["labels"],
                                     det["scores"], scale=3, width=2, font_size=18, colour_ids=kept_numbers)),
                  fused_pic, colour_panoptic(scene["panoptic"], scene_thing_ids(scene))]
        for c, (ax, img) in enumerate(zip(axes[r], panels)):
            ax.imshow(img, interpolation="nearest")
            ax.axis("off")
            name = titles[c]
            if c == 3:
                name += f"\n{n_things} things, {len(segs) - n_things} stuff"
                labels.append((ax, label_things(ax, pan, img, true_classes)))
            elif c == 4:
                gt_things = sum(s["isthing"] for s in scene["segments"])
                name += f"\n{gt_things} things, {len(scene['segments']) - gt_things} stuff"
                labels.append((ax, label_things(ax, scene["panoptic"], img)))
            ax.set_title(name if r == 0 or c >= 3 else "", fontsize=9)
    height = fig.get_figheight()
    fig.tight_layout(rect=(0, 0.95 / height, 1, 1))  # inches at the bottom: the key, then its note
    _key(fig, ncol=5, bottom=0.25 / height)
    fig.text(0.5, 0.06 / height, "On each thing segment: its class; "
             f"{WRONG_CLASS_MARK}: not the class of the true object it matches (PQ counts a miss of that class and a "
             "false positive of its own)", ha="center", fontsize=7)
    spread_labels(fig, labels)
    return fig


def plot_pq(summary: dict, ax: plt.Axes | None = None, title: str = "Panoptic quality") -> plt.Figure:
    """Grouped bars of PQ, SQ and RQ: overall, things, stuff, then every class.

    Args:
        summary: from ``metrics.panoptic.panoptic_quality`` / ``panoptic.evaluate_fusion``.
        ax: axes to draw in (a new figure when None).
        title: the axes title.

    Returns:
        the matplotlib figure.
    """
    fig, ax = axes_or_figure(ax, figsize=(10, 3.4))
    groups = [("all", summary["all"]), ("things", summary["things"]), ("stuff", summary["stuff"])]
    groups += list(summary["per_class"].items())
    width = 0.27
    for k, metric in enumerate(("pq", "sq", "rq")):
        xs = [i + (k - 1) * width for i in range(len(groups))]
        vals = [g[metric] for _, g in groups]
        bars = ax.bar(xs, vals, width, label=metric.upper(), color=model_colour(k))
        if metric == "pq":
            ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(range(len(groups)), [name for name, _ in groups])
    ax.axvline(2.5, color="grey", lw=0.8, ls=":")
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("score")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)  # beside the bars
    fig.tight_layout()
    return fig


SWEEP_CURVES: tuple[tuple[str, str, str, str], ...] = (
    ("PQ all", "all", "pq", "-o"), ("PQ things", "things", "pq", "--s"), ("RQ things", "things", "rq", "-.d"),
    ("PQ stuff", "stuff", "pq", ":^"))
"""The curves of :func:`plot_fusion_sweep` and rows of :func:`format_fusion_sweep`: (label, group, metric, style)."""


def sweep_curves(sweep: dict[str, list]) -> dict[str, tuple[list, dict[str, list[float]]]]:
    """The numbers a fusion sweep figure draws: per knob, its values and one list per curve.

    Args:
        sweep: ``{"overlap_threshold": [(value, summary)...], "stuff_min_area": [...]}`` from ``sweep_fusion``.

    Returns:
        ``{knob: (values, {curve label: [score per value]})}`` for the knobs that were swept.
    """
    return {key: ([v for v, _ in rows], {label: [s[group][metric] for _, s in rows]
                                         for label, group, metric, _ in SWEEP_CURVES})
            for key, rows in sweep.items() if rows}


def format_fusion_sweep(sweep: dict[str, list]) -> str:
    """The values of every curve of :func:`plot_fusion_sweep` as a text table, one block per knob."""
    lines = []
    for key, (values, curves) in sweep_curves(sweep).items():
        lines.append(f"{key:>17s} | " + " ".join(f"{v:>6g}" for v in values))
        lines += [f"{label:>17s} | " + " ".join(f"{y:6.3f}" for y in ys) for label, ys in curves.items()]
    return "\n".join(lines)


def plot_fusion_sweep(sweep: dict[str, list], cfg: FusionConfig | None = None) -> plt.Figure:
    """PQ (all, things, stuff) and thing RQ against each fusion threshold, from ``panoptic.sweep_fusion``.

    The same numbers, as a table: :func:`format_fusion_sweep`. The key sits below the panels, so it
    covers no curve.

    Args:
        sweep: ``{"overlap_threshold": [(value, summary)...], "stuff_min_area": [...]}``.
        cfg: the default settings, marked with a dashed line.

    Returns:
        the matplotlib figure.
    """
    cfg = cfg or FusionConfig()
    curves = sweep_curves(sweep)
    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.6), squeeze=False)
    for ax, (key, (values, ys)) in zip(axes[0], curves.items()):
        for label, _, metric, style in SWEEP_CURVES:  # coloured by metric, as in plot_pq; the group by line style
            ax.plot(values, ys[label], style, label=label, ms=4, color=model_colour(("pq", "sq", "rq").index(metric)))
        ax.axvline(getattr(cfg, key), color="0.6", ls="--", lw=0.8, label="the default setting")
        unit = " (fraction of the mask still free)"
        if key == "stuff_min_area":  # areas grow by factors: linear up to the first non-zero value, then log 2
            linthresh = min([v for v in values if v > 0] or [1])
            ax.set_xscale("symlog", base=2, linthresh=linthresh, linscale=1)
            ax.set_xlim(-0.3 * linthresh, max(values) * 1.3)
            ax.set_xticks(values, [f"{v:g}" for v in values])
            ax.minorticks_off()
            unit = f" (a class's pixels in one image; log scale above {linthresh:g})"
        ax.set_xlabel(key + unit)
        ax.set_ylabel("score")
        ax.grid(alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def show_fusion(raws: Sequence[dict], scenes: Sequence[dict], cfg: FusionConfig, index: int = 0) -> plt.Figure:
    """One scene fused with ``cfg`` beside its ground truth, the split's PQ in the title (one explorer state).

    Args:
        raws: outputs of ``panoptic.predict_raw`` for the scenes.
        scenes: ground-truth scene dicts.
        cfg: the fusion settings.
        index: which scene to draw.

    Returns:
        the matplotlib figure.
    """
    summary = evaluate_fusion(raws, scenes, cfg)
    raw, scene = raws[index], scenes[index]
    pan, segs = fuse_panoptic(raw["semantic"], raw, cfg)
    fused_pic, _, true_classes = _fused_panel(raw, pan, scene, cfg)
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.4))
    truth = colour_panoptic(scene["panoptic"], scene_thing_ids(scene))
    for ax, img, name in zip(axes, (hwc(scene["image"]), fused_pic, truth),
                             (f"scene {index}", f"fused: {len(segs)} segments", "ground truth")):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    labels = [(axes[1], label_things(axes[1], pan, fused_pic, true_classes)),
              (axes[2], label_things(axes[2], scene["panoptic"], truth))]
    pq = {group: summary[group]["pq"] for group in ("all", "things", "stuff")}
    fig.suptitle(f"overlap {cfg.overlap_threshold:.2f}, stuff min {cfg.stuff_min_area}: PQ over {len(scenes)} "
                 f"scenes {pq['all']:.3f} (things {pq['things']:.3f}, stuff {pq['stuff']:.3f})", fontsize=10)
    fig.text(0.5, 0.01, "black: void (no segment); a thing takes the colour of the true object it matches, dark grey "
             f"if none;\non each thing: its class, {WRONG_CLASS_MARK} when not the class of the true object it matches",
             ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    spread_labels(fig, labels)
    return fig


def fusion_explorer(raws: Sequence[dict], scenes: Sequence[dict], cfg: FusionConfig | None = None,
                    max_area: int = 1024):
    """Sliders over ``overlap_threshold`` and ``stuff_min_area``: one scene's fused map and the split's PQ.

    Args:
        raws: outputs of ``panoptic.predict_raw`` for the scenes.
        scenes: ground-truth scene dicts.
        cfg: starting settings (``FusionConfig()`` when None).
        max_area: largest ``stuff_min_area`` on its slider.

    Returns:
        the ipywidgets ``VBox`` (display it as a cell's last line), or None without widgets.
    """
    try:
        import ipywidgets as widgets
        from IPython.display import display
    except ImportError:
        print("ipywidgets is not installed: use plot_fusion_sweep for the same information as a static figure.")
        return None
    cfg = cfg or FusionConfig()
    overlap = widgets.FloatSlider(value=cfg.overlap_threshold, min=0.0, max=1.0, step=0.05,
                                  description="overlap", continuous_update=False, readout_format=".2f")
    area = widgets.IntSlider(value=cfg.stuff_min_area, min=0, max=max_area, step=16,
                             description="stuff min", continuous_update=False)
    index = widgets.IntSlider(value=0, min=0, max=len(scenes) - 1, description="scene", continuous_update=False)
    out = widgets.Output()

    def redraw(*_):
        c = FusionConfig(cfg.score_threshold, cfg.mask_threshold, overlap.value, area.value)
        with out:
            out.clear_output(wait=True)
            fig = show_fusion(raws, scenes, c, index.value)
            display(fig)
            plt.close(fig)

    for w in (overlap, area, index):
        w.observe(redraw, names="value")
    redraw()

    class Explorer(widgets.VBox):
        def __repr__(self) -> str:  # the text a viewer without widgets shows instead of "VBox(children=..."
            return "fusion explorer (sliders: overlap, stuff min, scene): it needs a running kernel"

    return Explorer([widgets.HBox([overlap, area, index]), out])
