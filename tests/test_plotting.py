"""Plots return figures, label what they show, and leave models as they found them."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure

import aelib


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_plot_losses_draws_one_curve_per_history_and_test_curves():
    h = aelib.History(train_loss=[0.3, 0.2, 0.1], test_loss=[0.35, 0.25, 0.15])
    fig = aelib.plot_losses({"k = 5": h, "raw list": [0.5, 0.4]}, test=True, title="T")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_title() == "T" and ax.get_xlabel() == "epoch" and ax.get_ylabel() == "MSE"
    assert len(ax.lines) == 3  # train + test for the History, train for the list
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["k = 5 (train)", "k = 5 (test)", "raw list (train)"]
    assert list(ax.lines[1].get_ydata()) == [0.35, 0.25, 0.15]


def test_show_images_accepts_flat_and_square_images():
    fig = aelib.show_images(torch.rand(10, 784), nrow=5, labels=list(range(10)), title="digits")
    assert isinstance(fig, Figure) and len(fig.axes) == 10
    assert fig.axes[3].get_title() == "3" and fig._suptitle.get_text() == "digits"


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_show_reconstructions_rows_labels_and_mode_restored(mode):
    torch.manual_seed(0)
    models = {"k = 5": aelib.FCAutoencoder(5), "k = 25": aelib.FCAutoencoder(25)}
    for m in models.values():
        m.train(mode == "train")
    images = torch.rand(6, 1, 28, 28)
    fig = aelib.show_reconstructions(images, models)
    assert isinstance(fig, Figure) and len(fig.axes) == 3 * 6
    assert [fig.axes[r * 6].get_ylabel() for r in range(3)] == ["original", "k = 5", "k = 25"]
    assert all(m.training == (mode == "train") for m in models.values())
    shown = fig.axes[6].images[0].get_array()
    expected = models["k = 5"].eval()(images[:1]).detach().reshape(28, 28).clamp(0, 1)
    assert torch.allclose(torch.as_tensor(shown.data), expected, atol=1e-6)
