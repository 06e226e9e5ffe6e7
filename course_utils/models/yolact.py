"""A one-stage instance segmenter in the spirit of YOLACT, sized for the shapes world.

Where Mask R-CNN detects boxes first and then predicts a small mask inside each box, this model
predicts everything densely in one pass:

* a **protonet** turns the finest FPN level (plus the stride-2 backbone stage, for sharp edges)
  into ``k`` prototype masks covering the whole image, shared by every object;
* a **dense head**, one prediction per location of the stride-4 feature map (anchor-free, as
  FCOS does), gives class scores, a centre-ness score, the box as distances from the location to
  its four sides, and ``k`` mask coefficients;
* an object's mask is ``sigmoid(coefficients @ prototypes)``, upsampled to the image and
  **cropped** to its box; duplicates are removed by NMS (torchvision's ``batched_nms``, or Fast
  NMS as YOLACT defines it, see :func:`fast_nms`).

The model speaks torchvision's detection API, so the course's COCO evaluation, viewers and
counting take it unchanged: in train mode ``model(images, targets)`` returns a dict of losses, in
eval mode ``model(images)`` returns one dict per image with ``boxes`` (N, 4), ``labels`` (N,),
``scores`` (N,) and ``masks`` (N, 1, H, W) probabilities. Labels follow the course's ids, with
``num_classes`` counting the background id 0 (as for Mask R-CNN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import batched_nms, generalized_box_iou_loss, sigmoid_focal_loss

from ..data import NUM_CLASSES
from .maskrcnn import SmallBackbone, _conv_bn
from .yolact_parts import (
    assemble_logits,
    assign_locations,
    box_region,
    centerness_target,
    class_coverage,
    dilated_conv_bn,
    fast_nms,
    grid_locations,
    ltrb_to_boxes,
    mask_boxes,
    stack_images,
)


@dataclass(frozen=True)
class YolactConfig:
    """Everything that defines the course's one-stage segmenter (how it is trained: ``train.yolact``).

    Override a field with ``dataclasses.replace(cfg, num_prototypes=8)``.
    """

    num_classes: int = NUM_CLASSES  # classes INCLUDING background (id 0), as for Mask R-CNN
    image_size: int = 128  # scenes are image_size x image_size
    channels: tuple[int, ...] = (32, 48, 64, 96)  # backbone widths at strides 2, 4, 8, 16 (lesson 07's)
    depths: tuple[int, ...] = (2, 2, 2, 2)  # 3x3 convolutions per backbone stage
    fpn_channels: int = 64  # channels of the FPN levels, the head and the protonet
    num_prototypes: int = 16  # k: prototype masks shared by all objects of an image
    proto_channels: int = 64  # width of the protonet's convolutions at stride 4
    proto_fine_channels: int = 16  # width of its last 3x3 convolution, at stride 2 (the costliest layer)
    head_convs: int = 2  # 3x3 conv + batch-norm layers of the dense head's shared tower
    tower_dilations: tuple[int, ...] = (1, 1)  # dilation of each tower conv (larger: each location sees more)
    head_level: int = 0  # FPN level of the dense head: 0 (stride 4) or 1 (stride 8)
    center_radius: float = 1.5  # a location is positive if within this many strides of a box centre
    mask_margin: int = 4  # the mask loss also looks this many pixels outside the ground-truth box
    classifier: str = "aligned"  # "aligned": objectness per location, class from features sampled over the box;
    # "dense": a class score per location (FCOS / YOLACT), which at this size could not tell the shapes apart
    class_grid: int = 5  # "aligned": features are sampled on class_grid x class_grid points spread over the box
    class_hidden: int = 256  # "aligned": width of the classifier's hidden layer
    focal_alpha: float = 0.25  # sigmoid focal loss weight of positives
    focal_gamma: float = 2.0  # sigmoid focal loss focusing exponent
    mask_loss_weight: float = 2.0  # weight of loss_mask in the training total (``loss_weights``)
    classifier_loss_weight: float = 1.0  # weight of loss_classifier in the training total
    semantic_loss_weight: float = 1.0  # weight of the training-only per-pixel class loss (YOLACT's; 0: not computed)
    masks_per_image: int = 16  # positive locations per image that train the mask (the cost of the mask loss)
    score_thresh: float = 0.05  # detections below this score are dropped at inference
    pre_nms_top_n: int = 100  # best-scoring (location, class) pairs kept before NMS
    nms: str = "batched"  # "batched" (torchvision's batched_nms, greedy) or "fast" (YOLACT's Fast NMS)
    nms_thresh: float = 0.5  # box IoU above which the lower-scoring detection of a class is removed
    crop_margin: int = 0  # inference crops each mask to its predicted box grown by this many pixels
    box_from_mask: bool = False  # report the tight box of each (cropped) mask instead of the regressed box
    detections_per_img: int = 20  # at most this many detections per image (scenes have <= 6 objects)


class Yolact(nn.Module):
    """Backbone + FPN (lesson 07's), protonet and dense head; see the module docstring.

    Attributes:
        config: the ``YolactConfig`` it was built from (saved with checkpoints).
        stride: the stride of the dense head's feature map (4).
        proto_stride: the stride of the prototypes (2).
    """

    proto_stride = 2

    def __init__(self, cfg: YolactConfig | None = None):
        super().__init__()
        cfg = cfg or YolactConfig()
        if cfg.num_classes < 2:
            raise ValueError(f"num_classes={cfg.num_classes}: it counts the background, so it must be >= 2")
        if cfg.classifier not in ("aligned", "dense"):
            raise ValueError(f"unknown classifier {cfg.classifier!r}; use 'aligned' or 'dense'")
        if cfg.nms not in ("batched", "fast"):
            raise ValueError(f"unknown nms {cfg.nms!r}; use 'batched' or 'fast'")
        self.config = cfg
        c, p = cfg.fpn_channels, cfg.proto_channels
        self.backbone = SmallBackbone(cfg.channels, c, cfg.depths)
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1), persistent=False)
        # protonet: stride-4 FPN features, upsampled x2 and joined with the stride-2 stage, to k maps
        self.proto_in = nn.Sequential(_conv_bn(c, p), _conv_bn(p, p))
        self.proto_out = nn.Sequential(_conv_bn(p + cfg.channels[0], cfg.proto_fine_channels),
                                       nn.Conv2d(cfg.proto_fine_channels, cfg.num_prototypes, 1))
        # dense head: one shared tower, then class / centre-ness / box / coefficient predictors
        dil = (tuple(cfg.tower_dilations) + (1,) * cfg.head_convs)[:cfg.head_convs]
        self.tower = nn.Sequential(*[dilated_conv_bn(c, d) for d in dil])
        self.stride = 4 * 2 ** cfg.head_level
        if cfg.classifier == "dense":  # a score per location and class (ids 1..; 0 = background)
            self.cls_logits = nn.Conv2d(c, cfg.num_classes - 1, 3, padding=1)
        else:  # is there an object here (per location), and which class (from the box's features)
            self.objectness = nn.Conv2d(c, 1, 3, padding=1)
            self.box_classifier = nn.Sequential(nn.Linear(c * cfg.class_grid ** 2, cfg.class_hidden),
                                                nn.ReLU(inplace=True), nn.Linear(cfg.class_hidden, cfg.num_classes - 1))
        self.centerness = nn.Conv2d(c, 1, 3, padding=1)
        self.box_deltas = nn.Conv2d(c, 4, 3, padding=1)  # distances to left, top, right, bottom (in strides)
        self.coefficients = nn.Conv2d(c, cfg.num_prototypes, 3, padding=1)
        # training only: which thing class covers each stride-4 cell (teaches the features to tell shapes apart)
        self.semantic = nn.Conv2d(c, cfg.num_classes - 1, 1)
        prior = 0.01  # every location starts by saying "background" with 99% confidence
        score_conv = self.cls_logits if cfg.classifier == "dense" else self.objectness
        nn.init.constant_(score_conv.bias, -math.log((1 - prior) / prior))
        for m in (score_conv, self.centerness, self.box_deltas, self.coefficients):
            nn.init.normal_(m.weight, std=0.01)
        nn.init.constant_(self.box_deltas.bias, 1.0)

    # ------------------------------------------------------------------ forward pieces
    def features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Backbone and FPN on a batch in [0, 1].

        Args:
            images: (B, 3, H, W).

        Returns:
            (stride-2 stage output (B, channels[0], H/2, W/2), FPN levels '0', '1', '2' at strides 4, 8, 16).
        """
        x = (images - self.mean) / self.std
        feats = {}
        for i, stage in enumerate(self.backbone.stages):
            x = stage(x)
            feats[i] = x
        fpn = self.backbone.fpn({str(i - 1): feats[i] for i in range(1, len(self.backbone.stages))})
        return feats[0], fpn

    def prototypes(self, low: torch.Tensor, p4: torch.Tensor) -> torch.Tensor:
        """The protonet: (B, C0, H/2, W/2) and (B, C, H/4, W/4) -> k prototypes (B, k, H/2, W/2), ReLU'd."""
        up = F.interpolate(self.proto_in(p4), size=low.shape[-2:], mode="bilinear", align_corners=False)
        return F.relu(self.proto_out(torch.cat([up, low], 1)))

    def head(self, p4: torch.Tensor) -> dict[str, torch.Tensor]:
        """The dense head on the stride-4 level, flattened to one row per location.

        Returns:
            ``scores`` (B, L, num_classes - 1) class logits ("dense") or (B, L, 1) objectness logits
            ("aligned"), ``tower`` the tower's output (B, C, h, w), ``ctr`` (B, L) logits, ``ltrb`` (B, L, 4) pixels,
            ``coef`` (B, L, k) in [-1, 1], ``shape`` (h, w); L = (H/4) * (W/4) locations in row-major order.
        """
        t = self.tower(p4)

        def rows(x):
            return x.flatten(2).transpose(1, 2)  # (B, C, h, w) -> (B, h*w, C)

        scores = self.cls_logits(t) if self.config.classifier == "dense" else self.objectness(t)
        return {"scores": rows(scores), "tower": t, "ctr": rows(self.centerness(t))[..., 0],
                "ltrb": F.softplus(rows(self.box_deltas(t))) * self.stride,
                "coef": torch.tanh(rows(self.coefficients(t))), "shape": tuple(t.shape[-2:])}

    # ------------------------------------------------------------------ the module API
    def forward(self, images, targets: list[dict] | None = None):
        """Losses (train mode, with targets) or detections (eval mode); see the module docstring."""
        batch = stack_images(images)
        low, fpn = self.features(batch)
        protos = self.prototypes(low, fpn["0"])
        p4 = fpn[str(self.config.head_level)]
        out = self.head(p4)
        if self.training:
            if targets is None:
                raise ValueError("in train mode the model needs targets (call model.eval() to predict)")
            losses = self.losses(out, protos, targets, batch.shape[-2:])
            if self.config.semantic_loss_weight > 0:
                losses["loss_semantic"] = self.semantic_loss(p4, targets)
            return losses
        return self.detect(out, protos, batch.shape[-2:])

    def losses(self, out: dict, protos: torch.Tensor, targets: list[dict], size) -> dict[str, torch.Tensor]:
        """The loss terms of a batch (``forward`` adds ``loss_semantic``).

        * ``loss_classifier``: sigmoid focal loss over every location and class, divided by the
          number of positive locations;
        * ``loss_box``: generalised IoU loss of the positives' boxes;
        * ``loss_centerness``: BCE of the positives' centre-ness;
        * ``loss_mask``: per-pixel BCE of assembled masks against the ground truth, inside each
          object's box grown by ``mask_margin`` pixels (what the crop keeps), for up to
          ``masks_per_image`` positives per image.

        Every term is returned unweighted; ``loss_weights`` gives the recipe's weights of the total.
        """
        cfg = self.config
        h, w = out["shape"]
        points = grid_locations(self.stride, h, w, protos.device)  # (L, 2)
        cls_t, box_t, idx_t = [], [], []
        for tgt in targets:
            labels, boxes, gt_index = assign_locations(points, tgt["boxes"], tgt["labels"], self.stride,
                                                       cfg.center_radius, cfg.num_classes)
            cls_t.append(labels)
            box_t.append(boxes)
            idx_t.append(gt_index)
        cls_t, box_t, idx_t = torch.stack(cls_t), torch.stack(box_t), torch.stack(idx_t)  # (B, L, C-1) (B, L, 4) (B, L)
        pos = idx_t >= 0  # (B, L)
        num_pos = max(float(pos.sum()), 1.0)
        if cfg.classifier == "dense":
            loss_cls = sigmoid_focal_loss(out["scores"], cls_t, cfg.focal_alpha, cfg.focal_gamma, reduction="sum")
        else:  # objectness everywhere; the class only where there is an object (below)
            loss_cls = sigmoid_focal_loss(out["scores"][..., 0], pos.to(out["scores"].dtype), cfg.focal_alpha,
                                          cfg.focal_gamma, reduction="sum")
        loss_cls = loss_cls / num_pos
        if not pos.any():
            zero = out["ltrb"].sum() * 0 + out["coef"].sum() * 0 + out["ctr"].sum() * 0 + protos.sum() * 0
            return {"loss_classifier": loss_cls, "loss_box": zero, "loss_centerness": zero, "loss_mask": zero}
        pts = points.expand(pos.shape[0], -1, -1)[pos]  # (P, 2)
        pred_boxes = ltrb_to_boxes(pts, out["ltrb"][pos])
        gt_boxes = box_t[pos]
        if cfg.classifier == "aligned":  # which class, read from the features over each positive's own box
            image_of = torch.nonzero(pos)[:, 0]
            logits = self.aligned_logits(out["tower"], image_of, pred_boxes.detach(), size)
            loss_cls = loss_cls + F.cross_entropy(logits, cls_t[pos].argmax(1))
        loss_box = generalized_box_iou_loss(pred_boxes, gt_boxes, reduction="mean")
        ctr_t = centerness_target(pts, gt_boxes)
        loss_ctr = F.binary_cross_entropy_with_logits(out["ctr"][pos], ctr_t)
        loss_mask = self.mask_loss(out["coef"], protos, targets, idx_t, size)
        return {"loss_classifier": loss_cls, "loss_box": loss_box, "loss_centerness": loss_ctr, "loss_mask": loss_mask}

    def semantic_loss(self, p4: torch.Tensor, targets: list[dict]) -> torch.Tensor:
        """Per-cell BCE of each thing class against the share of the cell its masks cover (training only)."""
        target = class_coverage(targets, self.config.num_classes, p4.shape[-2:]).to(p4.dtype)
        return F.binary_cross_entropy_with_logits(self.semantic(p4), target)

    def mask_loss(self, coef: torch.Tensor, protos: torch.Tensor, targets: list[dict], idx_t: torch.Tensor,
                  size) -> torch.Tensor:
        """Mean per-pixel BCE of assembled masks over each sampled positive's grown ground-truth box."""
        cfg = self.config
        height, width = int(size[0]), int(size[1])
        terms = []
        for b, tgt in enumerate(targets):
            where = torch.nonzero(idx_t[b] >= 0)[:, 0]
            if where.numel() == 0:
                continue
            if where.numel() > cfg.masks_per_image:  # a random subset keeps the cost fixed
                where = where[torch.randperm(where.numel(), device=where.device)[:cfg.masks_per_image]]
            gi = idx_t[b, where]  # (P,) ground-truth index of each sampled location
            logits = assemble_logits(protos[b], coef[b, where], (height, width))  # (P, H, W)
            target = tgt["masks"][gi].to(logits.dtype)  # (P, H, W)
            region = box_region(tgt["boxes"][gi], height, width, cfg.mask_margin)  # (P, H, W) bool
            bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none") * region
            terms.append(bce.flatten(1).sum(1) / region.flatten(1).sum(1).clamp(min=1))
        if not terms:
            return coef.sum() * 0
        return torch.cat(terms).mean()

    def aligned_logits(self, tower: torch.Tensor, image_of: torch.Tensor, boxes: torch.Tensor, size) -> torch.Tensor:
        """Class logits (N, C-1) of N boxes from the tower's features sampled on a grid over each box.

        Args:
            tower: (B, C, h, w) features; image_of: (N,) the image of each box; boxes: (N, 4) xyxy pixels.
            size: (H, W) of the images.
        """
        g, n = self.config.class_grid, boxes.shape[0]
        frac = (torch.arange(g, device=boxes.device, dtype=boxes.dtype) + 0.5) / g  # (g,)
        xs = boxes[:, 0:1] + (boxes[:, 2:3] - boxes[:, 0:1]) * frac  # (N, g)
        ys = boxes[:, 1:2] + (boxes[:, 3:4] - boxes[:, 1:2]) * frac
        grid = torch.stack([(xs / size[1] * 2 - 1)[:, None, :].expand(n, g, g),
                            (ys / size[0] * 2 - 1)[:, :, None].expand(n, g, g)], -1)  # (N, g, g, 2)
        feats = tower.new_zeros(n, tower.shape[1], g, g)
        for b in image_of.unique().tolist():  # one grid_sample per image, with all of its boxes
            sel = image_of == b
            m = int(sel.sum())
            sampled = F.grid_sample(tower[b:b + 1], grid[sel].reshape(1, m * g, g, 2), mode="bilinear",
                                    align_corners=False)  # (1, C, m*g, g)
            feats[sel] = sampled[0].view(-1, m, g, g).transpose(0, 1)
        return self.box_classifier(feats.flatten(1))

    def class_scores(self, out: dict, b: int, points: torch.Tensor, size) -> tuple[torch.Tensor, torch.Tensor]:
        """Detection scores of image ``b``: (score, location, class index) of each candidate pair above the threshold.

        The score is the square root of (class probability x centre-ness) per location and class
        ("dense"), or of (objectness x centre-ness) times the class probability of the box's
        features ("aligned", for the ``pre_nms_top_n`` most object-like locations only).
        """
        cfg = self.config
        ctr = torch.sigmoid(out["ctr"][b])
        if cfg.classifier == "dense":
            scores = (torch.sigmoid(out["scores"][b]) * ctr[:, None]).sqrt()  # (L, C-1)
            flat = scores.flatten()
            top, order = flat.topk(min(cfg.pre_nms_top_n, int((flat > cfg.score_thresh).sum())))
            return top, order // scores.shape[1], order % scores.shape[1]
        obj = (torch.sigmoid(out["scores"][b, :, 0]) * ctr).sqrt()  # (L,)
        top_obj, loc = obj.topk(min(cfg.pre_nms_top_n, int((obj > cfg.score_thresh).sum())))
        boxes = ltrb_to_boxes(points[loc], out["ltrb"][b, loc])
        image_of = torch.full_like(loc, b)
        probs = torch.softmax(self.aligned_logits(out["tower"], image_of, boxes, size), 1)  # (n, C-1)
        pair = top_obj[:, None] * probs
        keep = torch.nonzero(pair > cfg.score_thresh)
        top = pair[keep[:, 0], keep[:, 1]]
        order = top.argsort(descending=True)[:cfg.pre_nms_top_n]
        return top[order], loc[keep[order, 0]], keep[order, 1]

    @property
    def loss_weights(self) -> dict[str, float]:
        """The config's weight of each loss term in the training total, as ``engine.fit`` takes them."""
        cfg = self.config
        weights = {"loss_classifier": cfg.classifier_loss_weight, "loss_mask": cfg.mask_loss_weight}
        return {**weights, "loss_semantic": cfg.semantic_loss_weight} if cfg.semantic_loss_weight > 0 else weights

    def decode(self, out: dict, b: int, points: torch.Tensor, size) -> tuple[torch.Tensor, ...]:
        """Image ``b``'s candidates before NMS: scores, locations, boxes (clamped to the image), labels."""
        top, loc, cls = self.class_scores(out, b, points, size)
        boxes = ltrb_to_boxes(points[loc], out["ltrb"][b, loc]).clamp(min=0)
        boxes[:, 0::2] = boxes[:, 0::2].clamp(max=size[1])
        boxes[:, 1::2] = boxes[:, 1::2].clamp(max=size[0])
        return top, loc, boxes, cls + 1

    @torch.no_grad()
    def candidates(self, images) -> list[dict]:
        """Each image's detections before NMS, without masks: ``boxes``, ``labels``, ``scores`` (on the CPU)."""
        batch = stack_images(images)
        out = self.head(self.features(batch)[1][str(self.config.head_level)])
        points = grid_locations(self.stride, *out["shape"], batch.device)
        found = [self.decode(out, b, points, batch.shape[-2:]) for b in range(batch.shape[0])]
        return [{"boxes": bx.cpu(), "labels": lab.cpu(), "scores": top.cpu()} for top, _, bx, lab in found]

    @torch.no_grad()
    def detect(self, out: dict, protos: torch.Tensor, size, keep_internals: bool = False) -> list[dict]:
        """Detections per image: scores, top-n, boxes, NMS, then masks for the kept ones only."""
        cfg = self.config
        height, width = int(size[0]), int(size[1])
        h, w = out["shape"]
        points = grid_locations(self.stride, h, w, protos.device)
        results = []
        for b in range(protos.shape[0]):
            top, loc, boxes, labels = self.decode(out, b, points, (height, width))
            if cfg.nms == "fast":
                keep = fast_nms(boxes, top, labels, cfg.nms_thresh)
            else:
                keep = batched_nms(boxes, top, labels, cfg.nms_thresh)
            keep = keep[:cfg.detections_per_img]
            coef = out["coef"][b, loc[keep]]  # (N, k)
            full = torch.sigmoid(assemble_logits(protos[b], coef, (height, width)))  # (N, H, W)
            masks = full * box_region(boxes[keep], height, width, cfg.crop_margin)
            kept_boxes = mask_boxes(masks > 0.5, boxes[keep]) if cfg.box_from_mask else boxes[keep]
            det = {"boxes": kept_boxes, "labels": labels[keep], "scores": top[keep], "masks": masks[:, None]}
            if keep_internals:
                det["coefficients"] = coef
                det["uncropped_masks"] = full[:, None]
            results.append(det)
        return results

    @torch.no_grad()
    def inspect(self, image: torch.Tensor) -> dict:
        """Everything the model computes for one image, for lesson figures.

        Args:
            image: (3, H, W) in [0, 1].

        Returns:
            ``prototypes`` (k, H/2, W/2), ``objectness`` (h, w): how object-like each location scores
            (x centre-ness, before any class or NMS), ``detections``: the eval-mode dict plus
            ``coefficients`` (N, k) and ``uncropped_masks`` (N, 1, H, W), the masks before the crop (CPU).
        """
        was_training = self.training
        self.eval()
        try:
            batch = stack_images([image])
            low, fpn = self.features(batch)
            protos = self.prototypes(low, fpn["0"])
            out = self.head(fpn[str(self.config.head_level)])
            det = self.detect(out, protos, batch.shape[-2:], keep_internals=True)[0]
            h, w = out["shape"]
            where = (torch.sigmoid(out["scores"][0]).max(1).values * torch.sigmoid(out["ctr"][0])).sqrt()
        finally:
            self.train(was_training)
        return {"prototypes": protos[0].cpu(), "objectness": where.view(h, w).cpu(),
                "detections": {k: v.cpu() for k, v in det.items()}}


def build_yolact(cfg: YolactConfig | None = None) -> Yolact:
    """Build the course's one-stage segmenter from a config (``YolactConfig()`` when None)."""
    return Yolact(cfg)
