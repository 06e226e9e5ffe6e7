"""torchvision's RoI heads with a cap on the RoIs that train the mask head.

torchvision trains the mask head on every positive RoI that the box head sampled: with 32 RoIs
per image, half of them positive, a scene of a few objects sends up to 16 RoIs per image, two or
three per object, through the mask head's 14 x 14 convolutions. On a CPU that costs about as much
as the backbone. ``CappedMaskRoIHeads`` lets the box head see every sampled RoI (the classifier
and box regression still learn from all of them) and trains the mask head on at most
``mask_rois_per_image`` positives per image, drawn at random among them. At inference nothing
changes: the mask head runs on the detections.
"""

from __future__ import annotations

import torch
from torchvision.models.detection.roi_heads import RoIHeads, maskrcnn_loss


class CappedMaskRoIHeads(RoIHeads):
    """``RoIHeads`` whose mask loss uses at most ``mask_rois_per_image`` positives per image.

    Attributes:
        mask_rois_per_image: the cap (None: every positive, exactly torchvision's behaviour).
    """

    mask_rois_per_image: int | None = None

    def select_training_samples(self, proposals, targets):
        """torchvision's sampling, remembered so that the mask branch can reuse the same RoIs."""
        samples = super().select_training_samples(proposals, targets)
        self._samples = samples  # (proposals, matched_idxs, labels, regression_targets), per image
        return samples

    def forward(self, features, proposals, image_shapes, targets=None):
        """torchvision's forward; in training with a cap, the mask branch runs here on the capped RoIs."""
        if not (self.training and self.has_mask() and self.mask_rois_per_image is not None):
            return super().forward(features, proposals, image_shapes, targets)
        mask_pool, self.mask_roi_pool = self.mask_roi_pool, None  # box branch only (has_mask() is False)
        try:
            result, losses = super().forward(features, proposals, image_shapes, targets)
        finally:
            self.mask_roi_pool = mask_pool
        sampled, matched_idxs, labels, _ = self._samples
        del self._samples
        mask_boxes, mask_matched = [], []
        for boxes, matched, lab in zip(sampled, matched_idxs, labels):
            pos = torch.where(lab > 0)[0]
            if pos.numel() > self.mask_rois_per_image:
                pos = pos[torch.randperm(pos.numel(), device=pos.device)[:self.mask_rois_per_image]]
            mask_boxes.append(boxes[pos])
            mask_matched.append(matched[pos])
        mask_logits = self.mask_predictor(self.mask_head(self.mask_roi_pool(features, mask_boxes, image_shapes)))
        losses["loss_mask"] = maskrcnn_loss(mask_logits, mask_boxes, [t["masks"] for t in targets],
                                            [t["labels"] for t in targets], mask_matched)
        return result, losses
