"""The opening every figure function with an ``ax`` argument shares: draw into it, or make a figure."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt


def axes_or_figure(ax: Any, figsize: tuple[float, float], nrows: int = 1, ncols: int = 1) -> tuple[plt.Figure, Any]:
    """The figure of the given axes, or a new figure and its axes when ``ax`` is None.

    Args:
        ax: one ``plt.Axes``, a sequence of axes (their figure is the first one's), or None.
        figsize: (width, height) in inches of the new figure; unused when ``ax`` is given.
        nrows, ncols: the grid of axes of the new figure (``plt.subplots``).

    Returns:
        ``(figure, ax)``: ``ax`` unchanged when given, else the new figure's axes (one ``plt.Axes``
        for a 1 x 1 grid, else the array ``plt.subplots`` returns).
    """
    if ax is None:
        return plt.subplots(nrows, ncols, figsize=figsize)
    return (ax.figure if hasattr(ax, "figure") else ax[0].figure), ax
