"""U-Net (Ronneberger et al., 2015), small enough for a CPU: an encoder-decoder with skips by concatenation.

The encoder is a stack of levels (3x3 conv + BatchNorm + ReLU, then 2x2 max-pooling), so level k
works at stride 2**k, like the FCN's encoder. The decoder climbs back one level at a time: it
doubles the size of the coarse features (a 2x2 transposed convolution, or bilinear interpolation
followed by a 1x1 convolution), **concatenates** the encoder features of the same stride along the
channel axis (FCN-8s *adds* class scores instead), and mixes the two with 3x3 convolutions. The
output is at stride 1: every pixel gets its class scores from features computed at full
resolution, which is where U-Net's sharp boundaries come from.

Any input size works: when a level's size is odd, pooling floors it and the upsampled map is one
pixel short; ``crop_or_pad`` makes it match its skip before the concatenation.

    from course_utils.models.unet import build_unet
    model = build_unet(num_classes=7)                   # logits (B, 7, H, W) for images (B, 3, H, W)
    model = build_unet(7, upsampling="bilinear")         # bilinear + 1x1 conv instead of transposed convs
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data.classes import NUM_CLASSES

UPSAMPLINGS = ("transposed", "bilinear")


@dataclass(frozen=True)
class UNetConfig:
    """How to build a ``UNet``."""

    num_classes: int = NUM_CLASSES  # output classes (7 for the shapes world, void included)
    channels: tuple[int, ...] = (8, 16, 32, 64, 128)  # width of each encoder level (strides 1, 2, 4, 8, 16)
    convs_per_level: tuple[int, ...] = (1, 1, 2, 2, 2)  # 3x3 convs per encoder level (the paper uses 2 everywhere);
    # the decoder uses one per level: full-resolution convolutions are the expensive ones on a CPU
    upsampling: str = "transposed"  # "transposed" (learned 2x2, stride 2) or "bilinear" (fixed, then a 1x1 conv)
    deep_scores: bool = True  # also add class scores from the deepest level, upsampled bilinearly (as FCN-32s):
    # a short path from the loss to the deep features, which must learn the shapes
    zero_init_skips: bool = True  # start with the skips' weights at 0 (as FCN-8s's skip scores): the model first
    # learns what the objects are from the deep path, then where exactly their edges are from the skips


def conv_bn_relu(in_ch: int, out_ch: int, convs: int = 1, dilation: int = 1, stride: int = 1) -> nn.Sequential:
    """``convs`` x (3x3 conv with padding = dilation, BatchNorm, ReLU): the size is kept (``stride`` 2: the first
    conv halves it)."""
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [nn.Conv2d(in_ch if i == 0 else out_ch, out_ch, 3, stride=stride if i == 0 else 1, padding=dilation,
                             dilation=dilation, bias=False),
                   nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def crop_or_pad(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop (bottom/right) or zero-pad a (B, C, h, w) map to (B, C, *size).

    Args:
        x: (B, C, h, w) features.
        size: the wanted (H, W).

    Returns:
        (B, C, H, W).
    """
    h, w = size
    x = x[..., :h, :w]
    dh, dw = h - x.shape[-2], w - x.shape[-1]
    return F.pad(x, (0, dw, 0, dh)) if dh > 0 or dw > 0 else x


def concat_skip(up: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    """U-Net skip: bring the upsampled map to the skip's size and concatenate them along the channels.

    Args:
        up: (B, C1, h, w) upsampled decoder features (h is the skip's height or one less).
        skip: (B, C2, H, W) encoder features of the same stride.

    Returns:
        (B, C2 + C1, H, W): the skip's channels first, then the decoder's.
    """
    if up.shape[0] != skip.shape[0]:
        raise ValueError(f"batch sizes differ: {up.shape[0]} vs {skip.shape[0]}")
    return torch.cat([skip, crop_or_pad(up, skip.shape[-2:])], dim=1)


class _Up(nn.Module):
    """One decoder step: x2 upsampling, concatenation with the skip, 3x3 convs."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int, convs: int, upsampling: str, zero_skip: bool = False):
        super().__init__()
        if upsampling == "transposed":
            self.up = nn.ConvTranspose2d(in_ch, out_ch, 2, stride=2)
        else:
            self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                    nn.Conv2d(in_ch, out_ch, 1))
        self.conv = conv_bn_relu(skip_ch + out_ch, out_ch, convs)
        if zero_skip:
            with torch.no_grad():
                self.conv[0].weight[:, :skip_ch] = 0  # the skip's channels come first in the concatenation

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(concat_skip(self.up(x), skip))  # (B, out_ch, H, W)


class UNet(nn.Module):
    """A small U-Net (see the module docstring).

    Args:
        config: a ``UNetConfig``.
    """

    def __init__(self, config: UNetConfig = UNetConfig()):
        super().__init__()
        if config.upsampling not in UPSAMPLINGS:
            raise ValueError(f"upsampling must be one of {UPSAMPLINGS}, got {config.upsampling!r}")
        if len(config.channels) < 2:
            raise ValueError("a U-Net needs at least two levels (channels with >= 2 entries)")
        self.config = config
        c, k = config.channels, config.convs_per_level
        if len(k) != len(c):
            raise ValueError(f"convs_per_level needs one entry per level ({len(c)}), got {k}")
        self.down = nn.ModuleList(conv_bn_relu(i, o, n) for i, o, n in zip((3, *c[:-1]), c, k))
        self.up = nn.ModuleList(_Up(c[i + 1], c[i], c[i], 1, config.upsampling, config.zero_init_skips)
                                for i in reversed(range(len(c) - 1)))
        self.classifier = nn.Conv2d(c[0], config.num_classes, 1)
        self.deep_classifier = nn.Conv2d(c[-1], config.num_classes, 1) if config.deep_scores else None
        self.output_stride = 1

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits at the input resolution.

        Args:
            images: (B, 3, H, W) float in [0, 1], any H and W (at least 2**(levels-1)).

        Returns:
            (B, num_classes, H, W) logits.
        """
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
        x = images.contiguous(memory_format=torch.channels_last)
        skips = []
        for i, level in enumerate(self.down):
            x = level(F.max_pool2d(x, 2) if i else x)  # (B, c_i, H / 2**i, W / 2**i)
            skips.append(x)
        deep = x  # (B, c_last, H / 2**(L-1), W / 2**(L-1))
        for up, skip in zip(self.up, reversed(skips[:-1])):
            x = up(x, skip)  # back up one level
        logits = self.classifier(x)  # (B, C, H, W)
        if self.deep_classifier is not None:
            logits = logits + F.interpolate(self.deep_classifier(deep), size=logits.shape[-2:], mode="bilinear",
                                            align_corners=False)
        return logits.contiguous()


def build_unet(num_classes: int = NUM_CLASSES, **kwargs) -> UNet:
    """An untrained U-Net.

    Args:
        num_classes: output classes.
        kwargs: further ``UNetConfig`` fields (``channels``, ``convs_per_level``, ``upsampling``).

    Returns:
        the model: logits (B, num_classes, H, W) for images (B, 3, H, W).
    """
    for key in ("channels", "convs_per_level"):
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key])
    return UNet(UNetConfig(num_classes=num_classes, **kwargs))


def unet_layers(config: UNetConfig = UNetConfig()) -> list[tuple[str, int, int, int]]:
    """U-Net's layers along its deepest path, as (name, kernel, stride, dilation) for ``receptive_field_rows``.

    A decoder upsampling is written with stride -2 (it halves the jump between outputs).
    """
    layers = []
    for level in range(len(config.channels)):
        if level:
            layers.append((f"pool{level}", 2, 2, 1))
        layers += [(f"down{level}.conv{i + 1}", 3, 1, 1) for i in range(config.convs_per_level[level])]
    for level in reversed(range(len(config.channels) - 1)):
        # a 2x2 stride-2 transposed conv gives each output exactly one input cell; bilinear mixes two
        layers.append((f"up{level}", 1 if config.upsampling == "transposed" else 2, -2, 1))
        layers.append((f"up{level}.conv", 3, 1, 1))
    return layers
