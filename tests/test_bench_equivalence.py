"""The benchmark's two paths compute the same thing: the lecture's loop and train_autoencoder agree for one epoch.

Both start from the same weights and see the batches in the same order: a
`RandomSampler` with a generator seeded like `train_autoencoder(seed=...)`
yields `torch.randperm(N, generator=torch.Generator().manual_seed(seed))`,
which is the order `train_autoencoder` documents.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from types import ModuleType

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler

import aelib

SEED = 5
NUM_IMAGES = 360  # two full batches and a short one of 104, as a 60,000-image epoch ends


class RecordingMSE(nn.MSELoss):
    """nn.MSELoss that also keeps (loss, batch size) of every call, so the epoch's mean can be compared."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[float, int]] = []

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = super().forward(output, target)
        self.calls.append((loss.item(), len(target)))
        return loss


@pytest.fixture(scope="module")
def bench(load_benchmark: Callable[[str], ModuleType]) -> ModuleType:
    return load_benchmark("bench_training")


@pytest.fixture(scope="module")
def data() -> aelib.ImageData:
    return aelib.load_mnist(verbose=False)


@pytest.fixture(scope="module")
def dataset(bench: ModuleType, data: aelib.ImageData, tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return bench.lecture_dataset(data, "MNIST", NUM_IMAGES, tmp_path_factory.mktemp("idx"))


def test_dataset_serves_the_same_images_through_pil_and_to_tensor(data: aelib.ImageData, dataset: Dataset) -> None:
    assert len(dataset) == NUM_IMAGES
    for i in (0, 1, NUM_IMAGES - 1):
        image, label = dataset[i]
        torch.testing.assert_close(image, data.train_images[i], rtol=0, atol=0)
        assert label == data.train_labels[i]


def test_seeded_sampler_gives_train_autoencoders_order(dataset: Dataset) -> None:
    sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(SEED))
    assert list(sampler) == torch.randperm(NUM_IMAGES, generator=torch.Generator().manual_seed(SEED)).tolist()


# One model per path of the lecture's loop body: flattened (the FC models, of any size) or not (conv).
@pytest.mark.parametrize("key", ["fc5", "conv"])
def test_one_epoch_agrees(key: str, bench: ModuleType, data: aelib.ImageData, dataset: Dataset) -> None:
    spec = bench.MODELS[key]
    torch.manual_seed(0)
    lecture_model = spec.build()
    aelib_model = copy.deepcopy(lecture_model)

    distance = RecordingMSE()
    optimizer = torch.optim.Adam(lecture_model.parameters(), weight_decay=1e-5)
    sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(SEED))
    loader = DataLoader(dataset, batch_size=bench.BATCH_SIZE, sampler=sampler)
    last = bench.lecture_epoch(lecture_model, loader, distance, optimizer, torch.device("cpu"), spec.flatten)
    lecture_mean = sum(loss * n for loss, n in distance.calls) / NUM_IMAGES

    history = aelib.train_autoencoder(
        aelib_model, data.train_images[:NUM_IMAGES], num_epochs=1, seed=SEED, device="cpu", progress=False
    )

    assert [n for _, n in distance.calls] == [128, 128, 104]
    assert last == distance.calls[-1][0]
    assert history.train_loss[0] == pytest.approx(lecture_mean, rel=1e-5)
    named = zip(lecture_model.named_parameters(), aelib_model.parameters(), strict=True)
    for (name, p), q in named:
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5, msg=lambda m, name=name: f"{key} {name}: {m}")
    test_images = data.test_images[:256]
    assert aelib.evaluate_mse(aelib_model, test_images) == pytest.approx(
        aelib.evaluate_mse(lecture_model, test_images), rel=1e-4
    )
