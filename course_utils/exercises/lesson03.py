"""Checks of lesson 03's mini assignments: FCN skip fusion and the class-weighted cross-entropy."""

from __future__ import annotations

import torch

from .core import Case, exercise


@exercise("fuse_skip", lesson="03",
          hint="F.interpolate(coarse, size=skip.shape[-2:], mode='bilinear', align_corners=False) + skip: "
               "interpolate to the skip's exact size, not by a fixed factor.")
def fuse_skip_cases(gen: torch.Generator) -> list[Case]:
    """Exact x2, odd target sizes, one class, batches, and same-size inputs for fuse_skip(coarse, skip)."""
    def r(*shape):
        return torch.randn(*shape, generator=gen)

    return [
        Case("coarse 4x4 to skip 8x8, 7 classes", args=(r(1, 7, 4, 4), r(1, 7, 8, 8)),
             hint="Use mode='bilinear' with align_corners=False (the FCN's bilinear upsampling), then ADD the skip."),
        Case("coarse 4x4 to an odd skip 7x9 (not exactly x2)", args=(r(1, 3, 4, 4), r(1, 3, 7, 9)),
             hint="scale_factor=2 gives 8x8 here: pass size=skip.shape[-2:] so the sizes always match."),
        Case("a batch of 2, non-square: coarse 3x5 to skip 6x10", args=(r(2, 5, 3, 5), r(2, 5, 6, 10))),
        Case("coarse and skip already the same size", args=(r(1, 2, 5, 5), r(1, 2, 5, 5))),
        Case("coarse 1x1 (one cell) to 4x4", args=(r(1, 4, 1, 1), r(1, 4, 4, 4))),
        Case("float64 scores keep float64", args=(r(1, 3, 2, 3).double(), r(1, 3, 4, 6).double())),
    ]


@exercise("weighted_cross_entropy", lesson="03",
          hint="log_softmax over dim 1, pick the true class with gather, weight each pixel by weights[target], "
               "drop ignored pixels, and divide by the SUM OF THE WEIGHTS of the kept pixels (not their number).")
def weighted_cross_entropy_cases(gen: torch.Generator) -> list[Case]:
    """Uniform and skewed weights, ignored pixels, all-ignored and one-pixel cases; reference = F.cross_entropy."""
    def batch(b, c, h, w, ignore=0.0):
        logits = 2 * torch.randn(b, c, h, w, generator=gen)
        target = torch.randint(0, c, (b, h, w), generator=gen)
        target[torch.rand(b, h, w, generator=gen) < ignore] = 255
        return logits, target

    uniform = batch(2, 4, 5, 6)
    skewed = batch(2, 4, 5, 6)
    ignored = batch(1, 3, 8, 8, ignore=0.3)
    return [
        Case("weights all 1 (plain cross-entropy)", args=(*uniform, torch.ones(4))),
        Case("skewed weights", args=(*skewed, torch.tensor([0.1, 1.0, 5.0, 2.0])),
             hint="Normalise by the sum of the pixels' weights, as F.cross_entropy(weight=...) does."),
        Case("30% of pixels ignored (target 255)", args=(*ignored, torch.tensor([1.0, 2.0, 0.5])),
             hint="Pixels whose target is ignore_index count neither in the sum nor in the normaliser; "
                  "also make sure 255 is never used as an index."),
        Case("a different ignore_index (-1)",
             args=(ignored[0], torch.where(ignored[1] == 255, -1, ignored[1]), torch.tensor([1.0, 2.0, 0.5])),
             kwargs={"ignore_index": -1}),
        Case("a single pixel",
             args=(torch.tensor([[[[0.5]], [[2.0]]]]), torch.tensor([[[1]]]), torch.tensor([1.0, 3.0]))),
        Case("every pixel ignored: NaN, like F.cross_entropy",
             args=(torch.randn(1, 2, 2, 2, generator=gen), torch.full((1, 2, 2), 255), torch.ones(2)),
             hint="0 / 0 gives NaN: that is what F.cross_entropy returns too."),
    ]
