"""Checks for lecture 3's exercises (the convolutional autoencoder).

3.1 count a (transposed) convolution's parameters; 3.2 choose the output_padding
that undoes a strided convolution; 3.3 write a decoder for a given code shape.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from torch import nn

from . import exercise

__all__ = ["check_conv_parameters", "check_output_padding_for", "check_make_decoder", "exercise_encoder", "CODE_SHAPE"]

CODE_SHAPE = (8, 4, 4)  # what exercise_encoder() turns a (1, 28, 28) image into: 128 numbers


def exercise_encoder() -> nn.Sequential:
    """Return the encoder of exercise 3.3: (B, 1, 28, 28) => (B, 8, 4, 4)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 4, stride=2, padding=1),  # 28x28 => 14x14
        nn.ReLU(),
        nn.Conv2d(16, 32, 4, stride=2, padding=1),  # 14x14 => 7x7
        nn.ReLU(),
        nn.Conv2d(32, 8, 3, stride=2, padding=1),  # 7x7 => 4x4
    )


@exercise("3.1")
def check_conv_parameters(conv_parameters: Callable[..., int]) -> str | None:
    """Compare `conv_parameters(in_channels, out_channels, kernel_size, bias=True)` with PyTorch's layers."""
    for c_in, c_out, k, bias in itertools.product((1, 3, 16), (1, 8, 32), (1, 3, 7), (True, False)):
        expected = sum(p.numel() for p in nn.Conv2d(c_in, c_out, k, bias=bias).parameters())
        got = conv_parameters(c_in, c_out, k, bias=bias)
        if not isinstance(got, int) or isinstance(got, bool):
            return f"return an int, got {type(got).__name__}"
        if got != expected:
            return f"Conv2d({c_in}, {c_out}, {k}, bias={bias}) has {expected} parameters, your function says {got}"
        transposed = sum(p.numel() for p in nn.ConvTranspose2d(c_out, c_in, k, bias=bias).parameters())
        if conv_parameters(c_out, c_in, k, bias=bias) != transposed:
            return f"ConvTranspose2d({c_out}, {c_in}, {k}, bias={bias}) has {transposed} parameters: the same formula applies"
    return None


@exercise("3.2")
def check_output_padding_for(output_padding_for: Callable[..., int]) -> str | None:
    """Check `output_padding_for(size, kernel_size, stride, padding)` by running Conv2d then ConvTranspose2d."""
    for size, k, s, p in itertools.product((5, 7, 14, 27, 28), (1, 2, 3, 4, 5), (1, 2, 3), (0, 1, 2)):
        if p > k // 2 or size + 2 * p < k:  # PyTorch rejects these layers
            continue
        op = output_padding_for(size, k, s, p)
        if not isinstance(op, int) or isinstance(op, bool):
            return f"return an int, got {type(op).__name__}"
        if not 0 <= op < s:
            return f"size {size}, kernel {k}, stride {s}, padding {p}: output_padding must be in [0, stride), got {op}"
        x = torch.zeros(1, 1, size, size)
        y = nn.Conv2d(1, 1, k, stride=s, padding=p)(x)
        x_back = nn.ConvTranspose2d(1, 1, k, stride=s, padding=p, output_padding=op)(y)
        if x_back.shape[-1] != size:
            return (
                f"size {size}, kernel {k}, stride {s}, padding {p}: the convolution gives {y.shape[-1]}, "
                f"and output_padding={op} brings it back to {x_back.shape[-1]}, not {size}"
            )
    return None


@exercise("3.3")
def check_make_decoder(make_decoder: Callable[[], nn.Module]) -> str | None:
    """Check that `make_decoder()` maps codes (B, 8, 4, 4) to images (B, 1, 28, 28) in [0, 1] with transposed convolutions."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        decoder = make_decoder()
        if not isinstance(decoder, nn.Module):
            return f"make_decoder() must return an nn.Module, got {type(decoder).__name__}"
        if not any(isinstance(m, nn.ConvTranspose2d) for m in decoder.modules()):
            return "use at least one nn.ConvTranspose2d to upsample"
        encoder = exercise_encoder()
        for batch in (1, 5):
            z = encoder(torch.rand(batch, 1, 28, 28))  # (B, 8, 4, 4)
            x_hat = decoder(z)
            if tuple(x_hat.shape) != (batch, 1, 28, 28):
                return f"a code of shape {tuple(z.shape)} should give ({batch}, 1, 28, 28), got {tuple(x_hat.shape)}: check output_padding"
        x_hat = decoder(10 * torch.randn(64, *CODE_SHAPE))
        if x_hat.min() < 0 or x_hat.max() > 1:
            return f"outputs must lie in [0, 1] like the pixels, got [{x_hat.min().item():.2f}, {x_hat.max().item():.2f}]: choose the final activation"
        x_hat.square().mean().backward()
        frozen = [name for name, p in decoder.named_parameters() if p.requires_grad and p.grad is None]
        if frozen:
            return f"no gradient reaches {frozen[0]}: every layer must take part in the output"
    return None
