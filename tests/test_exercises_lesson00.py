"""Lesson 00's check accepts the reference count and rejects typical wrong ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from course_utils import exercises, solutions

NAME = "count_pixels_of_class"


def test_reference_passes(progress_file: Path, capsys) -> None:
    assert exercises.check(NAME, solutions.count_pixels_of_class)
    assert "all 8 cases pass" in capsys.readouterr().out


def test_tensor_result_is_accepted(progress_file: Path, capsys) -> None:
    assert exercises.check(NAME, lambda semantic, class_id: (semantic == class_id).sum())


@pytest.mark.parametrize(("wrong", "words"), [
    (lambda s, c: int((s != c).sum()), "expected 7"),  # counts the other classes
    (lambda s, c: (s == c).sum(0), "should be a number"),  # sums one axis only
    (lambda s, c: len(s == c), "expected"),  # counts rows
    (lambda s, c: float((s == c).float().mean()), "expected"),  # a fraction, not a count
    (lambda s, c: int((s[1:] == c).sum()), "expected"),  # off by one row
    (lambda s, c: int((s == c + 1).sum()), "expected"),  # off-by-one class id
    (lambda s, c: int((s == c).sum()) if s.shape[0] == s.shape[1] else int((s == c).sum(0).max()), "3x10"),
    (lambda s, c: int((s == c).sum()) if s.numel() else None, "empty"),  # empty map forgotten
])
def test_wrong_solutions_are_rejected(progress_file: Path, capsys, wrong, words: str) -> None:
    assert not exercises.check(NAME, wrong)
    assert words in capsys.readouterr().out


def test_stub_is_not_attempted(progress_file: Path, capsys) -> None:
    def count_pixels_of_class(semantic: torch.Tensor, class_id: int) -> int:
        raise NotImplementedError

    assert not exercises.check(NAME, count_pixels_of_class)
    assert "not attempted yet" in capsys.readouterr().out
