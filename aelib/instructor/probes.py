"""Probes at grading: the student's kernel answers hidden questions, and the grader judges the answers.

At grading, `aelib-grade` replaces each check cell by a probe cell that calls `run_probe`.
It runs in the student's kernel, inside the sandbox: it asks the student's objects the
exercise's questions on hidden inputs drawn from a seed that the grader picks for this
run (the exercise's own probe, see `aelib.exercises`), and saves only what they returned
(tensors, numbers, strings, lists and dicts of them) with `torch.save` into the scratch
folder. The grader then loads those answers with `torch.load(weights_only=True)`, in its
own process, and the exercise's judge decides on inputs recomputed from the same seed.
Whatever the notebook patched inside its kernel (the checks, `print`, IPython, torch
itself) can change only the answers, and answers to inputs it never saw are right only
if the code is.

An exception raised by the student's code ends the probe; the grader turns it into
"not yet (your code raised ...)", or "not yet (not implemented)". This module imports
torch only inside its functions.
"""

from __future__ import annotations

import io
import os
import re
import stat
from collections.abc import Callable
from typing import Any

from ..exercises import definition

__all__ = ["run_probe", "load_answers", "judge_answers", "MalformedAnswers", "MAX_ANSWER_BYTES"]

MAX_ANSWER_BYTES = 64 * 2**20  # answers to a few hidden inputs are small; anything larger is refused
ANSWERS_SUFFIX = ".pt"


class MalformedAnswers(ValueError):
    """The saved answers are not what the probe writes: tampered with, or cut short."""


def run_probe(exercise_id: str, seed: int, folder: str, objects: Callable[[], tuple]) -> None:
    """Ask the student's objects (returned by `objects()`) the hidden questions of an exercise; save the answers.

    This is what a probe cell calls. It never raises: a failure is saved as the answer.
    """
    import torch

    from ..exercises.running import ask

    result = ask(definition(exercise_id), seed, objects, exercise_id)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, _file_name(exercise_id))
    torch.save(result, path + ".tmp")
    os.replace(path + ".tmp", path)
    print(f"Exercise {exercise_id}: answers saved for the grader")


def _file_name(exercise_id: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", exercise_id):
        raise ValueError(f"not an exercise id: {exercise_id!r}")
    return exercise_id + ANSWERS_SUFFIX


def load_answers(folder_fd: int, exercise_id: str) -> dict | None:
    """Load the answers a probe saved, from an open folder, safely: None if there are none.

    Only a regular file of at most MAX_ANSWER_BYTES is read (never a link, a pipe or a
    device), and only tensors and plain values are unpickled (`weights_only=True`).
    Raises MalformedAnswers for anything else.
    """
    import torch

    try:
        fd = os.open(_file_name(exercise_id), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder_fd)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise MalformedAnswers(f"the answers file cannot be opened ({err.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise MalformedAnswers("the answers file is not a regular file")
        if info.st_size > MAX_ANSWER_BYTES:
            raise MalformedAnswers(f"the answers file has {info.st_size:,} bytes, more than {MAX_ANSWER_BYTES:,}")
        data = f.read(MAX_ANSWER_BYTES + 1)
    try:
        saved = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as err:  # any failure to unpickle: the file is not what the probe writes
        raise MalformedAnswers(f"the answers file cannot be read ({type(err).__name__})") from None
    if not isinstance(saved, dict) or saved.get("exercise") != exercise_id or not isinstance(saved.get("called"), list):
        raise MalformedAnswers("the answers file is not a probe's")
    return saved


def _error(error: Any) -> tuple[str, str]:
    """Return a saved error's type and message, or raise MalformedAnswers."""
    if (
        not isinstance(error, dict)
        or not isinstance(error.get("type"), str)
        or not isinstance(error.get("message", ""), str)
    ):
        raise MalformedAnswers("the saved error is not a probe's")
    return error["type"][:60], error.get("message", "")


def judge_answers(exercise_id: str, seed: int, saved: dict, *, memory: str = "its memory limit") -> tuple[bool, str]:
    """Judge saved answers: return (correct, reason). `memory` names the memory cap, for the reason.

    The reason is the self-check's verdict, `not yet (<problem>)`, but for two cases that
    the score table says shorter: code not implemented, and memory beyond the cap.
    """
    from ..exercises.running import called_problem, error_problem

    exercise = definition(exercise_id)
    if exercise is None:
        return False, f"no judge for exercise {exercise_id} in aelib.exercises"
    called = [name for name in saved["called"] if isinstance(name, str)]
    if called:
        return False, f"not yet ({called_problem(called)})"
    if saved.get("error") is not None:
        kind, message = _error(saved["error"])
        if kind == "NotImplementedError":
            return False, "not yet (not implemented)"
        if kind == "MemoryError":
            return False, f"used more than {memory} of memory"
        return False, f"not yet ({error_problem(kind, message)})"
    if not isinstance(saved.get("answers"), dict):
        raise MalformedAnswers("the answers are not a mapping")
    try:
        problem = exercise.judge(exercise.inputs(seed), saved["answers"])
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RuntimeError) as err:
        raise MalformedAnswers(f"the answers do not have the probe's form ({type(err).__name__})") from None
    if problem is None:
        return True, ""
    return False, f"not yet ({problem})"
