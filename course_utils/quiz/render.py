"""Turning question and feedback Markdown into HTML for the widgets."""

from __future__ import annotations

import html
import re

from .grading import Feedback

__all__ = ["md_to_html", "md_inline", "feedback_html", "strip_p", "STATUS_CLASS"]

STATUS_CLASS = {"correct": "quiz-correct", "wrong": "quiz-wrong", "invalid": "quiz-invalid", "open": "quiz-open"}
_COLOURS = {"correct": ("#e6f4ea", "#1e7e34"), "wrong": ("#fdecea", "#b02a37"), "invalid": ("#fff4e5", "#8a5300"),
            "open": ("#e8f0fe", "#1a4d8f")}


def md_to_html(text: str) -> str:
    """Markdown to HTML (mistune when installed, else paragraphs with inline code and emphasis)."""
    try:
        import mistune

        return str(mistune.html(text)).strip()
    except Exception:  # noqa: BLE001 - no mistune: a small fallback is enough for question text
        paras = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
        return "".join(f"<p>{md_inline(p).replace(chr(10), '<br>')}</p>" for p in paras)


def md_inline(text: str) -> str:
    """Inline Markdown (code, bold, italics) to HTML, everything else escaped."""
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)
    out = re.sub(r"(?<![*\w])\*([^*\s][^*]*)\*(?!\w)", r"<i>\1</i>", out)
    return out


def strip_p(fragment: str) -> str:
    """Drop the <p> wrapper of a one-paragraph HTML fragment, so it can sit inline."""
    if fragment.startswith("<p>") and fragment.endswith("</p>") and fragment.count("<p>") == 1:
        return fragment[3:-4]
    return fragment


def feedback_html(fb: Feedback) -> str:
    """The feedback box: coloured headline, one line per detail, the rubric as a self-check list."""
    bg, fg = _COLOURS[fb.status]
    icons = {"right": "✓", "wrong": "✗", "missed": "• missed:", "info": "", "model": ""}
    rows = []
    for mark, text, note in fb.details:
        icon = icons.get(mark, "")
        colour = {"right": "#1e7e34", "wrong": "#b02a37", "missed": "#8a5300"}.get(mark, "inherit")
        prefix = f'<span style="color:{colour};font-weight:bold">{icon}</span> ' if icon else ""
        sub = f'<div style="margin:1px 0 0 18px;color:#333">{strip_p(md_to_html(note))}</div>' if note else ""
        rows.append(f'<div style="margin:4px 0 0 4px">{prefix}{strip_p(md_to_html(text))}{sub}</div>')
    if fb.rubric:
        items = "".join(f'<li style="list-style:none">☐ {strip_p(md_to_html(p))}</li>' for p in fb.rubric)
        rows.append(f'<div style="margin:6px 0 0 4px"><b>Check your answer against these points:</b>'
                    f'<ul style="margin:2px 0 0 0;padding-left:8px">{items}</ul></div>')
    head = f'<div style="font-weight:bold;color:{fg}">{html.escape(fb.headline)}</div>'
    return (f'<div style="background:{bg};border-left:4px solid {fg};padding:6px 10px;margin-top:4px;'
            f'border-radius:3px;line-height:1.45">{head}{"".join(rows)}</div>')
