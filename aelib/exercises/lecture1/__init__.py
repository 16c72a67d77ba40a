"""Lecture 1's exercises: the MSE, a deeper autoencoder, parameter counts, latent codes, a training step.

A notebook's check cell calls one of the `check_*` functions below: it runs the
exercise's probe and judge on the fixed inputs and prints one verdict line (see
`aelib.exercises`). The exercises themselves are defined in `basics` (1.1, 1.3, 1.4),
`deep` (1.2) and `train_step` (1.5); their training budgets in `budgets`.
"""

from __future__ import annotations

from ..running import self_check
from .basics import ENCODE, MSE, NUM_PARAMETERS
from .budgets import DEEP_BUDGET, STEP_BUDGET, budget_steps, budget_test_mse, pca_test_mse, step_budget_test_mse
from .deep import DEEP_AUTOENCODER
from .train_step import TRAIN_STEP

__all__ = [
    "check_mse",
    "check_deep_autoencoder",
    "check_num_parameters",
    "check_encode",
    "check_train_step",
    "budget_test_mse",
    "budget_steps",
    "pca_test_mse",
    "step_budget_test_mse",
    "DEEP_BUDGET",
    "STEP_BUDGET",
]

check_mse = self_check(MSE, "Compare `mse(x, x_hat)` with `F.mse_loss` in value and gradient, on several shapes.")
check_deep_autoencoder = self_check(
    DEEP_AUTOENCODER,
    "Build `DeepAutoencoder(latent_dim=25)`, train it on a fixed budget on the CPU, compare its test MSE to PCA's.",
)
check_num_parameters = self_check(
    NUM_PARAMETERS, "Compare `num_parameters(layer_sizes)` with the parameters of the nn.Linear layers it describes."
)
check_encode = self_check(
    ENCODE, "Compare `encode(model, images)` with the model's encoder in eval mode, without gradients, mode restored."
)
check_train_step = self_check(
    TRAIN_STEP,
    "Compare `train_step(model, x, optimizer)` with the lecture's step, then train the lecture's model with it.",
)
