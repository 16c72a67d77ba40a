"""Move a model out of the student's kernel as data, and rebuild it in the grader.

A probe cannot hand the grader a model object: its code is the student's, and running it
outside the sandbox would run the student's code there. So the probe exports the layers
of an `nn.Sequential` as a JSON spec (each layer's type and constructor arguments, for the
whitelisted standard layers below only) plus the model's tensors (its `state_dict`); the
judge rebuilds the model from the spec with PyTorch's own classes, loads the tensors
strictly and evaluates it itself.

    # probe (kernel)                      # judge (grader)
    return export_autoencoder(model)       model = rebuild_autoencoder(answers)
                                           if isinstance(model, str): return model   # the problem
                                           mse = hidden_test_mse(model, seed)

An autoencoder is exported as its `encoder` and `decoder`, each an `nn.Sequential` of
whitelisted layers; the rebuilt model computes `decoder(encoder(x))`, so any reshaping
belongs inside them (`nn.Flatten`, `nn.Unflatten`).
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

__all__ = [
    "LAYERS",
    "MAX_PARAMETERS",
    "export_sequential",
    "rebuild_sequential",
    "check_cost",
    "export_autoencoder",
    "rebuild_autoencoder",
    "hidden_test_images",
    "hidden_test_mse",
]

# Each whitelisted layer with the constructor arguments that define it (and that it keeps as attributes).
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
MAX_PARAMETERS = 5_000_000  # far above any exercise's model; a spec asking for more is refused before it is built
MAX_ACTIVATIONS = 4_000_000  # numbers in one layer's output for one image: 28x28 images with 5,000 channels
MAX_WORK = 50_000_000  # multiply-adds per image: some 50 times the lecture's convolutional autoencoder
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
    from torch import nn

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
    import torch
    from torch import nn

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


def check_cost(
    model: Any,
    input_shape: tuple[int, ...],
    *,
    max_parameters: int = MAX_PARAMETERS,
    max_activations: int = MAX_ACTIVATIONS,
    max_work: int = MAX_WORK,
) -> str | None:
    """Return why a meta-device model is too large to evaluate in the grader, or None.

    It counts the parameters and pushes one input of `input_shape` through on the meta
    device, measuring the largest activation and the multiply-adds of the convolutions and
    linear layers; a model whose layers do not fit the input is reported too.
    """
    import torch

    count = sum(p.numel() for p in model.parameters())
    if count > max_parameters:
        return f"the model has {count:,} parameters, more than the {max_parameters:,} the grader evaluates"
    largest, work = [0], [0]

    def measure(module: Any, inputs: tuple, output: Any) -> None:
        largest[0] = max(largest[0], output.numel())
        weight = getattr(module, "weight", None)
        if (
            weight is not None and weight.ndim >= 2
        ):  # a convolution or a linear layer: one multiply-add per weight and position
            positions = max(inputs[0][0, 0].numel(), output[0, 0].numel()) if output.ndim > 2 else 1
            work[0] += weight.numel() * positions

    hooks = [m.register_forward_hook(measure) for m in model.modules() if not list(m.children())]
    try:
        model(torch.empty(input_shape, device="meta"))
    except (RuntimeError, ValueError, TypeError) as err:
        return f"the layers do not fit an input of shape {input_shape}: {str(err).splitlines()[0][:160]}"
    finally:
        for hook in hooks:
            hook.remove()
    if largest[0] > max_activations:
        return (
            f"a layer's output has {largest[0]:,} numbers per image, more than the {max_activations:,} the "
            "grader evaluates"
        )
    if work[0] > max_work:
        return f"the model needs {work[0]:,} multiply-adds per image, more than the {max_work:,} the grader evaluates"
    return None


def export_autoencoder(model: Any) -> dict:
    """Export a model's `encoder` and `decoder` (each an nn.Sequential) and its weights, or say why it cannot be.

    Returns {"spec": JSON text, "state": {name: tensor}} or {"refused": reason}.
    """
    from torch import nn

    if not isinstance(model, nn.Module):
        return {"refused": f"expected an nn.Module, got {type(model).__name__}"}
    try:
        spec = {
            part: export_sequential(getattr(model, part, None), f"`model.{part}`") for part in ("encoder", "decoder")
        }
    except ValueError as err:
        return {"refused": f"the grader rebuilds your model from its layers: {err}"}
    state = {
        f"{part}.{name}": tensor.detach().cpu().clone()
        for part in ("encoder", "decoder")
        for name, tensor in getattr(model, part).state_dict().items()
    }
    return {"spec": json.dumps(spec), "state": state}


def rebuild_autoencoder(
    answers: dict, input_shape: tuple[int, ...] = (1, 1, 28, 28), *, max_parameters: int = MAX_PARAMETERS
) -> Any:
    """Rebuild an exported autoencoder with its weights, in eval mode, or return the problem as a string.

    The rebuilt model is an nn.Sequential with two children, `encoder` and `decoder`: its
    forward is decoder(encoder(x)). `input_shape` is one input's shape, batch included,
    used to check the model's size before any memory is allocated.
    """
    import collections

    import torch
    from torch import nn

    if isinstance(answers.get("refused"), str):
        return answers["refused"][:300]
    spec = json.loads(answers["spec"])
    if not isinstance(spec, dict) or set(spec) != {"encoder", "decoder"}:
        raise ValueError("the spec does not describe an encoder and a decoder")
    model = nn.Sequential(
        collections.OrderedDict((part, rebuild_sequential(spec[part])) for part in ("encoder", "decoder"))
    )
    problem = check_cost(model, input_shape, max_parameters=max_parameters)
    if problem is not None:
        return problem
    state = answers["state"]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(t, torch.Tensor) for k, t in state.items()
    ):
        raise ValueError("the weights are not a mapping of tensors")
    model = model.to_empty(device="cpu")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        return f"the weights do not fit the layers: {str(err).strip().splitlines()[-1].strip()[:160]}"
    return model.eval()


@functools.lru_cache(maxsize=1)
def _test_images() -> Any:
    import aelib

    return aelib.load_mnist(verbose=False).test_images  # (N, 1, 28, 28)


def hidden_test_images(seed: int, num_images: int = 500) -> Any:
    """Return `num_images` MNIST test images (n, 1, 28, 28) chosen by `seed`: the same seed, the same images."""
    import torch

    images = _test_images()
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    return images[order[:num_images]]


def hidden_test_mse(model: Any, seed: int, num_images: int = 500) -> float:
    """Return the reconstruction MSE of a rebuilt model on hidden test images, on the CPU; NaN if it fails."""
    import torch

    x = hidden_test_images(seed, num_images)
    try:
        with torch.no_grad():
            x_hat = model.eval()(x)
    except RuntimeError:
        return math.nan
    if x_hat.shape != x.shape:
        return math.nan
    return float(((x_hat - x) ** 2).mean())
