"""The lecture 4 checks accept the reference solutions and turn wrong or raising ones into "not yet"."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

import aelib
from aelib.exercises import lecture4 as ex
from aelib.exercises.lecture4.operating_point import OPERATING_POINT, operating_inputs
from aelib.exercises.running import ask, problem


def verdict(capsys: pytest.CaptureFixture[str], check, solution) -> str:
    check(solution)
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out
    return out.strip()


def raising(*args, **kwargs):
    raise RuntimeError("boom")


def not_implemented(*args, **kwargs):
    raise NotImplementedError("write your solution here")


def reference_salt_and_pepper(x, amount, generator, salt_ratio=0.5):
    """The student's version of aelib.add_salt_and_pepper (which the exercise forbids): one uniform draw per pixel."""
    u = torch.rand(x.shape, generator=generator)
    salt = u < amount * salt_ratio
    pepper = (u >= amount * salt_ratio) & (u < amount)
    return torch.where(salt, torch.ones_like(x), torch.where(pepper, torch.zeros_like(x), x))


def reference_psnr(x, x_hat, data_range=1.0):
    return 10 * torch.log10(data_range**2 / ((x - x_hat) ** 2).flatten(1).mean(1))


def reference_threshold_at_fpr(scores, fpr):
    return float(np.quantile(scores, 1 - fpr, method="inverted_cdf"))


def reference_operating_point(calibration_scores, normal_scores, anomaly_scores, fpr=0.01):
    threshold = reference_threshold_at_fpr(calibration_scores, fpr)
    return threshold, float(np.mean(normal_scores > threshold)), float(np.mean(anomaly_scores > threshold))


def operating_point_with(*, threshold=None, fpr_of=None, recall_of=None, default=0.01, swapped=False):
    """Return an operating point with one typical mistake switched on.

    threshold(calibration, normal, anomaly, fpr) chooses the threshold; fpr_of and recall_of(t, calibration,
    normal, anomaly, fpr) measure the rates.
    """

    def operating_point(calibration_scores, normal_scores, anomaly_scores, fpr=default):
        scores = calibration_scores, normal_scores, anomaly_scores
        t = threshold(*scores, fpr) if threshold else reference_threshold_at_fpr(calibration_scores, fpr)
        false_positives = fpr_of(t, *scores, fpr) if fpr_of else np.mean(normal_scores > t)
        recall = recall_of(t, *scores, fpr) if recall_of else np.mean(anomaly_scores > t)
        return (t, recall, false_positives) if swapped else (t, false_positives, recall)

    return operating_point


def _sorting_in_place(calibration_scores, normal_scores, anomaly_scores, fpr=0.01):
    calibration_scores.sort()
    return reference_operating_point(calibration_scores, normal_scores, anomaly_scores, fpr)


def _every(normal, anomaly):
    return np.concatenate([normal, anomaly])


def reference_anomaly_auroc(model, normal_images, anomalous_images):
    images = torch.cat([normal_images, anomalous_images])
    scores = aelib.reconstruction_errors(model, images)
    labels = np.r_[np.zeros(len(normal_images)), np.ones(len(anomalous_images))]
    return scores, roc_auc_score(labels, scores.numpy())


def anomaly_auroc_with(*, train_mode=False, swap_labels=False, threshold=False, total=False, reverse=False):
    """Return an anomaly scorer with one typical mistake switched on."""

    def anomaly_auroc(model, normal_images, anomalous_images):
        images = torch.cat([anomalous_images, normal_images] if reverse else [normal_images, anomalous_images])
        with torch.no_grad():
            x_hat = (model if train_mode else model.eval())(images)
        errors = ((x_hat - images) ** 2).flatten(1)
        scores = (errors.sum(dim=1) if total else errors.mean(dim=1)).numpy()
        labels = np.r_[np.zeros(len(normal_images)), np.ones(len(anomalous_images))]
        predictions = scores > np.median(scores) if threshold else scores
        return scores, roc_auc_score(1 - labels if swap_labels else labels, predictions)

    return anomaly_auroc


CASES = {
    "4.1": (
        ex.check_salt_and_pepper,
        reference_salt_and_pepper,
        [
            lambda x, amount, generator: reference_salt_and_pepper(x, amount, generator, salt_ratio=1.0),  # only salt
            lambda x, amount, generator: reference_salt_and_pepper(
                x, amount, torch.Generator().manual_seed(0)
            ),  # ignores the generator
            lambda x, amount, generator: reference_salt_and_pepper(x, amount, None),  # global RNG
            lambda x, amount, generator: x.clamp_(0.2, 0.8),  # in place, and no noise
            lambda x, amount, generator: aelib.add_gaussian_noise(x, amount, generator=generator),
        ],
    ),
    "4.2": (
        ex.check_psnr,
        reference_psnr,
        [
            lambda x, x_hat, data_range=1.0: reference_psnr(x, x_hat, data_range=1.0),  # ignores data_range
            lambda x, x_hat, data_range=1.0: reference_psnr(x, x_hat, data_range=data_range).mean(),  # one number
            lambda x, x_hat, data_range=1.0: (
                10 * torch.log10(data_range / ((x - x_hat) ** 2).flatten(1).mean(1))
            ),  # range not squared
            lambda x, x_hat, data_range=1.0: (
                20 * torch.log10(data_range / ((x - x_hat) ** 2).flatten(1).sum(1).sqrt())
            ),  # L2 norm, not RMS
        ],
    ),
    "4.3": (
        ex.check_threshold_at_fpr,
        reference_threshold_at_fpr,
        [
            lambda scores, fpr: np.quantile(scores, fpr),  # the wrong tail
            lambda scores, fpr: np.max(scores),  # flags nothing
            lambda scores, fpr: np.quantile(scores, 1 - fpr, method="lower") - 1e-9,  # one too many
        ],
    ),
    "4.4": (
        ex.check_operating_point,
        reference_operating_point,
        [
            operating_point_with(threshold=lambda c, n, a, fpr: reference_threshold_at_fpr(np.r_[c, a], fpr)),
            operating_point_with(threshold=lambda c, n, a, fpr: reference_threshold_at_fpr(np.r_[c, n], fpr)),
            operating_point_with(threshold=lambda c, n, a, fpr: reference_threshold_at_fpr(n, fpr)),
            operating_point_with(default=0.05),
            operating_point_with(threshold=lambda c, n, a, fpr: reference_threshold_at_fpr(c, 0.01)),
            operating_point_with(threshold=lambda c, n, a, fpr: float(np.quantile(c, fpr))),
            operating_point_with(threshold=lambda c, n, a, fpr: float(np.sort(c)[len(c) - int(len(c) * fpr + 1e-9)])),
            operating_point_with(fpr_of=lambda t, c, n, a, fpr: np.mean(n >= t)),
            operating_point_with(fpr_of=lambda t, c, n, a, fpr: np.mean(c > t)),
            operating_point_with(fpr_of=lambda t, c, n, a, fpr: fpr),
            operating_point_with(fpr_of=lambda t, c, n, a, fpr: np.mean(_every(n, a) > t)),
            operating_point_with(fpr_of=lambda t, c, n, a, fpr: np.sum(n > t) / (len(n) + len(a))),
            operating_point_with(fpr_of=lambda t, c, n, a, fpr: np.mean(n <= t)),
            operating_point_with(fpr_of=lambda t, c, n, a, fpr: 100 * np.mean(n > t)),
            operating_point_with(fpr_of=lambda t, c, n, a, fpr: np.sum(n > t)),
            operating_point_with(recall_of=lambda t, c, n, a, fpr: np.mean(a >= t)),
            operating_point_with(recall_of=lambda t, c, n, a, fpr: np.mean(_every(n, a) > t)),
            operating_point_with(recall_of=lambda t, c, n, a, fpr: np.sum(a > t) / (len(n) + len(a))),
            operating_point_with(recall_of=lambda t, c, n, a, fpr: np.sum(a > t) / np.sum(_every(n, a) > t)),
            operating_point_with(recall_of=lambda t, c, n, a, fpr: np.mean(a <= t)),
            operating_point_with(recall_of=lambda t, c, n, a, fpr: 100 * np.mean(a > t)),
            operating_point_with(recall_of=lambda t, c, n, a, fpr: np.sum(a > t)),
            operating_point_with(swapped=True),
            _sorting_in_place,
            lambda c, n, a, fpr=0.01: np.array(reference_operating_point(c, n, a, fpr)),
        ],
    ),
    "4.5": (
        ex.check_anomaly_auroc,
        reference_anomaly_auroc,
        [
            anomaly_auroc_with(train_mode=True),
            anomaly_auroc_with(swap_labels=True),
            anomaly_auroc_with(threshold=True),
            anomaly_auroc_with(total=True),
            anomaly_auroc_with(reverse=True),
        ],
    ),
}

HINTS = {
    ("4.4", 0): "your threshold changes when the anomaly scores change",
    ("4.4", 1): "your threshold changes when the held-out normal scores change",
    ("4.4", 2): "your threshold changes when the held-out normal scores change",
    ("4.4", 3): "your threshold is the one for fpr=0.05, but the call gave no fpr, and the default is 0.01",
    ("4.4", 4): "your threshold is the one for fpr=0.01, but the call asked for 0.05",
    ("4.4", 5): "calibration scores: more than fpr allows",
    ("4.4", 6): "it would be right if the detector flagged score >= threshold, but it flags score > threshold",
    ("4.4", 7): "the false-positive rate counts the normal scores equal to the threshold",
    ("4.4", 8): "that is the false-positive rate on the calibration scores",
    ("4.4", 9): "that is the target rate",
    ("4.4", 10): "the false-positive rate counts the normal images only",
    ("4.4", 11): "that divides the false alarms by all images",
    ("4.4", 12): "that is the share of normal images not flagged",
    ("4.4", 13): "that is a percentage",
    ("4.4", 14): "that is a count: return the rate",
    ("4.4", 15): "the recall counts the anomaly scores equal to the threshold",
    ("4.4", 16): "the recall counts anomalies only",
    ("4.4", 17): "that divides the anomalies caught by all images",
    ("4.4", 18): "that is the precision",
    ("4.4", 19): "that is the share of anomalies missed",
    ("4.4", 20): "that is a percentage",
    ("4.4", 21): "that is a count: return the recall",
    ("4.4", 22): "the rates are swapped",
    ("4.4", 23): "changed the calibration scores in place",
    ("4.4", 24): "return a tuple of three numbers (threshold, fpr, recall), got ndarray",
    ("4.5", 0): "model.eval()",
    ("4.5", 1): "label the anomalies 1",
    ("4.5", 2): "not thresholded ones",
    ("4.5", 3): "sums of squared errors",
    ("4.5", 4): "wrong order",
}


@pytest.mark.parametrize("exercise_id", sorted(CASES))
def test_reference_solution_is_correct(capsys: pytest.CaptureFixture[str], exercise_id: str) -> None:
    check, reference, _ = CASES[exercise_id]
    assert verdict(capsys, check, reference) == f"Exercise {exercise_id}: correct"


@pytest.mark.parametrize(
    "exercise_id, index", [(k, i) for k, (_, _, wrong) in sorted(CASES.items()) for i in range(len(wrong))]
)
def test_wrong_solution_is_not_yet(capsys: pytest.CaptureFixture[str], exercise_id: str, index: int) -> None:
    check, _, wrong = CASES[exercise_id]
    line = verdict(capsys, check, wrong[index])
    assert line.startswith(f"Exercise {exercise_id}: not yet (")
    assert HINTS.get((exercise_id, index), "") in line  # the hint names this mistake


@pytest.mark.parametrize("exercise_id", sorted(CASES))
def test_raising_and_unfinished_solutions_are_not_yet(capsys: pytest.CaptureFixture[str], exercise_id: str) -> None:
    check, _, _ = CASES[exercise_id]
    assert verdict(capsys, check, raising) == f"Exercise {exercise_id}: not yet (your code raised RuntimeError: boom)"
    assert "not implemented yet" in verdict(capsys, check, not_implemented)


@pytest.mark.parametrize(
    ("check", "answer", "name"),
    [
        (ex.check_salt_and_pepper, lambda x, a, g: aelib.add_salt_and_pepper(x, a, generator=g), "add_salt_and_pepper"),
        (ex.check_psnr, lambda x, x_hat, data_range=1.0: aelib.psnr(x, x_hat, data_range=data_range), "psnr"),
        (ex.check_threshold_at_fpr, aelib.threshold_at_fpr, "threshold_at_fpr"),
    ],
)
def test_an_answer_that_calls_aelib_is_told_so(capsys, check, answer, name) -> None:
    """As at grading: the exercise asks for the student's own code, not aelib's."""
    assert verdict(capsys, check, answer).endswith(
        f"not yet (your code calls aelib.{name}, which this exercise asks you to write yourself)"
    )


def test_an_operating_point_may_use_aelibs_threshold(capsys) -> None:
    """4.4 asks for the operating point, not the quantile again: aelib.threshold_at_fpr is allowed there."""

    def operating_point(calibration_scores, normal_scores, anomaly_scores, fpr=0.01):
        t = aelib.threshold_at_fpr(calibration_scores, fpr)
        return t, float(np.mean(normal_scores > t)), float(np.mean(anomaly_scores > t))

    assert verdict(capsys, ex.check_operating_point, operating_point) == "Exercise 4.4: correct"


@pytest.mark.parametrize("seed", [1, 2])
def test_operating_point_mistakes_are_named_on_hidden_inputs(seed: int) -> None:
    """The reference passes, and every named mistake gets its hint, on hidden inputs as on the fixed ones."""
    _, reference, wrong = CASES["4.4"]
    judged = [problem(OPERATING_POINT, seed, ask(OPERATING_POINT, seed, lambda f=f: (f,))) for f in [reference, *wrong]]
    assert judged[0] is None
    for index, got in enumerate(judged[1:]):
        assert HINTS[("4.4", index)] in (got or "correct"), (index, got)


def test_operating_point_inputs_have_ties_at_the_threshold_and_change_with_the_seed() -> None:
    for seed in (None, 1, 2, 3):
        inputs = operating_inputs(seed)
        for case in inputs["cases"]:
            fpr = 0.01 if case["fpr"] is None else case["fpr"]
            t = reference_threshold_at_fpr(case["calibration"], fpr)
            assert (case["normal"] == t).sum() >= 3 and (case["anomaly"] == t).sum() >= 3, "ties tell > from >="
            assert np.mean(case["normal"] > t) != np.mean(case["calibration"] > t), "new data drifts"
    first, second = operating_inputs(1), operating_inputs(2)
    assert not np.array_equal(first["cases"][0]["calibration"], second["cases"][0]["calibration"])
    assert np.array_equal(operating_inputs(1)["cases"][2]["anomaly"], first["cases"][2]["anomaly"])
    assert not np.array_equal(operating_inputs(None)["cases"][0]["normal"], first["cases"][0]["normal"])
