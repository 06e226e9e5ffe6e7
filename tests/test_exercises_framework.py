"""The mini-assignment checker: accepts references, reports wrong results, survives anything a learner writes."""

from __future__ import annotations

import json
import linecache
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from course_utils import exercises, solutions
from course_utils.exercises import Case, compare, summarize

TOY = "toy_scale_rows"


def toy_reference(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Multiply a float (N, D) tensor by ``factor``; an empty tensor is an error."""
    if x.numel() == 0:
        raise ValueError("x is empty")
    return x * factor  # (N, D)


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch, progress_file: Path):
    """A throw-away exercise with a tensor result and an error case, removed after the test."""

    def cases(gen: torch.Generator) -> list[Case]:
        return [
            Case("a random 3x4 tensor times 2", args=(torch.rand(3, 4, generator=gen), 2.0)),
            Case("times 0", args=(torch.rand(2, 2, generator=gen), 0.0), hint="CASE-HINT"),
            Case("an empty tensor", args=(torch.zeros(0, 4), 1.0), expect_error=ValueError),
        ]

    monkeypatch.setitem(exercises.REGISTRY, TOY, exercises.Exercise(TOY, "99", "TOY-HINT", cases, timeout=1.0))
    monkeypatch.setattr(solutions, TOY, toy_reference, raising=False)
    return TOY


def run(fn, capsys, **kwargs) -> tuple[bool, str]:
    ok = exercises.check(TOY, fn, **kwargs)
    return ok, capsys.readouterr().out


def test_reference_passes_and_is_recorded(toy, progress_file: Path, capsys) -> None:
    ok, out = run(toy_reference, capsys)
    assert ok and "all 3 cases pass" in out
    record = json.loads(progress_file.read_text())["exercises"][TOY]
    assert record == {"attempts": 1, "passed": True, "first_passed": True, "last": record["last"]}


def test_wrong_values_show_case_inputs_expected_got_hint(toy, capsys) -> None:
    ok, out = run(lambda x, factor: x * factor + (factor == 0), capsys)
    assert not ok
    assert "case 2 of 3 failed: times 0" in out
    for label in ("inputs:", "x = tensor float32 [2, 2]", "factor = 0", "expected:", "got:", "problem:", "CASE-HINT"):
        assert label in out, out


def test_general_hint_when_the_case_has_none(toy, capsys) -> None:
    ok, out = run(lambda x, factor: x * factor * 1.5, capsys)
    assert not ok and "case 1 of 3" in out and "TOY-HINT" in out


def test_exception_reports_type_message_and_learner_line(toy, capsys) -> None:
    def learner(x, factor):
        y = x * factor
        return y[10]  # raises IndexError

    ok, out = run(learner, capsys)
    line = learner.__code__.co_firstlineno + 2
    assert not ok
    assert "IndexError" in out and "out of bounds" in out
    assert f"where:    line {line} of " in out and "return y[10]" in out
    assert "Traceback" not in out


def test_exception_in_a_notebook_cell_names_the_cell(toy, capsys) -> None:
    """Functions defined in Jupyter come from files like /tmp/ipykernel_1234/567.py (in linecache)."""
    filename = "/tmp/ipykernel_4242/123456.py"
    source = "def learner(x, factor):\n    total = 0\n    return x / undefined_name\n"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict = {}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - a stand-in for a notebook cell
    try:
        ok, out = run(namespace["learner"], capsys)
    finally:
        linecache.cache.pop(filename, None)
    assert not ok
    assert "NameError" in out and "line 3 of your cell" in out and "undefined_name" in out


def test_wrong_arity_explains_the_call(toy, capsys) -> None:
    ok, out = run(lambda x: x, capsys)
    assert not ok and "TypeError" in out and "toy_scale_rows(x, factor)" in out


def test_nan_is_named(toy, capsys) -> None:
    ok, out = run(lambda x, factor: x * factor / torch.zeros_like(x) * 0, capsys)
    assert not ok and "NaN" in out


def test_wrong_dtype_is_named(toy, capsys) -> None:
    ok, out = run(lambda x, factor: (x * factor).double(), capsys)
    assert not ok and "dtype torch.float64" in out and "torch.float32" in out


def test_wrong_shape_is_named(toy, capsys) -> None:
    ok, out = run(lambda x, factor: (x * factor).T, capsys)
    assert not ok and "shape [4, 3]" in out and "[3, 4]" in out


@pytest.mark.parametrize(("fn", "words"), [
    (lambda x, factor: None, "forget `return`"),
    (lambda x, factor: (x * factor).numpy(), "NumPy array"),
    (lambda x, factor: (x * factor).tolist(), "should be a tensor"),
    (lambda x, factor: "done", "should be a tensor"),
])
def test_wrong_return_type(toy, capsys, fn, words: str) -> None:
    ok, out = run(fn, capsys)
    assert not ok and words in out, out


def test_missing_error_and_wrong_error(toy, capsys) -> None:
    ok, out = run(lambda x, factor: x * factor, capsys)
    assert not ok and "case 3 of 3" in out and "should raise ValueError" in out

    def wrong_error(x, factor):
        if x.numel() == 0:
            raise KeyError("empty")
        return x * factor

    ok, out = run(wrong_error, capsys)
    assert not ok and "KeyError" in out and "raises ValueError" in out


def test_mutating_the_input_is_reported(toy, capsys) -> None:
    def in_place(x, factor):
        if x.numel() == 0:
            raise ValueError("empty")
        return x.mul_(factor)

    ok, out = run(in_place, capsys)
    assert not ok and "in place" in out


def test_endless_loop_is_stopped_within_the_time_limit(toy, capsys) -> None:
    def forever(x, factor):
        while True:
            pass

    before = set(threading.enumerate())
    start = time.perf_counter()
    ok, out = run(forever, capsys)
    elapsed = time.perf_counter() - start
    assert not ok and "stopped after 1 s" in out
    assert elapsed < 1.0 + 2.0, elapsed
    deadline = time.monotonic() + 2.0  # a pure-Python loop is also stopped, not just abandoned
    while any(t.name == "course-exercise-check" and t.is_alive() for t in set(threading.enumerate()) - before):
        assert time.monotonic() < deadline, "the looping worker thread is still running"
        time.sleep(0.05)


def test_blocking_call_does_not_block_the_check(toy, capsys) -> None:
    """A thread stuck in C code cannot be stopped; the check reports the timeout and returns anyway."""
    start = time.perf_counter()
    ok, out = run(lambda x, factor: time.sleep(4) or x * factor, capsys, timeout=0.5)
    assert not ok and "stopped after 0.5 s" in out
    assert time.perf_counter() - start < 2.5


def test_stub_reads_not_attempted(toy, progress_file: Path, capsys) -> None:
    def stub(x, factor):
        raise NotImplementedError

    ok, out = run(stub, capsys)
    assert not ok and "not attempted yet" in out
    assert "Traceback" not in out and "failed" not in out
    assert not progress_file.exists() or TOY not in json.loads(progress_file.read_text())["exercises"]


def test_learner_exit_or_keyboard_interrupt_is_caught(toy, capsys) -> None:
    def leave(x, factor):
        raise SystemExit(3)

    ok, out = run(leave, capsys)
    assert not ok and "SystemExit" in out


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_result_on_the_gpu_is_accepted(toy, capsys) -> None:
    ok, out = run(lambda x, factor: (x.cuda() * factor) if x.numel() else toy_reference(x, factor), capsys)
    assert ok, out


def test_unknown_name_and_not_callable(capsys) -> None:
    assert not exercises.check("count_pixel_of_class", print)
    out = capsys.readouterr().out
    assert "no exercise called" in out and "count_pixels_of_class" in out and "Did you mean" in out
    assert not exercises.check("count_pixels_of_class", 42)
    assert "your function itself" in capsys.readouterr().out


# --- registry, reference lookup, every exercise's own reference -------------------------------------------------


def test_names_registry_and_solutions_agree() -> None:
    assert exercises.NAMES == sorted(exercises.NAMES, key=lambda n: (exercises.lesson_of(n), n))
    assert "count_pixels_of_class" in exercises.NAMES
    for name in exercises.NAMES:
        assert exercises.reference(name) is getattr(solutions, name)
        assert exercises.cases(name), f"{name} has no cases"
    with pytest.raises(KeyError):
        exercises.reference("no_such_exercise")


@pytest.mark.parametrize("name", exercises.NAMES)
def test_every_reference_passes_its_own_check(name: str, progress_file: Path, capsys) -> None:
    assert exercises.check(name, exercises.reference(name)), capsys.readouterr().out


@pytest.mark.parametrize("name", exercises.NAMES)
def test_every_exercise_has_edge_cases_and_hints(name: str) -> None:
    cases = exercises.cases(name)
    assert len(cases) >= 3, f"{name}: at least three cases (random and edge cases)"
    assert all(c.description.strip() for c in cases)
    assert exercises.REGISTRY[name].hint.strip() or all(c.hint for c in cases), f"{name} needs a hint"


def test_solutions_reexport_every_public_function() -> None:
    import importlib
    import inspect
    import pkgutil

    for info in pkgutil.iter_modules(solutions.__path__):
        if not info.name.startswith("lesson"):
            continue
        module = importlib.import_module(f"course_utils.solutions.{info.name}")
        for name, obj in vars(module).items():
            if inspect.isfunction(obj) and obj.__module__ == module.__name__ and not name.startswith("_"):
                if getattr(module, "__all__", None) is None or name in module.__all__:
                    assert getattr(solutions, name) is obj


# --- comparison and summaries -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("expected", "got", "words"), [
    (torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0]), None),
    (torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.5]), "index (1,)"),
    (torch.tensor([1, 2]), torch.tensor([1, 2], dtype=torch.int32), "dtype"),
    (3, torch.tensor(3), None),
    (0.5, 0.5 + 1e-7, None),
    (0.5, float("nan"), "NaN"),
    (True, 1, "True or False"),
    ((1, [2.0, {"a": torch.zeros(2)}]), [1, (2.0, {"a": torch.zeros(2)})], None),
    ({"a": 1}, {"b": 1}, "missing the key"),
    ([1, 2], [1, 2, 3], "3 items"),
    (np.arange(3), np.arange(3), None),
    (np.arange(3), torch.arange(3), "NumPy array"),
    ("sky", "Sky", "expected 'sky'"),
    (None, 0, "should be None"),
])
def test_compare(expected, got, words) -> None:
    message = compare(expected, got)
    if words is None:
        assert message is None
    else:
        assert message is not None and words in message, message


def test_summarize() -> None:
    assert summarize(torch.tensor([[1, 2], [3, 4]])) == "tensor int64 [2, 2] = [[1, 2], [3, 4]]"
    big = summarize(torch.arange(100.0))
    assert big.startswith("tensor float32 [100]") and "min 0" in big and "max 99" in big
    assert summarize(torch.zeros(0, 4)) == "tensor float32 [0, 4] (empty)"
    assert "3 of 50 True" in summarize(torch.arange(50) < 3)
    assert summarize((1, "a")) == "(1, 'a')"


def test_a_check_cell_ends_in_its_feedback_not_in_a_bare_false() -> None:
    """check returns a Verdict: true or false as a bool, shown as nothing by IPython (the feedback says it)."""
    from IPython.core.interactiveshell import InteractiveShell

    verdict = exercises.check("count_pixels_of_class", print, verbose=False)
    assert not verdict and repr(verdict) == "not passed yet"
    assert InteractiveShell.instance().display_formatter.format(verdict) == ({}, {})
    assert exercises.check("count_pixels_of_class", solutions.count_pixels_of_class, verbose=False)
