"""Checks for lecture 3's exercises (the convolutional autoencoder).

3.1 count a (transposed) convolution's parameters; 3.2 build the transposed
convolution that mirrors an encoder layer (choosing its output_padding); 3.3 write a
decoder for a given code shape; 3.4 build and train a small convolutional autoencoder
within a budget (the check trains nothing: it measures the trained model).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from torch import nn

from ..training import evaluate_mse
from . import exercise

__all__ = [
    "check_conv_parameters",
    "check_mirror_layer",
    "check_make_decoder",
    "check_budget_autoencoder",
    "exercise_encoder",
    "CODE_SHAPE",
    "MAX_PARAMETERS",
    "MAX_CODE_SIZE",
    "MSE_FRACTION",
    "ALLOWED_LAYERS",
]

CODE_SHAPE = (8, 4, 4)  # what exercise_encoder() turns a (1, 28, 28) image into: 128 numbers


def exercise_encoder() -> nn.Sequential:
    """Return the encoder of exercise 3.3: (B, 1, 28, 28) => (B, 8, 4, 4)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 4, stride=2, padding=1),  # 28x28 => 14x14
        nn.ReLU(),
        nn.Conv2d(16, 32, 4, stride=2, padding=1),  # 14x14 => 7x7
        nn.ReLU(),
        nn.Conv2d(32, 8, 3, stride=2, padding=1),  # 7x7 => 4x4
    )


@exercise("3.1")
def check_conv_parameters(conv_parameters: Callable[..., int]) -> str | None:
    """Compare `conv_parameters(in_channels, out_channels, kernel_size, bias=True)` with PyTorch's layers."""
    for c_in, c_out, k, bias in itertools.product((1, 3, 16), (1, 8, 32), (1, 3, 7), (True, False)):
        expected = sum(p.numel() for p in nn.Conv2d(c_in, c_out, k, bias=bias).parameters())
        got = conv_parameters(c_in, c_out, k, bias=bias)
        if not isinstance(got, int) or isinstance(got, bool):
            return f"return an int, got {type(got).__name__}"
        if got != expected:
            return f"Conv2d({c_in}, {c_out}, {k}, bias={bias}) has {expected} parameters, your function says {got}"
        transposed = sum(p.numel() for p in nn.ConvTranspose2d(c_out, c_in, k, bias=bias).parameters())
        if conv_parameters(c_out, c_in, k, bias=bias) != transposed:
            return (
                f"ConvTranspose2d({c_out}, {c_in}, {k}, bias={bias}) has {transposed} parameters: "
                "the same formula applies"
            )
    return None


# (encoder layer, input (H, W)): the lecture's layers, other kernels and strides, odd and non-square sizes
MIRROR_CASES = [
    (dict(in_channels=1, out_channels=16, kernel_size=3, stride=2, padding=1), (28, 28)),
    (dict(in_channels=16, out_channels=32, kernel_size=3, stride=2, padding=1), (14, 14)),
    (dict(in_channels=32, out_channels=64, kernel_size=7), (7, 7)),
    (dict(in_channels=3, out_channels=8, kernel_size=4, stride=2, padding=1), (27, 28)),
    (dict(in_channels=8, out_channels=4, kernel_size=5, stride=3, padding=2), (20, 22)),
    (dict(in_channels=2, out_channels=6, kernel_size=(3, 5), stride=(2, 3), padding=(1, 2)), (16, 33)),
    (dict(in_channels=4, out_channels=2, kernel_size=2, stride=2), (9, 10)),
]


@exercise("3.2")
def check_mirror_layer(mirror_layer: Callable[[nn.Conv2d, tuple[int, int]], nn.Module]) -> str | None:
    """Check that `mirror_layer(conv, (H, W))` is a ConvTranspose2d that undoes `conv`'s shape change on (H, W)."""
    for params, (h, w) in MIRROR_CASES:
        conv = nn.Conv2d(**params)
        layer = mirror_layer(conv, (h, w))
        described = f"Conv2d({', '.join(f'{k}={v}' for k, v in params.items())}) on {h}x{w}"
        if not isinstance(layer, nn.ConvTranspose2d):
            return f"return an nn.ConvTranspose2d, got {type(layer).__name__}"
        if (layer.in_channels, layer.out_channels) != (conv.out_channels, conv.in_channels):
            return (
                f"{described}: the mirror layer maps {conv.out_channels} channels back to {conv.in_channels}, "
                f"got {layer.in_channels} => {layer.out_channels}"
            )
        if (layer.kernel_size, layer.stride, layer.padding) != (conv.kernel_size, conv.stride, conv.padding):
            return f"{described}: keep the convolution's kernel_size, stride and padding"
        x = torch.zeros(2, conv.in_channels, h, w)
        z = conv(x)
        x_back = layer(z)
        if x_back.shape != x.shape:
            return (
                f"{described}: the convolution gives {tuple(z.shape[2:])}, "
                f"your layer turns it into {tuple(x_back.shape[2:])}, not {(h, w)}: check output_padding"
            )
    return None


@exercise("3.3")
def check_make_decoder(make_decoder: Callable[[], nn.Module]) -> str | None:
    """Check that `make_decoder()` maps codes (B, 8, 4, 4) to images (B, 1, 28, 28) in [0, 1].

    The decoder must upsample with transposed convolutions.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        decoder = make_decoder()
        if not isinstance(decoder, nn.Module):
            return f"make_decoder() must return an nn.Module, got {type(decoder).__name__}"
        if not any(isinstance(m, nn.ConvTranspose2d) for m in decoder.modules()):
            return "use at least one nn.ConvTranspose2d to upsample"
        encoder = exercise_encoder()
        for batch in (1, 5):
            z = encoder(torch.rand(batch, 1, 28, 28))  # (B, 8, 4, 4)
            x_hat = decoder(z)
            if tuple(x_hat.shape) != (batch, 1, 28, 28):
                return (
                    f"a code of shape {tuple(z.shape)} should give ({batch}, 1, 28, 28), "
                    f"got {tuple(x_hat.shape)}: check output_padding"
                )
        x_hat = decoder(10 * torch.randn(64, *CODE_SHAPE))
        if x_hat.min() < 0 or x_hat.max() > 1:
            return (
                "outputs must lie in [0, 1] like the pixels, "
                f"got [{x_hat.min().item():.2f}, {x_hat.max().item():.2f}]: choose the final activation"
            )
        x_hat.square().mean().backward()
        frozen = [name for name, p in decoder.named_parameters() if p.requires_grad and p.grad is None]
        if frozen:
            return f"no gradient reaches {frozen[0]}: every layer must take part in the output"
    return None


MAX_PARAMETERS = 60_000  # exercise 3.4's budget: under a third of the lecture's 210,369
MAX_CODE_SIZE = 32  # numbers per image in the code: half the lecture's 64
MSE_FRACTION = 2 / 3  # the test MSE must be below this share of the mean digit's MSE
ALLOWED_LAYERS = (  # what the grader can rebuild from a layer spec and the weights
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


def _layer_problem(model: nn.Module) -> str | None:
    """Return what is wrong with the model's `encoder` and `decoder` attributes, or None."""
    for part in ("encoder", "decoder"):
        seq = getattr(model, part, None)
        if not isinstance(seq, nn.Sequential):
            return f"give the model an `{part}` attribute that is an nn.Sequential of layers, got {type(seq).__name__}"
        for name, layer in seq.named_children():
            if not isinstance(layer, ALLOWED_LAYERS):
                allowed = ", ".join(t.__name__ for t in ALLOWED_LAYERS)
                return f"{part}[{name}] is a {type(layer).__name__}: use only these layers: {allowed}"
    if not any(isinstance(m, nn.Conv2d) for m in model.encoder):
        return "the encoder has no nn.Conv2d: a convolutional autoencoder encodes with convolutions"
    if not any(isinstance(m, nn.ConvTranspose2d) for m in model.decoder):
        return "the decoder has no nn.ConvTranspose2d: upsample with transposed convolutions"
    return None


@exercise("3.4")
def check_budget_autoencoder(
    model: nn.Module | None, train_images: torch.Tensor, test_images: torch.Tensor
) -> str | None:
    """Check a trained model: layers, shapes (B, 1, 28, 28) => code => (B, 1, 28, 28), budget and test MSE.

    `model` is None while the training cell has not yet built and trained one.
    """
    if model is None:
        return "train budget_model first: write build_budget_autoencoder(), then run the training cell above"
    if not isinstance(model, nn.Module):
        return f"pass your trained model (an nn.Module), got {type(model).__name__}"
    problem = _layer_problem(model)
    if problem:
        return problem
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            x = test_images[:5].to(device)  # (5, 1, 28, 28)
            z = model.encoder(x)
            code_size = z[0].numel()
            if code_size > MAX_CODE_SIZE:
                return (
                    f"the code has {code_size} numbers per image ({tuple(z.shape[1:])}), the budget is {MAX_CODE_SIZE}"
                )
            x_hat = model.decoder(z)
            if x_hat.shape != x.shape:
                return (
                    f"the decoder turns codes {tuple(z.shape)} into {tuple(x_hat.shape)}, "
                    f"not {tuple(x.shape)}: check output_padding"
                )
            if not torch.allclose(model(x), x_hat, atol=1e-5):
                return "forward(x) must return decoder(encoder(x)) and nothing else"
    finally:
        model.train(was_training)
    num_params = sum(p.numel() for p in model.parameters())
    if num_params > MAX_PARAMETERS:
        return (
            f"the model has {num_params:,} parameters, the budget is {MAX_PARAMETERS:,}: "
            "shrink the layers next to the code"
        )
    mean_digit = train_images.mean(0, keepdim=True)  # (1, 1, 28, 28): the best constant output
    baseline = (test_images - mean_digit).square().mean().item()
    mse = evaluate_mse(model, test_images)
    if not mse < MSE_FRACTION * baseline:
        return (
            f"test MSE {mse:.4f} is not below {MSE_FRACTION * baseline:.4f}, "
            f"two thirds of the mean digit's {baseline:.4f}: "
            "train the model (more epochs, or lr=3e-3), and end the decoder in a Sigmoid"
        )
    return None
