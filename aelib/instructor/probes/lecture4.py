"""Probes and judges for lecture 4: salt-and-pepper noise, PSNR, a threshold at a target FPR,
the denoising training step, anomaly scores and their AUROC."""

from __future__ import annotations

import math
from typing import Any

from . import answer, finite, judge, probe, same, type_name
from .lecture1 import _draw, _int

# --- 4.1 salt_and_pepper(x, amount, generator) ---------------------------------------------


def _noise_setting(seed: int) -> tuple[Any, list[float], int]:
    """Return hidden grey images (n, 1, 28, 28) strictly inside (0, 1), the amounts, and a generator seed."""
    import torch

    g = _draw(seed)
    x = 0.1 + 0.8 * torch.rand(_int(g, 56, 64), 1, 28, 28, generator=g)  # about 50,000 pixels: fractions to +-0.002
    amounts = [0.0, _int(g, 5, 40) / 100, _int(g, 41, 90) / 100, 1.0]
    return x, amounts, _int(g, 0, 2**30)


@probe("4.1", forbid=("aelib.noise.add_salt_and_pepper",))
def ask_salt_and_pepper(seed: int, salt_and_pepper: Any) -> dict:
    import torch

    x, amounts, noise_seed = _noise_setting(seed)
    outputs = [answer(salt_and_pepper(x, amount, torch.Generator().manual_seed(noise_seed))) for amount in amounts]
    repeats = []
    for global_seed, generator_seed in (
        (noise_seed + 1, noise_seed),
        (noise_seed + 2, noise_seed),
        (noise_seed + 2, noise_seed + 3),
    ):
        torch.manual_seed(global_seed)  # the noise must come from `generator`, not from the global seed
        repeats.append(answer(salt_and_pepper(x, 0.2, torch.Generator().manual_seed(generator_seed))))
    return {"outputs": outputs, "repeats": repeats, "input_after": answer(x)}


@judge("4.1")
def judge_salt_and_pepper(seed: int, answers: dict) -> str | None:
    import torch

    x, amounts, _ = _noise_setting(seed)
    if not same(answers["input_after"], x, rtol=0, atol=0):
        return "x was modified in place: return a new tensor and leave the input as it was"
    for amount, out in zip(amounts, answers["outputs"], strict=True):
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            return (
                f"expected a tensor of shape {tuple(x.shape)}, got "
                f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type_name(out)}"
            )
        out = out.to(x.dtype) if out.is_floating_point() else out.float()
        salt, pepper, kept = (out == 1), (out == 0), (out == x)
        if not (salt | pepper | kept).all():
            return "every pixel must stay as it was or become exactly 0 or exactly 1"
        if abs(salt.float().mean().item() - amount / 2) > 0.01 or abs(pepper.float().mean().item() - amount / 2) > 0.01:
            return (
                f"with amount={amount}, about {amount / 2:.0%} of pixels should become 1 and {amount / 2:.0%} become 0"
            )
    first, again, other = answers["repeats"]
    if not all(isinstance(t, torch.Tensor) and t.shape == x.shape for t in (first, again, other)):
        return f"expected a tensor of shape {tuple(x.shape)} for amount=0.2"
    if not torch.equal(first, again):
        return "the same generator seed must give the same noise: draw the random numbers with `generator=generator`"
    if torch.equal(first, other):
        return "different seeds gave identical noise: draw fresh random numbers from `generator`"
    return None


# --- 4.2 psnr(x, x_hat, data_range=1.0) ----------------------------------------------------


def _psnr_cases(seed: int) -> list[tuple[Any, Any, float]]:
    import torch

    g = _draw(seed)
    shapes = [
        (_int(g, 1, 6), 1, _int(g, 4, 28), _int(g, 4, 28)),
        (_int(g, 1, 6), _int(g, 10, 784)),
        (_int(g, 1, 4), 3, _int(g, 4, 9), _int(g, 4, 9)),
    ]
    cases = []
    for shape, data_range in zip(shapes, (1.0, 1.0, float(_int(g, 2, 255))), strict=True):
        x = data_range * torch.rand(shape, generator=g)
        x_hat = (x + 0.1 * data_range * torch.randn(shape, generator=g)).clamp(0, data_range)
        cases.append((x, x_hat, data_range))
    zeros = torch.zeros(2, 1, 4, 4)
    cases.append((zeros, zeros + 0.1, 1.0))  # MSE 0.01: 20 dB
    return cases


@probe("4.2", forbid=("aelib.metrics.psnr",))
def ask_psnr(seed: int, psnr: Any) -> dict:
    return {"values": [answer(psnr(x, x_hat, data_range=data_range)) for x, x_hat, data_range in _psnr_cases(seed)]}


@judge("4.2")
def judge_psnr(seed: int, answers: dict) -> str | None:
    import torch

    for (x, x_hat, data_range), got in zip(_psnr_cases(seed), answers["values"], strict=True):
        mse = ((x.double() - x_hat.double()) ** 2).flatten(1).mean(dim=1)  # (N,)
        want = 10 * torch.log10(data_range**2 / mse)
        if not isinstance(got, torch.Tensor) or got.shape != (x.shape[0],):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type_name(got)
            return f"expected one PSNR per image, a tensor of shape ({x.shape[0]},), got {shape}"
        if not same(got, want, rtol=1e-4, atol=1e-4):
            if float(want[0]) == 20.0:
                return "an error of 0.1 on every pixel (MSE 0.01) should give 20 dB"
            return (
                f"for images of shape {tuple(x.shape[1:])} with data_range={data_range}, got "
                f"{got[0].item():.3f} dB instead of {want[0].item():.3f} dB"
            )
    return None


# --- 4.3 threshold_at_fpr(normal_scores, fpr) ----------------------------------------------


def _threshold_cases(seed: int) -> list[tuple[Any, float]]:
    import numpy as np

    rng = np.random.default_rng(seed)
    fprs = [0.0, 0.01, 0.05, 0.1, 0.2]
    draws = [
        rng.normal(size=int(rng.integers(10, 300))),
        rng.exponential(size=int(rng.integers(100, 1000))),
        rng.uniform(size=int(rng.integers(5, 80))),
        np.round(rng.normal(size=int(rng.integers(20, 200))), 1),
    ]  # the last with ties
    return [(scores, fprs[int(rng.integers(0, len(fprs)))]) for scores in draws] + [(rng.normal(size=10), 0.0)]


@probe("4.3", forbid=("aelib.metrics.threshold_at_fpr",))
def ask_threshold_at_fpr(seed: int, threshold_at_fpr: Any) -> dict:
    thresholds = []
    for scores, fpr in _threshold_cases(seed):
        result = threshold_at_fpr(scores.copy(), fpr)
        try:
            thresholds.append(float(result))
        except (TypeError, ValueError):
            thresholds.append({"type": type(result).__name__})
    return {"thresholds": thresholds}


@judge("4.3")
def judge_threshold_at_fpr(seed: int, answers: dict) -> str | None:
    import numpy as np

    for (scores, fpr), t in zip(_threshold_cases(seed), answers["thresholds"], strict=True):
        if not isinstance(t, float) or math.isnan(t):
            return f"return the threshold as a number, got {type_name(t)}"
        flagged = float(np.mean(scores > t))
        if flagged > fpr + 1e-12:
            return (
                f"with {len(scores)} normal scores and fpr={fpr}, your threshold flags {flagged:.1%} of them: too many"
            )
        best = max(
            f for f in (float(np.mean(scores > c)) for c in np.unique(scores)) if f <= fpr + 1e-12
        )  # ties may forbid fpr itself
        if flagged < best - 1e-12:
            return (
                f"with {len(scores)} normal scores and fpr={fpr}, your threshold flags only {flagged:.1%} of "
                "them: it could be lower"
            )
    return None


# --- 4.4 denoising_step(model, optimizer, x, sigma, generator) -----------------------------


def _step_setting(seed: int) -> tuple[Any, float, int, int]:
    """Return a hidden clean batch (16, 1, 8, 8), sigma, the noise seed and the model's seed."""
    import torch

    g = _draw(seed)
    x = 0.1 + 0.8 * torch.rand(16, 1, 8, 8, generator=g)
    return x, _int(g, 10, 60) / 100, _int(g, 0, 2**30), _int(g, 0, 2**30)


@probe("4.4")
def ask_denoising_step(seed: int, denoising_step: Any) -> dict:
    import torch

    from ...exercises.lecture4 import _tiny_autoencoder

    x, sigma, noise_seed, model_seed = _step_setting(seed)
    steps = []
    for global_seed, generator_seed in (
        (model_seed + 1, noise_seed),
        (model_seed + 2, noise_seed),
    ):  # the same step twice
        model = _tiny_autoencoder(seed=model_seed)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        torch.manual_seed(global_seed)
        loss = denoising_step(model, optimizer, x, sigma, torch.Generator().manual_seed(generator_seed))
        try:
            loss = float(loss)
        except (TypeError, ValueError, RuntimeError):
            loss = {"type": type(loss).__name__}
        after_first = [answer(p) for p in model.parameters()]
        denoising_step(model, optimizer, x, sigma, torch.Generator().manual_seed(generator_seed + 1))
        steps.append({"loss": loss, "first": after_first, "second": [answer(p) for p in model.parameters()]})
    return {"steps": steps, "input_after": answer(x)}


@judge("4.4")
def judge_denoising_step(seed: int, answers: dict) -> str | None:
    import torch
    import torch.nn.functional as F

    from ...exercises.lecture4 import _reference_step, _step_mistake, _tiny_autoencoder
    from ...noise import add_gaussian_noise

    x, sigma, noise_seed, model_seed = _step_setting(seed)
    if not same(answers["input_after"], x, rtol=0, atol=0):
        return "the clean batch x was modified in place: corrupt a copy (aelib.add_gaussian_noise returns one)"
    start = _tiny_autoencoder(seed=model_seed)
    first, rerun = answers["steps"]
    stepped = _tiny_autoencoder(seed=model_seed)
    if len(first["first"]) != len(list(stepped.parameters())):
        raise ValueError("the probe saved another number of parameters")
    with torch.no_grad():
        for p, saved in zip(stepped.parameters(), first["first"], strict=True):
            p.copy_(saved)
    expected = _reference_step(start, x, sigma, noise_seed)
    if not all(same(a, b) for a, b in zip(first["first"], expected.parameters(), strict=True)):
        if not all(same(a, b) for a, b in zip(first["first"], rerun["first"], strict=True)):
            return (
                "the same generator gave different steps: draw the noise from `generator`, e.g. "
                "aelib.add_gaussian_noise(x, sigma, generator=generator)"
            )
        return _step_mistake(start, stepped, x, sigma, noise_seed)
    with torch.no_grad():
        noisy = add_gaussian_noise(x, sigma, generator=torch.Generator().manual_seed(noise_seed))
        expected_loss = F.mse_loss(start(noisy), x).item()
    if not finite(first["loss"]):
        return f"return the loss as a number (loss.item()), got {type_name(first['loss'])}"
    if not math.isclose(first["loss"], expected_loss, rel_tol=1e-4, abs_tol=1e-7):
        return (
            f"the step is right but it returned {first['loss']:.5f} instead of the batch's loss before the "
            f"step, {expected_loss:.5f}"
        )
    second = _reference_step(expected, x, sigma, noise_seed + 1)
    if not all(same(a, b) for a, b in zip(first["second"], second.parameters(), strict=True)):
        return (
            "a second step went wrong: the gradients of the first step were kept; call optimizer.zero_grad() "
            "before loss.backward()"
        )
    return None


# --- 4.5 anomaly_auroc(model, normal_images, anomalous_images) -----------------------------


def _auroc_setting(seed: int) -> tuple[Any, Any, Any]:
    """Return a small batch-norm autoencoder (in training mode) and normal and anomalous images (1, 8, 8), by seed."""
    import torch

    from ...exercises.lecture4 import _tiny_autoencoder

    g = _draw(seed)
    model = _tiny_autoencoder(seed=_int(g, 0, 2**30), batch_norm=True)
    with torch.no_grad():  # running statistics unlike any one batch's, so that train mode shows
        model[1].running_mean.uniform_(-0.5, 0.5, generator=g)
        model[1].running_var.uniform_(0.5, 2.0, generator=g)
    normal = 0.5 + 0.15 * (2 * torch.rand(_int(g, 30, 50), 1, 8, 8, generator=g) - 1)
    count = _int(g, 20, 40)
    spread = 0.1 + 0.2 * torch.rand(count, 1, 1, 1, generator=g)
    anomalous = 0.5 + spread * (2 * torch.rand(count, 1, 8, 8, generator=g) - 1)
    return model.train(), normal, anomalous


@probe("4.5")
def ask_anomaly_auroc(seed: int, anomaly_auroc: Any) -> dict:
    model, normal, anomalous = _auroc_setting(seed)
    result = anomaly_auroc(model, normal.clone(), anomalous.clone())
    if not isinstance(result, tuple) or len(result) != 2:
        return {"pair": False, "type": type(result).__name__}
    scores, auroc = result
    try:
        auroc = float(auroc)
    except (TypeError, ValueError):
        auroc = {"type": type(auroc).__name__}
    return {"pair": True, "scores": answer(scores), "auroc": auroc}


@judge("4.5")
def judge_anomaly_auroc(seed: int, answers: dict) -> str | None:
    import numpy as np
    import torch
    from sklearn.metrics import roc_auc_score

    model, normal, anomalous = _auroc_setting(seed)
    if not answers["pair"]:
        return f"return a pair (scores, auroc), got {type_name(answers)}"
    images = torch.cat([normal, anomalous])
    with torch.no_grad():
        expected_scores = ((model.eval()(images) - images) ** 2).flatten(1).mean(dim=1).double().numpy()
    labels = np.r_[np.zeros(len(normal)), np.ones(len(anomalous))]
    expected_auroc = roc_auc_score(labels, expected_scores)
    scores = answers["scores"]
    if isinstance(scores, list) and all(finite(s) for s in scores):
        scores = torch.tensor(scores, dtype=torch.float64)
    if not isinstance(scores, torch.Tensor):
        return f"return the scores as a tensor or an array, got {type_name(scores)}"
    scores = scores.double().flatten().numpy()
    n = len(normal)
    if scores.shape != expected_scores.shape:
        return (
            f"expected one score per image, {len(expected_scores)} in all (normal first, then anomalous), "
            f"got {scores.size}: average over each image's pixels only"
        )
    if np.allclose(scores, expected_scores[::-1], rtol=1e-4) or np.allclose(
        scores, np.r_[expected_scores[n:], expected_scores[:n]], rtol=1e-4
    ):
        return "the scores are in the wrong order: the normal images first, then the anomalous ones"
    if np.allclose(scores, expected_scores * 64, rtol=1e-4):
        return "the scores are sums of squared errors: take the mean over each image's pixels"
    if not np.allclose(scores, expected_scores, rtol=1e-4, atol=1e-7):
        return (
            "the scores differ from each image's mean squared reconstruction error: is the model in eval "
            "mode (model.eval())?"
        )
    auroc = answers["auroc"]
    if not finite(auroc):
        return f"return the AUROC as a number, got {type_name(auroc)}"
    if math.isclose(auroc, 1 - expected_auroc, abs_tol=1e-6) and not math.isclose(expected_auroc, 0.5):
        return "the AUROC is 1 minus the right one: label the anomalies 1 (the positive class) and the normal images 0"
    if not math.isclose(auroc, expected_auroc, abs_tol=1e-6):
        return (
            f"the AUROC is {auroc:.4f} instead of {expected_auroc:.4f}: pass the labels and the raw scores "
            "(not thresholded ones) to roc_auc_score"
        )
    return None
