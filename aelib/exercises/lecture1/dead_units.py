"""Exercises 1.3 (diagnose and revive dead code units) and 1.5 (predict a dead model's plateau): each defined
once (see aelib.exercises).

Both ask about section 2's dead units on real digits: the budgets' offline MNIST digits,
the same on every machine, so that the sandboxed probe and the grader see the same images.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ...models import FCAutoencoder
from .. import define
from ..answers import answer, draw, draw_int, finite, is_int, same, type_name
from . import budgets

__all__ = ["REVIVE_DEAD_UNITS", "DEAD_MODEL_LOSS"]

WINDOW = (0.35, 0.65)  # a revived unit must be active on this share of the images: about half


def _digits(seed: int | None, g: torch.Generator, low: int, high: int) -> torch.Tensor:
    """Return real digits (N, 1, 28, 28): the first `high` test digits (fixed), or N in [low, high] of all 3,000."""
    train, test = budgets.budget_digits()
    if seed is None:
        chosen = test[:high]
    else:
        pool = torch.cat([train, test])  # (3000, 784)
        chosen = pool[torch.randperm(len(pool), generator=g)[: draw_int(g, low, high)]]
    return chosen.reshape(-1, 1, 28, 28).clone()  # a copy: the budgets' cache stays as it is


# --- 1.3 revive_dead_units(model, images) --------------------------------------------------


def revive_inputs(seed: int | None) -> dict:
    """Return section 2's model with some dead code units, digits (N, 1, 28, 28), and which units are which.

    Every unit but the special ones is active on 20 % to 80 % of the images. The dead
    units had all their weights pushed down together (as Adam does) and a negative bias:
    their input is below 0 on every image, even with a bias of 0. One unit is alive on
    only a few images, all in the second half of them; one is alive on many images, but
    with outputs 10,000 times smaller than the others'.
    """
    g = draw(13 if seed is None else seed)
    images = _digits(seed, g, 400, 700 if seed is not None else 500)
    if seed is None:
        latent_dim, num_dead, model_seed = 8, 3, 0
    else:
        latent_dim, num_dead, model_seed = draw_int(g, 6, 14), draw_int(g, 1, 3), draw_int(g, 0, 2**30)
    units = torch.randperm(latent_dim, generator=g).tolist()
    dead, rare, weak = sorted(units[:num_dead]), units[num_dead], units[num_dead + 1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(model_seed)
        model = FCAutoencoder(latent_dim)
    x = images.flatten(1)  # (N, 784)
    n = len(x)
    linear = model.encoder[0]
    with torch.no_grad():
        weighted = x @ linear.weight.T  # (N, k): each unit's input before its bias
        for unit in range(latent_dim):
            share_off = 0.2 + 0.6 * torch.rand((), generator=g)  # the share of images on which the unit is 0
            linear.bias[unit] = -torch.quantile(weighted[:, unit], share_off)
        order = weighted[:, rare].argsort(descending=True)
        ranked = weighted[order, rare]
        gaps = ranked[:6] - ranked[1:7]
        m = next((i + 1 for i in range(draw_int(g, 0, 2), 6) if gaps[i] > 1e-3), int(gaps.argmax()) + 1)
        linear.bias[rare] = -(ranked[m - 1] + ranked[m]) / 2  # active on its top m images only
        linear.weight[weak] *= 1e-4
        linear.bias[weak] *= 1e-4
        ink = x.sum(dim=1)  # (N,), positive for every digit
        for unit in dead:
            shift = (weighted[:, unit] / ink).max() + 0.02 + 0.02 * torch.rand((), generator=g)
            linear.weight[unit] -= shift  # now weights @ x <= -0.02 * ink < 0 on every image
            linear.bias[unit] = -(2 + 2 * torch.rand((), generator=g))
    active = order[:m].tolist()
    rest = [i for i in range(n) if i not in active]
    late = rest[n // 2 :] + active
    late = [late[i] for i in torch.randperm(len(late), generator=g).tolist()]
    images = images[rest[: n // 2] + late]  # the rare unit's few images all lie in the second half
    return {"model": model, "images": images, "dead": dead, "rare": rare, "weak": weak}


def probe_revive_dead_units(inputs: dict, revive_dead_units: Any) -> dict:
    """Call revive_dead_units on the model; keep what it returned, the model's parameters after, and the images."""
    model, images = inputs["model"], inputs["images"]
    revived = revive_dead_units(model, images)
    return {
        "revived": answer(revived),
        "parameters": [answer(p) for p in model.parameters()],
        "images_after": answer(images),
    }


def _indices(got: Any) -> list[int] | None:
    """Return the answer as a list of ints (a list, or a 1-D integer tensor), else None."""
    if isinstance(got, torch.Tensor) and got.ndim == 1 and not (got.is_floating_point() or got.is_complex()):
        return None if got.dtype == torch.bool else [int(i) for i in got.tolist()]
    if isinstance(got, list) and all(is_int(i) for i in got):
        return got
    return None


def _alive_problem(unit: int, inputs: dict, on: torch.Tensor) -> str:
    """Return the problem of a unit reported dead that is alive; `on` (N,) says where its output is positive."""
    n, count = len(on), int(on.sum())
    if unit == inputs["rare"]:
        first = int(on.float().argmax())
        return (
            f"unit {unit} is alive: it is active on {count} of the {n} images, first on image {first}; "
            "look at every image, not only the first ones"
        )
    if unit == inputs["weak"]:
        return (
            f"unit {unit} is alive: it is active on {count} of the {n} images, if weakly; "
            "a unit is dead only when its output is exactly 0 on every image"
        )
    return f"unit {unit} is alive: it is active on {count} of the {n} images"


def _between(value: float, low: float, high: float) -> bool:
    tolerance = 1e-4 * (1 + abs(low) + abs(high))
    return low - tolerance <= value <= high + tolerance


def _still_dead_problem(unit: int, bias: float, weighted: torch.Tensor, old_bias: float) -> str:
    """Return the problem of a dead unit whose new bias leaves it dead or far from half active; weighted (N,)."""
    ranked = weighted.sort().values
    low, high = float(ranked[(len(ranked) - 1) // 2]), float(ranked[len(ranked) // 2])  # the median, or the middle two
    active = float(((weighted + bias) > 0).float().mean())
    if active == 0:
        if bias == old_bias:
            return f"unit {unit} is in your list but its bias did not change: set it in the model itself"
        if abs(bias) < 1e-6:
            return (
                f"unit {unit} is still dead with a bias of 0: its weights alone keep its input below 0 on every "
                "image (a dead unit's ReLU outputs are all 0, so their median is 0 too)"
            )
        if _between(bias, low, high):
            return f"unit {unit} is still dead: its new bias has the wrong sign"
        return f"unit {unit} is still dead after your change: its input to the ReLU is below 0 on every image"
    if _between(-(bias + old_bias), low, high):
        return (
            f"unit {unit} is now active on {active:.0%} of the images: the median your new bias cancels was "
            "taken over inputs that still contain the old bias"
        )
    return (
        f"unit {unit} is now active on {active:.0%} of the images; a revived unit should be active on about half "
        f"of them ({WINDOW[0]:.0%} to {WINDOW[1]:.0%})"
    )


def judge_revive_dead_units(inputs: dict, answers: dict) -> str | None:
    """Check the units reported dead, then that only their biases changed, each now active on about half the images."""
    model, images = inputs["model"], inputs["images"]
    x = images.flatten(1)  # (N, 784)
    before = [p.detach() for p in model.parameters()]
    weight, bias = before[0], before[1]  # (k, 784), (k,)
    with torch.no_grad():
        weighted = x @ weight.T  # (N, k): each unit's input before its bias
    on = (weighted + bias) > 0  # (N, k): where each unit's ReLU output is positive
    dead = [int(u) for u in (~on.any(dim=0)).nonzero().flatten()]
    got = answers["revived"]
    if isinstance(got, torch.Tensor) and got.dtype == torch.bool:
        return "return the indices of the units you revived (a list of ints), not a mask"
    revived = _indices(got)
    if revived is None:
        return f"return the indices of the units you revived as a list of ints, got {type_name(got)}"
    if not same(answers["images_after"], images, rtol=0, atol=0):
        return "revive_dead_units changed the images in place"
    for unit in revived:
        if not 0 <= unit < len(bias):
            return f"unit {unit} does not exist: the code has units 0 to {len(bias) - 1}"
        if unit not in dead:
            return _alive_problem(unit, inputs, on[:, unit])
    missed = [unit for unit in dead if unit not in revived]
    if missed:
        return (
            f"unit {missed[0]} outputs 0 on every one of the {len(x)} images but is not in your list "
            f"({len(dead)} units are dead)"
        )
    if revived != sorted(set(revived)):
        return f"return the indices in increasing order, each once; got {revived}"
    after = answers["parameters"]
    if len(after) != len(before) or any(
        not isinstance(p, torch.Tensor) or p.shape != q.shape for p, q in zip(after, before, strict=False)
    ):
        return "the model's layers changed: revive the units by changing their biases, nothing else"
    if not all(same(p, q, rtol=0, atol=0) for p, q in zip(after[2:], before[2:], strict=True)):
        return "the decoder changed: the one change is to the dead units' encoder biases"
    changed = [u for u in range(len(bias)) if not same(after[0][u], weight[u], rtol=0, atol=0)]
    if changed:
        kind = "dead" if changed[0] in dead else "alive"
        return f"the weights of unit {changed[0]} ({kind}) changed: make one change per dead unit, to its bias only"
    for unit in range(len(bias)):
        if unit not in dead and float(after[1][unit]) != float(bias[unit]):
            return f"the bias of unit {unit} changed, but unit {unit} is alive: change only the dead units' biases"
    if dead and all(float(after[1][u]) == float(bias[u]) for u in dead):
        return "the model's biases did not change: revive the dead units in the model itself (in place)"
    for unit in dead:
        new = float(after[1][unit])
        share = float(((weighted[:, unit] + new) > 0).float().mean())
        if not WINDOW[0] <= share <= WINDOW[1]:
            return _still_dead_problem(unit, new, weighted[:, unit], float(bias[unit]))
    return None


REVIVE_DEAD_UNITS = define("1.3", revive_inputs, probe_revive_dead_units, judge_revive_dead_units)

# --- 1.5 dead_model_loss(images) -----------------------------------------------------------

_MEDIAN = "the per-pixel median image is the best constant for the absolute error, not for the squared error"


def plateau_inputs(seed: int | None) -> list[torch.Tensor]:
    """Return batches of images (N, 1, 28, 28): many digits, a few digits (N - 1 shows), and grey noise."""
    g = draw(15 if seed is None else seed)
    many = _digits(seed, g, 200, 1000)
    few = _digits(seed, g, 3, 8) if seed is not None else many[-3:].clone()
    noise = torch.rand(6 if seed is None else draw_int(g, 4, 12), 1, 28, 28, generator=g)
    return [many, few, 0.2 + 0.6 * noise]


def probe_dead_model_loss(inputs: list[torch.Tensor], dead_model_loss: Any) -> dict:
    values = [answer(dead_model_loss(images)) for images in inputs]
    return {"values": values, "images_after": [answer(images) for images in inputs]}


def judge_dead_model_loss(inputs: list[torch.Tensor], answers: dict) -> str | None:
    """Compare with the MSE of the per-pixel mean image; name the usual wrong constants and averages."""
    for images, got, after in zip(inputs, answers["values"], answers["images_after"], strict=True):
        if not same(after, images, rtol=0, atol=0):
            return "dead_model_loss changed the images in place"
        if isinstance(got, torch.Tensor):
            if got.numel() != 1:
                return (
                    f"for {len(images)} images dead_model_loss returned a tensor of shape {tuple(got.shape)}: "
                    "return one number, the mean over every image and pixel"
                )
            got = got.item()
        if not finite(got):
            return f"return the loss as a finite number, got {got if isinstance(got, float) else type_name(got)}"
        x = images.flatten(1).double()  # (N, 784)
        n = len(x)
        want = float(((x - x.mean(dim=0)) ** 2).mean())
        if math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-9):
            continue
        named = [
            (
                (x**2).mean(),
                "that is the MSE of an all-black output (every pixel 0); a dead code does not make the output black",
            ),
            (
                ((x - x.mean()) ** 2).mean(),
                "that is the MSE of one grey level at every pixel; the fixed output is an image, "
                "and each of its pixels may take its own value",
            ),
            (
                ((x - x.mean(dim=1, keepdim=True)) ** 2).mean(),
                "that output changes from image to image (each image's own mean); "
                "a dead code gives every image the same output",
            ),
            (want * n / (n - 1), "you divided by N - 1 (an unbiased variance): the MSE averages over the N images"),
            (((x - x.median(dim=0).values) ** 2).mean(), _MEDIAN),  # the lower of the middle two
            (((x - x.quantile(0.5, dim=0)) ** 2).mean(), _MEDIAN),  # their mean, as NumPy's median
            (math.sqrt(want), "that is a root mean squared error: leave out the square root"),
            ((x - x.mean(dim=0)).abs().mean(), "that is a mean absolute error: the loss squares the differences"),
            (x.std(dim=0, correction=0).mean(), "that is a mean of standard deviations; the MSE is in squared units"),
            (want * x.shape[1], "you summed over the pixels: the MSE is a mean over every pixel of every image"),
        ]
        for value, hint in named:
            if math.isclose(got, float(value), rel_tol=1e-4, abs_tol=1e-9):
                return hint
        if got == 0:
            return "a loss of 0 would mean that one fixed image reproduces every image exactly"
        return f"wrong value for {n} images: {got:.6g}"
    return None


DEAD_MODEL_LOSS = define("1.5", plateau_inputs, probe_dead_model_loss, judge_dead_model_loss)
