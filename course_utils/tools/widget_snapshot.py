"""Static HTML snapshots of a notebook's widgets, so an exported lesson reads right without Jupyter.

An executed notebook stores each widget's last state (``metadata.widgets``), but nbconvert's HTML
needs JavaScript from a CDN to draw them: offline, progress bars and quizzes come out blank. Here
each widget view output is replaced by plain HTML built from that state: text and HTML widgets as
they are, progress bars as ``<progress>``, choices as a list with the chosen one marked, buttons
and text boxes greyed out, boxes as rows or columns. A widget that was closed (for example a
progress bar with ``leave=False``) disappears, as it does in JupyterLab. A widget output that
carries its own static form next to the widget view (``quiz.show`` adds the questions as HTML and
text) keeps that form when no state of the widget was saved.
"""

from __future__ import annotations

import copy
import html
from typing import Any

import nbformat

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_PREFIX = "IPY_MODEL_"
_ROW_BOXES = {"HBoxModel"}
_COLUMN_BOXES = {"VBoxModel", "BoxModel", "GridBoxModel", "AccordionModel", "TabModel", "StackModel"}
_CHOICES = {"RadioButtonsModel", "DropdownModel", "ToggleButtonsModel", "SelectModel", "SelectMultipleModel"}
_PROGRESS = {"FloatProgressModel", "IntProgressModel"}
_CHOSEN, _NOT_CHOSEN = "\u25c9", "\u25cb"  # fisheye and white circle, like radio buttons
_TEXT_INPUTS = {"TextModel", "TextareaModel", "FloatTextModel", "IntTextModel", "BoundedFloatTextModel"}


def _hidden(state: dict[str, Any], models: dict[str, Any]) -> bool:
    """Whether a widget's layout hides it (``display: none`` or ``visibility: hidden``)."""
    layout = models.get(str(state.get("layout", "")).removeprefix(_PREFIX), {}).get("state", {})
    return layout.get("display") == "none" or layout.get("visibility") == "hidden"


def _classes(state: dict[str, Any]) -> str:
    """The widget's own CSS classes (``add_class``), kept so a page can still be styled and searched."""
    return " ".join(["widget-snapshot", *map(str, state.get("_dom_classes", []))])


def _outputs_html(outputs: list[dict[str, Any]]) -> str:
    """HTML for the outputs an ``Output`` widget captured (text, HTML and PNG images)."""
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(f"<pre>{html.escape(str(out.get('text', '')))}</pre>")
            continue
        data = out.get("data", {})
        if "text/html" in data:
            parts.append("".join(data["text/html"]) if isinstance(data["text/html"], list) else data["text/html"])
        elif "image/png" in data:
            parts.append(f'<img src="data:image/png;base64,{str(data["image/png"]).strip()}">')
        elif "text/plain" in data:
            text = data["text/plain"]
            parts.append(f"<pre>{html.escape(''.join(text) if isinstance(text, list) else text)}</pre>")
        elif out.get("output_type") == "error":
            parts.append(f"<pre>{html.escape(out.get('ename', ''))}: {html.escape(out.get('evalue', ''))}</pre>")
    return "".join(parts)


def widget_html(model_id: str, models: dict[str, Any]) -> str:
    """Static HTML for one widget and its children, from the saved widget state.

    Args:
        model_id: the widget's model id (with or without the ``IPY_MODEL_`` prefix).
        models: ``metadata.widgets[WIDGET_STATE]["state"]`` of an executed notebook.

    Returns:
        an HTML fragment; empty when the widget is unknown (closed) or hidden.
    """
    model = models.get(model_id.removeprefix(_PREFIX))
    if model is None:
        return ""
    name, state = model.get("model_name", ""), model.get("state", {})
    if _hidden(state, models):
        return ""
    desc = state.get("description") or ""
    label = f"<span>{html.escape(desc)}</span> " if desc else ""
    cls = _classes(state)
    if name in _ROW_BOXES | _COLUMN_BOXES:
        direction = "row" if name in _ROW_BOXES else "column"
        inner = "".join(widget_html(str(child), models) for child in state.get("children", []))
        return f'<div class="{cls}" style="display:flex;flex-direction:{direction};gap:.5em">{inner}</div>'
    if name in ("HTMLModel", "HTMLMathModel"):
        return f'<div class="{cls}">{label}{state.get("value", "")}</div>'
    if name == "LabelModel":
        return f'<div class="{cls}">{html.escape(str(state.get("value", "")))}</div>'
    if name in _PROGRESS:
        value, top = state.get("value", 0), state.get("max", 100)
        return f'<div class="{cls}">{label}<progress value="{value}" max="{top}"></progress></div>'
    if name in _CHOICES:
        chosen = state.get("index")
        chosen = set(chosen) if isinstance(chosen, list) else {chosen}
        items = "".join(
            f"<li>{_CHOSEN if i in chosen else _NOT_CHOSEN} {html.escape(str(text))}</li>"
            for i, text in enumerate(state.get("_options_labels", []))
        )
        return f'<div class="{cls}">{label}<ul style="list-style:none;padding-left:1em">{items}</ul></div>'
    if name in ("ButtonModel", "ToggleButtonModel"):
        return f'<button class="{cls}" disabled>{html.escape(desc)}</button>'
    if name in _TEXT_INPUTS:
        value = html.escape(str(state.get("value", "")), quote=True)
        return f'<div class="{cls}">{label}<input value="{value}" disabled></div>'
    if name == "CheckboxModel":
        checked = " checked" if state.get("value") else ""
        return f'<div class="{cls}"><input type="checkbox" disabled{checked}> {html.escape(desc)}</div>'
    if name == "OutputModel":
        return f'<div class="{cls}">{_outputs_html(state.get("outputs", []))}</div>'
    return f'<div class="{cls}">{label}</div>' if label else ""


def snapshot_widgets(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose widget views are static HTML (for export); ``nb`` itself is unchanged.

    Args:
        nb: an executed notebook, with or without saved widget state.

    Returns:
        the copy, without ``metadata.widgets`` and without widget-view outputs.
    """
    out = copy.deepcopy(nb)
    models = out.metadata.pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in out.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                kept.append(output)
                continue
            fragment = widget_html(str(view.get("model_id", "")), models)
            static = {k: v for k, v in output["data"].items() if k != WIDGET_VIEW}
            if fragment:
                kept.append(nbformat.v4.new_output("display_data", data={"text/html": fragment}))
            elif set(static) - {"text/plain"}:  # no saved state, but the output brought its own static form
                kept.append(nbformat.v4.new_output("display_data", data=static))
        cell.outputs = kept
    return out
