"""Exercise checks: each prints exactly one deterministic verdict line.

A check is a function decorated with `@exercise("2.1")` that receives the
student's object and returns None when it is correct, or a short hint (never
the solution) when it is not. The decorator turns any exception raised by the
student's code into a "not yet" verdict naming the exception, so a check cell
never crashes. Check cells carry `# NBVAL_CHECK_OUTPUT`, so nbval compares the
verdict with the instructor's stored `Exercise 2.1: correct`.

Checks for lecture N live in `aelib.exercises.lectureN`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

__all__ = ["exercise", "verdict", "SOLUTION_BEGIN", "SOLUTION_END"]

SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"


def verdict(exercise_id: str, problem: str | None) -> str:
    """Return the verdict line for an exercise: correct, or not yet with the problem."""
    return f"Exercise {exercise_id}: correct" if problem is None else f"Exercise {exercise_id}: not yet ({problem})"


def exercise(exercise_id: str) -> Callable[[Callable[..., str | None]], Callable[..., None]]:
    """Turn `check(obj) -> problem | None` into a check that prints one verdict line."""

    def decorate(check: Callable[..., str | None]) -> Callable[..., None]:
        @functools.wraps(check)
        def run(*args: Any, **kwargs: Any) -> None:
            try:
                problem = check(*args, **kwargs)
            except NotImplementedError:
                problem = "not implemented yet: replace the `raise NotImplementedError` line with your code"
            except Exception as err:  # the student's code failed: report it, never crash
                problem = f"your code raised {type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''}".rstrip(": ")
            print(verdict(exercise_id, problem))

        run.exercise_id = exercise_id
        return run

    return decorate
