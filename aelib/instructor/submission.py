"""Reading a submission: parse it without trusting it, tell its lecture, and build the notebook that is graded.

The graded notebook is built from scratch: one fresh code cell per code cell of the
submission, with its source only (no metadata, tags or outputs), and at the position of
each of the instructor's check cells a probe cell (see `aelib.instructor.probes`) in place
of the check. A check cell that the student copied higher up (and ran early) stays a plain
cell; the probe goes where the instructor put the check.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from ..conventions import CHECK_MARKER, exercise_of, is_check_cell, lecture_of, points_of
from ..exercises import definition

__all__ = [
    "Check",
    "Reference",
    "Graded",
    "load_references",
    "lecture_id",
    "read_submission",
    "identify",
    "graded_notebook",
    "probe_source",
    "first_line",
    "MAX_SUBMISSION_BYTES",
]

MAX_SUBMISSION_BYTES = 100 * 2**20  # a lecture with all its figures is a few MB
PROBE_TAG = "aelib-probe"


@dataclass(frozen=True)
class Check:
    """One check cell of a reference lecture: its exercise, points, and the objects its `check_*` call passes."""

    cell: NotebookNode
    exercise: str
    points: float
    objects: tuple[str, ...]  # the call's argument expressions, e.g. ("bed_of_nails",)
    previous_id: str | None  # the id of the cell before it, to find the instructor's position among copies


@dataclass
class Reference:
    """A reference lecture: its path, its lecture id and its check cells in notebook order."""

    path: Path
    lecture: str
    checks: list[Check]

    @property
    def exercises(self) -> dict[str, float]:
        """Return the maximum points of each exercise, in notebook order."""
        points: dict[str, float] = {}
        for check in self.checks:
            points[check.exercise] = points.get(check.exercise, 0) + check.points
        return points


def lecture_id(nb: Mapping, path: str | Path) -> str | None:
    """Return a notebook's lecture id: metadata `aelib.lecture`, else the number its file name starts with."""
    named = lecture_of(nb)
    if named:
        return named
    match = re.match(r"(\d+)_", Path(path).name)
    return str(int(match.group(1))) if match else None


def _check_call(source: str) -> tuple[str, ...]:
    """Return the argument expressions of the one `check_*(...)` call a check cell makes; raise ValueError otherwise."""
    tree = ast.parse(source)
    calls = []
    for statement in tree.body:
        call = statement.value if isinstance(statement, ast.Expr) else None
        if isinstance(call, ast.Call):
            name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
            if name.startswith("check_"):
                calls.append(call)
    if len(calls) != 1:
        raise ValueError(f"a check cell makes exactly one `check_*(...)` call as a statement, found {len(calls)}")
    if calls[0].keywords or any(isinstance(arg, ast.Starred) for arg in calls[0].args):
        raise ValueError("pass the student's objects to the check positionally")
    return tuple(ast.get_source_segment(source, arg) for arg in calls[0].args)


def load_references(folder: str | Path) -> tuple[dict[str, Reference], list[str]]:
    """Read the reference lectures of `folder` (*.ipynb) that have check cells, keyed by lecture id.

    Returns them, and the problems found: a check cell whose call or metadata is not the
    convention's, an exercise that `aelib.exercises` does not define (it then scores zero,
    with that reason), or a lecture id that another lecture already has.
    """
    references: dict[str, Reference] = {}
    problems = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        checks = []
        for index, cell in enumerate(nb.cells):
            if not is_check_cell(cell):
                continue
            exercise = exercise_of(cell)
            where = f"{path}: check cell {cell.get('id')} (exercise {exercise})"
            try:
                if not cell.source.startswith(CHECK_MARKER):
                    raise ValueError(f"it must start with {CHECK_MARKER!r}")
                objects = _check_call(cell.source)
                points = points_of(cell)
            except (SyntaxError, ValueError) as err:
                problems.append(f"{where}: {err}")
                continue
            if definition(exercise) is None:
                problems.append(
                    f"{where}: no probe and judge for it in aelib.exercises; it scores zero until it is defined there"
                )
            previous = nb.cells[index - 1].get("id") if index else None
            checks.append(Check(cell, exercise, points, objects, previous))
        lecture = lecture_id(nb, path) or path.stem
        if lecture in references:
            problems.append(
                f"{path} and {references[lecture].path} both claim lecture {lecture}: set metadata aelib.lecture"
            )
        elif checks:
            references[lecture] = Reference(path, lecture, checks)
    return references, problems


def read_submission(data: bytes) -> tuple[dict | None, str]:
    """Parse a submission's bytes without trusting them: the notebook as plain JSON, or None and why it scores zero."""
    if len(data) > MAX_SUBMISSION_BYTES:
        return (
            None,
            f"the file has {len(data):,} bytes, more than {MAX_SUBMISSION_BYTES:,}: not a notebook handed in as asked",
        )
    if not data.strip():
        return None, "empty file"
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        where = f" at line {err.lineno}" if isinstance(err, json.JSONDecodeError) else ""
        return None, f"not valid JSON{where}: not a notebook file, or a damaged one"
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        return None, "valid JSON but not a Jupyter notebook (no list of cells)"
    return raw, ""


def _source(cell: Any) -> str:
    """Return a cell's source as text; anything malformed counts as empty."""
    source = cell.get("source", "") if isinstance(cell, Mapping) else ""
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    return source if isinstance(source, str) else ""


def _normalized(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _is_code(cell: Any) -> bool:
    return isinstance(cell, Mapping) and cell.get("cell_type") == "code"


def _candidates(cells: list, check: Check) -> list[int]:
    """Return the submission's cells that may be `check`'s: by id or exercise metadata, else by identical source."""
    cell_id = check.cell.get("id") or object()  # a reference cell without an id matches none by id
    tests = (
        lambda c: (
            isinstance(c, Mapping) and (c.get("id") == cell_id or (_is_code(c) and exercise_of(c) == check.exercise))
        ),
        lambda c: _is_code(c) and _normalized(_source(c)) == _normalized(check.cell.source),
    )
    for test in tests:
        found = [i for i, cell in enumerate(cells) if test(cell)]
        if found:
            return found
    return []


def _instructor_position(cells: list, check: Check, candidates: list[int]) -> int:
    """Pick the instructor's check cell among copies: the one after its preceding cell in the lecture, else the last."""
    for i in candidates:
        before = cells[i - 1] if i else None
        if check.previous_id and isinstance(before, Mapping) and before.get("id") == check.previous_id:
            return i
    return candidates[-1]


def _count(nb: dict | None, ref: Reference) -> int:
    return sum(bool(_candidates(nb["cells"], check)) for check in ref.checks) if nb is not None else 0


def _by_name(path: Path, references: dict[str, Reference]) -> Reference | None:
    """Return the lecture a file name claims: a lecture's file name inside it, else its leading number."""
    for ref in sorted(references.values(), key=lambda r: -len(r.path.stem)):
        if ref.path.stem in path.name:
            return ref
    number = lecture_id({}, path)
    return references.get(number) if number else None


def identify(nb: dict | None, path: Path, references: dict[str, Reference]) -> tuple[Reference | None, str]:
    """Return the lecture a submission answers (None if nothing says), and a note if its name or metadata claim another.

    What it holds decides: the lecture most of whose check cells it has; then its metadata
    `aelib.lecture`; then its file name.
    """
    named = _by_name(path, references)
    claimed = references.get(lecture_of(nb) or "") if nb is not None else None
    found = {key: _count(nb, ref) for key, ref in references.items()}
    best = max(found.values(), default=0)
    holding = [references[key] for key, count in found.items() if count == best] if best else []
    content = next((ref for ref in (claimed, named) if ref in holding), holding[0] if holding else None)
    ref = content or claimed or named
    notes = []
    for source, other in (("its file name", named), ("its metadata", claimed)):
        if ref is not None and other is not None and other is not ref:
            notes.append(
                f"handed in as lecture {other.lecture} ({source}) but it answers lecture {ref.lecture}: graded "
                f"as lecture {ref.lecture}"
            )
    return ref, notes[0] if notes else ""


@dataclass
class Graded:
    """The notebook to run, and where its probes are: code-cell number -> (check, seed)."""

    nb: NotebookNode
    probes: dict[int, tuple[Check, int]] = field(default_factory=dict)
    missing: list[Check] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)


def probe_source(check: Check, seed: int, folder: str, original: str) -> str:
    """Return a probe cell's source: the check cell with its `check_*(...)` call replaced by a call to the probe."""
    objects = "".join(f"{expression}, " for expression in check.objects)
    call = (
        f'__import__("aelib.instructor.probes", fromlist=["run_probe"]).run_probe('
        f"{check.exercise!r}, {seed}, {folder!r}, lambda: ({objects}))"
    )
    tree = ast.parse(original)
    lines = original.splitlines()
    for statement in tree.body:
        call_node = statement.value if isinstance(statement, ast.Expr) else None
        func = getattr(call_node, "func", None)
        name = getattr(func, "attr", None) or getattr(func, "id", "")
        if isinstance(call_node, ast.Call) and name.startswith("check_"):
            lines[statement.lineno - 1 : statement.end_lineno] = [call]
            break
    kept = [line for line in lines if line.strip() != CHECK_MARKER]  # nbval compares nothing here: the grader judges
    return f"# aelib-grade probe for exercise {check.exercise}: the grader judges what it saves\n" + "\n".join(kept)


def graded_notebook(nb: dict, ref: Reference, seeds: dict[str, int], folder: str) -> Graded:
    """Build the notebook to run: the submission's code cells, with a probe where each of the instructor's checks is."""
    cells = nb["cells"]
    graded = Graded(nbformat.v4.new_notebook())
    positions: dict[int, Check] = {}
    for check in ref.checks:
        candidates = [i for i in _candidates(cells, check) if i not in positions]
        if not candidates:
            graded.missing.append(check)
            continue
        i = _instructor_position(cells, check, candidates)
        positions[i] = check
        if not _is_code(cells[i]) or _normalized(_source(cells[i])) != _normalized(check.cell.source):
            graded.edited.append(check.exercise)
    for i, cell in enumerate(cells):
        if i in positions:
            check = positions[i]
            graded.probes[len(graded.nb.cells)] = (check, seeds[check.exercise])
            source = probe_source(check, seeds[check.exercise], folder, check.cell.source)
            graded.nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": [PROBE_TAG]}))
        elif _is_code(cell):
            graded.nb.cells.append(nbformat.v4.new_code_cell(_source(cell)))
    return graded


def first_line(nb: NotebookNode, number: int) -> str:
    """Return the first line of code cell `number` (0-based) of a graded notebook, for a reason."""
    lines = nb.cells[number].source.strip().splitlines()
    return lines[0][:40] if lines else ""
