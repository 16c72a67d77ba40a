"""Lecture 1's exercises: the MSE, a deeper autoencoder, dead code units, latent codes, a dead model's plateau.

A notebook's check cell calls one of the `check_*` functions below: it runs the
exercise's probe and judge on the fixed inputs and prints one verdict line (see
`aelib.exercises`). The exercises themselves are defined in `basics` (1.1, 1.4),
`deep` (1.2) and `dead_units` (1.3, 1.5); exercise 1.2's training budget in `budgets`.
"""

from __future__ import annotations

from ..running import self_check
from .basics import ENCODE, MSE
from .budgets import DEEP_BUDGET, budget_steps, budget_test_mse, pca_test_mse
from .dead_units import DEAD_MODEL_LOSS, REVIVE_DEAD_UNITS
from .deep import DEEP_AUTOENCODER

__all__ = [
    "check_mse",
    "check_deep_autoencoder",
    "check_revive_dead_units",
    "check_encode",
    "check_dead_model_loss",
    "budget_test_mse",
    "budget_steps",
    "pca_test_mse",
    "DEEP_BUDGET",
]

check_mse = self_check(MSE, "Compare `mse(x, x_hat)` with `F.mse_loss` in value and gradient, on several shapes.")
check_deep_autoencoder = self_check(
    DEEP_AUTOENCODER,
    "Build `DeepAutoencoder(latent_dim=25)`, train it on a fixed budget on the CPU, compare its test MSE to PCA's.",
)
check_revive_dead_units = self_check(
    REVIVE_DEAD_UNITS,
    "Check `revive_dead_units(model, images)` on models with dead, rarely active and weak code units, on real digits.",
)
check_encode = self_check(
    ENCODE, "Compare `encode(model, images)` with the model's encoder in eval mode, without gradients, mode restored."
)
check_dead_model_loss = self_check(
    DEAD_MODEL_LOSS,
    "Compare `dead_model_loss(images)` with the lowest MSE one fixed output image reaches on the images.",
)
