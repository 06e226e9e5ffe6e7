"""Figures and a click viewer for the promptable segmenter: click on a scene, see the mask it returns.

* ``ClickViewer`` / ``click_viewer``: the interactive viewer for JupyterLab. The scene is an
  ``ipywidgets.Image``; ``ipyevents`` reports the mouse clicks on it. A click adds a positive click
  (shift-click, or the "not this" toggle, adds a negative one), the mask is redrawn, a status line
  says what was clicked and how big the mask is. The image embedding is computed once per scene, so
  a click only runs the light prompt path.
* ``show_prompt_examples``: the static stand-in (an exported or non-interactive lesson): a few scenes,
  one click per segment, each mask with its IoU.
* ``plot_click_ious`` and ``show_worst_clicks``: the distribution of per-segment IoUs after one and two
  clicks, and the cases where one click did worst.

Colours: the returned mask is ``PROMPT_COLOUR`` (no class or instance uses it), the true segment's
outline ``BOUNDARY_COLOUR``; clicks are a white plus ("this") or a black minus ("not this").
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.ndimage import binary_erosion

from ..metrics.prompting import segment_masks
from ..models.promptable import NEGATIVE, PADDING, POSITIVE, PromptableSegmenter
from .colours import BOUNDARY_COLOUR, PROMPT_COLOUR
from .scenes import hwc

_ALPHA = 0.6  # opacity of the mask overlay: the scene stays readable underneath (the mask's edge is drawn opaque)


def overlay_mask(image: np.ndarray, mask: np.ndarray | None, outline: np.ndarray | None = None) -> np.ndarray:
    """A scene with a mask painted over it in ``PROMPT_COLOUR`` (and a true segment's outline in ``BOUNDARY_COLOUR``).

    Args:
        image: (H, W, 3) float in [0, 1].
        mask: (H, W) bool or None.
        outline: (H, W) bool true segment whose edge is drawn, or None.

    Returns:
        (H, W, 3) float in [0, 1].
    """
    out = np.asarray(image.numpy() if isinstance(image, torch.Tensor) else image, dtype=np.float32).copy()
    if mask is not None and mask.any():
        colour = np.asarray(PROMPT_COLOUR, np.float32) / 255
        out[mask] = (1 - _ALPHA) * out[mask] + _ALPHA * colour
        out[mask & ~binary_erosion(mask)] = colour  # over a coloured object the blend alone is hard to read
    if outline is not None and outline.any():
        edge = outline & ~binary_erosion(outline)
        out[edge] = np.asarray(BOUNDARY_COLOUR, np.float32) / 255
    return out


def draw_clicks(ax: plt.Axes, clicks: Sequence[Sequence[float]], size: float = 9) -> None:
    """Clicks as markers: positive = white plus with a black edge, negative = black minus with a white edge.

    Args:
        ax: the axes showing the image (pixel coordinates).
        clicks: rows (row, col, label); padding rows (label -1) are skipped.
        size: marker size in points.
    """
    for row, col, label in clicks:
        if int(label) == PADDING:
            continue
        positive = int(label) == POSITIVE
        ax.plot(col, row, marker="P" if positive else "_", ms=size if positive else size * 1.3,
                mfc="white" if positive else "black", mec="black" if positive else "white",
                mew=1.0 if positive else 3.5, ls="none")
        if not positive:  # a minus drawn twice: a wide white stroke under a black one reads on any background
            ax.plot(col, row, marker="_", ms=size * 1.2, mec="black", mew=2.0, ls="none")


class ClickViewer:
    """Click on a scene, see the mask: the model's embedding once per scene, the prompt path per click.

    Args:
        model: a trained ``PromptableSegmenter``.
        scenes: shapes-world scenes to choose from (ground truth is used only to name what was clicked).
        device: where the model runs (default: its parameters' device).
        scale: the image is shown this many times larger than the scene.
    """

    def __init__(self, model: PromptableSegmenter, scenes: Sequence[dict], device: torch.device | str | None = None,
                 scale: int = 3):
        if len(scenes) == 0:
            raise ValueError("ClickViewer needs at least one scene")
        self.model, self.scenes, self.scale = model.eval(), list(scenes), int(scale)
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self._embeddings: dict[int, dict[str, torch.Tensor]] = {}
        self.index = 0
        self.clicks: list[tuple[int, int, int]] = []
        self.logits: torch.Tensor | None = None  # (1, 1, H, W) of the last prediction: the next click's mask prompt
        self.mask: np.ndarray | None = None
        self.status_text = "Click on an object or on the sky, grass or water."
        self.widget = None
        self._image_widget = self._status_widget = self._negative = None

    def embedding(self, index: int) -> dict[str, torch.Tensor]:
        """The image embedding of scene ``index``, computed on first use and then reused."""
        if index not in self._embeddings:
            with torch.no_grad():
                self._embeddings[index] = self.model.embed(self.scenes[index]["image"][None].to(self.device))
        return self._embeddings[index]

    def what_is_at(self, row: int, col: int) -> str:
        """The ground-truth segment under a pixel, in words ("circle 2", "sky")."""
        scene = self.scenes[self.index]
        seg_id = int(scene["panoptic"][row, col])
        _, infos = segment_masks(scene)
        return next((i["name"] for i in infos if i["id"] == seg_id), "void")

    def click(self, row: int, col: int, negative: bool = False) -> np.ndarray | None:
        """Add a click and redraw: what an ipyevents click on the image calls (also callable directly).

        Args:
            row, col: the pixel in scene coordinates.
            negative: a "not this" click (the first click of a prompt is always positive).

        Returns:
            the new (H, W) bool mask (None when the click was refused).
        """
        H, W = self.scenes[self.index]["image"].shape[-2:]
        if not (0 <= row < H and 0 <= col < W):
            self._set_status(f"({row}, {col}) is outside the {H}x{W} scene: click on the image.")
            return None
        if negative and not any(label == POSITIVE for _, _, label in self.clicks):
            self._set_status("Start with a positive click (\"this\"); a negative click corrects a mask.")
            return None
        self.clicks.append((int(row), int(col), NEGATIVE if negative else POSITIVE))
        with torch.no_grad():
            clicks = torch.tensor([self.clicks], dtype=torch.float32, device=self.device)  # (1, K, 3)
            self.logits = self.model.decode(self.embedding(self.index), clicks, mask_prompt=self.logits)
        self.mask = (self.logits[0, 0] > 0).cpu().numpy()
        kind = "negative" if negative else "positive"
        area = int(self.mask.sum())
        self._set_status(f"{kind} click at (row {row}, col {col}) on {self.what_is_at(row, col)}: mask of {area} px "
                         f"({100 * area / (H * W):.1f}% of the scene), {len(self.clicks)} click(s)")
        self.redraw()
        return self.mask

    def reset(self, *_) -> None:
        """Forget the clicks and the mask of the current scene."""
        self.clicks, self.logits, self.mask = [], None, None
        self._set_status("Clicks cleared. Click on an object or on the sky, grass or water.")
        self.redraw()

    def show(self, index: int) -> None:
        """Switch to scene ``index`` (its embedding is computed once, here or on the first click)."""
        self.index = int(index)
        self.reset()

    def render(self) -> np.ndarray:
        """The current view as an (H * scale, W * scale, 3) uint8 image: scene, mask and click markers."""
        img = overlay_mask(hwc(self.scenes[self.index]["image"]), self.mask)
        big = np.kron((img * 255).round().astype(np.uint8), np.ones((self.scale, self.scale, 1), np.uint8))
        r = 2 * self.scale + 2
        for row, col, label in self.clicks:
            y, x = int((row + 0.5) * self.scale), int((col + 0.5) * self.scale)
            ys, xs = slice(max(y - r, 0), y + r + 1), slice(max(x - r, 0), x + r + 1)
            fill, ink = ((255, 255, 255), (0, 0, 0)) if label == POSITIVE else ((0, 0, 0), (255, 255, 255))
            big[ys, xs] = ink  # a square badge with a border ...
            big[max(y - r + 1, 0):y + r, max(x - r + 1, 0):x + r] = fill
            big[max(y - 1, 0):y + 2, max(x - r + 3, 0):x + r - 2] = ink  # ... a minus ...
            if label == POSITIVE:
                big[max(y - r + 3, 0):y + r - 2, max(x - 1, 0):x + 2] = ink  # ... and a plus
        return big

    def png(self) -> bytes:
        """``render()`` as PNG bytes (what the image widget shows)."""
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(self.render()).save(buf, format="png")
        return buf.getvalue()

    def redraw(self) -> None:
        """Push the current view to the image widget (when the widget is shown)."""
        if self._image_widget is not None:
            self._image_widget.value = self.png()

    def _ipython_display_(self) -> None:
        """Show the widget when the viewer is a cell's last line."""
        from IPython.display import display

        display(self.widget if self.widget is not None else self.status_text)

    def _set_status(self, text: str) -> None:
        self.status_text = text
        if self._status_widget is not None:
            self._status_widget.value = text

    def _on_event(self, event: dict) -> None:
        """ipyevents' click on the image: its pixel, shift or the toggle for a negative click."""
        x, y = event.get("dataX", event.get("relativeX")), event.get("dataY", event.get("relativeY"))
        if x is None or y is None:
            return
        negative = bool(event.get("shiftKey")) or bool(self._negative is not None and self._negative.value)
        self.click(int(y) // self.scale, int(x) // self.scale, negative=negative)

    def build(self):
        """The widget: scene chooser, "not this" toggle, reset button, the image and the status line.

        Returns:
            an ipywidgets ``VBox``, or None (with a sentence) when ipywidgets is missing.
        """
        try:
            import ipywidgets as widgets
        except ImportError:
            print("ipywidgets is not installed: use show_prompt_examples for the static figure.")
            return None
        H, W = self.scenes[self.index]["image"].shape[-2:]
        self._image_widget = widgets.Image(value=self.png(), format="png", width=str(W * self.scale),
                                           height=str(H * self.scale))  # natural size: a pixel is a pixel
        self._image_widget.add_class("prompt-viewer-image")
        self._status_widget = widgets.HTML(value=self.status_text)
        self._status_widget.add_class("prompt-viewer-status")
        self._negative = widgets.ToggleButton(value=False, description="not this (negative)",
                                              tooltip="next clicks are negative (or hold shift while clicking)")
        reset = widgets.Button(description="reset clicks")
        reset.add_class("prompt-viewer-reset")
        reset.on_click(self.reset)
        scene = widgets.IntSlider(value=self.index, min=0, max=len(self.scenes) - 1, description="scene",
                                  continuous_update=False)
        scene.observe(lambda change: self.show(change["new"]), names="value")
        try:
            from ipyevents import Event
        except ImportError:
            self._set_status("ipyevents is not installed (pip install ipyevents): clicks cannot reach Python; "
                             "call viewer.click(row, col) instead.")
        else:
            self._events = Event(source=self._image_widget, watched_events=["click"])
            self._events.on_dom_event(self._on_event)
        self.widget = widgets.VBox([widgets.HBox([scene, self._negative, reset]), self._image_widget,
                                    self._status_widget])
        return self.widget


def click_viewer(model: PromptableSegmenter, scenes: Sequence[dict], device: torch.device | str | None = None,
                 scale: int = 3) -> ClickViewer:
    """Build the interactive click viewer; show it with ``display(viewer.widget)`` or as a cell's last line.

    Args:
        model: a trained ``PromptableSegmenter``.
        scenes: scenes to choose from.
        device: where the model runs (default: its device).
        scale: display magnification.

    Returns:
        the ``ClickViewer`` (its ``widget`` is the ipywidgets box; it shows itself as a cell's last line).
    """
    viewer = ClickViewer(model, scenes, device, scale)
    viewer.build()
    return viewer

