"""Exercise 3.4, a convolutional autoencoder trained within a budget: defined once (see aelib.exercises).

The probe trains nothing: it exports the trained model's layers and weights (see
`model_transfer`) and records what its `forward` makes of a few images. The judge
rebuilds the model and measures it: on the notebook's own test images in the self-check,
on hidden MNIST test images at grading.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...data import load_mnist
from .. import define
from ..answers import answer, answer_each, draw, raised, same, type_name
from ..model_transfer import export_autoencoder, hidden_test_images, rebuild_autoencoder

__all__ = ["BUDGET_AUTOENCODER", "MAX_PARAMETERS", "MAX_CODE_SIZE", "MSE_FRACTION", "ALLOWED_LAYERS"]

MAX_PARAMETERS = 60_000  # exercise 3.4's budget: under a third of the lecture's 210,369
MAX_CODE_SIZE = 32  # numbers per image in the code: half the lecture's 64
MSE_FRACTION = 2 / 3  # the test MSE must be below this share of the mean digit's MSE
ALLOWED_LAYERS = (
    nn.Conv2d,
    nn.ConvTranspose2d,
    nn.Linear,
    nn.Flatten,
    nn.Unflatten,
    nn.ReLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.LeakyReLU,
    nn.BatchNorm2d,
    nn.MaxPool2d,
    nn.Upsample,
)


def budget_inputs(seed: int | None) -> dict:
    """Return images (5, 1, 28, 28) for forward, and the seed of the hidden test images (None: the notebook's)."""
    return {"x": torch.rand(5, 1, 28, 28, generator=draw(0 if seed is None else seed)), "hidden": seed}


def probe_budget_autoencoder(inputs: dict, model: Any, train_images: Any = None, test_images: Any = None) -> dict:
    """Export the trained model and its forward on a few images; in the self-check, the notebook's images too."""
    if model is None:
        return {"missing": True}
    if not isinstance(model, nn.Module):
        return {"missing": False, "module": False, "type": type(model).__name__}
    answers: dict[str, Any] = {"missing": False, "module": True, "model": export_autoencoder(model)}
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        with torch.no_grad():
            answers["forward"] = answer_each(lambda x: model(x.to(device)), [inputs["x"]])[0]
    finally:
        model.train(was_training)
    if inputs["hidden"] is None:  # the self-check measures the model on the notebook's own digits
        answers["test_images"] = answer(test_images)
        mean_digit = train_images.mean(0, keepdim=True) if isinstance(train_images, torch.Tensor) else None
        answers["mean_digit"] = answer(mean_digit)  # (1, 1, 28, 28)
    return answers


def _layer_problem(model: nn.Module) -> str | None:
    """Return what is wrong with the rebuilt model's layers, or None."""
    for part in ("encoder", "decoder"):
        for name, layer in getattr(model, part).named_children():
            if not isinstance(layer, ALLOWED_LAYERS):
                allowed = ", ".join(t.__name__ for t in ALLOWED_LAYERS)
                return f"{part}[{name}] is a {type(layer).__name__}: use only these layers: {allowed}"
    if not any(isinstance(m, nn.Conv2d) for m in model.encoder):
        return "the encoder has no nn.Conv2d: a convolutional autoencoder encodes with convolutions"
    if not any(isinstance(m, nn.ConvTranspose2d) for m in model.decoder):
        return "the decoder has no nn.ConvTranspose2d: upsample with transposed convolutions"
    return None


def judge_budget_autoencoder(inputs: dict, answers: dict) -> str | None:
    """Rebuild the model and check its layers, code size, forward, parameters and test MSE."""
    if answers["missing"]:
        return "train budget_model first: write build_budget_autoencoder(), then run the training cell above"
    if not answers["module"]:
        return f"pass your trained model (an nn.Module), got {type_name(answers)}"
    model = rebuild_autoencoder(answers["model"], (1, 1, 28, 28))
    if isinstance(model, str):
        return model
    problem = _layer_problem(model)
    if problem:
        return problem
    if inputs["hidden"] is None:
        x, mean_digit, whose = answers["test_images"], answers["mean_digit"], "your"
        if not (
            isinstance(x, torch.Tensor) and x.ndim == 4 and x.shape[1:] == (1, 28, 28) and len(x)
        ) or not isinstance(mean_digit, torch.Tensor):
            return "pass the training and the test images (N, 1, 28, 28) after the model, as the check cell does"
    else:
        x, whose = hidden_test_images(inputs["hidden"]), "the grader's"  # (500, 1, 28, 28)
        mean_digit = load_mnist(verbose=False).train_images.mean(0, keepdim=True)  # (1, 1, 28, 28)
    with torch.no_grad():
        z = model.encoder(x)
        if z[0].numel() > MAX_CODE_SIZE:
            return (
                f"the code has {z[0].numel()} numbers per image ({tuple(z.shape[1:])}), the budget is {MAX_CODE_SIZE}"
            )
        x_hat = model.decoder(z)
        if x_hat.shape != x.shape:
            return (
                f"the decoder turns codes {tuple(z.shape)} into {tuple(x_hat.shape)}, "
                f"not {tuple(x.shape)}: check output_padding"
            )
        if raised(answers["forward"]):
            return raised(answers["forward"])
        if not same(answers["forward"], model(inputs["x"]), rtol=0, atol=1e-5):
            return "forward(x) must return decoder(encoder(x)) and nothing else"
    num_params = sum(p.numel() for p in model.parameters())
    if num_params > MAX_PARAMETERS:
        return (
            f"the model has {num_params:,} parameters, the budget is {MAX_PARAMETERS:,}: "
            "shrink the layers next to the code"
        )
    baseline = (x - mean_digit).square().mean().item()  # the best constant output: the mean digit
    mse = (x_hat - x).square().mean().item()
    if not mse < MSE_FRACTION * baseline:
        return (
            f"test MSE {mse:.4f} on {whose} test images is not below {MSE_FRACTION * baseline:.4f}, "
            f"two thirds of the mean digit's {baseline:.4f}: "
            "train the model (more epochs, or lr=3e-3), and end the decoder in a Sigmoid"
        )
    return None


BUDGET_AUTOENCODER = define("3.4", budget_inputs, probe_budget_autoencoder, judge_budget_autoencoder)
