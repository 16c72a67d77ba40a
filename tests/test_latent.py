"""aelib.latent: codes match the encoder run by hand; the 2-D view draws every point once."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from torch import nn

from aelib import ConvAutoencoder, FCAutoencoder, encode, plot_code_views


def test_encode_matches_the_encoder_and_restores_the_mode() -> None:
    torch.manual_seed(0)
    model = ConvAutoencoder(final_activation=nn.Sigmoid).train()
    x = torch.rand(5, 1, 28, 28)
    z = encode(model, x, batch_size=2)  # several batches
    model.eval()
    with torch.no_grad():
        expected = model.encoder(x).flatten(1)  # (5, 64)
    assert z.shape == (5, 64)
    torch.testing.assert_close(z, expected)
    model.train()
    encode(model, x)
    assert model.training


def test_encode_flattens_for_a_fully_connected_encoder() -> None:
    torch.manual_seed(0)
    model = FCAutoencoder(7)
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        expected = model.encoder(x.flatten(1))
    torch.testing.assert_close(encode(model, x), expected)


def test_encode_rejects_bad_input() -> None:
    with pytest.raises(TypeError, match="encoder"):
        encode(nn.Linear(784, 3), torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        encode(FCAutoencoder(3), torch.rand(2, 784))


def test_plot_code_views_draws_each_point_once_per_view() -> None:
    labels = np.arange(30) % 10
    views = {"a": np.random.default_rng(0).normal(size=(30, 2)), "b": torch.zeros(30, 2)}
    fig = plot_code_views(views, labels, title="t")
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert sum(len(c.get_offsets()) for c in ax.collections) == 30
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [str(d) for d in range(10)]


def test_plot_code_views_rejects_a_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plot_code_views({"a": np.zeros((30, 3))}, np.zeros(30))
