"""The handful of names every lesson needs, under one short import: ``from course_utils import engine``.

Nothing is defined here; each name lives in its home module:

* ``get_device``, ``seed_everything``: ``course_utils.device``;
* ``REPO_ROOT``, ``checkpoint_dir``, ``checkpoint_path``: ``course_utils.paths``;
* ``fit``, ``History``, ``TrainingError``, ``compute_loss``, ``to_device``, ``save_checkpoint``,
  ``load_checkpoint``, ``predict``, ``evaluate_semantic``: ``course_utils.train``.

Nothing inside the package imports this module (it sits with the notebooks, at the top).
"""

from __future__ import annotations

from .device import get_device, seed_everything
from .paths import REPO_ROOT, checkpoint_dir, checkpoint_path
from .train import (
                    History,
                    TrainingError,
                    compute_loss,
                    evaluate_semantic,
                    fit,
                    load_checkpoint,
                    predict,
                    save_checkpoint,
                    to_device,
)

__all__ = ["REPO_ROOT", "get_device", "seed_everything", "checkpoint_dir", "checkpoint_path", "fit", "History",
           "TrainingError", "compute_loss", "to_device", "save_checkpoint", "load_checkpoint", "predict",
           "evaluate_semantic"]
