"""Exercises 2.2 (the input sizes a convolution maps to one output size) and 2.3 (padding a transposed
convolution to a target size): each defined once (see aelib.exercises)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import define
from ..answers import answer, draw, draw_int, is_int, type_name

__all__ = ["INPUT_SIZES", "TRANSPOSE_PADDING"]


def _shown(value: Any, kind: str = "") -> str:
    """Return a short answer as written (`(1, 1)`), or its type's name."""
    if isinstance(value, list) and len(value) <= 4 and all(isinstance(v, (int, float)) for v in value):
        return repr(tuple(value)) if kind == "tuple" else repr(value)
    if isinstance(value, (int, float)):
        return repr(value)
    return type_name({"type": kind} if kind else value)


# --- 2.2 input_sizes(output_size, kernel_size, stride, padding, dilation) ------------------


def size_settings(seed: int | None) -> list[tuple[int, int, int, int, int]]:
    """Return (output_size, kernel_size, stride, padding, dilation) settings: fixed, or drawn."""
    if seed is None:
        return [
            (14, 3, 2, 1, 1),
            (7, 3, 2, 1, 1),
            (1, 7, 1, 0, 1),
            (60, 5, 1, 0, 1),
            (5, 4, 3, 0, 1),
            (3, 3, 4, 2, 1),
            (1, 3, 2, 1, 1),
            (1, 1, 3, 1, 1),
            (2, 1, 4, 2, 1),
            (4, 3, 2, 1, 2),
            (2, 2, 5, 0, 3),
        ]
    g = draw(seed)
    return [
        (draw_int(g, 1, 20), draw_int(g, 1, 7), draw_int(g, 1, 4), draw_int(g, 0, 3), draw_int(g, 1, 3))
        for _ in range(8)
    ]


def _conv1d_size(n: int, k: int, s: int, p: int, d: int) -> int | None:
    """Return what nn.Conv1d makes of an input of size n, or None if PyTorch refuses it."""
    try:
        return F.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p, dilation=d).shape[-1]
    except RuntimeError:
        return None


def probe_input_sizes(inputs: list, input_sizes: Any) -> dict:
    lists = []
    for setting in inputs:
        result = input_sizes(*setting)
        try:
            lists.append([int(n) for n in result])
        except (TypeError, ValueError):
            lists.append(answer(result))
    return {"sizes": lists}


def judge_input_sizes(inputs: list, answers: dict) -> str | None:
    """Compare with a search over the input sizes that F.conv1d maps to the output size."""
    for (o, k, s, p, d), got in zip(inputs, answers["sizes"], strict=True):
        args = f"output_size={o}, kernel_size={k}, stride={s}, padding={p}, dilation={d}"
        if not (isinstance(got, list) and all(is_int(n) for n in got)):
            return f"return a list of input sizes (ints), got {_shown(got)} for {args}"
        want = [n for n in range(1, o * s + d * (k - 1) + 2) if _conv1d_size(n, k, s, p, d) == o]
        repeated = sorted(n for n, count in Counter(got).items() if count > 1)
        if repeated:
            return f"for {args} your list repeats a size: {repeated[0]}"
        wrong = sorted(set(got) - set(want))
        if wrong:
            made = _conv1d_size(wrong[0], k, s, p, d) if 1 <= wrong[0] <= 10_000 else None
            return f"for {args} an input of size {wrong[0]} gives {'no' if made is None else made} outputs, not {o}"
        missing = sorted(set(want) - set(got))
        if missing:
            return f"for {args} an input of size {missing[0]} also gives {o} outputs, but it is not in your list"
    return None


INPUT_SIZES = define("2.2", size_settings, probe_input_sizes, judge_input_sizes)

# --- 2.3 transpose_padding(in_size, out_size, kernel_size, stride) -------------------------


def padding_cases(seed: int | None) -> tuple[list, list]:
    """Return (in_size, out_size, kernel_size, stride) cases that have a solution, and some that have none."""
    if seed is None:
        possible = [(7, 14, 3, 2), (14, 28, 3, 2), (1, 7, 7, 1), (16, 32, 4, 2)]
        possible += [(8, 17, 4, 2), (5, 15, 5, 3), (10, 19, 3, 2), (4, 12, 3, 3)]
        return possible, [(4, 20, 3, 2), (7, 14, 3, 1), (8, 16, 1, 1)]
    g = draw(seed)
    possible, impossible = [], []
    for _ in range(8):
        n, k, s = draw_int(g, 1, 20), draw_int(g, 1, 7), draw_int(g, 1, 4)
        padding, output_padding = draw_int(g, 0, (k - 1) // 2), draw_int(g, 0, s - 1)
        possible.append((n, (n - 1) * s - 2 * padding + k + output_padding, k, s))
    for _ in range(3):
        n, k, s = draw_int(g, 1, 20), draw_int(g, 1, 7), draw_int(g, 1, 4)
        impossible.append((n, (n - 1) * s + k + s - 1 + draw_int(g, 1, 10), k, s))  # beyond padding 0, most output
    return possible, impossible


def probe_transpose_padding(inputs: tuple[list, list], transpose_padding: Any) -> dict:
    possible, impossible = inputs
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


def judge_transpose_padding(inputs: tuple[list, list], answers: dict) -> str | None:
    """Build the transposed convolution with the student's padding and measure; impossible cases must raise."""
    possible, impossible = inputs
    for (n, target, k, s), got in zip(possible, answers["found"], strict=True):
        args = f"in_size={n}, out_size={target}, kernel_size={k}, stride={s}"
        value = got["value"]
        if not (
            got["kind"] == "tuple" and isinstance(value, list) and len(value) == 2 and all(is_int(v) for v in value)
        ):
            return f"return a tuple of two ints (padding, output_padding), got {_shown(value, got['kind'])} for {args}"
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
                f"but you returned {_shown(got['value'])}; raise ValueError when there is no solution"
            )
    return None


TRANSPOSE_PADDING = define("2.3", padding_cases, probe_transpose_padding, judge_transpose_padding)
