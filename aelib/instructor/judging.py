"""Judging: from what a run left behind (the probes' answers, nbval's records) to points and reasons.

Only the answers earn points, and only through the exercises' judges (`aelib.exercises`),
which `aelib.instructor.probes` runs here, in the grader's process. nbval's records explain what went wrong when
there are no answers: a probe that timed out, a kernel that had stopped.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass

from .probes import MalformedAnswers, judge_answers, load_answers

__all__ = ["Answer", "collect_answers", "parse_records", "judge_probe", "cell_problem", "clean", "STUCK", "KERNEL_DIED"]

STUCK = "Failed to interrupt kernel"  # nbval's message when a timed-out cell ignores the interrupt
KERNEL_DIED = (
    "Kernel died before replying to kernel_info"  # jupyter_client's words, as in plugin.py (which imports no aelib)
)
_judging = threading.Lock()  # judges seed torch's global generator and set its threads: one at a time


@dataclass
class Answer:
    """What a probe left: the saved answers, or why they could not be read."""

    saved: dict | None = None
    problem: str = ""


def clean(text: str, limit: int = 200) -> str:
    """Return text from a submission fit for a table: one line, printable characters, at most `limit` long."""
    text = re.sub(r"[^\x20-\x7e\u00a0-\uffff]+", " ", str(text))
    return text.strip()[:limit]


def collect_answers(folder: str, exercises: list[str]) -> dict[str, Answer]:
    """Load each exercise's answers from a scratch folder, without following links the sandbox may have planted."""
    import os

    answers: dict[str, Answer] = {}
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return {exercise: Answer(problem="the answers folder was removed or replaced") for exercise in exercises}
    try:
        for exercise in exercises:
            try:
                saved = load_answers(fd, exercise)
            except MalformedAnswers as err:
                answers[exercise] = Answer(problem=str(err))
            else:
                if saved is not None:
                    answers[exercise] = Answer(saved)
    finally:
        os.close(fd)
    return answers


def parse_records(text: str) -> dict[int, dict]:
    """Return the final record of each code cell from the plugin's JSON lines, skipping lines that are not records."""
    records: dict[int, dict] = {}
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            continue
        if not (
            isinstance(record, dict) and isinstance(record.get("cell"), int) and not isinstance(record["cell"], bool)
        ):
            continue
        record = {
            key: record.get(key) if isinstance(record.get(key), str) else ""
            for key in ("when", "outcome", "error", "output")
        } | {"cell": record["cell"]}
        if record["cell"] not in records or record["when"] == "call":
            records[record["cell"]] = record
    return records


def cell_problem(record: dict | None, timeout: float, memory: str) -> str:
    """Return what went wrong in a cell from its record ("" if nothing worth reporting)."""
    if record is None:
        return "not run"
    error, output = record["error"], record["output"]
    if error.startswith("Timeout") or STUCK in error:
        return f"timed out after {timeout:g} s"
    if error.startswith("Kernel dead") or "Kernel died" in error:
        return "not run: the kernel had stopped"
    if "MemoryError" in output or "can't allocate memory" in output:
        return f"used more than {memory} of memory"
    if record["outcome"] == "skipped":
        return "skipped"
    return ""


def judge_probe(
    exercise: str, seed: int, answer: Answer | None, record: dict | None, *, timeout: float, memory: str, stopped: str
) -> tuple[bool, str]:
    """Return (correct, reason) for one probe: its answers judged, else why there are none."""
    if answer is not None and answer.problem:
        return False, f"the probe's answers could not be used: {answer.problem}"
    if answer is not None:
        try:
            with _judging:
                return judge_answers(exercise, seed, answer.saved, memory=memory)
        except MalformedAnswers as err:
            return False, f"the probe's answers could not be used: {err}"
    if stopped:
        return False, f"not run: the sandbox was stopped, it {stopped}"
    problem = cell_problem(record, timeout, memory)
    if problem in ("", "skipped") and record is not None:
        errors = [line for line in record["output"].splitlines() if re.match(r"^\w+(Error|Exception)\b", line)]
        if errors:
            return False, f"the probe could not run: {clean(errors[-1], 120)}"
        return False, "the probe saved no answers: code earlier in the notebook kept it from running"
    return False, problem
