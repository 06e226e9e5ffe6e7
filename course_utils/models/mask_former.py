"""Masks as queries: a small mask classifier in the spirit of MaskFormer / Mask2Former, for the shapes world.

Every model so far classified *pixels* (FCN, U-Net, DeepLab) or *boxes* (Mask R-CNN, the one-stage
model). This one classifies *masks*:

* a **pixel decoder** (lesson 07's backbone + FPN) gives every pixel of the stride-4 map a
  ``mask_dim`` embedding; two coordinate channels let it tell two identical circles apart;
* ``num_queries`` learned **queries** go through a few ``nn.TransformerDecoderLayer``: they talk to
  each other (self-attention, which lets them agree who takes which segment) and read the stride-8
  features (cross-attention, optionally *masked* to each query's current mask, as Mask2Former does);
* each query predicts a class (one of the course's classes, or "no object") and a mask embedding;
  its mask is the dot product of that embedding with every pixel embedding.

Training matches queries to ground-truth segments, things *and* stuff, one to one (Hungarian
matching, ``mask_former_parts.match_queries``); the loss is class cross-entropy on every query plus
mask BCE and Dice on the matched ones, after every decoder layer. One model and one loss give all
three outputs: in eval mode ``model(images)`` returns, per image, the detections in torchvision's
format (``boxes``, ``labels``, ``scores``, ``masks``: what ``coco_evaluate`` takes) plus ``semantic``
(H, W), ``panoptic`` (H, W) and ``segments``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data import NUM_CLASSES
from .mask_former_parts import (
    instance_inference,
    match_queries,
    matching_cost,
    panoptic_inference,
    semantic_inference,
    set_losses,
)
from .maskrcnn import SmallBackbone, _conv_bn
from .yolact_parts import stack_images


@dataclass(frozen=True)
class MaskFormerConfig:
    """Everything that defines the course's mask classifier (how it is trained: ``train.mask_former``)."""

    num_classes: int = NUM_CLASSES  # the course's classes (void included, never a target); + 1 "no object"
    image_size: int = 128  # scenes are image_size x image_size
    channels: tuple[int, ...] = (32, 48, 64, 96)  # backbone widths at strides 2, 4, 8, 16 (lesson 07's)
    depths: tuple[int, ...] = (2, 2, 2, 2)  # 3x3 convolutions per backbone stage
    fpn_channels: int = 64  # channels of the FPN levels
    num_queries: int = 16  # N: learned queries, each a candidate segment (a scene has at most 9)
    hidden_dim: int = 64  # width of the queries and of the transformer
    num_heads: int = 4  # attention heads
    num_layers: int = 3  # transformer decoder layers (each one predicts, and is trained)
    ff_dim: int = 128  # hidden width of each layer's feed-forward block
    mask_dim: int = 64  # length of the per-pixel and per-query mask embeddings
    fine_channels: int = 32  # width of the stride-2 refinement of the pixel embeddings (0: masks at stride 4)
    masked_attention: bool = True  # a query reads only inside its previous mask (Mask2Former), else everywhere
    mask_pooling: bool = True  # before each layer, add to each query the features averaged over its current mask
    class_grid: int = 5  # the class also reads the pixel embeddings and the mask on a grid x grid over the mask's
    # box (shape cues that an average over the mask loses); 0: from the query alone, as in MaskFormer
    class_hidden: int = 128  # width of that box-aligned class feature's hidden layer
    true_mask_class_weight: float = 1.0  # weight of loss_class_true: the box-aligned classifier also learns from
    # every true mask of the batch (with jitter), a steady signal while the matching is still unsettled; 0: off
    loss_size: int = 64  # masks are compared with the ground truth at this resolution in training
    class_loss_weight: float = 2.0  # weight of loss_class (in the total and in the matching cost)
    mask_loss_weight: float = 5.0  # weight of loss_mask (BCE)
    dice_loss_weight: float = 5.0  # weight of loss_dice
    no_object_weight: float = 0.1  # class-loss weight of "no object" (most queries have nothing to match)
    score_threshold: float = 0.5  # panoptic inference: a query needs this class probability to be kept
    overlap_threshold: float = 0.8  # panoptic inference: ... and must keep this fraction of its own mask


def sine_positions(h: int, w: int, dim: int, device=None) -> torch.Tensor:
    """Fixed 2-D sine/cosine position codes (as DETR adds to the features a transformer reads).

    Args:
        h, w: size of the feature map; dim: code length (a multiple of 4).

    Returns:
        (h * w, dim) float32, row-major like ``features.flatten(2)``.
    """
    if dim % 4:
        raise ValueError(f"dim must be a multiple of 4, got {dim}")
    freqs = 1.0 / (100.0 ** (torch.arange(dim // 4, device=device, dtype=torch.float32) / (dim // 4)))  # (dim/4,)
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h * 2 * math.pi
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w * 2 * math.pi
    py, px = ys[:, None] * freqs, xs[:, None] * freqs  # (h, dim/4), (w, dim/4)
    code_y = torch.cat([py.sin(), py.cos()], 1)[:, None].expand(h, w, dim // 2)
    code_x = torch.cat([px.sin(), px.cos()], 1)[None].expand(h, w, dim // 2)
    return torch.cat([code_y, code_x], -1).reshape(h * w, dim)


def mask_boxes_soft(mask_logits: torch.Tensor, spread: float = 1.9) -> torch.Tensor:
    """A box around each predicted mask from its moments: centre +- ``spread`` standard deviations.

    (A uniform square of side L has a standard deviation of L / sqrt(12), so 1.73 would fit it.)

    Args:
        mask_logits: (B, N, h, w).

    Returns:
        (B, N, 4) boxes (x1, y1, x2, y2) in grid_sample's [-1, 1] coordinates, computed without gradient.
    """
    with torch.no_grad():
        w = mask_logits.float().sigmoid()  # (B, N, h, w)
        # the faint background (sigmoid ~0.02 on hundreds of pixels) would drag the moments: keep the mask itself,
        # unless a query has no pixel above 0.5 yet
        inside = w > 0.5
        w = torch.where(inside.flatten(2).any(-1)[..., None, None], w * inside, w)
        h_, w_ = w.shape[-2:]
        ys = (torch.arange(h_, device=w.device, dtype=torch.float32) + 0.5) / h_ * 2 - 1
        xs = (torch.arange(w_, device=w.device, dtype=torch.float32) + 0.5) / w_ * 2 - 1
        total = w.sum((-2, -1)).clamp(min=1e-3)  # (B, N)
        wy, wx = w.sum(-1), w.sum(-2)  # (B, N, h), (B, N, w)
        cy, cx = (wy * ys).sum(-1) / total, (wx * xs).sum(-1) / total
        sy = ((wy * (ys - cy[..., None]) ** 2).sum(-1) / total).sqrt().clamp(min=1.0 / h_)
        sx = ((wx * (xs - cx[..., None]) ** 2).sum(-1) / total).sqrt().clamp(min=1.0 / w_)
        return torch.stack([cx - spread * sx, cy - spread * sy, cx + spread * sx, cy + spread * sy], -1)


def box_aligned_features(pixels: torch.Tensor, mask_logits: torch.Tensor, grid: int) -> torch.Tensor:
    """Pixel embeddings and mask probabilities sampled on a grid x grid over each mask's box.

    Args:
        pixels: (B, E, h, w) pixel embeddings; mask_logits: (B, N, h, w); grid: points per side.

    Returns:
        (B, N, grid * grid * (E + 1)) features, flattened per query.
    """
    b, n = mask_logits.shape[:2]
    boxes = mask_boxes_soft(mask_logits).to(pixels.dtype)  # (B, N, 4)
    frac = (torch.arange(grid, device=pixels.device, dtype=pixels.dtype) + 0.5) / grid  # (g,)
    xs = boxes[..., 0:1] + (boxes[..., 2:3] - boxes[..., 0:1]) * frac  # (B, N, g)
    ys = boxes[..., 1:2] + (boxes[..., 3:4] - boxes[..., 1:2]) * frac
    points = torch.stack([xs[:, :, None, :].expand(b, n, grid, grid), ys[:, :, :, None].expand(b, n, grid, grid)],
                         -1).reshape(b, n * grid, grid, 2)  # (B, N*g, g, 2)
    feats = F.grid_sample(pixels, points, mode="bilinear", align_corners=False)  # (B, E, N*g, g)
    own = F.grid_sample(mask_logits.sigmoid().reshape(b * n, 1, *mask_logits.shape[-2:]),
                        points.reshape(b * n, grid, grid, 2), mode="bilinear", align_corners=False)  # (B*N, 1, g, g)
    feats = feats.reshape(b, -1, n, grid * grid).permute(0, 2, 1, 3).flatten(2)  # (B, N, E*g*g)
    return torch.cat([feats, own.reshape(b, n, grid * grid)], -1)


class MaskFormer(nn.Module):
    """The course's mask classifier (see the module docstring). Build with ``build_mask_former``."""

    def __init__(self, config: MaskFormerConfig = MaskFormerConfig()):
        super().__init__()
        self.config = c = config
        self.backbone = SmallBackbone(c.channels, c.fpn_channels, c.depths)
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1), persistent=False)
        # pixel decoder: stride-4 FPN level + (y, x) coordinates -> one mask embedding per pixel
        self.pixel_head = nn.Sequential(_conv_bn(c.fpn_channels + 2, c.fpn_channels), nn.Conv2d(c.fpn_channels,
                                                                                                 c.mask_dim, 1))
        self.fine = (nn.Sequential(_conv_bn(c.channels[0], c.fine_channels), nn.Conv2d(c.fine_channels, c.mask_dim, 1))
                     if c.fine_channels else None)
        self.memory_proj = nn.Conv2d(c.fpn_channels, c.hidden_dim, 1)
        self.queries = nn.Parameter(torch.randn(c.num_queries, c.hidden_dim) * 0.5)
        self.layers = nn.ModuleList(
            nn.TransformerDecoderLayer(c.hidden_dim, c.num_heads, c.ff_dim, dropout=0.0, batch_first=True,
                                       norm_first=True) for _ in range(c.num_layers))
        self.pool_proj = nn.Linear(c.hidden_dim, c.hidden_dim) if c.mask_pooling else None
        self.norm = nn.LayerNorm(c.hidden_dim)
        g = c.class_grid
        self.aligned = (nn.Sequential(nn.Linear(g * g * (c.fpn_channels + 1), c.class_hidden), nn.ReLU(inplace=True),
                                      nn.Linear(c.class_hidden, c.hidden_dim)) if g else None)
        self.class_head = nn.Linear(c.hidden_dim, c.num_classes + 1)  # the last class is "no object"
        self.mask_head = nn.Sequential(nn.Linear(c.hidden_dim, c.hidden_dim), nn.ReLU(inplace=True),
                                       nn.Linear(c.hidden_dim, c.mask_dim))

    @property
    def loss_weights(self) -> dict[str, float]:
        """Weights of the loss terms in the training total, as ``fit`` takes them."""
        c = self.config
        weights = {"loss_class": c.class_loss_weight, "loss_mask": c.mask_loss_weight, "loss_dice": c.dice_loss_weight}
        if self.aligned is not None and c.true_mask_class_weight > 0:
            weights["loss_class_true"] = c.true_mask_class_weight
        return weights

    def pixel_embeddings(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Backbone, FPN and pixel decoder on a batch in [0, 1].

        Args:
            images: (B, 3, H, W).

        Returns:
            (pixel embeddings (B, mask_dim, H/4, W/4), transformer memory features (B, hidden_dim, H/8, W/8)).
        """
        x, stages = (images - self.mean) / self.std, []
        for stage in self.backbone.stages:
            x = stage(x)
            stages.append(x)
        fpn = self.backbone.fpn({str(i - 1): stages[i] for i in range(1, len(stages))})
        p4 = fpn["0"]  # (B, C, H/4, W/4)
        b, _, h, w = p4.shape
        ys = torch.linspace(-1, 1, h, device=p4.device, dtype=p4.dtype).view(1, 1, h, 1).expand(b, 1, h, w)
        xs = torch.linspace(-1, 1, w, device=p4.device, dtype=p4.dtype).view(1, 1, 1, w).expand(b, 1, h, w)
        pixels = self.pixel_head(torch.cat([p4, ys, xs], 1))  # (B, E, H/4, W/4)
        if self.fine is not None:  # sharper edges: add the stride-2 stage, as a U-Net decoder step would
            up = F.interpolate(pixels, scale_factor=2, mode="bilinear", align_corners=False)  # (B, E, H/2, W/2)
            pixels = up + self.fine(stages[0])
        self._last_features = p4  # what the box-aligned class path reads (``_predict``, ``true_mask_class_loss``)
        return pixels, self.memory_proj(fpn["1"])  # (B, D, H/8, W/8)

    def _predict(self, queries: torch.Tensor, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Class logits (B, N, K + 1) and mask logits (B, N, h, w) of the queries (B, N, D)."""
        q = self.norm(queries)
        masks = torch.einsum("bne,behw->bnhw", self.mask_head(q), pixels)
        if self.aligned is not None:
            q = q + self.aligned(box_aligned_features(self._last_features, masks, self.config.class_grid))
        return self.class_head(q), masks

    def _attention_mask(self, mask_logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Masked attention: True where a query may NOT look (outside its mask); (B * heads, N, h * w)."""
        small = F.interpolate(mask_logits.detach(), size=size, mode="bilinear", align_corners=False)  # (B, N, h, w)
        blocked = (small.flatten(2) < 0).clone()  # sigmoid < 0.5
        blocked[blocked.all(-1)] = False  # a query with an empty mask reads everywhere
        return blocked.repeat_interleave(self.config.num_heads, dim=0)

    def decode(self, images: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The predictions after each decoder layer (the last is the model's answer).

        Args:
            images: (B, 3, H, W) in [0, 1].

        Returns:
            one (class logits (B, N, K + 1), mask logits (B, N, H/4, W/4)) pair per layer.
        """
        pixels, memory = self.pixel_embeddings(images)
        b, d, h, w = memory.shape
        tokens = memory.flatten(2).transpose(1, 2) + sine_positions(h, w, d, memory.device)  # (B, h*w, D)
        queries = self.queries[None].expand(b, -1, -1)  # (B, N, D)
        outputs = []
        c = self.config
        prediction = self._predict(queries, pixels) if c.masked_attention or c.mask_pooling else None
        for layer in self.layers:
            attn = self._attention_mask(prediction[1], (h, w)) if c.masked_attention else None
            if self.pool_proj is not None:  # what lies under the query's mask, averaged: a direct cue for its class
                weight = F.interpolate(prediction[1], size=(h, w), mode="bilinear", align_corners=False)
                weight = weight.flatten(2).sigmoid()  # (B, N, h*w)
                pooled = weight @ memory.flatten(2).transpose(1, 2) / weight.sum(-1, keepdim=True).clamp(min=1e-3)
                queries = queries + self.pool_proj(pooled)  # (B, N, D)
            queries = layer(queries, tokens, memory_mask=attn)
            prediction = self._predict(queries, pixels)
            outputs.append(prediction)
        return outputs

    def forward(self, images, targets: list[dict] | None = None):
        """Losses (train mode, with targets) or the three outputs (eval mode); see the module docstring."""
        batch = stack_images(images)
        outputs = self.decode(batch)
        if self.training:
            if targets is None:
                raise ValueError("in train mode the model needs targets (call model.eval() to predict)")
            return self.losses(outputs, targets)
        return self.postprocess(*outputs[-1], batch.shape[-2:])

    def losses(self, outputs: list[tuple[torch.Tensor, torch.Tensor]], targets: list[dict]) -> dict[str, torch.Tensor]:
        """The set-prediction loss after every decoder layer, averaged over the layers.

        Args:
            outputs: ``decode``'s per-layer predictions.
            targets: per image ``labels`` (T,) and ``masks`` (T, H, W) of every segment, things and stuff.

        Returns:
            ``loss_class``, ``loss_mask``, ``loss_dice`` (unweighted; ``loss_weights`` gives the weights).
        """
        c = self.config
        size = (c.loss_size, c.loss_size)
        small = [{"labels": t["labels"], "masks": F.adaptive_avg_pool2d(t["masks"][None].float(), size)[0]}
                 for t in targets]  # soft targets: the fraction of each loss pixel that the segment covers
        weights = (c.class_loss_weight, c.mask_loss_weight, c.dice_loss_weight)
        total: dict[str, torch.Tensor] = {}
        for class_logits, mask_logits in outputs:
            up = F.interpolate(mask_logits, size=size, mode="bilinear", align_corners=False)
            for k, v in set_losses(class_logits, up, small, c.no_object_weight, weights).items():
                total[k] = total.get(k, 0) + v / len(outputs)
        if self.aligned is not None and c.true_mask_class_weight > 0:
            total["loss_class_true"] = self.true_mask_class_loss(self._last_features, targets)
        return total

    def true_mask_class_loss(self, pixels: torch.Tensor, targets: list[dict]) -> torch.Tensor:
        """Cross-entropy of the box-aligned class path read over the true masks, each also shifted by a pixel.

        Args:
            pixels: (B, E, h, w) pixel embeddings of the batch; targets: per image ``labels``, ``masks`` (T, H, W).
        """
        h, w = pixels.shape[-2:]
        losses = []
        for i, t in enumerate(targets):
            if len(t["labels"]) == 0:
                continue
            frac = F.adaptive_avg_pool2d(t["masks"][None].float(), (h, w))  # (1, T, h, w)
            shifts = [frac, frac.roll(1, -1), frac.roll(-1, -2)]  # the true mask and two jittered copies
            logits = torch.cat(shifts, 1).clamp(0.02, 0.98).logit()  # (1, 3T, h, w)
            feats = box_aligned_features(pixels[i:i + 1], logits, self.config.class_grid)  # (1, 3T, F)
            scores = self.class_head(self.aligned(feats))[0]  # (3T, K + 1)
            losses.append(F.cross_entropy(scores, t["labels"].repeat(3), reduction="sum"))
        n = sum(len(t["labels"]) for t in targets) * 3
        return torch.stack(losses).sum() / max(n, 1) if losses else pixels.sum() * 0

    def postprocess(self, class_logits: torch.Tensor, mask_logits: torch.Tensor, size) -> list[dict]:
        """Per image: detections (torchvision format) + ``semantic``, ``panoptic``, ``segments``.

        Args:
            class_logits: (B, N, K + 1); mask_logits: (B, N, h, w); size: the image (H, W).
        """
        full = F.interpolate(mask_logits, size=tuple(size), mode="bilinear", align_corners=False)  # (B, N, H, W)
        out = []
        for cl, ml in zip(class_logits, full):
            det = instance_inference(cl, ml)
            panoptic, segments = panoptic_inference(cl, ml, self.config.score_threshold,
                                                    self.config.overlap_threshold)
            out.append({**det, "semantic": semantic_inference(cl, ml), "panoptic": panoptic, "segments": segments})
        return out

    @torch.no_grad()
    def match(self, image: torch.Tensor, target: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The matching training would make on one image: its cost and the Hungarian assignment.

        Args:
            image: (3, H, W) in [0, 1]; target: ``labels`` (T,), ``masks`` (T, H, W) (``data.segment_target``).

        Returns:
            (cost (N, T), matched queries (T,), their segments (T,)), from the last decoder layer.
        """
        was_training = self.training
        self.eval()
        class_logits, mask_logits = self.decode(image[None])[-1]
        c = self.config
        size = (c.loss_size, c.loss_size)
        up = F.interpolate(mask_logits, size=size, mode="bilinear", align_corners=False)[0].flatten(1)  # (N, P)
        truth = F.adaptive_avg_pool2d(target["masks"][None].float(), size)[0].flatten(1)  # (T, P)
        cost = matching_cost(class_logits[0], up, target["labels"], truth,
                             (c.class_loss_weight, c.mask_loss_weight, c.dice_loss_weight))
        self.train(was_training)
        return (cost.cpu(), *match_queries(cost))

    @torch.no_grad()
    def inspect(self, image: torch.Tensor) -> dict:
        """What the model does with one image, layer by layer (for the lesson's figures).

        Args:
            image: (3, H, W) in [0, 1].

        Returns:
            ``class_probs`` (layers, N, K + 1), ``masks`` (layers, N, H, W) probabilities, ``pixels``
            (mask_dim, H/4, W/4) embeddings, and ``output`` (the eval-mode result dict).
        """
        was_training = self.training
        self.eval()
        batch = image[None]
        pixels, _ = self.pixel_embeddings(batch)
        outputs = self.decode(batch)
        size = tuple(image.shape[-2:])
        probs = torch.stack([cl[0].softmax(-1) for cl, _ in outputs])
        masks = torch.stack([F.interpolate(ml, size=size, mode="bilinear", align_corners=False)[0].sigmoid()
                             for _, ml in outputs])
        result = {"class_probs": probs, "masks": masks, "pixels": pixels[0],
                  "output": self.postprocess(*outputs[-1], size)[0]}
        self.train(was_training)
        return result


def build_mask_former(cfg: MaskFormerConfig | None = None) -> MaskFormer:
    """An untrained mask classifier from a config (default ``MaskFormerConfig()``)."""
    return MaskFormer(cfg or MaskFormerConfig())
