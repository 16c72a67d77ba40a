"""Exercise 1.5, one step of the lecture's training loop: defined once (see aelib.exercises).

The probe runs the student's step on the lecture's model and saves the parameters and
gradients after each step; the judge replays the lecture's step beside them, and the
typical mistakes too, to name the first difference. On the fixed inputs the probe also
trains the lecture's model with the student's step on a budget, and the judge asks for a
test MSE below the target.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...models import FCAutoencoder
from .. import define
from ..answers import answer, draw, draw_int, same, type_name
from . import budgets

__all__ = ["TRAIN_STEP"]


def step_inputs(seed: int | None) -> dict:
    """Return the model's code size and seed, three batches (16, 784), and whether to train on the budget too."""
    if seed is None:
        train, _ = budgets.budget_digits()
        batches = [train[i * 16 : (i + 1) * 16].clone() for i in range(3)]  # (16, 784) each, copies of the cache
        return {"latent_dim": 8, "model_seed": 0, "batches": batches, "budget": True}
    g = draw(seed)
    latent_dim, model_seed = draw_int(g, 3, 16), draw_int(g, 0, 2**30)
    batches = [torch.rand(16, 28 * 28, generator=g) for _ in range(3)]
    return {"latent_dim": latent_dim, "model_seed": model_seed, "batches": batches, "budget": False}


def _start(inputs: dict) -> nn.Module:
    """Return lecture 1's model as the check hands it to train_step."""
    torch.manual_seed(inputs["model_seed"])
    return FCAutoencoder(inputs["latent_dim"])


def probe_train_step(inputs: dict, train_step: Any) -> dict:
    model = _start(inputs)
    optimizer = budgets.adam(model)
    model.train()
    steps = []
    for x in inputs["batches"]:
        got = train_step(model, x, optimizer)
        steps.append(
            {
                "value": answer(got),
                "batch_after": answer(x),
                "parameters": [answer(p) for p in model.parameters()],
                "gradients": [answer(p.grad) for p in model.parameters()],
            }
        )
    trained = budgets.step_budget_test_mse(train_step)[0] if inputs["budget"] else None
    return {"steps": steps, "budget": trained}


def _step(model: nn.Module, x: torch.Tensor, optimizer: torch.optim.Optimizer, mistake: str = "") -> float:
    """Take one step of the lecture's loop (forward, MSE against x, zero_grad, backward, step), or a typical mistake."""
    loss = F.mse_loss(model(x), x, reduction="sum" if mistake == "summed" else "mean")
    if mistake not in ("accumulating", "late zero_grad"):
        optimizer.zero_grad()
    loss.backward()
    if mistake == "late zero_grad":  # only the weight decay moves the weights
        optimizer.zero_grad(set_to_none=False)
    optimizer.step()
    return loss.item()


_LATE_ZERO_GRAD = (
    "the gradients were zero when the step was taken: call optimizer.zero_grad() before loss.backward(), not after"
)
# Mistakes told apart by replaying them: when the student's parameters match one, its hint names it.
_KNOWN_MISTAKES = {
    "accumulating": "the gradients pile up from step to step: call optimizer.zero_grad() before loss.backward()",
    "late zero_grad": _LATE_ZERO_GRAD,
    "summed": "the loss is the sum of the squared errors: use their mean, as nn.MSELoss() does",
}


def _replay(inputs: dict, steps: int, mistake: str = "") -> nn.Module:
    """Return the starting model after `steps` of the lecture's step (or a mistake's) with a fresh Adam."""
    model = _start(inputs)
    optimizer = budgets.adam(model)
    for x in inputs["batches"][:steps]:
        _step(model, x, optimizer, mistake)
    return model


def _same_parameters(saved: list, model: nn.Module) -> bool:
    return all(same(p, q) for p, q in zip(saved, model.parameters(), strict=True))


def judge_train_step(inputs: dict, answers: dict) -> str | None:
    """Replay the lecture's step beside the student's saved parameters; name the first difference."""
    reference = _start(inputs)
    optimizer = budgets.adam(reference)
    for i, (x, step) in enumerate(zip(inputs["batches"], answers["steps"], strict=True), start=1):
        before = [p.detach().clone() for p in reference.parameters()]
        want = _step(reference, x, optimizer)
        got, params = step["value"], step["parameters"]
        if len(params) != len(before):
            raise ValueError("the probe saved another number of parameters")
        if not same(step["batch_after"], x, rtol=0, atol=0):
            return "train_step changed the batch x in place; it is the target too, so leave it as it is"
        if isinstance(got, torch.Tensor):
            return (
                "train_step returned a tensor: return loss.item(), a Python float (a tensor would keep its graph alive)"
            )
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return f"train_step should return the batch's loss as a float, got {type_name(got)}"
        if all(same(p, q, rtol=0, atol=0) for p, q in zip(params, before, strict=True)):
            grads = step["gradients"]
            if all(g is None for g in grads):
                return (
                    "the parameters did not change and have no gradients: call loss.backward(), then optimizer.step()"
                )
            if all(g is None or (isinstance(g, torch.Tensor) and not g.any()) for g in grads):
                return _LATE_ZERO_GRAD
            return "the parameters did not change: call optimizer.step() after loss.backward()"
        if not _same_parameters(params, reference):
            for mistake, hint in _KNOWN_MISTAKES.items():
                if _same_parameters(params, _replay(inputs, i, mistake)):
                    return hint
            return (
                f"after step {i} the parameters differ from one Adam step on the MSE between model(x) and x: "
                "compute the loss against the input itself and call zero_grad, backward and step once each"
            )
        if not math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-7):
            if math.isclose(got, want * x.numel(), rel_tol=1e-4):
                return "the returned loss is the sum of the squared errors: return the mean (nn.MSELoss()'s value)"
            with torch.no_grad():
                after = F.mse_loss(reference(x), x).item()
            if math.isclose(got, after, rel_tol=1e-4) and not math.isclose(after, want, rel_tol=1e-4):
                return "the returned loss was computed after the update: return the loss you backpropagated"
            return f"step {i} returned {got:.6g} but the batch's MSE before the update is {want:.6g}"
    if inputs["budget"]:
        test_mse, target = answers["budget"], budgets.step_target()
        if not test_mse < target:
            steps = budgets.budget_steps(budgets.STEP_BUDGET)
            return f"after {steps} of your steps the test MSE is {test_mse:.4f}, above the target {target:.4f}"
    return None


TRAIN_STEP = define("1.5", step_inputs, probe_train_step, judge_train_step)
