"""Figures for the lectures: loss curves, image grids, reconstruction grids, heat maps (lecture 1).

Every function returns the matplotlib Figure. In a notebook, assign it
(`fig = plot_losses(...)`) so that it is drawn once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter
from torch import nn

from .training import History, reconstruct

__all__ = ["plot_losses", "plot_loss_bands", "show_heatmap", "show_images", "show_image_rows", "show_reconstructions"]


def _as_curve(h: History | Sequence[float]) -> list[float]:
    return list(h.train_loss if isinstance(h, History) else h)


def _nice_floor(value: float) -> float:
    """Return the largest 1, 2 or 5 times a power of ten that is at most `value` (> 0): 0.0023 => 0.002."""
    power = 10.0 ** math.floor(math.log10(value))
    return max(m * power for m in (1, 2, 5) if m * power <= value * (1 + 1e-9))


def _readable_log_y(ax: plt.Axes) -> None:
    """Label a log y axis with plain numbers (0.002, 0.005, 0.01) rather than powers of ten alone.

    The axis starts at a labelled value, so that the lowest point of every curve can be read off it.
    """
    low, high = ax.get_ylim()
    low = _nice_floor(low)
    ax.set_ylim(low, high)
    subs = (
        (1.0, 2.0, 5.0) if high / low > 10 else (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)
    )  # under a decade: more ticks
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _label_loss_axes(ax: plt.Axes, title: str, ylabel: str, logy: bool) -> None:
    """Title, label and grid a loss plot: epochs on x, the loss on y (a readable log scale if `logy`)."""
    if logy:
        ax.set_yscale("log")
        _readable_log_y(ax)
    ax.set(title=title, xlabel="epoch", ylabel=f"{ylabel} (log scale)" if logy else ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax.grid(True, which="both", alpha=0.3)


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
        (line,) = ax.plot(
            range(1, len(curve) + 1), curve, marker="o", markersize=3, label=f"{label} (train)" if test else label
        )
        if test and isinstance(h, History) and h.test_loss:
            ax.plot(range(1, len(h.test_loss) + 1), h.test_loss, "--", color=line.get_color(), label=f"{label} (test)")
    _label_loss_axes(ax, title, ylabel, logy)
    ax.legend(loc="best", fontsize="small")
    return fig


def plot_loss_bands(
    runs: Mapping[str, Sequence[History]],
    *,
    title: str = "Reconstruction loss",
    ylabel: str = "MSE",
    logy: bool = True,
    each_run: bool = False,
    ax: plt.Axes | None = None,
) -> Figure:
    """Plot each label's mean loss over its runs (e.g. seeds): one colour per label, solid train, dashed test.

    A shaded band spans the lowest to the highest run at each epoch. The legend has one
    entry per label and one per line style, not one per curve.

    Args:
        runs: label -> the Histories of its runs (all with the same number of epochs).
        each_run: draw every run as its own line in the label's colour, instead of the
            mean and its band (for runs too different to average, e.g. a dead one).
    """
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7, 4.2), layout="constrained")
    handles = []
    for label, histories in runs.items():
        if not histories:
            raise ValueError(f"{label!r} has no runs to plot: give at least one History")
        color = None
        for style, name in (("-", "train_loss"), ("--", "test_loss")):
            curves = [getattr(h, name) for h in histories]
            if not all(curves):
                continue  # no test images were given
            if len({len(c) for c in curves}) != 1:
                raise ValueError(
                    f"the runs of {label!r} have {sorted({len(c) for c in curves})} epochs: they must all have the same"
                )
            values = np.array(curves)  # (runs, epochs)
            epochs = np.arange(1, values.shape[1] + 1)
            for curve in values if each_run else [values.mean(axis=0)]:
                (line,) = ax.plot(epochs, curve, style, color=color, marker="o" if style == "-" else None, markersize=3)
                color = line.get_color()
            if len(values) > 1 and not each_run:
                ax.fill_between(epochs, values.min(axis=0), values.max(axis=0), color=color, alpha=0.15, linewidth=0)
            if style == "-":
                handles.append(
                    plt.Line2D(
                        [],
                        [],
                        color=color,
                        marker="o",
                        markersize=3,
                        label=f"{label} ({len(values)} run{'s' * (len(values) > 1)})",
                    )
                )
    handles += [
        plt.Line2D([], [], color="0.3", linestyle=style, label=name) for style, name in (("-", "train"), ("--", "test"))
    ]
    _label_loss_axes(ax, title, ylabel, logy)
    ax.legend(handles=handles, loc="best", fontsize="small")
    return fig


def show_heatmap(
    values: torch.Tensor | np.ndarray,
    *,
    title: str | None = None,
    xlabel: str = "",
    ylabel: str = "",
    row_labels: Sequence[str] | None = None,
    colorbar_label: str = "",
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "viridis",
) -> Figure:
    """Draw a 2-D array (R, C) as a heat map with a labelled colorbar, one row label per row."""
    a = np.asarray(torch.as_tensor(values).detach().float().cpu())
    if a.ndim != 2:
        raise ValueError(f"show_heatmap needs a 2-D array (rows, columns), got shape {a.shape}")
    if row_labels is not None and len(row_labels) != a.shape[0]:
        raise ValueError(f"{len(row_labels)} row labels for {a.shape[0]} rows: give one per row")
    fig, ax = plt.subplots(figsize=(min(2.0 + 0.3 * a.shape[1], 12), 1.2 + 0.35 * a.shape[0]), layout="constrained")
    image = ax.imshow(a, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=ax, label=colorbar_label)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if row_labels is not None:
        ax.set_yticks(range(a.shape[0]), row_labels)
    if title:
        ax.set_title(title)
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
    fig, axes = plt.subplots(
        len(rows),
        ncols,
        figsize=(size * ncols + 1.2, size * len(rows) + (0.5 if title else 0.1)),
        squeeze=False,
        layout="constrained",
    )
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


def show_images(
    images: torch.Tensor,
    *,
    nrow: int = 8,
    title: str | None = None,
    labels: Sequence | None = None,
    vmin: float | None = 0.0,
    vmax: float | None = 1.0,
) -> Figure:
    """Draw `images` (N, 1, H, W) in a grid of `nrow` columns, optionally titled by `labels`."""
    n = len(images)
    ncol = min(nrow, n)
    nrows = -(-n // ncol)
    fig, axes = plt.subplots(
        nrows,
        ncol,
        figsize=(1.1 * ncol, 1.1 * nrows + (0.4 if title else 0) + (0.2 * nrows if labels is not None else 0)),
        squeeze=False,
        layout="constrained",
    )
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
