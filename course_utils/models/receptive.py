"""Receptive field, output stride and output sizes of convolution stacks, dilated ones included.

For a stack of layers with kernel k, stride s and dilation d, the receptive field r and the jump j
(the distance in input pixels between neighbouring outputs, i.e. the cumulative stride) grow as

    r_out = r_in + (k - 1) * d * j_in        j_out = j_in * s

An upsampling by 2 (written stride -2) halves the jump; its kernel says how many input cells one
output mixes (1 for a 2x2 stride-2 transposed convolution, 2 for bilinear interpolation).
"""

from __future__ import annotations


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution along one axis, as ``torch.nn.Conv2d`` computes it.

    Args:
        size: input length.
        kernel: kernel length k.
        stride: step s.
        padding: zeros added on each side.
        dilation: gap d between kernel taps (1 = an ordinary convolution); the kernel spans d*(k-1)+1.

    Returns:
        floor((size + 2*padding - dilation*(kernel-1) - 1) / stride) + 1 (0 when the kernel does not fit).
    """
    for name, value, low in (("size", size, 0), ("kernel", kernel, 1), ("stride", stride, 1),
                             ("padding", padding, 0), ("dilation", dilation, 1)):
        if int(value) != value or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    span = dilation * (kernel - 1) + 1
    return max(0, (size + 2 * padding - span) // stride + 1)


def receptive_field_rows(layers: list[tuple[str, int, int, int]]) -> list[dict]:
    """Receptive field and jump after every layer of a stack.

    Args:
        layers: (name, kernel, stride, dilation) per layer; stride -2 is an x2 upsampling.

    Returns:
        one dict per layer: ``layer``, ``kernel``, ``dilation``, ``stride`` (the jump after it, in input
        pixels; below 1 never happens in the course's models), ``receptive_field`` (px).
    """
    rows, r, j = [], 1.0, 1.0
    for name, k, s, d in layers:
        r += (k - 1) * d * j
        j = j / -s if s < 0 else j * s
        rows.append({"layer": name, "kernel": k, "dilation": d, "stride": j, "receptive_field": int(r)})
    return rows
