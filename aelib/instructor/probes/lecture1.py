"""Probes and judges for lecture 1: the MSE, a deeper autoencoder, parameter counts, latent codes."""

from __future__ import annotations

import math
from typing import Any

from . import answer, is_int, judge, probe, same, type_name
from .layers import export_autoencoder, rebuild_autoencoder


def _draw(seed: int) -> Any:
    import torch

    return torch.Generator().manual_seed(seed)


def _int(g: Any, low: int, high: int) -> int:
    """Draw an int in [low, high] from generator `g`."""
    import torch

    return int(torch.randint(low, high + 1, (1,), generator=g))


# --- 1.1 mse(x, x_hat) ---------------------------------------------------------------------


def _mse_cases(seed: int) -> tuple[list, tuple]:
    """Return hidden (x, x_hat) pairs of several shapes, and a pair for the gradient."""
    import torch

    g = _draw(seed)
    images = (_int(g, 1, 4), 1, _int(g, 4, 28), _int(g, 4, 28))
    flat = (_int(g, 1, 6), _int(g, 2, 100))
    small = (_int(g, 2, 5), _int(g, 2, 5))
    cases = [(torch.rand(s, generator=g), torch.rand(s, generator=g)) for s in (images, flat)]
    cases.append((torch.randn(small, generator=g), torch.randn(small, generator=g)))
    width = _int(g, 3, 9)
    return cases, (torch.rand(2, width, generator=g), torch.rand(2, width, generator=g))


@probe("1.1")
def ask_mse(seed: int, mse: Any) -> dict:
    """Call mse on hidden pairs; keep the results, the inputs afterwards, and the gradient."""
    cases, (x, x_hat) = _mse_cases(seed)
    values, inputs_after = [], []
    for a, b in cases:
        values.append(answer(mse(a, b)))
        inputs_after.append([answer(a), answer(b)])
    x_hat.requires_grad_(True)
    got = mse(x, x_hat)
    gradient = None
    if getattr(got, "requires_grad", False) and getattr(got, "ndim", None) == 0:
        got.backward()
        gradient = x_hat.grad
    return {
        "values": values,
        "inputs_after": inputs_after,
        "gradient": answer(gradient),
        "tracks_gradients": bool(getattr(got, "requires_grad", False)),
    }


@judge("1.1")
def judge_mse(seed: int, answers: dict) -> str | None:
    """Compare with F.mse_loss, in value and gradient; name the usual mistakes."""
    import torch
    import torch.nn.functional as F

    cases, (x, x_hat) = _mse_cases(seed)
    for (a, b), got, after in zip(cases, answers["values"], answers["inputs_after"], strict=True):
        shape = tuple(a.shape)
        if not isinstance(got, torch.Tensor):
            return f"mse should return a tensor, so that gradients can flow through it; got {type_name(got)}"
        if not (same(after[0], a, rtol=0, atol=0) and same(after[1], b, rtol=0, atol=0)):
            return "mse changed its inputs in place; compute with new tensors instead"
        if got.ndim != 0:
            return (
                f"for inputs of shape {shape} mse returned shape {tuple(got.shape)}: average over every "
                "element to get a single number"
            )
        squared = (a - b) ** 2
        if same(got, F.mse_loss(b, a)):
            continue
        named = [
            (
                squared.sum().sqrt(),
                (
                    "that is the slide's formula, the square root of a sum (an L2 norm); the MSE is the mean of the "
                    "squared differences"
                ),
            ),
            (squared.sum(), "you summed the squared differences: take their mean instead"),
            (squared.mean().sqrt(), "that is the root of the mean squared error: leave out the square root"),
            ((a - b).abs().mean(), "that is the mean absolute error: square the differences"),
        ]
        return next((hint for value, hint in named if same(got, value)), f"wrong value for inputs of shape {shape}")
    if not answers["tracks_gradients"]:
        return "the result does not track gradients: compute it with tensor operations only (no .item(), no NumPy)"
    if not same(answers["gradient"], 2 * (x_hat - x) / x.numel()):
        return "the value is right but the gradient is not: compute the loss with differentiable tensor operations"
    return None


# --- 1.2 DeepAutoencoder(latent_dim) -------------------------------------------------------

DEEP_LATENT_DIM = 25  # the size exercise 1.2 trains and compares with PCA
DEEP_MAX_PARAMETERS = 1_000_000


@probe("1.2")
def ask_deep_autoencoder(seed: int, DeepAutoencoder: Any) -> dict:
    """Build the model as the check does (seed 0, latent_dim 25) and at a hidden code size; export both."""
    import torch

    other = _int(_draw(seed), 2, 40)
    torch.manual_seed(0)
    model = export_autoencoder(DeepAutoencoder(latent_dim=DEEP_LATENT_DIM))
    torch.manual_seed(0)
    return {"model": model, "other": export_autoencoder(DeepAutoencoder(latent_dim=other))}


def _linear_layers(module: Any) -> int:
    from torch import nn

    return sum(isinstance(m, nn.Linear) for m in module.modules())


@judge("1.2")
def judge_deep_autoencoder(seed: int, answers: dict) -> str | None:
    """Rebuild the model, check its depth and shapes, train it on the check's budget and compare with PCA."""
    import torch

    from ...exercises.lecture1 import budget_test_mse, pca_test_mse

    other = _int(_draw(seed), 2, 40)
    model = rebuild_autoencoder(answers["model"], (1, 28 * 28), max_parameters=DEEP_MAX_PARAMETERS)
    sized = rebuild_autoencoder(answers["other"], (1, 28 * 28), max_parameters=DEEP_MAX_PARAMETERS)
    for rebuilt in (model, sized):
        if isinstance(rebuilt, str):
            return rebuilt
    depth = (_linear_layers(model.encoder), _linear_layers(model.decoder))
    if min(depth) < 2:
        return (
            f"the encoder has {depth[0]} and the decoder {depth[1]} nn.Linear layers; give each at least two "
            "(a hidden layer each)"
        )
    x = torch.rand(3, 28 * 28, generator=_draw(seed))  # (3, 784)
    with torch.no_grad():
        for latent_dim, rebuilt in ((DEEP_LATENT_DIM, model), (other, sized)):
            z = rebuilt.encoder(x)
            if tuple(z.shape) != (3, latent_dim):
                return (
                    f"with latent_dim={latent_dim} the encoder maps (3, 784) to {tuple(z.shape)}, expected "
                    f"the code (3, {latent_dim})"
                )
        x_hat = model(x)
    if tuple(x_hat.shape) != (3, 28 * 28):
        return f"the model maps (3, 784) to {tuple(x_hat.shape)}, expected (3, 784)"
    test_mse = budget_test_mse(model.train())
    if not math.isfinite(test_mse):
        return "the test MSE is not finite after training: check the layers and the output activation"
    pca_mse = pca_test_mse()
    if test_mse >= pca_mse:
        return (
            f"after the check's training your test MSE is {test_mse:.4f} and PCA's with {DEEP_LATENT_DIM} "
            f"components is {pca_mse:.4f}; "
            "change the depth, the widths or the output activation (pixels lie in [0, 1])"
        )
    return None


# --- 1.3 num_parameters(layer_sizes) -------------------------------------------------------


def _layer_sizes(seed: int) -> list[list[int]]:
    g = _draw(seed)
    return [[_int(g, 1, 1000) for _ in range(_int(g, 2, 6))] for _ in range(6)]


@probe("1.3")
def ask_num_parameters(seed: int, num_parameters: Any) -> dict:
    return {"counts": [answer(num_parameters(sizes)) for sizes in _layer_sizes(seed)]}


@judge("1.3")
def judge_num_parameters(seed: int, answers: dict) -> str | None:
    for sizes, got in zip(_layer_sizes(seed), answers["counts"], strict=True):
        if not is_int(got):
            return f"num_parameters should return an int, got {type_name(got)}"
        pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
        if got == sum(a * b + b for a, b in pairs):
            continue
        if got == sum(a * b for a, b in pairs):
            return "you counted the weights but not the biases: every layer also has one bias per output"
        if got == sum(a * b + a for a, b in pairs):
            return "a layer has one bias per output, not per input"
        return f"wrong count for layer sizes {sizes}"
    return None


# --- 1.4 encode(model, images) -------------------------------------------------------------


def _encode_cases(seed: int) -> list[tuple[Any, Any, bool]]:
    """Return hidden (model, images, training) cases: lecture 1's model, and one whose encoder has dropout."""
    import torch
    from torch import nn

    from ...models import FCAutoencoder

    g = _draw(seed)
    cases = []
    for kind in ("fc", "fc", "flat", "dropout"):
        latent_dim, batch, training = _int(g, 2, 30), _int(g, 1, 6), bool(_int(g, 0, 1)) or kind == "dropout"
        torch.manual_seed(seed + len(cases))
        if kind == "dropout":
            model = nn.Module()
            model.encoder = nn.Sequential(nn.Linear(28 * 28, 32), nn.Dropout(0.5), nn.ReLU(), nn.Linear(32, latent_dim))
            model.decoder = nn.Sequential(nn.Linear(latent_dim, 28 * 28), nn.Sigmoid())
        else:
            model = FCAutoencoder(latent_dim)
        shape = (batch, 28 * 28) if kind == "flat" else (batch, 1, 28, 28)
        cases.append((model.train(training), torch.rand(shape, generator=g), training))
    return cases


@probe("1.4")
def ask_encode(seed: int, encode: Any) -> dict:
    codes, tracks, modes, images_after = [], [], [], []
    for model, images, _ in _encode_cases(seed):
        got = encode(model, images)
        codes.append(answer(got))
        tracks.append(bool(getattr(got, "requires_grad", False)))
        modes.append(model.training)
        images_after.append(answer(images))
    return {"codes": codes, "tracks_gradients": tracks, "modes": modes, "images_after": images_after}


@judge("1.4")
def judge_encode(seed: int, answers: dict) -> str | None:
    import torch

    cases = _encode_cases(seed)
    rows = zip(
        cases, answers["codes"], answers["tracks_gradients"], answers["modes"], answers["images_after"], strict=True
    )
    for index, ((model, images, training), got, tracks, mode, after) in enumerate(rows):
        with torch.no_grad():
            want = model.eval().encoder(images.flatten(1))  # (N, latent_dim)
        shape, expected = tuple(images.shape), tuple(want.shape)
        if not isinstance(got, torch.Tensor):
            return f"encode should return a tensor, got {type_name(got)}"
        if not same(after, images, rtol=0, atol=0):
            return "encode changed the images in place"
        if mode is not training:
            return (
                f"the model was in {'training' if training else 'eval'} mode before encode and is not after "
                "it: put it back as it was"
            )
        if tuple(got.shape) != expected:
            return f"for images of shape {shape} encode returned {tuple(got.shape)}, expected {expected}"
        if tracks is not False:
            return "the codes track gradients: compute them under torch.no_grad()"
        if not same(got, want):
            if index == len(cases) - 1:
                return (
                    "the codes change from call to call when the encoder has dropout: switch the model to "
                    "eval mode while encoding"
                )
            return f"wrong codes for images of shape {shape}: use the model's encoder on the flattened images"
    return None


# --- 1.5 train_step(model, x, optimizer) ---------------------------------------------------


def _step_setting(seed: int) -> tuple[int, int, list]:
    """Return the model's code size and seed, and three hidden batches (16, 784)."""
    import torch

    g = _draw(seed)
    return _int(g, 3, 16), _int(g, 0, 2**30), [torch.rand(16, 28 * 28, generator=g) for _ in range(3)]


def _step_model(latent_dim: int, model_seed: int) -> tuple[Any, Any]:
    """Return lecture 1's model and its Adam, as the check hands them to train_step."""
    import torch

    from ...models import FCAutoencoder

    torch.manual_seed(model_seed)
    model = FCAutoencoder(latent_dim)
    return model, torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)


@probe("1.5")
def ask_train_step(seed: int, train_step: Any) -> dict:
    latent_dim, model_seed, batches = _step_setting(seed)
    model, optimizer = _step_model(latent_dim, model_seed)
    model.train()
    steps = []
    for x in batches:
        got = train_step(model, x, optimizer)
        steps.append(
            {
                "value": answer(got),
                "batch_after": answer(x),
                "parameters": [answer(p) for p in model.parameters()],
                "gradients": [answer(p.grad) for p in model.parameters()],
            }
        )
    return {"steps": steps}


def _reference_step(model: Any, optimizer: Any, x: Any, *, zero_grad: bool = True) -> float:
    """Take one step of the lecture's loop: forward, MSE against the input, zero_grad (optional), backward, step."""
    import torch.nn.functional as F

    loss = F.mse_loss(model(x), x)
    if zero_grad:
        optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


@judge("1.5")
def judge_train_step(seed: int, answers: dict) -> str | None:
    """Replay the lecture's step beside the student's saved parameters; name the first difference."""
    import torch

    latent_dim, model_seed, batches = _step_setting(seed)
    reference, optimizer = _step_model(latent_dim, model_seed)
    piled, piled_optimizer = _step_model(latent_dim, model_seed)
    before = [p.detach().clone() for p in reference.parameters()]
    for i, (x, step) in enumerate(zip(batches, answers["steps"], strict=True), start=1):
        want = _reference_step(reference, optimizer, x)
        _reference_step(piled, piled_optimizer, x, zero_grad=False)
        got, params = step["value"], step["parameters"]
        if not same(step["batch_after"], x, rtol=0, atol=0):
            return "train_step changed the batch x in place; it is the target too, so leave it as it is"
        if isinstance(got, torch.Tensor):
            return (
                "train_step returned a tensor: return loss.item(), a Python float (a tensor would keep its graph alive)"
            )
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return f"train_step should return the batch's loss as a float, got {type_name(got)}"
        if len(params) != len(before):
            raise ValueError("the probe saved another number of parameters")
        if all(same(p, q, rtol=0, atol=0) for p, q in zip(params, before, strict=True)):
            grads = step["gradients"]
            if all(g is None for g in grads):
                return (
                    "the parameters did not change and have no gradients: call loss.backward(), then optimizer.step()"
                )
            if all(g is None or (isinstance(g, torch.Tensor) and not g.any()) for g in grads):
                return (
                    "the gradients were zero when the step was taken: call optimizer.zero_grad() before "
                    "loss.backward(), not after it"
                )
            return "the parameters did not change: call optimizer.step() after loss.backward()"
        if not all(same(p, q) for p, q in zip(params, reference.parameters(), strict=True)):
            if i > 1 and all(same(p, q) for p, q in zip(params, piled.parameters(), strict=True)):
                return "the gradients pile up from step to step: call optimizer.zero_grad() before loss.backward()"
            return (
                f"after step {i} the parameters differ from one Adam step on the MSE between model(x) and x: "
                "compute the loss against the input itself and call zero_grad, backward and step once each"
            )
        if not math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-7):
            if math.isclose(got, want * x.numel(), rel_tol=1e-4):
                return "the returned loss is the sum of the squared errors: return the mean (nn.MSELoss()'s value)"
            return f"step {i} returned {got:.6g} but the batch's MSE before the update is {want:.6g}"
        before = [p.detach().clone() for p in reference.parameters()]
    return None
