"""Reconstruction snapshots of a fixed batch at chosen epochs (the lecture's `outputs_list`)."""

from __future__ import annotations

import torch

import aelib


def _images(n: int = 96) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, 28, 28, generator=generator)  # (N, 1, 28, 28)


def _train(num_epochs: int, snapshot_epochs: tuple[int, ...], seed: int = 0) -> tuple[torch.nn.Module, aelib.History]:
    torch.manual_seed(seed)
    model = aelib.ConvAutoencoder(hidden_layer=7, final_activation="sigmoid")
    images = _images()
    history = aelib.train_autoencoder(
        model, images, num_epochs=num_epochs, batch_size=32, snapshot_images=images[:6], snapshot_epochs=snapshot_epochs, device="cpu", seed=seed, progress=False
    )
    return model, history


def test_snapshots_at_the_chosen_epochs_only() -> None:
    _, history = _train(5, (1, 3, 5))
    assert sorted(history.snapshots) == [1, 3, 5]
    for images in history.snapshots.values():
        assert images.shape == (6, 1, 28, 28)
        assert images.device.type == "cpu" and not images.requires_grad
        assert 0 <= images.min() and images.max() <= 1  # sigmoid outputs


def test_every_fourth_epoch_as_in_the_lecture() -> None:
    _, history = _train(9, tuple(range(1, 10, 4)))
    assert sorted(history.snapshots) == [1, 5, 9]


def test_a_snapshot_is_the_model_after_that_epoch() -> None:
    model_after_2, _ = _train(2, ())
    _, history = _train(3, (2, 3))
    torch.testing.assert_close(history.snapshots[2], aelib.reconstruct(model_after_2, _images()[:6]))
    assert not torch.equal(history.snapshots[2], history.snapshots[3])  # training moved on


def test_last_snapshot_is_the_final_model() -> None:
    model, history = _train(3, (3,))
    torch.testing.assert_close(history.snapshots[3], aelib.reconstruct(model, _images()[:6]))


def test_snapshots_are_deterministic() -> None:
    _, first = _train(3, (1, 3))
    _, second = _train(3, (1, 3))
    for epoch in (1, 3):
        assert torch.equal(first.snapshots[epoch], second.snapshots[epoch])
    _, other_seed = _train(3, (1, 3), seed=1)
    assert not torch.equal(first.snapshots[3], other_seed.snapshots[3])


def test_no_snapshots_unless_asked() -> None:
    _, history = _train(2, ())
    assert history.snapshots == {}
