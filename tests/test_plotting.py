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
    assert ax.get_title() == "T" and ax.get_xlabel() == "epoch" and ax.get_ylabel() == "MSE (log scale)"
    assert len(ax.lines) == 3  # train + test for the History, train for the list
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["k = 5 (train)", "k = 5 (test)", "raw list (train)"]
    assert list(ax.lines[1].get_ydata()) == [0.35, 0.25, 0.15]


def test_show_images_accepts_flat_and_square_images():
    fig = aelib.show_images(torch.rand(10, 784), nrow=5, labels=list(range(10)), title="digits")
    assert isinstance(fig, Figure) and len(fig.axes) == 10
    assert fig.axes[3].get_title() == "3" and fig.get_suptitle() == "digits"


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


def test_plot_losses_labels_a_log_axis_with_plain_numbers():
    fig = aelib.plot_losses({"k = 5": [0.2, 0.05, 0.01]})
    ax = fig.axes[0]
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert ax.get_yscale() == "log" and {"0.01", "0.02", "0.05", "0.1", "0.2"} <= set(labels)


def test_a_log_axis_starts_at_a_labelled_value_below_the_lowest_point():
    """Curves ending at 0.0025 (lecture 3's conv model) need a labelled 0.002 under them, not 0.005 above."""
    fig = aelib.plot_loss_bands({"conv": [aelib.History([0.05, 0.01, 0.0025], [0.015, 0.005, 0.0024])]})
    ax = fig.axes[0]
    fig.canvas.draw()
    low = ax.get_ylim()[0]
    labels = {t.get_text() for t in ax.get_yticklabels() if t.get_text()}
    assert low == pytest.approx(0.002) and "0.002" in labels and ax.get_ylabel() == "MSE (log scale)"


def test_plot_loss_bands_colours_labels_and_styles_train_and_test():
    runs = {
        "k = 5": [aelib.History([0.3, 0.2], [0.35, 0.25]), aelib.History([0.5, 0.4], [0.55, 0.45])],
        "k = 25": [aelib.History([0.1, 0.05], [0.12, 0.06])],
    }
    fig = aelib.plot_loss_bands(runs, title="T")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["k = 5 (2 runs)", "k = 25 (1 run)", "train", "test"]
    assert len(ax.lines) == 4  # mean train and mean test per label
    assert list(ax.lines[0].get_ydata()) == pytest.approx([0.4, 0.3])  # the mean over the runs
    assert [line.get_linestyle() for line in ax.lines] == ["-", "--", "-", "--"]
    assert ax.lines[0].get_color() == ax.lines[1].get_color() != ax.lines[2].get_color()
    assert len(ax.collections) == 2  # a min-max band for k = 5's train and test curves, none for one run


def test_plot_loss_bands_each_run_draws_every_run_in_its_labels_colour():
    runs = {"ReLU": [aelib.History([0.3, 0.2], [0.35, 0.25]), aelib.History([0.5, 0.4], [0.55, 0.45])]}
    ax = aelib.plot_loss_bands(runs, each_run=True).axes[0]
    assert len(ax.lines) == 4 and not ax.collections  # two runs x (train, test), no band
    assert [list(line.get_ydata()) for line in ax.lines[:2]] == [[0.3, 0.2], [0.5, 0.4]]
    assert len({line.get_color() for line in ax.lines}) == 1
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ReLU (2 runs)", "train", "test"]


def test_plot_loss_bands_refuses_runs_of_different_lengths():
    with pytest.raises(ValueError, match="must all have the same"):
        aelib.plot_loss_bands({"k = 5": [aelib.History([0.3, 0.2]), aelib.History([0.3])]})


def test_show_heatmap_has_a_labelled_colorbar_and_row_labels():
    fig = aelib.show_heatmap(
        torch.rand(3, 25), row_labels=["seed 0", "seed 1", "seed 2"], colorbar_label="active", vmin=0, vmax=1
    )
    ax, bar = fig.axes
    assert bar.get_ylabel() == "active"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["seed 0", "seed 1", "seed 2"]
    with pytest.raises(ValueError, match="2-D"):
        aelib.show_heatmap(torch.rand(3))
