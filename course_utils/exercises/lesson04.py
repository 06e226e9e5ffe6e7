"""Checks of lesson 04's mini assignments: a dilated convolution by hand, the Dice loss, a U-Net skip."""

from __future__ import annotations

import torch

from .core import Case, exercise


@exercise("dilated_conv2d", lesson="04",
          hint="Output (i, j) = sum over taps (a, b) of kernel[a, b] * padded[i + a*dilation, j + b*dilation], with "
               "zero padding of dilation * (k - 1) // 2 on every side, so the output keeps the input's size. "
               "No kernel flip: torch's conv2d is a cross-correlation.")
def dilated_conv2d_cases(gen: torch.Generator) -> list[Case]:
    """Rates 1, 2, 3 and 4, odd and even sizes, a kernel wider than the image, a 1x1 kernel; reference = F.conv2d."""
    def r(*shape):
        return torch.randn(*shape, generator=gen)

    return [
        Case("8x8 image, 3x3 kernel, dilation 1 (an ordinary convolution)", args=(r(8, 8), r(3, 3), 1)),
        Case("8x8 image, 3x3 kernel, dilation 2", args=(r(8, 8), r(3, 3), 2),
             hint="With dilation 2 the 3x3 taps span 5x5: pad by 2 on each side to keep the size."),
        Case("an asymmetric kernel (a flipped kernel gives another result)",
             args=(r(7, 9), torch.arange(9.0).reshape(3, 3), 2),
             hint="Do not flip the kernel: torch.nn.functional.conv2d computes a cross-correlation."),
        Case("odd size 7x5, dilation 3", args=(r(7, 5), r(3, 3), 3),
             hint="Taps that fall outside the image read the zero padding."),
        Case("dilation 4 on a 6x6 image (taps mostly in the padding)", args=(r(6, 6), r(3, 3), 4)),
        Case("5x5 kernel, dilation 2", args=(r(10, 10), r(5, 5), 2)),
        Case("1x1 kernel: dilation changes nothing", args=(r(4, 4), r(1, 1), 3)),
        Case("float64 keeps float64", args=(r(5, 6).double(), r(3, 3).double(), 2)),
        Case("dilation 0 is not a convolution: raise ValueError", args=(r(4, 4), r(3, 3), 0), expect_error=ValueError,
             hint="Check the arguments first: dilation must be an integer >= 1 (raise ValueError otherwise)."),
    ]


@exercise("dice_loss", lesson="04",
          hint="1 - (2 * sum(probs * target) + eps) / (sum(probs) + sum(target) + eps), sums over the whole batch; "
               "eps in BOTH numerator and denominator, so an empty mask predicted empty gives loss 0, not 0/0.")
def dice_loss_cases(gen: torch.Generator) -> list[Case]:
    """Soft probabilities, perfect and opposite predictions, empty masks, all-background batches, eps."""
    def probs(*shape):
        return torch.rand(*shape, generator=gen)

    def mask(*shape, p=0.3):
        return (torch.rand(*shape, generator=gen) < p).float()

    empty = torch.zeros(2, 6, 6)
    half = mask(1, 6, 6, p=0.5)
    return [
        Case("soft probabilities vs a mask (2 images, 8x8)", args=(probs(2, 8, 8), mask(2, 8, 8)),
             hint="Use the probabilities as they are: thresholding them (probs > 0.5) gives another number and no "
                  "gradient."),
        Case("a perfect prediction: loss 0", args=(half, half.clone())),
        Case("the exact opposite of the mask: loss close to 1", args=(1 - half, half.clone())),
        Case("an empty mask predicted empty (all-background batch): loss 0, not NaN", args=(empty, empty),
             hint="With eps in the numerator too, (0 + eps) / (0 + eps) = 1 and the loss is 0."),
        Case("an empty mask, some foreground predicted", args=(probs(2, 6, 6) * 0.5, empty)),
        Case("a bool target", args=(probs(1, 5, 7), mask(1, 5, 7) > 0)),
        Case("eps = 0 on a non-empty mask", args=(probs(1, 6, 6), mask(1, 6, 6, p=0.5)), kwargs={"eps": 0.0}),
        Case("sums over the batch, not a mean of per-image losses",
             args=(torch.cat([torch.ones(1, 4, 4), torch.zeros(1, 4, 4)]), torch.cat([torch.ones(1, 4, 4),
                                                                                    torch.ones(1, 4, 4)])),
             hint="Add up over every pixel of every image, then form one ratio."),
    ]



@exercise("unet_skip", lesson="04",
          hint="Crop the upsampled map to the skip's height and width (bottom/right), zero-pad it where it is "
               "shorter, then torch.cat([skip, up], dim=1): channels are dim 1 of (B, C, H, W), skip first.")
def unet_skip_cases(gen: torch.Generator) -> list[Case]:
    """Equal sizes, one pixel short (odd sizes), one pixel too long, batches, channel counts."""
    def r(*shape):
        return torch.randn(*shape, generator=gen)

    return [
        Case("same size: (1, 4, 8, 8) up, (1, 2, 8, 8) skip -> (1, 6, 8, 8)", args=(r(1, 4, 8, 8), r(1, 2, 8, 8)),
             hint="Concatenate along dim=1 (channels), skip first: torch.cat([skip, up], dim=1)."),
        Case("odd skip 7x7, upsampled 6x6: pad one row and column of zeros", args=(r(1, 3, 6, 6), r(1, 3, 7, 7)),
             hint="Pad at the bottom and right with zeros (F.pad(up, (0, dw, 0, dh))) before concatenating."),
        Case("upsampled one pixel too long (8x10 for a 7x9 skip): crop", args=(r(2, 2, 8, 10), r(2, 5, 7, 9)),
             hint="Crop the bottom rows and right columns: up[..., :H, :W]."),
        Case("a batch of 3 with equal channel counts", args=(r(3, 4, 5, 5), r(3, 4, 5, 5)),
             hint="dim=0 is the batch: concatenating there gives 6 images instead of 8 channels."),
        Case("mixed: taller but narrower", args=(r(1, 1, 9, 4), r(1, 2, 8, 5))),
    ]
