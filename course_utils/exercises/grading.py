"""Mini assignments as autograder tests (nbgrader): ``grade(name, fn)`` and its hidden-cases variant.

In a lesson or a released assignment ``grade`` behaves like ``check``: it prints the feedback and never
stops the notebook. When nbgrader runs the notebook (``autograde`` or ``validate``; nbgrader sets
``NBGRADER_EXECUTION``), a failing check also writes the reason, one sentence, to stderr: nbgrader gives
a test cell with stderr output no points, and the feedback page shows the sentence. No exception is
raised, so no traceback shows the cell's source (where the hidden tests are).

``grade(name, fn, hidden_seed=N)`` checks the same kinds of cases with the random inputs of another seed;
a failure names the kind of case and the hint, never the inputs or the results.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable

from .checker import CheckResult, run_check

__all__ = ["grade", "autograding", "reason"]


def autograding() -> bool:
    """True while nbgrader executes the notebook (autograde or validate)."""
    return os.environ.get("NBGRADER_EXECUTION", "") in ("autograde", "validate")


def reason(name: str, result: CheckResult, hidden: bool = False) -> str:
    """Why a check lost its points, in one sentence (what the feedback page shows).

    Args:
        name: the exercise name.
        result: what ``run_check`` found (not passed).
        hidden: whether the cases were the hidden ones.

    Returns:
        the sentence.
    """
    if result.status == "not attempted":
        return f"{name} is not attempted yet: the function still raises NotImplementedError."
    if result.status == "fail" and hidden:
        kind = f"a case like the check's '{result.case}'" if result.case else "a case with random inputs"
        return (f"{name} passes the check's cases but fails hidden case {result.index} of {result.total}, {kind}: "
                "make the function work for any input of that kind, not only for the cases shown.")
    if result.status == "fail":
        return f"{name} fails case {result.index} of {result.total} ({result.case}): {result.problem}"
    return f"{name} could not be checked (see the message above)."


def grade(name: str, fn: Callable, hidden_seed: int | None = None, timeout: float | None = None) -> None:
    """An autograder test cell: check ``fn``; under nbgrader a failure writes its reason to stderr (no points).

    Args:
        name: the exercise name (see ``exercises.NAMES``).
        fn: the learner's function.
        hidden_seed: None for the check's own cases; a seed for the hidden cases (same kinds, other inputs).
        timeout: seconds per call of ``fn`` (default: the exercise's own).

    Returns:
        None (so nbgrader never reads a return value as partial credit). Never raises.
    """
    with warnings.catch_warnings(record=True) as caught:  # nbgrader scores any stderr output as a failure
        warnings.simplefilter("always")
        _grade(name, fn, hidden_seed, timeout)
    if caught:
        first = caught[0]
        print(f"(your function gave {len(caught)} warning(s), not counted against you; the first: "
              f"{first.category.__name__}: {first.message})")


def _grade(name: str, fn: Callable, hidden_seed: int | None, timeout: float | None) -> None:
    hidden = hidden_seed is not None
    if hidden:  # the hidden cases count only once the check's own cases pass (one reason per lost point)
        visible = run_check(name, fn, timeout=timeout, verbose=False, record=False)
        if not visible.passed:
            said = "is not attempted yet" if visible.status == "not attempted" else "fails the check's own cases"
            message = f"{name}: hidden cases not run, because the function {said} (see the autograded cell above)."
            print(f"✘ {message}", file=sys.stderr if autograding() else sys.stdout)
            return
    # The learner's own runs count in their progress file, hidden cases do not (nor does anything nbgrader runs).
    result = run_check(name, fn, timeout=timeout, seed=hidden_seed, hidden=hidden, record=not hidden)
    if not result.passed and autograding():
        print(f"Points lost: {reason(name, result, hidden)}", file=sys.stderr)
