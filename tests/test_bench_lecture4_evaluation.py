"""Lecture 4's evaluation as it is now gives the tables of the evaluation as it was.

Both evaluations live in benchmarks/bench_lecture4_evaluation.py.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest
import torch


def test_new_evaluation_reproduces_the_old_one_on_a_few_images(load_benchmark: Callable[[str], ModuleType]) -> None:
    bench = load_benchmark("bench_lecture4_evaluation")
    device = torch.device("cpu")
    g = torch.Generator().manual_seed(0)
    images = torch.rand(24, 1, 28, 28, generator=g) ** 3  # mostly dark, like digits
    labels = torch.randint(0, 10, (24,), generator=g)
    val_images = torch.rand(8, 1, 28, 28, generator=g) ** 3
    models = bench.make_models(device)
    before = bench.evaluate_before(*models, images, labels, val_images, device)
    after = bench.evaluate_after(*models, images, labels, val_images, device)
    assert before.keys() == after.keys() and len(before) == len(bench.CONDITIONS) + 1 + len(bench.EPSILONS)
    assert bench.largest_difference(before, after) < 1e-5
    accuracies = [after[eps][col] for eps in bench.EPSILONS for col in after[eps]]
    assert all(0.0 <= a <= 1.0 and a * len(images) == pytest.approx(round(a * len(images))) for a in accuracies)


def test_largest_difference_refuses_tables_with_other_entries(load_benchmark: Callable[[str], ModuleType]) -> None:
    bench = load_benchmark("bench_lecture4_evaluation")
    assert bench.largest_difference({"a": {"x": 1.0}}, {"a": {"x": 1.5}}) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="different tables"):
        bench.largest_difference({"a": {"x": 1.0}}, {"a": {"y": 1.0}})
