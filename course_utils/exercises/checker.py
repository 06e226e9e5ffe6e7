"""Running a learner's function safely (worker thread with a time limit) and ``check`` itself."""

from __future__ import annotations

import ctypes
import difflib
import inspect
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .. import progress
from ..verdict import Verdict
from .compare import clone, compare, summarize
from .core import REGISTRY, Case, Exercise

__all__ = ["check", "run_check", "run_limited", "Outcome", "CheckResult", "Verdict"]


class _Stopped(BaseException):
    """Raised inside a worker thread that ran past its time limit."""


@dataclass
class Outcome:
    """What one call of a function did."""

    status: str  # "ok", "error" or "timeout"
    value: Any = None  # the return value when status is "ok"
    error: BaseException | None = None  # the exception when status is "error"
    seconds: float = 0.0  # how long the call ran (or the time limit, on timeout)


def _stop_thread(thread: threading.Thread) -> None:
    """Ask CPython to raise ``_Stopped`` in ``thread`` (works for Python-level loops; C calls finish first)."""
    ident = thread.ident
    if ident is None:
        return
    try:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(_Stopped))
    except Exception:  # noqa: BLE001 - not CPython, or no ctypes: the daemon thread is simply left behind
        pass


def run_limited(fn: Callable, args: tuple, kwargs: dict, timeout: float) -> Outcome:
    """Call ``fn(*args, **kwargs)`` in a daemon thread and wait at most ``timeout`` seconds.

    Args:
        fn: the function to call.
        args: positional arguments.
        kwargs: keyword arguments.
        timeout: seconds to wait; after that the thread is asked to stop and left behind if it does not.

    Returns:
        an ``Outcome`` with the value, the exception, or status "timeout".
    """
    box: dict[str, Any] = {}

    def work() -> None:
        start = time.perf_counter()
        try:
            box["value"] = fn(*args, **kwargs)
            box["status"] = "ok"
        except _Stopped:
            box["status"] = "stopped"
        except BaseException as err:  # noqa: BLE001 - the learner may raise anything, even SystemExit
            box["error"] = err
            box["status"] = "error"
        box["seconds"] = time.perf_counter() - start

    thread = threading.Thread(target=work, name="course-exercise-check", daemon=True)
    thread.start()
    try:
        thread.join(timeout)
    except KeyboardInterrupt:  # the learner pressed Stop: stop the worker too, then let the interrupt through
        _stop_thread(thread)
        raise
    if thread.is_alive() or box.get("status") in (None, "stopped"):
        _stop_thread(thread)
        thread.join(0.2)
        return Outcome("timeout", seconds=timeout)
    return Outcome(box["status"], value=box.get("value"), error=box.get("error"), seconds=box.get("seconds", 0.0))


def _learner_line(err: BaseException, fn: Callable) -> str | None:
    """'line 3 of your cell: `return a / b`' for the deepest frame of the learner's own code, if any."""
    code = getattr(inspect.unwrap(fn), "__code__", None) if callable(fn) else None
    if code is None or err.__traceback__ is None:
        return None
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == code.co_filename]
    if not frames:
        return None
    frame = frames[-1]
    text = (frame.line or "").strip()
    where = "your cell" if "ipykernel" in frame.filename or frame.filename.startswith("<") else frame.filename
    in_fn = f" (in {frame.name})" if frame.name not in ("<module>", getattr(fn, "__name__", "")) else ""
    return f"line {frame.lineno} of {where}{in_fn}: {text}" if text else f"line {frame.lineno} of {where}{in_fn}"


def _error_text(err: BaseException) -> str:
    msg = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {msg}" if msg else type(err).__name__


def _arg_names(ref: Callable, case: Case) -> list[str]:
    try:
        params = [p.name for p in inspect.signature(ref).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    except (TypeError, ValueError):
        params = []
    names = [params[i] if i < len(params) and not params[i].startswith("*") else f"arg{i}"
             for i in range(len(case.args))]
    return names


def _inputs_text(ref: Callable, case: Case) -> str:
    """One input per line (aligned under the first), small 2-D maps row by row."""
    pad = " " * 13
    items = list(zip(_arg_names(ref, case), case.args)) + list(case.kwargs.items())
    parts = [f"{n} = {summarize(a, indent=len(pad) + len(n) + 3)}" for n, a in items]
    return ("\n" + pad).join(parts) if parts else "(no arguments)"


def _call_text(name: str, ref: Callable, case: Case) -> str:
    names = _arg_names(ref, case) + [f"{k}=..." for k in case.kwargs]
    return f"{name}({', '.join(names)})"


def _report_failure(ex: Exercise, ref: Callable, index: int, total: int, case: Case, expected: str, got: str,
                    problem: str, where: str | None = None) -> None:
    lines = [f"✘ {ex.name}: case {index} of {total} failed: {case.description}",
             f"   inputs:   {_inputs_text(ref, case)}",
             f"   expected: {expected}",
             f"   got:      {got}",
             f"   problem:  {problem}"]
    if where:
        lines.append(f"   where:    {where}")
    hint = case.hint or ex.hint
    if hint:
        lines.append(f"   hint:     {hint}")
    lines.append(f"   ({index - 1} of {total} cases passed before this one. Fix it and run the check again.)")
    print("\n".join(lines))


def visible_kind(ex: Exercise, description: str) -> str | None:
    """``description`` when the check's own cases have a case of that name, else None.

    A hidden case is named only through a visible case of the same kind, so a description that holds the
    hidden case's random inputs never reaches the learner.
    """
    try:
        visible = {c.description for c in ex.make_cases(torch.Generator().manual_seed(ex.seed))}
    except Exception:  # noqa: BLE001 - the visible cases already failed to build: say nothing more
        return None
    return description if description in visible else None


def _report_hidden(ex: Exercise, ref: Callable, index: int, total: int, case: Case, expected: str, got: str,
                   problem: str, where: str | None = None) -> None:
    """A failing hidden case: its kind when the check shows one like it, and a hint; never inputs or results."""
    kind = visible_kind(ex, case.description)
    what = f"a case like the check's '{kind}'" if kind else "a case with random inputs"
    lines = [f"✘ {ex.name}: hidden case {index} of {total} failed: {what}",
             "   (hidden cases are of the same kinds as the check's, with other random inputs; "
             "their inputs and results are not shown)"]
    hint = (case.hint if kind else None) or ex.hint
    if hint:
        lines.append(f"   hint:     {hint}")
    print("\n".join(lines))


def _record(name: str, passed: bool, failed_case: str | None = None) -> None:
    try:
        progress.record_exercise(name, passed, failed_case)
    except Exception as err:  # noqa: BLE001 - progress is a convenience, never a reason to fail a check
        print(f"(progress not saved: {err})")


def _get_reference(name: str) -> Callable | None:
    from .. import solutions

    return getattr(solutions, name, None)


@dataclass
class CheckResult:
    """What one check found (``check`` returns only ``passed``; graders also need the reason)."""

    passed: bool  # every case agreed with the reference
    status: str  # "pass", "fail", "not attempted" (the stub), or "stopped" (a bad call or a problem in the course)
    total: int = 0  # number of cases
    index: int = 0  # 1-based number of the first failing case (0 when none failed)
    case: str | None = None  # its description (hidden cases: a visible case's of the same kind, or None)
    problem: str = ""  # what was wrong with it, in one sentence


@dataclass
class _Run:
    """What every case of one ``check`` call shares."""

    name: str  # the exercise name
    ex: Exercise  # its registration
    ref: Callable  # the reference solution
    fn: Callable  # the learner's function
    limit: float  # seconds per call of ``fn``
    total: int  # number of cases
    out: Callable  # print, or a no-op when not verbose
    printer: Callable  # _report_failure (_report_hidden for hidden cases), or a no-op when not verbose
    failure: tuple[int, str, str] | None = None  # (index, description, problem) of the failing case
    not_attempted: bool = False  # the learner's function still raises NotImplementedError

    def fail(self, index: int, case: Case, expected: str, got: str, problem: str, where: str | None = None) -> str:
        """Report a failed case (when verbose), remember it and say so."""
        self.printer(self.ex, self.ref, index, self.total, case, expected, got, problem, where)
        self.failure = (index, case.description, problem)
        return "fail"


def _prepare(name: str, fn: Callable, timeout: float | None, out: Callable,
             seed: int | None = None) -> tuple[Exercise, Callable, float, list[Case]] | None:
    """The exercise, its reference, the time limit and the cases; None (after a message) when one is missing."""
    if not isinstance(name, str) or name not in REGISTRY:
        names = ", ".join(sorted(REGISTRY)) or "(none yet)"
        close = difflib.get_close_matches(name, list(REGISTRY), n=1) if isinstance(name, str) else []
        guess = f" Did you mean {close[0]!r}?" if close else ""
        out(f"There is no exercise called {name!r}.{guess} The exercises are: {names}.")
        return None
    ex = REGISTRY[name]
    if not callable(fn):
        out(f"exercises.check({name!r}, ...) needs your function itself as the second argument, for example "
            f"exercises.check({name!r}, {name}) (no parentheses after the function name); got {summarize(fn)}.")
        return None
    ref = _get_reference(name)
    if ref is None:
        out(f"The course has no reference solution for {name!r} yet (a problem in the course, not in your code).")
        return None
    limit = float(timeout if timeout is not None else ex.timeout)
    gen = torch.Generator().manual_seed(ex.seed if seed is None else int(seed))
    try:
        cases = list(ex.make_cases(gen))
    except Exception as err:  # noqa: BLE001
        out(f"The course could not build the cases of {name!r} ({_error_text(err)}): a problem in the course.")
        return None
    return ex, ref, limit, cases


def check(name: str, fn: Callable, timeout: float | None = None, verbose: bool = True) -> Verdict:
    """Check a learner's function for exercise ``name`` against the course's reference, case by case.

    Args:
        name: the exercise name (see ``exercises.NAMES``).
        fn: the learner's function (passed without calling it).
        timeout: seconds per call of ``fn`` before it is stopped (default: the exercise's own, a few seconds).
        verbose: print the feedback (tests may switch it off).

    Returns:
        a ``Verdict``, true when ``fn`` agrees with the reference on every case. Never raises.
    """
    return Verdict(run_check(name, fn, timeout=timeout, verbose=verbose).passed)


def run_check(name: str, fn: Callable, timeout: float | None = None, verbose: bool = True, seed: int | None = None,
              hidden: bool = False, record: bool = True) -> CheckResult:
    """``check`` with its reason: the same cases (or those of another seed), the first failure described.

    Args:
        name: the exercise name.
        fn: the learner's function.
        timeout: seconds per call of ``fn`` (default: the exercise's own).
        verbose: print the feedback.
        seed: seed of the cases' random inputs (default: the exercise's, i.e. the cases ``check`` shows).
        hidden: hidden cases: a failure names the kind of case and the hint only.
        record: count the attempt in the progress file (an autograder does not).

    Returns:
        a ``CheckResult``. Never raises.
    """
    out = print if verbose else (lambda *a, **k: None)
    prepared = _prepare(name, fn, timeout, out, seed)
    if prepared is None:
        return CheckResult(False, "stopped")
    ex, ref, limit, cases = prepared
    printer = (_report_hidden if hidden else _report_failure) if verbose else (lambda *a, **k: None)
    run = _Run(name, ex, ref, fn, limit, len(cases), out, printer)
    for index, case in enumerate(cases, start=1):
        verdict = _check_case(run, index, case)
        if verdict == "pass":
            continue
        if run.failure is not None:
            if record:
                _record(name, False, run.failure[1])
            at, description, problem = run.failure
            if hidden:  # only what a visible case already shows
                description, problem = visible_kind(ex, description), ""
            return CheckResult(False, "fail", run.total, at, description, problem)
        return CheckResult(False, "not attempted" if run.not_attempted else "stopped", run.total)
    which = "hidden cases" if hidden else "cases"
    out(f"✔ {name}: all {run.total} {which} pass." + ("" if hidden else " Well done!"))
    if record:
        _record(name, True)
    return CheckResult(True, "pass", run.total)


def _check_case(run: _Run, index: int, case: Case) -> str:
    """Run the reference and the learner's function on one case: "pass", "fail" (recorded) or "stop" (not)."""
    ref_args, ref_kwargs = clone(case.args), clone(case.kwargs)
    try:
        expected = run.ref(*ref_args, **ref_kwargs)
        ref_error: BaseException | None = None
    except Exception as err:  # noqa: BLE001
        expected, ref_error = None, err
    if ref_error is not None and not (case.expect_error and isinstance(ref_error, case.expect_error)):
        run.out(f"The reference solution failed on case {index} ({case.description}): {_error_text(ref_error)}. "
                "This is a problem in the course, not in your code.")
        return "stop"
    my_args, my_kwargs = clone(case.args), clone(case.kwargs)
    outcome = run_limited(run.fn, my_args, my_kwargs, run.limit)
    want = (f"raises {case.expect_error.__name__}" if case.expect_error and ref_error is not None
            else summarize(expected, indent=13))
    if outcome.status == "timeout":
        return run.fail(index, case, want, f"no answer after {run.limit:g} seconds",
                        f"your function was stopped after {run.limit:g} s. Look for a loop that never ends (a "
                        "`while` whose condition never becomes False) or a loop over every pixel in Python.")
    if outcome.status == "error":
        return _error_verdict(run, index, case, want, outcome.error, ref_error)
    got = outcome.value
    if case.expect_error and ref_error is not None:
        return run.fail(index, case, want, summarize(got, indent=13),
                        f"this input should raise {case.expect_error.__name__} (with a clear message), "
                        "but your function returned a value.")
    try:
        problem = (case.compare(expected, got) if case.compare is not None
                   else compare(expected, got, atol=case.atol, rtol=case.rtol))
    except Exception as err:  # noqa: BLE001 - a strange result must not crash the comparison
        problem = f"your result could not be compared with the expected one ({_error_text(err)})."
    if problem is None:
        problem = _mutation_problem(run.ref, case, my_args, my_kwargs, ref_args, ref_kwargs)
    if problem:
        return run.fail(index, case, want, summarize(got, indent=13), problem)
    return "pass"


def _error_verdict(run: _Run, index: int, case: Case, want: str, err: BaseException,
                   ref_error: BaseException | None) -> str:
    """The verdict on a case where the learner's function raised ``err``."""
    if isinstance(err, NotImplementedError):
        run.not_attempted = True
        run.out(f"✎ {run.name}: not attempted yet. Replace `raise NotImplementedError` with your code, "
                "run that cell, then run this check again.")
        return "stop"
    raised = _error_text(err)
    if case.expect_error and ref_error is not None and isinstance(err, case.expect_error):
        return "pass"
    where = _learner_line(err, run.fn)
    problem = f"your function raised {raised}"
    if isinstance(err, TypeError) and where is None:
        problem += f" (the check calls it as {_call_text(run.name, run.ref, case)})"
    return run.fail(index, case, want, f"{type(err).__name__} raised", problem, where)


def _mutation_problem(ref: Callable, case: Case, my_args: tuple, my_kwargs: dict, ref_args: tuple,
                      ref_kwargs: dict) -> str | None:
    """A message when the learner changed an input in place and the reference did not."""
    names = _arg_names(ref, case)
    for i, (orig, mine, theirs) in enumerate(zip(case.args, my_args, ref_args)):
        if compare(orig, mine, atol=0, rtol=0) and not compare(orig, theirs, atol=0, rtol=0):
            return (f"your function changed its input `{names[i]}` in place; work on a copy "
                    "(for example x = x.clone()) so the caller's data stays as it was.")
    for k, orig in case.kwargs.items():
        if compare(orig, my_kwargs.get(k), atol=0, rtol=0) and not compare(orig, ref_kwargs.get(k), atol=0, rtol=0):
            return f"your function changed its input `{k}` in place; work on a copy (for example x = x.clone())."
    return None
