"""Metrics: semantic (confusion matrix, IoU), detection (IoU, AP, COCO eval) and panoptic (PQ)."""
