"""Panoptic figures: fused predictions next to their inputs, PQ bars, threshold sweeps, a slider viewer."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch

from ..data.classes import CLASSES, STUFF, THINGS
from ..metrics.panoptic import evaluate_fusion
from ..models.panoptic_fusion import FusionConfig, fuse_panoptic
from .axes import axes_or_figure
from .scenes import class_legend, colour_panoptic, colour_semantic, draw_instances, hwc


def _kept(raw: dict, cfg: FusionConfig) -> dict:
    """The detections of one raw output at or above the score threshold."""
    keep = raw["scores"] >= cfg.score_threshold
    return {k: raw[k][keep] for k in ("masks", "labels", "scores", "boxes")}


def show_panoptic_predictions(scenes: Sequence[dict], raws: Sequence[dict], cfg: FusionConfig | None = None,
                              fused: Sequence[tuple[torch.Tensor, list]] | None = None) -> plt.Figure:
    """One row per scene: image | FCN classes | Mask R-CNN instances | fused panoptic | ground truth.

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
    for r, (scene, raw, (pan, segs)) in enumerate(zip(scenes, raws, fused)):
        det = _kept(raw, cfg)
        n_things = sum(s["isthing"] for s in segs)
        panels = [hwc(scene["image"]), colour_semantic(raw["semantic"]),
                  hwc(draw_instances(scene["image"], det["masks"][:, 0].float(), det["boxes"], det["labels"],
                                     det["scores"], scale=3, width=2)),
                  colour_panoptic(pan), colour_panoptic(scene["panoptic"])]
        for c, (ax, img) in enumerate(zip(axes[r], panels)):
            ax.imshow(img, interpolation="nearest")
            ax.axis("off")
            name = titles[c]
            if c == 3:
                name += f"\n{n_things} things, {len(segs) - n_things} stuff"
            elif c == 4:
                gt_things = sum(s["isthing"] for s in scene["segments"])
                name += f"\n{gt_things} things, {len(scene['segments']) - gt_things} stuff"
            ax.set_title(name if r == 0 or c >= 3 else "", fontsize=9)
    class_legend(axes[0, 1], bbox_to_anchor=(0.0, 1.25), loc="lower left", ncol=3, fontsize=7)
    fig.tight_layout()
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
    for k, (metric, colour) in enumerate((("pq", "tab:blue"), ("sq", "tab:orange"), ("rq", "tab:green"))):
        xs = [i + (k - 1) * width for i in range(len(groups))]
        vals = [g[metric] for _, g in groups]
        bars = ax.bar(xs, vals, width, label=metric.upper(), color=colour)
        if metric == "pq":
            ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(range(len(groups)), [name for name, _ in groups])
    ax.axvline(2.5, color="grey", lw=0.8, ls=":")
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("score")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_fusion_sweep(sweep: dict[str, list], cfg: FusionConfig | None = None) -> plt.Figure:
    """PQ (all, things, stuff) against each fusion threshold, from ``panoptic.sweep_fusion``.

    Args:
        sweep: ``{"overlap_threshold": [(value, summary)...], "stuff_min_area": [...]}``.
        cfg: the default settings, marked with a dashed line.

    Returns:
        the matplotlib figure.
    """
    cfg = cfg or FusionConfig()
    keys = [k for k in ("overlap_threshold", "stuff_min_area") if sweep.get(k)]
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        values = [v for v, _ in sweep[key]]
        for part, style in (("all", "-o"), ("things", "--s"), ("stuff", ":^")):
            ax.plot(values, [s[part]["pq"] for _, s in sweep[key]], style, label=f"PQ {part}", ms=4)
        ax.axvline(getattr(cfg, key), color="grey", ls="--", lw=0.8)
        ax.set_xlabel(key + (" (fraction of the mask still free)" if key == "overlap_threshold" else " (pixels)"))
        ax.set_ylabel("PQ")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
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
        summary = evaluate_fusion(raws, scenes, c)
        pan, segs = fuse_panoptic(raws[index.value]["semantic"], raws[index.value], c)
        with out:
            out.clear_output(wait=True)
            fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
            for ax, img, name in zip(axes, (hwc(scenes[index.value]["image"]), colour_panoptic(pan),
                                            colour_panoptic(scenes[index.value]["panoptic"])),
                                     ("image", f"fused: {len(segs)} segments", "ground truth")):
                ax.imshow(img, interpolation="nearest")
                ax.set_title(name, fontsize=9)
                ax.axis("off")
            s = summary
            fig.suptitle(f"PQ over {len(scenes)} scenes: {s['all']['pq']:.3f}  (things {s['things']['pq']:.3f}, "
                         f"stuff {s['stuff']['pq']:.3f})", fontsize=10)
            fig.tight_layout()
            display(fig)
            plt.close(fig)

    for w in (overlap, area, index):
        w.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([overlap, area, index]), out])


def show_pixel_stories(scene: dict, points: Sequence[tuple[int, int]]) -> plt.Figure:
    """The panoptic map with a few pixels marked, and what each task stores at those pixels.

    Args:
        scene: a scene dict.
        points: (row, col) pixels to mark.

    Returns:
        the matplotlib figure (the table of values is in the right panel).
    """
    fig, (ax, ax_t) = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1, 1.6]})
    ax.imshow(colour_panoptic(scene["panoptic"]), interpolation="nearest")
    rows = []
    for k, (y, x) in enumerate(points, start=1):
        ax.plot(x, y, "wo", ms=9, mec="k")
        ax.text(x, y, str(k), ha="center", va="center", fontsize=7)
        cls = int(scene["semantic"][y, x])
        seg = int(scene["panoptic"][y, x])
        inst = "-" if cls in STUFF else str(next((i for i, m in enumerate(scene["masks"]) if m[y, x]), "-"))
        kind = "thing" if cls in THINGS else "stuff"
        rows.append([str(k), f"({y}, {x})", f"{cls} = {CLASSES[cls]} ({kind})", inst, str(seg)])
    ax.set_title("panoptic map", fontsize=9)
    ax.axis("off")
    ax_t.axis("off")
    table = ax_t.table(cellText=rows, colLabels=["#", "pixel\n(row, col)", "semantic:\nclass", "instance:\nmask #",
                                                 "panoptic:\nsegment id"], loc="center", cellLoc="center",
                       colWidths=[0.06, 0.18, 0.32, 0.18, 0.22])
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1, 2.0)
    fig.tight_layout()
    return fig
