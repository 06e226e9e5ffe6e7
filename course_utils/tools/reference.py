"""Make the course's reference checkpoints: ``python -m course_utils.tools.reference`` (``make checkpoints``).

A later lesson that needs an earlier lesson's model uses the learner's own checkpoint first; when the
learner has not run that lesson, it uses the reference checkpoint shipped in ``reference/`` (see
``train.checkpoints.find_checkpoint``), so every lesson also runs on its own in minutes. Each
reference is trained here with that lesson's recipe as it is (``FCNTrainConfig()`` of lesson 03,
``MaskRCNNTrainConfig()`` of lesson 07), stored with half-precision weights (half the file size),
and scored after that rounding as the lesson scores it: val mIoU on 128 validation scenes, mask AP
and AP50 on 200. The file keeps the training history and how it was made (command, date, CPU,
torch version, training seconds), which BENCHMARKS.md lists.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from ..data.datasets import InstanceDataset
from ..device import as_device
from ..metrics.coco_eval import evaluate_maskrcnn
from ..paths import REFERENCE_DIR
from ..train.checkpoints import load_checkpoint
from ..train.evaluate import evaluate_semantic
from ..train.fcn import FCNTrainConfig, load_fcn, train_fcn
from ..train.loaders import CropLoader, preload_semantic
from ..train.maskrcnn import MaskRCNNTrainConfig, load_maskrcnn, train_maskrcnn

COMMAND = "python -m course_utils.tools.reference"
NAMES = ("fcn8s", "maskrcnn")
"""The reference checkpoints: lesson 03's FCN-8s and lesson 07's Mask R-CNN."""


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def half_precision(payload: dict) -> dict:
    """The checkpoint with its floating-point weights in float16 (loading casts them back)."""
    weights = {k: v.half() if v.is_floating_point() else v for k, v in payload["model"].items()}
    return {**payload, "model": weights}


def _train(name: str, path: Path, device: torch.device) -> float:
    """Train lesson ``name``'s recipe and save it to ``path``; returns the seconds of training."""
    if name == "fcn8s":
        history = train_fcn(FCNTrainConfig(), device=device, checkpoint=str(path))[1]
    else:
        history = train_maskrcnn(MaskRCNNTrainConfig(), device=device, checkpoint=str(path), live_plot=False)[1]
    return history.total_time_s


def _score(name: str, path: Path, device: torch.device) -> dict:
    """Score the half-precision checkpoint at ``path`` as its lesson does."""
    if name == "fcn8s":
        images, labels = preload_semantic("val", 128)
        loader = CropLoader(images, labels, 64, crop=None, flip=False, shuffle=False)
        scores = evaluate_semantic(load_fcn(str(path)).to(device), loader, FCNTrainConfig().num_classes, device=device)
        return {"val_miou": scores["miou"], "val_scenes": 128}
    val = InstanceDataset("val", 200)
    scores = evaluate_maskrcnn(load_maskrcnn(str(path), device=device), val, iou_types=("segm",))["segm"]
    return {"mask_AP": scores["AP"], "mask_AP50": scores["AP50"], "val_scenes": len(val)}


def make_reference(name: str, out_dir: Path = REFERENCE_DIR, device: torch.device | str | None = "cpu") -> dict:
    """Train, round, score and save one reference checkpoint (``out_dir/name.pt``).

    Returns:
        what was stored about it: ``{"metrics": ..., "made_by": ...}``.
    """
    if name not in NAMES:
        raise ValueError(f"no reference recipe for {name!r}; there are: {', '.join(NAMES)}")
    device = as_device(device)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        trained = Path(tmp) / f"{name}.pt"
        train_s = _train(name, trained, device)
        payload = half_precision(load_checkpoint(str(trained)))
        torch.save(payload, trained)
        metrics = _score(name, trained, device)
    made_by = {"command": f"{COMMAND} --only {name}", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "cpu": cpu_name(), "device": str(device), "threads": torch.get_num_threads(),
               "torch": str(torch.__version__), "train_s": round(train_s, 1), "weights": "float16"}
    torch.save({**payload, "metrics": metrics, "made_by": made_by}, out_dir / f"{name}.pt")
    return {"metrics": metrics, "made_by": made_by}


def main(argv: list[str] | None = None) -> int:
    """Command line: make the reference checkpoints (all, or ``--only`` some) into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help=f"comma-separated names (default: {','.join(NAMES)})")
    parser.add_argument("--out", type=Path, default=REFERENCE_DIR, help="folder to write to (default: reference/)")
    parser.add_argument("--device", default="cpu", help="where to train (default: cpu, as the learners' machines)")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(NAMES)
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        print(f"error: no reference recipe for {', '.join(unknown)}; there are: {', '.join(NAMES)}", file=sys.stderr)
        return 2
    for name in names:
        print(f"[{name}] training with its lesson's recipe", flush=True)
        info = make_reference(name, args.out, args.device)
        print(f"[{name}] {args.out / (name + '.pt')}: {info['metrics']} after {info['made_by']['train_s']} s of "
              "training", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
