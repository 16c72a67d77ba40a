"""Move a model out of the student's kernel as data, and rebuild it in the grader.

The probe exports the model's `encoder` and `decoder` (each an `nn.Sequential` of the
whitelisted layers of `layer_spec`) and its tensors (its `state_dict`); the judge
rebuilds the model from the spec, checks its size on the meta device, loads the tensors
strictly and evaluates it itself.

    # probe (kernel)                      # judge (grader, or the self-check)
    return export_autoencoder(model)       model = rebuild_autoencoder(answers)
                                           if isinstance(model, str): return model   # the problem

The rebuilt model computes `decoder(encoder(x))`, so any reshaping belongs inside them
(`nn.Flatten`, `nn.Unflatten`).
"""

from __future__ import annotations

import collections
import functools
import json
from typing import Any

import torch
from torch import nn

from ..data import load_mnist
from .layer_spec import export_sequential, rebuild_sequential

__all__ = ["MAX_PARAMETERS", "check_cost", "export_autoencoder", "rebuild_autoencoder", "hidden_test_images"]

MAX_PARAMETERS = 5_000_000  # far above any exercise's model; a spec asking for more is refused before it is built
MAX_ACTIVATIONS = 4_000_000  # numbers in one layer's output for one image: 28x28 images with 5,000 channels
MAX_WORK = 50_000_000  # multiply-adds per image: some 50 times the lecture's convolutional autoencoder


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
def _test_images() -> torch.Tensor:
    return load_mnist(verbose=False).test_images  # (N, 1, 28, 28)


def hidden_test_images(seed: int, num_images: int = 500) -> Any:
    """Return `num_images` MNIST test images (n, 1, 28, 28) chosen by `seed`: the same seed, the same images."""
    images = _test_images()
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    return images[order[:num_images]]
