"""Convolution arithmetic: output sizes and the convolution as a matrix (lecture 2).

`conv_output_size` and `conv_transpose_output_size` give the spatial size that
`nn.Conv1d/2d/3d` and `nn.ConvTranspose1d/2d/3d` produce, one dimension at a time,
and raise `ValueError` wherever PyTorch would refuse the parameters.
`conv_matrix` writes a convolution out as the matrix `C` with
`conv(x) == C @ x` and `conv_transpose(y) == C.T @ y` (on flattened tensors).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

__all__ = ["Size", "conv_output_size", "conv_transpose_output_size", "conv_matrix", "show_conv_matrix"]

Size = int | tuple[int, ...]


def _per_dimension(**params: Size) -> tuple[int, list[dict[str, int]]]:
    """Broadcast ints and equal-length tuples to one dict of ints per dimension."""
    lengths = {name: len(v) for name, v in params.items() if isinstance(v, (tuple, list))}
    if len(set(lengths.values())) > 1 or 0 in lengths.values():
        raise ValueError(f"per-dimension tuples must have the same, non-zero length, got lengths {lengths}")
    ndim = next(iter(lengths.values()), 0)
    for name, v in params.items():
        for item in v if isinstance(v, (tuple, list)) else [v]:
            if isinstance(item, bool) or not isinstance(item, int):
                raise TypeError(f"{name} must be an int or a tuple of ints, got {v!r}")
    dims = [
        {name: (v[i] if isinstance(v, (tuple, list)) else v) for name, v in params.items()} for i in range(max(ndim, 1))
    ]
    return ndim, dims


def _where(ndim: int, i: int) -> str:
    return f" (spatial dimension {i + 1} of {ndim})" if ndim > 1 else ""


def _check_ranges(ndim: int, dims: list[dict[str, int]], non_negative: Sequence[str]) -> None:
    """Raise ValueError for the first parameter out of range; `non_negative` may be zero, the rest must be positive."""
    for i, d in enumerate(dims):
        for name, value in d.items():
            if name in non_negative and value < 0:
                raise ValueError(f"{name} must be zero or positive, got {name}={value}{_where(ndim, i)}")
            if name not in non_negative and value < 1:
                raise ValueError(f"{name} must be a positive integer, got {name}={value}{_where(ndim, i)}")


def _result(ndim: int, sizes: list[int]) -> Size:
    return tuple(sizes) if ndim else sizes[0]


def conv_output_size(size: Size, kernel_size: Size, stride: Size = 1, padding: Size = 0, dilation: Size = 1) -> Size:
    """Return the output size of `nn.Conv1d/2d/3d`: floor((n + 2p - d(k - 1) - 1) / s) + 1 per dimension.

    Ints give an int; tuples (one entry per spatial dimension, ints broadcast) give a tuple.
    Raises ValueError where PyTorch refuses the parameters: non-positive size, kernel_size,
    stride or dilation; negative padding; a (dilated) kernel larger than the padded input.
    """
    ndim, dims = _per_dimension(size=size, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation)
    _check_ranges(ndim, dims, non_negative=["padding"])
    sizes = []
    for i, d in enumerate(dims):
        where = _where(ndim, i)
        n, k, s, p, dil = d["size"], d["kernel_size"], d["stride"], d["padding"], d["dilation"]
        span = dil * (k - 1) + 1  # the dilated kernel covers this many input positions
        if span > n + 2 * p:
            raise ValueError(
                f"the kernel does not fit in the padded input{where}: it spans dilation*(kernel_size-1)+1 = "
                f"{dil}*({k}-1)+1 = {span} positions but size + 2*padding = {n}+2*{p} = {n + 2 * p}; "
                "use a smaller kernel or dilation, or more padding"
            )
        sizes.append((n + 2 * p - span) // s + 1)
    return _result(ndim, sizes)


def conv_transpose_output_size(
    size: Size, kernel_size: Size, stride: Size = 1, padding: Size = 0, output_padding: Size = 0, dilation: Size = 1
) -> Size:
    """Return the output size of `nn.ConvTranspose1d/2d/3d`: (n - 1)s - 2p + d(k - 1) + output_padding + 1.

    Ints give an int; tuples (one entry per spatial dimension, ints broadcast) give a tuple.
    Raises ValueError where PyTorch refuses the parameters: non-positive size, kernel_size,
    stride or dilation; negative padding or output_padding; output_padding not smaller than
    the stride or the dilation; a non-positive output size.
    """
    ndim, dims = _per_dimension(
        size=size,
        kernel_size=kernel_size,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
    )
    _check_ranges(ndim, dims, non_negative=["padding", "output_padding"])
    sizes = []
    for i, d in enumerate(dims):
        where = _where(ndim, i)
        n, k, s, p, op, dil = d["size"], d["kernel_size"], d["stride"], d["padding"], d["output_padding"], d["dilation"]
        if op >= s and op >= dil:
            raise ValueError(
                f"output_padding must be smaller than either stride or dilation, got output_padding={op} "
                f"with stride={s} and dilation={dil}{where}; it only chooses among the sizes that the stride makes "
                f"ambiguous, so use output_padding <= {max(s, dil) - 1}"
            )
        out = (n - 1) * s - 2 * p + dil * (k - 1) + op + 1
        if out < 1:
            raise ValueError(
                f"the output size (size-1)*stride - 2*padding + dilation*(kernel_size-1) + output_padding + 1 = "
                f"({n}-1)*{s} - 2*{p} + {dil}*({k}-1) + {op} + 1 = {out} is not positive{where}; use less padding"
            )
        sizes.append(out)
    return _result(ndim, sizes)


def conv_matrix(
    weight: torch.Tensor, input_size: Sequence[int], stride: Size = 1, padding: Size = 0, dilation: Size = 1
) -> torch.Tensor:
    """Build the matrix C of a convolution, so that conv(x).flatten() == C @ x.flatten() for one sample.

    Args:
        weight: the kernel (C_out, C_in, *kernel_size), as in `F.conv1d/2d/3d` (no groups, no bias).
        input_size: the spatial size of the input, e.g. (H, W).
    Returns:
        C of shape (C_out * prod(output_size), C_in * prod(input_size)); the flattening is row-major
        over (channels, *spatial), like `x[0].flatten()`. The same weight in `F.conv_transpose1d/2d/3d`
        computes C.T @ y, given the output_padding that restores `input_size`.
    """
    input_size = tuple(input_size)
    kernel_size = tuple(weight.shape[2:])
    if weight.ndim != len(input_size) + 2:
        raise ValueError(
            f"weight must have shape (C_out, C_in, *kernel_size) with one kernel dimension per input dimension; "
            f"got weight {tuple(weight.shape)} for input_size {input_size}"
        )
    nd = len(input_size)
    strides, paddings, dilations = ((v,) * nd if isinstance(v, int) else tuple(v) for v in (stride, padding, dilation))
    output_size = conv_output_size(input_size, kernel_size, strides, paddings, dilations)  # validates every parameter
    c_out, c_in = weight.shape[:2]
    num_in, num_out = math.prod(input_size), math.prod(output_size)
    matrix = weight.new_zeros(c_out, num_out, c_in, num_in)
    for o_flat, o in enumerate(itertools.product(*(range(m) for m in output_size))):
        for tap in itertools.product(*(range(k) for k in kernel_size)):
            # The tap lands on input position o*s - p + tap*d; positions in the padding hold zeros.
            pos = [o[i] * strides[i] - paddings[i] + tap[i] * dilations[i] for i in range(nd)]
            if all(0 <= pos[i] < input_size[i] for i in range(nd)):
                i_flat = sum(pos[i] * math.prod(input_size[i + 1 :]) for i in range(nd))
                matrix[:, o_flat, :, i_flat] += weight[(slice(None), slice(None), *tap)]
    return matrix.reshape(c_out * num_out, c_in * num_in)


def show_conv_matrix(
    matrix: torch.Tensor, *, input_shape: Sequence[int] | None = None, title: str = "The convolution matrix C"
) -> Figure:
    """Draw a (small) matrix with its non-zero entries written in and a colorbar.

    Lines separate the rows of a 2-D input.
    """
    m = matrix.detach().cpu().double().numpy()
    rows, cols = m.shape
    fig, ax = plt.subplots(figsize=(min(0.42 * cols + 1.5, 14), 0.42 * rows + 1.4), layout="constrained")
    limit = float(abs(m).max()) or 1.0
    image = ax.imshow(m, cmap="RdBu_r", vmin=-limit, vmax=limit)
    fig.colorbar(image, ax=ax, shrink=0.9, aspect=12, pad=0.01, label="entry")
    for (r, c), v in zip(itertools.product(range(rows), range(cols)), m.flatten().tolist(), strict=True):
        if v != 0:
            ax.text(c, r, f"{v:g}", ha="center", va="center", fontsize="small")
    ax.set_xticks(range(cols))
    ax.set_yticks(range(rows))
    ax.set_xticks([c - 0.5 for c in range(1, cols)], minor=True)
    ax.set_yticks([r - 0.5 for r in range(1, rows)], minor=True)
    ax.grid(which="minor", color="0.85", linewidth=0.5)
    ax.tick_params(which="both", length=0, labelsize="small")
    if input_shape is not None and len(input_shape) == 2:
        for c in range(input_shape[1], cols, input_shape[1]):
            ax.axvline(c - 0.5, color="0.3", linewidth=1.2)
    ax.set(title=title, xlabel="input position (flattened row by row)", ylabel="output position (flattened)")
    return fig
