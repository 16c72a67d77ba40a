"""Measuring reconstructions: per-image MSE, PSNR, anomaly scores and thresholds (lecture 4)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["mse_per_image", "psnr", "reconstruction_errors", "threshold_at_fpr"]


def _check_pair(x: torch.Tensor, x_hat: torch.Tensor) -> None:
    if x.shape != x_hat.shape:
        raise ValueError(f"x is {tuple(x.shape)} but x_hat is {tuple(x_hat.shape)}: compare images of the same shape")
    if x.ndim < 2:
        raise ValueError(f"expected a batch of images (N, ...), got shape {tuple(x.shape)}: add a batch dimension")


def mse_per_image(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Return the mean squared error of each image: (N, ...) and (N, ...) => (N,)."""
    _check_pair(x, x_hat)
    return ((x - x_hat) ** 2).flatten(1).mean(dim=1)


def psnr(x: torch.Tensor, x_hat: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Return the peak signal-to-noise ratio of each image in dB, 10 log10(data_range^2 / MSE): (N,).

    Higher is better; +inf for a perfect copy. `data_range` is the span of the pixel values (1 for [0, 1]).
    """
    return 10 * torch.log10(data_range**2 / mse_per_image(x, x_hat))


@torch.no_grad()
def reconstruction_errors(model: nn.Module, images: torch.Tensor, *, batch_size: int = 1024) -> torch.Tensor:
    """Return the per-image MSE between `images` (N, ...) and the model's reconstructions: (N,), on the CPU.

    Each batch is reconstructed and compared on the model's device, in eval mode; only the
    N errors come back. The model's train/eval mode is restored.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        errors = []
        for i in range(0, len(images), batch_size):
            x = images[i : i + batch_size].to(device)
            errors.append(mse_per_image(x, model(x)))  # (B,), on the device
        return torch.cat(errors).cpu() if errors else torch.zeros(0)
    finally:
        model.train(was_training)


def threshold_at_fpr(normal_scores: np.ndarray | torch.Tensor, fpr: float) -> float:
    """Return the lowest threshold that flags (score > threshold) at most a fraction `fpr` of normal data.

    Choose it on held-out normal data only; the fraction flagged is then floor(n * fpr) / n for n distinct scores.
    """
    scores = np.asarray(normal_scores, dtype=np.float64).ravel()
    if scores.size == 0 or not 0 <= fpr < 1:
        raise ValueError(f"need at least one normal score and 0 <= fpr < 1, got {scores.size} scores and fpr={fpr}")
    # The empirical (1 - fpr)-quantile: the smallest score with at least n(1 - fpr) scores at or below it.
    return float(np.quantile(scores, 1 - fpr, method="inverted_cdf"))
