"""Back of the book for lesson 03: FCN skip fusion and a class-weighted cross-entropy with an ignore index.

The FCN itself uses ``course_utils.models.fcn.fuse_skip`` (same idea, with a learned x2 upsampler);
the weighted loss equals ``F.cross_entropy(logits, target, weight=weights, ignore_index=ignore_index)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def fuse_skip(coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    """FCN skip fusion: upsample coarse class scores to the finer scores' size and add them.

    Args:
        coarse: (B, C, h, w) scores at the coarser stride.
        skip: (B, C, H, W) scores from finer features (H, W roughly 2h, 2w, not always exactly).

    Returns:
        (B, C, H, W): bilinear (``align_corners=False``) upsampling of ``coarse`` to (H, W), plus ``skip``.
    """
    up = F.interpolate(coarse, size=skip.shape[-2:], mode="bilinear", align_corners=False)  # (B, C, H, W)
    return up + skip


def weighted_cross_entropy(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor,
                           ignore_index: int = 255) -> torch.Tensor:
    """Per-pixel cross-entropy where each pixel counts with the weight of its TRUE class.

    loss = sum_i w[y_i] * (-log softmax(logits_i)[y_i]) / sum_i w[y_i], over pixels with y_i != ignore_index.

    Args:
        logits: (B, C, H, W) float scores.
        target: (B, H, W) int64 class ids, or ``ignore_index`` for pixels that do not count.
        weights: (C,) float weight per class.
        ignore_index: the target value of ignored pixels.

    Returns:
        a 0-dim float tensor (NaN when every pixel is ignored, like ``F.cross_entropy``).
    """
    log_probs = F.log_softmax(logits, dim=1)  # (B, C, H, W)
    keep = target != ignore_index  # (B, H, W)
    safe = torch.where(keep, target, torch.zeros_like(target))  # a valid index everywhere
    nll = -log_probs.gather(1, safe[:, None]).squeeze(1)  # (B, H, W)
    w = weights[safe] * keep  # (B, H, W), 0 where ignored
    return (w * nll).sum() / w.sum()
