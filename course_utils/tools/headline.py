"""A lesson's headline metric: shown to the learner, read back by the course runner (``make course``).

A lesson calls ``headline("FCN-8s val mIoU", miou)`` once, after it has measured its main result.
In a notebook this displays one line of text and, beside it in the same output, a JSON record under
the MIME type ``application/vnd.course.headline+json``; the runner finds that record in the
executed notebook and puts the value in its summary table. Outside a notebook the line is printed.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

HEADLINE_MIME = "application/vnd.course.headline+json"


def _as_number(value: Any) -> float:
    """``value`` as a Python float; 0-d tensors and NumPy scalars are accepted."""
    if isinstance(value, bool):
        raise TypeError("headline: the value must be a number, not a bool")
    if isinstance(value, Real):
        return float(value)
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:  # 0-d tensor or NumPy scalar
        return _as_number(value.item())
    raise TypeError(f"headline: the value must be a number (or a 0-d tensor), got {type(value).__name__}")


def headline_text(name: str, value: float, unit: str = "", digits: int = 3) -> str:
    """The one line a headline shows, e.g. "Headline: FCN-8s val mIoU = 0.931".

    Args:
        name: what was measured.
        value: the measured number.
        unit: appended after the number ("s", "scenes/s", ...); empty for none.
        digits: decimals shown.

    Returns:
        the text line.
    """
    shown = f"{value:.{digits}f}" if math.isfinite(value) else str(value)
    return f"Headline: {name} = {shown}{' ' + unit if unit else ''}"


def headline_record(name: str, value: Any, unit: str = "", digits: int = 3) -> dict[str, Any]:
    """The record ``headline`` publishes, after checking its input.

    Args:
        name: what was measured, e.g. "FCN-8s val mIoU" (say which split).
        value: a number, or a 0-d tensor / NumPy scalar.
        unit: optional unit after the number.
        digits: decimals shown in the text line (the record keeps full precision).

    Returns:
        ``{"name", "value" (float, None if not finite), "unit", "text"}``.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError("headline: give the metric a name, e.g. headline('FCN-8s val mIoU', 0.93)")
    number = _as_number(value)
    return {
        "name": name.strip(),
        "value": number if math.isfinite(number) else None,  # JSON has no NaN/inf
        "unit": unit,
        "text": headline_text(name.strip(), number, unit, digits),
    }


def headline(name: str, value: Any, unit: str = "", digits: int = 3) -> None:
    """Publish the lesson's headline metric: show one line, and leave a record ``make course`` reads.

    Call it once per lesson, e.g. ``headline("FCN-8s val mIoU", miou)``.

    Args:
        name: what was measured, e.g. "FCN-8s val mIoU" (say which split).
        value: a number, or a 0-d tensor / NumPy scalar.
        unit: optional unit after the number.
        digits: decimals shown (the record keeps full precision).
    """
    record = headline_record(name, value, unit, digits)
    shell = None
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        pass
    if shell is not None and hasattr(shell, "kernel"):
        from IPython.display import display

        display({HEADLINE_MIME: record, "text/plain": record["text"]}, raw=True)
    else:
        print(record["text"])


def find_headline(notebook: dict[str, Any]) -> dict[str, Any] | None:
    """The headline record an executed notebook published (the last one, if it published several).

    Args:
        notebook: an executed notebook (``nbformat.NotebookNode`` or the plain JSON dict).

    Returns:
        the record ``{"name", "value", "unit", "text"}``, or None when the lesson published none.
    """
    found = None
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            record = output.get("data", {}).get(HEADLINE_MIME)
            if isinstance(record, dict) and "name" in record:
                found = dict(record)
    return found
