"""Corrupting images on purpose: Gaussian noise, salt-and-pepper noise, pixelation (lecture 4).

Every random function takes `generator`, a seed or a `torch.Generator`, so that the
same seed gives the same noise, and the same tables, on every run. A seed makes a
CPU generator, so the noise does not depend on the device the images are on either.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["add_gaussian_noise", "add_salt_and_pepper", "downsample", "pixelate"]


def _generator(generator: torch.Generator | int) -> torch.Generator:
    if isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, int):
        return torch.Generator().manual_seed(generator)
    raise TypeError(f"generator must be a torch.Generator or an int seed, got {type(generator).__name__}")


def _per_image(value: float | torch.Tensor, x: torch.Tensor, name: str) -> torch.Tensor:
    """Return `value` as a tensor that broadcasts over `x` (N, ...): a scalar, or one value per image (N,)."""
    value = torch.as_tensor(value, dtype=x.dtype, device=x.device)
    if value.numel() > 1:
        if value.shape != (len(x),) and value.shape != (len(x),) + (1,) * (x.ndim - 1):
            raise ValueError(
                f"{name} must be a number or hold one value per image ({len(x)}), got shape {tuple(value.shape)}"
            )
        value = value.reshape((len(x),) + (1,) * (x.ndim - 1))  # (N, 1, 1, 1) for images
    return value


def _random(kind: str, x: torch.Tensor, generator: torch.Generator | int) -> torch.Tensor:
    """Draw standard normal ("randn") or uniform ("rand") numbers shaped like `x`, on the generator's device."""
    g = _generator(generator)
    draw = torch.randn if kind == "randn" else torch.rand
    return draw(x.shape, generator=g, device=g.device, dtype=x.dtype).to(x.device)


def add_gaussian_noise(
    x: torch.Tensor, sigma: float | torch.Tensor, *, generator: torch.Generator | int, clip: bool = True
) -> torch.Tensor:
    """Return `x + sigma * N(0, 1)` noise, clipped to [0, 1] unless `clip=False`.

    Args:
        x: images (N, ...) with values in [0, 1]; not modified.
        sigma: the noise's standard deviation, one number or one per image (N,).
        generator: a seed or a torch.Generator.
    """
    sigma = _per_image(sigma, x, "sigma")
    if (sigma < 0).any():
        raise ValueError(f"sigma must be >= 0, got {sigma.min().item()}")
    noisy = x + sigma * _random("randn", x, generator)
    return noisy.clamp(0.0, 1.0) if clip else noisy


def add_salt_and_pepper(
    x: torch.Tensor, amount: float | torch.Tensor, *, generator: torch.Generator | int, salt_ratio: float = 0.5
) -> torch.Tensor:
    """Return `x` with a fraction `amount` of its pixels replaced: by 1 (salt) or by 0 (pepper).

    Args:
        x: images (N, ...) with values in [0, 1]; not modified.
        amount: the expected fraction of pixels replaced, in [0, 1], one number or one per image (N,).
        generator: a seed or a torch.Generator.
        salt_ratio: the fraction of the replaced pixels that become salt (white).
    """
    amount = _per_image(amount, x, "amount")
    if (amount < 0).any() or (amount > 1).any() or not 0 <= salt_ratio <= 1:
        raise ValueError(
            f"amount and salt_ratio must lie in [0, 1], got amount in [{amount.min().item()}, "
            f"{amount.max().item()}] and salt_ratio {salt_ratio}"
        )
    u = _random("rand", x, generator)  # one uniform number per pixel decides its fate
    salt = u < amount * salt_ratio
    pepper = (u >= amount * salt_ratio) & (u < amount)
    return torch.where(salt, torch.ones_like(x), torch.where(pepper, torch.zeros_like(x), x))


def _check_factor(x: torch.Tensor, factor: int) -> None:
    if x.ndim != 4:
        raise ValueError(f"expected images (N, C, H, W), got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if factor < 1 or h % factor or w % factor:
        raise ValueError(f"factor {factor} must divide the image size {h}x{w}: try 2 or 4 for 28x28 images")


def downsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Shrink images (N, C, H, W) to (N, C, H/factor, W/factor) by averaging each factor x factor block."""
    _check_factor(x, factor)
    return F.interpolate(x, scale_factor=1 / factor, mode="area")


def pixelate(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Downsample by `factor`, then blow back up to the original size with nearest neighbours: (N, C, H, W)."""
    return F.interpolate(downsample(x, factor), size=x.shape[-2:], mode="nearest")
