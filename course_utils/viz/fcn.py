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

    table = list({r["stage"]: r for r in receptive_field_table(model.config)}.values())  # each stage's last layer
    fig, axes = plt.subplots(1, len(table), figsize=(3 * len(table), 3.6))
    for k, (ax, row) in enumerate(zip(axes, table), start=1):
        grad = input_gradient(model, image, point, k)
        ax.imshow(_np(hwc(image)), alpha=0.45)
        heat = ax.imshow(_np((grad / grad.max().clamp(min=1e-12)).sqrt()), cmap="magma", alpha=0.65, vmin=0, vmax=1)
        r = row["receptive_field"]
        stride = row["stride"]
        # the feature cell covering `point` starts at pixel (point // stride) * stride
        cy = (point[0] // stride) * stride + (stride - 1) / 2
        cx = (point[1] // stride) * stride + (stride - 1) / 2
        ax.add_patch(plt.Rectangle((cx - r / 2, cy - r / 2), r, r, fill=False, ec="white", ls="--", lw=1.5))
        ax.set_xlim(-0.5, image.shape[-1] - 0.5)
        ax.set_ylim(image.shape[-2] - 0.5, -0.5)
        ax.set_title(f"after stage {k}: stride {stride}\nreceptive field {r} px", fontsize=9)
        _off(ax)
    fig.suptitle("bright = input pixels that change the features of the cell holding pixel "
                 f"(row {point[0]}, col {point[1]})\ndashed square = the theoretical receptive field, centred on "
                 "that cell (cut off by the image border once it is larger than the image)", fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 0.9))
    bar = fig.colorbar(heat, ax=list(axes), orientation="horizontal", fraction=0.05, pad=0.02, aspect=60)
    bar.set_label("influence on the followed position (square root of |gradient|, largest = 1)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
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
    fig, ax = axes_or_figure(ax, figsize=(9, 3.6))
    names = [r["layer"] for r in table]
    ax.plot(range(len(table)), [r["receptive_field"] for r in table], "o-", label="receptive field")
    ax.plot(range(len(table)), [r["stride"] for r in table], "s--",
            label="jump (product of the strides so far:\nthe distance between neighbouring outputs)")
    if object_sizes:
        # grey: blue and orange are the two lines
        ax.axhspan(*object_sizes, color="0.6", alpha=0.3, label="object sizes in the shapes world")
    ax.set_xticks(range(len(table)), names, rotation=45, ha="right", fontsize=9)
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
            (f"{title} at stride {factor}", scores),
            ("nearest", F.interpolate(x, scale_factor=factor, mode="nearest")[0, 0]),
            ("bilinear (F.interpolate)", F.interpolate(x, scale_factor=factor, mode="bilinear",
                                                       align_corners=False)[0, 0]),
            ("transposed conv, bilinear init", bilinear_upsampler(1, factor)(x)[0, 0]),
        ]
    low = min(float(pic.min()) for _, pic in panels)
    high = max(float(pic.max()) for _, pic in panels)
    fig, axes = plt.subplots(1, 4, figsize=(12.6, 3.2), layout="constrained")
    for ax, (name, pic) in zip(axes, panels):
        im = ax.imshow(_np(pic), cmap="viridis", interpolation="nearest", vmin=low, vmax=high)
        ax.set_title(f"{name}\n{tuple(pic.shape)}", fontsize=9)
        _off(ax)
    fig.colorbar(im, ax=list(axes), fraction=0.02, pad=0.01, label=title)
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
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
    pics = [("kernel 3, stride 2 (all ones)", k3), ("kernel 4, stride 2 (all 1/4)", k4),
            ("kernel 4, stride 2 (bilinear)", bil)]
    top = max(float(p.max()) for _, p in pics)
    for ax, (name, pic) in zip(axes, pics):
        inner = pic[1:-1, 1:-1]  # the outermost pixels get fewer taps from any kernel: not the artefact shown here
        im = ax.imshow(_np(inner), cmap="gray", interpolation="nearest", vmin=0, vmax=top)
        ax.set_title(f"{name}\nvalues {float(inner.min()):.2f} to {float(inner.max()):.2f}", fontsize=9)
        _off(ax)
    fig.suptitle(f"x2 transposed convolutions of a CONSTANT {size}x{size} input\n(one grey scale for all three; the "
                 "outermost pixel ring, which fewer stamps reach, is cut off)", fontsize=10)
    fig.tight_layout(rect=(0, 0.12, 1, 0.9))
    bar = fig.colorbar(im, ax=list(axes), orientation="horizontal", fraction=0.05, pad=0.04, aspect=60)
    bar.set_label("output value", fontsize=8)
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
            shown = ax.imshow(_np(pic), cmap=cmap, vmin=-lim, vmax=lim)
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02).set_label("filter response (0 = no edge)", fontsize=8)
        else:
            ax.imshow(_np(pic), cmap=cmap)
        ax.set_title(name, fontsize=9)
        _off(ax)
    axes[1].text(0.02, -0.08, "kernel [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]", transform=axes[1].transAxes,
                 fontsize=8, va="top")
    fig.tight_layout()
    return fig


def _node(ax, x: float, y: float, text: str, colour: str = "black", **kw) -> None:
    """A text node of the FCN diagram, on a white patch with a coloured border."""
    ax.text(x, y, text, ha="center", va="center", fontsize=8, color=colour, zorder=3,
            bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": colour, "lw": 1}, **kw)


def _arrow(ax, xy_from: tuple[float, float], xy_to: tuple[float, float], colour: str = "black") -> None:
    ax.annotate("", xy_to, xy_from, arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.3,
                                                "shrinkA": 0, "shrinkB": 0})


def show_fcn_diagram(variant: str = "8s", channels: tuple[int, ...] = (8, 24, 48, 96, 128), size: int = 128):
    """A schematic of an FCN: encoder stages with their strides and sizes, score layers, skips, upsampling.

    The decoder column on the right is read top to bottom: class scores at stride 32, then for each
    skip a x2 upsampling and an addition (+) of the skip scores, whose arrows come from the encoder.

    Args:
        variant: "32s", "16s" or "8s".
        channels: encoder widths.
        size: input side, to print feature sizes.

    Returns:
        the matplotlib figure.
    """
    fig, ax = plt.subplots(figsize=(12, 4.6))
    ax.set_xlim(0, 13)
    ax.set_ylim(0, 5.7)
    ax.axis("off")
    top, heights = 4.2, [3.0, 2.5, 2.0, 1.5, 1.1]
    xs = [0.7 + 1.35 * i for i in range(5)]
    ax.add_patch(plt.Rectangle((0.0, top - 1.5), 0.35, 3.0, color="#bbb"))
    ax.text(0.17, top - 1.6, f"image\n{size}x{size}", ha="center", va="top", fontsize=8)
    for i, (x, hgt, ch) in enumerate(zip(xs, heights, channels)):
        ax.add_patch(plt.Rectangle((x, top - hgt / 2), 0.85, hgt, color=plt.cm.Blues(0.35 + 0.12 * i)))
        st = 2 ** (i + 1)
        ax.text(x + 0.42, top, f"stage {i + 1}\n{ch} ch\nstride {st}\n{size // st}x{size // st}", ha="center",
                va="center", fontsize=7, color="white" if i > 1 else "black")
        _arrow(ax, (x - 0.35, top), (x, top))
    col = 10.0  # x of the decoder column
    _arrow(ax, (xs[4] + 0.85, top), (col - 1.25, top))
    _node(ax, col, top, f"1x1 conv: class scores\nstride 32, {size // 32}x{size // 32}")
    skips = {"32s": [], "16s": [16], "8s": [16, 8]}[variant]
    y, lanes = top - 0.35, {16: 2.5, 8: 1.5}
    for stride in skips:
        stage = {16: 3, 8: 2}[stride]
        lane = lanes[stride]
        _arrow(ax, (col, y), (col, lane + 0.2))
        ax.text(col + 0.12, (y + lane) / 2 + 0.05, "x2 transposed conv (bilinear init)", fontsize=7, va="center")
        ax.add_patch(plt.Circle((col, lane), 0.2, fill=False, ec="tab:orange", lw=1.5, zorder=3))
        ax.text(col, lane, "+", ha="center", va="center", fontsize=11, color="tab:orange", zorder=3)
        ax.text(col + 0.3, lane - 0.05, f"= fused scores, stride {stride}, {size // stride}x{size // stride}",
                fontsize=7, va="top", color="tab:orange")
        x_mid = xs[stage] + 0.42
        ax.plot([x_mid, x_mid], [top - heights[stage] / 2, lane], color="tab:orange", lw=1.3)
        _arrow(ax, (x_mid, lane), (col - 0.2, lane), colour="tab:orange")
        _node(ax, (x_mid + col) / 2 - 0.1, lane, f"skip: 1x1 conv -> scores, stride {stride} (start at 0)",
              colour="tab:orange")
        y = lane - 0.2
    _arrow(ax, (col, y), (col, 0.62))
    ax.text(col + 0.12, (y + 0.62) / 2, f"bilinear x{variant[:-1]}", fontsize=7, va="center")
    _node(ax, col, 0.4, f"logits {size}x{size}, one score per class")
    ax.set_title(f"FCN-{variant}" + (": the orange arrows are the skips" if skips else ""), fontsize=11)
    return fig
