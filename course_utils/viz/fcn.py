"""Lesson 02 figures: receptive fields growing layer by layer, and ways of getting back to full size."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from .axes import axes_or_figure
from .scenes import hwc


def _np(x):
    """A tensor as a NumPy array for matplotlib (other values unchanged)."""
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x


def _off(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def input_gradient(model: torch.nn.Module, image: torch.Tensor, point: tuple[int, int], stage: int) -> torch.Tensor:
    """How much each input pixel affects one feature position after encoder stage ``stage`` (|d out / d in|).

    Args:
        model: an ``FCN`` (its ``stages``).
        image: float (3, H, W), H and W multiples of 32.
        point: (row, col) in input pixels; the feature cell covering it is used.
        stage: 1..5 (stride 2**stage).

    Returns:
        float (H, W) gradient magnitude, summed over colour channels and feature channels.
    """
    x = image[None].clone().requires_grad_(True)  # (1, 3, H, W)
    was_training = model.training
    model.eval()
    feats = x
    for s in model.stages[:stage]:
        feats = s(feats)
    stride = 2 ** stage
    cy, cx = point[0] // stride, point[1] // stride
    feats[0, :, cy, cx].abs().sum().backward()
    model.train(was_training)
    return x.grad[0].abs().sum(0)  # (H, W)


def show_receptive_fields(model: torch.nn.Module, image: torch.Tensor, point: tuple[int, int] = (64, 64)):
    """One panel per encoder stage: the theoretical receptive field (square) and the input pixels that matter.

    Args:
        model: an ``FCN`` (untrained is fine: the receptive field is a property of the architecture).
        image: float (3, H, W), H and W multiples of 32.
        point: (row, col) of the output position to follow.

    Returns:
        the matplotlib figure.
    """
    from ..models.fcn import receptive_field_table

    table = [r for r in receptive_field_table(model.config) if r["layer"].endswith("pool")]
    fig, axes = plt.subplots(1, len(table), figsize=(3 * len(table), 3.3))
    for k, (ax, row) in enumerate(zip(axes, table), start=1):
        grad = input_gradient(model, image, point, k)
        ax.imshow(_np(hwc(image)), alpha=0.45)
        ax.imshow(_np((grad / grad.max().clamp(min=1e-12)).sqrt()), cmap="magma", alpha=0.65)
        r = row["receptive_field"]
        stride = row["stride"]
        # the feature cell covering `point` starts at pixel (point // stride) * stride
        cy = (point[0] // stride) * stride + (stride - 1) / 2
        cx = (point[1] // stride) * stride + (stride - 1) / 2
        ax.add_patch(plt.Rectangle((cx - r / 2, cy - r / 2), r, r, fill=False, ec="cyan", lw=1.5))
        ax.set_xlim(-0.5, image.shape[-1] - 0.5)
        ax.set_ylim(image.shape[-2] - 0.5, -0.5)
        ax.set_title(f"after stage {k}: stride {stride}\nreceptive field {r} px", fontsize=9)
        _off(ax)
    fig.suptitle("bright = input pixels that change this position's features; square = theoretical receptive field",
                 fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


def plot_receptive_field_growth(table: list[dict], ax=None, object_sizes: tuple[int, int] | None = (14, 57)):
    """Receptive field (px) after every layer, against the size range of objects in the scenes.

    Args:
        table: ``models.fcn.receptive_field_table(config)``.
        ax: axes to draw in.
        object_sizes: (smallest, largest) object diameter in px, shaded for comparison.

    Returns:
        the matplotlib figure.
    """
    fig, ax = axes_or_figure(ax, figsize=(8, 3))
    names = [r["layer"] for r in table]
    ax.plot(range(len(table)), [r["receptive_field"] for r in table], "o-", label="receptive field")
    ax.plot(range(len(table)), [r["stride"] for r in table], "s--", label="stride (distance between outputs)")
    if object_sizes:
        ax.axhspan(*object_sizes, color="orange", alpha=0.2, label="object sizes in the shapes world")
    ax.set_xticks(range(len(table)), names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("pixels")
    ax.set_yscale("log", base=2)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def show_upsampling(scores: torch.Tensor, factor: int = 8, title: str = "class score"):
    """One coarse score map brought back to full size by nearest, bilinear and transposed convolution.

    Args:
        scores: float (h, w), e.g. a downsampled class mask or a class's logits at stride ``factor``.
        factor: the upsampling factor.
        title: what the map is.

    Returns:
        the matplotlib figure: coarse | nearest | bilinear | transposed conv (bilinear init).
    """
    from ..models.fcn import bilinear_upsampler

    x = scores[None, None].float()  # (1, 1, h, w)
    with torch.no_grad():
        panels = [
            (f"{title} at stride {factor}: {tuple(scores.shape)}", scores),
            ("nearest", F.interpolate(x, scale_factor=factor, mode="nearest")[0, 0]),
            ("bilinear (F.interpolate)", F.interpolate(x, scale_factor=factor, mode="bilinear",
                                                       align_corners=False)[0, 0]),
            ("transposed conv, bilinear init", bilinear_upsampler(1, factor)(x)[0, 0]),
        ]
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
    for ax, (name, pic) in zip(axes, panels):
        ax.imshow(_np(pic), cmap="viridis", interpolation="nearest")
        ax.set_title(f"{name}\n{tuple(pic.shape)}", fontsize=9)
        _off(ax)
    fig.tight_layout()
    return fig


def show_checkerboard(size: int = 8):
    """Checkerboard artefacts: a transposed conv whose kernel size is not a multiple of its stride.

    A constant input is upsampled x2 by transposed convolutions with all-ones kernels: with
    kernel 3 / stride 2 some output pixels receive two kernel taps and others one, so even a
    flat input comes out striped; kernel 4 / stride 2 (and the bilinear kernel) cover every output
    pixel evenly.

    Args:
        size: side of the constant input.

    Returns:
        the matplotlib figure.
    """
    from ..models.fcn import bilinear_upsampler

    x = torch.ones(1, 1, size, size)
    with torch.no_grad():
        k3 = F.conv_transpose2d(x, torch.ones(1, 1, 3, 3), stride=2, padding=1)[0, 0]
        k4 = F.conv_transpose2d(x, torch.ones(1, 1, 4, 4) / 4, stride=2, padding=1)[0, 0]
        bil = bilinear_upsampler(1, 2)(x)[0, 0]
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
    for ax, (name, pic) in zip(axes, [("kernel 3, stride 2 (all ones)", k3), ("kernel 4, stride 2 (all 1/4)", k4),
                                      ("kernel 4, stride 2 (bilinear)", bil)]):
        im = ax.imshow(_np(pic), cmap="gray", interpolation="nearest")
        ax.set_title(f"{name}\nvalues {float(pic[2:-2, 2:-2].min()):.2f} to {float(pic[2:-2, 2:-2].max()):.2f}"
                     " inside", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046)
        _off(ax)
    fig.suptitle(f"x2 transposed convolutions of a CONSTANT {size}x{size} input", fontsize=10)
    fig.tight_layout()
    return fig


def show_context_windows(image: torch.Tensor, point: tuple[int, int], sizes: tuple[int, ...] = (1, 3, 9, 33, 65)):
    """What a model sees around one pixel for growing windows: 1 x 1 is lesson 01's per-pixel view.

    Args:
        image: float (3, H, W).
        point: (row, col) of the pixel.
        sizes: window sides (odd), e.g. receptive fields.

    Returns:
        the matplotlib figure, one panel per window (zoomed to the same display size).
    """
    h, w = image.shape[-2:]
    fig, axes = plt.subplots(1, len(sizes), figsize=(2.4 * len(sizes), 2.7))
    for ax, s in zip(axes, sizes):
        r = s // 2
        y0, y1 = max(point[0] - r, 0), min(point[0] + r + 1, h)
        x0, x1 = max(point[1] - r, 0), min(point[1] + r + 1, w)
        ax.imshow(_np(hwc(image[:, y0:y1, x0:x1])), interpolation="nearest")
        ax.set_title(f"{s} x {s} window", fontsize=9)
        _off(ax)
    fig.suptitle(f"what a model sees around pixel {tuple(point)}", fontsize=10)
    fig.tight_layout()
    return fig


def show_edge_filters(image: torch.Tensor):
    """A 3 x 3 convolution as a feature detector: vertical and horizontal edge kernels applied to a scene.

    Args:
        image: float (3, H, W).

    Returns:
        the matplotlib figure: image | vertical edges | horizontal edges | edge strength.
    """
    grey = image.mean(0, keepdim=True)[None]  # (1, 1, H, W)
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])  # Sobel: left/right differences
    with torch.no_grad():
        padded = F.pad(grey, (1, 1, 1, 1), mode="replicate")  # no fake edges at the border
        gx = F.conv2d(padded, kx[None, None])[0, 0]
        gy = F.conv2d(padded, kx.T[None, None])[0, 0]
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.3))
    strength = (gx ** 2 + gy ** 2).sqrt()
    panels = [("image", hwc(image), None), ("vertical edges (kernel below)", gx, "RdBu"),
              ("horizontal edges (kernel transposed)", gy, "RdBu"), ("edge strength", strength, "gray")]
    for ax, (name, pic, cmap) in zip(axes, panels):
        if cmap == "RdBu":
            lim = float(pic.abs().max())
            ax.imshow(_np(pic), cmap=cmap, vmin=-lim, vmax=lim)
        else:
            ax.imshow(_np(pic), cmap=cmap)
        ax.set_title(name, fontsize=9)
        _off(ax)
    axes[1].text(0.02, -0.08, "kernel [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]", transform=axes[1].transAxes,
                 fontsize=8, va="top")
    fig.tight_layout()
    return fig


def show_fcn_diagram(variant: str = "8s", channels: tuple[int, ...] = (8, 24, 48, 96, 128), size: int = 128):
    """A schematic of an FCN: encoder stages with their strides and sizes, score layers, skips, upsampling.

    Args:
        variant: "32s", "16s" or "8s".
        channels: encoder widths.
        size: input side, to print feature sizes.

    Returns:
        the matplotlib figure.
    """
    fig, ax = plt.subplots(figsize=(12, 3.8))
    ax.set_xlim(0, 12.5)
    ax.set_ylim(-0.3, 4.2)
    ax.axis("off")
    heights = [3.0, 2.5, 2.0, 1.5, 1.1]
    xs = [0.7 + 1.35 * i for i in range(5)]
    ax.add_patch(plt.Rectangle((0.0, 0.5), 0.35, 3.0, color="#bbb"))
    ax.text(0.17, 0.4, f"image\n{size}x{size}", ha="center", va="top", fontsize=8)
    for i, (x, hgt, ch) in enumerate(zip(xs, heights, channels)):
        ax.add_patch(plt.Rectangle((x, 2.0 - hgt / 2), 0.85, hgt, color=plt.cm.Blues(0.35 + 0.12 * i)))
        st = 2 ** (i + 1)
        ax.text(x + 0.42, 2.0, f"stage {i + 1}\n{ch} ch\nstride {st}\n{size // st}x{size // st}", ha="center",
                va="center", fontsize=7, color="white" if i > 1 else "black")
        ax.annotate("", (x, 2.0), (x - 0.5 + (0.15 if i == 0 else 0), 2.0), arrowprops={"arrowstyle": "->"})
    score_x = 7.6
    lanes = {32: 3.7, 16: 0.35, 8: -0.1}  # y of the line from each stage to its score layer
    strides = {"32s": [32], "16s": [32, 16], "8s": [32, 16, 8]}[variant]
    for stride in strides:
        stage = {32: 4, 16: 3, 8: 2}[stride]
        x_mid = xs[stage] + 0.42
        y_box = 2.0 + heights[stage] / 2 if stride == 32 else 2.0 - heights[stage] / 2
        colour = "black" if stride == 32 else "tab:orange"
        ax.plot([x_mid, x_mid, score_x - 0.1], [y_box, lanes[stride], lanes[stride]], color=colour, lw=1.2)
        ax.annotate("", (score_x, lanes[stride]), (score_x - 0.15, lanes[stride]),
                    arrowprops={"arrowstyle": "->", "color": colour})
        label = "1x1 conv -> class scores" if stride == 32 else "1x1 conv -> skip scores (start at 0)"
        ax.text(score_x + 0.05, lanes[stride], f"stride {stride}: {label}", fontsize=8, va="center")
    steps = ["fuse: x2 transposed conv (bilinear init), add skip"] * (len(strides) - 1)
    text = "\n".join([*steps, f"bilinear x{variant[:-1]} -> {size}x{size} logits"])
    ax.text(score_x + 0.05, 2.0, text, fontsize=8, va="center", color="tab:orange" if steps else "black")
    ax.set_title(f"FCN-{variant}", fontsize=11)
    return fig
