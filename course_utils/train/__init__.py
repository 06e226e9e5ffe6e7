"""The one home of training: the loop, checkpoints, batch loaders and one recipe per model.

* ``loop``: ``fit`` (one loop for logits models and detection models); ``history``: ``History``, ``TrainingError``;
* ``checkpoints``: ``save_checkpoint`` / ``load_checkpoint`` / ``load_or_train`` / ``record_metrics`` /
  ``describe_checkpoint``;
* ``loaders``: ``preload_semantic`` + ``CropLoader``; ``SceneBatches`` / ``CocoBatches``;
* ``evaluate``: ``predict`` and ``evaluate_semantic`` (a trained model over data);
* ``curves``: the loss and validation figures ``fit`` draws (``plot_history``, ``compare_curves``);
* ``losses``: ``semantic_loss`` (cross-entropy, weighted, Dice, focal); ``compare``: lesson 04's model table;
* recipes, each with its frozen train config, ``train_xxx`` and ``load_xxx``: ``pixel`` (lesson 01),
  ``fcn`` (03), ``segmenters`` (U-Net and DeepLab, 04), ``bottom_up`` (05), ``maskrcnn`` (07), ``coco`` (09),
  ``promptable`` (the promptable segmenter: clicks sampled from ground truth, a corrective click);
* ``reuse``: earlier lessons' models for later lessons (load the checkpoint, else train);
* ``budget``: training for a fixed number of seconds with evaluations along the way (benchmarks).
"""

from .checkpoints import (  # noqa: F401
                          describe_checkpoint,
                          find_checkpoint,
                          load_checkpoint,
                          load_or_train,
                          record_metrics,
                          save_checkpoint,
)
from .evaluate import evaluate_semantic, predict  # noqa: F401
from .loaders import CocoBatches, CropLoader, DetectionBatches, SceneBatches, flip_scene, preload_semantic  # noqa: F401
from .loop import History, TrainingError, compute_loss, fit, one_cycle_lr, to_device  # noqa: F401
