"""Panoptic figures: fused predictions next to their inputs, PQ bars, threshold sweeps, a slider viewer."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Patch

from ..data.classes import CLASSES, LABEL_DIVISOR, STUFF, THINGS, model_colour
from ..metrics.panoptic import evaluate_fusion
from ..models.panoptic_fusion import FusionConfig, fuse_panoptic
from .axes import axes_or_figure
from .colours import UNMATCHED_COLOUR, instance_colours, text_colour
from .instances import matched_numbers, matched_segment_ids
from .scenes import class_patches, colour_panoptic, colour_semantic, draw_instances, hwc, scene_thing_ids


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
                                     det["scores"], scale=3, width=2, font_size=20,
                                     colour_ids=matched_numbers(det["masks"][:, 0] > 0.5, scene["masks"].bool()))),
                  colour_panoptic(pan, matched_segment_ids(pan, scene["masks"])),
                  colour_panoptic(scene["panoptic"], scene_thing_ids(scene))]
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
    handles = class_patches([*STUFF, *THINGS]) + [
        Patch(facecolor="black", label="void (no segment)"),
        Patch(facecolor=[c / 255 for c in instance_colours(1)[0]], label="things in panoptic maps and\n"
              "instances: a colour per object"),
        Patch(facecolor=[c / 255 for c in UNMATCHED_COLOUR], label="predicted thing matching\nno true object")]
    key_height = 0.55  # inches at the bottom for the key (two rows of entries); a key on an axes would shrink it
    fig.tight_layout(rect=(0, key_height / fig.get_figheight(), 1, 1))
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncol=5, fontsize=7, frameon=False)
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
        for label, _, _, style in SWEEP_CURVES:
            ax.plot(values, ys[label], style, label=label, ms=4)
        ax.axvline(getattr(cfg, key), color="grey", ls="--", lw=0.8, label="the default setting")
        ax.set_xlabel(key + (" (fraction of the mask still free)" if key == "overlap_threshold" else " (pixels)"))
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
    pan, segs = fuse_panoptic(raws[index]["semantic"], raws[index], cfg)
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
    scene = scenes[index]
    for ax, img, name in zip(axes, (hwc(scene["image"]), colour_panoptic(pan, matched_segment_ids(pan, scene["masks"])),
                                    colour_panoptic(scene["panoptic"], scene_thing_ids(scene))),
                             (f"scene {index}", f"fused: {len(segs)} segments", "ground truth")):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    pq = {group: summary[group]["pq"] for group in ("all", "things", "stuff")}
    fig.suptitle(f"overlap {cfg.overlap_threshold:.2f}, stuff min {cfg.stuff_min_area}: PQ over {len(scenes)} "
                 f"scenes {pq['all']:.3f} (things {pq['things']:.3f}, stuff {pq['stuff']:.3f})", fontsize=10)
    fig.text(0.5, 0.01, "black: void (no segment); a thing takes the colour of the true object it matches, dark grey "
             "if none", ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
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
    ax.imshow(colour_panoptic(scene["panoptic"], scene_thing_ids(scene)), interpolation="nearest")
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


def show_toy_panoptic(maps: dict[str, torch.Tensor]) -> plt.Figure:
    """Small panoptic maps drawn cell by cell, each cell marked with its class id ("v" for void), with a key.

    Args:
        maps: title -> (H, W) panoptic ids (``class * 1000 + instance``, 0 = void), a few pixels each.

    Returns:
        the matplotlib figure.
    """
    fig, axes = plt.subplots(1, len(maps), figsize=(3.2 * len(maps), 3.0), squeeze=False)
    key: dict[str, tuple] = {}
    for ax, (name, m) in zip(axes[0], maps.items()):
        pic = colour_panoptic(m)  # (H, W, 3) uint8
        ax.imshow(pic, interpolation="nearest")
        for (y, x), v in zip(torch.cartesian_prod(torch.arange(m.shape[0]), torch.arange(m.shape[1])).tolist(),
                             m.flatten().tolist()):
            colour = tuple(pic[y, x].tolist())
            ink = [c / 255 for c in text_colour(colour)]
            ax.text(x, y, v // LABEL_DIVISOR if v else "v", ha="center", va="center", fontsize=8, color=ink)
            what = ("v = void (unlabelled)" if v == 0 else
                    f"{v // LABEL_DIVISOR} = {CLASSES[v // LABEL_DIVISOR]}"
                    + (f" (segment {v})" if v // LABEL_DIVISOR in THINGS else ""))
            key.setdefault(what, tuple(c / 255 for c in colour))
        ax.set_xticks([x - 0.5 for x in range(1, m.shape[1])], minor=True)
        ax.set_yticks([y - 0.5 for y in range(1, m.shape[0])], minor=True)
        ax.grid(which="minor", color="0.6", lw=0.5)
        ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
        ax.set_title(name, fontsize=9)
    handles = [Patch(facecolor=c, edgecolor="0.4", label=label) for label, c in sorted(key.items())]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 3), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06 * ((len(handles) + 2) // 3), 1, 1))
    return fig
