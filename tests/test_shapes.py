"""The shape trace against the shapes PyTorch really produces, layer by layer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import aelib


def _real_shapes(model: nn.Module, x: torch.Tensor) -> list[tuple[int, ...]]:
    """Run the leaf layers of a Sequential encoder/decoder pair by hand and collect every shape."""
    shapes = []
    for layer in [*model.encoder, *model.decoder]:
        x = layer(x)
        shapes.append(tuple(x.shape[1:]))
    return shapes


@pytest.mark.parametrize("code_kernel_size", [1, 4, 7])
def test_trace_matches_running_the_layers_by_hand(code_kernel_size: int) -> None:
    torch.manual_seed(0)
    model = aelib.ConvAutoencoder(code_kernel_size=code_kernel_size)
    trace = aelib.trace_shapes(model, (1, 28, 28))
    assert [layer.output_shape for layer in trace] == _real_shapes(model, torch.zeros(2, 1, 28, 28))
    assert trace.output_shape == (1, 28, 28)


def test_trace_of_the_lecture_model() -> None:
    trace = aelib.trace_shapes(aelib.ConvAutoencoder(), (1, 28, 28))
    convs = [(layer.name, layer.output_shape, layer.num_params) for layer in trace if layer.kind.startswith("Conv")]
    assert convs == [
        ("encoder.0", (16, 14, 14), 160),
        ("encoder.2", (32, 7, 7), 4_640),
        ("encoder.4", (64, 1, 1), 100_416),
        ("decoder.0", (32, 7, 7), 100_384),
        ("decoder.2", (16, 14, 14), 4_624),
        ("decoder.4", (1, 28, 28), 145),
    ]
    assert [layer.kind for layer in trace][-1] == "ReLU"
    assert trace.num_params == aelib.count_parameters(aelib.ConvAutoencoder())


def test_parameter_counts_match_pytorch() -> None:
    model = aelib.FCAutoencoder(25)
    trace = aelib.trace_shapes(model, (784,))
    modules = dict(model.named_modules())
    for layer in trace:
        assert layer.num_params == sum(p.numel() for p in modules[layer.name].parameters())
    assert [layer.output_shape for layer in trace] == [(25,), (25,), (784,), (784,)]


def test_output_shape_is_the_models_not_the_last_layers() -> None:
    trace = aelib.trace_shapes(aelib.FCAutoencoder(5), (1, 28, 28))  # forward reshapes the Tanh's (784,) back
    assert trace.layers[-1].output_shape == (784,)
    assert trace.output_shape == (1, 28, 28)
    assert repr(trace) == "ShapeTrace((1, 28, 28) => (1, 28, 28), 4 layers, 8,629 parameters)"


def test_table_lists_every_layer_in_order() -> None:
    text = str(aelib.trace_shapes(aelib.ConvAutoencoder(final_activation=nn.Sigmoid), (1, 28, 28)))
    lines = text.splitlines()
    assert lines[0].split() == ["layer", "type", "output", "shape", "parameters"]
    assert lines[2].split() == ["input", "(1,", "28,", "28)"]
    assert lines[3].split() == ["encoder.0", "Conv2d", "(16,", "14,", "14)", "160"]
    assert lines[-2].split() == ["decoder.5", "Sigmoid", "(1,", "28,", "28)", "0"]
    assert lines[-1].split() == ["total", "210,369"]


def test_a_layer_called_twice_appears_twice() -> None:
    layer = nn.Linear(4, 4)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    trace = aelib.trace_shapes(model, (4,))
    assert [row.name for row in trace] == ["0", "1", "0"]


def test_a_model_without_submodules_is_its_own_row() -> None:
    trace = aelib.trace_shapes(nn.Conv2d(1, 2, 3), (1, 5, 5))
    assert [(row.name, row.output_shape, row.num_params) for row in trace] == [("Conv2d", (2, 3, 3), 20)]


def test_trace_restores_mode_and_removes_hooks() -> None:
    model = aelib.ConvAutoencoder().train()
    aelib.trace_shapes(model, (1, 28, 28))
    assert model.training
    assert all(not m._forward_hooks for m in model.modules())
    model.eval()
    aelib.trace_shapes(model, (1, 28, 28))
    assert not model.training


def test_trace_names_the_layer_where_shapes_break() -> None:
    model = aelib.ConvAutoencoder()
    with pytest.raises(RuntimeError, match=r"'encoder\.4' \(Conv2d\(32, 64.*\(32, 2, 2\)"):
        aelib.trace_shapes(model, (1, 5, 5))  # 5x5 => 3x3 => 2x2: too small for the 7x7 kernel
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


class _BadReshape(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1)).view(-1, 1, 28, 28)  # 10 numbers cannot become 28x28


def test_trace_blames_the_code_between_layers_when_no_layer_failed() -> None:
    with pytest.raises(RuntimeError, match=r"forward failed after layer 'fc', whose output has shape \(10,\)"):
        aelib.trace_shapes(_BadReshape(), (1, 28, 28))
