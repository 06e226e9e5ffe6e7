"""Checks of lesson 02's mini assignments: (transposed) convolution output sizes and the bilinear kernel."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .compare import compare
from .core import Case, exercise


@exercise("conv_output_size", lesson="02",
          hint="out = floor((size + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1; use // for the floor.")
def conv_output_size_cases(gen: torch.Generator) -> list[Case]:
    """Plain, padded, strided (odd sizes), dilated, pooling-like and kernel-too-big cases."""
    return [
        Case("a 3x3 conv without padding on 32 px", args=(32, 3)),
        Case("a 3x3 conv with padding 1 keeps the size", args=(128, 3, 1, 1)),
        Case("a 2x2 max-pooling with stride 2 on an odd size (25 px)", args=(25, 2, 2),
             hint="Stride 2 on an odd size does not divide evenly: the result is rounded DOWN (floor)."),
        Case("a 3x3 conv, stride 2, padding 1 on 100 px", args=(100, 3, 2, 1)),
        Case("a 7x7 conv, stride 2, padding 3 on 124 px (a ResNet stem)", args=(124, 7, 2, 3)),
        Case("a dilated 3x3 conv (dilation 2) on 20 px", kwargs={"size": 20, "kernel_size": 3, "dilation": 2},
             hint="A dilated kernel spans dilation*(kernel_size - 1) + 1 pixels."),
        Case("a kernel exactly as big as the input: one output", args=(5, 5)),
        Case("a 1x1 conv with stride 3 on 10 px", args=(10, 1, 3)),
        Case("a kernel bigger than the padded input: raise ValueError", args=(4, 7), expect_error=ValueError,
             hint="When size + 2*padding is smaller than the kernel's span no output fits: raise ValueError."),
    ]


@exercise("conv_transpose_output_size", lesson="02",
          hint="out = (size - 1)*stride - 2*padding + dilation*(kernel_size - 1) + output_padding + 1.")
def conv_transpose_output_size_cases(gen: torch.Generator) -> list[Case]:
    """FCN-style x2/x8/x32 upsamplers, checkerboard-prone kernels, output padding, dilation, too much padding."""
    return [
        Case("kernel 4, stride 2, padding 1 doubles 8 px", args=(8, 4, 2, 1)),
        Case("kernel 16, stride 8, padding 4 (FCN-8s) on 16 px", args=(16, 16, 8, 4)),
        Case("kernel 64, stride 32, padding 16 (FCN-32s) on 4 px", args=(4, 64, 32, 16)),
        Case("kernel 3, stride 2, no padding on 5 px", args=(5, 3, 2)),
        Case("kernel 3, stride 2, padding 1, output_padding 1 on 7 px", args=(7, 3, 2, 1, 1),
             hint="output_padding adds that many pixels to the end of the output."),
        Case("a stride-1 transposed conv grows the size by kernel_size - 1", args=(10, 5)),
        Case("dilation 2", kwargs={"size": 6, "kernel_size": 3, "stride": 2, "dilation": 2}),
        Case("a single input pixel", args=(1, 4, 2, 1)),
        Case("padding that removes everything: raise ValueError", args=(1, 2, 1, 2), expect_error=ValueError,
             hint="If the formula gives less than 1 pixel, raise ValueError."),
    ]


def _upsampling_compare(factor: int):
    """A comparison that also checks the kernel's real job: ConvTranspose2d == F.interpolate in the interior."""

    def check(expected: torch.Tensor, got) -> str | None:
        if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            return compare(expected, got)
        x = torch.rand(1, 1, 6, 7, generator=torch.Generator().manual_seed(factor))
        k = expected.shape[-1]
        with torch.no_grad():
            up = F.conv_transpose2d(x, got.detach().float().cpu()[None, None], stride=factor,
                                    padding=(k - factor) // 2)
        ref = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
        if up.shape != ref.shape:
            return compare(expected, got)
        m = factor
        diff = (up - ref)[..., m:-m, m:-m].abs().max().item()
        if diff > 1e-4:
            return (f"a ConvTranspose2d (stride {factor}) initialised with your kernel does not reproduce "
                    f"F.interpolate(..., mode='bilinear') inside a random 6x7 map (largest difference {diff:.4g}); "
                    + (compare(expected, got) or ""))
        return compare(expected, got)

    return check


@exercise("bilinear_kernel", lesson="02",
          hint="k = 2*factor - factor % 2; centre = (k - 1) / 2; one axis: 1 - |i - centre| / factor for i in "
               "0..k-1; the 2-D kernel is the outer product (torch.outer). Return float32.")
def bilinear_kernel_cases(gen: torch.Generator) -> list[Case]:
    """Factors 1, 2, 3, 4, 8 (odd and even), each also checked against F.interpolate's bilinear upsampling."""
    cases = [Case(f"factor {f}", args=(f,), compare=_upsampling_compare(f),
                  hint=("For an even factor the centre lies BETWEEN two taps ((k - 1) / 2 = factor - 0.5)."
                        if f % 2 == 0 else None))
             for f in (2, 4, 3, 8)]
    cases.insert(0, Case("factor 1: a 1x1 kernel holding 1 (no upsampling)", args=(1,)))
    cases.append(Case("factor 32 (FCN-32s)", args=(32,), compare=_upsampling_compare(32),
                      hint="Do not normalise the kernel to sum 1: the weights of a transposed convolution add "
                           "up over overlapping placements."))
    return cases
