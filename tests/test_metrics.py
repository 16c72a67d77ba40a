"""Unit tests of aelib.metrics: PSNR against scikit-image, per-image errors against a loop, thresholds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio
from torch import nn

from aelib.metrics import mse_per_image, psnr, reconstruction_errors, threshold_at_fpr
from aelib.noise import add_gaussian_noise


def images(n: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def test_mse_per_image_matches_a_loop_and_mse_loss() -> None:
    x, x_hat = images(seed=0), images(seed=1)
    expected = torch.stack([nn.functional.mse_loss(x_hat[i], x[i]) for i in range(len(x))])
    torch.testing.assert_close(mse_per_image(x, x_hat), expected)


@pytest.mark.parametrize("data_range", [1.0, 255.0])
def test_psnr_matches_scikit_image_image_by_image(data_range: float) -> None:
    x, x_hat = data_range * images(seed=0), data_range * images(seed=1)
    expected = [
        peak_signal_noise_ratio(x[i].double().numpy(), x_hat[i].double().numpy(), data_range=data_range)
        for i in range(len(x))
    ]
    np.testing.assert_allclose(psnr(x, x_hat, data_range=data_range).numpy(), expected, rtol=1e-5)


def test_psnr_of_known_errors() -> None:
    x = torch.zeros(2, 1, 4, 4)
    torch.testing.assert_close(psnr(x, x + 0.1), torch.full((2,), 20.0))
    torch.testing.assert_close(psnr(x, x + 0.05) - psnr(x, x + 0.1), torch.full((2,), 20 * math.log10(2)))
    assert torch.isinf(psnr(x, x)).all()


def test_psnr_refuses_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"x is \(2, 1, 28, 28\) but x_hat is \(2, 1, 14, 14\)"):
        psnr(torch.zeros(2, 1, 28, 28), torch.zeros(2, 1, 14, 14))


def test_reconstruction_errors_match_a_loop_over_images() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28))).train()
    x = images(10)
    errors = reconstruction_errors(model, x, batch_size=3)
    with torch.no_grad():
        expected = torch.stack([((model(x[i : i + 1]) - x[i : i + 1]) ** 2).mean() for i in range(len(x))])
    torch.testing.assert_close(errors, expected)
    assert model.training  # its mode is restored


@pytest.mark.parametrize("n", [1, 7, 20, 100, 999])
@pytest.mark.parametrize("fpr", [0.0, 0.01, 0.05, 0.1, 0.5])
def test_threshold_flags_at_most_fpr_and_no_fewer_than_needed(n: int, fpr: float) -> None:
    scores = np.random.default_rng(n).normal(size=n)
    flagged = np.mean(scores > threshold_at_fpr(scores, fpr))
    assert flagged == math.floor(n * fpr + 1e-9) / n


def test_threshold_of_a_known_list() -> None:
    assert threshold_at_fpr(np.arange(1.0, 21.0), 0.05) == 19.0
    assert threshold_at_fpr(torch.arange(1.0, 21.0), 0.10) == 18.0


def test_threshold_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="0 <= fpr < 1"):
        threshold_at_fpr(np.arange(5.0), 1.0)
    with pytest.raises(ValueError, match="at least one normal score"):
        threshold_at_fpr(np.array([]), 0.05)


def test_noise_then_psnr_is_computed_not_stored() -> None:
    """The notebook's tables are noise + metric: the same seed repeats them, another seed changes them."""
    clean = images(50) * 0.5 + 0.25  # away from 0 and 1, so clipping never bites at sigma 0.1

    def table(seed: int) -> list[float]:
        return [psnr(clean, add_gaussian_noise(clean, sigma, generator=seed)).mean().item() for sigma in (0.05, 0.1)]

    assert table(0) == table(0)
    assert table(0) != table(1)
    np.testing.assert_allclose(
        table(0), [-20 * math.log10(0.05), -20 * math.log10(0.1)], atol=0.1
    )  # PSNR = -20 log10(sigma)
