"""Looking at the code: encoding a set of images, and drawing 2-D views of codes (lecture 3).

The analysis itself (the probe, interpolation, random codes, nearest neighbours)
is written out in lecture 3; this module holds the machinery around it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from .runtime import get_device

__all__ = ["encode", "plot_code_views"]


@torch.no_grad()
def encode(
    model: nn.Module, images: torch.Tensor, *, batch_size: int = 1024, device: str | torch.device | None = None
) -> torch.Tensor:
    """Return `model.encoder`'s codes of `images` (N, 1, 28, 28) as flat vectors (N, code_size) on the CPU.

    Runs in eval mode, batch by batch; an encoder that starts with an nn.Linear (lecture 1's
    fully connected one) gets flattened images (N, 784). The model's mode is restored.
    """
    encoder = getattr(model, "encoder", None)
    if not isinstance(encoder, nn.Module):
        raise TypeError(f"encode needs a model with an `encoder` submodule, got {type(model).__name__} without one")
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), e.g. (N, 1, 28, 28), got shape {tuple(images.shape)}")
    first = next(iter(encoder.children()), encoder)
    flat = isinstance(first, nn.Linear)  # a fully connected encoder takes (N, 784)
    device = get_device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        codes = []
        for i in range(0, len(images), batch_size):
            x = images[i : i + batch_size].to(device)
            codes.append(encoder(x.flatten(1) if flat else x).flatten(1).cpu())  # (B, code_size)
        return torch.cat(codes)
    finally:
        model.train(was_training)


def plot_code_views(
    views: Mapping[str, np.ndarray | torch.Tensor],
    labels: Sequence[int] | np.ndarray | torch.Tensor,
    *,
    title: str | None = None,
    axis_labels: tuple[str, str] = ("1st principal component", "2nd principal component"),
    size: float = 4.2,
) -> Figure:
    """Draw one scatter plot per entry of `views` (title -> (N, 2) points), coloured by `labels` (N,) 0-9.

    One shared legend names the ten classes; points are drawn small and half-transparent
    so that dense clusters stay readable. `axis_labels` name the two coordinates.
    """
    labels = np.asarray(torch.as_tensor(labels).cpu())
    points = {name: np.asarray(torch.as_tensor(v).detach().cpu(), dtype=float) for name, v in views.items()}
    for name, v in points.items():
        if v.ndim != 2 or v.shape[1] != 2 or len(v) != len(labels):
            raise ValueError(f"view {name!r} must be (N, 2) with N = {len(labels)} labels, got shape {v.shape}")
    fig, axes = plt.subplots(
        1, len(points), figsize=(size * len(points) + 1.0, size), squeeze=False, layout="constrained"
    )
    cmap = plt.get_cmap("tab10")
    for ax, (name, v) in zip(axes[0], points.items(), strict=True):
        for digit in range(10):
            at = labels == digit
            ax.scatter(v[at, 0], v[at, 1], s=6, alpha=0.6, color=cmap(digit), label=str(digit), linewidths=0)
        ax.set_title(name, fontsize="medium")
        ax.set(xlabel=axis_labels[0], ylabel=axis_labels[1])
        ax.set_xticks([])
        ax.set_yticks([])
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside right center", title="digit", markerscale=3, frameon=False)
    if title:
        fig.suptitle(title)
    return fig
