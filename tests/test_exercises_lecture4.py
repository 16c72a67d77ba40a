"""The lecture 4 checks accept the reference solutions and turn wrong or raising ones into "not yet"."""

from __future__ import annotations

import numpy as np
import pytest
import torch

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


def reference_salt_and_pepper(x, amount, generator):
    return aelib.add_salt_and_pepper(x, amount, generator=generator)


def reference_psnr(x, x_hat, data_range=1.0):
    return aelib.psnr(x, x_hat, data_range=data_range)


CASES = {
    "4.1": (
        ex.check_salt_and_pepper,
        reference_salt_and_pepper,
        [
            lambda x, amount, generator: aelib.add_salt_and_pepper(x, amount, generator=generator, salt_ratio=1.0),  # only salt
            lambda x, amount, generator: aelib.add_salt_and_pepper(x, amount, generator=torch.Generator().manual_seed(0)),  # ignores the generator
            lambda x, amount, generator: aelib.add_salt_and_pepper(x, amount, generator=torch.randint(10**6, ()).item()),  # global RNG
            lambda x, amount, generator: x.clamp_(0.2, 0.8),  # in place, and no noise
            lambda x, amount, generator: aelib.add_gaussian_noise(x, amount, generator=generator),
        ],
    ),
    "4.2": (
        ex.check_psnr,
        reference_psnr,
        [
            lambda x, x_hat, data_range=1.0: aelib.psnr(x, x_hat, data_range=1.0),  # ignores data_range
            lambda x, x_hat, data_range=1.0: aelib.psnr(x, x_hat, data_range=data_range).mean(),  # one number
            lambda x, x_hat, data_range=1.0: 10 * torch.log10(data_range / ((x - x_hat) ** 2).flatten(1).mean(1)),  # range not squared
            lambda x, x_hat, data_range=1.0: 20 * torch.log10(data_range / ((x - x_hat) ** 2).flatten(1).sum(1).sqrt()),  # L2 norm, not RMS
        ],
    ),
    "4.3": (
        ex.check_threshold_at_fpr,
        aelib.threshold_at_fpr,
        [
            lambda scores, fpr: np.quantile(scores, fpr),  # the wrong tail
            lambda scores, fpr: np.max(scores),  # flags nothing
            lambda scores, fpr: np.quantile(scores, 1 - fpr, method="lower") - 1e-9,  # one too many
        ],
    ),
}


@pytest.mark.parametrize("exercise_id", sorted(CASES))
def test_reference_solution_is_correct(capsys: pytest.CaptureFixture[str], exercise_id: str) -> None:
    check, reference, _ = CASES[exercise_id]
    assert verdict(capsys, check, reference) == f"Exercise {exercise_id}: correct"


@pytest.mark.parametrize("exercise_id, index", [(k, i) for k, (_, _, wrong) in sorted(CASES.items()) for i in range(len(wrong))])
def test_wrong_solution_is_not_yet(capsys: pytest.CaptureFixture[str], exercise_id: str, index: int) -> None:
    check, _, wrong = CASES[exercise_id]
    assert verdict(capsys, check, wrong[index]).startswith(f"Exercise {exercise_id}: not yet (")


@pytest.mark.parametrize("exercise_id", sorted(CASES))
def test_raising_and_unfinished_solutions_are_not_yet(capsys: pytest.CaptureFixture[str], exercise_id: str) -> None:
    check, _, _ = CASES[exercise_id]
    assert verdict(capsys, check, raising) == f"Exercise {exercise_id}: not yet (your code raised RuntimeError: boom)"
    assert "not implemented yet" in verdict(capsys, check, not_implemented)
