"""Lesson 11's augmentation figure: one sample and its jointly augmented variants, masks and boxes drawn."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..data.augment import augment_sample, default_augmentation
from .axes import axes_or_figure
from .scenes import draw_instances, hwc


def augmented_variants(image: torch.Tensor, target: dict, n: int = 8, seed: int = 0,
                       transforms=None) -> list[tuple[torch.Tensor, dict]]:
    """``n`` augmented variants of one sample, the same ones for the same seed.

    Args:
        image: float (3, H, W) in [0, 1].
        target: ``boxes`` (N, 4) xyxy, ``labels`` (N,), ``masks`` (N, H, W).
        n: number of variants.
        seed: seed of the random transforms (torch's global random state is left as it was).
        transforms: the pipeline (default ``data.augment.default_augmentation`` for the image's size).

    Returns:
        ``n`` (image, target) pairs from ``data.augment.augment_sample`` (``target["kept"]``: which
        of the original objects each one is).
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    transforms = transforms or default_augmentation(int(image.shape[-1]))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return [augment_sample(image, target, transforms) for _ in range(int(n))]


def show_augmentations(image: torch.Tensor, target: dict, n: int = 8, seed: int = 0, transforms=None,
                       class_names: Sequence[str] | None = None, scale: int = 3, ax=None) -> plt.Figure:
    """One sample and ``n`` augmented variants of it, each with its masks, boxes and class names.

    Image, masks and boxes are transformed together (``data.augment``). Every object keeps its
    instance colour (the instance palette, never a class colour) in every panel, so one can follow
    it through flips, zooms and crops; a panel's title says how many objects a crop dropped.

    Args:
        image: float (3, H, W) in [0, 1].
        target: ``boxes`` (N, 4) xyxy, ``labels`` (N,), ``masks`` (N, H, W).
        n: number of variants.
        seed: seed of the variants.
        transforms: the pipeline (default ``data.augment.default_augmentation``).
        class_names: the name of each label (a COCO dataset's ``class_names``; default the course's).
        scale: enlarge each picture by this factor so that labels stay legible.
        ax: ``n + 1`` axes to draw into (default: a new figure, three panels per row).

    Returns:
        the figure.
    """
    variants = augmented_variants(image, target, n, seed, transforms)
    cols = 3 if n + 1 <= 9 else 4
    rows = math.ceil((n + 1) / cols)
    fig, axes = axes_or_figure(ax, (3.2 * cols, 3.4 * rows), rows, cols)
    axes = list(np.ravel(axes))
    if len(axes) < n + 1:
        raise ValueError(f"show_augmentations needs {n + 1} axes, got {len(axes)}")
    total = len(target["labels"])
    panels = [(image, {**target, "kept": torch.arange(total)}, f"original: {total} objects")]
    for k, (img, t) in enumerate(variants, 1):
        dropped = total - len(t["labels"])
        title = f"variant {k}: {len(t['labels'])} objects" + (f", {dropped} dropped" if dropped else "")
        panels.append((img, t, title))
    for a, (img, t, title) in zip(axes, panels):
        a.imshow(hwc(draw_instances(img, t["masks"], t["boxes"], t["labels"], scale=scale, class_names=class_names,
                                    colour_ids=t["kept"].tolist())))
        a.set_title(title, fontsize=9)
        a.axis("off")
    for a in axes[n + 1:]:
        a.axis("off")
    fig.suptitle("Joint augmentation: flips, scale jitter with a crop, colour jitter; boxes refit to the masks",
                 fontsize=10)
    fig.tight_layout()
    return fig
