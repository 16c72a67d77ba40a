"""Exercises 3.1 (a convolution's parameters), 3.2 (the mirror of an encoder layer) and 3.3 (a decoder for
a given code shape): each defined once (see aelib.exercises)."""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import nn

from .. import define
from ..answers import answer, draw, draw_int, is_int, type_name
from ..layer_spec import export_sequential, rebuild_sequential

__all__ = ["CONV_PARAMETERS", "MIRROR_LAYER", "MAKE_DECODER", "CODE_SHAPE", "exercise_encoder"]

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


# --- 3.1 conv_parameters(in_channels, out_channels, kernel_size, bias=True) ----------------


def conv_settings(seed: int | None) -> list[tuple[int, int, int, bool]]:
    """Return (in_channels, out_channels, kernel_size, bias) settings: a grid of fixed ones, or drawn."""
    if seed is None:
        return list(itertools.product((1, 3, 16), (1, 8, 32), (1, 3, 7), (True, False)))
    g = draw(seed)
    return [(draw_int(g, 1, 64), draw_int(g, 1, 64), draw_int(g, 1, 7), bool(draw_int(g, 0, 1))) for _ in range(6)]


def probe_conv_parameters(inputs: list, conv_parameters: Any) -> dict:
    counts = []
    for c_in, c_out, k, bias in inputs:
        counts.append(
            [answer(conv_parameters(c_in, c_out, k, bias=bias)), answer(conv_parameters(c_out, c_in, k, bias=bias))]
        )
    return {"counts": counts}


def judge_conv_parameters(inputs: list, answers: dict) -> str | None:
    """Compare with the parameters of Conv2d(c_in, c_out, k) and of ConvTranspose2d(c_out, c_in, k)."""
    for (c_in, c_out, k, bias), (got, got_transposed) in zip(inputs, answers["counts"], strict=True):
        if not is_int(got):
            return f"return an int, got {type_name(got)}"
        expected = c_in * c_out * k * k + (c_out if bias else 0)
        if got != expected:
            return f"Conv2d({c_in}, {c_out}, {k}, bias={bias}) has {expected} parameters, your function says {got}"
        transposed = c_out * c_in * k * k + (c_in if bias else 0)  # one bias per output channel
        if got_transposed != transposed:
            return (
                f"ConvTranspose2d({c_out}, {c_in}, {k}, bias={bias}) has {transposed} parameters: "
                "the same formula applies"
            )
    return None


CONV_PARAMETERS = define("3.1", conv_settings, probe_conv_parameters, judge_conv_parameters)

# --- 3.2 mirror_layer(conv, input_size) ----------------------------------------------------

# (encoder layer, input (H, W)): the lecture's layers, other kernels and strides, odd and non-square sizes
_MIRROR_CASES = [
    (dict(in_channels=1, out_channels=16, kernel_size=3, stride=2, padding=1), (28, 28)),
    (dict(in_channels=16, out_channels=32, kernel_size=3, stride=2, padding=1), (14, 14)),
    (dict(in_channels=32, out_channels=64, kernel_size=7), (7, 7)),
    (dict(in_channels=3, out_channels=8, kernel_size=4, stride=2, padding=1), (27, 28)),
    (dict(in_channels=8, out_channels=4, kernel_size=5, stride=3, padding=2), (20, 22)),
    (dict(in_channels=2, out_channels=6, kernel_size=(3, 5), stride=(2, 3), padding=(1, 2)), (16, 33)),
    (dict(in_channels=4, out_channels=2, kernel_size=2, stride=2), (9, 10)),
]


def mirror_cases(seed: int | None) -> list[tuple[dict, tuple[int, int]]]:
    """Return (Conv2d arguments, input (H, W)) cases, with square and non-square kernels and strides."""
    if seed is None:
        return _MIRROR_CASES
    g = draw(seed)
    cases = []
    for index in range(6):
        kernel = (draw_int(g, 1, 7), draw_int(g, 1, 7)) if index % 2 else (draw_int(g, 1, 7),) * 2
        stride = (draw_int(g, 1, 3), draw_int(g, 1, 3)) if index % 3 == 2 else (draw_int(g, 1, 3),) * 2
        padding = tuple(draw_int(g, 0, (k - 1) // 2) for k in kernel)
        size = tuple(k - 2 * p + draw_int(g, 0, 20) for k, p in zip(kernel, padding, strict=True))  # >= 1 output
        channels = dict(in_channels=draw_int(g, 1, 8), out_channels=draw_int(g, 1, 8))
        cases.append((dict(**channels, kernel_size=kernel, stride=stride, padding=padding), size))
    return cases


def probe_mirror_layer(inputs: list, mirror_layer: Any) -> dict:
    """Hand each convolution to mirror_layer; save a ConvTranspose2d as its spec (see layer_spec)."""
    layers = []
    for params, size in inputs:
        layer = mirror_layer(nn.Conv2d(**params), size)
        if type(layer) is nn.ConvTranspose2d:
            layers.append({"spec": export_sequential(nn.Sequential(layer))})
        else:
            layers.append({"type": type(layer).__name__})
    return {"layers": layers}


def judge_mirror_layer(inputs: list, answers: dict) -> str | None:
    """Rebuild each layer on the meta device and check that it undoes the convolution's change of shape."""
    for (params, (h, w)), got in zip(inputs, answers["layers"], strict=True):
        described = f"Conv2d({', '.join(f'{k}={v}' for k, v in params.items())}) on {h}x{w}"
        if "spec" not in got:
            return f"return an nn.ConvTranspose2d, got {type_name(got)}"
        layer = rebuild_sequential(got["spec"])[0]  # on the meta device: shapes only
        with torch.device("meta"):
            conv = nn.Conv2d(**params)
        if (layer.in_channels, layer.out_channels) != (conv.out_channels, conv.in_channels):
            return (
                f"{described}: the mirror layer maps {conv.out_channels} channels back to {conv.in_channels}, "
                f"got {layer.in_channels} => {layer.out_channels}"
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
                f"{described}: the convolution gives {tuple(z.shape[2:])}, "
                f"your layer turns it into {tuple(x_back.shape[2:])}, not {(h, w)}: check output_padding"
            )
    return None


MIRROR_LAYER = define("3.2", mirror_cases, probe_mirror_layer, judge_mirror_layer)

# --- 3.3 make_decoder() --------------------------------------------------------------------


def decoder_inputs(seed: int | None) -> dict:
    """Return the seed of the decoder's initialisation, codes of two batch sizes, and 64 wide-ranging codes."""
    g = draw(0 if seed is None else seed)
    batches = (1, 5) if seed is None else (draw_int(g, 1, 6), draw_int(g, 1, 6))
    codes = [torch.rand(batch, *CODE_SHAPE, generator=g) for batch in batches]  # (B, 8, 4, 4)
    return {
        "init_seed": 0 if seed is None else seed,
        "codes": codes,
        "wide": 10 * torch.randn(64, *CODE_SHAPE, generator=g),
    }


def probe_make_decoder(inputs: dict, make_decoder: Any) -> dict:
    torch.manual_seed(inputs["init_seed"])
    decoder = make_decoder()
    if not isinstance(decoder, nn.Module):
        return {"module": False, "type": type(decoder).__name__}
    outputs = [answer(decoder(z)) for z in inputs["codes"]]
    x_hat = decoder(inputs["wide"])
    if isinstance(x_hat, torch.Tensor) and x_hat.requires_grad:
        x_hat.square().mean().backward()
    return {
        "module": True,
        "upsamples": any(isinstance(m, nn.ConvTranspose2d) for m in decoder.modules()),
        "outputs": outputs,
        "wide": answer(x_hat),
        "gradients": {name: p.grad is not None for name, p in decoder.named_parameters() if p.requires_grad},
    }


def judge_make_decoder(inputs: dict, answers: dict) -> str | None:
    """Check shapes (B, 8, 4, 4) => (B, 1, 28, 28), outputs in [0, 1], transposed convolutions, gradients everywhere."""
    if not answers["module"]:
        return f"make_decoder() must return an nn.Module, got {type_name(answers)}"
    if answers["upsamples"] is not True:
        return "use at least one nn.ConvTranspose2d to upsample"
    for z, got in zip(inputs["codes"], answers["outputs"], strict=True):
        batch = z.shape[0]
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != (batch, 1, 28, 28):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type_name(got)
            return (
                f"a code of shape {tuple(z.shape)} should give ({batch}, 1, 28, 28), got {shape}: check output_padding"
            )
    wide = answers["wide"]
    if not isinstance(wide, torch.Tensor) or tuple(wide.shape) != (64, 1, 28, 28) or not torch.isfinite(wide).all():
        return "codes of shape (64, 8, 4, 4) should give finite images (64, 1, 28, 28)"
    if wide.min() < 0 or wide.max() > 1:
        return (
            "outputs must lie in [0, 1] like the pixels, "
            f"got [{wide.min().item():.2f}, {wide.max().item():.2f}]: choose the final activation"
        )
    frozen = [name for name, reached in answers["gradients"].items() if reached is not True]
    if frozen:
        return f"no gradient reaches {str(frozen[0])[:60]}: every layer must take part in the output"
    return None


MAKE_DECODER = define("3.3", decoder_inputs, probe_make_decoder, judge_make_decoder)
