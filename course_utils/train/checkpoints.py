"""Checkpoints: save a model with its config and history, read one back safely, load it or train it.

A checkpoint is a ``torch.save`` of plain data (weights, config as a dict, history as a dict), so
``torch.load(weights_only=True)`` reads it. Names ("fcn8s") live in ``paths.checkpoint_dir()``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from ..paths import is_checkpoint_name, reference_path, resolve_checkpoint

T = TypeVar("T")


def _plain(obj: Any) -> Any:
    """Dataclasses -> dicts, tuples -> lists, so ``torch.load(weights_only=True)`` can read it."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def save_checkpoint(model: nn.Module, name_or_path: str | Path, *, config: Any = None,
                    history: Any = None, **extra: Any) -> Path:
    """Save the weights, the model's config (to rebuild it) and optionally the history.

    Args:
        model: the trained model; its ``config`` attribute is saved when ``config`` is None.
        name_or_path: a checkpoint name (see ``paths.checkpoint_path``) or a file path.
        config: a dataclass or dict describing how to rebuild the model.
        history: the training ``History`` to keep with it.
        extra: further plain values (numbers, strings, lists, dicts) to store.

    Returns:
        the path written.
    """
    path = resolve_checkpoint(name_or_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = config if config is not None else getattr(model, "config", None)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"model": state, "config": _plain(config), "model_class": type(model).__name__,
               "history": history.to_dict() if history is not None else None, **_plain(extra)}
    torch.save(payload, path)
    return path


def load_checkpoint(name_or_path: str | Path, model: nn.Module | None = None,
                    map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint safely (``weights_only=True``) and optionally load its weights into ``model``.

    Args:
        name_or_path: a checkpoint name or a file path.
        model: when given, its weights are replaced by the checkpoint's.
        map_location: where to put the tensors.

    Returns:
        the checkpoint dict: ``model`` (state dict), ``config``, ``model_class``, ``history``, ...
    """
    path = resolve_checkpoint(name_or_path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}: run the lesson that trains it first "
                                "(or set COURSE_CHECKPOINTS to the folder that holds it)")
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if model is not None:
        model.load_state_dict(payload["model"])
    return payload


def find_checkpoint(names: str | Sequence[str]) -> str | None:
    """The first of ``names`` whose checkpoint exists, each name tried in the learner's folder, then as reference.

    For each name in order: the learner's own file (``paths.checkpoint_path``), then the course's
    reference checkpoint of that name (``paths.reference_path``, made by ``make checkpoints``), so
    ``("maskrcnn", "maskrcnn_fast")`` tries the learner's lesson-07 model, the reference one, then a
    stand-in trained by an earlier lesson. A name that is a path is only tried as that path.

    Returns:
        the name found, the reference file's path (a string) when that is what exists, or None.
    """
    for name in [names] if isinstance(names, str) else names:
        path = resolve_checkpoint(name)
        if path.exists():
            return str(name)
        reference = reference_path(str(name)) if is_checkpoint_name(name) else None
        if reference is not None and reference.exists():
            return str(reference)
    return None


def is_reference(found: str | Path | None) -> bool:
    """Whether a checkpoint ``find_checkpoint`` returned is one of the course's reference checkpoints."""
    if found is None or is_checkpoint_name(found):
        return False
    reference = reference_path(Path(found).stem)
    return reference is not None and Path(found) == reference


def load_or_train(names: str | Sequence[str], load: Callable[[str], T],
                  train: Callable[[], T] | None = None) -> tuple[T | None, str | None]:
    """Load the first checkpoint of ``names`` that exists; when none does, call ``train()`` (if given).

    The one "load or train" of the course: later lessons use it for the models of earlier ones,
    and the learner's own checkpoint (the first name) always takes precedence.

    Args:
        names: checkpoint names to try, in order.
        load: ``load(name) -> model``.
        train: ``train() -> model``, called only when no checkpoint exists (None: return None instead).

    Returns:
        (the model, or None when nothing was found and there is no ``train``; the name it was loaded
        from, or None when it was trained or not found).
    """
    found = find_checkpoint(names)
    if found is not None:
        return load(found), found
    return (train() if train is not None else None), None


def record_metrics(name_or_path: str | Path, **metrics: Any) -> dict:
    """Store measured metrics in an existing checkpoint (merged with those already there).

    Later lessons that load the checkpoint say what it reached (``describe_checkpoint``).

    Args:
        name_or_path: a checkpoint name or a file path.
        metrics: plain values, e.g. ``val_miou=0.903, val_scenes=128``.

    Returns:
        the checkpoint's metrics after the update.
    """
    path = resolve_checkpoint(name_or_path)
    payload = torch.load(path, map_location="cpu", weights_only=True)
    payload["metrics"] = {**(payload.get("metrics") or {}), **_plain(metrics)}
    torch.save(payload, path)
    return payload["metrics"]


METRIC_NAMES = {"val_miou": "val mIoU", "mask_AP": "mask AP", "mask_AP50": "mask AP50"}
"""How ``describe_checkpoint`` names the metrics it reports, in this order."""


def describe_checkpoint(name_or_path: str | Path) -> str:
    """Where a checkpoint lives and what it reached when it was saved, in words (for a lesson's output).

    Args:
        name_or_path: a checkpoint name or a file path.

    Returns:
        e.g. "checkpoints/fcn8s.pt (val mIoU 0.903 on 128 validation scenes)", or the path and
        "(no metric recorded with it)".
    """
    path = resolve_checkpoint(name_or_path)
    try:
        metrics = torch.load(path, map_location="cpu", weights_only=True).get("metrics") or {}
    except Exception:  # noqa: BLE001 - an unreadable file is described, the loader reports the error
        metrics = {}
    parts = [f"{label} {metrics[k]:.3f}" for k, label in METRIC_NAMES.items()
             if isinstance(metrics.get(k), (int, float))]
    if not parts:
        return f"{path} (no metric recorded with it)"
    scenes = metrics.get("val_scenes")
    return f"{path} ({', '.join(parts)}" + (f" on {scenes} validation scenes)" if scenes else ")")
