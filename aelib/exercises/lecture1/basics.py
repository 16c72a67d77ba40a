"""Exercises 1.1 (the MSE) and 1.4 (latent codes): each defined once (see aelib.exercises)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...models import FCAutoencoder
from .. import define
from ..answers import answer, draw, draw_int, same, type_name

__all__ = ["MSE", "ENCODE"]

# --- 1.1 mse(x, x_hat) ---------------------------------------------------------------------


def mse_inputs(seed: int | None) -> tuple[list, tuple]:
    """Return (x, x_hat) pairs of several shapes, and a pair for the gradient (fixed: the lecture's example first)."""
    if seed is None:
        g = draw(0)
        cases = [
            (torch.tensor([[0.0, 1.0], [1.0, 0.5]]), torch.tensor([[0.0, 0.0], [1.0, 1.0]])),  # the lecture's example
            (torch.rand(4, 1, 28, 28, generator=g), torch.rand(4, 1, 28, 28, generator=g)),
            (torch.rand(1, 784, generator=g), torch.rand(1, 784, generator=g)),
            (torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)),
        ]
        return cases, (torch.rand(2, 6, generator=g), torch.rand(2, 6, generator=g))
    g = draw(seed)
    images = (draw_int(g, 1, 4), 1, draw_int(g, 4, 28), draw_int(g, 4, 28))
    flat = (draw_int(g, 1, 6), draw_int(g, 2, 100))
    small = (draw_int(g, 2, 5), draw_int(g, 2, 5))
    cases = [(torch.rand(s, generator=g), torch.rand(s, generator=g)) for s in (images, flat)]
    cases.append((torch.randn(small, generator=g), torch.randn(small, generator=g)))
    width = draw_int(g, 3, 9)
    return cases, (torch.rand(2, width, generator=g), torch.rand(2, width, generator=g))


def probe_mse(inputs: tuple[list, tuple], mse: Any) -> dict:
    """Call mse on each pair; keep the results, the inputs afterwards, and the gradient."""
    cases, (x, x_hat) = inputs
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


def judge_mse(inputs: tuple[list, tuple], answers: dict) -> str | None:
    """Compare with F.mse_loss, in value and gradient; name the usual mistakes."""
    cases, (x, x_hat) = inputs
    for (a, b), got, after in zip(cases, answers["values"], answers["inputs_after"], strict=True):
        shape = tuple(a.shape)
        if not isinstance(got, torch.Tensor):
            return f"mse should return a tensor, so that gradients can flow through it; got {type_name(got)}"
        if not (same(after[0], a, rtol=0, atol=0) and same(after[1], b, rtol=0, atol=0)):
            return "mse changed its inputs in place; compute with new tensors instead"
        if got.ndim != 0:
            return (
                f"for inputs of shape {shape} mse returned shape {tuple(got.shape)}: "
                "average over every element to get a single number"
            )
        squared = (a - b) ** 2
        if same(got, F.mse_loss(b, a)):
            continue
        named = [
            (
                squared.sum().sqrt(),
                "that is the slide's formula, the square root of a sum (an L2 norm); "
                "the MSE is the mean of the squared differences",
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


MSE = define("1.1", mse_inputs, probe_mse, judge_mse)

# --- 1.4 encode(model, images) -------------------------------------------------------------


class _DropoutAutoencoder(nn.Module):
    """A small autoencoder whose encoder has dropout: its codes depend on train/eval mode."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(28 * 28, 32), nn.Dropout(0.5), nn.ReLU(), nn.Linear(32, latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, 28 * 28), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x.flatten(1))).view_as(x)


def encode_cases(seed: int | None) -> list[tuple[nn.Module, torch.Tensor, bool]]:
    """Return (model, images, training) cases: lecture 1's model, flat images, and a model whose encoder has dropout."""
    if seed is None:
        g = draw(0)
        settings = [("fc", 5, 4, True), ("fc", 25, 1, False), ("flat", 3, 6, True), ("dropout", 8, 5, True)]
    else:
        g = draw(seed)
        settings = []
        for kind in ("fc", "fc", "flat", "dropout"):
            latent_dim, batch = draw_int(g, 2, 30), draw_int(g, 1, 6)
            settings.append((kind, latent_dim, batch, bool(draw_int(g, 0, 1)) or kind == "dropout"))
    cases = []
    for kind, latent_dim, batch, training in settings:
        torch.manual_seed(latent_dim if seed is None else seed + len(cases))
        model = _DropoutAutoencoder(latent_dim) if kind == "dropout" else FCAutoencoder(latent_dim)
        shape = (batch, 28 * 28) if kind == "flat" else (batch, 1, 28, 28)
        cases.append((model.train(training), torch.rand(shape, generator=g), training))
    return cases


def probe_encode(inputs: list, encode: Any) -> dict:
    codes, tracks, modes, images_after = [], [], [], []
    for model, images, _ in inputs:
        got = encode(model, images)
        codes.append(answer(got))
        tracks.append(bool(getattr(got, "requires_grad", False)))
        modes.append(model.training)
        images_after.append(answer(images))
    return {"codes": codes, "tracks_gradients": tracks, "modes": modes, "images_after": images_after}


def judge_encode(inputs: list, answers: dict) -> str | None:
    """Compare with the model's encoder in eval mode, without gradients, and the model's mode restored."""
    rows = zip(
        inputs, answers["codes"], answers["tracks_gradients"], answers["modes"], answers["images_after"], strict=True
    )
    for (model, images, training), got, tracks, mode, after in rows:
        with torch.no_grad():
            want = model.eval().encoder(images.flatten(1))  # (N, latent_dim)
        shape = tuple(images.shape)
        if not isinstance(got, torch.Tensor):
            return f"encode should return a tensor, got {type_name(got)}"
        if not same(after, images, rtol=0, atol=0):
            return "encode changed the images in place"
        if mode is not training:
            mode_name = "training" if training else "eval"
            return f"the model was in {mode_name} mode before encode and is not after it: put it back as it was"
        if got.shape != want.shape:
            return (
                f"for images of shape {shape} and a code of size {want.shape[1]} encode returned "
                f"{tuple(got.shape)}, expected {tuple(want.shape)}"
            )
        if tracks is not False:
            return "the codes track gradients: compute them under torch.no_grad()"
        if not same(got, want):
            if isinstance(model, _DropoutAutoencoder):
                return (
                    "the codes change from call to call when the encoder has dropout: "
                    "switch the model to eval mode while encoding"
                )
            return f"wrong codes for images of shape {shape}: use the model's encoder on the flattened images"
    return None


ENCODE = define("1.4", encode_cases, probe_encode, judge_encode)
