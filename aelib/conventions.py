"""The exercise conventions that notebooks, checks, student copies and the grader share.

One place for what used to be matched as strings in several: the solution markers,
the metadata of exercise cells, and the verdict line a check prints. It imports
nothing but the standard library, so that the instructor tools (`aelib.instructor`)
and the student-facing checks (`aelib.exercises`) can both use it.

- A solution sits between the lines `### BEGIN SOLUTION` and `### END SOLUTION`, in a
  code cell whose metadata is `{"aelib": {"solution": "1.1"}}`.
- A check cell starts with `# NBVAL_CHECK_OUTPUT`, calls one `check_*` function of
  `aelib.exercises.lectureN` on the student's objects, and has the metadata
  `{"aelib": {"exercise": "1.1", "points": 1}}`.
- A check prints one verdict line: `Exercise 1.1: correct` or `Exercise 1.1: not yet (<hint>)`.
- A notebook's metadata `{"aelib": {"lecture": "1"}}` names its lecture.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "SOLUTION_BEGIN",
    "SOLUTION_END",
    "CHECK_MARKER",
    "METADATA_KEY",
    "NOT_IMPLEMENTED",
    "verdict",
    "aelib_metadata",
    "exercise_of",
    "solution_of",
    "lecture_of",
    "points_of",
    "is_check_cell",
]

# A solution sits between these two lines, inside a function or class body; the
# student copy replaces them, and everything between them, by `raise NotImplementedError(...)`.
SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"
CHECK_MARKER = "# NBVAL_CHECK_OUTPUT"  # first line of a check cell: nbval compares its output
METADATA_KEY = "aelib"  # cell and notebook metadata: {"aelib": {"exercise" | "solution" | "lecture": ...}}
NOT_IMPLEMENTED = "not implemented yet: replace the `raise NotImplementedError` line with your code"


def verdict(exercise_id: str, problem: str | None) -> str:
    """Return the verdict line for an exercise: correct, or not yet with the problem."""
    return f"Exercise {exercise_id}: correct" if problem is None else f"Exercise {exercise_id}: not yet ({problem})"


def aelib_metadata(node: Mapping[str, Any]) -> dict[str, Any]:
    """Return a cell's or notebook's `aelib` metadata, or {} when it is missing or not a mapping."""
    metadata = node.get("metadata") if isinstance(node, Mapping) else None
    value = metadata.get(METADATA_KEY) if isinstance(metadata, Mapping) else None
    return dict(value) if isinstance(value, Mapping) else {}


def _label(value: Any) -> str | None:
    """Return an exercise or lecture label (a short string or number), or None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value).strip()
    return text if re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", text) else None


def exercise_of(cell: Mapping[str, Any]) -> str | None:
    """Return the exercise a check cell checks (metadata `aelib.exercise`), or None."""
    return _label(aelib_metadata(cell).get("exercise"))


def solution_of(cell: Mapping[str, Any]) -> str | None:
    """Return the exercise a solution cell solves (metadata `aelib.solution`), or None."""
    return _label(aelib_metadata(cell).get("solution"))


def lecture_of(nb: Mapping[str, Any]) -> str | None:
    """Return the lecture a notebook names in its metadata `aelib.lecture`, or None."""
    return _label(aelib_metadata(nb).get("lecture"))


def points_of(cell: Mapping[str, Any]) -> float:
    """Return a check cell's points (metadata `aelib.points`, default 1); raise ValueError unless a positive number."""
    points = aelib_metadata(cell).get("points", 1)
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not math.isfinite(points) or points <= 0:
        raise ValueError(f"points must be a positive number, got {points!r}")
    return float(points)


def is_check_cell(cell: Mapping[str, Any]) -> bool:
    """Return True for a code cell that has exercise metadata."""
    return isinstance(cell, Mapping) and cell.get("cell_type") == "code" and exercise_of(cell) is not None
