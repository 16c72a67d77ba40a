"""Unit tests of aelib.training: what `train_autoencoder` computes, against plain PyTorch as the reference,
and the reconstruction snapshots it keeps (the lecture's `outputs_list`)."""

from __future__ import annotations

import copy
import itertools
import sys
from collections.abc import Callable

import pytest
import torch
from torch import nn

import aelib
from aelib.training import Snapshots, evaluate_mse, reconstruct, train_autoencoder


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """512 real MNIST digits (the offline subset where there is no network), (512, 1, 28, 28)."""
    return aelib.load_mnist(verbose=False).train_images[:512].clone()


def fc(latent_dim: int = 5, seed: int = 0) -> aelib.FCAutoencoder:
    torch.manual_seed(seed)
    return aelib.FCAutoencoder(latent_dim)


def reference_epochs(
    model: nn.Module,
    images: torch.Tensor,
    num_epochs: int,
    seed: int = 0,
    batch_size: int = 128,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = nn.functional.mse_loss,
) -> list[float]:
    """The lecture's loop in plain PyTorch (default Adam, contiguous layout) in train_autoencoder's documented order."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(num_epochs):
        perm = torch.randperm(len(images), generator=generator)
        total = 0.0
        for i in range(0, len(images), batch_size):
            x = images[perm[i : i + batch_size]]
            loss = loss_fn(model(x), x)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(x)
        losses.append(total / len(images))
    return losses


def test_the_loss_is_what_training_minimises_and_the_test_loss_stays_the_mse(images: torch.Tensor) -> None:
    torch.manual_seed(0)
    model = aelib.ConvAutoencoder(final_activation=nn.Sigmoid)
    reference = copy.deepcopy(model)
    subset, held_out = images[:300], images[300:364]
    history = train_autoencoder(
        model, subset, num_epochs=2, loss=nn.BCELoss(), test_images=held_out, device="cpu", seed=3, progress=False
    )
    expected = reference_epochs(reference, subset, num_epochs=2, seed=3, loss_fn=nn.functional.binary_cross_entropy)
    torch.testing.assert_close(history.train_loss, expected, rtol=1e-4, atol=1e-6)
    assert history.test_loss[-1] == pytest.approx(evaluate_mse(model, held_out), rel=1e-6)
    assert history.test_loss[-1] < 0.5 * history.train_loss[-1], "the test loss is the MSE, not the larger BCE"


def test_loss_decreases(images: torch.Tensor) -> None:
    history = train_autoencoder(fc(25), images, num_epochs=4, lr=3e-3, device="cpu", progress=False)
    assert len(history.train_loss) == 4
    assert all(later < earlier for earlier, later in itertools.pairwise(history.train_loss))
    assert history.train_loss[-1] < 0.8 * history.train_loss[0]


# One model per code path: the FC models go the same way whatever their size; the conv model
# trains in the channels-last layout on a CPU.
@pytest.mark.parametrize("build", [lambda: fc(5), aelib.ConvAutoencoder], ids=["fc5", "conv"])
def test_matches_plain_pytorch_loop(images: torch.Tensor, build: Callable[[], nn.Module]) -> None:
    torch.manual_seed(0)
    model = build()
    reference = copy.deepcopy(model)
    subset = images[:300]  # batches of 128, 128 and 44
    history = train_autoencoder(model, subset, num_epochs=2, device="cpu", seed=3, progress=False)
    expected = reference_epochs(reference, subset, num_epochs=2, seed=3)
    torch.testing.assert_close(history.train_loss, expected, rtol=1e-4, atol=1e-6)
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_fixed_seed_is_deterministic_on_cpu(images: torch.Tensor) -> None:
    runs = [
        train_autoencoder(fc(5), images, num_epochs=2, test_images=images[:64], device="cpu", seed=7, progress=False)
        for _ in range(2)
    ]
    assert runs[0].train_loss == runs[1].train_loss
    assert runs[0].test_loss == runs[1].test_loss
    other = train_autoencoder(fc(5), images, num_epochs=2, device="cpu", seed=8, progress=False)
    assert other.train_loss != runs[0].train_loss  # the seed picks the data order


def test_model_is_handed_back_in_eval_mode_and_its_layout(images: torch.Tensor) -> None:
    torch.manual_seed(0)
    model = aelib.ConvAutoencoder().train()
    train_autoencoder(model, images[:128], num_epochs=1, device="cpu", progress=False)
    assert all(p.is_contiguous() for p in model.parameters())
    assert not model.training, "the docstring promises eval mode, ready to reconstruct"


def test_shape_mismatch_names_both_shapes_and_output_padding(images: torch.Tensor) -> None:
    model = aelib.ConvAutoencoder()
    model.decoder[4] = nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1)  # no output_padding: 14x14 => 27x27
    with pytest.raises(ValueError, match=r"\(128, 1, 27, 27\).*\(128, 1, 28, 28\).*output_padding"):
        train_autoencoder(model, images[:256], num_epochs=1, device="cpu", progress=False)
    assert all(p.is_contiguous() for p in model.parameters())  # restored even after the error


def test_targets_are_what_the_loss_compares_against(images: torch.Tensor) -> None:
    model = fc(5)
    targets = 1 - images
    history = train_autoencoder(
        model, images, num_epochs=1, lr=0.0, train_targets=targets, device="cpu", progress=False
    )
    with torch.no_grad():  # lr = 0 leaves the model unchanged, so the epoch's loss is that of the initial model
        expected = nn.functional.mse_loss(model(images), targets).item()
    assert history.train_loss[0] == pytest.approx(expected, rel=1e-5)


def test_targets_must_pair_up_with_inputs(images: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="train_targets has 10 images but train_images has 512"):
        train_autoencoder(fc(5), images, num_epochs=1, train_targets=images[:10], device="cpu", progress=False)


def test_corrupt_gets_a_seeded_generator_and_spares_the_targets(images: torch.Tensor) -> None:
    seen = []

    def corrupt_in_place(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        seen.append(generator)
        return x.zero_()  # in place: must not wipe out the clean targets

    model = fc(5)
    history = train_autoencoder(
        model, images, num_epochs=1, lr=0.0, corrupt=corrupt_in_place, device="cpu", progress=False
    )
    with torch.no_grad():
        expected = nn.functional.mse_loss(model(torch.zeros_like(images)), images).item()
    assert history.train_loss[0] == pytest.approx(expected, rel=1e-5)
    assert len(seen) == 4 and all(isinstance(g, torch.Generator) for g in seen)

    def add_noise(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return x + 0.3 * torch.randn(x.shape, generator=generator, device=x.device)

    noisy = [
        train_autoencoder(fc(5), images, num_epochs=1, corrupt=add_noise, device="cpu", progress=False).train_loss
        for _ in range(2)
    ]
    assert noisy[0] == noisy[1]


def test_test_loss_has_one_value_per_epoch_and_matches_evaluate_mse(images: torch.Tensor) -> None:
    model = fc(25)
    history = train_autoencoder(
        model, images[:256], num_epochs=3, test_images=images[256:], device="cpu", progress=False
    )
    assert len(history.test_loss) == 3
    assert history.test_loss[-1] == pytest.approx(evaluate_mse(model, images[256:]), rel=1e-6)
    plain = train_autoencoder(fc(5), images[:128], num_epochs=2, device="cpu", progress=False)
    assert plain.test_loss == [] and plain.snapshots == {}  # neither unless asked for


def test_evaluate_mse_is_torchs_mse(images: torch.Tensor) -> None:
    model = fc(25)
    targets = images.flip(-1)
    with torch.no_grad():
        expected = nn.functional.mse_loss(model(images), targets).item()
    assert evaluate_mse(model, images, targets, batch_size=100) == pytest.approx(expected, rel=1e-5)
    assert model.training  # evaluation restores the mode it found


def test_snapshots_are_the_model_after_their_epochs(images: torch.Tensor) -> None:
    torch.manual_seed(0)
    model = aelib.ConvAutoencoder(final_activation=nn.Sigmoid)  # lecture 3's snapshots
    after_two = copy.deepcopy(model)
    train_autoencoder(after_two, images[:128], num_epochs=2, device="cpu", progress=False)
    history = train_autoencoder(
        model, images[:128], num_epochs=3, snapshots=Snapshots(images[:4], epochs=(2, 3)), device="cpu", progress=False
    )
    assert sorted(history.snapshots) == [2, 3]
    torch.testing.assert_close(history.snapshots[2], reconstruct(after_two, images[:4]))
    torch.testing.assert_close(history.snapshots[3], reconstruct(model, images[:4]))
    assert not torch.equal(history.snapshots[2], history.snapshots[3])  # training moved on
    assert history.snapshots[3].shape == (4, 1, 28, 28)
    assert history.snapshots[3].device.type == "cpu" and not history.snapshots[3].requires_grad


def test_snapshot_epochs_may_be_any_collection_of_epochs(images: torch.Tensor) -> None:
    assert Snapshots(images[:2], range(1, 26, 4)).epochs == (1, 5, 9, 13, 17, 21, 25)  # every fourth, as the lecture
    assert Snapshots(images[:2], {3, 1}).epochs == (1, 3)
    assert Snapshots(images[:2], []).epochs == ()


@pytest.mark.parametrize(
    ("snapshots", "error", "message"),
    [
        (lambda x: Snapshots(x, (0, 2)), ValueError, r"\[0\] are outside 1..2"),
        (lambda x: Snapshots(x, (2, 5)), ValueError, r"\[5\] are outside 1..2"),
        (lambda x: (x, (1, 2)), TypeError, r"aelib.Snapshots\(images, epochs\), got tuple"),
        (lambda x: Snapshots(None, (1,)), TypeError, "must be a tensor of images"),
        (lambda x: Snapshots(x, 2), TypeError, r"several epochs, e.g. \(2,\)"),
    ],
    ids=["epoch-0", "past-the-end", "not-snapshots", "no-images", "one-number"],
)
def test_snapshots_that_cannot_be_taken_are_refused_before_training(
    images: torch.Tensor, snapshots: Callable[[torch.Tensor], Snapshots], error: type[Exception], message: str
) -> None:
    model = fc(5)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(error, match=message):
        train_autoencoder(
            model, images[:64], num_epochs=2, snapshots=snapshots(images[:2]), device="cpu", progress=False
        )
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True)), "nothing may be trained"


def test_progress_off_prints_nothing(
    images: torch.Tensor, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    train_autoencoder(fc(5), images[:128], num_epochs=2, device="cpu", progress=False)
    monkeypatch.setenv("AELIB_PROGRESS", "0")
    train_autoencoder(fc(5), images[:128], num_epochs=2, device="cpu")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_progress_on_shows_a_bar(images: torch.Tensor, capsys: pytest.CaptureFixture[str]) -> None:
    train_autoencoder(fc(5), images[:128], num_epochs=2, device="cpu", progress=True)
    assert "training" in capsys.readouterr().err


def test_progress_is_off_outside_terminals_and_kernels(
    images: torch.Tensor, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch run (stderr not a terminal, no Jupyter kernel, AELIB_PROGRESS unset) shows no bar by default."""
    monkeypatch.delenv("AELIB_PROGRESS", raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    train_autoencoder(fc(5), images[:128], num_epochs=2, device="cpu")
    assert capsys.readouterr().err == ""


def test_aelib_makes_the_cpu_flush_denormal_floats_to_zero():
    """Lecture 1's sweep at `full` slowed down epoch by epoch as weights decayed into denormals."""
    import aelib.runtime  # noqa: F401  (every lecture imports it through aelib.set_seed)

    assert (torch.tensor([1e-40]) * 1.0).item() == 0.0, "1e-40 is below float32's normal range: flushed"
    assert (torch.tensor([1e-37]) * 1.0).item() != 0.0, "a normal float stays"
