"""Comparing a learner's result with the reference, copying inputs, and summarising values in words."""

from __future__ import annotations

import copy
import math
import numbers
from typing import Any

import numpy as np
import torch

__all__ = ["clone", "compare", "summarize"]


def clone(obj: Any) -> Any:
    """A deep copy of ``obj`` (tensors cloned, arrays copied, containers rebuilt) so no side sees the other's edits."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, np.ndarray):
        return obj.copy()
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return tuple(clone(x) for x in obj)
    if isinstance(obj, list):
        return [clone(x) for x in obj]
    if isinstance(obj, dict):
        return {k: clone(v) for k, v in obj.items()}
    try:
        return copy.deepcopy(obj)
    except Exception:  # noqa: BLE001 - an object that cannot be copied is passed as it is
        return obj


def _fmt_number(x: Any) -> str:
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, numbers.Integral):
        return str(int(x))
    if isinstance(x, numbers.Real):
        return f"{float(x):.6g}"
    return repr(x)


def _fmt_values(values: Any) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(_fmt_values(v) for v in values) + "]"
    return _fmt_number(values)


def _type_name(obj: Any) -> str:
    if obj is None:
        return "None"
    if isinstance(obj, torch.Tensor):
        return f"a tensor of shape {list(obj.shape)} and dtype {obj.dtype}"
    if isinstance(obj, np.ndarray):
        return f"a NumPy array of shape {list(obj.shape)} and dtype {obj.dtype}"
    return f"a {type(obj).__module__ + '.' if type(obj).__module__ not in ('builtins',) else ''}{type(obj).__name__}"


def summarize(obj: Any, max_items: int = 36, indent: int | None = None) -> str:
    """Describe a value: type, shape, dtype and device, and the values when there are few.

    Args:
        obj: any value (tensor, array, number, container...).
        max_items: show the values of tensors/arrays with at most this many elements.
        indent: when given, a small 2-D tensor's rows go on separate lines indented by this many spaces.

    Returns:
        a short human-readable description (one line unless ``indent`` is given).
    """
    if isinstance(obj, torch.Tensor):
        t = obj.detach()
        where = "" if t.device.type == "cpu" else f" on {t.device}"
        head = f"tensor {str(t.dtype).replace('torch.', '')} {list(t.shape)}{where}"
        if indent is not None and t.dim() == 2 and 1 < t.shape[0] and 0 < t.numel() <= max_items * 2:
            rows = [_fmt_values(r) for r in t.cpu().tolist()]
            pad = " " * indent
            return head + " =\n" + pad + "[" + (",\n" + pad + " ").join(rows) + "]"
        return head + _value_part(t.cpu(), max_items)
    if isinstance(obj, np.ndarray):
        head = f"array {obj.dtype} {list(obj.shape)}"
        try:
            return head + _value_part(torch.from_numpy(np.ascontiguousarray(obj)), max_items)
        except (TypeError, ValueError):
            return head
    if isinstance(obj, (list, tuple)):
        open_, close = ("[", "]") if isinstance(obj, list) else ("(", ")")
        if len(obj) <= 6:
            inner = ", ".join(summarize(x, max_items) for x in obj)
            return open_ + inner + ("," if isinstance(obj, tuple) and len(obj) == 1 else "") + close
        return f"{type(obj).__name__} of {len(obj)} items, first: {summarize(obj[0], max_items)}"
    if isinstance(obj, dict):
        if len(obj) <= 8:
            return "{" + ", ".join(f"{k!r}: {summarize(v, max_items)}" for k, v in obj.items()) + "}"
        return f"dict with {len(obj)} keys: {list(obj)[:8]}..."
    if isinstance(obj, (numbers.Number, np.generic)):
        return _fmt_number(obj) + ("" if isinstance(obj, (bool, int, float)) else f" ({type(obj).__name__})")
    text = repr(obj)
    return text if len(text) <= 100 else text[:97] + "..."


def _value_part(t: torch.Tensor, max_items: int) -> str:
    if t.numel() == 0:
        return " (empty)"
    if t.numel() <= max_items:
        return " = " + _fmt_values(t.tolist())
    if t.dtype == torch.bool:
        return f", {int(t.sum())} of {t.numel()} True"
    if t.is_complex():
        return ""
    tf = t.double()
    finite = tf[torch.isfinite(tf)]
    parts = []
    if finite.numel():
        parts.append(f"min {_fmt_number(finite.min().item())}, max {_fmt_number(finite.max().item())}")
        if t.is_floating_point():
            parts.append(f"mean {_fmt_number(finite.mean().item())}")
    n_nan = int(torch.isnan(tf).sum())
    if n_nan:
        parts.append(f"{n_nan} NaN")
    return ", " + ", ".join(parts) if parts else ""


def _as_number(got: Any) -> float | int | None:
    if isinstance(got, bool) or isinstance(got, np.bool_):
        return None
    if isinstance(got, (numbers.Real, np.integer, np.floating)):
        return got
    if isinstance(got, torch.Tensor) and got.numel() == 1 and got.dim() == 0 and not got.is_complex():
        return got.item()
    return None


def _compare_tensors(expected: torch.Tensor, got: torch.Tensor, atol: float, rtol: float, path: str) -> str | None:
    if got.shape != expected.shape:
        return f"{path} has shape {list(got.shape)}, but the expected shape is {list(expected.shape)}."
    if got.dtype != expected.dtype:
        return (f"{path} has dtype {got.dtype}, but the expected dtype is {expected.dtype} "
                f"(convert with .to({expected.dtype}) or build it with the right dtype).")
    if got.numel() == 0:
        return None
    if expected.is_floating_point() or expected.is_complex():
        nan_e, nan_g = torch.isnan(expected), torch.isnan(got)
        bad = nan_g & ~nan_e
        if bool(bad.any()):
            first = tuple(int(i) for i in bad.nonzero()[0])
            return (f"{path} contains NaN at {int(bad.sum())} of {got.numel()} positions (first at index {first}); "
                    "look for a division by zero or log of zero.")
        if bool((nan_e & ~nan_g).any()):
            return f"{path} should be NaN at {int((nan_e & ~nan_g).sum())} positions but holds numbers there."
        ok = torch.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    else:
        ok = got == expected
    if bool(ok.all()):
        return None
    wrong = (~ok).nonzero()
    first = tuple(int(i) for i in wrong[0])
    e_val, g_val = expected[first].item(), got[first].item()
    where = f" at index {first}" if expected.dim() else ""
    extra = ""
    if expected.dim():
        extra = f" ({wrong.shape[0]} of {expected.numel()} values differ)"
    if expected.is_floating_point():
        diff = (got.double() - expected.double()).abs().nan_to_num(0.0).max().item()
        extra += f"; largest difference {_fmt_number(diff)}"
    return f"{path} differs{where}: expected {_fmt_number(e_val)}, got {_fmt_number(g_val)}{extra}."


def compare(expected: Any, got: Any, atol: float = 1e-5, rtol: float = 1e-4, path: str = "your result") -> str | None:
    """Compare a result with the expected one, recursively.

    Args:
        expected: the reference's result (tensor, array, number, bool, str, None, list/tuple/dict of these).
        got: the learner's result; tensors on any device are moved to the CPU first.
        atol: absolute tolerance for floating-point values.
        rtol: relative tolerance for floating-point values.
        path: how to name the value in the message ("your result[0]['boxes']").

    Returns:
        None when they agree, else one sentence saying what differs.
    """
    if isinstance(expected, torch.Tensor):
        if isinstance(got, np.ndarray):
            return f"{path} is a NumPy array; return a torch tensor instead (torch.from_numpy(...) converts one)."
        if not isinstance(got, torch.Tensor):
            want = f"a tensor of shape {list(expected.shape)} and dtype {expected.dtype}"
            return f"{path} should be {want}, but it is {_type_name(got)}" + (
                f" ({summarize(got)})." if got is not None else " (did you forget `return`?).")
        return _compare_tensors(expected.detach().cpu(), got.detach().cpu(), atol, rtol, path)
    if isinstance(expected, np.ndarray):
        return _compare_arrays(expected, got, atol, rtol, path)
    if expected is None:
        return None if got is None else f"{path} should be None, but it is {_type_name(got)}."
    if isinstance(expected, (bool, np.bool_)):
        g = got.item() if isinstance(got, torch.Tensor) and got.numel() == 1 and got.dtype == torch.bool else got
        if not isinstance(g, (bool, np.bool_)):
            return f"{path} should be True or False, but it is {_type_name(got)}."
        return None if bool(g) == bool(expected) else f"{path} is {bool(g)}, expected {bool(expected)}."
    if isinstance(expected, (numbers.Real, np.integer, np.floating)):
        g = _as_number(got)
        if g is None:
            return f"{path} should be a number like {_fmt_number(expected)}, but it is {_type_name(got)}."
        e_f, g_f = float(expected), float(g)
        if math.isnan(g_f) and not math.isnan(e_f):
            return f"{path} is NaN, expected {_fmt_number(expected)}; look for a division by zero."
        if math.isnan(e_f):
            return None if math.isnan(g_f) else f"{path} should be NaN, but it is {_fmt_number(g)}."
        if math.isclose(g_f, e_f, rel_tol=rtol, abs_tol=atol):
            return None
        return f"{path} is {_fmt_number(g)}, expected {_fmt_number(expected)}."
    if isinstance(expected, str):
        return None if got == expected else f"{path} is {got!r}, expected {expected!r}."
    if isinstance(expected, (list, tuple)):
        return _compare_sequences(expected, got, atol, rtol, path)
    if isinstance(expected, dict):
        return _compare_dicts(expected, got, atol, rtol, path)
    try:
        same = bool(expected == got)
    except Exception:  # noqa: BLE001 - objects that cannot be compared count as different
        same = False
    return None if same else f"{path} is {summarize(got)}, expected {summarize(expected)}."


def _compare_arrays(expected: np.ndarray, got: Any, atol: float, rtol: float, path: str) -> str | None:
    """``compare`` for a NumPy array result: type, shape and dtype strictly, then the values."""
    if not isinstance(got, np.ndarray):
        return f"{path} should be a NumPy array of shape {list(expected.shape)}, but it is {_type_name(got)}."
    if got.shape != expected.shape:
        return f"{path} has shape {list(got.shape)}, but the expected shape is {list(expected.shape)}."
    if got.dtype != expected.dtype:
        return f"{path} has dtype {got.dtype}, but the expected dtype is {expected.dtype}."
    try:
        return _compare_tensors(torch.from_numpy(np.ascontiguousarray(expected)),
                                torch.from_numpy(np.ascontiguousarray(got)), atol, rtol, path)
    except TypeError:
        return None if np.array_equal(expected, got) else f"{path} differs from the expected array."


def _compare_sequences(expected: list | tuple, got: Any, atol: float, rtol: float, path: str) -> str | None:
    """``compare`` for a list or tuple result: its length, then item by item."""
    kind = "a list" if isinstance(expected, list) else "a tuple"
    if not isinstance(got, (list, tuple)):
        return f"{path} should be {kind} of {len(expected)} items, but it is {_type_name(got)}."
    if len(got) != len(expected):
        return f"{path} has {len(got)} items, expected {len(expected)}."
    for i, (e, g) in enumerate(zip(expected, got)):
        msg = compare(e, g, atol, rtol, f"{path}[{i}]")
        if msg:
            return msg
    return None


def _compare_dicts(expected: dict, got: Any, atol: float, rtol: float, path: str) -> str | None:
    """``compare`` for a dict result: the same keys, then value by value."""
    if not isinstance(got, dict):
        return f"{path} should be a dict with keys {sorted(map(str, expected))}, but it is {_type_name(got)}."
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    if missing:
        return f"{path} is missing the key(s) {missing}."
    if extra:
        return f"{path} has unexpected key(s) {extra}."
    for k in expected:
        msg = compare(expected[k], got[k], atol, rtol, f"{path}[{k!r}]")
        if msg:
            return msg
    return None
