"""The lecture's autoencoders: shapes, parameter counts, output ranges, and the decoder-shape error."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import aelib


@pytest.mark.parametrize("code_kernel_size", [1, 2, 3, 5, 7])
def test_conv_autoencoder_shapes(code_kernel_size: int) -> None:
    torch.manual_seed(0)
    model = aelib.ConvAutoencoder(code_kernel_size=code_kernel_size)
    x = torch.rand(3, 1, 28, 28)
    z = model.encoder(x)
    side = 8 - code_kernel_size  # 7x7 feature map, kernel code_kernel_size, stride 1, no padding
    assert z.shape == (3, 64, side, side)
    assert model.decoder(z).shape == (3, 1, 28, 28)
    assert model(x).shape == x.shape


def test_conv_autoencoder_matches_the_slide_layers() -> None:
    model = aelib.ConvAutoencoder()
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    got = [
        (type(m).__name__, m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.output_padding)
        for m in convs
    ]
    assert got == [
        ("Conv2d", 1, 16, (3, 3), (2, 2), (1, 1), (0, 0)),
        ("Conv2d", 16, 32, (3, 3), (2, 2), (1, 1), (0, 0)),
        ("Conv2d", 32, 64, (7, 7), (1, 1), (0, 0), (0, 0)),
        ("ConvTranspose2d", 64, 32, (7, 7), (1, 1), (0, 0), (0, 0)),
        ("ConvTranspose2d", 32, 16, (3, 3), (2, 2), (1, 1), (1, 1)),
        ("ConvTranspose2d", 16, 1, (3, 3), (2, 2), (1, 1), (1, 1)),
    ]
    # weights + biases: encoder 160 + 4,640 + 100,416, decoder 100,384 + 4,624 + 145
    assert aelib.count_parameters(model) == 210_369


@pytest.mark.parametrize(("final_activation", "low", "high"), [(nn.ReLU, 0.0, float("inf")), (nn.Sigmoid, 0.0, 1.0)])
def test_conv_autoencoder_final_activation(final_activation: type[nn.Module], low: float, high: float) -> None:
    torch.manual_seed(0)
    model = aelib.ConvAutoencoder(final_activation=final_activation)
    assert type(model.decoder[-1]) is final_activation
    x_hat = model(10 * torch.randn(8, 1, 28, 28))
    assert low <= x_hat.min().item() and x_hat.max().item() <= high


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"final_activation": "sigmoid"}, TypeError, "a layer class such as nn.ReLU"),
        ({"final_activation": nn.Sigmoid()}, TypeError, "a layer class such as nn.ReLU"),
        ({"code_kernel_size": 8}, ValueError, "1 to 7, got 8"),
        ({"code_kernel_size": 0}, ValueError, "1 to 7, got 0"),
    ],
)
def test_conv_autoencoder_rejects_bad_arguments(kwargs: dict, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        aelib.ConvAutoencoder(**kwargs)


@pytest.mark.parametrize("latent_dim", [5, 25, 125, 784])
def test_fc_autoencoder_shapes_and_parameters(latent_dim: int) -> None:
    torch.manual_seed(0)
    model = aelib.FCAutoencoder(latent_dim)
    images = torch.rand(4, 1, 28, 28)
    assert model(images).shape == images.shape
    assert model(images.flatten(1)).shape == (4, 784)
    assert model.encoder(images.flatten(1)).shape == (4, latent_dim)
    assert aelib.count_parameters(model) == (784 * latent_dim + latent_dim) + (latent_dim * 784 + 784)
    assert -1 <= model(10 * images).min().item() and model(10 * images).max().item() <= 1  # Tanh


def test_fc_autoencoder_rejects_empty_code() -> None:
    with pytest.raises(ValueError, match="latent_dim"):
        aelib.FCAutoencoder(0)


class NoOutputPadding(nn.Module):
    """The conv autoencoder with output_padding left out of its decoder: 28x28 => 7x7 => 25x25."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = aelib.ConvAutoencoder().encoder
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(64, 32, 7),
            nn.ReLU(),
            nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1),  # 7x7 => 13x13
            nn.ReLU(),
            nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1),  # 13x13 => 25x25
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def test_evaluation_names_both_shapes_too() -> None:
    with pytest.raises(ValueError, match=r"\(10, 1, 25, 25\).*\(10, 1, 28, 28\).*output_padding"):
        aelib.evaluate_mse(NoOutputPadding(), torch.rand(10, 1, 28, 28))


def test_channel_mismatch_points_at_the_channels_not_output_padding() -> None:
    model = nn.Conv2d(1, 3, 3, padding=1)  # keeps 28x28 but makes 3 channels
    with pytest.raises(ValueError, match="channels") as info:
        aelib.train_autoencoder(model, torch.rand(8, 1, 28, 28), num_epochs=1, device="cpu", progress=False)
    assert "(8, 3, 28, 28)" in str(info.value) and "(8, 1, 28, 28)" in str(info.value)
