"""Losses for imbalanced pixels beside cross-entropy: Dice (Milletari et al., 2016) and focal (Lin et al., 2017).

* **weighted cross-entropy**: each pixel's ``-log p(true class)`` times its class's weight (lesson 03);
* **Dice**: ``1 - 2|P∩T| / (|P| + |T|)`` with soft counts (probabilities), per class, averaged over the
  classes present; a rare class counts as much as a common one, whatever its pixel count;
* **focal**: ``-(1 - p)**gamma log p``: pixels the model already gets right (p near 1) weigh almost
  nothing, so the loss concentrates on the hard ones (boundaries, small objects).

``semantic_loss(name, weights=...)`` builds any of them as ``loss_fn(logits, targets)`` for ``fit``.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F

LOSSES = ("ce", "weighted_ce", "dice", "focal", "ce+dice")


def _valid(target: torch.Tensor, ignore_index: int | None) -> torch.Tensor:
    """(B, H, W) bool: pixels that count."""
    return torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index


def dice_loss(logits: torch.Tensor, target: torch.Tensor, ignore_index: int | None = None,
              eps: float = 1.0) -> torch.Tensor:
    """Soft multi-class Dice loss, averaged over the classes present in the batch (target or prediction).

    Args:
        logits: (B, C, H, W) scores.
        target: (B, H, W) int64 class ids; ``ignore_index`` pixels are left out of every count.
        ignore_index: a target value to leave out (void pixels).
        eps: smoothing added to numerator and denominator: an empty class (no target, no prediction)
            gives Dice 1, never 0 / 0.

    Returns:
        0-dim loss in [0, 1].
    """
    if logits.dim() != 4 or target.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(f"dice_loss: logits (B, C, H, W) and target (B, H, W), got {tuple(logits.shape)} "
                         f"and {tuple(target.shape)}")
    num_classes = logits.shape[1]
    valid = _valid(target, ignore_index)  # (B, H, W)
    probs = logits.float().softmax(1) * valid[:, None]  # (B, C, H, W), void pixels zeroed
    onehot = F.one_hot(torch.where(valid, target, 0), num_classes).permute(0, 3, 1, 2) * valid[:, None]
    inter = (probs * onehot).sum(dim=(0, 2, 3))  # (C,)
    sizes = probs.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3))  # (C,)
    dice = (2 * inter + eps) / (sizes + eps)  # (C,)
    present = onehot.sum(dim=(0, 2, 3)) > 0
    return 1 - (dice[present].mean() if bool(present.any()) else dice.mean())


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0, weight: torch.Tensor | None = None,
               ignore_index: int = -100) -> torch.Tensor:
    """Focal loss: cross-entropy with each pixel's term scaled by ``(1 - p_true) ** gamma``.

    Args:
        logits: (B, C, H, W) scores.
        target: (B, H, W) int64 class ids.
        gamma: focusing strength (0 gives cross-entropy).
        weight: optional (C,) class weights (as ``F.cross_entropy``'s).
        ignore_index: target value left out.

    Returns:
        0-dim loss: the weighted mean over kept pixels (normalised like ``F.cross_entropy(weight=...)``).
    """
    logp = F.log_softmax(logits.float(), dim=1)  # (B, C, H, W)
    ce = F.nll_loss(logp, target, weight=weight, ignore_index=ignore_index, reduction="none")  # (B, H, W)
    valid = target != ignore_index
    p_true = logp.gather(1, torch.where(valid, target, 0)[:, None]).squeeze(1).exp()  # (B, H, W)
    w = weight[torch.where(valid, target, 0)] * valid if weight is not None else valid.float()
    return ((1 - p_true) ** gamma * ce).sum() / w.sum().clamp(min=1e-12)


def semantic_loss(name: str = "weighted_ce", weights: torch.Tensor | None = None, gamma: float = 2.0,
                  ignore_index: int = -100):
    """A ``loss_fn(logits, targets)`` for ``fit`` by name.

    Args:
        name: "ce", "weighted_ce" (needs ``weights``), "dice", "focal" (weighted when ``weights`` is given)
            or "ce+dice".
        weights: (C,) class weights.
        gamma: the focal loss's exponent.
        ignore_index: target value left out.

    Returns:
        the loss function.
    """
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {name!r}")
    if name == "weighted_ce" and weights is None:
        raise ValueError("loss 'weighted_ce' needs class weights (train.fcn.class_weights)")
    if name == "ce":
        return partial(F.cross_entropy, ignore_index=ignore_index)
    if name == "weighted_ce":
        return partial(F.cross_entropy, weight=weights, ignore_index=ignore_index)
    if name == "focal":
        return partial(focal_loss, gamma=gamma, weight=weights, ignore_index=ignore_index)
    dice = partial(dice_loss, ignore_index=None if ignore_index < 0 else ignore_index)
    if name == "dice":
        return dice
    return lambda logits, target: F.cross_entropy(logits, target, ignore_index=ignore_index) + dice(logits, target)
