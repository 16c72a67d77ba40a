"""The lecture's autoencoders, kept here for reuse by later lectures and by the tests.

Each notebook also shows its model class in full: this module is the reference copy.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FCAutoencoder"]


class FCAutoencoder(nn.Module):
    """Lecture 1's fully connected autoencoder: 784 -> latent_dim (ReLU) -> 784 (Tanh).

    Accepts images (B, 1, 28, 28) or flat vectors (B, 784) and returns the same shape.
    """

    def __init__(self, latent_dim: int = 5) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(nn.Linear(28 * 28, latent_dim), nn.ReLU(True))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, 28 * 28), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x.flatten(1))  # (B, 784) => (B, latent_dim)
        x_hat = self.decoder(z)  # (B, latent_dim) => (B, 784)
        return x_hat.view_as(x)
