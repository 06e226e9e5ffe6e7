"""Checks of lesson 07's mini assignments: RoIAlign for one box, pasting a mask, counting instances."""

from __future__ import annotations

import torch

from .core import Case, exercise


def _box(*v: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A (4,) box tensor."""
    return torch.tensor(v, dtype=dtype)


@exercise("roi_align_single", lesson="07",
          hint="Map the box onto the feature map (x * spatial_scale - 0.5), cut it into output_size x output_size "
               "bins, take sampling_ratio x sampling_ratio evenly spaced points inside each bin (at (i + 0.5) / "
               "sampling_ratio of the bin), sample each bilinearly and average. A point more than 1 cell outside the "
               "map counts as 0; below 0 clamp to 0; at the last row/column do not look further.")
def roi_align_single_cases(gen: torch.Generator) -> list[Case]:
    """Boxes inside, across the border of and outside a feature map, for roi_align_single(...) -> (C, S, S)."""
    feats = torch.randn(4, 12, 16, generator=gen)
    return [
        Case("a box inside a 4x12x16 map, stride 4, 7x7 output",
             args=(feats, _box(10.3, 6.1, 41.7, 30.2), 7, 0.25, 2)),
        Case("spatial_scale 1 (the box is in feature-map cells), 2x2 output, 1 sample per bin",
             args=(feats, _box(2.0, 1.0, 9.0, 7.0), 2, 1.0, 1),
             hint="With aligned=True subtract 0.5 AFTER scaling: x * spatial_scale - 0.5."),
        Case("a box that is wider than tall (x and y must not be swapped)",
             args=(feats, _box(1.0, 3.0, 14.0, 6.0), 3, 1.0, 2),
             hint="Features are indexed [channel, row (y), column (x)]; a box is (x1, y1, x2, y2)."),
        Case("3 samples per bin side",
             args=(feats, _box(3.5, 2.5, 30.0, 20.0), 4, 0.5, 3),
             hint="Sample points sit at (i + 0.5) / sampling_ratio of each bin, for i = 0 .. sampling_ratio - 1."),
        Case("a box crossing the bottom-right border of the map",
             args=(feats, _box(50.0, 30.0, 70.0, 56.0), 5, 0.25, 2),
             hint="At the last row/column, use that row/column alone (do not index one past the end); a point "
                  "more than one cell beyond the map contributes 0."),
        Case("a box crossing the top-left border (negative coordinates)",
             args=(feats, _box(-9.0, -7.0, 10.0, 8.0), 4, 0.25, 2),
             hint="Points between -1 and 0 are clamped to 0; points below -1 contribute 0."),
        Case("a box completely outside the map (all zeros)",
             args=(feats, _box(200.0, 200.0, 240.0, 260.0), 2, 0.25, 2)),
        Case("a zero-area box (a point): every bin samples the same spot",
             args=(feats, _box(20.0, 16.0, 20.0, 16.0), 3, 0.25, 2)),
        Case("a 1x1 output (one bin averages all the samples)",
             args=(feats, _box(4.0, 4.0, 36.0, 28.0), 1, 0.25, 2)),
        Case("float64 features stay float64",
             args=(feats.double(), _box(10.0, 6.0, 41.0, 30.0, dtype=torch.float64), 7, 0.25, 2),
             hint="Compute in the dtype of the features."),
    ]


@exercise("paste_mask", lesson="07",
          hint="For every pixel whose centre (x + 0.5, y + 0.5) lies inside the box, find the matching point of the "
               "M x M mask: u = (x + 0.5 - x1) / (x2 - x1) * M - 0.5 (the same for v with y), clamp it to [0, M - 1] "
               "and interpolate bilinearly between the four nearest mask cells. Every other pixel is 0.")
def paste_mask_cases(gen: torch.Generator) -> list[Case]:
    """Boxes of every size and position for paste_mask(mask (M, M), box (4,), height, width) -> (H, W)."""
    m28 = torch.rand(28, 28, generator=gen)
    m4 = torch.tensor([[0.0, 0.2, 0.4, 0.6], [0.1, 0.9, 0.8, 0.2], [0.3, 1.0, 0.7, 0.0], [0.0, 0.5, 0.5, 0.1]])
    return [
        Case("a 28x28 mask into a 20x14 box of a 40x48 image",
             args=(m28, _box(12.0, 9.0, 32.0, 23.0), 40, 48)),
        Case("a 4x4 mask into a box at fractional coordinates",
             args=(m4, _box(3.3, 2.6, 13.8, 9.1), 16, 16),
             hint="A pixel is inside the box when its CENTRE (x + 0.5) is in [x1, x2)."),
        Case("a box that is wider than tall (rows are y, columns are x)",
             args=(m4, _box(1.0, 4.0, 15.0, 8.0), 12, 18),
             hint="The result is indexed [y, x]: height first."),
        Case("a box smaller than the mask (the mask is shrunk)",
             args=(m28, _box(5.0, 5.0, 11.0, 9.0), 16, 16)),
        Case("a box sticking out of the image on the right and bottom",
             args=(m28, _box(20.0, 22.0, 40.0, 38.0), 30, 32),
             hint="Only paste the part of the box that lies inside the image."),
        Case("a box sticking out on the left and top (negative corners)",
             args=(m4, _box(-5.0, -3.0, 7.0, 6.0), 10, 10)),
        Case("a box entirely outside the image: all zeros", args=(m4, _box(30.0, 30.0, 40.0, 40.0), 10, 10)),
        Case("a zero-width box: all zeros", args=(m4, _box(5.0, 2.0, 5.0, 9.0), 12, 12),
             hint="No pixel centre lies in [x1, x2) when x1 == x2: return zeros (and do not divide by zero)."),
        Case("a mask of ones fills exactly the box's pixels",
             args=(torch.ones(28, 28), _box(2.0, 3.0, 9.0, 7.0), 10, 12)),
        Case("float64 stays float64", args=(m4.double(), _box(1.5, 1.5, 9.5, 7.5, dtype=torch.float64), 10, 10)),
    ]


@exercise("count_instances", lesson="07",
          hint="Keep the labels whose score is >= score_thresh, then count each class id: "
               "torch.bincount(labels, minlength=num_classes) returns an int64 tensor of length num_classes.")
def count_instances_cases(gen: torch.Generator) -> list[Case]:
    """Predictions with ties, empty sets and bad labels for count_instances(prediction, score_thresh, num_classes)."""
    labels = torch.randint(4, 7, (12,), generator=gen)
    scores = torch.rand(12, generator=gen)
    return [
        Case("12 random detections, threshold 0.5",
             args=({"labels": labels, "scores": scores}, 0.5, 7)),
        Case("the same detections, threshold 0.05 (almost all count)",
             args=({"labels": labels, "scores": scores}, 0.05, 7)),
        Case("a score exactly at the threshold counts",
             args=({"labels": torch.tensor([4, 5, 6]), "scores": torch.tensor([0.5, 0.5, 0.49])}, 0.5, 7),
             hint="Use score >= score_thresh, not >."),
        Case("classes nobody predicted still get a 0 (result length = num_classes)",
             args=({"labels": torch.tensor([4, 4]), "scores": torch.tensor([0.9, 0.8])}, 0.5, 7),
             hint="torch.bincount(..., minlength=num_classes)."),
        Case("no detections at all", args=({"labels": torch.zeros(0, dtype=torch.int64), "scores": torch.zeros(0)},
                                            0.5, 7)),
        Case("every detection below the threshold",
             args=({"labels": torch.tensor([5, 6]), "scores": torch.tensor([0.2, 0.1])}, 0.5, 7)),
        Case("a different number of classes (2: background + one thing)",
             args=({"labels": torch.tensor([1, 1, 1]), "scores": torch.tensor([0.9, 0.6, 0.3])}, 0.5, 2)),
        Case("detections not sorted by score",
             args=({"labels": torch.tensor([6, 4, 6, 5]), "scores": torch.tensor([0.1, 0.95, 0.7, 0.3])}, 0.5, 7)),
        Case("a class id outside 0..num_classes-1 raises ValueError",
             args=({"labels": torch.tensor([4, 9]), "scores": torch.tensor([0.9, 0.9])}, 0.5, 7),
             expect_error=ValueError,
             hint="Check the kept labels: raise ValueError when one is < 0 or >= num_classes."),
    ]
