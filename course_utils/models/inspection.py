"""Look inside a torchvision Mask R-CNN: record every stage of one image's forward pass.

``inspect_maskrcnn(model, image)`` puts forward hooks on torchvision's own modules
(``backbone``, ``rpn.head``, ``rpn.anchor_generator``, ``rpn``, ``roi_heads.box_roi_pool``,
``roi_heads.mask_roi_pool``, ``roi_heads.mask_predictor``), runs the model once and removes the
hooks. Nothing in the model is changed. The only stage computed outside a hook is the list of
proposals *before* NMS, which torchvision never stores: it is rebuilt from the recorded RPN
outputs with the model's own box coder and top-n rule.

With a ``target``, the pass runs in training mode instead (batch-norm statistics frozen, no
gradients), so the RoIs are the ones *sampled* for the heads, as during training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torchvision.models.detection.rpn import concat_box_prediction_layers
from torchvision.ops import boxes as box_ops


@dataclass
class Inspection:
    """Every recorded stage of one image's pass through Mask R-CNN (all tensors on the CPU).

    ``K`` pre-NMS proposals, ``P`` proposals after NMS, ``R`` RoIs fed to the box head,
    ``M`` boxes fed to the mask head, ``D`` final detections, ``C`` FPN channels.
    """

    mode: str  # "eval" (inference path) or "train" (training path: sampled RoIs, losses)
    image: torch.Tensor  # (3, H, W) the input image
    features: dict[str, torch.Tensor]  # FPN level name -> (C, h, w)
    strides: dict[str, int]  # FPN level name -> pixels per feature cell
    anchors: torch.Tensor  # (A, 4) xyxy, every anchor of every level
    anchors_per_level: list[int]  # how many of ``anchors`` belong to each level
    anchors_per_location: int  # anchors centred on each feature cell (sizes x aspect ratios)
    objectness: dict[str, torch.Tensor]  # level -> (anchors_per_location, h, w) RPN object probability
    proposals_pre_nms: torch.Tensor  # (K, 4) decoded top-n boxes per level, clipped, before NMS
    pre_nms_scores: torch.Tensor  # (K,) their objectness probabilities
    proposals: torch.Tensor  # (P, 4) RPN output after NMS (P <= K)
    head_boxes: torch.Tensor  # (R, 4) boxes RoIAligned for the box head (sampled RoIs in train mode)
    box_crops: torch.Tensor  # (R, C, s, s) RoIAlign output for the box head
    mask_boxes: torch.Tensor  # (M, 4) boxes RoIAligned for the mask head (detections / positive RoIs)
    mask_crops: torch.Tensor  # (M, C, 2s', ...) RoIAlign output for the mask head, (M, C, 14, 14) by default
    mask_logits: torch.Tensor  # (M, num_classes, 28, 28) raw mask-head output, one map per class
    detections: dict[str, torch.Tensor] = field(default_factory=dict)  # eval: boxes, labels, scores, masks (D, 1, H, W)
    losses: dict[str, float] = field(default_factory=dict)  # train mode: the five loss terms

    def summary(self) -> str:
        """One line per stage with its tensor shape, for printing in a lesson."""
        lines = [f"mode: {self.mode}", f"image {tuple(self.image.shape)}"]
        for k, f in self.features.items():
            lines.append(f"FPN level {k} (stride {self.strides[k]}): {tuple(f.shape)}, "
                         f"objectness {tuple(self.objectness[k].shape)}")
        lines += [f"anchors {tuple(self.anchors.shape)} ({self.anchors_per_location} per location, "
                  f"per level {self.anchors_per_level})",
                  f"proposals before NMS {tuple(self.proposals_pre_nms.shape)}",
                  f"proposals after NMS {tuple(self.proposals.shape)}",
                  f"boxes fed to the box head {tuple(self.head_boxes.shape)} "
                  f"-> RoIAlign {tuple(self.box_crops.shape)}",
                  f"boxes fed to the mask head {tuple(self.mask_boxes.shape)} "
                  f"-> RoIAlign {tuple(self.mask_crops.shape)}",
                  f"mask logits {tuple(self.mask_logits.shape)}"]
        if self.detections:
            lines.append(f"detections: boxes {tuple(self.detections['boxes'].shape)}, "
                         f"pasted masks {tuple(self.detections['masks'].shape)}")
        if self.losses:
            lines.append("losses: " + ", ".join(f"{k} {v:.3f}" for k, v in self.losses.items()))
        return "\n".join(lines)


def _cpu(x):
    """Detach and move tensors (inside lists/tuples/dicts) to the CPU."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    if isinstance(x, dict):
        return {k: _cpu(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_cpu(v) for v in x)
    return x


@torch.no_grad()
def inspect_maskrcnn(model: nn.Module, image: torch.Tensor, target: dict | None = None) -> Inspection:
    """Run one image through a torchvision Mask R-CNN and record every stage.

    Args:
        model: a torchvision ``MaskRCNN`` (the course's or the ResNet-50 one).
        image: (3, H, W) float in [0, 1].
        target: optional torchvision target (``boxes``, ``labels``, ``masks``); when given, the
            training path is recorded (sampled RoIs, losses) instead of the inference path.

    Returns:
        an :class:`Inspection`.
    """
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"image must be (3, H, W), got shape {tuple(image.shape)}")
    for name in ("backbone", "rpn", "roi_heads", "transform"):
        if not hasattr(model, name):
            raise TypeError(f"expected a torchvision MaskRCNN, got {type(model).__name__} without .{name}")
    device = next(model.parameters()).device
    rec: dict = {}
    hooks = []

    def keep(name, use_input=False):
        def hook(_module, args, output):
            rec[name] = _cpu(args if use_input else output)
        return hook

    rh = model.roi_heads
    hooks.append(model.backbone.register_forward_hook(keep("features")))
    hooks.append(model.rpn.head.register_forward_hook(keep("rpn_head")))
    hooks.append(model.rpn.anchor_generator.register_forward_hook(keep("anchors")))
    hooks.append(model.rpn.register_forward_hook(keep("rpn")))
    hooks.append(model.transform.register_forward_hook(keep("transformed")))
    hooks.append(rh.box_roi_pool.register_forward_hook(keep("box_pool_in", use_input=True)))
    hooks.append(rh.box_roi_pool.register_forward_hook(keep("box_crops")))
    hooks.append(rh.mask_roi_pool.register_forward_hook(keep("mask_pool_in", use_input=True)))
    hooks.append(rh.mask_roi_pool.register_forward_hook(keep("mask_crops")))
    hooks.append(rh.mask_predictor.register_forward_hook(keep("mask_logits")))
    modes = {m: m.training for m in model.modules()}
    try:
        if target is None:
            model.eval()
            out = model([image.to(device)])[0]
        else:
            model.train()
            for m in model.modules():  # keep batch-norm running statistics untouched
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
            t = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in target.items()}
            out = model([image.to(device)], [t])
        pre_nms_top_n = model.rpn.pre_nms_top_n()  # per level, in the mode that just ran
    finally:
        for h in hooks:
            h.remove()
        for m, flag in modes.items():
            m.training = flag
    return _assemble(model, image, rec, out, pre_nms_top_n, train=target is not None)


def _assemble(model: nn.Module, image: torch.Tensor, rec: dict, out: dict, pre_nms_top_n: int,
              train: bool) -> Inspection:
    """Turn the hook records into an :class:`Inspection` (first and only image of the batch)."""
    features = {k: v[0] for k, v in rec["features"].items()}  # (C, h, w) per level
    image_list = rec["transformed"][0]
    padded = image_list.tensors.shape[-1]
    strides = {k: padded // f.shape[-1] for k, f in features.items()}
    objectness_levels, deltas_levels = rec["rpn_head"]  # lists of (1, A, h, w), (1, 4A, h, w)
    a = objectness_levels[0].shape[1]
    objectness = {k: torch.sigmoid(o[0]) for k, o in zip(features, objectness_levels)}
    anchors = rec["anchors"][0]  # (sum A*h*w, 4)
    per_level = [o[0].numel() for o in objectness_levels]
    pre_boxes, pre_scores = _pre_nms(model, objectness_levels, deltas_levels, anchors, per_level,
                                     image_list.image_sizes[0], pre_nms_top_n)
    proposals = rec["rpn"][0][0]
    box_in = rec["box_pool_in"]
    mask_in = rec.get("mask_pool_in")
    c = next(iter(features.values())).shape[0]
    empty_crops = torch.zeros(0, c, 1, 1)
    if mask_in is None:  # no detections: the mask head never ran
        mask_boxes, mask_crops, mask_logits = torch.zeros(0, 4), empty_crops, torch.zeros(0, 1, 1, 1)
    else:
        mask_boxes, mask_crops, mask_logits = mask_in[1][0], rec["mask_crops"], rec["mask_logits"]
    return Inspection(
        mode="train" if train else "eval", image=image.detach().cpu(), features=features, strides=strides,
        anchors=anchors, anchors_per_level=per_level, anchors_per_location=a, objectness=objectness,
        proposals_pre_nms=pre_boxes, pre_nms_scores=pre_scores, proposals=proposals,
        head_boxes=box_in[1][0], box_crops=rec["box_crops"], mask_boxes=mask_boxes, mask_crops=mask_crops,
        mask_logits=mask_logits, detections={} if train else _cpu(out),
        losses={k: float(v) for k, v in out.items()} if train else {},
    )


def _pre_nms(model: nn.Module, objectness_levels: list, deltas_levels: list, anchors: torch.Tensor,
             per_level: list[int], image_size: tuple[int, int], top_n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Proposals before NMS, as torchvision's ``filter_proposals`` sees them.

    The RPN's deltas are decoded onto the anchors with the model's box coder, the top
    ``pre_nms_top_n`` per level are kept and clipped to the image.

    Returns:
        boxes (K, 4) xyxy and objectness probabilities (K,).
    """
    rpn = model.rpn
    obj, deltas = concat_box_prediction_layers(list(objectness_levels), list(deltas_levels))  # (A, 1), (A, 4)
    boxes = rpn.box_coder.decode(deltas, [anchors]).reshape(-1, 4)  # (A, 4)
    scores = obj.reshape(-1)
    keep_boxes, keep_scores = [], []
    start = 0
    for n in per_level:
        s = scores[start:start + n]
        top = s.topk(min(top_n, n)).indices + start
        keep_boxes.append(boxes[top])
        keep_scores.append(scores[top])
        start += n
    pre = box_ops.clip_boxes_to_image(torch.cat(keep_boxes), image_size)
    return pre, torch.sigmoid(torch.cat(keep_scores))


def parameters_by_stage(model: nn.Module) -> dict[str, int]:
    """Number of trainable parameters in each stage of a torchvision Mask R-CNN.

    Args:
        model: a torchvision ``MaskRCNN`` (the course's or the ResNet-50 one).

    Returns:
        ``{"backbone": ..., "FPN": ..., "RPN": ..., "box head": ..., "mask head": ...}``.
    """
    def count(*modules: nn.Module) -> int:
        return sum(p.numel() for m in modules for p in m.parameters())

    rh = model.roi_heads
    fpn = model.backbone.fpn
    return {"backbone": count(model.backbone) - count(fpn), "FPN": count(fpn), "RPN": count(model.rpn),
            "box head": count(rh.box_head, rh.box_predictor), "mask head": count(rh.mask_head, rh.mask_predictor)}
