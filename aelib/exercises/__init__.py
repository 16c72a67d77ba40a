"""The exercises: each one defined once, for the student's self-check and for the grader alike.

An exercise is three functions, declared together with `define` in the module of its
lecture part (`aelib.exercises.lectureN`):

- `inputs(seed)`: what the student's code is asked. `seed=None` gives the fixed inputs
  of the self-check (the lecture's examples, and the cases that tell mistakes apart);
  an int gives hidden inputs drawn from that seed, for grading.
- `probe(inputs, *objects)`: calls the student's objects (the ones the check cell
  passes) on the inputs and returns what they answered as plain data: tensors, numbers,
  strings, and lists and dicts of them (see `answers.answer`). It compares nothing.
- `judge(inputs, answers)`: decides. It returns None when the answers are right, or the
  problem in a few words that name the mistake (never the solution).

The self-check (`ex.check_mse(mse)` in a notebook) runs the probe and the judge in the
student's kernel on the fixed inputs and prints one verdict line, `Exercise 1.1: correct`
or `Exercise 1.1: not yet (<problem>)`. Grading runs the probe in a sandboxed kernel on
hidden inputs, saves its answers, and runs the judge in the grader's own process
(`aelib.instructor.probes`): the same words, from the same code.

This module imports neither torch nor matplotlib, so that the instructor tools can look
exercises up; the lecture modules do, when they are imported.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..conventions import SOLUTION_BEGIN, SOLUTION_END, verdict

__all__ = ["Exercise", "define", "definition", "verdict", "SOLUTION_BEGIN", "SOLUTION_END"]


@dataclass(frozen=True)
class Exercise:
    """One exercise: its inputs, its probe and its judge (see the module docstring).

    `forbid` names functions that are the exercise's answer (`"aelib.metrics.psnr"`):
    while the probe runs, calling them raises, and the verdict says so.
    """

    id: str
    inputs: Callable[[int | None], Any]
    probe: Callable[..., dict]
    judge: Callable[[Any, dict], str | None]
    forbid: tuple[str, ...] = ()


_DEFINED: dict[str, Exercise] = {}


def define(
    exercise_id: str,
    inputs: Callable[[int | None], Any],
    probe: Callable[..., dict],
    judge: Callable[[Any, dict], str | None],
    *,
    forbid: tuple[str, ...] = (),
) -> Exercise:
    """Declare an exercise and register it under its id; return it."""
    exercise = Exercise(exercise_id, inputs, probe, judge, tuple(forbid))
    _DEFINED[exercise_id] = exercise
    return exercise


def definition(exercise_id: str) -> Exercise | None:
    """Return the exercise with this id ("2.1" is defined in `lecture2`), or None if there is none.

    Importing its lecture module imports torch: the grader calls this when it reads the
    reference lectures, not when it is imported.
    """
    match = re.fullmatch(r"(\d{1,3})\.[A-Za-z0-9_-]{1,28}", exercise_id)
    if match and exercise_id not in _DEFINED:
        try:
            importlib.import_module(f"{__name__}.lecture{int(match.group(1))}")
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.lecture{int(match.group(1))}":
                raise
    return _DEFINED.get(exercise_id)
