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
    output_padding = tuple((n + 2 * p - k) % s for n, k, s, p in zip(input_size, conv.kernel_size, conv.stride, conv.padding))
    return nn.ConvTranspose2d(conv.out_channels, conv.in_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding, output_padding=output_padding)


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
        args = dict(in_channels=conv.out_channels, out_channels=conv.in_channels, kernel_size=conv.kernel_size, stride=conv.stride, padding=conv.padding)
        right = mirror_layer(conv, input_size).output_padding
        return nn.ConvTranspose2d(**{**args, **changes}, output_padding=right if output_padding is None else output_padding)

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
