"""Lecture 4's exercises: salt-and-pepper noise, PSNR, a threshold at a target FPR, the operating point
it gives on new data, and anomaly scores with their AUROC.

A notebook's check cell calls one of the `check_*` functions below: it runs the
exercise's probe and judge on the fixed inputs and prints one verdict line (see
`aelib.exercises`). The exercises are defined in `noise` (4.1), `scores` (4.2, 4.3,
4.5) and `operating_point` (4.4).
"""

from __future__ import annotations

from ..running import self_check
from .noise import SALT_AND_PEPPER
from .operating_point import OPERATING_POINT
from .scores import ANOMALY_AUROC, PSNR, THRESHOLD_AT_FPR

__all__ = [
    "check_salt_and_pepper",
    "check_psnr",
    "check_threshold_at_fpr",
    "check_operating_point",
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
check_operating_point = self_check(
    OPERATING_POINT,
    "Check `operating_point(calibration_scores, normal_scores, anomaly_scores, fpr=0.01)` -> "
    "(threshold, FPR on the held-out normal scores, recall on the anomalies).",
)
check_anomaly_auroc = self_check(
    ANOMALY_AUROC,
    "Check `anomaly_auroc(model, normal_images, anomalous_images)` -> (scores (N_normal + N_anomalous,), AUROC).",
)
