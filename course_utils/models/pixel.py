"""Per-pixel classifiers (lesson 01): each pixel is classified from its own features only.

Written as 1x1 convolutions, so the model takes whole images (B, 3, H, W) and returns logits
(B, C, H, W) like an FCN, yet every output pixel depends on exactly one input pixel: its RGB
colour, plus its normalised (y, x) position when ``with_coords`` is on.

* ``hidden=0``: multinomial logistic regression (one linear layer);
* ``hidden>0``: a small MLP (``layers`` hidden layers of width ``hidden`` with ReLU).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..data.classes import NUM_CLASSES
from ..data.datasets import pixel_features


@dataclass(frozen=True)
class PixelConfig:
    """How to build a ``PixelClassifier``."""

    num_classes: int = NUM_CLASSES  # output classes (7 in the shapes world, void included)
    hidden: int = 32  # width of the hidden layers; 0 = logistic regression
    layers: int = 2  # number of hidden layers (ignored when hidden == 0)
    with_coords: bool = False  # also feed each pixel's (y, x) position in [0, 1]


class PixelClassifier(nn.Module):
    """Logistic regression or MLP applied to every pixel independently (1x1 convolutions).

    Args:
        config: a ``PixelConfig``.
    """

    def __init__(self, config: PixelConfig = PixelConfig()):
        super().__init__()
        self.config = config
        in_ch = 5 if config.with_coords else 3
        if config.hidden <= 0:
            self.net = nn.Conv2d(in_ch, config.num_classes, kernel_size=1)
        else:
            blocks: list[nn.Module] = []
            for _ in range(config.layers):
                blocks += [nn.Conv2d(in_ch, config.hidden, kernel_size=1), nn.ReLU(inplace=True)]
                in_ch = config.hidden
            blocks.append(nn.Conv2d(in_ch, config.num_classes, kernel_size=1))
            self.net = nn.Sequential(*blocks)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Per-pixel logits.

        Args:
            images: (B, 3, H, W) float in [0, 1].

        Returns:
            (B, num_classes, H, W) logits.
        """
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
        feats = pixel_features(images, self.config.with_coords)  # (B, 3 or 5, H, W)
        return self.net(feats)


def build_pixel_classifier(hidden: int = 32, with_coords: bool = False, num_classes: int = NUM_CLASSES,
                           layers: int = 2) -> PixelClassifier:
    """A ``PixelClassifier``: ``hidden=0`` is logistic regression, ``hidden>0`` an MLP.

    Args:
        hidden: hidden width (0 for logistic regression).
        with_coords: add the (y, x) position of each pixel to its colour.
        num_classes: output classes.
        layers: hidden layers of the MLP.

    Returns:
        the model (logits (B, C, H, W) for images (B, 3, H, W)).
    """
    return PixelClassifier(PixelConfig(num_classes=num_classes, hidden=hidden, layers=layers,
                                       with_coords=with_coords))
