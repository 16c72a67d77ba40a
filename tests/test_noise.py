"""Unit tests of aelib.noise: noise statistics, seeding, and resizing against PyTorch's pooling."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from aelib.noise import add_gaussian_noise, add_salt_and_pepper, downsample, pixelate


def grey(n: int = 32, value: float = 0.5) -> torch.Tensor:
    return torch.full((n, 1, 28, 28), value)


def test_gaussian_noise_has_the_requested_mean_and_std() -> None:
    x = grey(64)
    noise = add_gaussian_noise(x, 0.2, generator=0, clip=False) - x
    assert abs(noise.mean().item()) < 0.005
    assert noise.std().item() == pytest.approx(0.2, rel=0.02)


def test_gaussian_noise_is_clipped_to_the_pixel_range_by_default() -> None:
    noisy = add_gaussian_noise(grey(8), 1.0, generator=0)
    assert noisy.min().item() == 0.0 and noisy.max().item() == 1.0


def test_gaussian_noise_takes_one_sigma_per_image() -> None:
    x = grey(2)
    noise = add_gaussian_noise(x, torch.tensor([0.0, 0.3]), generator=0, clip=False) - x
    assert torch.equal(noise[0], torch.zeros_like(noise[0]))
    assert noise[1].std().item() == pytest.approx(0.3, rel=0.1)


def test_noise_depends_only_on_the_seed() -> None:
    x = grey(4)
    for add, level in ((add_gaussian_noise, 0.3), (add_salt_and_pepper, 0.2)):
        assert torch.equal(add(x, level, generator=5), add(x, level, generator=5))
        assert torch.equal(add(x, level, generator=5), add(x, level, generator=torch.Generator().manual_seed(5)))
        assert not torch.equal(add(x, level, generator=5), add(x, level, generator=6))


def test_a_generator_advances_between_calls() -> None:
    g = torch.Generator().manual_seed(0)
    x = grey(2)
    assert not torch.equal(add_gaussian_noise(x, 0.1, generator=g), add_gaussian_noise(x, 0.1, generator=g))


def test_noise_leaves_the_input_unchanged() -> None:
    x = grey(4)
    add_gaussian_noise(x, 0.5, generator=0)
    add_salt_and_pepper(x, 0.5, generator=0)
    assert torch.equal(x, grey(4))


@pytest.mark.parametrize("amount", [0.05, 0.2, 0.6])
def test_salt_and_pepper_replaces_the_requested_fraction_half_each(amount: float) -> None:
    noisy = add_salt_and_pepper(grey(64), amount, generator=1)
    salt, pepper, kept = (noisy == 1), (noisy == 0), (noisy == 0.5)
    assert bool((salt | pepper | kept).all())
    assert salt.float().mean().item() == pytest.approx(amount / 2, abs=0.005)
    assert pepper.float().mean().item() == pytest.approx(amount / 2, abs=0.005)


def test_salt_ratio_and_the_extremes() -> None:
    x = grey(16)
    assert torch.equal(add_salt_and_pepper(x, 0.0, generator=0), x)
    assert bool((add_salt_and_pepper(x, 1.0, generator=0, salt_ratio=1.0) == 1).all())
    assert bool((add_salt_and_pepper(x, 1.0, generator=0, salt_ratio=0.0) == 0).all())


def test_bad_levels_are_refused_with_the_value() -> None:
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        add_gaussian_noise(grey(2), -0.1, generator=0)
    with pytest.raises(ValueError, match=r"amount and salt_ratio must lie in \[0, 1\]"):
        add_salt_and_pepper(grey(2), 1.5, generator=0)
    with pytest.raises(ValueError, match="one value per image"):
        add_gaussian_noise(grey(3), torch.tensor([0.1, 0.2]), generator=0)
    with pytest.raises(TypeError, match="torch.Generator or an int seed"):
        add_gaussian_noise(grey(2), 0.1, generator=0.5)


@pytest.mark.parametrize("factor", [1, 2, 4, 7])
def test_downsample_averages_blocks_like_avg_pool(factor: int) -> None:
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(downsample(x, factor), F.avg_pool2d(x, factor))


def test_pixelate_repeats_each_low_resolution_pixel() -> None:
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    expected = F.avg_pool2d(x, 4).repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)  # (3, 1, 28, 28)
    torch.testing.assert_close(pixelate(x, 4), expected)


def test_resizing_refuses_factors_that_do_not_divide_the_size() -> None:
    with pytest.raises(ValueError, match="must divide the image size 28x28"):
        downsample(grey(1), 3)
    with pytest.raises(ValueError, match=r"expected images \(N, C, H, W\)"):
        pixelate(torch.zeros(28, 28), 2)
