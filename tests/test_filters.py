"""Unit tests of aelib.filters: the batched blur and median filter against scipy.ndimage, image by image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from aelib.filters import gaussian_blur, median_filter


def images(n: int = 5, channels: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, channels, 28, 28, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("sigma", [0.5, 0.75, 1.0, 1.5, 2.0, 3.3])
def test_gaussian_blur_matches_scipy_image_by_image(sigma: float) -> None:
    x = images(channels=2)
    expected = np.stack([[ndimage.gaussian_filter(x[i, c].numpy(), sigma) for c in range(2)] for i in range(len(x))])
    torch.testing.assert_close(gaussian_blur(x, sigma), torch.from_numpy(expected), atol=1e-6, rtol=0)


@pytest.mark.parametrize("size", [1, 3, 5, 7])
def test_median_filter_equals_scipy_image_by_image(size: int) -> None:
    x = images(n=7)
    expected = np.stack([[ndimage.median_filter(x[i, 0].numpy(), size)] for i in range(len(x))])
    assert torch.equal(median_filter(x, size, batch_size=3), torch.from_numpy(expected))  # a median is a pixel value: exact


def test_filters_keep_a_constant_image_and_the_input() -> None:
    x = torch.full((2, 1, 28, 28), 0.25)
    torch.testing.assert_close(gaussian_blur(x, 1.0), x)
    assert torch.equal(median_filter(x, 5), x)
    assert torch.equal(x, torch.full((2, 1, 28, 28), 0.25))


def test_median_filter_removes_a_lone_outlier_that_the_blur_spreads() -> None:
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 10, 10] = 1.0
    assert median_filter(x, 3).abs().max().item() == 0.0
    assert (gaussian_blur(x, 1.0) > 0.01).sum().item() > 1


def test_filters_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="odd number of pixels"):
        median_filter(images(), 4)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        gaussian_blur(images(), 0.0)
    with pytest.raises(ValueError, match=r"expected images \(N, C, H, W\)"):
        median_filter(torch.zeros(28, 28), 3)
    with pytest.raises(ValueError, match="use a smaller filter"):
        gaussian_blur(torch.zeros(1, 1, 4, 4), 2.0)
