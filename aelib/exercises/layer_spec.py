"""The layer spec: an nn.Sequential of standard layers written as data, and rebuilt from it.

A probe cannot hand the grader a model object: its code is the student's, and running it
outside the sandbox would run the student's code there. So the probe writes the layers of
an `nn.Sequential` as a JSON-able spec (each layer's type and constructor arguments, for
the whitelisted standard layers below only), and the judge rebuilds them with PyTorch's
own classes, on the meta device, before any weight is loaded (see `model_transfer`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

__all__ = ["LAYERS", "export_sequential", "rebuild_sequential"]

LAYERS: dict[str, tuple[str, ...]] = {
    "Conv2d": (
        "in_channels",
        "out_channels",
        "kernel_size",
        "stride",
        "padding",
        "dilation",
        "groups",
        "bias",
        "padding_mode",
    ),
    "ConvTranspose2d": (
        "in_channels",
        "out_channels",
        "kernel_size",
        "stride",
        "padding",
        "output_padding",
        "groups",
        "bias",
        "dilation",
    ),
    "Linear": ("in_features", "out_features", "bias"),
    "Flatten": ("start_dim", "end_dim"),
    "Unflatten": ("dim", "unflattened_size"),
    "ReLU": (),
    "Sigmoid": (),
    "Tanh": (),
    "LeakyReLU": ("negative_slope",),
    "BatchNorm1d": ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    "BatchNorm2d": ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    "MaxPool2d": ("kernel_size", "stride", "padding", "dilation", "ceil_mode"),
    "Upsample": ("size", "scale_factor", "mode", "align_corners"),
    "Dropout": ("p",),
}
_WORDS = {
    "padding": {"same", "valid"},
    "padding_mode": {"zeros", "reflect", "replicate", "circular"},
    "mode": {"nearest", "nearest-exact", "linear", "bilinear", "bicubic"},
}
_LIST = ", ".join(LAYERS)


def _value(layer: Any, name: str) -> Any:
    """Return a layer's constructor argument `name`, as JSON."""
    value = getattr(layer, name)
    if name == "bias" and not isinstance(value, bool):
        return value is not None  # Conv and Linear keep the bias tensor, or None
    if name == "momentum" and value is None:
        return None
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "item"):  # a 0-dim tensor, e.g. a learned-looking hyperparameter
        return value.item()
    return value


def export_sequential(module: Any, where: str = "the model") -> list[dict]:
    """Return the spec of an nn.Sequential of whitelisted layers: [{"type": "Conv2d", "args": {...}}, ...].

    Raises ValueError, naming the first layer that is not whitelisted (subclasses are not).
    """
    if type(module) is not nn.Sequential:
        raise ValueError(f"{where} must be an nn.Sequential of standard layers ({_LIST}), got {type(module).__name__}")
    spec = []
    for index, layer in enumerate(module):
        kind = type(layer).__name__
        if kind not in LAYERS or type(layer) is not getattr(nn, kind):
            raise ValueError(f"layer {index} of {where} is {kind}; the grader rebuilds only {_LIST}")
        if kind == "MaxPool2d" and layer.return_indices:
            raise ValueError(
                f"layer {index} of {where} returns indices; the grader rebuilds MaxPool2d(return_indices=False) only"
            )
        spec.append({"type": kind, "args": {name: _value(layer, name) for name in LAYERS[kind]}})
    return spec


def _argument(kind: str, name: str, value: Any) -> Any:
    """Return one constructor argument from a spec, checked; raise ValueError if it is not plain and small."""
    if (
        isinstance(value, list)
        and 1 <= len(value) <= 3
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        value = tuple(value)
    ok = (
        value is None
        or isinstance(value, bool)
        or (isinstance(value, int) and -4 <= value <= 1_000_000)
        or (isinstance(value, float) and math.isfinite(value) and abs(value) <= 1e6)
        or (isinstance(value, tuple) and all(-4 <= v <= 100_000 for v in value))
        or (isinstance(value, str) and value in _WORDS.get(name, ()))
    )
    if not ok:
        raise ValueError(f"{kind}: argument {name}={value!r} is not one the grader rebuilds")
    return value


def rebuild_sequential(spec: Any) -> Any:
    """Build an nn.Sequential from a spec (see export_sequential) on the meta device: no memory, no weights yet.

    Raises ValueError if the spec is not one of whitelisted layers with plain arguments.
    """
    if not isinstance(spec, list) or len(spec) > 200:
        raise ValueError("the layer spec is not a list of layers")
    layers = []
    for entry in spec:
        if not isinstance(entry, dict) or entry.get("type") not in LAYERS or not isinstance(entry.get("args"), dict):
            raise ValueError(f"not a whitelisted layer: {str(entry)[:80]}")
        kind, args = entry["type"], entry["args"]
        if set(args) != set(LAYERS[kind]):
            raise ValueError(f"{kind}: expected the arguments {', '.join(LAYERS[kind])}")
        layers.append((kind, {name: _argument(kind, name, value) for name, value in args.items()}))
    with torch.device("meta"):
        return nn.Sequential(*(getattr(nn, kind)(**kwargs) for kind, kwargs in layers))
