"""Static forms of a question bank: the questions as plain text and as HTML, never with their answers.

The text form is what ``quiz.show`` prints outside Jupyter. Both forms also travel with the widget
view inside the same output (``quiz_bundle``), so a page without live widgets (GitHub, nbconvert
HTML, an executed copy opened without its kernel) shows the questions instead of ``VBox(...)``.
"""

from __future__ import annotations

import html

from .bank import Bank, Question
from .grading import letter
from .render import md_inline, md_to_html, strip_p

__all__ = ["KIND_WORDS", "how_to_answer", "text_view", "static_html"]

KIND_WORDS = {"single": "choose one", "multiple": "choose all that apply", "numeric": "a number",
              "text": "a word or short phrase", "open": "open question"}


def how_to_answer(q: Question) -> str:
    """The ``quiz.answer`` call that answers ``q`` outside the widgets, with a placeholder answer.

    Args:
        q: the question.

    Returns:
        Python source such as ``quiz.answer("00-image-shape", "<letter>")``.
    """
    examples = {"single": '"<letter>"', "multiple": '["<letter>", "<letter>", ...]', "numeric": "<number>",
                "text": '"<your answer>"', "open": '"""<your explanation in a few sentences>"""'}
    return f'quiz.answer("{q.id}", {examples[q.kind]})'


def text_view(bank: Bank, questions: list[Question]) -> str:
    """The questions as plain text: prompt, options, how to answer, where to get a hint.

    Args:
        bank: the lesson's bank (for the title).
        questions: the questions to list, in order.

    Returns:
        the text (no correct option, explanation or model answer in it).
    """
    lines = [f"Practice questions: {bank.title} (lesson {bank.lesson})",
             "Answer each one with quiz.answer(question_id, your_answer); you get feedback at once and may retry.",
             ""]
    for n, q in enumerate(questions, start=1):
        unit = f", in {q.unit}" if q.unit else ""
        lines.append(f"Question {n} [{q.id}] ({KIND_WORDS[q.kind]}{unit})")
        lines.extend("  " + line for line in q.prompt.strip().splitlines())
        for i, opt in enumerate(q.options):
            lines.append(f"    {letter(i)}) {opt.text}")
        lines.append(f"  Answer: {how_to_answer(q)}")
        if q.hint:
            lines.append(f'  Stuck? quiz.hint("{q.id}")')
        lines.append("")
    return "\n".join(lines).rstrip()


def _question_html(number: int, q: Question) -> str:
    """One question as static HTML: heading, prompt, options (none marked), hint folded away."""
    unit = f", in {html.escape(q.unit)}" if q.unit else ""
    head = (f'<div style="font-weight:bold">Question {number} <span style="font-weight:normal;color:#666">'
            f"({KIND_WORDS[q.kind]}{unit}) <code>{html.escape(q.id)}</code></span></div>")
    options = "".join(f"<li>\u25cb {letter(i)}) {md_inline(opt.text)}</li>" for i, opt in enumerate(q.options))
    options = f'<ul style="list-style:none;padding-left:1em;margin:2px 0">{options}</ul>' if options else ""
    hint = (f"<details><summary>Hint</summary>{strip_p(md_to_html(q.hint))}</details>" if q.hint else "")
    answer = f'<div style="color:#555">Answer: <code>{html.escape(how_to_answer(q))}</code></div>'
    return (f'<div class="quiz-static-question quiz-static-id-{html.escape(q.id)}" style="border:1px solid #ddd;'
            f'padding:6px 10px;margin:0 0 10px 0">{head}{md_to_html(q.prompt)}{options}{answer}{hint}</div>')


def static_html(bank: Bank, questions: list[Question]) -> str:
    """The questions as static HTML, for views without live widgets (no answer is revealed).

    Args:
        bank: the lesson's bank (for the title).
        questions: the questions to show, in order.

    Returns:
        an HTML fragment: a title, a line on how to answer, then one box per question.
    """
    intro = ("<p><i>A static view of the practice questions. Open the notebook in JupyterLab and run this cell to "
             "answer them with instant feedback, or answer in any Python session with "
             "<code>quiz.answer(question_id, your_answer)</code>.</i></p>")
    body = "".join(_question_html(n, q) for n, q in enumerate(questions, start=1))
    return (f'<div class="quiz-static quiz-lesson-{html.escape(bank.lesson)}">'
            f'<h3 style="margin:0 0 4px 0">Practice questions: {html.escape(bank.title)}</h3>{intro}{body}</div>')
