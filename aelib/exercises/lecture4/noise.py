"""Exercises 4.1 (salt-and-pepper noise) and 4.4 (the denoising training step): each defined once
(see aelib.exercises)."""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...noise import add_gaussian_noise
from .. import define
from ..answers import answer, draw, draw_int, finite, same, type_name

__all__ = ["SALT_AND_PEPPER", "DENOISING_STEP", "tiny_autoencoder"]


def _grey_images(n: int, g: torch.Generator) -> torch.Tensor:
    """Return n images (n, 1, 28, 28) with values strictly inside (0, 1), so that salt and pepper are visible."""
    return 0.1 + 0.8 * torch.rand(n, 1, 28, 28, generator=g)


# --- 4.1 salt_and_pepper(x, amount, generator) ---------------------------------------------


def noise_setting(seed: int | None) -> dict:
    """Return grey images (about 50,000 pixels: fractions to +-0.002), the amounts, the generator's seed,
    and (global seed, generator seed) pairs that show whether the noise comes from the generator."""
    if seed is None:
        x, amounts, noise_seed = _grey_images(64, draw(0)), [0.0, 0.1, 0.3, 1.0], 1
        return {"x": x, "amounts": amounts, "noise_seed": noise_seed, "repeats": [(100, 7), (200, 7), (200, 8)]}
    g = draw(seed)
    x = _grey_images(draw_int(g, 56, 64), g)
    amounts = [0.0, draw_int(g, 5, 40) / 100, draw_int(g, 41, 90) / 100, 1.0]
    noise_seed = draw_int(g, 0, 2**30)
    repeats = [(noise_seed + 1, noise_seed), (noise_seed + 2, noise_seed), (noise_seed + 2, noise_seed + 3)]
    return {"x": x, "amounts": amounts, "noise_seed": noise_seed, "repeats": repeats}


def probe_salt_and_pepper(inputs: dict, salt_and_pepper: Any) -> dict:
    x = inputs["x"]
    outputs = [
        answer(salt_and_pepper(x, a, torch.Generator().manual_seed(inputs["noise_seed"]))) for a in inputs["amounts"]
    ]
    repeats = []
    for global_seed, generator_seed in inputs["repeats"]:
        torch.manual_seed(global_seed)  # the noise must come from `generator`, not from the global seed
        repeats.append(answer(salt_and_pepper(x, 0.2, torch.Generator().manual_seed(generator_seed))))
    return {"outputs": outputs, "repeats": repeats, "input_after": answer(x)}


def judge_salt_and_pepper(inputs: dict, answers: dict) -> str | None:
    """Check that each pixel is kept or becomes 0 or 1, at the amount's rates, and that the noise is the generator's."""
    x = inputs["x"]
    for amount, out in zip(inputs["amounts"], answers["outputs"], strict=True):
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type_name(out)
            return f"expected a tensor of shape {tuple(x.shape)}, got {shape}"
        if not same(answers["input_after"], x, rtol=0, atol=0):
            return "x was modified in place: return a new tensor and leave the input as it was"
        out = out.to(x.dtype) if out.is_floating_point() else out.float()
        salt, pepper, kept = (out == 1), (out == 0), (out == x)
        if not (salt | pepper | kept).all():
            return "every pixel must stay as it was or become exactly 0 or exactly 1"
        if abs(salt.float().mean().item() - amount / 2) > 0.01 or abs(pepper.float().mean().item() - amount / 2) > 0.01:
            return (
                f"with amount={amount}, about {amount / 2:.0%} of pixels should become 1 and {amount / 2:.0%} become 0"
            )
    first, again, other = answers["repeats"]
    if not all(isinstance(t, torch.Tensor) and t.shape == x.shape for t in (first, again, other)):
        return f"expected a tensor of shape {tuple(x.shape)} for amount=0.2"
    if not torch.equal(first, again):
        return "the same generator seed must give the same noise: draw the random numbers with `generator=generator`"
    if torch.equal(first, other):
        return "different seeds gave identical noise: draw fresh random numbers from `generator`"
    return None


SALT_AND_PEPPER = define(
    "4.1", noise_setting, probe_salt_and_pepper, judge_salt_and_pepper, forbid=("aelib.noise.add_salt_and_pepper",)
)

# --- 4.4 denoising_step(model, optimizer, x, sigma, generator) -----------------------------


def tiny_autoencoder(seed: int, *, batch_norm: bool = False) -> nn.Module:
    """Return a small conv autoencoder for 1 x 8 x 8 images, with fixed random weights."""
    torch.manual_seed(seed)
    norm = [nn.BatchNorm2d(4)] if batch_norm else []
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2, padding=1),
        *norm,
        nn.ReLU(),  # 8x8 => 4x4
        nn.ConvTranspose2d(4, 1, 3, stride=2, padding=1, output_padding=1),
        nn.Sigmoid(),  # 4x4 => 8x8
    )


def step_setting(seed: int | None) -> dict:
    """Return a clean batch (16, 1, 8, 8), sigma, the noise's and the model's seeds, and two global seeds."""
    if seed is None:
        x = _grey_images(16, draw(3))[:, :, :8, :8]
        return {"x": x, "sigma": 0.3, "noise_seed": 11, "model_seed": 0, "global_seeds": (123, 456)}
    g = draw(seed)
    x = 0.1 + 0.8 * torch.rand(16, 1, 8, 8, generator=g)
    sigma, noise_seed, model_seed = draw_int(g, 10, 60) / 100, draw_int(g, 0, 2**30), draw_int(g, 0, 2**30)
    return {"x": x, "sigma": sigma, "noise_seed": noise_seed, "model_seed": model_seed, "global_seeds": (1, 2)}


def probe_denoising_step(inputs: dict, denoising_step: Any) -> dict:
    """Take the same first step twice, under different global seeds, then a second step; save the parameters."""
    x, sigma, noise_seed = inputs["x"], inputs["sigma"], inputs["noise_seed"]
    steps = []
    for global_seed in inputs["global_seeds"]:
        model = tiny_autoencoder(seed=inputs["model_seed"])
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        torch.manual_seed(global_seed)  # the step must draw its noise from `generator`, not from this global seed
        loss = denoising_step(model, optimizer, x, sigma, torch.Generator().manual_seed(noise_seed))
        try:
            loss = float(loss)
        except (TypeError, ValueError, RuntimeError):
            loss = {"type": type(loss).__name__}
        after_first = [answer(p) for p in model.parameters()]
        denoising_step(model, optimizer, x, sigma, torch.Generator().manual_seed(noise_seed + 1))
        steps.append({"loss": loss, "first": after_first, "second": [answer(p) for p in model.parameters()]})
    return {"steps": steps, "input_after": answer(x)}


def _reference_step(
    model: nn.Module,
    x: torch.Tensor,
    sigma: float,
    seed: int,
    *,
    noisy_input: bool = True,
    clean_target: bool = True,
    clip: bool = True,
    reduction: str = "mean",
) -> nn.Module:
    """Return a copy of `model` after one SGD step of the denoising loss (or of one of its typical mistakes)."""
    model = copy.deepcopy(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    noisy = add_gaussian_noise(x, sigma, generator=torch.Generator().manual_seed(seed), clip=clip)
    loss = F.mse_loss(model(noisy if noisy_input else x), x if clean_target else noisy, reduction=reduction)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return model


def _same_parameters(saved: list, model: nn.Module) -> bool:
    return all(same(p, q) for p, q in zip(saved, model.parameters(), strict=True))


_MISTAKES = [
    (dict(clean_target=False), "the loss compares the output with the noisy batch: the target must be the clean batch"),
    (dict(noisy_input=False), "the model was fed the clean batch: corrupt it first and feed the noisy batch"),
    (
        dict(noisy_input=False, clean_target=False),
        "no noise reached the model: corrupt the batch and feed the noisy version",
    ),
    (dict(clip=False), "the noisy batch was not clipped to [0, 1]: use aelib.add_gaussian_noise (it clips)"),
    (dict(reduction="sum"), "the loss is a sum over pixels: use the mean squared error (F.mse_loss or nn.MSELoss())"),
]


def judge_denoising_step(inputs: dict, answers: dict) -> str | None:
    """Replay one SGD step of MSE(model(noisy x), x) beside the student's; name the typical mistakes."""
    x, sigma, noise_seed = inputs["x"], inputs["sigma"], inputs["noise_seed"]
    if not same(answers["input_after"], x, rtol=0, atol=0):
        return "the clean batch x was modified in place: corrupt a copy (aelib.add_gaussian_noise returns one)"
    start = tiny_autoencoder(seed=inputs["model_seed"])
    first, rerun = answers["steps"]
    if len(first["first"]) != len(list(start.parameters())):
        raise ValueError("the probe saved another number of parameters")
    expected = _reference_step(start, x, sigma, noise_seed)
    if not _same_parameters(first["first"], expected):
        if not all(same(a, b) for a, b in zip(first["first"], rerun["first"], strict=True)):
            return (
                "the same generator gave different steps: draw the noise from `generator`, e.g. "
                "aelib.add_gaussian_noise(x, sigma, generator=generator)"
            )
        if _same_parameters(first["first"], start):
            return "the parameters did not change: call loss.backward() and then optimizer.step()"
        for changes, hint in _MISTAKES:
            if _same_parameters(first["first"], _reference_step(start, x, sigma, noise_seed, **changes)):
                return hint
        return (
            "the parameters after your step differ from one step of MSE(model(noisy batch), "
            "clean batch): check the noise, the loss and the order zero_grad, backward, step"
        )
    with torch.no_grad():
        noisy = add_gaussian_noise(x, sigma, generator=torch.Generator().manual_seed(noise_seed))
        expected_loss = F.mse_loss(start(noisy), x).item()
    if not finite(first["loss"]):
        return f"return the loss as a number (loss.item()), got {type_name(first['loss'])}"
    if not math.isclose(first["loss"], expected_loss, rel_tol=1e-4, abs_tol=1e-7):
        return (
            f"the step is right but it returned {first['loss']:.5f} instead of the batch's loss before "
            f"the step, {expected_loss:.5f}"
        )
    if not _same_parameters(first["second"], _reference_step(expected, x, sigma, noise_seed + 1)):
        return (
            "a second step went wrong: the gradients of the first step were kept; call "
            "optimizer.zero_grad() before loss.backward()"
        )
    return None


DENOISING_STEP = define("4.4", step_setting, probe_denoising_step, judge_denoising_step)
