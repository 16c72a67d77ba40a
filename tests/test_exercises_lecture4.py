"""The lecture 4 checks accept the reference solutions and turn wrong or raising ones into "not yet"."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

import aelib
from aelib.exercises import lecture4 as ex


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


def reference_denoising_step(model, optimizer, x, sigma, generator):
    noisy = aelib.add_gaussian_noise(x, sigma, generator=generator)
    loss = F.mse_loss(model(noisy), x)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def denoising_step_with(
    *,
    input_noisy=True,
    target_clean=True,
    clip=True,
    reduction="mean",
    zero_grad=True,
    step=True,
    item=True,
    global_rng=False,
):
    """Return a denoising step with one typical mistake switched on."""

    def denoising_step(model, optimizer, x, sigma, generator):
        if global_rng:
            noisy = (x + sigma * torch.randn(x.shape)).clamp(0, 1)
        else:
            noisy = aelib.add_gaussian_noise(x, sigma, generator=generator, clip=clip)
        loss = F.mse_loss(model(noisy if input_noisy else x), x if target_clean else noisy, reduction=reduction)
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        if step:
            optimizer.step()
        return loss.item() if item else loss.detach() * 2

    return denoising_step


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
        ex.check_denoising_step,
        reference_denoising_step,
        [
            denoising_step_with(target_clean=False),
            denoising_step_with(input_noisy=False),
            denoising_step_with(clip=False),
            denoising_step_with(reduction="sum"),
            denoising_step_with(zero_grad=False),
            denoising_step_with(step=False),
            denoising_step_with(item=False),
            denoising_step_with(global_rng=True),
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
    ("4.4", 0): "the target must be the clean batch",
    ("4.4", 1): "feed the noisy batch",
    ("4.4", 2): "not clipped to [0, 1]",
    ("4.4", 3): "the loss is a sum over pixels",
    ("4.4", 4): "call optimizer.zero_grad() before loss.backward()",
    ("4.4", 5): "the parameters did not change",
    ("4.4", 6): "returned",
    ("4.4", 7): "draw the noise from `generator`",
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
