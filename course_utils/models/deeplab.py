"""DeepLab (Chen et al.: DeepLabv3 2017, DeepLabv3+ 2018), small enough for a CPU.

Three ideas, each a module here:

* **Atrous (dilated) convolution**: a 3x3 kernel whose taps sit ``rate`` pixels apart. It sees a
  (2*rate+1)-wide window with 9 weights and, with ``padding = rate``, keeps the size. The backbone
  (the FCN's VGG-style stages) stops pooling at the **output stride** (16 or 8) and dilates what
  comes after instead, so it keeps its receptive field without shrinking the map.
* **ASPP** (atrous spatial pyramid pooling): on the last feature map, a 1x1 convolution, three 3x3
  convolutions at different rates and an **image-pooling** branch (the mean over the whole map,
  broadcast back) run side by side; their outputs are concatenated and mixed by a 1x1 convolution.
* **The DeepLabv3+ decoder**: the ASPP output is upsampled to stride 4, concatenated with reduced
  stride-4 backbone features (one low-level skip) and refined by a 3x3 convolution; the class
  scores are then upsampled bilinearly to full size.

The image is padded (replicating its edge) to a multiple of the output stride and the logits are
cropped back, so any input size gives (B, C, H, W) for (B, 3, H, W).

    from course_utils.models.deeplab import build_deeplab
    model = build_deeplab(num_classes=7)                      # DeepLabv3+, output stride 16
    model = build_deeplab(7, output_stride=8, decoder=False)  # DeepLabv3 at output stride 8
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data.classes import NUM_CLASSES
from .fcn import first_conv_stride
from .unet import conv_bn_relu

OUTPUT_STRIDES = (8, 16)


@dataclass(frozen=True)
class DeepLabConfig:
    """How to build a ``DeepLab``."""

    num_classes: int = NUM_CLASSES  # output classes (7 for the shapes world)
    channels: tuple[int, ...] = (8, 16, 32, 64, 128)  # the 5 backbone stages (as the FCN's encoder)
    convs_per_stage: tuple[int, ...] = (1, 1, 2, 2, 2)  # 3x3 convs per stage
    output_stride: int = 16  # 16: stages 1-4 pool (ASPP's rates as given); 8: stages 1-3 pool, stage 5 dilated 2
    first_stage: str = "pool"  # "pool": stage 1 convolves at full size, then 2x2 max-pooling; "stride": its conv
    # has stride 2 instead (as lesson 03's FCN; ~1.15x cheaper steps, but 6 epochs of it reached mIoU 0.883-0.922,
    # spread wider than the pooled 5 epochs' 0.904-0.920)
    aspp_rates: tuple[int, ...] = (1, 2, 3)  # rates of ASPP's 3x3 branches at output stride 16 (doubled at 8);
    # the paper's (6, 12, 18) on 33x33 maps, scaled to our 8x8 maps
    aspp_channels: int = 64  # width of every ASPP branch and of its output
    image_pooling: bool = True  # ASPP's global-average branch
    decoder: bool = True  # DeepLabv3+ decoder with the stride-4 skip; False: DeepLabv3 (upsample from the stride)
    low_level_channels: int = 32  # the stride-4 skip is reduced to this many channels (16 and a 32-wide decoder:
    # mIoU 0.906 after lesson 04's recipe, against 0.908 and 0.914 with these widths)
    decoder_channels: int = 48  # width of the decoder's 3x3 convolution
    zero_init_skip: bool = False  # True: the decoder's weights on the low-level skip start at 0 (as U-Net's skips);
    # measured (4 epochs of 8 scenes), that slowed DeepLab's first epochs (mIoU 0.868 vs 0.892 after 3) for no gain
    # at the end (0.898 vs 0.903)


def stage_layout(output_stride: int, first_stage: str = "pool") -> tuple[tuple[int, ...], tuple[bool, ...]]:
    """Dilation of each backbone stage and whether it ends with a 2x2 pooling, for an output stride of 16 or 8.

    The FCN halves the size in all five stages (stride 32). DeepLab drops the last pooling (stride 16) or the
    last two (stride 8); every layer after a dropped pooling doubles its dilation instead, so it
    still sees as far in input pixels as it would have after the pooling. At stride 16 that is only
    ASPP (its rates, given for stride 16); at stride 8 stage 5 too (dilation 2), and ASPP's rates double.
    With ``first_stage="stride"`` stage 1 does not pool: its first conv has stride 2.
    """
    first = first_conv_stride(first_stage, 1) == 1
    if output_stride == 16:
        return (1, 1, 1, 1, 1), (first, True, True, True, False)
    return (1, 1, 1, 1, 2), (first, True, True, False, False)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: parallel 1x1, dilated 3x3 and image-pooling branches, concatenated.

    Args:
        in_ch: input channels.
        out_ch: channels of every branch and of the output.
        rates: dilation rate of each 3x3 branch.
        image_pooling: add the global-average branch.
    """

    def __init__(self, in_ch: int, out_ch: int, rates: tuple[int, ...] = (1, 2, 3), image_pooling: bool = True):
        super().__init__()
        self.rates = tuple(rates)
        self.branches = nn.ModuleList([nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch),
                                                     nn.ReLU(inplace=True))])
        self.branches.extend(conv_bn_relu(in_ch, out_ch, 1, dilation=r) for r in self.rates)
        # no BatchNorm after the pooled 1x1: a batch of one image would give it a single value per channel
        self.pool = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1), nn.ReLU(inplace=True)) if image_pooling else None
        n = len(self.branches) + (1 if image_pooling else 0)
        self.project = nn.Sequential(nn.Conv2d(n * out_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch),
                                     nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_ch, h, w) -> (B, out_ch, h, w)."""
        outs = [branch(x) for branch in self.branches]  # each (B, out_ch, h, w)
        if self.pool is not None:
            pooled = self.pool(x.mean(dim=(2, 3), keepdim=True))  # (B, out_ch, 1, 1): the whole image
            outs.append(pooled.expand(-1, -1, *x.shape[-2:]))
        return self.project(torch.cat(outs, dim=1))


class DeepLab(nn.Module):
    """DeepLabv3 / v3+ on a small VGG-style backbone (see the module docstring).

    Args:
        config: a ``DeepLabConfig``.
    """

    def __init__(self, config: DeepLabConfig = DeepLabConfig()):
        super().__init__()
        if config.output_stride not in OUTPUT_STRIDES:
            raise ValueError(f"output_stride must be one of {OUTPUT_STRIDES}, got {config.output_stride!r}")
        if len(config.channels) != 5 or len(config.convs_per_stage) != 5:
            raise ValueError("channels and convs_per_stage need one entry per stage (5 stages)")
        self.config = config
        c = config.channels
        self.stage_dilations, self.stage_pools = stage_layout(config.output_stride, config.first_stage)
        self.stages = nn.ModuleList(
            conv_bn_relu(i, o, k, dilation=d, stride=first_conv_stride(config.first_stage, s))
            for s, (i, o, k, d) in enumerate(zip((3, *c[:-1]), c, config.convs_per_stage, self.stage_dilations), 1))
        rates = tuple(r * (16 // config.output_stride) for r in config.aspp_rates)
        self.aspp = ASPP(c[4], config.aspp_channels, rates, config.image_pooling)
        head_in = config.aspp_channels
        if config.decoder:
            self.reduce = nn.Sequential(nn.Conv2d(c[1], config.low_level_channels, 1, bias=False),
                                        nn.BatchNorm2d(config.low_level_channels), nn.ReLU(inplace=True))
            self.refine = conv_bn_relu(config.aspp_channels + config.low_level_channels, config.decoder_channels)
            if config.zero_init_skip:
                with torch.no_grad():
                    self.refine[0].weight[:, config.aspp_channels:] = 0  # the skip's channels come second
            head_in = config.decoder_channels
        self.classifier = nn.Conv2d(head_in, config.num_classes, 1)
        self.output_stride = config.output_stride  # stride of the ASPP features
        self.score_stride = 4 if config.decoder else config.output_stride  # stride of the class scores

    def features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Backbone features: ``"low"`` (stride 4, after stage 2) and ``"high"`` (the output stride)."""
        x, low = images, None
        for k, (stage, pool) in enumerate(zip(self.stages, self.stage_pools)):
            x = stage(x)
            if pool:
                x = F.max_pool2d(x, 2)
            if k == 1:
                low = x  # (B, c1, H/4, W/4)
        return {"low": low, "high": x}

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
        s = self.output_stride
        x = F.pad(images, (0, -w % s, 0, -h % s), mode="replicate") if h % s or w % s else images
        feats = self.features(x.contiguous(memory_format=torch.channels_last))
        y = self.aspp(feats["high"])  # (B, A, H/os, W/os)
        if self.config.decoder:
            low = self.reduce(feats["low"])  # (B, L, H/4, W/4)
            y = F.interpolate(y, size=low.shape[-2:], mode="bilinear", align_corners=False)
            y = self.refine(torch.cat([y, low], dim=1))  # (B, D, H/4, W/4)
        scores = self.classifier(y)
        logits = F.interpolate(scores, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return logits[..., :h, :w].contiguous()


def build_deeplab(num_classes: int = NUM_CLASSES, **kwargs) -> DeepLab:
    """An untrained DeepLab.

    Args:
        num_classes: output classes.
        kwargs: further ``DeepLabConfig`` fields (``output_stride``, ``aspp_rates``, ``decoder``, ...).

    Returns:
        the model: logits (B, num_classes, H, W) for images (B, 3, H, W).
    """
    for key in ("channels", "convs_per_stage", "aspp_rates"):
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key])
    return DeepLab(DeepLabConfig(num_classes=num_classes, **kwargs))


def deeplab_layers(config: DeepLabConfig = DeepLabConfig(), aspp_rate: int | None = None) -> list[tuple]:
    """DeepLab's backbone (and one ASPP branch) as (name, kernel, stride, dilation) for ``receptive_field_rows``.

    Args:
        config: the configuration.
        aspp_rate: add the ASPP 3x3 branch of this (actual) rate; default the largest one.
    """
    dil, pools = stage_layout(config.output_stride, config.first_stage)
    layers = []
    for s, (convs, d, pool) in enumerate(zip(config.convs_per_stage, dil, pools), start=1):
        stride = first_conv_stride(config.first_stage, s)
        layers += [(f"stage{s}.conv{i + 1}", 3, stride if i == 0 else 1, d) for i in range(convs)]
        if pool:
            layers.append((f"stage{s}.pool", 2, 2, 1))
    rate = aspp_rate or max(config.aspp_rates) * (16 // config.output_stride)
    layers.append((f"aspp.rate{rate}", 3, 1, rate))
    return layers
