"""Training figures: loss and validation curves, drawn live in a notebook or once at the end."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, Locator, LogLocator, MaxNLocator

from ..data.classes import model_colour, model_style

VAL_NAMES = {"miou": "mIoU", "pixel_acc": "pixel accuracy", "things_miou": "mIoU of the thing classes",
             "boundary_miou": "boundary mIoU"}
"""Readable names of validation metrics in the curves' legends (others are shown as they are)."""


def _plain_number(value: float, _position=None) -> str:
    """A tick label in plain digits: 0.05, 2, 1000 (never "1e+03")."""
    text = f"{value:.3g}"
    return f"{value:.12f}".rstrip("0").rstrip(".") if "e" in text else text


class _PlainLogTicks(Locator):
    """Minor ticks of a log axis at 2 and 5 times each power of ten, or at a finer ladder of multiples when those
    and the powers of ten give fewer than ``at_least`` ticks in view (a loss that falls by less than a decade)."""

    LADDERS = ((2.0, 5.0), (1.5, 2.0, 3.0, 5.0, 7.0), (1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0))

    def __init__(self, at_least: int = 3):
        self.at_least = at_least

    def __call__(self):
        return self.tick_values(*self.axis.get_view_interval())

    def tick_values(self, vmin, vmax):
        vmin, vmax = sorted((float(vmin), float(vmax)))
        if not (vmin > 0 and math.isfinite(vmax)):
            return []
        lo, hi = math.floor(math.log10(vmin)), math.ceil(math.log10(vmax))
        powers = sum(vmin <= 10.0 ** e <= vmax for e in range(lo, hi + 1))
        for subs in self.LADDERS:
            ticks = [s * 10.0 ** e for e in range(lo, hi + 1) for s in subs]
            if powers + sum(vmin <= t <= vmax for t in ticks) >= self.at_least:
                break
        return ticks


def plain_log_axis(ax: plt.Axes, axis: str = "y") -> None:
    """A log-scale axis labelled in plain numbers at 1, 2 and 5 times each power of ten (0.02, 0.05, 0.1, ...).

    A loss that falls by less than a decade would otherwise show one labelled tick, or none, and
    matplotlib's labels read "2x10^0"; when 1, 2 and 5 give fewer than three labels in view, finer
    multiples (1.5, 3, 7, ...) are labelled too.

    Args:
        ax: the axes.
        axis: "y" or "x".
    """
    which = ax.yaxis if axis == "y" else ax.xaxis
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    plain = FuncFormatter(_plain_number)
    which.set_major_locator(LogLocator(base=10))
    which.set_minor_locator(_PlainLogTicks())
    which.set_major_formatter(plain)
    which.set_minor_formatter(plain)


def in_notebook() -> bool:
    """True when running inside a Jupyter kernel (where rich display works)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with the course
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def plot_history(history, axes=None, title: str | None = None):
    """Loss terms per logged step (left) and validation metrics per epoch (right).

    Args:
        history: a ``training.History`` (``steps`` and ``epochs`` lists of dicts).
        axes: two matplotlib axes to draw in (default: a new 1x2 figure).
        title: optional figure title.

    Returns:
        the matplotlib figure.
    """
    if axes is None:
        ncols = 2 if history.val_keys() else 1
        fig, axes = plt.subplots(1, ncols, figsize=(5 * ncols, 3.2), squeeze=False)
        axes = list(axes[0])
    else:
        fig = axes[0].figure
    ax_loss, ax_val = axes[0], (axes[1] if len(axes) > 1 else None)
    ax_loss.clear()
    steps = [s["step"] for s in history.steps]
    loss_keys = [k for k in (history.steps[0] if history.steps else {}) if k not in ("step", "epoch", "lr")]
    for k, key in enumerate(loss_keys):  # the course's series colours: no curve reads as a class
        ax_loss.plot(steps, [s.get(key, math.nan) for s in history.steps], model_style(k).lstrip("os^Dv"),
                     color=model_colour(k), label=key, lw=2 if key == "loss" else 1)
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("training loss")
    if any(v > 0 for s in history.steps for k, v in s.items() if k in loss_keys):
        plain_log_axis(ax_loss)
        ax_loss.set_ylabel("training loss (log scale)")
    if len(loss_keys) > 1:
        ax_loss.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # beside the curves
    ax_loss.grid(alpha=0.3)

    if ax_val is None:
        if title:
            ax_loss.set_title(title)
        fig.tight_layout()
        return fig
    ax_val.clear()
    val_keys = [k for k in history.val_keys()
                if not k.startswith(("iou_", "boundary_iou_")) and k != "elapsed_s"]
    epochs = [e["epoch"] for e in history.epochs]
    for k, key in enumerate(val_keys):
        ax_val.plot(epochs, [e.get(key, math.nan) for e in history.epochs], model_style(k), color=model_colour(k),
                    label=VAL_NAMES.get(key, key))
    ax_val.set_xlabel("epoch")
    ax_val.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_val.set_ylabel("validation score")
    if val_keys:
        ax_val.legend(fontsize=9)
    else:
        ax_val.text(0.5, 0.5, "no validation metrics", ha="center", va="center", transform=ax_val.transAxes)
    ax_val.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


class LivePlot:
    """A training-curve figure that redraws in place in a notebook; does nothing elsewhere.

    Uses ``display(fig, display_id=True)`` once and ``handle.update(fig)`` after that, so a
    notebook shows one figure that changes rather than a new figure per update.

    Args:
        enabled: set False to switch it off; it is also off outside a Jupyter kernel.
        title: figure title.
        validation: also draw a panel of validation metrics per epoch.
    """

    def __init__(self, enabled: bool = True, title: str | None = None, validation: bool = True):
        self.enabled = enabled and in_notebook()
        self.title = title
        self.validation = validation
        self.fig = None
        self.handle = None

    def update(self, history) -> None:
        """Redraw the curves of ``history``."""
        if not self.enabled or not history.steps:
            return
        from IPython.display import display

        if self.fig is None:
            ncols = 2 if self.validation else 1
            self.fig, axes = plt.subplots(1, ncols, figsize=(5 * ncols, 3.2), squeeze=False)
            self.axes = list(axes[0])
        plot_history(history, self.axes, self.title)
        if self.handle is None:
            self.handle = display(self.fig, display_id=True)
        else:
            self.handle.update(self.fig)

    def close(self) -> None:
        """Close the figure so the notebook does not draw it a second time at the end of the cell."""
        if self.fig is not None:
            plt.close(self.fig)
            self.fig = None


def compare_curves(histories: dict, key: str = "miou", ax=None):
    """One validation metric per epoch for several runs (e.g. FCN-32s vs FCN-8s).

    Args:
        histories: run name -> ``History``.
        key: the validation metric to plot.
        ax: axes to draw in (default: a new figure).

    Returns:
        the matplotlib figure.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.2))
    else:
        fig = ax.figure
    for k, (name, h) in enumerate(histories.items()):
        ax.plot([e["epoch"] for e in h.epochs], [e.get(key, math.nan) for e in h.epochs], model_style(k, name),
                color=model_colour(k, name), label=name)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"validation {VAL_NAMES.get(key, key)}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
