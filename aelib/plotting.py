"""Figures for the lectures: loss curves, image grids, reconstruction grids (lecture 1).

Every function returns the matplotlib Figure. In a notebook, assign it
(`fig = plot_losses(...)`) so that it is drawn once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import nn

from .training import History, reconstruct

__all__ = ["plot_losses", "show_images", "show_image_rows", "show_reconstructions"]


def _as_curve(h: History | Sequence[float]) -> list[float]:
    return list(h.train_loss if isinstance(h, History) else h)


def plot_losses(
    histories: Mapping[str, History | Sequence[float]],
    *,
    test: bool = False,
    title: str = "Reconstruction loss",
    ylabel: str = "MSE",
    logy: bool = True,
    ax: plt.Axes | None = None,
) -> Figure:
    """Plot one loss curve per entry of `histories` on one axes, with a legend.

    Args:
        histories: label -> History (its train loss) or a list of per-epoch losses.
        test: also draw each History's test loss, dashed, in the same colour.
    """
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7, 4.2), layout="constrained")
    for label, h in histories.items():
        curve = _as_curve(h)
        (line,) = ax.plot(range(1, len(curve) + 1), curve, marker="o", markersize=3, label=f"{label} (train)" if test else label)
        if test and isinstance(h, History) and h.test_loss:
            ax.plot(range(1, len(h.test_loss) + 1), h.test_loss, "--", color=line.get_color(), label=f"{label} (test)")
    if logy:
        ax.set_yscale("log")
    ax.set(title=title, xlabel="epoch", ylabel=ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return fig


def _image(t: torch.Tensor) -> np.ndarray:
    """Return one image as a 2-D array: (784,) => (28, 28), (1, H, W) => (H, W)."""
    t = torch.as_tensor(t).detach().float().cpu()
    if t.numel() == 28 * 28:
        t = t.reshape(28, 28)
    elif t.ndim == 3 and t.shape[0] == 1:
        t = t.squeeze(0)
    return t.numpy()


def show_image_rows(
    rows: Mapping[str, torch.Tensor],
    *,
    title: str | None = None,
    vmin: float | None = 0.0,
    vmax: float | None = 1.0,
    cmap: str = "gray",
    col_titles: Sequence[str] | None = None,
    size: float = 1.1,
) -> Figure:
    """Draw one labelled row of images per entry of `rows` (label -> (N, 1, H, W) or (N, H*W))."""
    rows = {label: torch.as_tensor(images) for label, images in rows.items()}
    ncols = max(len(images) for images in rows.values())
    fig, axes = plt.subplots(len(rows), ncols, figsize=(size * ncols + 1.2, size * len(rows) + (0.5 if title else 0.1)), squeeze=False, layout="constrained")
    for r, (label, images) in enumerate(rows.items()):
        for c in range(ncols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c < len(images):
                ax.imshow(_image(images[c]), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            if r == 0 and col_titles is not None and c < len(col_titles):
                ax.set_title(col_titles[c], fontsize="small")
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize="medium")
    if title:
        fig.suptitle(title)
    return fig


def show_images(images: torch.Tensor, *, nrow: int = 8, title: str | None = None, labels: Sequence | None = None, vmin: float | None = 0.0, vmax: float | None = 1.0) -> Figure:
    """Draw `images` (N, 1, H, W) in a grid of `nrow` columns, optionally titled by `labels`."""
    n = len(images)
    ncol = min(nrow, n)
    nrows = -(-n // ncol)
    fig, axes = plt.subplots(nrows, ncol, figsize=(1.1 * ncol, 1.1 * nrows + (0.4 if title else 0) + (0.2 * nrows if labels is not None else 0)), squeeze=False, layout="constrained")
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(_image(images[k]), cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
            if labels is not None:
                ax.set_title(str(labels[k]), fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def show_reconstructions(
    images: torch.Tensor,
    models: Mapping[str, nn.Module],
    *,
    title: str = "Originals (top) and reconstructions",
    original_label: str = "original",
) -> Figure:
    """Draw a row of originals, then one labelled row of reconstructions per model.

    Each model runs in eval mode under no_grad on its own device; its mode is restored.
    """
    rows = {original_label: images}
    for label, model in models.items():
        rows[label] = reconstruct(model, images).clamp(0, 1)
    return show_image_rows(rows, title=title)
