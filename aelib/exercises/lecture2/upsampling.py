"""Exercises 2.1 (bed of nails) and 2.4 (a resize-convolution layer): each defined once (see aelib.exercises)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .. import define
from ..answers import answer, draw, draw_int, is_int, same, type_name

__all__ = ["BED_OF_NAILS", "RESIZE_CONV"]

# --- 2.1 bed_of_nails(x, scale_factor) -----------------------------------------------------


def nails_cases(seed: int | None) -> list[tuple[torch.Tensor, int]]:
    """Return (x, scale_factor) cases: fixed ones, a 2x2 example first, or drawn."""
    if seed is None:
        g = draw(0)
        return [
            (torch.arange(1.0, 5.0).reshape(1, 1, 2, 2), 2),
            (torch.randn(2, 3, 4, 5, generator=g), 2),
            (torch.randn(1, 2, 3, 2, generator=g), 3),
            (torch.randn(3, 1, 1, 1, generator=g), 4),
            (torch.randn(2, 2, 5, 5, generator=g), 1),
        ]
    g = draw(seed)
    shapes = [(draw_int(g, 1, 3), draw_int(g, 1, 3), draw_int(g, 1, 6), draw_int(g, 1, 6)) for _ in range(5)]
    return [(torch.randn(shape, generator=g), draw_int(g, 1, 4)) for shape in shapes]


def probe_bed_of_nails(inputs: list, bed_of_nails: Any) -> dict:
    outputs, inputs_after = [], []
    for x, scale in inputs:
        outputs.append(answer(bed_of_nails(x, scale)))
        inputs_after.append(answer(x))
    return {"outputs": outputs, "inputs_after": inputs_after}


def judge_bed_of_nails(inputs: list, answers: dict) -> str | None:
    """Compare with each value at the top-left corner of its block, zeros elsewhere."""
    for (x, scale), got, after in zip(inputs, answers["outputs"], answers["inputs_after"], strict=True):
        b, c, h, w = x.shape
        want = x.new_zeros(b, c, h * scale, w * scale)
        want[..., ::scale, ::scale] = x
        if not isinstance(got, torch.Tensor):
            return f"bed_of_nails should return a tensor, got {type_name(got)}"
        if not same(after, x, rtol=0, atol=0):
            return "bed_of_nails changed its input in place; build a new tensor instead"
        if got.shape != want.shape:
            return (
                f"for x of shape {tuple(x.shape)} and scale_factor {scale} the output should be {tuple(want.shape)}, "
                f"got {tuple(got.shape)}"
            )
        if not same(got, want, rtol=0, atol=1e-6):
            return (
                f"wrong values for x of shape {tuple(x.shape)} and scale_factor {scale}: "
                "each input value belongs at the top-left corner of its scale_factor x scale_factor block, "
                "with zeros everywhere else in the block"
            )
    return None


BED_OF_NAILS = define(
    "2.1", nails_cases, probe_bed_of_nails, judge_bed_of_nails, forbid=("aelib.upsampling.upsample_bed_of_nails",)
)

# --- 2.4 ResizeConv2d(in_channels, out_channels, scale_factor) -----------------------------


def resize_cases(seed: int | None) -> dict:
    """Return the seed of the layers' initialisation and (in_channels, out_channels, scale_factor, x) cases."""
    g = draw(0 if seed is None else seed)
    if seed is None:
        settings = [(1, 1, 2, 6, 7), (3, 8, 2, 6, 7), (4, 2, 3, 6, 7)]
    else:
        settings = [
            (draw_int(g, 1, 4), draw_int(g, 1, 8), draw_int(g, 2, 3), draw_int(g, 4, 8), draw_int(g, 4, 8))
            for _ in range(3)
        ]
    cases = [(c_in, c_out, scale, torch.rand(2, c_in, h, w, generator=g)) for c_in, c_out, scale, h, w in settings]
    return {"init_seed": 0 if seed is None else seed, "cases": cases}


def probe_resize_conv(inputs: dict, ResizeConv2d: Any) -> dict:
    """Build each layer, push x through it and backpropagate, and push a constant 8x8 image through it."""
    torch.manual_seed(inputs["init_seed"])
    layers = []
    for c_in, c_out, scale, x in inputs["cases"]:
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


def judge_resize_conv(inputs: dict, answers: dict) -> str | None:
    """Check shapes, learnable weights that the output reaches, and no pattern on a constant image."""
    for (c_in, c_out, scale, x), got in zip(inputs["cases"], answers["layers"], strict=True):
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
            want = (1, c_out, 8 * scale, 8 * scale)
            return f"ResizeConv2d({c_in}, {c_out}, {scale}) on an 8x8 input should give {want}"
        flat = constant[:, :, 4:-4, 4:-4].double()  # a constant image; the borders see the zero padding
        spread = (flat.amax(dim=(2, 3)) - flat.amin(dim=(2, 3))).max().item()
        if not spread <= 1e-5 * max(1.0, flat.abs().max().item()):
            return (
                f"a constant image comes out with a pattern (values vary by {spread:.3g} away from the borders): "
                "resize first, then use a stride-1 convolution with 'same' padding"
            )
    return None


RESIZE_CONV = define("2.4", resize_cases, probe_resize_conv, judge_resize_conv)
