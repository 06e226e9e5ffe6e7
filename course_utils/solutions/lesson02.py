"""Back of the book for lesson 02: output-size arithmetic of (transposed) convolutions and the bilinear kernel.

The tests check these against what ``torch.nn.Conv2d``, ``ConvTranspose2d`` and
``torch.nn.functional.interpolate`` really do; the FCN uses ``course_utils.models.fcn.bilinear_kernel``.
"""

from __future__ import annotations

import torch


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution (or pooling) along one axis, as ``nn.Conv2d`` computes it.

    out = floor((size + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1

    Args:
        size: input length (pixels).
        kernel_size: k.
        stride: s.
        padding: zeros added on each side.
        dilation: spacing between kernel taps.

    Returns:
        the output length (int >= 1). Raises ValueError when the kernel does not fit.
    """
    span = dilation * (kernel_size - 1) + 1  # pixels one kernel application covers
    room = size + 2 * padding - span
    if room < 0:
        raise ValueError(f"a kernel spanning {span} px does not fit in {size} px with padding {padding}")
    return room // stride + 1


def conv_transpose_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """Output length of a transposed convolution along one axis, as ``nn.ConvTranspose2d`` computes it.

    out = (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1

    Args:
        size: input length.
        kernel_size: k.
        stride: s (the upsampling factor).
        padding: rows/columns removed from each side of the full output.
        output_padding: extra rows/columns added on one side (must be < stride).
        dilation: spacing between kernel taps.

    Returns:
        the output length. Raises ValueError when it would be < 1.
    """
    out = (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1
    if out < 1:
        raise ValueError(f"padding {padding} removes more than the {out + 2 * padding} px the layer produces")
    return out


def bilinear_kernel(factor: int) -> torch.Tensor:
    """The kernel with which a stride-``factor`` ``ConvTranspose2d`` upsamples bilinearly.

    Size k = 2 * factor - factor % 2 (4 for factor 2). Along one axis the weights form a tent,
    1 - |i - centre| / factor, with centre = (k - 1) / 2; the 2-D kernel is the outer product.
    With ``stride=factor`` and ``padding=(k - factor) // 2`` the layer reproduces
    ``F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)`` away from the border.

    Args:
        factor: integer upsampling factor >= 1.

    Returns:
        (k, k) float32.
    """
    k = 2 * factor - factor % 2
    centre = (k - 1) / 2
    i = torch.arange(k, dtype=torch.float32)
    tent = 1 - (i - centre).abs() / factor  # (k,)
    return torch.outer(tent, tent)  # (k, k)
