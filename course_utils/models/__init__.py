"""Models of the course: per-pixel classifiers, FCNs and Mask R-CNN (with inspection hooks)."""
