"""Exercise 2.5, a transposed convolution written as a stamp-and-add loop: defined once (see aelib.exercises).

While the probe runs, PyTorch's own transposed convolutions raise: the answer must be the
student's loop. The judge compares with `F.conv_transpose2d` and recognises the typical
mistakes by recomputing them.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .. import define
from ..answers import answer, answer_each, draw, draw_int, raised, same, type_name

__all__ = ["TRANSPOSED_CONV", "transposed_size_mistake"]

# (batch, in_channels, out_channels, H, W, kH, kW, stride, padding), simplest first, so the first
# failing case isolates one idea: stamping, stride, cropping, channels, a batch.
_FIXED_CASES = [
    (1, 1, 1, 2, 2, 3, 3, 1, 0),
    (1, 1, 1, 3, 4, 3, 2, 1, 0),
    (1, 1, 1, 3, 3, 3, 3, 2, 0),
    (1, 1, 1, 4, 3, 4, 4, 2, 1),
    (1, 1, 1, 3, 5, 3, 3, 3, 2),
    (1, 2, 2, 3, 4, 3, 3, 2, 1),
    (1, 3, 1, 3, 3, 2, 2, 2, 0),
    (1, 1, 4, 3, 3, 3, 3, 2, 1),
    (1, 3, 2, 4, 3, 2, 3, 1, 1),
    (3, 2, 3, 3, 3, 3, 3, 2, 1),
    (2, 4, 4, 5, 4, 4, 4, 2, 1),
]
# Loose enough for an answer computed in float32 (a `torch.zeros` output buffer), far tighter than any mistake.
_CLOSE = dict(rtol=1e-5, atol=1e-5)


def _drawn_setting(g: torch.Generator) -> tuple[int, ...]:
    b, c_in, c_out, h, w = (draw_int(g, 1, n) for n in (3, 4, 4, 5, 5))
    kh, kw, stride = draw_int(g, 1, 4), draw_int(g, 1, 4), draw_int(g, 1, 3)
    return b, c_in, c_out, h, w, kh, kw, stride, draw_int(g, 0, (min(kh, kw) - 1) // 2)


def transposed_cases(seed: int | None) -> list[tuple[torch.Tensor, torch.Tensor, int, int]]:
    """Return (x, weight, stride, padding) cases in float64: fixed ones, simplest first, or drawn."""
    g = draw(0 if seed is None else seed)
    settings = _FIXED_CASES if seed is None else [_drawn_setting(g) for _ in range(6)]
    cases = []
    for b, c_in, c_out, h, w, kh, kw, stride, padding in settings:
        x = torch.randn(b, c_in, h, w, generator=g, dtype=torch.float64)
        # the weight of a transposed convolution: (in_channels, out_channels, kH, kW)
        weight = torch.randn(c_in, c_out, kh, kw, generator=g, dtype=torch.float64)
        cases.append((x, weight, stride, padding))
    return cases


def probe_transposed_conv(inputs: list, transposed_conv: Any) -> dict:
    outputs = answer_each(lambda case: transposed_conv(*case), inputs)
    return {"outputs": outputs, "inputs_after": [[answer(x), answer(weight)] for x, weight, _, _ in inputs]}


def transposed_size_mistake(got: tuple[int, ...], want: tuple[int, ...], padding: int, args: str) -> str:
    """Return the hint for a transposed convolution of shape `got` where `want` was due."""
    uncropped = want[:2] + tuple(n + 2 * padding for n in want[2:])
    if padding and got == uncropped:
        return (
            f"for {args} the output is {got}, the size before cropping: remove `padding` rows "
            f"and columns from each side to get {want}"
        )
    return (
        f"for {args} the output should be {want}, got {got}: "
        "each spatial size is (n - 1) * stride + kernel_size - 2 * padding"
    )


def _named_mistake(got: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, stride: int, padding: int) -> str | None:
    """Recognise a typical wrong answer by recomputing it with PyTorch; None if it is none of them."""

    def matches(candidate: torch.Tensor) -> bool:
        return candidate.shape == got.shape and torch.allclose(got, candidate, **_CLOSE)

    def conv_t(w: torch.Tensor, p: int = padding) -> torch.Tensor:
        return F.conv_transpose2d(x, w, stride=stride, padding=p)

    flips = {"both ways (rows and columns)": (-2, -1), "upside down (rows)": (-2,), "left to right (columns)": (-1,)}
    for how, dims in flips.items():
        if weight.shape[-2] * weight.shape[-1] > 1 and matches(conv_t(weight.flip(dims))):
            return (
                f"the kernel is flipped {how}: a transposed convolution stamps the kernel as it is, "
                "weight[i, o, a, b] lands on output (h * stride + a, w * stride + b) before cropping"
            )
    if weight.shape[-2] == weight.shape[-1] and matches(conv_t(weight.transpose(-2, -1))):
        return "the kernel's rows and columns are swapped: kernel row a goes to output row h * stride + a"
    if weight.shape[0] == weight.shape[1] > 1 and matches(conv_t(weight.transpose(0, 1))):
        return (
            "the channels are mixed up: a transposed convolution's weight is (in_channels, out_channels, kH, kW), "
            "the other way round from Conv2d's"
        )
    if padding and matches(conv_t(weight, 0)[..., : -2 * padding, : -2 * padding]):
        return "the padding is cropped from one side only: crop `padding` rows and columns from every side"
    for c in range(x.shape[1]) if x.shape[1] > 1 else ():
        if matches(F.conv_transpose2d(x[:, c : c + 1], weight[c : c + 1], stride=stride, padding=padding)):
            return (
                f"only input channel {c} contributes: every input channel stamps its own kernel, and the stamps add up"
            )
    if x.shape[0] > 1 and torch.allclose(got[:1], conv_t(weight)[:1], **_CLOSE):
        return "the first image of the batch is right but not the others: stamp every image of the batch"
    return None


def judge_transposed_conv(inputs: list, answers: dict) -> str | None:
    """Compare with F.conv_transpose2d; name the mistake when it is a typical one."""
    for (x, weight, stride, padding), got, after in zip(
        inputs, answers["outputs"], answers["inputs_after"], strict=True
    ):
        args = f"x {tuple(x.shape)}, weight {tuple(weight.shape)}, stride={stride}, padding={padding}"
        want = F.conv_transpose2d(x, weight, stride=stride, padding=padding)
        if raised(got):
            return raised(got)
        if not isinstance(got, torch.Tensor):
            return f"return a tensor, got {type_name(got)} for {args}"
        if not (same(after[0], x, rtol=0, atol=0) and same(after[1], weight, rtol=0, atol=0)):
            return "your function changed x or weight in place; write into a new output tensor"
        if got.shape != want.shape:
            return transposed_size_mistake(tuple(got.shape), tuple(want.shape), padding, args)
        got = got.double()
        if not same(got, want, **_CLOSE):
            mistake = _named_mistake(got, x, weight, stride, padding)
            if mistake:
                return f"for {args}: {mistake}"
            ones = torch.ones_like(weight[:1, :1])
            overlap = F.conv_transpose2d(torch.ones_like(x[:1, :1]), ones, stride=stride, padding=padding)
            wrong = ~torch.isclose(got, want, **_CLOSE).all(
                dim=(0, 1)
            )  # (H_out, W_out): wrong in some image or channel
            if not wrong[overlap[0, 0] == 1].any():
                return (
                    f"for {args} the values are right where one stamp lands but wrong where stamps overlap: "
                    "add each stamp into the output (+=), do not overwrite it"
                )
            return (
                f"wrong values for {args}: input pixel (h, w) of channel i adds x[b, i, h, w] * weight[i, o] into "
                "output channel o at rows h * stride ..., columns w * stride ..., "
                "then `padding` is cropped from each side"
            )
    return None


TRANSPOSED_CONV = define(
    "2.5",
    transposed_cases,
    probe_transposed_conv,
    judge_transposed_conv,
    forbid=("torch.nn.functional.conv_transpose2d", "torch.conv_transpose2d"),
)
