"""Classical denoisers as batched tensor operations: a Gaussian blur and a median filter (lecture 4).

Both compute what `scipy.ndimage.gaussian_filter` and `scipy.ndimage.median_filter`
compute on the last two axes (with scipy's default `mode="reflect"` border), but on a
whole batch at once and on whatever device the images are on, so that the denoising
baselines cost a few convolutions instead of a pass through NumPy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["gaussian_blur", "median_filter"]


def _check_images(images: torch.Tensor, radius: int) -> None:
    if images.ndim != 4:
        raise ValueError(f"expected images (N, C, H, W), got shape {tuple(images.shape)}")
    if radius > min(images.shape[-2:]):
        raise ValueError(f"the filter reaches {radius} pixels but the images are only {tuple(images.shape[-2:])}: use a smaller filter")


def _reflect_pad(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Pad the last two axes of x by `radius`, mirroring about the edge (d c b a | a b c d | d c b a), as scipy's "reflect"."""

    def index(n: int) -> torch.Tensor:
        inside = torch.arange(n, device=x.device)
        return torch.cat([inside[:radius].flip(0), inside, inside[n - radius :].flip(0)])

    return x.index_select(-2, index(x.shape[-2])).index_select(-1, index(x.shape[-1]))


def gaussian_blur(images: torch.Tensor, sigma: float, *, truncate: float = 4.0) -> torch.Tensor:
    """Blur each image (N, C, H, W) with a Gaussian of standard deviation `sigma` pixels: (N, C, H, W).

    The kernel is cut at `truncate` standard deviations and normalised to sum to 1, as in scipy.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0 pixels, got {sigma}")
    radius = int(truncate * sigma + 0.5)
    _check_images(images, radius)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(images.dtype).to(images.device)  # (K,)
    n, c, h, w = images.shape
    x = _reflect_pad(images.reshape(n * c, 1, h, w), radius)  # (N*C, 1, H + 2r, W + 2r)
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))  # along the rows: (N*C, 1, H + 2r, W)
    x = F.conv2d(x, kernel.view(1, 1, -1, 1))  # along the columns: (N*C, 1, H, W)
    return x.reshape(n, c, h, w)


def median_filter(images: torch.Tensor, size: int, *, batch_size: int = 1024) -> torch.Tensor:
    """Replace each pixel of each image (N, C, H, W) by the median of its size x size neighbourhood: (N, C, H, W).

    `size` must be odd, so that the median is one of the neighbourhood's values. The images
    are filtered `batch_size` at a time, which bounds the memory at size² copies of a batch.
    """
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size must be an odd number of pixels (3, 5, ...), got {size}")
    radius = size // 2
    _check_images(images, radius)
    n, c, h, w = images.shape
    x = images.reshape(n * c, 1, h, w)
    out = []
    for i in range(0, len(x), batch_size):
        patches = F.unfold(_reflect_pad(x[i : i + batch_size], radius), size)  # (B, size*size, H*W)
        out.append(patches.median(dim=1).values)  # (B, H*W)
    return torch.cat(out).reshape(n, c, h, w) if out else images.clone()

