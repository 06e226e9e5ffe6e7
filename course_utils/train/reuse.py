"""Earlier lessons' models for later lessons: the learner's checkpoint, else the reference one, else train one.

Every function here goes through ``checkpoints.load_or_train``, so the learner's own checkpoint
(under the lesson's name) always takes precedence; without it the course's reference checkpoint
(``reference/``, made by ``make checkpoints``) is used, and only when that is missing too is a
stand-in trained here, saved under its own name for next time (never over the lesson's). Each says
which checkpoint it uses and what that checkpoint reached when it was saved (``describe_checkpoint``).

* ``semantic_fcn``: lesson 03's FCN-8s (lessons 05, 09); ``semantic_fcn_for_comparison``:
  the same with its training history (lesson 04);
* ``maskrcnn_model``: lesson 07's Mask R-CNN (lessons 08-11);
* ``load_or_train_models``: both of them (lesson 09);
* ``starting_model``: lesson 07's (or the reference) Mask R-CNN to fine-tune, else a fresh one;
* ``bottom_up_predictions``: lesson 05's bottom-up instances, when its checkpoints exist (lesson 07).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..data.datasets import InstanceDataset
from ..device import as_device
from ..metrics.coco_eval import evaluate_maskrcnn
from ..models.bottom_up import bottom_up_instances
from ..models.fcn import FCN
from ..models.maskrcnn import MaskRCNNConfig, build_maskrcnn, set_num_classes
from ..paths import checkpoint_path
from .bottom_up import load_bottom_up
from .checkpoints import (
    describe_checkpoint,
    find_checkpoint,
    is_reference,
    load_checkpoint,
    load_or_train,
    record_metrics,
)
from .fcn import FCNTrainConfig, load_fcn, train_fcn
from .maskrcnn import MaskRCNNTrainConfig, load_maskrcnn, train_maskrcnn


@dataclass(frozen=True)
class FastSemanticConfig:
    """A quicker lesson-03 FCN-8s run, for when lesson 03's checkpoint and the reference one are both missing."""

    num_train: int = 1000  # training scenes (lesson 03: 2000)
    num_epochs: int = 8  # passes over them (lesson 03: 12 of 2000 scenes)
    max_minutes: float | None = 1.0  # time budget on a CPU (about 40 s of it on one core); None = all epochs
    checkpoint: str = "fcn8s_fast"  # saved here (not over lesson 03's "fcn8s"), so a re-run loads it


@dataclass(frozen=True)
class FastMaskRCNNConfig:
    """A quicker lesson-07 Mask R-CNN run, for when lesson 07's checkpoint and the reference one are both missing."""

    num_epochs: int = 2  # passes over lesson 07's training scenes (lesson 07: 3)
    max_minutes: float = 0.6  # training budget: the schedule is squeezed into it where two epochs take longer
    # (about 50 s on two cores), so a lesson that must also train this stand-in stays within its 4 minutes
    num_val: int = 50  # validation scenes scored after training, to say what the stand-in reached
    checkpoint: str = "maskrcnn_fast"  # saved here (not over lesson 07's "maskrcnn"), so a re-run loads it


def origin_message(lesson: str, what: str, name: str, loaded: str | None, stand_in: str, trained: str) -> str:
    """One sentence saying which checkpoint stands for lesson ``lesson``'s model and what it reached.

    Args:
        lesson: the lesson that trains the model ("07"); what: its name ("Mask R-CNN").
        name: that lesson's checkpoint name; loaded: what ``load_or_train`` loaded (None: trained here).
        stand_in: the stand-in's checkpoint name; trained: the stand-in in words, for "... was trained here".
    """
    if loaded == name:
        return f"Loaded lesson {lesson}'s {what} from {describe_checkpoint(name)}."
    missing = f"Lesson {lesson}'s checkpoint {checkpoint_path(name)} is missing, so"
    if is_reference(loaded):
        return (f"{missing} the course's reference {what} is used (made by `make checkpoints` with lesson {lesson}'s "
                f"recipe): {describe_checkpoint(loaded)}; run lesson {lesson} to use your own.")
    done = "trained earlier is used" if loaded is not None else "was trained here"
    return (f"{missing} {trained} {done}: {describe_checkpoint(stand_in)}; run lesson {lesson} for the real one.")


def semantic_fcn(device: torch.device | str | None = None, name: str = "fcn8s",
                 fast: FastSemanticConfig = FastSemanticConfig(), live_plot: bool = True) -> tuple[FCN, str]:
    """Lesson 03's semantic FCN-8s, or (when its checkpoint is missing) a quickly trained stand-in.

    Looks for the checkpoint ``name``, then ``fast.checkpoint``; trains the stand-in with lesson
    03's recipe and fewer scenes and epochs only when neither exists.

    Args:
        device: where to put (and train) the model (default ``device.get_device()``).
        name: lesson 03's checkpoint name.
        fast: how to train the stand-in.
        live_plot: show the training curves while the stand-in trains.

    Returns:
        (model in eval mode on ``device``, one sentence saying where it came from and what it reached).
    """
    device = as_device(device)

    def train() -> FCN:
        cfg = FCNTrainConfig(num_train=fast.num_train, num_epochs=fast.num_epochs, max_minutes=fast.max_minutes)
        return train_fcn(cfg, device=device, live_plot=live_plot, checkpoint=fast.checkpoint)[0]

    model, loaded = load_or_train((name, fast.checkpoint), load_fcn, train)
    message = origin_message("03", "FCN-8s", name, loaded, fast.checkpoint, "a quicker FCN-8s")
    return model.to(device).eval(), message


def maskrcnn_model(device: torch.device | str | None = None, name: str = "maskrcnn",
                   fast: FastMaskRCNNConfig = FastMaskRCNNConfig(), progress: bool = True) -> tuple[nn.Module, str]:
    """Lesson 07's Mask R-CNN, or (when its checkpoint is missing) a stand-in trained with a shorter schedule.

    Args:
        device: where to put (and train) the model (default ``device.get_device()``).
        name: lesson 07's checkpoint name.
        fast: how to train the stand-in.
        progress: show a progress bar while the stand-in trains.

    Returns:
        (model in eval mode on ``device``, one sentence saying where it came from and what it reached).
    """
    device = as_device(device)

    def train() -> nn.Module:
        recipe = MaskRCNNTrainConfig(num_epochs=fast.num_epochs, max_minutes=fast.max_minutes)
        model = train_maskrcnn(recipe, device=device, checkpoint=fast.checkpoint, progress=progress,
                               live_plot=False)[0]
        scores = evaluate_maskrcnn(model, InstanceDataset("val", fast.num_val), iou_types=("segm",))["segm"]
        record_metrics(fast.checkpoint, mask_AP=scores["AP"], mask_AP50=scores["AP50"], val_scenes=fast.num_val)
        return model

    model, loaded = load_or_train((name, fast.checkpoint), lambda n: load_maskrcnn(n, device=device), train)
    message = origin_message("07", "Mask R-CNN", name, loaded, fast.checkpoint,
                             f"a Mask R-CNN with a shorter training schedule ({fast.num_epochs} epochs in at most "
                             f"{60 * fast.max_minutes:.0f} s of training)")
    return model.to(device).eval(), message


def load_or_train_models(device: torch.device | str | None = None, progress: bool = True
                         ) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Lesson 03's FCN and lesson 07's Mask R-CNN from their checkpoints, training a quick stand-in for any missing.

    Prints one sentence per model: which checkpoint it is and what it reached when it was saved.

    Args:
        device: where to put the models (default ``device.get_device()``).
        progress: show progress bars while training.

    Returns:
        (FCN, Mask R-CNN), both in eval mode on ``device``.
    """
    fcn, message = semantic_fcn(device, live_plot=False)
    print("FCN-8s (stuff):", message)
    maskrcnn, message = maskrcnn_model(device, progress=progress)
    print("Mask R-CNN (things):", message)
    return fcn, maskrcnn


def starting_model(num_classes: int = 7, device: torch.device | str | None = None) -> tuple[nn.Module, bool]:
    """Lesson 07's trained Mask R-CNN when its checkpoint exists (to fine-tune), else a fresh one.

    Args:
        num_classes: classes of the new dataset, background included (``dataset.num_classes``).
        device: where to put the model (default ``device.get_device()``).

    Returns:
        (the model, True when it starts from lesson 07's weights). Prints one sentence saying which.
    """
    device = as_device(device)
    model, loaded = load_or_train("maskrcnn", lambda n: load_maskrcnn(n, device=device))
    if loaded is not None:
        whose = "the course's reference Mask R-CNN (lesson 07's recipe)" if is_reference(loaded) else \
            "lesson 07's Mask R-CNN"
        print(f"Starting from {whose}, {describe_checkpoint(loaded)}: fine-tuning.")
        return set_num_classes(model, num_classes).to(device), True
    print("Lesson 07's checkpoint is missing, so the model starts from random weights and is trained from scratch "
          "on this small dataset (expect a clearly lower AP than fine-tuning would give).")
    return build_maskrcnn(MaskRCNNConfig(num_classes=num_classes)).to(device), False


@torch.no_grad()
def bottom_up_predictions(scenes: Sequence[dict]) -> list[dict] | None:
    """Lesson 05's bottom-up instances for each scene, or None when its checkpoints are missing.

    Args:
        scenes: scene dicts (``make_scene``) with ``image``.

    Returns:
        one instance dict per scene (``models.bottom_up.bottom_up_instances``), or None when lesson
        04's "bottom_up" checkpoint or an FCN-8s ("fcn8s", else "fcn8s_fast") is missing or unreadable.
    """
    semantic = find_checkpoint(("fcn8s", "fcn8s_fast"))
    if find_checkpoint("bottom_up") is None or semantic is None:
        return None
    try:
        model, sem_model = load_bottom_up("bottom_up"), load_fcn(semantic).cpu().eval()
    except Exception:  # noqa: BLE001 - an old or foreign checkpoint: compare without it
        return None
    return [bottom_up_instances(model, sem_model, s["image"]) for s in scenes]


def semantic_fcn_for_comparison(device: torch.device | str | None = None, name: str = "fcn8s",
                                fast: FastSemanticConfig = FastSemanticConfig()) -> tuple[FCN, str, dict, str]:
    """``semantic_fcn`` plus the training history saved with the checkpoint it used (lesson 04's comparison).

    The history's seconds were measured where that checkpoint was trained: for the course's reference,
    on the machine that ran ``make checkpoints`` (its ``made_by``), which the sentence then names.

    Args:
        device: where to put (and train) the model.
        name: lesson 03's checkpoint name.
        fast: how to train the stand-in when lesson 03's checkpoint is missing.

    Returns:
        (model in eval mode, the sentence saying which checkpoint it is and where its training was timed,
        its history as a dict with ``epochs`` (empty lists when the checkpoint holds none), where its seconds
        were measured in a few words, for the lines that compare them: "timed in lesson 03's run",
        "timed in the stand-in's run" or "timed on the machine that made the reference, not this one").
    """
    model, message = semantic_fcn(device, name, fast, live_plot=False)
    used = find_checkpoint((name, fast.checkpoint))
    payload = load_checkpoint(used) if used is not None else {}
    history = payload.get("history") or {"steps": [], "epochs": []}
    if is_reference(used):
        made = payload.get("made_by") or {}
        machine = ", ".join(str(made[k]) for k in ("cpu", "device") if made.get(k))
        machine += f", {made['threads']} threads" if made.get("threads") else ""
        machine += f", {made['date']}" if made.get("date") else ""
        message += (f" Its training times were measured on the machine that made it ({machine or 'not recorded'}), "
                    "not on this one.")
        return model, message, history, "timed on the machine that made the reference, not this one"
    return model, message, history, "timed in lesson 03's run" if used == name else "timed in the stand-in's run"
