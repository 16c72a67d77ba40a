"""Running an exercise: ask the student's objects (the probe), then decide (the judge).

`ask` runs in the student's kernel: for the self-check on the fixed inputs, for grading
on hidden ones (`aelib.instructor.probes.run_probe` saves what it returns). `problem`
decides from what `ask` returned, in the self-check's words; the grader calls it on the
answers it loaded. `self_check` joins the two into the `check_*` function a notebook calls.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

from ..conventions import NOT_IMPLEMENTED, verdict
from . import Exercise

__all__ = ["ask", "problem", "self_check", "called_problem", "error_problem", "describe"]

_MEMORY_ERRORS = ("can't allocate memory", "Cannot allocate memory", "out of memory", "std::bad_alloc")
_TRAP = """def trap(*args, **kwargs):
    __import__("aelib.exercises.running", fromlist=["called"]).called.add({name!r})
    raise RuntimeError({message!r})
"""
called: set[str] = set()  # the forbidden functions the student's code called during the last probe


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Swallow prints and warnings, and fork the CPU random state: seeding here changes nothing outside."""
    with (
        warnings.catch_warnings(),
        torch.random.fork_rng(devices=[]),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def _forbidden(paths: tuple[str, ...]) -> Iterator[None]:
    """While inside, make the named functions raise, and record in `called` that they were called.

    A Python function has its code object swapped, so that a reference the notebook took
    earlier trips too; a built-in one (PyTorch's) is replaced in its module.
    """
    swapped, replaced = [], []
    for path in paths:
        module_name, name = path.rsplit(".", 1)
        module = importlib.import_module(module_name)
        function = getattr(module, name, None)
        if function is None:
            continue
        public = f"aelib.{name}" if path.startswith("aelib.") else path
        message = f"{public} is not allowed in this exercise: the grader asks for your own code"
        namespace: dict[str, Any] = {}
        exec(_TRAP.format(name=public, message=message), namespace)
        code = getattr(function, "__code__", None)
        if code is not None and not code.co_freevars:
            swapped.append((function, code))
            function.__code__ = namespace["trap"].__code__
        elif code is None:
            replaced.append((module, name, function))
            setattr(module, name, namespace["trap"])
    try:
        yield
    finally:
        for function, code in swapped:
            function.__code__ = code
        for module, name, function in replaced:
            setattr(module, name, function)


def describe(err: BaseException) -> dict[str, str]:
    """Return an exception as {"type": ..., "message": first line}; allocation failures become MemoryError."""
    message = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
    kind = type(err).__name__
    if isinstance(err, MemoryError) or any(text in message for text in _MEMORY_ERRORS):
        kind = "MemoryError"
    return {"type": kind, "message": message}


def ask(exercise: Exercise | None, seed: int | None, objects: Callable[[], tuple], exercise_id: str = "") -> dict:
    """Run the exercise's probe on the student's objects (returned by `objects()`); never raises.

    Returns {"exercise", "answers", "error", "called"}: the answers, or the exception that
    ended the probe, and the forbidden functions it called. `seed=None` asks the fixed inputs.
    """
    result: dict[str, Any] = {"exercise": exercise.id if exercise else exercise_id, "error": None, "answers": None}
    called.clear()
    try:
        if exercise is None:
            raise LookupError(f"no exercise {exercise_id} in aelib.exercises")
        arguments = objects()
        with _quiet(), _forbidden(exercise.forbid):
            result["answers"] = exercise.probe(exercise.inputs(seed), *arguments)
    except Exception as err:  # the student's code failed, or was missing: that is the answer
        result["error"] = describe(err)
    result["called"] = sorted(called)
    return result


def called_problem(names: list[str]) -> str:
    """Return the problem of a probe that called a forbidden function."""
    return f"your code calls {names[0]}, which this exercise asks you to write yourself"


def error_problem(kind: str, message: str) -> str:
    """Return the problem of a probe that the student's code ended with an exception."""
    if kind == "NotImplementedError":
        return NOT_IMPLEMENTED
    return f"your code raised {kind}: {message[:120]}".rstrip(": ")


def problem(exercise: Exercise, seed: int | None, saved: dict) -> str | None:
    """Return what is wrong with what `ask` saved (None: correct), in the words of the self-check."""
    if saved["called"]:
        return called_problem(saved["called"])
    if saved["error"] is not None:
        return error_problem(saved["error"]["type"], saved["error"]["message"])
    return exercise.judge(exercise.inputs(seed), saved["answers"])


def _as_graded(saved: dict) -> dict:
    """Return the answers as the grader loads them: saved with torch.save, loaded with weights_only."""
    buffer = io.BytesIO()
    torch.save(saved, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def self_check(exercise: Exercise, doc: str) -> Callable[..., None]:
    """Return the check a notebook calls: probe and judge on the fixed inputs, then one verdict line.

    It is named after the probe (`probe_mse` gives `check_mse`). It never raises: whatever
    the student's code does becomes the verdict.
    """

    def check(*objects: Any) -> None:
        saved = ask(exercise, None, lambda: objects)
        try:
            with _quiet():
                found = problem(exercise, None, _as_graded(saved))
        except Exception as err:  # an answer no judge foresaw: say what failed, never crash the cell
            found = error_problem(type(err).__name__, str(err).strip().splitlines()[0] if str(err).strip() else "")
        print(verdict(exercise.id, found))

    check.__name__ = check.__qualname__ = "check_" + exercise.probe.__name__.removeprefix("probe_")
    check.__module__, check.__doc__ = exercise.probe.__module__, doc
    check.exercise_id = exercise.id
    return check
