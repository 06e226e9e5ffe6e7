"""Metrics: semantic (confusion matrix, IoU), detection (IoU, AP, COCO eval), panoptic (PQ), IoU per click."""
