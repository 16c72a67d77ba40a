"""Layer-by-layer shape traces, measured by running the model (lecture 3).

`trace_shapes(model, (1, 28, 28))` pushes one zero image through `model` with a
forward hook on every leaf layer and records, in the order the layers ran, each
layer's output shape and parameter count. Nothing is guessed from the layer
arguments: what the table shows is what PyTorch computed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["LayerShape", "ShapeTrace", "trace_shapes"]


@dataclass(frozen=True)
class LayerShape:
    """One row of a shape trace: a layer's name, type, output shape (without the batch) and parameters."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    num_params: int


@dataclass
class ShapeTrace:
    """The layers a model ran, in order, with their output shapes; prints as a table."""

    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...] | None = None  # the model's own output; None if it is not one tensor
    layers: list[LayerShape] = field(default_factory=list)

    @property
    def num_params(self) -> int:
        """Return the parameters of all rows together (a layer that ran twice counts twice)."""
        return sum(layer.num_params for layer in self.layers)

    def __iter__(self) -> Iterator[LayerShape]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __str__(self) -> str:
        rows = [("layer", "type", "output shape", "parameters"), ("input", "", str(self.input_shape), "")]
        rows += [(layer.name, layer.kind, str(layer.output_shape), f"{layer.num_params:,}") for layer in self.layers]
        rows.append(("total", "", "", f"{self.num_params:,}"))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [
            f"{name:<{widths[0]}}  {kind:<{widths[1]}}  {shape:<{widths[2]}}  {params:>{widths[3]}}"
            for name, kind, shape, params in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        return "\n".join(line.rstrip() for line in lines)

    def __repr__(self) -> str:
        shapes = f"{self.input_shape} => {self.output_shape}"
        return f"ShapeTrace({shapes}, {len(self.layers)} layers, {self.num_params:,} parameters)"


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    # A model without submodules is its own (only) leaf, named "" by named_modules.
    return [
        (name or type(model).__name__, module) for name, module in model.named_modules() if not list(module.children())
    ]


@torch.no_grad()
def trace_shapes(model: nn.Module, input_shape: Sequence[int]) -> ShapeTrace:
    """Run one zero input of `input_shape` (no batch dimension) through `model` and trace every leaf layer.

    Args:
        model: any module; each leaf layer (one without submodules) gets a row per call.
        input_shape: the shape of one example, e.g. (1, 28, 28); a batch of one is run.

    Returns:
        ShapeTrace whose rows give each layer's output shape without the batch dimension, and
        whose `output_shape` is the model's output (which a reshape in `forward` may change).
    """
    input_shape = tuple(int(n) for n in input_shape)
    trace = ShapeTrace(input_shape)
    param = next(model.parameters(), None)
    x = torch.zeros((1, *input_shape), device=param.device if param is not None else None)

    started: list[tuple[str, nn.Module, tuple[int, ...]]] = []  # the layer running now, and its input shape

    def before(name: str):
        def hook(module: nn.Module, inputs: tuple) -> None:
            shape = tuple(inputs[0].shape[1:]) if inputs and isinstance(inputs[0], torch.Tensor) else ()
            started.append((name, module, shape))

        return hook

    def after(name: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            if not isinstance(output, torch.Tensor):
                raise TypeError(
                    f"layer {name!r} ({type(module).__name__}) returned {type(output).__name__}: "
                    "trace_shapes needs tensors"
                )
            num_params = sum(p.numel() for p in module.parameters())
            trace.layers.append(LayerShape(name, type(module).__name__, tuple(output.shape[1:]), num_params))

        return hook

    handles = []
    for name, module in _leaves(model):
        handles += [module.register_forward_pre_hook(before(name)), module.register_forward_hook(after(name))]
    was_training = model.training
    model.eval()
    try:
        y = model(x)
    except RuntimeError as err:
        if not started:
            raise
        name, module, shape = started[-1]
        if len(trace.layers) == len(started):  # the last layer finished: the code between layers failed
            shape = trace.layers[-1].output_shape
            where = f"the model's forward failed after layer {name!r}, whose output has shape {shape}"
        else:
            where = f"layer {name!r} ({module}) failed on an input of shape {shape}"
        raise RuntimeError(f"{where} (batch left out): {err}") from err
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    trace.output_shape = tuple(y.shape[1:]) if isinstance(y, torch.Tensor) else None
    return trace
