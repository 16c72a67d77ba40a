"""Probes and judges for lecture 2: upsampling and transposed convolutions."""

from __future__ import annotations

from typing import Any

from . import answer, is_int, judge, probe, same, type_name
from .lecture1 import _draw, _int

# --- 2.1 bed_of_nails(x, scale_factor) -----------------------------------------------------


def _nails_cases(seed: int) -> list[tuple[Any, int]]:
    import torch

    g = _draw(seed)
    shapes = [(_int(g, 1, 3), _int(g, 1, 3), _int(g, 1, 6), _int(g, 1, 6)) for _ in range(5)]
    return [(torch.randn(shape, generator=g), _int(g, 1, 4)) for shape in shapes]


@probe("2.1", forbid=("aelib.upsampling.upsample_bed_of_nails",))
def ask_bed_of_nails(seed: int, bed_of_nails: Any) -> dict:
    outputs, inputs_after = [], []
    for x, scale in _nails_cases(seed):
        outputs.append(answer(bed_of_nails(x, scale)))
        inputs_after.append(answer(x))
    return {"outputs": outputs, "inputs_after": inputs_after}


@judge("2.1")
def judge_bed_of_nails(seed: int, answers: dict) -> str | None:
    import torch

    for (x, scale), got, after in zip(_nails_cases(seed), answers["outputs"], answers["inputs_after"], strict=True):
        b, c, h, w = x.shape
        want = x.new_zeros(b, c, h * scale, w * scale)
        want[..., ::scale, ::scale] = x  # each value at the top-left corner of its block
        if not isinstance(got, torch.Tensor):
            return f"bed_of_nails should return a tensor, got {type_name(got)}"
        if not same(after, x, rtol=0, atol=0):
            return "bed_of_nails changed its input in place; build a new tensor instead"
        if got.shape != want.shape:
            return (
                f"for x of shape {tuple(x.shape)} and scale_factor {scale} the output should be "
                f"{tuple(want.shape)}, got {tuple(got.shape)}"
            )
        if not same(got, want, rtol=0, atol=1e-6):
            return (
                f"wrong values for x of shape {tuple(x.shape)} and scale_factor {scale}: each input value "
                "belongs at the "
                "top-left corner of its scale_factor x scale_factor block, with zeros everywhere else in the block"
            )
    return None


# --- 2.2 input_sizes(output_size, kernel_size, stride, padding, dilation) ------------------


def _size_settings(seed: int) -> list[tuple[int, int, int, int, int]]:
    g = _draw(seed)
    return [(_int(g, 1, 20), _int(g, 1, 7), _int(g, 1, 4), _int(g, 0, 3), _int(g, 1, 3)) for _ in range(8)]


def _conv1d_size(n: int, k: int, s: int, p: int, d: int) -> int | None:
    """Return what a convolution makes of an input of size n, or None if PyTorch refuses it."""
    import torch
    import torch.nn.functional as F

    try:
        return F.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p, dilation=d).shape[-1]
    except RuntimeError:
        return None


@probe("2.2")
def ask_input_sizes(seed: int, input_sizes: Any) -> dict:
    lists = []
    for setting in _size_settings(seed):
        result = input_sizes(*setting)
        try:
            lists.append([int(n) for n in result])
        except (TypeError, ValueError):
            lists.append({"type": type(result).__name__})
    return {"sizes": lists}


@judge("2.2")
def judge_input_sizes(seed: int, answers: dict) -> str | None:
    for (o, k, s, p, d), got in zip(_size_settings(seed), answers["sizes"], strict=True):
        args = f"output_size={o}, kernel_size={k}, stride={s}, padding={p}, dilation={d}"
        if not (isinstance(got, list) and all(is_int(n) for n in got)):
            return f"return a list of input sizes (ints), got {type_name(got)} for {args}"
        want = [n for n in range(1, o * s + d * (k - 1) + 2) if _conv1d_size(n, k, s, p, d) == o]
        if len(set(got)) != len(got):
            return f"for {args} your list repeats a size"
        wrong = sorted(set(got) - set(want))
        if wrong:
            return (
                f"for {args} an input of size {wrong[0]} gives "
                f"{_conv1d_size(wrong[0], k, s, p, d) if wrong[0] >= 1 else 'no'} outputs, not {o}"
            )
        missing = sorted(set(want) - set(got))
        if missing:
            return f"for {args} an input of size {missing[0]} also gives {o} outputs, but it is not in your list"
    return None


# --- 2.3 transpose_padding(in_size, out_size, kernel_size, stride) -------------------------


def _padding_cases(seed: int) -> tuple[list, list]:
    """Return hidden (in_size, out_size, kernel_size, stride) cases that have a solution, and some that have none."""
    g = _draw(seed)
    possible, impossible = [], []
    for _ in range(8):
        n, k, s = _int(g, 1, 20), _int(g, 1, 7), _int(g, 1, 4)
        padding, output_padding = _int(g, 0, (k - 1) // 2), _int(g, 0, s - 1)
        possible.append((n, (n - 1) * s - 2 * padding + k + output_padding, k, s))
    for _ in range(3):
        n, k, s = _int(g, 1, 20), _int(g, 1, 7), _int(g, 1, 4)
        impossible.append(
            (n, (n - 1) * s + k + s - 1 + _int(g, 1, 10), k, s)
        )  # beyond padding=0, output_padding=stride-1
    return possible, impossible


@probe("2.3")
def ask_transpose_padding(seed: int, transpose_padding: Any) -> dict:
    possible, impossible = _padding_cases(seed)
    found = []
    for case in possible:
        result = transpose_padding(*case)
        found.append({"kind": type(result).__name__, "value": answer(result)})
    refused = []
    for case in impossible:
        try:
            refused.append({"kind": "returned", "value": answer(transpose_padding(*case))})
        except ValueError:
            refused.append({"kind": "ValueError", "value": None})
    return {"found": found, "refused": refused}


@judge("2.3")
def judge_transpose_padding(seed: int, answers: dict) -> str | None:
    import torch
    from torch import nn

    possible, impossible = _padding_cases(seed)
    for (n, target, k, s), got in zip(possible, answers["found"], strict=True):
        args = f"in_size={n}, out_size={target}, kernel_size={k}, stride={s}"
        value = got["value"]
        if not (
            got["kind"] == "tuple" and isinstance(value, list) and len(value) == 2 and all(is_int(v) for v in value)
        ):
            return (
                "return a tuple of two ints (padding, output_padding), got a "
                f"{type_name({'type': got['kind']})} for {args}"
            )
        p, op = value
        try:
            size = nn.ConvTranspose1d(1, 1, k, stride=s, padding=p, output_padding=op)(torch.zeros(1, 1, n)).shape[-1]
        except (RuntimeError, ValueError) as err:
            return f"for {args} PyTorch rejects padding={p}, output_padding={op}: {str(err).splitlines()[0][:90]}"
        if size != target:
            return f"for {args} padding={p}, output_padding={op} give an output of size {size}, not {target}"
    for (n, target, k, s), got in zip(impossible, answers["refused"], strict=True):
        if got["kind"] != "ValueError":
            return (
                f"no padding and output_padding take size {n} to {target} with kernel_size={k} and stride={s}, "
                "but you returned an answer; raise ValueError when there is no solution"
            )
    return None


# --- 2.4 ResizeConv2d(in_channels, out_channels, scale_factor) -----------------------------


def _resize_cases(seed: int) -> list[tuple[int, int, int, Any]]:
    import torch

    g = _draw(seed)
    cases = []
    for _ in range(3):
        c_in, c_out, scale = _int(g, 1, 4), _int(g, 1, 8), _int(g, 2, 3)
        cases.append((c_in, c_out, scale, torch.rand(2, c_in, _int(g, 4, 8), _int(g, 4, 8), generator=g)))
    return cases


@probe("2.4")
def ask_resize_conv(seed: int, ResizeConv2d: Any) -> dict:
    import torch
    from torch import nn

    torch.manual_seed(seed)
    layers = []
    for c_in, c_out, scale, x in _resize_cases(seed):
        layer = ResizeConv2d(c_in, c_out, scale)
        if not isinstance(layer, nn.Module):
            layers.append({"module": False, "type": type(layer).__name__})
            continue
        params = [q for q in layer.parameters() if q.requires_grad]
        y = layer(x)
        if params and isinstance(y, torch.Tensor) and y.requires_grad:
            y.square().mean().backward()
        with torch.no_grad():
            constant = layer(torch.ones(1, c_in, 8, 8))
        layers.append(
            {
                "module": True,
                "output": answer(y),
                "trainable": len(params),
                "gradients": [answer(q.grad) for q in params],
                "constant": answer(constant),
            }
        )
    return {"layers": layers}


@judge("2.4")
def judge_resize_conv(seed: int, answers: dict) -> str | None:
    import torch

    for (c_in, c_out, scale, x), got in zip(_resize_cases(seed), answers["layers"], strict=True):
        if not got["module"]:
            return f"ResizeConv2d(...) should be an nn.Module, got {type_name(got)}"
        if not is_int(got["trainable"]) or got["trainable"] < 1:
            return "the layer has no trainable parameters: the point of it is to learn the upsampling"
        want = (2, c_out, x.shape[2] * scale, x.shape[3] * scale)
        y = got["output"]
        if not isinstance(y, torch.Tensor) or tuple(y.shape) != want:
            shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type_name(y)
            return f"ResizeConv2d({c_in}, {c_out}, {scale}) on input {tuple(x.shape)} should give {want}, got {shape}"
        if not any(isinstance(g, torch.Tensor) and bool(g.abs().sum() > 0) for g in got["gradients"]):
            return "no gradient reaches the parameters: make sure the convolution's output is what forward returns"
        constant = got["constant"]
        if not isinstance(constant, torch.Tensor) or tuple(constant.shape) != (1, c_out, 8 * scale, 8 * scale):
            return (
                f"ResizeConv2d({c_in}, {c_out}, {scale}) on an 8x8 input should give (1, {c_out}, "
                f"{8 * scale}, {8 * scale})"
            )
        flat = constant[:, :, 4:-4, 4:-4].double()  # a constant image; the borders see the zero padding
        spread = (flat.amax(dim=(2, 3)) - flat.amin(dim=(2, 3))).max().item()
        if not spread <= 1e-5 * max(1.0, flat.abs().max().item()):
            return (
                f"a constant image comes out with a pattern (values vary by {spread:.3g} away from the borders): "
                "resize first, then use a stride-1 convolution with 'same' padding"
            )
    return None


# --- 2.5 transposed_conv(x, weight, stride, padding) ---------------------------------------


def _transposed_cases(seed: int) -> list[tuple[Any, Any, int, int]]:
    import torch

    g = _draw(seed)
    cases = []
    for _ in range(6):
        b, c_in, c_out, h, w = _int(g, 1, 3), _int(g, 1, 4), _int(g, 1, 4), _int(g, 1, 5), _int(g, 1, 5)
        kh, kw, stride = _int(g, 1, 4), _int(g, 1, 4), _int(g, 1, 3)
        padding = _int(g, 0, (min(kh, kw) - 1) // 2)
        x = torch.randn(b, c_in, h, w, generator=g, dtype=torch.float64)
        weight = torch.randn(
            c_in, c_out, kh, kw, generator=g, dtype=torch.float64
        )  # (in_channels, out_channels, kH, kW)
        cases.append((x, weight, stride, padding))
    return cases


@probe("2.5", forbid=("torch.nn.functional.conv_transpose2d", "torch.conv_transpose2d"))
def ask_transposed_conv(seed: int, transposed_conv: Any) -> dict:
    outputs, inputs_after = [], []
    for x, weight, stride, padding in _transposed_cases(seed):
        outputs.append(answer(transposed_conv(x, weight, stride, padding)))
        inputs_after.append([answer(x), answer(weight)])
    return {"outputs": outputs, "inputs_after": inputs_after}


@judge("2.5")
def judge_transposed_conv(seed: int, answers: dict) -> str | None:
    import torch
    import torch.nn.functional as F

    from ...exercises.lecture2 import transposed_size_mistake

    for (x, weight, stride, padding), got, after in zip(
        _transposed_cases(seed), answers["outputs"], answers["inputs_after"], strict=True
    ):
        args = f"x {tuple(x.shape)}, weight {tuple(weight.shape)}, stride={stride}, padding={padding}"
        want = F.conv_transpose2d(x, weight, stride=stride, padding=padding)
        if not isinstance(got, torch.Tensor):
            return f"return a tensor, got {type_name(got)} for {args}"
        if not (same(after[0], x, rtol=0, atol=0) and same(after[1], weight, rtol=0, atol=0)):
            return "your function changed x or weight in place; write into a new output tensor"
        if got.shape != want.shape:
            return transposed_size_mistake(tuple(got.shape), tuple(want.shape), padding, args)
        if not same(got, want, rtol=1e-7, atol=1e-9):
            return (
                f"wrong values for {args}: input pixel (h, w) of channel i adds x[b, i, h, w] * weight[i, o] into "
                "output channel o at rows h * stride ..., columns w * stride ..., then `padding` is cropped "
                "from each side"
            )
    return None
