"""Exercises 4.2 (PSNR), 4.3 (a threshold at a target false-positive rate) and 4.5 (anomaly scores and their
AUROC): each defined once (see aelib.exercises). Exercise 4.4, which uses 4.3's threshold, is in `operating_point`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from .. import define
from ..answers import answer, draw, draw_int, finite, same, type_name

__all__ = ["PSNR", "THRESHOLD_AT_FPR", "ANOMALY_AUROC"]

# --- 4.2 psnr(x, x_hat, data_range=1.0) ----------------------------------------------------

_TWENTY_DB = "an error of 0.1 on every pixel (MSE 0.01) should give 20 dB"


def psnr_cases(seed: int | None) -> list[tuple[torch.Tensor, torch.Tensor, float]]:
    """Return (x, x_hat, data_range) cases of several shapes and ranges, the last an error of 0.1 everywhere."""
    g = draw(0 if seed is None else seed)
    if seed is None:
        settings = [((5, 1, 28, 28), 1.0), ((3, 1, 7, 7), 1.0), ((4, 784), 1.0), ((2, 3, 8, 8), 255.0)]
    else:
        shapes = [
            (draw_int(g, 1, 6), 1, draw_int(g, 4, 28), draw_int(g, 4, 28)),
            (draw_int(g, 1, 6), draw_int(g, 10, 784)),
            (draw_int(g, 1, 4), 3, draw_int(g, 4, 9), draw_int(g, 4, 9)),
        ]
        settings = list(zip(shapes, (1.0, 1.0, float(draw_int(g, 2, 255))), strict=True))
    cases = []
    for shape, data_range in settings:
        x = data_range * torch.rand(shape, generator=g)
        x_hat = (x + 0.1 * data_range * torch.randn(shape, generator=g)).clamp(0, data_range)
        cases.append((x, x_hat, data_range))
    zeros = torch.zeros(2, 1, 4, 4)
    return [*cases, (zeros, zeros + 0.1, 1.0)]  # MSE 0.01: 20 dB


def probe_psnr(inputs: list, psnr: Any) -> dict:
    return {"values": [answer(psnr(x, x_hat, data_range=data_range)) for x, x_hat, data_range in inputs]}


def judge_psnr(inputs: list, answers: dict) -> str | None:
    """Compare with 10 log10(data_range^2 / MSE), one value per image."""
    for index, ((x, x_hat, data_range), got) in enumerate(zip(inputs, answers["values"], strict=True)):
        mse = ((x.double() - x_hat.double()) ** 2).flatten(1).mean(dim=1)  # (N,)
        want = 10 * torch.log10(data_range**2 / mse)
        if not isinstance(got, torch.Tensor) or got.shape != (x.shape[0],):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type_name(got)
            return f"expected one PSNR per image, a tensor of shape ({x.shape[0]},), got {shape}"
        if not same(got, want, rtol=1e-4, atol=1e-4):
            if index == len(inputs) - 1:
                return _TWENTY_DB
            return (
                f"for images of shape {tuple(x.shape[1:])} with data_range={data_range}, got "
                f"{got[0].item():.3f} dB instead of {want[0].item():.3f} dB"
            )
    return None


PSNR = define("4.2", psnr_cases, probe_psnr, judge_psnr, forbid=("aelib.metrics.psnr",))

# --- 4.3 threshold_at_fpr(normal_scores, fpr) ----------------------------------------------


def threshold_cases(seed: int | None) -> list[tuple[np.ndarray, float]]:
    """Return (normal scores, fpr) cases: several distributions, one with ties, and fpr 0."""
    rng = np.random.default_rng(0 if seed is None else seed)
    if seed is None:
        return [
            (np.arange(1.0, 21.0), 0.05),
            (rng.normal(size=200), 0.05),
            (rng.exponential(size=1000), 0.01),
            (rng.uniform(size=57), 0.2),
            (rng.normal(size=10), 0.0),
        ]
    fprs = [0.0, 0.01, 0.05, 0.1, 0.2]
    draws = [
        rng.normal(size=int(rng.integers(10, 300))),
        rng.exponential(size=int(rng.integers(100, 1000))),
        rng.uniform(size=int(rng.integers(5, 80))),
        np.round(rng.normal(size=int(rng.integers(20, 200))), 1),  # with ties
    ]
    return [(scores, fprs[int(rng.integers(0, len(fprs)))]) for scores in draws] + [(rng.normal(size=10), 0.0)]


def best_flag_rate(scores: np.ndarray, fpr: float) -> float:
    """Return the largest share of `scores` that a threshold can flag (score > threshold) without exceeding fpr."""
    ordered = np.sort(scores)
    flagged = (len(ordered) - np.searchsorted(ordered, np.unique(ordered), side="right")) / len(ordered)  # per score
    return float(flagged[flagged <= fpr + 1e-12].max())


def probe_threshold_at_fpr(inputs: list, threshold_at_fpr: Any) -> dict:
    thresholds = []
    for scores, fpr in inputs:
        result = threshold_at_fpr(scores.copy(), fpr)
        try:
            thresholds.append(float(result))
        except (TypeError, ValueError):
            thresholds.append({"type": type(result).__name__})
    return {"thresholds": thresholds}


def judge_threshold_at_fpr(inputs: list, answers: dict) -> str | None:
    """Check that the threshold flags at most `fpr` of the normal scores, and as many as ties allow."""
    for (scores, fpr), t in zip(inputs, answers["thresholds"], strict=True):
        if not isinstance(t, float) or math.isnan(t):
            return f"return the threshold as a number, got {type_name(t)}"
        flagged = float(np.mean(scores > t))
        if flagged > fpr + 1e-12:
            return (
                f"with {len(scores)} normal scores and fpr={fpr}, your threshold flags {flagged:.1%} of them: too many"
            )
        if flagged < best_flag_rate(scores, fpr) - 1e-12:
            return (
                f"with {len(scores)} normal scores and fpr={fpr}, your threshold flags only "
                f"{flagged:.1%} of them: it could be lower"
            )
    return None


THRESHOLD_AT_FPR = define(
    "4.3", threshold_cases, probe_threshold_at_fpr, judge_threshold_at_fpr, forbid=("aelib.metrics.threshold_at_fpr",)
)

# --- 4.5 anomaly_auroc(model, normal_images, anomalous_images) -----------------------------


def tiny_autoencoder(seed: int, *, batch_norm: bool = False) -> nn.Module:
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


def auroc_setting(seed: int | None) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """Return a small batch-norm autoencoder in training mode (as after a training loop), and normal and
    anomalous images (1, 8, 8): grey with mild texture, and with more texture, overlapping the normal range."""
    g = draw(5 if seed is None else seed)
    model = tiny_autoencoder(seed=1 if seed is None else draw_int(g, 0, 2**30), batch_norm=True)
    with torch.no_grad():  # running statistics unlike any one batch's, so that train mode shows
        model[1].running_mean.uniform_(-0.5, 0.5, generator=g)
        model[1].running_var.uniform_(0.5, 2.0, generator=g)
    normal = 0.5 + 0.15 * (2 * torch.rand(40 if seed is None else draw_int(g, 30, 50), 1, 8, 8, generator=g) - 1)
    count = 30 if seed is None else draw_int(g, 20, 40)
    spread = 0.1 + 0.2 * torch.rand(count, 1, 1, 1, generator=g)
    anomalous = 0.5 + spread * (2 * torch.rand(count, 1, 8, 8, generator=g) - 1)
    return model.train(), normal, anomalous


def probe_anomaly_auroc(inputs: tuple, anomaly_auroc: Any) -> dict:
    model, normal, anomalous = inputs
    result = anomaly_auroc(model, normal.clone(), anomalous.clone())
    if not isinstance(result, tuple) or len(result) != 2:
        return {"pair": False, "type": type(result).__name__}
    scores, auroc = result
    if isinstance(scores, np.ndarray) and scores.dtype.kind in "biuf":
        scores = torch.from_numpy(scores.astype(np.float64))
    try:
        auroc = float(auroc)
    except (TypeError, ValueError):
        auroc = {"type": type(auroc).__name__}
    return {"pair": True, "scores": answer(scores), "auroc": auroc}


def judge_anomaly_auroc(inputs: tuple, answers: dict) -> str | None:
    """Compare the scores with each image's mean squared reconstruction error in eval mode, and the AUROC."""
    model, normal, anomalous = inputs
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
            "the scores differ from each image's mean squared reconstruction error: "
            "is the model in eval mode (model.eval())?"
        )
    auroc = answers["auroc"]
    if not finite(auroc):
        return f"return the AUROC as a number, got {type_name(auroc)}"
    if math.isclose(auroc, 1 - expected_auroc, abs_tol=1e-6) and not math.isclose(expected_auroc, 0.5):
        return "the AUROC is 1 minus the right one: label the anomalies 1 (the positive class) and the normal images 0"
    if not math.isclose(auroc, expected_auroc, abs_tol=1e-6):
        return (
            f"the AUROC is {auroc:.4f} instead of {expected_auroc:.4f}: pass the labels and "
            "the raw scores (not thresholded ones) to roc_auc_score"
        )
    return None


ANOMALY_AUROC = define("4.5", auroc_setting, probe_anomaly_auroc, judge_anomaly_auroc)
