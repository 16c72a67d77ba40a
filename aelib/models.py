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
        hidden_layer: kernel size of the last encoder convolution (and the first decoder
            transposed convolution); 7 turns the 7x7 feature map into a 1x1 code.
        final_activation: "relu" as in the slide's code, or "sigmoid" as its comment says.
    """

    def __init__(self, hidden_layer: int = 7, final_activation: str = "relu") -> None:
        super().__init__()
        activations = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid}
        if final_activation not in activations:
            raise ValueError(f"final_activation must be one of {sorted(activations)}, got {final_activation!r}")
        if not 1 <= hidden_layer <= 7:
            raise ValueError(f"hidden_layer is the last kernel size and must fit the 7x7 feature map: 1 to 7, got {hidden_layer}")
        self.hidden_layer = hidden_layer
        self.final_activation = final_activation
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1),  # 28x28 => 14x14
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),  # 14x14 => 7x7
            nn.ReLU(),
            nn.Conv2d(32, 64, hidden_layer),  # 7x7 => (8 - hidden_layer)x(8 - hidden_layer)
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(64, 32, hidden_layer),  # back to 7x7
            nn.ReLU(),
            nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1),  # 7x7 => 14x14
            nn.ReLU(),
            nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1),  # 14x14 => 28x28
            activations[final_activation](),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x)  # (B, 1, 28, 28) => (B, 64, 8 - hidden_layer, 8 - hidden_layer)
        return self.decoder(z)  # => (B, 1, 28, 28)
