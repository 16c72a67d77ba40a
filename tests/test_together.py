"""Several models trained as one (`train_together`) learn what each learns alone; CUDA graphs change nothing.

The references are `train_autoencoder` runs, one model at a time. In float64 the two paths
agree to rounding; the CUDA tests (graph against plain step) run where a GPU is present.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import aelib

IMAGES = torch.rand(300, 1, 28, 28, generator=torch.Generator().manual_seed(0), dtype=torch.float64)  # (N, 1, 28, 28)
TEST = torch.rand(50, 1, 28, 28, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def fc(seed: int, k: int = 8) -> nn.Module:
    aelib.set_seed(seed)
    return aelib.FCAutoencoder(k).double()


def conv(seed: int) -> nn.Module:
    aelib.set_seed(seed)
    return aelib.ConvAutoencoder(final_activation=nn.Sigmoid).double()


def max_weight_gap(a: nn.Module, b: nn.Module) -> float:
    return max(
        (p - q).abs().max().item() for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_three_seeds_together_learn_what_each_learns_alone():
    seeds = [0, 1, 2]
    alone = [fc(s) for s in seeds]
    expected = [
        aelib.train_autoencoder(m, IMAGES, num_epochs=2, batch_size=64, seed=s, test_images=TEST)
        for m, s in zip(alone, seeds, strict=True)
    ]  # 300 images in batches of 64: the last batch of each epoch has 44
    together = [fc(s) for s in seeds]
    got = aelib.train_together(
        together, IMAGES, num_epochs=2, batch_size=64, seeds=seeds, test_images=TEST, batched=True
    )
    for a, b, h, g in zip(alone, together, expected, got, strict=True):
        assert max_weight_gap(a, b) < 1e-12
        assert g.train_loss == pytest.approx(h.train_loss, rel=1e-12)
        assert g.test_loss == pytest.approx(h.test_loss, rel=1e-12)
        assert not b.training, "left in eval mode, as train_autoencoder leaves it"
    assert max_weight_gap(together[0], together[1]) > 1e-3, "each model kept its own initialisation and batches"


def test_models_with_data_of_different_sizes_each_take_their_own_number_of_steps():
    sizes = [40, 70, 33]  # in batches of 16: 3, 5 and 3 steps an epoch, so two models wait at the end of each
    images = [IMAGES[:n] for n in sizes]
    alone = [conv(0) for _ in sizes]
    expected = [
        aelib.train_autoencoder(m, x, num_epochs=2, batch_size=16, seed=0) for m, x in zip(alone, images, strict=True)
    ]
    together = [conv(0) for _ in sizes]
    got = aelib.train_together(together, images, num_epochs=2, batch_size=16, seeds=[0, 0, 0], batched=True)
    for a, b, h, g in zip(alone, together, expected, got, strict=True):
        assert max_weight_gap(a, b) < 1e-12
        assert g.train_loss == pytest.approx(h.train_loss, rel=1e-12)


def test_on_a_cpu_the_models_train_in_turn_by_default_exactly_as_alone():
    alone, together = [fc(s) for s in (0, 1)], [fc(s) for s in (0, 1)]
    expected = [aelib.train_autoencoder(m, IMAGES, num_epochs=1, batch_size=64, seed=s) for m, s in zip(alone, (0, 1))]  # noqa: B905
    got = aelib.train_together(together, IMAGES, num_epochs=1, batch_size=64, seeds=[0, 1], device="cpu")
    assert all(max_weight_gap(a, b) == 0 for a, b in zip(alone, together, strict=True))
    assert [h.train_loss for h in got] == [h.train_loss for h in expected]


def test_other_architectures_or_a_missing_seed_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="copies of one architecture"):
        aelib.train_together([fc(0, 8), fc(0, 9)], IMAGES, num_epochs=1, seeds=[0, 1], batched=True)
    with pytest.raises(ValueError, match="one seed per model: got 2 models and 1 seeds"):
        aelib.train_together([fc(0), fc(1)], IMAGES, num_epochs=1, seeds=[0])


def test_the_cache_serves_models_trained_together_to_load_or_train_and_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("AELIB_CACHE", str(tmp_path))
    monkeypatch.delenv("AELIB_RETRAIN", raising=False)
    settings = {"num_epochs": 1, "batch_size": 64}
    aelib.load_or_train(fc(1), IMAGES, seed=1, **settings)  # seed 1 alone, first
    capsys.readouterr()
    together = [fc(s) for s in (0, 1, 2)]
    histories = aelib.load_or_train_together(together, IMAGES, seeds=[0, 1, 2], **settings)
    assert capsys.readouterr().out == "Loaded from the model cache: 1 FCAutoencoder (seed 1); trained 2 more together\n"
    assert len(list(tmp_path.iterdir())) == 3, "one file per model"
    again = fc(2)
    history = aelib.load_or_train(again, IMAGES, seed=2, **settings)
    assert capsys.readouterr().out == "Loaded from the model cache: FCAutoencoder, seed 2\n", "no training"
    assert max_weight_gap(again, together[2]) == 0 and history.train_loss == histories[2].train_loss


@cuda
def test_a_graphed_step_on_the_gpu_equals_the_plain_step():
    x = IMAGES.float().cuda()
    plain, graphed = fc(0).float(), fc(0).float()
    h1 = aelib.train_autoencoder(plain, x, num_epochs=3, batch_size=64, test_images=TEST.float(), graph=False)
    h2 = aelib.train_autoencoder(graphed, x, num_epochs=3, batch_size=64, test_images=TEST.float(), graph=True)
    assert max_weight_gap(plain, graphed) < 1e-4
    assert h2.train_loss == pytest.approx(h1.train_loss, rel=1e-4)
    assert h2.test_loss == pytest.approx(h1.test_loss, rel=1e-4)


@cuda
def test_models_trained_together_on_the_gpu_with_graphs_equal_the_plain_runs():
    x = IMAGES.float().cuda()
    sizes = [300, 200]
    alone = [fc(s).float() for s in (0, 1)]
    expected = [
        aelib.train_autoencoder(m, x[:n], num_epochs=3, batch_size=64, seed=s, graph=False)
        for m, n, s in zip(alone, sizes, (0, 1), strict=True)
    ]
    together = [fc(s).float() for s in (0, 1)]
    got = aelib.train_together(together, [x[:n] for n in sizes], num_epochs=3, batch_size=64, seeds=[0, 1], graph=True)
    for a, b, h, g in zip(alone, together, expected, got, strict=True):
        assert max_weight_gap(a, b) < 1e-4
        assert g.train_loss == pytest.approx(h.train_loss, rel=1e-4)
