"""Lecture 4's exercises: salt-and-pepper noise, PSNR, a threshold at a target FPR, the denoising
training step, and anomaly scores with their AUROC.

A notebook's check cell calls one of the `check_*` functions below: it runs the
exercise's probe and judge on the fixed inputs and prints one verdict line (see
`aelib.exercises`). The exercises are defined in `noise` (4.1, 4.4) and `scores` (4.2,
4.3, 4.5).
"""

from __future__ import annotations

from ..running import self_check
from .noise import DENOISING_STEP, SALT_AND_PEPPER
from .scores import ANOMALY_AUROC, PSNR, THRESHOLD_AT_FPR

__all__ = [
    "check_salt_and_pepper",
    "check_psnr",
    "check_threshold_at_fpr",
    "check_denoising_step",
    "check_anomaly_auroc",
]

check_salt_and_pepper = self_check(
    SALT_AND_PEPPER, "Check `salt_and_pepper(x, amount, generator)` on grey images, several amounts and seeds."
)
check_psnr = self_check(
    PSNR, "Check `psnr(x, x_hat, data_range=1.0)` against the definition on several shapes and ranges."
)
check_threshold_at_fpr = self_check(
    THRESHOLD_AT_FPR,
    "Check `threshold_at_fpr(normal_scores, fpr)`: it flags at most `fpr` of the normal scores, and no fewer.",
)
check_denoising_step = self_check(
    DENOISING_STEP,
    "Check `denoising_step(model, optimizer, x, sigma, generator)`: one SGD step of MSE(model(noisy x), x).",
)
check_anomaly_auroc = self_check(
    ANOMALY_AUROC,
    "Check `anomaly_auroc(model, normal_images, anomalous_images)` -> (scores (N_normal + N_anomalous,), AUROC).",
)
