"""Checks for lecture 4's exercises: salt-and-pepper noise, PSNR, an anomaly threshold at a target FPR."""

from __future__ import annotations

import numpy as np
import torch

from ..metrics import psnr as reference_psnr
from . import exercise

__all__ = ["check_salt_and_pepper", "check_psnr", "check_threshold_at_fpr"]


def _grey_images(n: int, seed: int) -> torch.Tensor:
    """Return n images (n, 1, 28, 28) with values strictly inside (0, 1), so that salt and pepper are visible."""
    return 0.1 + 0.8 * torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


@exercise("4.1")
def check_salt_and_pepper(salt_and_pepper) -> str | None:
    """Check `salt_and_pepper(x, amount, generator)` on grey images, several amounts and seeds."""
    x = _grey_images(64, seed=0)  # 50,176 pixels: fractions are measured to about +-0.002
    original = x.clone()
    for amount in (0.0, 0.1, 0.3, 1.0):
        out = salt_and_pepper(x, amount, torch.Generator().manual_seed(1))
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            return f"expected a tensor of shape {tuple(x.shape)}, got {getattr(out, 'shape', type(out).__name__)}"
        if not torch.equal(x, original):
            return "x was modified in place: return a new tensor and leave the input as it was"
        salt, pepper, kept = (out == 1), (out == 0), (out == x)
        if not (salt | pepper | kept).all():
            return "every pixel must stay as it was or become exactly 0 or exactly 1"
        if abs(salt.float().mean().item() - amount / 2) > 0.01 or abs(pepper.float().mean().item() - amount / 2) > 0.01:
            return f"with amount={amount}, about {amount / 2:.0%} of pixels should become 1 and {amount / 2:.0%} become 0"
    with torch.random.fork_rng():  # the student's function must draw from `generator`, not from the global seed
        torch.manual_seed(100)
        first = salt_and_pepper(x, 0.2, torch.Generator().manual_seed(7))
        torch.manual_seed(200)
        again = salt_and_pepper(x, 0.2, torch.Generator().manual_seed(7))
    if not torch.equal(first, again):
        return "the same generator seed must give the same noise: draw the random numbers with `generator=generator`"
    if torch.equal(first, salt_and_pepper(x, 0.2, torch.Generator().manual_seed(8))):
        return "different seeds gave identical noise: draw fresh random numbers from `generator`"
    return None


@exercise("4.2")
def check_psnr(psnr) -> str | None:
    """Check `psnr(x, x_hat, data_range=1.0)` against the definition on several shapes and ranges."""
    g = torch.Generator().manual_seed(0)
    cases = [((5, 1, 28, 28), 1.0), ((3, 1, 7, 7), 1.0), ((4, 784), 1.0), ((2, 3, 8, 8), 255.0)]
    for shape, data_range in cases:
        x = data_range * torch.rand(shape, generator=g)
        x_hat = (x + 0.1 * data_range * torch.randn(shape, generator=g)).clamp(0, data_range)
        got = psnr(x, x_hat, data_range=data_range)
        if not isinstance(got, torch.Tensor) or got.shape != (shape[0],):
            return f"expected one PSNR per image, a tensor of shape ({shape[0]},), got {getattr(got, 'shape', type(got).__name__)}"
        expected = reference_psnr(x, x_hat, data_range=data_range)
        if not torch.allclose(got.double(), expected.double(), rtol=1e-4, atol=1e-4):
            return f"for images of shape {shape[1:]} with data_range={data_range}, got {got[0].item():.3f} dB instead of {expected[0].item():.3f} dB"
    x = torch.zeros(2, 1, 4, 4)
    if not torch.allclose(psnr(x, x + 0.1, data_range=1.0).double(), torch.full((2,), 20.0, dtype=torch.float64), atol=1e-3):
        return "an error of 0.1 on every pixel (MSE 0.01) should give 20 dB"
    return None


@exercise("4.3")
def check_threshold_at_fpr(threshold_at_fpr) -> str | None:
    """Check `threshold_at_fpr(normal_scores, fpr)`: it flags at most `fpr` of the normal scores, and no fewer than needed."""
    rng = np.random.default_rng(0)
    cases = [(np.arange(1.0, 21.0), 0.05), (rng.normal(size=200), 0.05), (rng.exponential(size=1000), 0.01), (rng.uniform(size=57), 0.2), (rng.normal(size=10), 0.0)]
    for scores, fpr in cases:
        t = float(threshold_at_fpr(scores.copy(), fpr))
        flagged = float(np.mean(scores > t))
        if flagged > fpr + 1e-12:
            return f"with {len(scores)} normal scores and fpr={fpr}, your threshold flags {flagged:.1%} of them: too many"
        if flagged <= fpr - 1 / len(scores) + 1e-12:
            return f"with {len(scores)} normal scores and fpr={fpr}, your threshold flags only {flagged:.1%} of them: it could be lower"
    return None
