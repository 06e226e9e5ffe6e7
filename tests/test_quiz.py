"""Practice questions: bank validation, grading of every kind, text and widget feedback, bad input."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from course_utils import quiz
from course_utils.quiz import BankError, grade, parse_bank
from course_utils.quiz.widgets import build_quiz

BANK = {
    "lesson": "99",
    "title": "Test bank",
    "questions": [
        {"id": "99-single", "kind": "single", "prompt": "Pick `b`.", "hint": "It is the second.",
         "options": [{"text": "alpha", "correct": False, "explanation": "EXPL-A"},
                     {"text": "beta", "correct": True, "explanation": "EXPL-B"},
                     {"text": "gamma", "correct": False, "explanation": "EXPL-C"}]},
        {"id": "99-multi", "kind": "multiple", "prompt": "Pick a and c.",
         "options": [{"text": "one", "correct": True, "explanation": "EXPL-1"},
                     {"text": "two", "correct": False, "explanation": "EXPL-2"},
                     {"text": "three", "correct": True, "explanation": "EXPL-3"}]},
        {"id": "99-num", "kind": "numeric", "prompt": "How much?", "answer": 37.5, "tolerance": 0.1, "unit": "%",
         "explanation": "EXPL-NUM"},
        {"id": "99-text", "kind": "text", "prompt": "Which class?", "accept": ["sky", "the sky"],
         "explanation": "EXPL-TEXT"},
        {"id": "99-open", "kind": "open", "prompt": "Why?", "model_answer": "MODEL", "rubric": ["R1", "R2"]},
    ],
}


@pytest.fixture
def bank() -> quiz.Bank:
    return parse_bank(copy.deepcopy(BANK), source="99.json")


def q(bank: quiz.Bank, qid: str) -> quiz.Question:
    return next(x for x in bank.questions if x.id == qid)


# --- the course's own banks -------------------------------------------------------------------------------------


def test_every_bank_is_valid_and_big_enough() -> None:
    banks = quiz.load_all()
    assert "00" in banks
    for lesson, b in banks.items():
        assert len(b.questions) >= 5, f"lesson {lesson} has only {len(b.questions)} questions"
        assert len({x.kind for x in b.questions}) >= 2, f"lesson {lesson} uses a single kind of question"
        for x in b.questions:
            assert x.id.startswith(f"{lesson}-"), f"{x.id} should start with '{lesson}-'"


def test_lesson00_bank_covers_every_kind() -> None:
    kinds = {x.kind for x in quiz.load_bank("00").questions}
    assert kinds == set(quiz.KINDS)


# --- validation ----------------------------------------------------------------------------------------------


def _broken(mutate) -> dict:
    data = copy.deepcopy(BANK)
    mutate(data)
    return data


@pytest.mark.parametrize(("mutate", "words"), [
    (lambda d: d["questions"][0]["options"][1].pop("explanation"), ["99-single", "option b", "explanation"]),
    (lambda d: d["questions"][1].update(id="99-single"), ["99-single", "duplicate"]),
    (lambda d: [o.update(correct=False) for o in d["questions"][0]["options"]], ["99-single", "no correct"]),
    (lambda d: d["questions"][0]["options"][0].update(correct=True), ["99-single", "exactly one"]),
    (lambda d: d["questions"][2].pop("tolerance"), ["99-num", "tolerance"]),
    (lambda d: d["questions"][3].update(accept=[]), ["99-text", "accept"]),
    (lambda d: d["questions"][4].update(rubric=[]), ["99-open", "rubric"]),
    (lambda d: d["questions"][4].update(kind="essay"), ["99-open", "kind"]),
    (lambda d: d["questions"][2].update(explaination="typo"), ["99-num", "unknown field"]),
    (lambda d: d.update(lesson="98"), ["99.json", "file name"]),
    (lambda d: d.update(questions=[]), ["99.json", "questions"]),
])
def test_malformed_bank_names_file_and_question(mutate, words: list[str]) -> None:
    with pytest.raises(BankError) as info:
        parse_bank(_broken(mutate), source="99.json", expected_lesson="99")
    message = str(info.value)
    assert message.startswith("99.json")
    for word in words:
        assert word in message, message


def test_bad_json_file_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from course_utils.quiz import bank as bank_module

    (tmp_path / "42.json").write_text("{not json")
    monkeypatch.setattr(bank_module, "QUESTIONS_DIR", tmp_path)
    with pytest.raises(BankError, match="42.json"):
        bank_module.load_bank("42")
    monkeypatch.setattr(bank_module, "_cache", {})
    (tmp_path / "42.json").write_text(json.dumps(_broken(lambda d: d.update(lesson="42"))))
    assert len(bank_module.load_bank(42).questions) == 5


# --- grading ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("response", [1, "b", "B", "(b)", "beta", " Beta ", ["b"], 1.0])
def test_single_right(bank, response) -> None:
    fb = grade(q(bank, "99-single"), response)
    assert fb.status == "correct" and "EXPL-B" in fb.text()


def test_single_wrong_explains_the_chosen_option_only(bank) -> None:
    fb = grade(q(bank, "99-single"), "a")
    assert fb.status == "wrong" and "EXPL-A" in fb.text()
    assert "EXPL-B" not in fb.text() and "EXPL-C" not in fb.text()


@pytest.mark.parametrize("response", [["a", "c"], [0, 2], "a, c", "a c", ["one", "three"], ("c", "a", "a")])
def test_multiple_right(bank, response) -> None:
    fb = grade(q(bank, "99-multi"), response)
    assert fb.status == "correct"
    assert "EXPL-1" in fb.text() and "EXPL-3" in fb.text()


def test_multiple_wrong_names_wrong_and_missed(bank) -> None:
    fb = grade(q(bank, "99-multi"), ["a", "b"])
    text = fb.text()
    assert fb.status == "wrong"
    assert "EXPL-1" in text and "EXPL-2" in text  # every chosen option explained
    assert "missed" in text and "(c) three" in text and "EXPL-3" in text  # the missed right one


@pytest.mark.parametrize("response", [37.5, "37.5", " 37.45 ", "37.5 %", "75/2", torch.tensor(37.5), 37])
def test_numeric_right(bank, response) -> None:
    expected = "correct" if response != 37 else "wrong"
    assert grade(q(bank, "99-num"), response).status == expected


def test_numeric_wrong_then_worked_answer(bank) -> None:
    first = grade(q(bank, "99-num"), 40, wrong_before=0)
    assert first.status == "wrong" and "too high" in first.text() and "EXPL-NUM" not in first.text()
    second = grade(q(bank, "99-num"), 30, wrong_before=1)
    assert "too low" in second.text() and "EXPL-NUM" in second.text()


@pytest.mark.parametrize("response", ["sky", " SKY ", "The  sky.", "'sky'"])
def test_text_right(bank, response) -> None:
    assert grade(q(bank, "99-text"), response).status == "correct"


def test_text_wrong(bank) -> None:
    fb = grade(q(bank, "99-text"), "grass")
    assert fb.status == "wrong" and "grass" in fb.text()


@pytest.mark.parametrize("response", ["Non-maximum suppression (NMS)", "NMS", "non-maximal suppression",
                                      "Non-max-suppression", "non max suppression", "nms."])
def test_lesson06_nms_name_takes_the_name_as_the_lesson_writes_it(response) -> None:
    """The prompt asks for the name or its abbreviation: the two together, and the usual spellings, are right."""
    question = quiz.find_question("06-nms-name")
    assert grade(question, response).status == "correct", response
    assert grade(question, "soft-NMS is not it").status == "wrong"


def test_open_shows_model_answer_and_rubric(bank) -> None:
    fb = grade(q(bank, "99-open"), "Because pixels only have colour.")
    assert fb.status == "open" and fb.correct
    assert "MODEL" in fb.text() and "R1" in fb.text() and "R2" in fb.text()


BAD = {
    "99-single": ["", "   ", None, 7, -1, "z", "delta", 1.5, True, [], ["a", "b"], {"a": 1}, object(), b"b"],
    "99-multi": ["", None, [], [7], ["z"], [None], "a, zz", {"x": 1}, 2.5, object()],
    "99-num": ["", "  ", "abc", "1,5", None, True, float("nan"), float("inf"), 1e300, "1e400", [37.5], {}, "1/0",
               object()],
    "99-text": ["", "   ", None, 3, ["sky"], object()],
    "99-open": ["", "   ", None, 42, ["text"]],
}


@pytest.mark.parametrize(("qid", "response"), [(k, r) for k, rs in BAD.items() for r in rs],
                         ids=lambda v: repr(v)[:20])
def test_bad_input_gets_one_friendly_sentence(bank, qid: str, response) -> None:
    fb = grade(q(bank, qid), response)
    assert fb.status == "invalid"
    assert fb.headline and "\n" not in fb.headline and "Traceback" not in fb.headline
    assert not fb.correct


# --- answer(): the plain-Python path ------------------------------------------------------------------------------


def test_answer_prints_feedback_and_records(progress_file: Path, capsys) -> None:
    assert quiz.answer("00-image-shape", "b")
    assert "Correct" in capsys.readouterr().out
    assert not quiz.answer("00-image-shape", "a")
    assert "Not quite" in capsys.readouterr().out
    assert not quiz.answer("00-image-shape", "")  # bad input: a message, not an attempt
    assert "empty" in capsys.readouterr().out
    from IPython.core.interactiveshell import InteractiveShell  # the cell shows the feedback, not a bare False

    assert InteractiveShell.instance().display_formatter.format(quiz.answer("00-image-shap", "b")) == ({}, {})
    capsys.readouterr()
    record = json.loads(progress_file.read_text())["questions"]["00-image-shape"]
    assert record["attempts"] == 2 and record["correct"] is True


@pytest.mark.parametrize(("qid", "response"), [
    ("00-numbers-in-image", 49152), ("00-sky-class-name", "Sky"), ("00-sky-percent", "37.5"),
    ("00-mini-assignments", ["b", "c", "e"]), ("00-where-progress", 0),
    ("00-colour-not-class", "One pixel only has its colour; shape needs neighbours."),
])
def test_answer_right_for_every_kind(progress_file: Path, qid: str, response, capsys) -> None:
    assert quiz.answer(qid, response)


@pytest.mark.parametrize("qid", [None, "", "no-such-question", 42, ["00-image-shape"]])
def test_answer_unknown_question(progress_file: Path, qid, capsys) -> None:
    assert not quiz.answer(qid, "a")
    out = capsys.readouterr().out
    assert out.strip() and "Traceback" not in out


def test_answer_suggests_close_id(progress_file: Path, capsys) -> None:
    assert not quiz.answer("00-image-shap", "a")
    assert "00-image-shape" in capsys.readouterr().out


def test_show_text_lists_questions_without_answers(capsys) -> None:
    quiz.show("00", mode="text")
    out = capsys.readouterr().out
    bank = quiz.load_bank("00")
    for x in bank.questions:
        assert x.id in out
        for opt in x.options:
            assert opt.text in out and opt.explanation not in out
        if x.explanation:
            assert x.explanation not in out
        if x.model_answer:
            assert x.model_answer not in out
    assert "quiz.answer(" in out


def test_show_outside_jupyter_prints_text(capsys) -> None:
    quiz.show(0)  # no kernel here: the text view
    assert "00-image-shape" in capsys.readouterr().out


@pytest.mark.parametrize(("lesson", "ids", "words"), [
    ("77", None, "no practice questions"), ("xx", None, "lesson"), ("00", ["nope"], "no question 'nope'")])
def test_show_bad_arguments(lesson, ids, words, capsys) -> None:
    quiz.show(lesson, ids=ids, mode="text")
    assert words in capsys.readouterr().out


def test_hint(capsys) -> None:
    assert quiz.hint("00-image-shape") == "PyTorch puts the colour channels first."
    assert "Hint" in capsys.readouterr().out


# --- widgets (built and clicked without a browser) ------------------------------------------------------------------


def _question_boxes(root) -> dict[str, object]:
    return {next(c for c in box._dom_classes if c.startswith("quiz-id-"))[8:]: box
            for box in root.children if "quiz-question" in box._dom_classes}


def test_widgets_feedback_right_wrong_invalid_and_retry(bank, progress_file: Path) -> None:
    root = build_quiz(bank, list(bank.questions))
    boxes = _question_boxes(root)
    single = boxes["99-single"]
    prompt, radio, buttons, hint, feedback = single.children
    assert "quiz-feedback" in feedback._dom_classes and "quiz-check" in buttons.children[0]._dom_classes
    buttons.children[0].click()  # nothing chosen yet
    assert "quiz-invalid" in feedback._dom_classes
    radio.value = 0
    buttons.children[0].click()
    assert "quiz-wrong" in feedback._dom_classes and "EXPL-A" in feedback.value
    radio.value = 1  # retry
    buttons.children[0].click()
    assert "quiz-correct" in feedback._dom_classes and "quiz-wrong" not in feedback._dom_classes
    assert "EXPL-B" in feedback.value
    buttons.children[1].click()  # hint button
    assert "second" in hint.value
    score = next(c for c in root.children if "quiz-score" in c._dom_classes)
    assert "<b>1</b> of 5" in score.value


def test_widgets_every_kind(bank, progress_file: Path) -> None:
    boxes = _question_boxes(build_quiz(bank, list(bank.questions)))
    multi = boxes["99-multi"].children
    multi[1].children[0].value = True
    multi[1].children[2].value = True
    multi[2].children[0].click()
    assert "quiz-correct" in multi[4]._dom_classes
    num = boxes["99-num"].children
    num[1].children[0].value = "abc"
    num[2].children[0].click()
    assert "quiz-invalid" in num[4]._dom_classes and "not a number" in num[4].value
    num[1].children[0].value = "37.5"
    num[2].children[0].click()
    assert "quiz-correct" in num[4]._dom_classes
    text = boxes["99-text"].children
    text[1].value = "grass"
    text[2].children[0].click()
    assert "quiz-wrong" in text[4]._dom_classes
    opened = boxes["99-open"].children
    assert "quiz-reveal" in opened[2].children[0]._dom_classes
    opened[2].children[0].click()  # nothing written yet
    assert "quiz-invalid" in opened[4]._dom_classes and "MODEL" not in opened[4].value
    opened[1].value = "my answer"
    opened[2].children[0].click()
    assert "MODEL" in opened[4].value and "R2" in opened[4].value and "quiz-open" in opened[4]._dom_classes


# --- static forms (what a page without live widgets shows) --------------------------------------------------------


def _secrets(question: quiz.Question) -> list[str]:
    """What a static view must never show: explanations, worked and model answers, rubric points, accepted text."""
    out = [o.explanation for o in question.options] + [question.explanation, question.model_answer]
    out += list(question.rubric) + list(question.accept)
    if question.answer is not None:
        out.append(f"{question.answer:g}")
    return [s for s in out if s]


def test_quiz_output_carries_static_forms_without_answers(bank) -> None:
    from course_utils.quiz.widgets import WIDGET_VIEW, quiz_bundle

    bundle = quiz_bundle(bank, list(bank.questions))
    assert bundle[WIDGET_VIEW]["model_id"], "the live widget view must stay in the output"
    page, text = bundle["text/html"], bundle["text/plain"]
    assert "VBox" not in page and "VBox" not in text
    for x in bank.questions:
        assert x.id in page and x.id in text
        for opt in x.options:
            assert opt.text in page and opt.text in text
        for secret in _secrets(x):
            assert secret not in page and secret not in text, f"{x.id}: {secret!r} is in the static form"
    assert "It is the second." in page  # the hint is there, folded away, like the widget's Hint button


@pytest.mark.parametrize("lesson", sorted(quiz.load_all()))
def test_static_form_of_every_bank_reveals_no_answer(lesson) -> None:
    bank = quiz.load_bank(lesson)
    page = quiz.static_html(bank, list(bank.questions))
    for x in bank.questions:
        assert f"quiz-static-id-{x.id}" in page
        for secret in _secrets(x):
            if len(secret) >= 25 and secret not in x.accept:  # short answers are words of other prompts too
                assert secret not in page, f"{x.id}: {secret[:40]!r}... is in the static form"


def test_snapshot_keeps_the_static_form_when_no_widget_state_was_saved(bank) -> None:
    import nbformat

    from course_utils.quiz.widgets import WIDGET_VIEW, quiz_bundle
    from course_utils.tools.widget_snapshot import snapshot_widgets

    bundle = quiz_bundle(bank, list(bank.questions))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("quiz.show('99')")])
    nb.cells[0].outputs = [nbformat.v4.new_output("display_data", data=bundle)]
    out = snapshot_widgets(nb).cells[0].outputs
    assert len(out) == 1 and WIDGET_VIEW not in out[0].data and out[0].data["text/html"] == bundle["text/html"]
    model_id = bundle[WIDGET_VIEW]["model_id"]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {
        model_id: {"model_name": "HTMLModel", "state": {"value": "<b>saved state</b>"}}}}}
    out = snapshot_widgets(nb).cells[0].outputs
    assert out[0].data["text/html"].endswith("<b>saved state</b></div>"), "saved widget state still wins"


def test_answers_record_first_try_and_wrong_answers(progress_file: Path, capsys) -> None:
    quiz.answer("00-image-shape", "a")
    quiz.answer("00-image-shape", "(a)")
    quiz.answer("00-image-shape", "b")
    quiz.answer("00-mini-assignments", ["c", "b"])  # wrong: misses a right option
    quiz.answer("00-sky-percent", "40")
    quiz.answer("00-sky-class-name", "  Grass. ")
    quiz.answer("00-where-progress", 0)  # right at once
    data = json.loads(progress_file.read_text())["questions"]
    assert data["00-image-shape"]["first_correct"] is False and data["00-image-shape"]["correct"] is True
    assert data["00-image-shape"]["wrong_answers"] == {"a": 2}
    assert data["00-mini-assignments"]["wrong_answers"] == {"b, c": 1}
    assert data["00-sky-percent"]["wrong_answers"] == {"40": 1}
    assert data["00-sky-class-name"]["wrong_answers"] == {"'grass'": 1}
    assert data["00-where-progress"]["first_correct"] is True and "wrong_answers" not in data["00-where-progress"]


def test_no_widgets_while_nbgrader_runs_the_notebook(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import IPython

    class ZMQInteractiveShell:  # what a Jupyter kernel's shell is called
        pass

    monkeypatch.setattr(IPython, "get_ipython", lambda: ZMQInteractiveShell())
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert quiz.widgets_available()
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert not quiz.widgets_available()
    quiz.show("00")
    out = capsys.readouterr().out
    assert "00-image-shape" in out and "quiz.answer(" in out  # the text view, nothing to click


def test_the_right_option_is_not_always_in_the_same_place() -> None:
    """A learner who always picks the first option (or any fixed one) does not pass a lesson's questions."""
    from course_utils.quiz import available_lessons, load_bank

    for lesson in available_lessons():
        singles = [q for q in load_bank(lesson).questions if q.kind == "single"]
        places = {next(i for i, o in enumerate(q.options) if o.correct) for q in singles}
        assert len(singles) < 3 or len(places) > 1, f"lesson {lesson}: every right option is option {places}"
