"""Probes and judges: the grader's questions to a student's code, and its verdicts on the answers.

At grading, `aelib-grade` replaces each check cell by a probe cell. The probe runs in the
student's kernel, inside the sandbox: it calls the student's objects on hidden inputs drawn
from a seed that the grader picks for this run, and saves only what they returned (tensors,
numbers, strings, lists and dicts of them) with `torch.save` into the scratch folder. The
grader then loads those answers with `torch.load(weights_only=True)`, in its own process,
and the judge recomputes the inputs from the same seed and decides. Whatever the notebook
patched inside its kernel (the checks, `print`, IPython, torch itself) can change only the
answers, and answers to inputs it never saw are right only if the code is.

Adding a probe and a judge for exercise "N.k" (in `lectureN.py` here):

    @probe("2.1", forbid=("aelib.upsampling.upsample_bed_of_nails",))
    def ask_bed_of_nails(seed, bed_of_nails):          # runs in the kernel; gets the check's arguments
        cases = _cases(seed)                           # hidden inputs, a pure function of the seed
        return {"outputs": [answer(bed_of_nails(x, s)) for x, s in cases]}

    @judge("2.1")
    def judge_bed_of_nails(seed, answers):             # runs in the grader; None means correct
        for (x, s), got in zip(_cases(seed), answers["outputs"]):
            if not same(got, reference(x, s)):
                return f"wrong values for x of shape {tuple(x.shape)}"
        return None

- The probe receives the objects that the instructor's check cell passes to its
  `check_*` call (`ex.check_bed_of_nails(bed_of_nails)`), in that order.
- Keep the probe raw: call the student's objects and save what they return, wrapped by
  `answer()`; let the judge do every comparison. Import torch inside the functions: this
  package must import without torch.
- An exception raised by the student's code ends the probe; the grader turns it into
  "not yet (your code raised ...)", or "not yet (not implemented)".
- `forbid` names aelib functions that are the exercise's answer: while the probe runs,
  calling them raises, and the judge says so.
- For a model, `layers.export_autoencoder(model)` in the probe and
  `layers.rebuild_autoencoder(answers)` in the judge move its layers and weights out of
  the kernel; `layers.hidden_test_mse` evaluates the rebuilt model on hidden test images.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import math
import os
import re
import stat
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Probe",
    "PROBES",
    "probe",
    "judge",
    "answer",
    "type_name",
    "same",
    "run_probe",
    "load_answers",
    "judge_answers",
    "MalformedAnswers",
    "MAX_ANSWER_BYTES",
]

MAX_ANSWER_BYTES = 64 * 2**20  # answers to a few hidden inputs are small; anything larger is refused
ANSWERS_SUFFIX = ".pt"
_MEMORY_ERRORS = ("can't allocate memory", "Cannot allocate memory", "out of memory", "std::bad_alloc")


@dataclass
class Probe:
    """One exercise's probe (runs in the student's kernel) and judge (runs in the grader)."""

    exercise: str
    ask: Callable[..., dict] | None = None
    judge: Callable[[int, dict], str | None] | None = None
    forbid: tuple[str, ...] = ()


PROBES: dict[str, Probe] = {}


class MalformedAnswers(ValueError):
    """The saved answers are not what the probe writes: tampered with, or cut short."""


def probe(exercise_id: str, *, forbid: tuple[str, ...] = ()) -> Callable[[Callable[..., dict]], Callable[..., dict]]:
    """Register `ask(seed, *objects) -> answers` as the probe of an exercise (see the module docstring)."""

    def register(ask: Callable[..., dict]) -> Callable[..., dict]:
        entry = PROBES.setdefault(exercise_id, Probe(exercise_id))
        entry.ask, entry.forbid = ask, tuple(forbid)
        return ask

    return register


def judge(exercise_id: str) -> Callable[[Callable[[int, dict], str | None]], Callable[[int, dict], str | None]]:
    """Register `judge(seed, answers) -> problem | None` as the judge of an exercise."""

    def register(decide: Callable[[int, dict], str | None]) -> Callable[[int, dict], str | None]:
        PROBES.setdefault(exercise_id, Probe(exercise_id)).judge = decide
        return decide

    return register


# --- in the kernel -------------------------------------------------------------------------


def answer(obj: Any, depth: int = 0) -> Any:
    """Return what a student's object can be saved as: a detached CPU tensor, a plain value, or its type's name.

    Lists and tuples become lists of answers; anything else becomes `{"type": "ClassName"}`.
    """
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (list, tuple)) and depth < 3 and len(obj) <= 10_000:
        return [answer(item, depth + 1) for item in obj]
    return {"type": type(obj).__name__}


def _describe(err: BaseException) -> dict[str, str]:
    """Return an exception as {"type": ..., "message": first line}; allocation failures become MemoryError."""
    message = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
    kind = type(err).__name__
    if isinstance(err, MemoryError) or any(text in message for text in _MEMORY_ERRORS):
        kind = "MemoryError"
    return {"type": kind, "message": message}


_TRAP = """def trap(*args, **kwargs):
    __import__("aelib.instructor.probes", fromlist=["_called"])._called.add({name!r})
    raise RuntimeError({message!r})
"""
_called: set[str] = set()


@contextlib.contextmanager
def _forbidden(paths: tuple[str, ...]):
    """While inside, make the named functions raise, and record that they were called.

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
        namespace: dict[str, Any] = {}
        exec(
            _TRAP.format(
                name=public, message=f"{public} is not allowed in this exercise: the grader asks for your own code"
            ),
            namespace,
        )
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


def run_probe(exercise_id: str, seed: int, folder: str, objects: Callable[[], tuple]) -> None:
    """Ask the student's objects (returned by `objects()`) the hidden questions of an exercise; save the answers.

    This is what a probe cell calls. It never raises: a failure is saved as the answer.
    """
    import torch

    result: dict[str, Any] = {"exercise": exercise_id, "error": None, "answers": None, "called": []}
    _called.clear()
    try:
        entry = PROBES.get(exercise_id)
        if entry is None or entry.ask is None:
            raise LookupError(f"no probe for exercise {exercise_id}")
        arguments = objects()
        with (
            warnings.catch_warnings(),
            torch.random.fork_rng(devices=[]),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
            _forbidden(entry.forbid),
        ):
            warnings.simplefilter("ignore")
            result["answers"] = entry.ask(seed, *arguments)
    except Exception as err:  # the student's code failed, or was missing: that is the answer
        result["error"] = _describe(err)
    result["called"] = sorted(_called)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, _file_name(exercise_id))
    torch.save(result, path + ".tmp")
    os.replace(path + ".tmp", path)
    print(f"Exercise {exercise_id}: answers saved for the grader")


def _file_name(exercise_id: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", exercise_id):
        raise ValueError(f"not an exercise id: {exercise_id!r}")
    return exercise_id + ANSWERS_SUFFIX


# --- in the grader -------------------------------------------------------------------------


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


def _error_reason(error: Any, memory: str) -> str:
    if (
        not isinstance(error, dict)
        or not isinstance(error.get("type"), str)
        or not isinstance(error.get("message", ""), str)
    ):
        raise MalformedAnswers("the saved error is not a probe's")
    kind, message = error["type"][:60], error.get("message", "")
    if kind == "NotImplementedError":
        return "not yet (not implemented)"
    if kind == "MemoryError":
        return f"used more than {memory} of memory"
    return f"not yet (your code raised {kind}: {message[:120]})".replace(": )", ")")


def judge_answers(exercise_id: str, seed: int, saved: dict, *, memory: str = "its memory limit") -> tuple[bool, str]:
    """Judge saved answers: return (correct, reason). `memory` names the memory cap, for the reason."""
    entry = PROBES.get(exercise_id)
    if entry is None or entry.judge is None:
        return False, f"no judge for exercise {exercise_id} in aelib.instructor.probes"
    called = [name for name in saved["called"] if isinstance(name, str)]
    if called:
        return False, f"not yet (your code calls {called[0]}, which this exercise asks you to write yourself)"
    if saved.get("error") is not None:
        return False, _error_reason(saved["error"], memory)
    if not isinstance(saved.get("answers"), dict):
        raise MalformedAnswers("the answers are not a mapping")
    try:
        problem = entry.judge(seed, saved["answers"])
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RuntimeError) as err:
        raise MalformedAnswers(f"the answers do not have the probe's form ({type(err).__name__})") from None
    if problem is None:
        return True, ""
    return False, f"not yet ({problem})"


# --- for judges ----------------------------------------------------------------------------


def type_name(got: Any) -> str:
    """Return the type a student's answer had, for a hint."""
    import torch

    if isinstance(got, dict) and isinstance(got.get("type"), str):
        return re.sub(r"[^A-Za-z0-9_.]", "", got["type"])[:40] or "an object"
    if isinstance(got, torch.Tensor):
        return "Tensor"
    return type(got).__name__


def same(got: Any, want: Any, *, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    """Return True if `got` is a tensor of `want`'s shape with close, finite values (no broadcasting)."""
    import torch

    if not isinstance(got, torch.Tensor) or got.shape != want.shape or got.is_complex():
        return False
    got, want = got.double(), want.double()
    return bool(torch.isfinite(got).all()) and bool(torch.allclose(got, want, rtol=rtol, atol=atol))


def is_int(value: Any) -> bool:
    """Return True for an int (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def finite(value: Any) -> bool:
    """Return True for a finite float or int."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


from . import lecture1, lecture2, lecture3, lecture4  # noqa: E402,F401  (each registers its probes and judges)
