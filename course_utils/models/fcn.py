"""Fully convolutional networks (lessons 02-03): FCN-32s, FCN-16s and FCN-8s, small enough for a CPU.

The encoder is five VGG-style stages (3x3 conv + BatchNorm + ReLU, then 2x2 max-pooling), so
stage k works at stride 2**k: features at strides 8, 16 and 32. With ``first_stage="stride"``
(lesson 03's recipe) stage 1 halves the size with a stride-2 conv instead, and never computes
full-size features. A 1x1 convolution turns the
stride-32 features into class scores; FCN-32s upsamples them 32x in one go. FCN-16s first adds
scores from the stride-16 features (a *skip*), FCN-8s also from the stride-8 features, which
restores detail at boundaries. The x2 upsamplings between skips are transposed convolutions
initialised as bilinear interpolation and trained with the rest; the last step to full size is
fixed bilinear interpolation, as in the FCN paper (``final_upsampling="transposed"`` learns it
too). Skip score layers start at zero, so an untrained FCN-8s behaves like FCN-32s and learns
to use the skips.

Any input size works: the image is padded (replicating its edge) up to a multiple of 32 and the
logits are cropped back, so the output is exactly (B, C, H, W) for an (B, 3, H, W) input.

Building and loading (used by lessons 03, 05 and 09)::

    from course_utils.models import FCNConfig, build_fcn
    from course_utils.train.fcn import load_fcn
    model = build_fcn(num_classes=3, variant="8s")  # e.g. background / interior / boundary
    model = FCN(FCNConfig(num_classes=7, variant="8s", channels=(16, 32, 64, 128, 128)))  # a wider one
    model = load_fcn("fcn8s")  # the lesson-03 checkpoint, rebuilt from the config saved with it
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data.classes import NUM_CLASSES
from .receptive import receptive_field_rows

VARIANTS = ("32s", "16s", "8s")


@dataclass(frozen=True)
class FCNConfig:
    """How to build an ``FCN``."""

    num_classes: int = NUM_CLASSES  # output classes (7 for the shapes world, void included)
    variant: str = "8s"  # "32s", "16s" or "8s": the finest stride whose features reach the output
    channels: tuple[int, ...] = (8, 24, 48, 96, 128)  # width of the 5 encoder stages (strides 2..32)
    convs_per_stage: tuple[int, ...] = (1, 1, 2, 2, 2)  # 3x3 convs in each stage before its pooling
    learn_upsampling: bool = True  # train the x2 transposed convolutions between skips (bilinear at the start)
    final_upsampling: str = "bilinear"  # last step to full size: "bilinear" (fixed, as in the FCN paper) or
    # "transposed" (a transposed convolution initialised as bilinear and trained; slower on a CPU)
    first_stage: str = "pool"  # how stage 1 halves the size: "pool" (its convs at full size, then 2x2 max-pooling,
    # as VGG) or "stride" (its first conv has stride 2, no pooling: no full-size feature maps, a cheaper step)


def bilinear_kernel(factor: int) -> torch.Tensor:
    """The 2-D kernel that makes a stride-``factor`` transposed convolution upsample bilinearly.

    Args:
        factor: upsampling factor (>= 1).

    Returns:
        (k, k) float32 with k = 2 * factor - factor % 2; a tent of height 1 at the centre.
    """
    if int(factor) != factor or factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor!r}")
    k = 2 * factor - factor % 2
    centre = factor - 1 if k % 2 == 1 else factor - 0.5
    tent = 1 - (torch.arange(k, dtype=torch.float32) - centre).abs() / factor  # (k,)
    return tent[:, None] * tent[None, :]  # (k, k)


def bilinear_upsampler(channels: int, factor: int, trainable: bool = True) -> nn.ConvTranspose2d:
    """A transposed convolution that multiplies the size by ``factor``, initialised as bilinear upsampling.

    Each channel is upsampled on its own at the start (the kernel sits on the diagonal of the
    weight); training may then mix channels.

    Args:
        channels: input = output channels.
        factor: integer scale factor; the output is exactly ``factor`` times the input size.
        trainable: whether the weights are learned.

    Returns:
        ``nn.ConvTranspose2d`` mapping (B, channels, h, w) -> (B, channels, factor*h, factor*w).
    """
    kernel = bilinear_kernel(factor)
    k = kernel.shape[0]
    layer = nn.ConvTranspose2d(channels, channels, k, stride=factor, padding=(k - factor) // 2, bias=False)
    with torch.no_grad():
        layer.weight.zero_()  # (in, out, k, k)
        for c in range(channels):
            layer.weight[c, c] = kernel
    layer.weight.requires_grad_(trainable)
    return layer


def match_size(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop (bottom/right) or edge-pad a (B, C, h, w) map to (B, C, *size)."""
    h, w = size
    x = x[..., :h, :w]
    dh, dw = h - x.shape[-2], w - x.shape[-1]
    if dh > 0 or dw > 0:
        x = F.pad(x, (0, dw, 0, dh), mode="replicate")
    return x


def fuse_skip(coarse: torch.Tensor, skip: torch.Tensor, upsample: nn.Module | None = None) -> torch.Tensor:
    """FCN skip fusion: upsample coarse scores to the size of finer scores and add them.

    Args:
        coarse: (B, C, h, w) scores at the coarser stride.
        skip: (B, C, H, W) scores from finer features (H ~ 2h).
        upsample: a module doubling the size (e.g. ``bilinear_upsampler``); default plain bilinear
            interpolation straight to (H, W) (``align_corners=False``).

    Returns:
        (B, C, H, W) fused scores.
    """
    if upsample is None:
        up = F.interpolate(coarse, size=skip.shape[-2:], mode="bilinear", align_corners=False)
    else:
        # one cell of edge padding first, so border outputs are not pulled towards 0 by the transposed
        # convolution's zero padding (with the bilinear kernel this equals F.interpolate at the border too)
        f = upsample.stride[0] if isinstance(upsample, nn.ConvTranspose2d) else 0
        x = F.pad(coarse, (1, 1, 1, 1), mode="replicate") if f else coarse
        up = upsample(x)
        up = up[..., f:up.shape[-2] - f, f:up.shape[-1] - f] if f else up
        up = match_size(up, skip.shape[-2:])  # (B, C, H, W)
    return up + skip


FIRST_STAGES = ("pool", "stride")


def first_conv_stride(first_stage: str, stage: int) -> int:
    """Stride of the first conv of encoder stage ``stage`` (1-5): 2 in stage 1 when it strides instead of pooling.

    Shared by the FCN and DeepLab (their ``first_stage`` field); raises ``ValueError`` for an unknown value.
    """
    if first_stage not in FIRST_STAGES:
        raise ValueError(f"first_stage must be one of {FIRST_STAGES}, got {first_stage!r}")
    return 2 if stage == 1 and first_stage == "stride" else 1


def _stage(in_ch: int, out_ch: int, convs: int, stride: int = 1) -> nn.Sequential:
    """``convs`` x (3x3 conv, BatchNorm, ReLU) then 2x2 max-pooling: halves the size.

    With ``stride`` 2 the first conv halves the size instead, and there is no pooling.
    """
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [nn.Conv2d(in_ch if i == 0 else out_ch, out_ch, 3, stride=stride if i == 0 else 1, padding=1,
                             bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)]
    if stride == 1:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class FCN(nn.Module):
    """FCN-32s / 16s / 8s with a small VGG-style encoder (see the module docstring).

    Args:
        config: an ``FCNConfig``.
    """

    def __init__(self, config: FCNConfig = FCNConfig()):
        super().__init__()
        if config.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {config.variant!r}")
        if len(config.channels) != 5 or len(config.convs_per_stage) != 5:
            raise ValueError("channels and convs_per_stage need one entry per stage (5 stages: strides 2..32)")
        self.config = config
        c, n = config.channels, config.num_classes
        ins = (3, *c[:-1])
        self.stages = nn.ModuleList(_stage(i, o, k, first_conv_stride(config.first_stage, s))
                                    for s, (i, o, k) in enumerate(zip(ins, c, config.convs_per_stage), start=1))
        self.score32 = nn.Conv2d(c[4], n, 1)  # classifier on stride-32 features
        trainable = config.learn_upsampling
        if config.variant in ("16s", "8s"):
            self.score16 = nn.Conv2d(c[3], n, 1)
            self.up32to16 = bilinear_upsampler(n, 2, trainable)
        if config.variant == "8s":
            self.score8 = nn.Conv2d(c[2], n, 1)
            self.up16to8 = bilinear_upsampler(n, 2, trainable)
        for skip in ("score16", "score8"):  # start as FCN-32s; the skips learn to help
            if hasattr(self, skip):
                nn.init.zeros_(getattr(self, skip).weight)
                nn.init.zeros_(getattr(self, skip).bias)
        self.output_stride = int(config.variant[:-1])
        if config.final_upsampling not in ("bilinear", "transposed"):
            raise ValueError(f"final_upsampling must be 'bilinear' or 'transposed', got {config.final_upsampling!r}")
        self.upsample = (bilinear_upsampler(n, self.output_stride, trainable)
                         if config.final_upsampling == "transposed" else None)

    def features(self, images: torch.Tensor) -> dict[int, torch.Tensor]:
        """Encoder features by stride.

        Args:
            images: (B, 3, H, W) with H and W multiples of 32.

        Returns:
            {2: (B, c0, H/2, W/2), 4: ..., 8: ..., 16: ..., 32: (B, c4, H/32, W/32)}.
        """
        feats = {}
        x = images
        for k, stage in enumerate(self.stages, start=1):
            x = stage(x)
            feats[2 ** k] = x
        return feats

    def coarse_scores(self, images: torch.Tensor) -> torch.Tensor:
        """Class scores at the output stride (32, 16 or 8) before the final upsampling.

        Args:
            images: (B, 3, H, W) with H and W multiples of 32.

        Returns:
            (B, C, H / output_stride, W / output_stride).
        """
        feats = self.features(images)
        scores = self.score32(feats[32])  # (B, C, H/32, W/32)
        if self.config.variant in ("16s", "8s"):
            scores = fuse_skip(scores, self.score16(feats[16]), self.up32to16)  # (B, C, H/16, W/16)
        if self.config.variant == "8s":
            scores = fuse_skip(scores, self.score8(feats[8]), self.up16to8)  # (B, C, H/8, W/8)
        return scores

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits at the input resolution.

        Args:
            images: (B, 3, H, W) float in [0, 1], any H and W.

        Returns:
            (B, num_classes, H, W) logits.
        """
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
        h, w = images.shape[-2:]
        ph, pw = -h % 32, -w % 32
        x = F.pad(images, (0, pw, 0, ph), mode="replicate") if ph or pw else images  # (B, 3, H', W')
        x = x.contiguous(memory_format=torch.channels_last)  # faster convolutions on CPUs
        scores = self.coarse_scores(x)  # (B, C, H'/stride, W'/stride)
        if self.upsample is not None:
            logits = self.upsample(scores)  # (B, C, H', W')
        else:
            logits = F.interpolate(scores, scale_factor=self.output_stride, mode="bilinear", align_corners=False)
        return logits[..., :h, :w].contiguous()


def build_fcn(num_classes: int = NUM_CLASSES, variant: str = "8s", **kwargs) -> FCN:
    """An untrained FCN.

    Args:
        num_classes: output classes (e.g. 7 for the shapes world, 3 for background/interior/boundary).
        variant: "32s", "16s" or "8s".
        kwargs: further ``FCNConfig`` fields (``channels``, ``convs_per_stage``, ``learn_upsampling``).

    Returns:
        the model: logits (B, num_classes, H, W) for images (B, 3, H, W).
    """
    if "channels" in kwargs:
        kwargs["channels"] = tuple(kwargs["channels"])
    if "convs_per_stage" in kwargs:
        kwargs["convs_per_stage"] = tuple(kwargs["convs_per_stage"])
    return FCN(FCNConfig(num_classes=num_classes, variant=variant, **kwargs))


def fcn_layers(config: FCNConfig = FCNConfig()) -> list[tuple[str, int, int, int]]:
    """The encoder's layers as (name, kernel, stride, dilation), for ``models.receptive.receptive_field_rows``."""
    layers = []
    for s, convs in enumerate(config.convs_per_stage, start=1):
        stride = first_conv_stride(config.first_stage, s)
        layers += [(f"stage{s}.conv{i + 1}", 3, stride if i == 0 else 1, 1) for i in range(convs)]
        if stride == 1:
            layers.append((f"stage{s}.pool", 2, 2, 1))
    return layers


def receptive_field_table(config: FCNConfig = FCNConfig()) -> list[dict]:
    """Receptive field and stride after every conv and pooling layer of the encoder.

    Uses r_out = r_in + (k - 1) * j_in and j_out = j_in * s, where j is the distance in input
    pixels between neighbouring outputs (the cumulative stride).

    Args:
        config: the FCN configuration.

    Returns:
        one dict per layer: ``layer``, ``stage`` (1-5), ``kernel``, ``stride`` (cumulative), ``receptive_field``
        (px), ``channels``.
    """
    rows = receptive_field_rows(fcn_layers(config))
    for row in rows:
        stage = int(row["layer"][5])  # "stage3.conv1" -> 3
        row.update(stage=stage, stride=int(row["stride"]), channels=config.channels[stage - 1])
        del row["dilation"]
    return rows
