"""Exercise 1.2, a deeper autoencoder that beats PCA on a fixed budget: defined once (see aelib.exercises).

The probe builds the student's model as the lecture would (seed 0, a code of 25) and at
a second code size, and exports both as layers and weights; the judge rebuilds them,
checks their depth and shapes, and trains the rebuilt model on the budget itself.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .. import define
from ..answers import draw, draw_int, type_name
from ..model_transfer import export_autoencoder, rebuild_autoencoder
from . import budgets

__all__ = ["DEEP_AUTOENCODER"]


def deep_inputs(seed: int | None) -> dict:
    """Return the second code size to build the model with, and a batch (3, 784) to push through it."""
    g = draw(0 if seed is None else seed)
    other = 7 if seed is None else draw_int(g, 2, 40)
    return {"other": other, "x": torch.rand(3, 28 * 28, generator=g)}


def probe_deep_autoencoder(inputs: dict, DeepAutoencoder: Any) -> dict:
    """Build the model as the check does (seed 0, latent_dim 25) and at the other code size; export both."""
    torch.manual_seed(0)
    model = DeepAutoencoder(latent_dim=budgets.DEEP_BUDGET["latent_dim"])
    if not isinstance(model, nn.Module):
        return {"module": False, "type": type(model).__name__}
    parts = [part for part in ("encoder", "decoder") if isinstance(getattr(model, part, None), nn.Module)]
    torch.manual_seed(0)
    other = DeepAutoencoder(latent_dim=inputs["other"])
    return {"module": True, "parts": parts, "model": export_autoencoder(model), "other": export_autoencoder(other)}


def _linear_layers(module: nn.Module) -> int:
    return sum(isinstance(m, nn.Linear) for m in module.modules())


def judge_deep_autoencoder(inputs: dict, answers: dict) -> str | None:
    """Rebuild the model, check its depth and shapes, train it on the budget and compare with PCA."""
    k = budgets.DEEP_BUDGET["latent_dim"]
    if not answers["module"]:
        return f"DeepAutoencoder(latent_dim={k}) should be an nn.Module, got {type_name(answers)}"
    for part in ("encoder", "decoder"):
        if part not in answers["parts"]:
            return f"DeepAutoencoder needs an `{part}` module, as MNISTAutoencoder has"
    model = rebuild_autoencoder(answers["model"], (1, 28 * 28))
    sized = rebuild_autoencoder(answers["other"], (1, 28 * 28))
    for rebuilt in (model, sized):
        if isinstance(rebuilt, str):
            return rebuilt
    depth = (_linear_layers(model.encoder), _linear_layers(model.decoder))
    if min(depth) < 2:
        return (
            f"the encoder has {depth[0]} and the decoder {depth[1]} nn.Linear layers; "
            "give each at least two (a hidden layer each)"
        )
    x = inputs["x"]  # (3, 784)
    with torch.no_grad():
        for latent_dim, rebuilt in ((k, model), (inputs["other"], sized)):
            z = rebuilt.encoder(x)
            if tuple(z.shape) != (3, latent_dim):
                return (
                    f"with latent_dim={latent_dim} the encoder maps (3, 784) to {tuple(z.shape)}, "
                    f"expected the code (3, {latent_dim})"
                )
        x_hat = model(x)
    if tuple(x_hat.shape) != (3, 28 * 28):
        return f"the model maps (3, 784) to {tuple(x_hat.shape)}, expected (3, 784)"
    count = sum(p.numel() for p in model.parameters())
    if count > budgets.MAX_PARAMETERS:
        return f"{count:,} parameters is too many for the check's short training: stay under {budgets.MAX_PARAMETERS:,}"
    test_mse = budgets.budget_test_mse(model.train())
    if not math.isfinite(test_mse):
        return "the test MSE is not finite after training: check the layers and the output activation"
    pca_mse = budgets.pca_test_mse()
    if test_mse >= pca_mse:
        return (
            f"after the check's training your test MSE is {test_mse:.4f} "
            f"and PCA's with {k} components is {pca_mse:.4f}; "
            "change the depth, the widths or the output activation (pixels lie in [0, 1])"
        )
    return None


DEEP_AUTOENCODER = define("1.2", deep_inputs, probe_deep_autoencoder, judge_deep_autoencoder)
