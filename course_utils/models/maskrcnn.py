"""Mask R-CNN for the shapes world, built from torchvision's ``MaskRCNN`` parts.

``build_maskrcnn(cfg)`` gives either a small model sized for 128x128 scenes (a few-layer CNN
with an FPN, anchors matched to objects of 8-52 px, few sampled RoIs so training fits in a
few CPU minutes) or, when asked, torchvision's ResNet-50 FPN Mask R-CNN.

``num_classes`` COUNTS THE BACKGROUND: torchvision's label 0 means "no object". In this course
``num_classes = 7`` (``course_utils.data.NUM_CLASSES``): id 0 is void/background and the
things are 4, 5 and 6, so the ids 1-3 (stuff) are simply never predicted.
"""

from __future__ import annotations

import socket
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import RPNHead
from torchvision.models.detection.transform import GeneralizedRCNNTransform, resize_boxes
from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign

from ..data import NUM_CLASSES, InstanceDataset
from .roi_align import GridRoIAlign
from .roi_heads import CappedMaskRoIHeads


@dataclass(frozen=True)
class MaskRCNNConfig:
    """Everything that defines the course's Mask R-CNN (how it is trained: ``train.maskrcnn.MaskRCNNTrainConfig``).

    Override a field with ``dataclasses.replace(cfg, fpn_channels=32)``.
    """

    num_classes: int = NUM_CLASSES  # classes INCLUDING background (id 0); the course uses 7
    image_size: int = 128  # scenes are image_size x image_size; the model never resizes them
    backbone: str = "small"  # "small" (course model) or "resnet50" (torchvision's ResNet-50 FPN)
    pretrained: bool = False  # resnet50 only: download COCO weights (needs internet; asked for explicitly)
    channels: tuple[int, ...] = (32, 48, 64, 96)  # small backbone widths at strides 2, 4, 8, 16
    depths: tuple[int, ...] = (2, 2, 2, 2)  # 3x3 convolutions per backbone stage (the first one strides)
    fpn_channels: int = 64  # channels of every FPN level (and of the RPN and RoI heads' input)
    anchor_sizes: tuple[tuple[int, ...], ...] = ((12, 18), (26, 36), (48, 64))  # anchor sides (px) per FPN level
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)  # anchor height/width ratios, the same at every level
    rpn_pre_nms_top_n_train: int = 200  # proposals kept per FPN level before NMS while training
    rpn_post_nms_top_n_train: int = 100  # proposals kept per image after NMS while training
    rpn_pre_nms_top_n_test: int = 200  # ... the same at inference
    rpn_post_nms_top_n_test: int = 50  # ... the same at inference
    rpn_batch_size_per_image: int = 128  # anchors sampled per image for the RPN losses
    box_batch_size_per_image: int = 32  # RoIs sampled per image for the box/mask heads (RoIAlign cost)
    box_positive_fraction: float = 0.5  # share of positives among the sampled RoIs (torchvision: 0.25; more
    # positives teach the classifier to tell shapes apart, which costs AP50 most on occluded objects)
    roi_output_size: int = 7  # RoIAlign grid for the box head
    mask_roi_output_size: int = 14  # RoIAlign grid for the mask head (mask logits are twice this)
    sampling_ratio: int = 1  # bilinear samples per RoIAlign bin side
    roi_align: str = "grid"  # "grid": RoIAlign by grid_sample (same numbers, ~3x faster backward on CPU); "torchvision"
    representation_size: int = 256  # width of the box head's two fully connected layers
    box_head_convs: tuple[int, ...] = ()  # widths of 3x3 conv + batch-norm layers before the box head's FC layer
    mask_layers: tuple[int, ...] = (64, 64)  # widths of the mask head's 3x3 convolutions
    mask_rois_per_image: int | None = 2  # positive RoIs per image that train the mask head (None: all, as torchvision
    # does); 2 instead of up to 16 made a one-core training step ~2.4x cheaper (all 1536 steps: AP 0.816 / AP50 0.969)
    box_score_thresh: float = 0.05  # detections below this score are dropped at inference
    box_detections_per_img: int = 20  # at most this many detections per image (scenes have <= 6 objects)
    exact_paste: bool = True  # paste masks with sub-pixel precision (False: torchvision's integer-box paste)


class SmallBackbone(nn.Module):
    """A plain CNN with an FPN: returns feature maps '0', '1', '2' at strides 4, 8, 16.

    Attributes:
        out_channels: channels of every returned level (what torchvision's heads need).
    """

    def __init__(self, channels: tuple[int, ...] = (32, 48, 64, 96), fpn_channels: int = 64,
                 depths: tuple[int, ...] = (2, 2, 2, 2)):
        super().__init__()
        stages = []
        prev = 3
        for c, d in zip(channels, depths):  # each stage halves the resolution, then d - 1 more convs
            stages.append(nn.Sequential(_conv_bn(prev, c, stride=2), *[_conv_bn(c, c) for _ in range(d - 1)]))
            prev = c
        self.stages = nn.ModuleList(stages)
        self.fpn = FeaturePyramidNetwork(list(channels[1:]), fpn_channels)
        self.out_channels = fpn_channels

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features of a normalised batch.

        Args:
            x: (B, 3, H, W).

        Returns:
            OrderedDict '0': (B, C, H/4, W/4), '1': (B, C, H/8, W/8), '2': (B, C, H/16, W/16).
        """
        feats = OrderedDict()
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i >= 1:
                feats[str(i - 1)] = x
        return self.fpn(feats)


def paste_masks_exact(masks: torch.Tensor, boxes: torch.Tensor, height: int, width: int,
                      shift: float = 0.5) -> torch.Tensor:
    """Paste M x M mask probabilities into their boxes with sub-pixel precision (``grid_sample``).

    torchvision's own paste rounds boxes to whole pixels and stretches the mask by about a pixel,
    which costs IoU on 10-50 px objects. Here a pixel whose centre lies inside the box takes the
    bilinear value of the mask at the matching point (edge cells repeated), every other pixel 0,
    as in ``solutions.paste_mask``. The matching point is computed for the box moved by ``shift``:
    torchvision builds mask targets with ``roi_align(aligned=False)``, which reads the ground truth
    half a pixel down and to the right of the box, so ``shift=0.5`` puts every cell back where
    its target came from.

    Args:
        masks: (N, 1, M, M) probabilities.
        boxes: (N, 4) xyxy boxes in pixel-edge coordinates.
        height, width: image size.
        shift: pixels added to the box corners to find the sampling points (0 = ``paste_mask``).

    Returns:
        (N, 1, H, W) probabilities.
    """
    n = masks.shape[0]
    if n == 0:
        return masks.new_zeros(0, 1, height, width)
    b = boxes.to(masks.dtype)  # (N, 4)
    ys = torch.arange(height, dtype=masks.dtype, device=masks.device) + 0.5  # (H,) pixel centres
    xs = torch.arange(width, dtype=masks.dtype, device=masks.device) + 0.5  # (W,)
    wh = (b[:, 2:] - b[:, :2]).clamp(min=1e-6)  # (N, 2)
    gy = (ys[None] - b[:, 1:2] - shift) / wh[:, 1:2] * 2 - 1  # (N, H) grid_sample's [-1, 1] box coordinates
    gx = (xs[None] - b[:, 0:1] - shift) / wh[:, 0:1] * 2 - 1  # (N, W)
    grid = torch.stack([gx[:, None, :].expand(n, height, width), gy[:, :, None].expand(n, height, width)], -1)
    out = F.grid_sample(masks, grid, mode="bilinear", padding_mode="border", align_corners=False)  # (N, 1, H, W)
    inside_y = (ys[None] >= b[:, 1:2]) & (ys[None] < b[:, 3:4])  # (N, H)
    inside_x = (xs[None] >= b[:, 0:1]) & (xs[None] < b[:, 2:3])  # (N, W)
    return out * (inside_y[:, :, None] & inside_x[:, None, :])[:, None]


class ShapesTransform(GeneralizedRCNNTransform):
    """torchvision's transform (normalise, batch) with an exact mask paste at inference."""

    def postprocess(self, result: list[dict[str, torch.Tensor]], image_shapes: list[tuple[int, int]],
                    original_image_sizes: list[tuple[int, int]]) -> list[dict[str, torch.Tensor]]:
        """Boxes back to the input size; masks (N, 1, M, M) pasted into (N, 1, H, W) with :func:`paste_masks_exact`."""
        if self.training:
            return result
        for pred, im_s, o_im_s in zip(result, image_shapes, original_image_sizes):
            pred["boxes"] = resize_boxes(pred["boxes"], im_s, o_im_s)
            if "masks" in pred:
                pred["masks"] = paste_masks_exact(pred["masks"], pred["boxes"], int(o_im_s[0]), int(o_im_s[1]))
        return result


def _conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def build_maskrcnn(cfg: MaskRCNNConfig | None = None) -> MaskRCNN:
    """Build the course's Mask R-CNN (or torchvision's ResNet-50 FPN one) from a config.

    Args:
        cfg: the configuration; ``MaskRCNNConfig()`` when None. ``cfg.num_classes`` counts the
            background class 0.

    Returns:
        a torchvision ``MaskRCNN``: train mode ``model(images, targets)`` -> dict of losses,
        eval mode ``model(images)`` -> list of dicts ``boxes (N, 4)``, ``labels (N,)``,
        ``scores (N,)``, ``masks (N, 1, H, W)`` probabilities.
    """
    cfg = cfg or MaskRCNNConfig()
    if cfg.num_classes < 2:
        raise ValueError(f"num_classes={cfg.num_classes}: it counts the background, so it must be >= 2 "
                         f"(1 object class + background); this course uses {NUM_CLASSES}")
    if cfg.backbone == "resnet50":
        model = _build_resnet50(cfg)
        model.config = cfg
        return model
    if cfg.backbone != "small":
        raise ValueError(f"unknown backbone {cfg.backbone!r}; use 'small' or 'resnet50'")
    backbone = SmallBackbone(cfg.channels, cfg.fpn_channels, cfg.depths)
    c = cfg.fpn_channels
    anchors = AnchorGenerator(cfg.anchor_sizes, (cfg.aspect_ratios,) * len(cfg.anchor_sizes))
    rpn_head = RPNHead(c, anchors.num_anchors_per_location()[0])
    # All objects are small, so RoIs are pooled from the finest level only (stride 4).
    if cfg.roi_align == "grid":
        box_pool = GridRoIAlign("0", cfg.roi_output_size, cfg.sampling_ratio)
        mask_pool = GridRoIAlign("0", cfg.mask_roi_output_size, cfg.sampling_ratio)
    elif cfg.roi_align == "torchvision":
        box_pool = MultiScaleRoIAlign(["0"], cfg.roi_output_size, cfg.sampling_ratio)
        mask_pool = MultiScaleRoIAlign(["0"], cfg.mask_roi_output_size, cfg.sampling_ratio)
    else:
        raise ValueError(f"unknown roi_align {cfg.roi_align!r}; use 'grid' or 'torchvision'")
    if cfg.box_head_convs:
        box_head = FastRCNNConvFCHead((c, cfg.roi_output_size, cfg.roi_output_size), list(cfg.box_head_convs),
                                      [cfg.representation_size], norm_layer=nn.BatchNorm2d)
    else:
        box_head = TwoMLPHead(c * cfg.roi_output_size ** 2, cfg.representation_size)
    box_predictor = FastRCNNPredictor(cfg.representation_size, cfg.num_classes)
    mask_head = MaskRCNNHeads(c, list(cfg.mask_layers), 1)
    mask_predictor = MaskRCNNPredictor(cfg.mask_layers[-1], cfg.mask_layers[-1], cfg.num_classes)
    model = MaskRCNN(
        backbone, num_classes=None,
        min_size=cfg.image_size, max_size=cfg.image_size, _skip_resize=True,
        image_mean=[0.5, 0.5, 0.5], image_std=[0.25, 0.25, 0.25],
        rpn_anchor_generator=anchors, rpn_head=rpn_head,
        rpn_pre_nms_top_n_train=cfg.rpn_pre_nms_top_n_train, rpn_post_nms_top_n_train=cfg.rpn_post_nms_top_n_train,
        rpn_pre_nms_top_n_test=cfg.rpn_pre_nms_top_n_test, rpn_post_nms_top_n_test=cfg.rpn_post_nms_top_n_test,
        rpn_batch_size_per_image=cfg.rpn_batch_size_per_image,
        box_roi_pool=box_pool, box_head=box_head, box_predictor=box_predictor,
        box_batch_size_per_image=cfg.box_batch_size_per_image, box_positive_fraction=cfg.box_positive_fraction,
        box_score_thresh=cfg.box_score_thresh, box_detections_per_img=cfg.box_detections_per_img,
        mask_roi_pool=mask_pool, mask_head=mask_head, mask_predictor=mask_predictor,
    )
    model.roi_heads.__class__ = CappedMaskRoIHeads  # same parameters; the mask head trains on capped RoIs
    model.roi_heads.mask_rois_per_image = cfg.mask_rois_per_image
    if cfg.exact_paste:
        t = model.transform
        model.transform = ShapesTransform(t.min_size, t.max_size, t.image_mean, t.image_std, _skip_resize=True)
    model.config = cfg  # saved with checkpoints, so load_maskrcnn can rebuild the same model
    return model


def _build_resnet50(cfg: MaskRCNNConfig) -> MaskRCNN:
    """Torchvision's ResNet-50 FPN Mask R-CNN; downloads COCO weights only if ``cfg.pretrained``."""
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights, maskrcnn_resnet50_fpn

    kwargs = dict(min_size=cfg.image_size, max_size=cfg.image_size)
    if cfg.pretrained:
        try:
            model = maskrcnn_resnet50_fpn(weights=MaskRCNN_ResNet50_FPN_Weights.COCO_V1, **kwargs)
        except Exception as err:  # no network, blocked download, corrupt cache...
            print(f"Could not download the pretrained ResNet-50 weights ({type(err).__name__}); "
                  "using a randomly initialised model instead.")
            return maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=cfg.num_classes, **kwargs)
        if cfg.num_classes == 91:  # COCO's own label set: keep the trained heads too
            return model
        # new heads for our classes, keeping the pretrained backbone, RPN and head bodies
        box_in = model.roi_heads.box_predictor.cls_score.in_features
        model.roi_heads.box_predictor = FastRCNNPredictor(box_in, cfg.num_classes)
        model.roi_heads.mask_predictor = MaskRCNNPredictor(256, 256, cfg.num_classes)
        return model
    return maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=cfg.num_classes, **kwargs)


def example_batch(batch_size: int = 8, split: str | int = "train", size: int = 128, start: int = 0,
                  device: torch.device | str = "cpu") -> tuple[list[torch.Tensor], list[dict]]:
    """A batch of shapes-world scenes in the form torchvision detection models take.

    Args:
        batch_size: number of scenes.
        split: which split ("train", "val", "test" or an int seed).
        size: scene side in pixels.
        start: index of the first scene.
        device: where to put the tensors.

    Returns:
        images: list of (3, H, W) float; targets: list of dicts ``boxes`` (N, 4) xyxy,
        ``labels`` (N,), ``masks`` (N, H, W) uint8 (plus ``image_id``, ``area``, ``iscrowd``).
    """
    ds = InstanceDataset(split, start + batch_size, size)
    images, targets = [], []
    for i in range(start, start + batch_size):
        img, tgt = ds[i]
        images.append(img.to(device))
        targets.append({k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in tgt.items()})
    return images, targets


def set_num_classes(model: nn.Module, num_classes: int) -> nn.Module:
    """Give a torchvision Mask R-CNN new class-specific heads when its class count differs.

    The backbone, RPN and head bodies keep their weights; only the final box and mask
    predictors are replaced (randomly initialised) for ``num_classes`` (background included).

    Returns:
        the same model, changed in place.
    """
    heads = model.roi_heads
    if heads.box_predictor.cls_score.out_features == num_classes:
        return model
    heads.box_predictor = FastRCNNPredictor(heads.box_predictor.cls_score.in_features, num_classes)
    mask_in = heads.mask_predictor.conv5_mask.in_channels
    heads.mask_predictor = MaskRCNNPredictor(mask_in, heads.mask_predictor.conv5_mask.out_channels, num_classes)
    return model


def try_pretrained_maskrcnn(timeout_s: float = 10.0, cfg: MaskRCNNConfig | None = None) -> tuple[nn.Module | None, str]:
    """Build torchvision's ResNet-50 FPN Mask R-CNN with COCO weights, never waiting long for the network.

    Uses the package's builder (``backbone="resnet50", pretrained=True``), which loads the weights
    from torch's cache when they are there and otherwise downloads them; every socket gets a
    ``timeout_s`` limit meanwhile, and any failure is caught.

    Args:
        timeout_s: seconds a network read may stall before the download is given up.
        cfg: the configuration to build (default ``backbone="resnet50", pretrained=True``); with
            ``num_classes=91`` the model keeps COCO's trained class heads.

    Returns:
        (the model, or None when building failed altogether; one sentence saying what happened).
    """
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

    url = MaskRCNN_ResNet50_FPN_Weights.COCO_V1.url
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    where = f"found in the cache at {cached}" if cached.is_file() else "not cached, so they must be downloaded"
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    start = time.perf_counter()
    try:
        model = build_maskrcnn(cfg or MaskRCNNConfig(backbone="resnet50", pretrained=True))
    except Exception as err:  # noqa: BLE001 - whatever went wrong, the lesson goes on
        return None, f"The COCO weights ({where}) could not be used ({type(err).__name__}: {err})."
    finally:
        socket.setdefaulttimeout(old)
    seconds = time.perf_counter() - start
    if cached.is_file():
        return model, f"COCO-pretrained ResNet-50 Mask R-CNN ready in {seconds:.1f} s (weights {where})."
    return model, (f"No COCO weights: none were cached and the download failed after {seconds:.1f} s, so this "
                   "model is randomly initialised (the fallback).")
