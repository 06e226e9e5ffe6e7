"""``exercises.grade``: the check as an nbgrader test cell, with hidden cases that never show their inputs."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

from course_utils import exercises, solutions

NAME = "pixel_accuracy"  # random maps: another seed gives other inputs


def memoriser(name: str):
    """A 'solution' that knows the answers of the check's own cases only (what hidden cases are for)."""
    answers = {}
    for case in exercises.cases(name):
        if case.expect_error is None:
            answers[repr(case.args)] = solutions.pixel_accuracy(*case.args)

    def fn(pred, target):
        if pred.shape != target.shape or target.numel() == 0:
            raise ValueError("bad maps")
        return answers.get(repr((pred, target)), 0.5)

    return fn


def wrong_denominator(pred, target):
    if pred.shape != target.shape or target.numel() == 0:
        raise ValueError("bad maps")
    return (pred == target).sum().item() / target.shape[0]  # rows, not pixels


def stub(pred, target):
    raise NotImplementedError


def test_run_check_gives_the_reason() -> None:
    result = exercises.run_check(NAME, wrong_denominator, verbose=False, record=False)
    assert (result.passed, result.status, result.index) == (False, "fail", 1)
    assert result.case == "two random 8x8 maps" and "expected" in result.problem
    assert exercises.run_check(NAME, stub, verbose=False, record=False).status == "not attempted"
    assert exercises.run_check(NAME, solutions.pixel_accuracy, verbose=False, record=False).passed


def test_hidden_cases_are_the_same_kinds_with_other_inputs() -> None:
    ex = exercises.REGISTRY[NAME]
    visible = exercises.cases(NAME)
    hidden = ex.make_cases(torch.Generator().manual_seed(ex.seed + 12345))
    assert [c.description for c in visible] == [c.description for c in hidden]
    assert not torch.equal(visible[0].args[0], hidden[0].args[0])
    assert exercises.run_check(NAME, memoriser(NAME), verbose=False, record=False).passed
    assert not exercises.run_check(NAME, memoriser(NAME), verbose=False, record=False, seed=12345).passed


def test_outside_nbgrader_grade_prints_like_check_and_never_fails(monkeypatch: pytest.MonkeyPatch,
                                                                  progress_file: Path, capsys) -> None:
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert exercises.grade(NAME, wrong_denominator) is None
    out, err = capsys.readouterr()
    assert "case 1 of 8 failed" in out and "inputs:" in out and err == ""
    exercises.grade(NAME, wrong_denominator, hidden_seed=99)
    out, err = capsys.readouterr()
    assert "hidden cases not run" in out and err == ""
    record = json.loads(progress_file.read_text())["exercises"][NAME]
    assert record["attempts"] == 1 and record["failed_cases"] == {"two random 8x8 maps": 1}  # hidden: not counted


@pytest.fixture
def autograding(monkeypatch: pytest.MonkeyPatch, progress_file: Path) -> Path:
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    return progress_file


def test_autograder_loses_points_through_stderr_with_the_reason(autograding: Path, capsys) -> None:
    exercises.grade(NAME, wrong_denominator)
    out, err = capsys.readouterr()
    assert "inputs:" in out  # the visible case is shown in full
    assert err.startswith("Points lost: pixel_accuracy fails case 1 of 8 (two random 8x8 maps):")
    exercises.grade(NAME, stub)
    assert "not attempted yet" in capsys.readouterr().err
    exercises.grade(NAME, solutions.pixel_accuracy)
    exercises.grade(NAME, solutions.pixel_accuracy, hidden_seed=99)
    out, err = capsys.readouterr()
    assert err == "" and "all 8 hidden cases pass" in out
    assert not autograding.exists()  # the autograder records nothing in a progress file


def test_hidden_failure_shows_no_inputs(autograding: Path, capsys) -> None:
    exercises.grade(NAME, memoriser(NAME))
    assert capsys.readouterr().err == ""  # the check's own cases pass
    exercises.grade(NAME, memoriser(NAME), hidden_seed=99)
    out, err = capsys.readouterr()
    assert "hidden case 1 of 8 failed: a case like the check's 'two random 8x8 maps'" in out
    assert "inputs:" not in out and "expected" not in out and "tensor" not in out
    assert err.startswith("Points lost: pixel_accuracy passes the check's cases but fails hidden case 1 of 8")


def test_hidden_cell_waits_for_the_visible_cases(autograding: Path, capsys) -> None:
    exercises.grade(NAME, wrong_denominator, hidden_seed=99)
    out, err = capsys.readouterr()
    assert out == "" and "hidden cases not run, because the function fails the check's own cases" in err


def test_warnings_of_the_learner_do_not_cost_points(autograding: Path, capsys) -> None:
    def noisy(pred, target):
        warnings.warn("a learner's warning", UserWarning, stacklevel=1)
        return solutions.pixel_accuracy(pred, target)

    exercises.grade(NAME, noisy)
    out, err = capsys.readouterr()
    assert err == "" and "warning(s), not counted against you" in out
