"""Exercise 4.1, salt-and-pepper noise: defined once (see aelib.exercises)."""

from __future__ import annotations

from typing import Any

import torch

from .. import define
from ..answers import answer, draw, draw_int, same, type_name

__all__ = ["SALT_AND_PEPPER"]


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
