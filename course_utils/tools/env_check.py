"""Does this machine have what the course needs? Versions, device, widgets, data sample, progress file."""

from __future__ import annotations

import importlib
import os
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from ..paths import REPO_ROOT

__all__ = ["Item", "Report", "environment_report", "print_report", "PACKAGES", "DATA_FILES"]

# (distribution name, import name) of what a learner needs; versions are shown for each.
PACKAGES: tuple[tuple[str, str], ...] = (
    ("torch", "torch"), ("torchvision", "torchvision"), ("numpy", "numpy"), ("matplotlib", "matplotlib"),
    ("pycocotools", "pycocotools"), ("ipywidgets", "ipywidgets"), ("ipyevents", "ipyevents"),
    ("jupyterlab", "jupyterlab"),
)
DATA_FILES: tuple[str, ...] = ("data/train/annotations.json", "data/val/annotations.json")


@dataclass
class Item:
    """One line of the report."""

    name: str  # what was checked ("torch", "device", ...)
    detail: str  # what was found
    problem: str | None = None  # one sentence saying what is missing and how to fix it; None when fine


@dataclass
class Report:
    """The whole environment report."""

    items: list[Item] = field(default_factory=list)  # in the order they are printed

    @property
    def ok(self) -> bool:
        """True when nothing the course needs is missing."""
        return not self.problems

    @property
    def problems(self) -> list[str]:
        """One sentence per missing piece."""
        return [i.problem for i in self.items if i.problem]

    def text(self) -> str:
        """The report as printed by ``python -m course_utils check``."""
        width = max(len(i.name) for i in self.items) + 2
        lines = ["Course environment check"]
        lines += [f"  {i.name:<{width}}{i.detail}{'   <-- problem' if i.problem else ''}" for i in self.items]
        if self.problems:
            lines.append("")
            lines.append("Something the course needs is missing:")
            lines += [f"  - {p}" for p in self.problems]
        else:
            lines.append("")
            lines.append("All good: this machine is ready for the course.")
        return "\n".join(lines)


def _version(dist: str, module: str) -> Item:
    try:
        importlib.import_module(module)
    except Exception as err:  # noqa: BLE001 - a broken install is reported, not raised
        return Item(dist, "not importable", f"{dist} cannot be imported ({type(err).__name__}: {err}); install the "
                                            "course's requirements with: pip install -r requirements.txt")
    try:
        version = metadata.version(dist)
    except metadata.PackageNotFoundError:
        version = getattr(sys.modules[module], "__version__", "unknown version")
    return Item(dist, version)


def _device() -> Item:
    try:
        import torch

        from ..device import get_device

        device = get_device()
        if device.type == "cuda":
            name = torch.cuda.get_device_name(device)
            return Item("device", f"cuda ({name}): lessons use the GPU automatically")
        if device.type == "mps":
            return Item("device", "mps (Apple GPU): lessons use it automatically")
        return Item("device", f"{device.type} (no GPU found: lessons run on the CPU, within a few minutes each)")
    except Exception as err:  # noqa: BLE001
        return Item("device", "unknown", f"The compute device could not be chosen ({type(err).__name__}: {err}).")


def _widgets() -> Item:
    try:
        import ipywidgets

        return Item("widgets", f"ipywidgets {ipywidgets.__version__} importable (practice questions are interactive)")
    except Exception as err:  # noqa: BLE001
        return Item("widgets", "missing", f"ipywidgets cannot be imported ({type(err).__name__}), so practice "
                                          "questions fall back to text; install it with: pip install ipywidgets")


def _data(root: Path) -> Item:
    missing = [f for f in DATA_FILES if not (root / f).is_file()]
    if missing:
        return Item("data sample", f"missing {', '.join(missing)}",
                    f"The data sample is missing ({', '.join(missing)}); create it with: python -m course_utils "
                    "make-data")
    return Item("data sample", ", ".join(DATA_FILES) + " present")


def _progress() -> Item:
    from .. import progress

    path = progress.path()
    folder = path.parent if path.parent.exists() else REPO_ROOT
    writable = os.access(folder, os.W_OK)
    detail = f"{path}" + ("" if path.exists() else " (created on your first answer)")
    if not writable:
        return Item("progress", detail, f"The progress file's folder {folder} is not writable; choose another file "
                                        "with course_utils.progress.set_path(...) or COURSE_PROGRESS.")
    return Item("progress", detail)


def environment_report(root: str | os.PathLike | None = None) -> Report:
    """Check versions, device, widgets, the data sample and the progress file.

    Args:
        root: the course folder holding ``data/`` (default: the repository root).

    Returns:
        a ``Report``; ``report.ok`` is False when something the course needs is missing.
    """
    root = Path(root) if root is not None else REPO_ROOT
    items = [Item("python", platform.python_version(),
                  None if sys.version_info >= (3, 10) else "The course needs Python 3.10 or newer.")]
    items += [_version(dist, module) for dist, module in PACKAGES]
    items += [_device(), _widgets(), _data(root), _progress()]
    return Report(items)


def print_report(root: str | os.PathLike | None = None) -> Report:
    """Print the environment report (lesson 00 calls this) and return it.

    Args:
        root: the course folder holding ``data/`` (default: the repository root).

    Returns:
        the ``Report`` that was printed.
    """
    report = environment_report(root)
    print(report.text())
    return report
