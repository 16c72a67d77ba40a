"""Checks for lecture 4's exercises: salt-and-pepper noise, PSNR, a threshold at a target FPR,
the denoising training step, and anomaly scores with their AUROC."""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..metrics import psnr as reference_psnr
from ..noise import add_gaussian_noise
from . import exercise

__all__ = [
    "check_salt_and_pepper",
    "check_psnr",
    "check_threshold_at_fpr",
    "check_denoising_step",
    "check_anomaly_auroc",
]


def _grey_images(n: int, seed: int) -> torch.Tensor:
    """Return n images (n, 1, 28, 28) with values strictly inside (0, 1), so that salt and pepper are visible."""
    return 0.1 + 0.8 * torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


@exercise("4.1")
def check_salt_and_pepper(salt_and_pepper) -> str | None:
    """Check `salt_and_pepper(x, amount, generator)` on grey images, several amounts and seeds."""
    x = _grey_images(64, seed=0)  # 50,176 pixels: fractions are measured to about +-0.002
    original = x.clone()
    for amount in (0.0, 0.1, 0.3, 1.0):
        out = salt_and_pepper(x, amount, torch.Generator().manual_seed(1))
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            return f"expected a tensor of shape {tuple(x.shape)}, got {getattr(out, 'shape', type(out).__name__)}"
        if not torch.equal(x, original):
            return "x was modified in place: return a new tensor and leave the input as it was"
        salt, pepper, kept = (out == 1), (out == 0), (out == x)
        if not (salt | pepper | kept).all():
            return "every pixel must stay as it was or become exactly 0 or exactly 1"
        if abs(salt.float().mean().item() - amount / 2) > 0.01 or abs(pepper.float().mean().item() - amount / 2) > 0.01:
            return (
                f"with amount={amount}, about {amount / 2:.0%} of pixels should become 1 and {amount / 2:.0%} become 0"
            )
    with torch.random.fork_rng():  # the student's function must draw from `generator`, not from the global seed
        torch.manual_seed(100)
        first = salt_and_pepper(x, 0.2, torch.Generator().manual_seed(7))
        torch.manual_seed(200)
        again = salt_and_pepper(x, 0.2, torch.Generator().manual_seed(7))
    if not torch.equal(first, again):
        return "the same generator seed must give the same noise: draw the random numbers with `generator=generator`"
    if torch.equal(first, salt_and_pepper(x, 0.2, torch.Generator().manual_seed(8))):
        return "different seeds gave identical noise: draw fresh random numbers from `generator`"
    return None


@exercise("4.2")
def check_psnr(psnr) -> str | None:
    """Check `psnr(x, x_hat, data_range=1.0)` against the definition on several shapes and ranges."""
    g = torch.Generator().manual_seed(0)
    cases = [((5, 1, 28, 28), 1.0), ((3, 1, 7, 7), 1.0), ((4, 784), 1.0), ((2, 3, 8, 8), 255.0)]
    for shape, data_range in cases:
        x = data_range * torch.rand(shape, generator=g)
        x_hat = (x + 0.1 * data_range * torch.randn(shape, generator=g)).clamp(0, data_range)
        got = psnr(x, x_hat, data_range=data_range)
        if not isinstance(got, torch.Tensor) or got.shape != (shape[0],):
            return (
                f"expected one PSNR per image, a tensor of shape ({shape[0]},), "
                f"got {getattr(got, 'shape', type(got).__name__)}"
            )
        expected = reference_psnr(x, x_hat, data_range=data_range)
        if not torch.allclose(got.double(), expected.double(), rtol=1e-4, atol=1e-4):
            return (
                f"for images of shape {shape[1:]} with data_range={data_range}, got "
                f"{got[0].item():.3f} dB instead of {expected[0].item():.3f} dB"
            )
    x = torch.zeros(2, 1, 4, 4)
    if not torch.allclose(
        psnr(x, x + 0.1, data_range=1.0).double(), torch.full((2,), 20.0, dtype=torch.float64), atol=1e-3
    ):
        return "an error of 0.1 on every pixel (MSE 0.01) should give 20 dB"
    return None


@exercise("4.3")
def check_threshold_at_fpr(threshold_at_fpr) -> str | None:
    """Check `threshold_at_fpr(normal_scores, fpr)`: it flags at most `fpr` of the normal scores, and no fewer."""
    rng = np.random.default_rng(0)
    cases = [
        (np.arange(1.0, 21.0), 0.05),
        (rng.normal(size=200), 0.05),
        (rng.exponential(size=1000), 0.01),
        (rng.uniform(size=57), 0.2),
        (rng.normal(size=10), 0.0),
    ]
    for scores, fpr in cases:
        t = float(threshold_at_fpr(scores.copy(), fpr))
        flagged = float(np.mean(scores > t))
        if flagged > fpr + 1e-12:
            return (
                f"with {len(scores)} normal scores and fpr={fpr}, your threshold flags {flagged:.1%} of them: too many"
            )
        if flagged <= fpr - 1 / len(scores) + 1e-12:
            return (
                f"with {len(scores)} normal scores and fpr={fpr}, your threshold flags only "
                f"{flagged:.1%} of them: it could be lower"
            )
    return None


def _tiny_autoencoder(seed: int, *, batch_norm: bool = False) -> nn.Module:
    """Return a small conv autoencoder for 1 x 8 x 8 images, with fixed random weights."""
    torch.manual_seed(seed)
    norm = [nn.BatchNorm2d(4)] if batch_norm else []
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2, padding=1),
        *norm,
        nn.ReLU(),  # 8x8 => 4x4
        nn.ConvTranspose2d(4, 1, 3, stride=2, padding=1, output_padding=1),
        nn.Sigmoid(),  # 4x4 => 8x8
    )


def _reference_step(
    model: nn.Module,
    x: torch.Tensor,
    sigma: float,
    seed: int,
    *,
    noisy_input: bool = True,
    clean_target: bool = True,
    clip: bool = True,
    reduction: str = "mean",
    zero_grad: bool = True,
) -> nn.Module:
    """Return a copy of `model` after one SGD step of the denoising loss (or of one of its typical mistakes)."""
    model = copy.deepcopy(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    noisy = add_gaussian_noise(x, sigma, generator=torch.Generator().manual_seed(seed), clip=clip)
    x_hat = model(noisy if noisy_input else x)
    loss = F.mse_loss(x_hat, x if clean_target else noisy, reduction=reduction)
    if zero_grad:
        optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return model


def _same_parameters(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.allclose(p, q, rtol=1e-4, atol=1e-6) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def _step_mistake(model_before: nn.Module, model_after: nn.Module, x: torch.Tensor, sigma: float, seed: int) -> str:
    """Name the mistake whose reference step matches the student's step, or describe the mismatch."""
    if _same_parameters(model_before, model_after):
        return "the parameters did not change: call loss.backward() and then optimizer.step()"
    mistakes = [
        (
            dict(clean_target=False),
            "the loss compares the output with the noisy batch: the target must be the clean batch",
        ),
        (dict(noisy_input=False), "the model was fed the clean batch: corrupt it first and feed the noisy batch"),
        (
            dict(noisy_input=False, clean_target=False),
            "no noise reached the model: corrupt the batch and feed the noisy version",
        ),
        (dict(clip=False), "the noisy batch was not clipped to [0, 1]: use aelib.add_gaussian_noise (it clips)"),
        (
            dict(reduction="sum"),
            "the loss is a sum over pixels: use the mean squared error (F.mse_loss or nn.MSELoss())",
        ),
    ]
    for changes, hint in mistakes:
        if _same_parameters(_reference_step(model_before, x, sigma, seed, **changes), model_after):
            return hint
    return (
        "the parameters after your step differ from one step of MSE(model(noisy batch), "
        "clean batch): check the noise, the loss and the order zero_grad, backward, step"
    )


@exercise("4.4")
def check_denoising_step(denoising_step) -> str | None:
    """Check `denoising_step(model, optimizer, x, sigma, generator)`: one SGD step of MSE(model(noisy x), x)."""
    x = _grey_images(16, seed=3)[:, :, :8, :8]  # (16, 1, 8, 8)
    sigma, seed = 0.3, 11
    model = _tiny_autoencoder(seed=0)
    start = copy.deepcopy(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    original = x.clone()
    with torch.random.fork_rng():
        torch.manual_seed(123)  # the step must draw its noise from `generator`, not from this global seed
        loss = denoising_step(model, optimizer, x, sigma, torch.Generator().manual_seed(seed))
    if not torch.equal(x, original):
        return "the clean batch x was modified in place: corrupt a copy (aelib.add_gaussian_noise returns one)"
    expected = _reference_step(start, x, sigma, seed)
    if not _same_parameters(expected, model):
        rerun = copy.deepcopy(start)
        with torch.random.fork_rng():
            torch.manual_seed(456)
            denoising_step(
                rerun, torch.optim.SGD(rerun.parameters(), lr=0.5), x, sigma, torch.Generator().manual_seed(seed)
            )
        if not _same_parameters(rerun, model) and not _same_parameters(start, model):
            return (
                "the same generator gave different steps: draw the noise from `generator`, e.g. "
                "aelib.add_gaussian_noise(x, sigma, generator=generator)"
            )
        return _step_mistake(start, model, x, sigma, seed)
    with torch.no_grad():
        noisy = add_gaussian_noise(x, sigma, generator=torch.Generator().manual_seed(seed))
        expected_loss = F.mse_loss(start(noisy), x).item()
    try:
        loss = float(loss)
    except (TypeError, ValueError, RuntimeError):
        return f"return the loss as a number (loss.item()), got {type(loss).__name__}"
    if not np.isclose(loss, expected_loss, rtol=1e-4, atol=1e-7):
        return (
            f"the step is right but it returned {loss:.5f} instead of the batch's loss before "
            f"the step, {expected_loss:.5f}"
        )
    second = _reference_step(expected, x, sigma, seed + 1)
    denoising_step(model, optimizer, x, sigma, torch.Generator().manual_seed(seed + 1))
    if not _same_parameters(second, model):
        return (
            "a second step went wrong: the gradients of the first step were kept; call "
            "optimizer.zero_grad() before loss.backward()"
        )
    return None


@exercise("4.5")
def check_anomaly_auroc(anomaly_auroc) -> str | None:
    """Check `anomaly_auroc(model, normal_images, anomalous_images)` -> (scores (N_normal + N_anomalous,), AUROC)."""
    from sklearn.metrics import roc_auc_score

    g = torch.Generator().manual_seed(5)
    model = _tiny_autoencoder(seed=1, batch_norm=True)
    with torch.no_grad():  # give the batch norm running statistics unlike any one batch's, so train mode shows
        model[1].running_mean.uniform_(-0.5, 0.5, generator=g)
        model[1].running_var.uniform_(0.5, 2.0, generator=g)
    normal = 0.5 + 0.15 * (2 * torch.rand(40, 1, 8, 8, generator=g) - 1)  # grey images with mild texture
    spread = 0.1 + 0.2 * torch.rand(30, 1, 1, 1, generator=g)  # anomalies: more texture, overlapping the normal range
    anomalous = 0.5 + spread * (2 * torch.rand(30, 1, 8, 8, generator=g) - 1)
    images = torch.cat([normal, anomalous])  # (70, 1, 8, 8)
    with torch.no_grad():
        expected_scores = ((model.eval()(images) - images) ** 2).flatten(1).mean(dim=1).numpy()  # (70,)
    model.train()  # handed over in training mode, as right after a training loop
    labels = np.r_[np.zeros(len(normal)), np.ones(len(anomalous))]
    expected_auroc = roc_auc_score(labels, expected_scores)
    result = anomaly_auroc(model, normal.clone(), anomalous.clone())
    if not isinstance(result, tuple) or len(result) != 2:
        return f"return a pair (scores, auroc), got {type(result).__name__}"
    scores, auroc = result
    scores = np.asarray(scores.detach().cpu() if isinstance(scores, torch.Tensor) else scores, dtype=np.float64).ravel()
    if scores.shape != expected_scores.shape:
        return (
            f"expected one score per image, {len(expected_scores)} in all (normal first, then "
            f"anomalous), got {scores.size}: average over each image's pixels only"
        )
    if np.allclose(scores, expected_scores[::-1].copy(), rtol=1e-4) or np.allclose(
        scores, np.r_[expected_scores[40:], expected_scores[:40]], rtol=1e-4
    ):
        return "the scores are in the wrong order: the normal images first, then the anomalous ones"
    if np.allclose(scores, expected_scores * 64, rtol=1e-4):
        return "the scores are sums of squared errors: take the mean over each image's pixels"
    if not np.allclose(scores, expected_scores, rtol=1e-4, atol=1e-7):
        return (
            "the scores differ from each image's mean squared reconstruction error: is the "
            "model in eval mode (model.eval())?"
        )
    auroc = float(auroc)
    if np.isclose(auroc, 1 - expected_auroc, atol=1e-6) and not np.isclose(expected_auroc, 0.5):
        return "the AUROC is 1 minus the right one: label the anomalies 1 (the positive class) and the normal images 0"
    if not np.isclose(auroc, expected_auroc, atol=1e-6):
        return (
            f"the AUROC is {auroc:.4f} instead of {expected_auroc:.4f}: pass the labels and "
            "the raw scores (not thresholded ones) to roc_auc_score"
        )
    return None
