"""Probes and judges for lecture 3: convolution parameters, mirror layers, a decoder, a trained model on a budget."""

from __future__ import annotations

from typing import Any

from . import answer, is_int, judge, probe, type_name
from .layers import export_autoencoder, export_sequential, hidden_test_images, rebuild_autoencoder, rebuild_sequential
from .lecture1 import _draw, _int

# --- 3.1 conv_parameters(in_channels, out_channels, kernel_size, bias=True) ----------------


def _conv_settings(seed: int) -> list[tuple[int, int, int, bool]]:
    g = _draw(seed)
    return [(_int(g, 1, 64), _int(g, 1, 64), _int(g, 1, 7), bool(_int(g, 0, 1))) for _ in range(6)]


@probe("3.1")
def ask_conv_parameters(seed: int, conv_parameters: Any) -> dict:
    counts = []
    for c_in, c_out, k, bias in _conv_settings(seed):
        counts.append(
            [answer(conv_parameters(c_in, c_out, k, bias=bias)), answer(conv_parameters(c_out, c_in, k, bias=bias))]
        )
    return {"counts": counts}


@judge("3.1")
def judge_conv_parameters(seed: int, answers: dict) -> str | None:
    for (c_in, c_out, k, bias), (got, got_transposed) in zip(_conv_settings(seed), answers["counts"], strict=True):
        if not is_int(got):
            return f"return an int, got {type_name(got)}"
        expected = c_in * c_out * k * k + (c_out if bias else 0)
        if got != expected:
            return f"Conv2d({c_in}, {c_out}, {k}, bias={bias}) has {expected} parameters, your function says {got}"
        transposed = c_out * c_in * k * k + (
            c_in if bias else 0
        )  # ConvTranspose2d(c_out, c_in, k): one bias per output channel
        if got_transposed != transposed:
            return (
                f"ConvTranspose2d({c_out}, {c_in}, {k}, bias={bias}) has {transposed} parameters: the same "
                "formula applies"
            )
    return None


# --- 3.2 mirror_layer(conv, input_size) ----------------------------------------------------


def _mirror_cases(seed: int) -> list[tuple[dict, tuple[int, int]]]:
    """Return hidden (Conv2d arguments, input (H, W)) cases, with square and non-square kernels and strides."""
    g = _draw(seed)
    cases = []
    for index in range(6):
        kernel = (_int(g, 1, 7), _int(g, 1, 7)) if index % 2 else (_int(g, 1, 7),) * 2
        stride = (_int(g, 1, 3), _int(g, 1, 3)) if index % 3 == 2 else (_int(g, 1, 3),) * 2
        padding = tuple(_int(g, 0, (k - 1) // 2) for k in kernel)
        size = tuple(
            k - 2 * p + _int(g, 0, 20) for k, p in zip(kernel, padding, strict=True)
        )  # at least one output position
        params = dict(
            in_channels=_int(g, 1, 8), out_channels=_int(g, 1, 8), kernel_size=kernel, stride=stride, padding=padding
        )
        cases.append((params, size))
    return cases


@probe("3.2")
def ask_mirror_layer(seed: int, mirror_layer: Any) -> dict:
    from torch import nn

    layers = []
    for params, size in _mirror_cases(seed):
        layer = mirror_layer(nn.Conv2d(**params), size)
        if type(layer) is nn.ConvTranspose2d:
            layers.append({"spec": export_sequential(nn.Sequential(layer))})
        else:
            layers.append({"type": type(layer).__name__})
    return {"layers": layers}


@judge("3.2")
def judge_mirror_layer(seed: int, answers: dict) -> str | None:
    import torch
    from torch import nn

    for (params, (h, w)), got in zip(_mirror_cases(seed), answers["layers"], strict=True):
        described = f"Conv2d({', '.join(f'{k}={v}' for k, v in params.items())}) on {h}x{w}"
        if "spec" not in got:
            return f"return an nn.ConvTranspose2d, got {type_name(got)}"
        layer = rebuild_sequential(got["spec"])[0]  # on the meta device: shapes only
        with torch.device("meta"):
            conv = nn.Conv2d(**params)
        if (layer.in_channels, layer.out_channels) != (conv.out_channels, conv.in_channels):
            return (
                f"{described}: the mirror layer maps {conv.out_channels} channels back to "
                f"{conv.in_channels}, got {layer.in_channels} => {layer.out_channels}"
            )
        if (layer.kernel_size, layer.stride, layer.padding) != (conv.kernel_size, conv.stride, conv.padding):
            return f"{described}: keep the convolution's kernel_size, stride and padding"
        z = conv(torch.empty(2, conv.in_channels, h, w, device="meta"))
        try:
            x_back = layer(z)
        except (RuntimeError, ValueError) as err:
            return f"{described}: PyTorch rejects your layer: {str(err).splitlines()[0][:100]}"
        if tuple(x_back.shape[2:]) != (h, w):
            return (
                f"{described}: the convolution gives {tuple(z.shape[2:])}, your layer turns it into "
                f"{tuple(x_back.shape[2:])}, not {(h, w)}: check output_padding"
            )
    return None


# --- 3.3 make_decoder() --------------------------------------------------------------------

CODE_SHAPE = (8, 4, 4)  # exercise 3.3's codes: what its encoder makes of a (1, 28, 28) image


@probe("3.3")
def ask_make_decoder(seed: int, make_decoder: Any) -> dict:
    import torch
    from torch import nn

    torch.manual_seed(seed)
    decoder = make_decoder()
    if not isinstance(decoder, nn.Module):
        return {"module": False, "type": type(decoder).__name__}
    g = _draw(seed)
    outputs = [answer(decoder(torch.rand(_int(g, 1, 6), *CODE_SHAPE, generator=g))) for _ in range(2)]
    x_hat = decoder(10 * torch.randn(64, *CODE_SHAPE, generator=g))
    if isinstance(x_hat, torch.Tensor) and x_hat.requires_grad:
        x_hat.square().mean().backward()
    return {
        "module": True,
        "layers": [type(m).__name__ for m in decoder.modules() if type(m) is nn.ConvTranspose2d],
        "outputs": outputs,
        "wide": answer(x_hat),
        "gradients": {name: p.grad is not None for name, p in decoder.named_parameters() if p.requires_grad},
    }


@judge("3.3")
def judge_make_decoder(seed: int, answers: dict) -> str | None:
    import torch

    if not answers["module"]:
        return f"make_decoder() must return an nn.Module, got {type_name(answers)}"
    if "ConvTranspose2d" not in answers["layers"]:
        return "use at least one nn.ConvTranspose2d to upsample"
    g = _draw(seed)
    for got in answers["outputs"]:
        batch = _int(g, 1, 6)
        torch.rand(batch, *CODE_SHAPE, generator=g)  # keep the draws in step with the probe
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != (batch, 1, 28, 28):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type_name(got)
            return (
                f"a code of shape {(batch, *CODE_SHAPE)} should give ({batch}, 1, 28, 28), got {shape}: "
                "check output_padding"
            )
    wide = answers["wide"]
    if not isinstance(wide, torch.Tensor) or tuple(wide.shape) != (64, 1, 28, 28) or not torch.isfinite(wide).all():
        return "codes of shape (64, 8, 4, 4) should give finite images (64, 1, 28, 28)"
    if wide.min() < 0 or wide.max() > 1:
        return (
            f"outputs must lie in [0, 1] like the pixels, got [{wide.min().item():.2f}, "
            f"{wide.max().item():.2f}]: choose the final activation"
        )
    frozen = [name for name, reached in answers["gradients"].items() if reached is not True]
    if frozen:
        return f"no gradient reaches {str(frozen[0])[:60]}: every layer must take part in the output"
    return None


# --- 3.4 a convolutional autoencoder trained within a budget -------------------------------


@probe("3.4")
def ask_budget_autoencoder(seed: int, model: Any, *data: Any) -> dict:
    """Export the trained model's layers and weights; the notebook's images are not used."""
    return export_autoencoder(model)


@judge("3.4")
def judge_budget_autoencoder(seed: int, answers: dict) -> str | None:
    """Rebuild the model and check its layers, code size, parameters and test MSE on hidden test images."""
    import torch
    from torch import nn

    import aelib

    from ...exercises import lecture3

    model = rebuild_autoencoder(answers, (1, 1, 28, 28))
    if isinstance(model, str):
        return model
    for part in ("encoder", "decoder"):
        for name, layer in getattr(model, part).named_children():
            if not isinstance(layer, lecture3.ALLOWED_LAYERS):
                allowed = ", ".join(t.__name__ for t in lecture3.ALLOWED_LAYERS)
                return f"{part}[{name}] is a {type(layer).__name__}: use only these layers: {allowed}"
    if not any(isinstance(m, nn.Conv2d) for m in model.encoder):
        return "the encoder has no nn.Conv2d: a convolutional autoencoder encodes with convolutions"
    if not any(isinstance(m, nn.ConvTranspose2d) for m in model.decoder):
        return "the decoder has no nn.ConvTranspose2d: upsample with transposed convolutions"
    x = hidden_test_images(seed)  # (500, 1, 28, 28)
    with torch.no_grad():
        z = model.encoder(x)
        if z[0].numel() > lecture3.MAX_CODE_SIZE:
            return (
                f"the code has {z[0].numel()} numbers per image ({tuple(z.shape[1:])}), the budget is "
                f"{lecture3.MAX_CODE_SIZE}"
            )
        x_hat = model.decoder(z)
    if x_hat.shape != x.shape:
        return (
            f"the decoder turns codes {tuple(z.shape)} into {tuple(x_hat.shape)}, not {tuple(x.shape)}: "
            "check output_padding"
        )
    num_params = sum(p.numel() for p in model.parameters())
    if num_params > lecture3.MAX_PARAMETERS:
        return (
            f"the model has {num_params:,} parameters, the budget is {lecture3.MAX_PARAMETERS:,}: shrink the "
            "layers next to the code"
        )
    mean_digit = aelib.load_mnist(verbose=False).train_images.mean(
        0, keepdim=True
    )  # (1, 1, 28, 28): the best constant output
    baseline = (x - mean_digit).square().mean().item()
    mse = (x_hat - x).square().mean().item()
    if not mse < lecture3.MSE_FRACTION * baseline:
        return (
            f"test MSE {mse:.4f} on the grader's test images is not below {lecture3.MSE_FRACTION * baseline:.4f}, "
            f"two thirds of the mean digit's {baseline:.4f}: train the model (more epochs, or lr=3e-3), and end "
            "the decoder in a Sigmoid"
        )
    return None
