"""Exercise checks: each prints exactly one deterministic verdict line.

A check is a function decorated with `@exercise("2.1")` that receives the
student's object and returns None when it is correct, or a short hint (never
the solution) when it is not. The decorator turns any exception raised by the
student's code into a "not yet" verdict naming the exception, so a check cell
never crashes. Check cells carry `# NBVAL_CHECK_OUTPUT`, so nbval compares the
verdict with the instructor's stored `Exercise 2.1: correct`.

Checks for lecture N live in `aelib.exercises.lectureN`; the markers, the cell
metadata and the verdict format live in `aelib.conventions`. These checks are the
students' self-checks: at grading, each check cell is replaced by a probe that the
grader judges outside the student's kernel (`aelib.instructor.probes`). How exercises
are written, turned into a student copy (`aelib-student`) and graded (`aelib-grade`)
is described in the book's instructor guide.
"""

from __future__ import annotations

import contextlib
import functools
import io
import warnings
from collections.abc import Callable
from typing import Any

import torch

from ..conventions import NOT_IMPLEMENTED, SOLUTION_BEGIN, SOLUTION_END, verdict

__all__ = ["exercise", "verdict", "SOLUTION_BEGIN", "SOLUTION_END"]


def exercise(exercise_id: str) -> Callable[[Callable[..., str | None]], Callable[..., None]]:
    """Turn `check(obj) -> problem | None` into a check that prints one verdict line.

    The check runs with the student's prints and warnings swallowed (they would add lines
    to a checked cell, whose output must be the verdict alone) and on a fork of the CPU
    random state, so that seeding inside a check does not change what the rest of the
    notebook draws.
    """

    def decorate(check: Callable[..., str | None]) -> Callable[..., None]:
        @functools.wraps(check)
        def run(*args: Any, **kwargs: Any) -> None:
            try:
                with (
                    warnings.catch_warnings(),
                    torch.random.fork_rng(devices=[]),
                    contextlib.redirect_stdout(io.StringIO()),
                    contextlib.redirect_stderr(io.StringIO()),
                ):
                    warnings.simplefilter("ignore")
                    problem = check(*args, **kwargs)
            except NotImplementedError:
                problem = NOT_IMPLEMENTED
            except Exception as err:  # the student's code failed: report it, never crash
                problem = (
                    f"your code raised {type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''}"
                ).rstrip(": ")
            print(verdict(exercise_id, problem))

        run.exercise_id = exercise_id
        return run

    return decorate
