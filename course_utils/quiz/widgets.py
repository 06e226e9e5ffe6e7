"""The JupyterLab view of a question bank: one ipywidgets box per question, feedback in an HTML widget.

Stable CSS classes, for browser tests and styling: ``quiz`` and ``quiz-lesson-NN`` on the whole bank,
``quiz-score`` on the score line; per question ``quiz-question``, ``quiz-kind-<kind>`` and
``quiz-id-<question id>`` on its box, ``quiz-prompt``, ``quiz-input``, ``quiz-check`` (or ``quiz-reveal``
for open questions), ``quiz-hint-button``, ``quiz-hint``, and ``quiz-feedback`` on the feedback, which
also carries ``quiz-correct``, ``quiz-wrong``, ``quiz-invalid`` or ``quiz-open`` after a try.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

from .bank import Bank, Question
from .grading import Feedback, letter
from .render import STATUS_CLASS, feedback_html, md_to_html, strip_p
from .session import submit
from .static import static_html, text_view

__all__ = ["build_quiz", "quiz_bundle", "WIDGET_VIEW"]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _plain(text: str) -> str:
    """Option label for a radio button / checkbox: Markdown markers removed (labels are plain text)."""
    return re.sub(r"\*\*([^*]+)\*\*", r"\1", text.replace("`", ""))


def _set_feedback(box: Any, fb: Feedback) -> None:
    for cls in STATUS_CLASS.values():
        box.remove_class(cls)
    box.add_class(STATUS_CLASS[fb.status])
    box.value = feedback_html(fb)


def _input_for(q: Question) -> tuple[Any, Callable[[], Any]]:
    """The input widget of a question and a function reading the learner's response from it."""
    import ipywidgets as w

    if q.kind == "single":
        radio = w.RadioButtons(options=[(f"{letter(i)}) {_plain(o.text)}", i) for i, o in enumerate(q.options)],
                               value=None, layout=w.Layout(width="auto"))
        radio.add_class("quiz-input")
        return radio, lambda: radio.value
    if q.kind == "multiple":
        boxes = [w.Checkbox(value=False, description=f"{letter(i)}) {_plain(o.text)}", indent=False,
                            layout=w.Layout(width="auto")) for i, o in enumerate(q.options)]
        group = w.VBox(boxes)
        group.add_class("quiz-input")
        return group, lambda: [i for i, b in enumerate(boxes) if b.value]
    if q.kind == "numeric":
        field = w.Text(placeholder="type a number", layout=w.Layout(width="14em"))
        field.add_class("quiz-input")
        row = w.HBox([field, w.HTML(html.escape(q.unit or ""))]) if q.unit else field
        return row, lambda: field.value
    if q.kind == "text":
        field = w.Text(placeholder="type a word or short phrase", layout=w.Layout(width="24em"))
        field.add_class("quiz-input")
        return field, lambda: field.value
    area = w.Textarea(placeholder="Write your answer here, then reveal the model answer.",
                      layout=w.Layout(width="95%", height="7em"))
    area.add_class("quiz-input")
    return area, lambda: area.value


def _question_box(number: int, q: Question, on_result: Callable[[Question, Feedback], None]) -> Any:
    import ipywidgets as w

    kinds = {"single": "choose one", "multiple": "choose all that apply", "numeric": "a number",
             "text": "a word or short phrase", "open": "open question: write, then compare"}
    prompt = w.HTMLMath(f'<div style="font-weight:bold;margin-bottom:2px">Question {number} '
                        f'<span style="font-weight:normal;color:#666">({kinds[q.kind]})</span></div>'
                        f"{md_to_html(q.prompt)}")
    prompt.add_class("quiz-prompt")
    field, read = _input_for(q)
    label = "Reveal model answer" if q.kind == "open" else "Check"
    check = w.Button(description=label, button_style="primary", layout=w.Layout(width="auto"))
    check.add_class("quiz-reveal" if q.kind == "open" else "quiz-check")
    feedback = w.HTMLMath("", layout=w.Layout(width="98%"))
    feedback.add_class("quiz-feedback")
    buttons = [check]
    hint_box = w.HTMLMath("")
    hint_box.add_class("quiz-hint")
    if q.hint:
        hint_button = w.Button(description="Hint", icon="lightbulb-o", layout=w.Layout(width="auto"))
        hint_button.add_class("quiz-hint-button")

        def toggle_hint(_: Any) -> None:
            hint_box.value = "" if hint_box.value else (
                f'<div style="color:#555;margin-top:4px"><b>Hint:</b> {strip_p(md_to_html(q.hint or ""))}</div>')

        hint_button.on_click(toggle_hint)
        buttons.append(hint_button)

    def on_check(_: Any) -> None:
        try:
            fb = submit(q, read())
        except Exception as err:  # noqa: BLE001 - a callback's traceback would only reach the log
            fb = Feedback("invalid", f"Something went wrong while checking ({type(err).__name__}); please try again.")
        _set_feedback(feedback, fb)
        on_result(q, fb)

    check.on_click(on_check)
    box = w.VBox([prompt, field, w.HBox(buttons), hint_box, feedback],
                 layout=w.Layout(border="1px solid #ddd", padding="6px 10px", margin="0 0 10px 0"))
    box.add_class("quiz-question")
    box.add_class(f"quiz-kind-{q.kind}")
    box.add_class(f"quiz-id-{q.id}")
    return box


def build_quiz(bank: Bank, questions: list[Question]) -> Any:
    """The widget showing ``questions`` of ``bank``, with a score line that updates as the learner answers.

    Args:
        bank: the lesson's bank (for the title).
        questions: the questions to show, in order.

    Returns:
        an ``ipywidgets.VBox`` (display it).
    """
    import ipywidgets as w

    right: set[str] = set()
    score = w.HTML()
    score.add_class("quiz-score")

    def update_score() -> None:
        score.value = (f'<span style="color:#444">Answered correctly so far: <b>{len(right)}</b> of '
                       f"{len(questions)}. Answers are saved to your progress file.</span>")

    def on_result(q: Question, fb: Feedback) -> None:
        if fb.correct:
            right.add(q.id)
        update_score()

    update_score()
    title = w.HTML(f'<h3 style="margin:0 0 4px 0">Practice questions: {html.escape(bank.title)}</h3>')
    boxes = [_question_box(i, q, on_result) for i, q in enumerate(questions, start=1)]
    root = w.VBox([title, score, *boxes], layout=w.Layout(width="100%"))
    root.add_class("quiz")
    root.add_class(f"quiz-lesson-{bank.lesson}")
    return root


def quiz_bundle(bank: Bank, questions: list[Question]) -> dict[str, Any]:
    """The quiz's output: the live widget view plus its static forms, for ``display(bundle, raw=True)``.

    JupyterLab draws the widget view; a page without live widgets shows the ``text/html`` form
    (nbconvert, GitHub) or the ``text/plain`` one, both without answers.

    Args:
        bank: the lesson's bank.
        questions: the questions to show, in order.

    Returns:
        a MIME bundle: ``application/vnd.jupyter.widget-view+json`` (the widget of :func:`build_quiz`),
        ``text/html`` and ``text/plain``.
    """
    root = build_quiz(bank, questions)
    bundle = dict(root._repr_mimebundle_() or {})  # {"text/plain": "VBox(...)", WIDGET_VIEW: {"model_id": ...}}
    bundle["text/html"] = static_html(bank, questions)
    bundle["text/plain"] = text_view(bank, questions)
    return bundle
