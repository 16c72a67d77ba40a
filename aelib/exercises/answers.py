"""The vocabulary of exercise definitions: drawing hidden inputs, saving answers, comparing them.

A probe wraps whatever the student's code returned with `answer`, so that it can be
saved for the grader and loaded there without unpickling anything but tensors and plain
values. A judge compares with `same` (never broadcasting) and names a wrong type with
`type_name`, which works on a saved answer as on a live object.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable
from typing import Any

import torch

from .running import describe, error_problem

__all__ = ["draw", "draw_int", "answer", "answer_each", "raised", "type_name", "same", "is_int", "finite"]


def draw(seed: int) -> torch.Generator:
    """Return a CPU generator seeded with `seed`: hidden inputs are a pure function of the seed."""
    return torch.Generator().manual_seed(seed)


def draw_int(g: torch.Generator, low: int, high: int) -> int:
    """Draw an int in [low, high] from generator `g`."""
    return int(torch.randint(low, high + 1, (1,), generator=g))


def answer(obj: Any, depth: int = 0) -> Any:
    """Return what a student's object can be saved as: a detached CPU tensor, a plain value, or its type's name.

    Numbers become Python's own (a NumPy float a float), lists and tuples lists of
    answers; anything else becomes `{"type": "ClassName"}`.
    """
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if obj is None or isinstance(obj, str):
        return None if obj is None else str(obj)
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, numbers.Integral):  # NumPy's integers too: saved as plain ints
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj)
    if isinstance(obj, (list, tuple)) and depth < 3 and len(obj) <= 10_000:
        return [answer(item, depth + 1) for item in obj]
    return {"type": type(obj).__name__}


def answer_each(call: Callable[[Any], Any], cases: list) -> list:
    """Return `answer(call(case))` for each case; a case whose call raises is answered {"raised": the exception}.

    So the judge, going through the cases in order, names the first problem, be it a wrong
    answer or an exception. Not implemented, and memory beyond the cap, end the probe.
    """
    answers = []
    for case in cases:
        try:
            answers.append(answer(call(case)))
        except (NotImplementedError, MemoryError):
            raise
        except Exception as err:  # the student's code failed on this case: the judge says so when it gets there
            answers.append({"raised": describe(err)})
    return answers


def raised(got: Any) -> str | None:
    """Return the problem of an answer that `answer_each` saved as an exception, or None."""
    if isinstance(got, dict) and isinstance(got.get("raised"), dict):
        return error_problem(str(got["raised"].get("type", ""))[:60], str(got["raised"].get("message", "")))
    return None


def type_name(got: Any) -> str:
    """Return the type a student's answer had, for a hint."""
    if isinstance(got, dict) and isinstance(got.get("type"), str):
        return re.sub(r"[^A-Za-z0-9_.]", "", got["type"])[:40] or "an object"
    if isinstance(got, torch.Tensor):
        return "Tensor"
    return type(got).__name__


def same(got: Any, want: torch.Tensor, *, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    """Return True if `got` is a tensor of `want`'s shape with close, finite values (no broadcasting)."""
    if not isinstance(got, torch.Tensor) or got.shape != want.shape or got.is_complex():
        return False
    got, want = got.double(), want.double()
    return bool(torch.isfinite(got).all()) and bool(torch.allclose(got, want, rtol=rtol, atol=atol))


def is_int(value: Any) -> bool:
    """Return True for an int (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def finite(value: Any) -> bool:
    """Return True for a finite float or int (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
