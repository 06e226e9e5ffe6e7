"""Training progress bars that leave a readable static copy behind.

In JupyterLab ``tqdm.auto`` draws a widget; a viewer that ignores widget state (GitHub, a plain
``.ipynb`` reader) shows the text the widget was first displayed with instead, which is "0%" for a
bar that starts empty. ``training_bar`` displays the widget under a display id and ``close_bar``
sends it once more when training ends, so that text becomes the final state ("100% ... 500/500").
Outside Jupyter both are plain ``tqdm`` calls.

    bar = training_bar(total=500)
    ...  # bar.update(1) per step
    close_bar(bar)
"""

from __future__ import annotations


def training_bar(total: int, desc: str = "training", enabled: bool = True):
    """A ``tqdm.auto`` bar of ``total`` steps that stays after it closes (``leave=True``); disabled when not enabled."""
    from tqdm.auto import tqdm
    from tqdm.notebook import tqdm as notebook_tqdm

    if enabled and issubclass(tqdm, notebook_tqdm):  # a Jupyter kernel with widgets
        from IPython.display import display

        bar = tqdm(total=total, desc=desc, leave=True, display=False)
        bar.course_display = display(bar.container, display_id=True)
        return bar
    return tqdm(total=total, desc=desc, disable=not enabled, leave=True)


def close_bar(bar) -> None:
    """Close ``bar`` and, for a notebook widget, refresh its static text to the final state."""
    bar.close()
    handle = getattr(bar, "course_display", None)
    if handle is not None:
        handle.update(bar.container)
