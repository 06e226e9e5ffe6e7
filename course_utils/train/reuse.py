"""Earlier lessons' models for later lessons: load the learner's checkpoint, else train (or build) one.

Every function here goes through ``checkpoints.load_or_train``, so the learner's own checkpoint
(under the lesson's name) always takes precedence, and a model trained here is saved for next time.

* ``semantic_fcn``: lesson 03's FCN-8s, or a quicker stand-in (lesson 04);
* ``load_or_train_models``: lesson 03's FCN and lesson 06's Mask R-CNN (lesson 07);
* ``starting_model``: lesson 06's Mask R-CNN to fine-tune, else a fresh one (lesson 08);
* ``bottom_up_predictions``: lesson 04's bottom-up instances, when its checkpoints exist (lesson 06).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..device import as_device
from ..models.bottom_up import bottom_up_instances
from ..models.fcn import FCN
from ..models.maskrcnn import MaskRCNNConfig, build_maskrcnn, set_num_classes
from ..paths import checkpoint_path
from .bottom_up import load_bottom_up
from .checkpoints import find_checkpoint, load_or_train
from .fcn import FCNTrainConfig, load_fcn, train_fcn
from .maskrcnn import MaskRCNNTrainConfig, load_maskrcnn, train_maskrcnn


@dataclass(frozen=True)
class FastSemanticConfig:
    """A quicker lesson-03 FCN-8s run, for when lesson 03's checkpoint is missing."""

    num_train: int = 1000  # training scenes (lesson 03: 2000)
    num_epochs: int = 4  # passes over them (lesson 03: 12)
    max_minutes: float | None = 1.5  # time budget on a CPU; None = all epochs
    checkpoint: str = "fcn8s_fast"  # saved here (not over lesson 03's "fcn8s"), so a re-run loads it


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
        (model in eval mode on ``device``, one sentence saying where it came from).
    """
    device = as_device(device)
    scores: dict = {}

    def train() -> FCN:
        cfg = FCNTrainConfig(num_train=fast.num_train, num_epochs=fast.num_epochs, max_minutes=fast.max_minutes)
        model, _, found = train_fcn(cfg, device=device, live_plot=live_plot, checkpoint=fast.checkpoint)
        scores.update(found)
        return model

    model, loaded = load_or_train((name, fast.checkpoint), load_fcn, train)
    if loaded is not None:
        return model.to(device).eval(), f"Loaded the FCN-8s from {checkpoint_path(loaded)}."
    return model.to(device).eval(), (
        f"Lesson 03's checkpoint {checkpoint_path(name)} is missing, so a quicker FCN-8s was trained here "
        f"(validation mIoU {scores['miou']:.2f}, saved as {checkpoint_path(fast.checkpoint)}); run lesson 03 "
        "for the real one.")


def load_or_train_models(device: torch.device | str | None = None, progress: bool = True
                         ) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Lesson 03's FCN and lesson 06's Mask R-CNN from their checkpoints, training any that is missing.

    A missing model is trained with the package's default recipe (``FCNTrainConfig()``,
    ``MaskRCNNTrainConfig()``) and saved under the lesson's checkpoint name, so this happens once.

    Args:
        device: where to put the models (default ``device.get_device()``).
        progress: show progress bars while training.

    Returns:
        (FCN, Mask R-CNN), both in eval mode on ``device``.
    """
    device = as_device(device)
    missing = ("{}: lesson {}'s checkpoint is missing, so it is trained now with the default settings "
               "(a few minutes on a CPU) and saved for next time.")

    def train_fcn8s() -> nn.Module:
        print(missing.format("FCN-8s", "03"))
        return train_fcn(FCNTrainConfig(), device=device, checkpoint="fcn8s", progress=progress)[0]

    def train_mask() -> nn.Module:
        print(missing.format("Mask R-CNN", "06"))
        return train_maskrcnn(MaskRCNNTrainConfig(), device=device, checkpoint="maskrcnn", progress=progress,
                              live_plot=False)[0]

    fcn, loaded = load_or_train("fcn8s", lambda n: load_fcn(n, map_location=device), train_fcn8s)
    if loaded:
        print(f"FCN-8s: loaded lesson 03's checkpoint {checkpoint_path('fcn8s')}.")
    maskrcnn, loaded = load_or_train("maskrcnn", lambda n: load_maskrcnn(n, device=device), train_mask)
    if loaded:
        print(f"Mask R-CNN: loaded lesson 06's checkpoint {checkpoint_path('maskrcnn')}.")
    return fcn.to(device).eval(), maskrcnn.to(device).eval()


def starting_model(num_classes: int = 7, device: torch.device | str | None = None) -> tuple[nn.Module, bool]:
    """Lesson 06's trained Mask R-CNN when its checkpoint exists (to fine-tune), else a fresh one.

    Args:
        num_classes: classes of the new dataset, background included (``dataset.num_classes``).
        device: where to put the model (default ``device.get_device()``).

    Returns:
        (the model, True when it starts from lesson 06's weights). Prints one sentence saying which.
    """
    device = as_device(device)
    model, loaded = load_or_train("maskrcnn", lambda n: load_maskrcnn(n, device=device))
    if loaded is not None:
        print(f"Starting from lesson 06's Mask R-CNN ({checkpoint_path('maskrcnn')}): fine-tuning.")
        return set_num_classes(model, num_classes).to(device), True
    print("Lesson 06's checkpoint is missing, so the model starts from random weights and is trained from scratch "
          "on this small dataset (expect a clearly lower AP than fine-tuning would give).")
    return build_maskrcnn(MaskRCNNConfig(num_classes=num_classes)).to(device), False


@torch.no_grad()
def bottom_up_predictions(scenes: Sequence[dict]) -> list[dict] | None:
    """Lesson 04's bottom-up instances for each scene, or None when its checkpoints are missing.

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
