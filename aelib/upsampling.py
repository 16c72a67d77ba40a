"""Upsampling helpers that PyTorch has no function for (lecture 2).

Nearest-neighbour and bilinear upsampling are `F.interpolate` (or `nn.Upsample`), and
max-unpooling is `nn.MaxPool2d(return_indices=True)` with `nn.MaxUnpool2d`: the lecture
uses those directly. PyTorch has no bed-of-nails upsampling, so `upsample_bed_of_nails`
is here. `overlap_count` counts how many kernel taps of a transposed convolution land on
each output position; where the count is uneven, checkerboard artifacts appear.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from .convolution import Size, conv_transpose_output_size

__all__ = ["upsample_bed_of_nails", "overlap_count", "show_overlap_counts"]


def _check_images(x: torch.Tensor, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"{name} must be a batch of images (B, C, H, W), got {shape}; add dimensions with x[None] or x[None, None]"
        )


def _check_scale(scale_factor: int) -> None:
    if isinstance(scale_factor, bool) or not isinstance(scale_factor, int) or scale_factor < 1:
        raise ValueError(f"scale_factor must be a positive integer, got {scale_factor!r}")


def upsample_bed_of_nails(x: torch.Tensor, scale_factor: int = 2) -> torch.Tensor:
    """Put every pixel at the top-left of its scale_factor x scale_factor block, zeros elsewhere.

    Shapes: (B, C, H, W) => (B, C, sH, sW), with s = scale_factor.
    """
    _check_images(x)
    _check_scale(scale_factor)
    b, c, h, w = x.shape
    out = x.new_zeros(b, c, h * scale_factor, w * scale_factor)
    out[:, :, ::scale_factor, ::scale_factor] = x
    return out


def overlap_count(
    size: Size, kernel_size: Size, stride: Size = 1, padding: Size = 0, output_padding: Size = 0, dilation: Size = 1
) -> torch.Tensor:
    """Count the kernel taps of a transposed convolution that land on each output position.

    Ints give a 1-D map; tuples of 2 (or 3) give a 2-D (or 3-D) map, of the layer's output size.
    The map is what the layer computes with an all-ones kernel on an all-ones input.
    """
    out_size = conv_transpose_output_size(size, kernel_size, stride, padding, output_padding, dilation)  # validates
    nd = 1 if isinstance(out_size, int) else len(out_size)
    if nd > 3:
        raise ValueError(f"overlap_count works in 1, 2 or 3 dimensions, got {nd}")

    def full(v: Size) -> tuple[int, ...]:
        return (v,) * nd if isinstance(v, int) else tuple(v)

    conv_transpose = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[nd - 1]
    ones = torch.ones(1, 1, *full(size), dtype=torch.float64)  # (1, 1, *size)
    kernel = torch.ones(1, 1, *full(kernel_size), dtype=torch.float64)  # (1, 1, *kernel_size)
    counts = conv_transpose(
        ones,
        kernel,
        stride=full(stride),
        padding=full(padding),
        output_padding=full(output_padding),
        dilation=full(dilation),
    )
    return counts[0, 0].round().long()  # (*output_size)


def show_overlap_counts(
    maps: Mapping[str, torch.Tensor], *, title: str = "Kernel taps landing on each output position"
) -> Figure:
    """Draw one panel per map in `maps`: 1-D overlap maps as bar charts, 2-D ones as annotated grids with a colorbar."""
    maps = {label: torch.as_tensor(m).cpu().numpy() for label, m in maps.items()}
    for label, m in maps.items():
        if m.ndim not in (1, 2):
            raise ValueError(f"show_overlap_counts draws 1-D or 2-D maps, got a {m.ndim}-D map for {label!r}")
    top = max(int(m.max()) for m in maps.values())
    fig, axes = plt.subplots(1, len(maps), figsize=(4.2 * len(maps), 3.6), squeeze=False, layout="constrained")
    for ax, (label, m) in zip(axes[0], maps.items(), strict=True):
        if m.ndim == 1:
            ax.bar(range(len(m)), m.tolist(), color=plt.cm.viridis([v / top for v in m.tolist()]), edgecolor="0.3")
            for i, v in enumerate(m.tolist()):
                ax.text(i, v + 0.05 * top, str(v), ha="center", va="bottom", fontsize="small")
            ax.set(ylim=(0, 1.25 * top), xlabel="output position", ylabel="taps landing there")
            ax.set_xticks(range(len(m)))
            ax.tick_params(labelsize="small")
        else:
            image = ax.imshow(m, cmap="viridis", vmin=0, vmax=top)
            fig.colorbar(image, ax=ax, shrink=0.85, label="taps landing there", ticks=range(top + 1))
            for (r, c), v in zip(
                itertools.product(range(m.shape[0]), range(m.shape[1])), m.flatten().tolist(), strict=True
            ):
                ax.text(
                    c,
                    r,
                    str(v),
                    ha="center",
                    va="center",
                    color="white" if v < 0.6 * top else "black",
                    fontsize="small",
                )
            ax.set(xlabel="output column", ylabel="output row")
        ax.set_title(label, fontsize="medium")
    fig.suptitle(title)
    return fig
