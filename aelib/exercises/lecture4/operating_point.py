"""Exercise 4.4, an operating point at a target false-positive rate: defined once (see aelib.exercises).

The student sets a detector's threshold on normal calibration scores alone (exercise 4.3's
threshold) and reports what it does on new data: the false-positive rate on held-out
normal scores and the recall on anomaly scores. The probe also calls the student's code
with other held-out and anomaly scores: a threshold that moves with them was chosen
with data it must not see.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ...metrics import threshold_at_fpr
from .. import define
from ..answers import finite, same, type_name
from .scores import best_flag_rate

__all__ = ["OPERATING_POINT", "DEFAULT_FPR"]

DEFAULT_FPR = 0.01
_KINDS = ("calibration", "normal", "anomaly")
_NAMES = {"calibration": "calibration", "normal": "held-out normal", "anomaly": "anomaly"}


def _fits(scores: np.ndarray, flagged: np.ndarray, fpr: float) -> bool:
    """Return True if `flagged` (a mask over `scores`) flags as many of them as fpr allows, and no more."""
    return best_flag_rate(scores, fpr) - 1e-12 <= float(np.mean(flagged)) <= fpr + 1e-12


def operating_inputs(seed: int | None) -> dict:
    """Return cases of (calibration, held-out normal, anomaly) scores with ties, and their fpr (None: the default),
    and for the last case other held-out and anomaly scores, to see whether the threshold moves with them.

    The held-out normal scores drift a little above the calibration ones, as new data
    does, so that the false-positive rates on the two differ; each case has scores equal
    to the threshold among its held-out normal and anomaly scores.
    """
    rng = np.random.default_rng(44 if seed is None else [seed, 44])
    cases = []
    for fpr in (0.05, DEFAULT_FPR, None):
        sizes = rng.integers(300, 800), rng.integers(300, 800), rng.integers(100, 500)
        calibration = np.round(rng.lognormal(0.0, 0.5, sizes[0]), 2)  # rounded: ties
        normal = np.round(rng.lognormal(0.15, 0.5, sizes[1]), 2)
        anomaly = np.round(rng.lognormal(0.9, 0.6, sizes[2]), 2)
        threshold = threshold_at_fpr(calibration, DEFAULT_FPR if fpr is None else fpr)  # a score: ties show >=
        normal = np.insert(normal, rng.integers(0, len(normal), 3), threshold)
        anomaly = np.insert(anomaly, rng.integers(0, len(anomaly), 3), threshold)
        cases.append({"calibration": calibration, "normal": normal, "anomaly": anomaly, "fpr": fpr})
    last = cases[-1]
    swaps = {"anomaly": 3 * last["anomaly"] + 1, "normal": 3 * last["normal"] + 1}
    return {"cases": cases, "swaps": swaps}


def _triple(result: Any) -> Any:
    """Return the student's (threshold, fpr, recall) as three floats, an entry that is no number as its type."""
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        return {"type": type(result).__name__}
    triple = []
    for value in result:
        try:
            triple.append(float(value))
        except (TypeError, ValueError, RuntimeError):
            triple.append({"type": type(value).__name__})
    return triple


def _call(operating_point: Any, arrays: list[np.ndarray], fpr: float | None) -> Any:
    return _triple(operating_point(*arrays) if fpr is None else operating_point(*arrays, fpr=fpr))


def probe_operating_point(inputs: dict, operating_point: Any) -> dict:
    """Call operating_point on each case, on copies; keep the answers and the copies afterwards."""
    results, after = [], []
    for case in inputs["cases"]:
        arrays = [case[kind].copy() for kind in _KINDS]
        results.append(_call(operating_point, arrays, case["fpr"]))
        after.append([torch.from_numpy(np.array(a, dtype=np.float64)) for a in arrays])
    last = inputs["cases"][-1]
    swapped = {}
    for kind, scores in inputs["swaps"].items():
        arrays = [scores.copy() if k == kind else last[k].copy() for k in _KINDS]
        swapped[kind] = _call(operating_point, arrays, last["fpr"])
    return {"results": results, "arrays_after": after, "swapped": swapped}


def _form_problem(got: Any) -> str | None:
    """Return the problem of an answer that is not three finite numbers, or None."""
    if not isinstance(got, list):
        return f"return a tuple of three numbers (threshold, fpr, recall), got {type_name(got)}"
    for name, value in zip(("threshold", "false-positive rate", "recall"), got, strict=True):
        if not finite(value):
            shown = value if isinstance(value, float) else type_name(value)
            return f"the {name} should be a finite number, got {shown}"
    return None


def _threshold_problem(case: dict, threshold: float) -> str | None:
    """Return the problem of a threshold that does not flag as many calibration scores as fpr allows, or None."""
    calibration, asked = case["calibration"], case["fpr"]
    fpr = DEFAULT_FPR if asked is None else asked
    above = calibration > threshold  # what the detector flags
    if _fits(calibration, above, fpr):
        return None
    for other in (DEFAULT_FPR, 0.05, 0.1):
        if other != fpr and _fits(calibration, above, other):
            called = "the call gave no fpr, and the default is 0.01" if asked is None else f"the call asked for {fpr}"
            return f"your threshold is the one for fpr={other}, but {called}"
    flagged, n = float(np.mean(above)), len(calibration)
    at = f"with fpr={fpr}, your threshold flags {flagged:.1%} of the {n} calibration scores"
    if flagged > fpr:
        return f"{at}: more than fpr allows"
    if _fits(calibration, calibration >= threshold, fpr):
        return f"{at}: it would be right if the detector flagged score >= threshold, but it flags score > threshold"
    return f"{at}: it could be lower"


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _rate_problem(case: dict, threshold: float, got_fpr: float, got_recall: float) -> str | None:
    """Return the problem of the reported rates, naming the usual mistakes, or None."""
    calibration, normal, anomaly = (case[kind] for kind in _KINDS)
    fpr = DEFAULT_FPR if case["fpr"] is None else case["fpr"]
    everything = np.concatenate([normal, anomaly])
    false_alarms, caught = int(np.sum(normal > threshold)), int(np.sum(anomaly > threshold))
    want_fpr, want_recall = false_alarms / len(normal), caught / len(anomaly)
    if _close(got_fpr, want_fpr) and _close(got_recall, want_recall):
        return None
    if _close(got_fpr, want_recall) and _close(got_recall, want_fpr):
        return "the rates are swapped: return (threshold, fpr, recall) in this order"
    percentage = "that is a percentage: return the rate as a fraction between 0 and 1"
    if not _close(got_fpr, want_fpr):
        named = [
            (
                np.mean(normal >= threshold),
                "the false-positive rate counts the normal scores equal to the threshold: "
                "the detector flags score > threshold, not >=",
            ),
            (
                np.mean(calibration > threshold),
                "that is the false-positive rate on the calibration scores, which chose the threshold: "
                "measure it on the held-out normal scores",
            ),
            (fpr, "that is the target rate: measure the rate on the held-out normal scores"),
            (
                np.mean(everything > threshold),
                "that is the share of all images flagged: the false-positive rate counts the normal images only",
            ),
            (false_alarms / len(everything), "that divides the false alarms by all images, not by the normal ones"),
            (1 - want_fpr, "that is the share of normal images not flagged; the false-positive rate is the rest"),
            (100 * want_fpr, percentage),
            (false_alarms, "that is a count: return the rate, a fraction of the held-out normal images"),
        ]
        fallback = (
            f"with your threshold {threshold:.4g}, {got_fpr:.4g} is not the false-positive rate on the "
            f"{len(normal)} held-out normal scores"
        )
        return _named(got_fpr, named, fallback)
    caught_all = int(np.sum(everything > threshold))
    named = [
        (
            np.mean(anomaly >= threshold),
            "the recall counts the anomaly scores equal to the threshold: the detector flags score > threshold, not >=",
        ),
        (np.mean(everything > threshold), "that is the share of all images flagged: the recall counts anomalies only"),
        (caught / len(everything), "that divides the anomalies caught by all images, not by the anomalies"),
        (
            caught / caught_all if caught_all else math.nan,
            "that is the precision (the share of flagged images that are anomalies), not the recall",
        ),
        (1 - want_recall, "that is the share of anomalies missed; the recall is the share flagged"),
        (100 * want_recall, percentage),
        (caught, "that is a count: return the recall, a fraction of the anomalies"),
    ]
    fallback = f"with your threshold {threshold:.4g}, {got_recall:.4g} is not the recall on {len(anomaly)} anomalies"
    return _named(got_recall, named, fallback)


def _named(got: float, named: list, fallback: str) -> str:
    """Return the hint of the first named mistake whose value `got` is, else the fallback."""
    for value, hint in named:
        if _close(got, float(value)):
            return hint
    return fallback


def judge_operating_point(inputs: dict, answers: dict) -> str | None:
    """Check the answers' form, that the threshold sees calibration scores only and fits fpr, then the two rates."""
    cases = inputs["cases"]
    for case, got, after in zip(cases, answers["results"], answers["arrays_after"], strict=True):
        problem = _form_problem(got)
        if problem:
            return problem
        for kind, array in zip(_KINDS, after, strict=True):
            if not same(array, torch.from_numpy(case[kind]), rtol=0, atol=0):
                return f"operating_point changed the {_NAMES[kind]} scores in place (sorted them?): work on a copy"
    threshold = answers["results"][-1][0]
    for kind in ("anomaly", "normal"):
        got = answers["swapped"][kind]
        problem = _form_problem(got)
        if problem:
            return problem
        if not _close(got[0], threshold):
            return (
                f"your threshold changes when the {_NAMES[kind]} scores change: choose it from the calibration "
                "scores alone, and keep the others for measuring what it does"
            )
    for case, (threshold, got_fpr, got_recall) in zip(cases, answers["results"], strict=True):
        problem = _threshold_problem(case, threshold) or _rate_problem(case, threshold, got_fpr, got_recall)
        if problem:
            return problem
    return None


OPERATING_POINT = define("4.4", operating_inputs, probe_operating_point, judge_operating_point)
