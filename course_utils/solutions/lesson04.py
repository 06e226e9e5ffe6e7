"""Back of the book for lesson 04: a dilated convolution by hand, the (binary) Dice loss and a U-Net skip.

``dilated_conv2d`` equals ``F.conv2d(x[None, None], k[None, None], padding=d * (k - 1) // 2, dilation=d)``;
``dice_loss`` is the binary form of ``train.losses.dice_loss``; ``unet_skip`` is ``models.unet.concat_skip``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dilated_conv2d(image: torch.Tensor, kernel: torch.Tensor, dilation: int) -> torch.Tensor:
    """A 2-D cross-correlation with dilated taps and zero padding that keeps the size.

    Args:
        image: (H, W) float.
        kernel: (k, k) float, k odd.
        dilation: gap between taps (1 = an ordinary convolution).

    Returns:
        (H, W): out[i, j] = sum_ab kernel[a, b] * padded[i + a*dilation, j + b*dilation].
    """
    if int(dilation) != dilation or dilation < 1:
        raise ValueError(f"dilation must be an integer >= 1, got {dilation!r}")
    k = kernel.shape[0]
    pad = dilation * (k - 1) // 2
    h, w = image.shape
    padded = F.pad(image, (pad, pad, pad, pad))  # (H + 2 pad, W + 2 pad)
    out = torch.zeros_like(image)
    for a in range(k):
        for b in range(k):
            out += kernel[a, b] * padded[a * dilation:a * dilation + h, b * dilation:b * dilation + w]
    return out


def dice_loss(probs: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Soft binary Dice loss over a whole batch.

    Args:
        probs: (B, H, W) foreground probabilities in [0, 1].
        target: (B, H, W) 0/1 (or bool) true mask.
        eps: smoothing in numerator and denominator (an empty mask predicted empty gives 0).

    Returns:
        0-dim tensor: 1 - (2 * sum(p * t) + eps) / (sum(p) + sum(t) + eps).
    """
    t = target.to(probs.dtype)
    inter = (probs * t).sum()
    return 1 - (2 * inter + eps) / (probs.sum() + t.sum() + eps)


def unet_skip(up: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    """U-Net's skip: crop or zero-pad the upsampled map to the skip's size, then concatenate the channels.

    Args:
        up: (B, C1, h, w) upsampled decoder features.
        skip: (B, C2, H, W) encoder features.

    Returns:
        (B, C2 + C1, H, W): skip's channels first.
    """
    h, w = skip.shape[-2:]
    up = up[..., :h, :w]  # crop what is too long
    up = F.pad(up, (0, w - up.shape[-1], 0, h - up.shape[-2]))  # zero-pad what is too short
    return torch.cat([skip, up], dim=1)
