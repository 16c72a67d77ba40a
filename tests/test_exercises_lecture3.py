"""Lecture 3's exercise checks: the reference solutions pass; wrong and raising ones get "not yet"."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aelib.exercises import lecture3 as ex


def _verdict(check, obj, capsys: pytest.CaptureFixture[str]) -> str:
    check(obj)
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out
    return out.strip()


def conv_parameters(in_channels: int, out_channels: int, kernel_size: int, bias: bool = True) -> int:
    return in_channels * out_channels * kernel_size**2 + (out_channels if bias else 0)


def mirror_layer(conv: nn.Conv2d, input_size: tuple[int, int]) -> nn.ConvTranspose2d:
    output_padding = tuple(
        (n + 2 * p - k) % s for n, k, s, p in zip(input_size, conv.kernel_size, conv.stride, conv.padding, strict=True)
    )
    return nn.ConvTranspose2d(
        conv.out_channels,
        conv.in_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        output_padding=output_padding,
    )


def make_decoder() -> nn.Module:
    return nn.Sequential(
        nn.ConvTranspose2d(8, 32, 3, stride=2, padding=1),  # 4x4 => 7x7
        nn.ReLU(),
        nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1),  # 7x7 => 14x14
        nn.ReLU(),
        nn.ConvTranspose2d(16, 1, 4, stride=2, padding=1),  # 14x14 => 28x28
        nn.Sigmoid(),
    )


def _raise(*args, **kwargs):
    raise NotImplementedError("write your solution")


def _crash(*args, **kwargs):
    raise ZeroDivisionError("boom")


@pytest.mark.parametrize(
    ("check", "solution", "label"),
    [
        (ex.check_conv_parameters, conv_parameters, "3.1"),
        (ex.check_mirror_layer, mirror_layer, "3.2"),
        (ex.check_make_decoder, make_decoder, "3.3"),
    ],
)
def test_reference_solutions_pass(check, solution, label: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _verdict(check, solution, capsys) == f"Exercise {label}: correct"


@pytest.mark.parametrize("check", [ex.check_conv_parameters, ex.check_mirror_layer, ex.check_make_decoder])
def test_unfinished_and_crashing_solutions_are_not_yet(check, capsys: pytest.CaptureFixture[str]) -> None:
    assert "not yet (not implemented yet" in _verdict(check, _raise, capsys)
    assert "not yet (your code raised ZeroDivisionError: boom)" in _verdict(check, _crash, capsys)


@pytest.mark.parametrize(
    "wrong",
    [
        lambda c_in, c_out, k, bias=True: c_in * c_out * k**2,  # forgets the biases
        lambda c_in, c_out, k, bias=True: c_in * c_out * k**2 + c_out,  # ignores bias=False
        lambda c_in, c_out, k, bias=True: c_in * c_out * k + (c_out if bias else 0),  # a 1D kernel
        lambda c_in, c_out, k, bias=True: float(c_in * c_out * k**2 + (c_out if bias else 0)),  # not an int
    ],
)
def test_wrong_parameter_counts(wrong, capsys: pytest.CaptureFixture[str]) -> None:
    assert _verdict(ex.check_conv_parameters, wrong, capsys).startswith("Exercise 3.1: not yet (")


def _mirror(output_padding=None, **changes):
    """A mirror layer with a fixed output_padding (None: the right one) and some arguments changed."""

    def build(conv: nn.Conv2d, input_size: tuple[int, int]) -> nn.Module:
        args = dict(
            in_channels=conv.out_channels,
            out_channels=conv.in_channels,
            kernel_size=conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
        )
        right = mirror_layer(conv, input_size).output_padding
        return nn.ConvTranspose2d(
            **{**args, **changes}, output_padding=right if output_padding is None else output_padding
        )

    return build


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (_mirror(output_padding=1), "output_padding"),  # the lecture's value, right for its layers only
        (_mirror(output_padding=0), "output_padding"),
        (lambda conv, size: mirror_layer(conv, size[::-1]), "output_padding"),  # height and width swapped
        (_mirror(in_channels=64, out_channels=1), "channels"),
        (_mirror(padding=0), "kernel_size, stride and padding"),
        (lambda conv, size: nn.Conv2d(conv.out_channels, conv.in_channels, 1), "ConvTranspose2d"),
    ],
)
def test_wrong_mirror_layers(wrong, hint: str, capsys: pytest.CaptureFixture[str]) -> None:
    verdict = _verdict(ex.check_mirror_layer, wrong, capsys)
    assert verdict.startswith("Exercise 3.2: not yet (") and hint in verdict, verdict


def _no_output_padding() -> nn.Module:
    return nn.Sequential(
        nn.ConvTranspose2d(8, 16, 3, stride=2, padding=1),  # 4x4 => 7x7
        nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1),  # 7x7 => 13x13
        nn.Upsample(size=27),
        nn.Sigmoid(),
    )


def _unbounded() -> nn.Module:
    return nn.Sequential(nn.ConvTranspose2d(8, 1, 7, stride=7), nn.ReLU())  # 4x4 => 28x28 but not in [0, 1]


def _no_transposed_convolution() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(128, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28)))


class _UnusedLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.up = nn.Sequential(nn.ConvTranspose2d(8, 1, 7, stride=7), nn.Sigmoid())
        self.spare = nn.Linear(3, 3)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.up(z)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (_no_output_padding, "output_padding"),
        (_unbounded, "final activation"),
        (_no_transposed_convolution, "ConvTranspose2d"),
        (_UnusedLayer, "spare.weight"),
        (lambda: "a decoder", "nn.Module"),
    ],
)
def test_wrong_decoders(wrong, hint: str, capsys: pytest.CaptureFixture[str]) -> None:
    verdict = _verdict(ex.check_make_decoder, wrong, capsys)
    assert verdict.startswith("Exercise 3.3: not yet (") and hint in verdict


def test_checks_do_not_disturb_the_global_random_state(capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ex.check_make_decoder(make_decoder)
    capsys.readouterr()
    assert torch.equal(torch.rand(3), expected)


def test_exercise_encoder_gives_the_stated_code_shape() -> None:
    assert ex.exercise_encoder()(torch.zeros(2, 1, 28, 28)).shape == (2, *ex.CODE_SHAPE)


class BudgetAutoencoder(nn.Module):
    """Exercise 3.4's reference: 53,473 parameters, a code of 32 numbers."""

    def __init__(self, output_padding: int = 1, code_size: int = 32, width: int = 16) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 8, 3, stride=2, padding=1),  # 28x28 => 14x14
            nn.ReLU(),
            nn.Conv2d(8, width, 3, stride=2, padding=1),  # 14x14 => 7x7
            nn.ReLU(),
            nn.Flatten(),  # (B, width * 49)
            nn.Linear(width * 49, code_size),
        )
        self.decoder = nn.Sequential(
            nn.Linear(code_size, width * 49),
            nn.ReLU(),
            nn.Unflatten(1, (width, 7, 7)),
            nn.ConvTranspose2d(width, 8, 3, stride=2, padding=1, output_padding=output_padding),  # 7x7 => 14x14
            nn.ReLU(),
            nn.ConvTranspose2d(8, 1, 3, stride=2, padding=1, output_padding=output_padding),  # 14x14 => 28x28
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


@pytest.fixture(scope="module")
def digits():
    from aelib import load_mnist

    data = load_mnist()
    return data.train_images[:1024], data.test_images[:512]


@pytest.fixture(scope="module")
def trained_budget_model(digits) -> nn.Module:
    from aelib import set_seed, train_autoencoder

    set_seed(0)
    model = BudgetAutoencoder()
    train_autoencoder(model, digits[0], num_epochs=20, lr=3e-3, device="cpu", progress=False)
    return model


def test_budget_autoencoder_trained_passes(trained_budget_model, digits, capsys: pytest.CaptureFixture[str]) -> None:
    verdict = _verdict(lambda m: ex.check_budget_autoencoder(m, *digits), trained_budget_model, capsys)
    assert verdict == "Exercise 3.4: correct"
    assert trained_budget_model.training is False  # the check restores the model's mode


class _ForwardAddsNoise(BudgetAutoencoder):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x)) + 0.1


class _NotSequential(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = BudgetAutoencoder().encoder[0]  # a bare Conv2d
        self.decoder = BudgetAutoencoder().decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def _with_dropout() -> nn.Module:
    model = BudgetAutoencoder()
    model.encoder.append(nn.Dropout(0.1))
    return model


def _no_transposed() -> nn.Module:
    model = BudgetAutoencoder()
    model.decoder = nn.Sequential(nn.Linear(32, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28)))
    return model


@pytest.mark.parametrize(
    ("make", "hint"),
    [
        (BudgetAutoencoder, "test MSE"),  # untrained
        (lambda: BudgetAutoencoder(output_padding=0), "output_padding"),
        (lambda: BudgetAutoencoder(code_size=64), "code has 64 numbers"),
        (lambda: BudgetAutoencoder(width=32), "parameters, the budget is 60,000"),
        (_ForwardAddsNoise, "decoder(encoder(x))"),
        (_NotSequential, "nn.Sequential"),
        (_with_dropout, "Dropout"),
        (_no_transposed, "ConvTranspose2d"),
        (lambda: "a model", "nn.Module"),
        (lambda: None, "train budget_model first"),  # the training cell failed or was not run
    ],
)
def test_budget_autoencoder_mistakes_are_named(make, hint: str, digits, capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    verdict = _verdict(lambda m: ex.check_budget_autoencoder(m, *digits), make(), capsys)
    assert verdict.startswith("Exercise 3.4: not yet (") and hint in verdict, verdict
