"""Training an autoencoder fast: the lecture's loop, with the data kept on the device (lecture 1).

The lecture's loop pulls every image through a DataLoader and `ToTensor()`, one
sample at a time. Here the whole training set is one tensor on the device: each
epoch draws one permutation and gathers each batch with a single indexing call,
Adam updates every parameter in one fused kernel, convolutional models run in
the channels-last layout on a CPU, and the loss stays on the device until the
epoch ends, so the only host sync is one per epoch. What is computed is the
lecture's loop, up to float rounding: `benchmarks/bench_training.py` times both.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from .graphs import GraphedStep
from .runtime import get_device

__all__ = ["History", "Snapshots", "train_autoencoder", "evaluate_mse", "reconstruct", "count_parameters"]


@dataclass(frozen=True, eq=False)  # eq=False: tensors do not compare to one bool
class Snapshots:
    """Which reconstructions to keep while training: these `images` (N, ...) after these `epochs` (1-based).

    The lecture keeps every fourth epoch: `Snapshots(test_images[:9], epochs=range(1, num_epochs + 1, 4))`.
    """

    images: torch.Tensor
    epochs: Sequence[int]

    def __post_init__(self) -> None:
        if not isinstance(self.images, torch.Tensor):
            raise TypeError(
                f"Snapshots.images must be a tensor of images to reconstruct, got {type(self.images).__name__}"
            )
        if isinstance(self.epochs, int):
            raise TypeError(
                f"Snapshots.epochs takes several epochs, e.g. ({self.epochs},) or range(1, 26, 4); got {self.epochs}"
            )
        object.__setattr__(self, "epochs", tuple(sorted({int(e) for e in self.epochs})))  # a range or a set works too


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
def reconstruct(
    model: nn.Module, images: torch.Tensor, *, batch_size: int = 1024, device: str | torch.device | None = None
) -> torch.Tensor:
    """Return the model's reconstructions of `images` (N, ...) on the CPU, in eval mode, batch by batch."""
    device = get_device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        return torch.cat(
            [model(images[i : i + batch_size].to(device)).cpu() for i in range(0, len(images), batch_size)]
        )
    finally:
        model.train(was_training)


@torch.no_grad()
def evaluate_mse(
    model: nn.Module, images: torch.Tensor, targets: torch.Tensor | None = None, *, batch_size: int = 1024
) -> float:
    """Return the mean squared reconstruction error of `model` over `images` (against `targets` if given)."""
    device = next(model.parameters()).device
    targets = images if targets is None else targets
    if len(targets) != len(images):
        raise ValueError(f"targets has {len(targets)} images but images has {len(images)}: they must pair up")
    was_training = model.training
    model.eval()
    try:
        total = torch.zeros((), dtype=torch.float64, device=device)  # summed on the device: one sync at the end
        for i in range(0, len(images), batch_size):
            x_hat = model(images[i : i + batch_size].to(device))
            y = targets[i : i + batch_size].to(device)
            _check_shapes(x_hat, y)
            total += (x_hat - y).square().sum(dtype=torch.float64)
    finally:
        model.train(was_training)
    return total.item() / max(targets.numel(), 1)


def _adam(model: nn.Module, lr: float, weight_decay: float, capturable: bool = False) -> torch.optim.Optimizer:
    """Return Adam with the fused kernel (one call updates every parameter) where PyTorch has one."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True, capturable=capturable)
    except (RuntimeError, ValueError):  # an older PyTorch (CPU fused Adam came in 2.4) or an unsupported device
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay, capturable=capturable)


def _graphed_step(model: nn.Module, optimizer: torch.optim.Optimizer, distance: nn.Module) -> GraphedStep:
    """Return the training step as a `GraphedStep`: forward, loss, gradients and Adam, replayed as one graph.

    The step runs after a plain first step, which gave every parameter its `.grad`.
    """
    params = [p for p in model.parameters() if p.requires_grad]

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Write each gradient into the tensor `p.grad` already holds: a graph replays into fixed addresses."""
        loss = distance(model(x), y)
        for p, g in zip(params, torch.autograd.grad(loss, params, allow_unused=True), strict=True):
            if g is not None:  # a parameter the loss does not reach keeps its zero gradient
                p.grad.copy_(g)
        optimizer.step()
        return loss.detach()

    return GraphedStep(step)


def _snapshot_epochs(snapshots: Snapshots | None, num_epochs: int) -> set[int]:
    """Return the epochs to take snapshots after, or raise if they cannot all be taken."""
    if snapshots is None:
        return set()
    if not isinstance(snapshots, Snapshots):
        raise TypeError(f"snapshots must be aelib.Snapshots(images, epochs), got {type(snapshots).__name__}")
    epochs = set(snapshots.epochs)
    outside = sorted(e for e in epochs if not 1 <= e <= num_epochs)
    if outside:
        raise ValueError(
            f"snapshot epochs {outside} are outside 1..{num_epochs} (epochs count from 1 up to num_epochs={num_epochs})"
        )
    return epochs


def _use_channels_last(model: nn.Module, images: torch.Tensor, device: torch.device) -> bool:
    """Whether to train in the channels-last layout, oneDNN's own: convolutions on 4-D images on a CPU."""
    has_conv = any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in model.modules())
    plain = all(p.is_contiguous() for p in model.parameters() if p.ndim == 4)  # so the layout can be restored exactly
    return device.type == "cpu" and images.ndim == 4 and has_conv and plain


def train_autoencoder(
    model: nn.Module,
    train_images: torch.Tensor,
    *,
    num_epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 1e-5,
    loss: nn.Module | None = None,
    test_images: torch.Tensor | None = None,
    train_targets: torch.Tensor | None = None,
    test_targets: torch.Tensor | None = None,
    corrupt: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    snapshots: Snapshots | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: bool | None = None,
    graph: bool | None = None,
) -> History:
    """Train `model` to reconstruct `train_images` with MSE and Adam, as in the lecture.

    Args:
        model: maps a batch (B, ...) to a batch of the same shape.
        train_images: (N, ...) inputs, e.g. (N, 1, 28, 28).
        loss: the training loss, `loss(x_hat, target)`; None means `nn.MSELoss()`, the
            lecture's. The test loss is the MSE whatever the training loss.
        test_images: if given, the test loss is measured after every epoch.
        train_targets, test_targets: what to reconstruct, if not the inputs themselves
            (clean images for a denoising or super-resolution autoencoder).
        corrupt: applied to each input batch with a seeded generator, e.g. added noise.
        snapshots: keep the reconstructions of `snapshots.images` after each of
            `snapshots.epochs`, in `History.snapshots` (epoch => (N, ...) on the CPU).
        seed: seeds the shuffling (and `corrupt`): same seed, same data, same history.
        progress: show a progress bar; None means in interactive use only.
        graph: replay each step as a CUDA graph (`aelib.graphs`); None means on a GPU. The
            results equal the plain step's up to float rounding.

    Returns:
        History with per-epoch `train_loss` (of `loss`) and `test_loss` (MSE), means over images. The model is
        left on `device` and in eval mode, ready to reconstruct; call `model.train()` to go on.
    """
    snapshot_epochs = _snapshot_epochs(snapshots, num_epochs)
    device = get_device(device)
    model.to(device)
    x_all = train_images.to(device)
    y_all = None if train_targets is None else train_targets.to(device)  # None: the inputs are the targets
    if y_all is not None and len(y_all) != len(x_all):
        raise ValueError(f"train_targets has {len(y_all)} images but train_images has {len(x_all)}: they must pair up")
    channels_last = _use_channels_last(model, x_all, device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
        x_all = x_all.contiguous(memory_format=torch.channels_last)
    graph = device.type == "cuda" if graph is None else graph
    optimizer = _adam(model, lr, weight_decay, capturable=graph)
    distance = nn.MSELoss() if loss is None else loss
    step = _graphed_step(model, optimizer, distance) if graph else None
    generator = torch.Generator().manual_seed(seed)  # shuffling, on the CPU, as a seeded DataLoader does
    noise_generator = torch.Generator(device=device).manual_seed(seed)  # `corrupt`, beside the data
    history = History()
    epochs = range(1, num_epochs + 1)
    if _show_progress(progress):
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc="training", unit="epoch")
    try:
        for epoch in epochs:
            model.train()
            perm = torch.randperm(len(x_all), generator=generator).to(device)
            total = torch.zeros((), device=device)
            for i in range(0, len(x_all), batch_size):
                idx = perm[i : i + batch_size]
                x = x_all.index_select(0, idx)  # (B, ...): the batch, gathered in one call
                y = x if y_all is None else y_all.index_select(0, idx)
                if corrupt is not None:
                    x = corrupt(x.clone(), noise_generator)  # a copy: `corrupt` may work in place, and y may be x
                if step is not None and (epoch, i) != (1, 0):
                    loss = step(x, y)
                else:
                    x_hat = model(x)
                    if epoch == 1 and i == 0:
                        _check_shapes(x_hat, y)
                    loss = distance(x_hat, y)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                total.add_(loss.detach(), alpha=len(x))  # stays on the device: no sync per batch
            history.train_loss.append(total.item() / len(x_all))
            if test_images is not None:
                history.test_loss.append(evaluate_mse(model, test_images, test_targets))
            if epoch in snapshot_epochs:
                history.snapshots[epoch] = reconstruct(model, snapshots.images)
            if hasattr(epochs, "set_postfix"):
                epochs.set_postfix(loss=f"{history.train_loss[-1]:.4f}")
    finally:
        if channels_last:
            model.to(memory_format=torch.contiguous_format)  # hand the model back in the layout it came in
    model.eval()
    return history
