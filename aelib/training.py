"""Training an autoencoder fast: the lecture's loop, with the data kept on the device (lecture 1).

The lecture's loop pulls every image through a DataLoader and `ToTensor()`, one
sample at a time. Here the whole training set is one tensor on the device; each
epoch shuffles it once and takes contiguous slices, and the loss stays on the
device until the epoch ends, so the only host sync is one per epoch.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from .utils import get_device

__all__ = ["History", "train_autoencoder", "evaluate_mse", "reconstruct", "count_parameters"]


@dataclass
class History:
    """Per-epoch mean train loss, test loss (if test images were given) and reconstruction snapshots."""

    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    snapshots: dict[int, torch.Tensor] = field(default_factory=dict)

    def __repr__(self) -> str:
        last = f"{self.train_loss[-1]:.4f}" if self.train_loss else "n/a"
        return f"History({len(self.train_loss)} epochs, final train loss {last})"


def count_parameters(model: nn.Module) -> int:
    """Return the number of trainable parameters of `model`."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _show_progress(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    if os.environ.get("AELIB_PROGRESS", "1") == "0":  # batch runs (tests, `make outputs`) turn bars off
        return False
    return "ipykernel" in sys.modules or sys.stderr.isatty()


def _check_shapes(x_hat: torch.Tensor, target: torch.Tensor) -> None:
    if x_hat.shape == target.shape:
        return
    hint = "check output_padding (or the kernel size) of the decoder's transposed convolutions"
    if x_hat.ndim != target.ndim or x_hat.shape[:2] != target.shape[:2]:
        hint = "check that the decoder ends with as many channels or features as the input has"
    raise ValueError(f"decoder output is {tuple(x_hat.shape)} but input is {tuple(target.shape)}: {hint}")


@torch.no_grad()
def reconstruct(model: nn.Module, images: torch.Tensor, *, batch_size: int = 1024, device: str | torch.device | None = None) -> torch.Tensor:
    """Return the model's reconstructions of `images` (N, ...) on the CPU, in eval mode, batch by batch."""
    device = get_device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(images[i : i + batch_size].to(device)).cpu() for i in range(0, len(images), batch_size)])
    finally:
        model.train(was_training)


@torch.no_grad()
def evaluate_mse(model: nn.Module, images: torch.Tensor, targets: torch.Tensor | None = None, *, batch_size: int = 1024) -> float:
    """Return the mean squared reconstruction error of `model` over `images` (against `targets` if given)."""
    x_hat = reconstruct(model, images, batch_size=batch_size)
    targets = images if targets is None else targets
    _check_shapes(x_hat, targets)
    return torch.mean((x_hat - targets.cpu()) ** 2).item()


def train_autoencoder(
    model: nn.Module,
    train_images: torch.Tensor,
    *,
    num_epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 1e-5,
    test_images: torch.Tensor | None = None,
    train_targets: torch.Tensor | None = None,
    test_targets: torch.Tensor | None = None,
    corrupt: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    snapshot_images: torch.Tensor | None = None,
    snapshot_epochs: Sequence[int] = (),
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: bool | None = None,
) -> History:
    """Train `model` to reconstruct `train_images` with MSE and Adam, as in the lecture.

    Args:
        model: maps a batch (B, ...) to a batch of the same shape.
        train_images: (N, ...) inputs, e.g. (N, 1, 28, 28).
        test_images: if given, the test loss is measured after every epoch.
        train_targets, test_targets: what to reconstruct, if not the inputs themselves
            (clean images for a denoising or super-resolution autoencoder).
        corrupt: applied to each input batch with a seeded generator, e.g. added noise.
        snapshot_images, snapshot_epochs: keep the reconstructions of these images after
            each of these epochs (1-based), in `History.snapshots`.
        seed: seeds the shuffling (and `corrupt`): same seed, same data, same history.
        progress: show a progress bar; None means in interactive use only.

    Returns:
        History with per-epoch `train_loss` and `test_loss` (mean over images).
    """
    device = get_device(device)
    model.to(device)
    x_all = train_images.to(device)
    y_all = x_all if train_targets is None else train_targets.to(device)
    if len(y_all) != len(x_all):
        raise ValueError(f"train_targets has {len(y_all)} images but train_images has {len(x_all)}: they must pair up")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    distance = nn.MSELoss()
    generator = torch.Generator().manual_seed(seed)  # shuffling, on the CPU
    noise_generator = torch.Generator(device=device).manual_seed(seed)  # `corrupt`, beside the data
    history = History()
    epochs = range(1, num_epochs + 1)
    if _show_progress(progress):
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc="training", unit="epoch")
    for epoch in epochs:
        model.train()
        perm = torch.randperm(len(x_all), generator=generator).to(device)
        x_epoch, y_epoch = x_all[perm], y_all[perm]  # one gather per epoch, then views
        total = torch.zeros((), device=device)
        for i in range(0, len(x_epoch), batch_size):
            x, y = x_epoch[i : i + batch_size], y_epoch[i : i + batch_size]
            if corrupt is not None:
                x = corrupt(x, noise_generator)
            x_hat = model(x)
            if epoch == 1 and i == 0:
                _check_shapes(x_hat, y)
            loss = distance(x_hat, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(x)
        history.train_loss.append(total.item() / len(x_epoch))
        if test_images is not None:
            history.test_loss.append(evaluate_mse(model, test_images, test_targets))
        if epoch in snapshot_epochs and snapshot_images is not None:
            history.snapshots[epoch] = reconstruct(model, snapshot_images)
        if hasattr(epochs, "set_postfix"):
            epochs.set_postfix(loss=f"{history.train_loss[-1]:.4f}")
    model.eval()
    return history
