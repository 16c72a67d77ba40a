"""The lecture's autoencoders, kept here for reuse by later lectures and by the tests.

Each notebook also shows its model class in full: this module is the reference copy.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FCAutoencoder", "ConvAutoencoder"]


class FCAutoencoder(nn.Module):
    """Lecture 1's fully connected autoencoder: 784 -> latent_dim (ReLU) -> 784 (Tanh).

    Accepts images (B, 1, 28, 28) or flat vectors (B, 784) and returns the same shape.
    """

    def __init__(self, latent_dim: int = 5) -> None:
        super().__init__()
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be at least 1, got {latent_dim}")
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(nn.Linear(28 * 28, latent_dim), nn.ReLU(True))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, 28 * 28), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x.flatten(1))  # (B, 784) => (B, latent_dim)
        x_hat = self.decoder(z)  # (B, latent_dim) => (B, 784)
        return x_hat.view_as(x)


class ConvAutoencoder(nn.Module):
    """Lecture 3's convolutional autoencoder: (B, 1, 28, 28) => (B, 64, 1, 1) code => (B, 1, 28, 28).

    Args:
        code_kernel_size: kernel size of the last encoder convolution (and of the first
            decoder transposed convolution); 7 turns the 7x7 feature map into a 1x1 code.
            The slides call it `hidden_layer`.
        final_activation: the decoder's last layer, a class: nn.ReLU as in the slide's
            code, or nn.Sigmoid as its comment says.
    """

    def __init__(self, code_kernel_size: int = 7, final_activation: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        if not (isinstance(final_activation, type) and issubclass(final_activation, nn.Module)):
            raise TypeError(
                f"final_activation must be a layer class such as nn.ReLU or nn.Sigmoid, got {final_activation!r}"
            )
        if not 1 <= code_kernel_size <= 7:
            raise ValueError(
                "code_kernel_size is the last kernel size and must fit the 7x7 feature map: "
                f"1 to 7, got {code_kernel_size}"
            )
        self.code_kernel_size = code_kernel_size
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1),  # 28x28 => 14x14
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),  # 14x14 => 7x7
            nn.ReLU(),
            nn.Conv2d(32, 64, code_kernel_size),  # 7x7 => (8 - code_kernel_size)x(8 - code_kernel_size)
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(64, 32, code_kernel_size),  # back to 7x7
            nn.ReLU(),
            nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1),  # 7x7 => 14x14
            nn.ReLU(),
            nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1),  # 14x14 => 28x28
            final_activation(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x)  # (B, 1, 28, 28) => (B, 64, 8 - code_kernel_size, 8 - code_kernel_size)
        return self.decoder(z)  # => (B, 1, 28, 28)
