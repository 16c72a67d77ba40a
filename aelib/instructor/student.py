"""Write the student copies of the lectures (`aelib-student`, `make student`).

A student copy is the lecture with every solution taken out: the lines from
`### BEGIN SOLUTION` to `### END SOLUTION` become `raise NotImplementedError(...)`
at the same indentation, and solution cells lose their outputs. Check cells keep their
ids and metadata (which `aelib-grade` finds them by) but lose their outputs: a student
never sees a verdict they did not earn; the grader keeps the reference lectures.
Everything else stays as it is. The Colab badge points at the copy itself. The copies
go to `student/` (committed, so that students can open them on Colab), and a book page
lists them with Colab and download links.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from ..conventions import SOLUTION_BEGIN, SOLUTION_END, is_check_cell, solution_of
from .submission import lecture_id

__all__ = ["strip_solutions", "student_notebook", "student_page", "write_student_copies", "main"]

PUBLISHED_DIR = "student"  # where the copies live in the repository, for their Colab links
_COLAB_LINK = re.compile(
    r"(https://colab\.research\.google\.com/github/[^\s)]+/blob/[^/\s)]+/)lectures/([^\s)/]+\.ipynb)"
)


class SolutionMarkerError(ValueError):
    """A cell's solution markers do not pair up, or a solution cell has none."""


def strip_solutions(source: str, exercise_id: str | None = None) -> str:
    """Replace each block from SOLUTION_BEGIN to SOLUTION_END by `raise NotImplementedError(...)`, same indentation."""
    label = f"Exercise {exercise_id}" if exercise_id else "This exercise"
    out, indent = [], None
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker == SOLUTION_BEGIN:
            if indent is not None:
                raise SolutionMarkerError(
                    f"line {number}: {SOLUTION_BEGIN!r} inside another solution; close the first with {SOLUTION_END!r}"
                )
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f'{indent}raise NotImplementedError("{label}: write your solution here")')
        elif marker == SOLUTION_END:
            if indent is None:
                raise SolutionMarkerError(f"line {number}: {SOLUTION_END!r} without a {SOLUTION_BEGIN!r} before it")
            indent = None
        elif indent is None:
            out.append(line)
    if indent is not None:
        raise SolutionMarkerError(f"{SOLUTION_BEGIN!r} is never closed by {SOLUTION_END!r}")
    return "\n".join(out)


def student_notebook(nb: NotebookNode, path: str | Path) -> NotebookNode:
    """Return the student copy of lecture `nb` (read from `path`); `nb` itself is left as it was."""
    student = copy.deepcopy(nb)
    lecture = lecture_id(nb, path) or Path(path).stem
    student.metadata.setdefault("aelib", {})["lecture"] = lecture  # how aelib-grade recognises the hand-in
    for cell in student.cells:
        has_markers = SOLUTION_BEGIN in cell.source or SOLUTION_END in cell.source
        exercise_id = solution_of(cell)
        where = f"{path}, cell {cell.get('id')}"
        if cell.cell_type == "markdown":
            if has_markers:
                raise SolutionMarkerError(f"{where}: solution markers belong in code cells only")
            cell.source = _COLAB_LINK.sub(rf"\g<1>{PUBLISHED_DIR}/\g<2>", cell.source)
        elif cell.cell_type == "code" and (has_markers or exercise_id):
            if not has_markers:
                raise SolutionMarkerError(
                    f"{where}: marked as the solution of exercise {exercise_id} but has no {SOLUTION_BEGIN!r} line"
                )
            try:
                cell.source = strip_solutions(cell.source, exercise_id)
            except SolutionMarkerError as err:
                raise SolutionMarkerError(f"{where}: {err}") from None
            _clear(cell)
        elif is_check_cell(cell):
            _clear(cell)
    return student


def _clear(cell: NotebookNode) -> None:
    """Remove what running the cell left: outputs, execution count and timing."""
    cell.outputs = []
    cell.execution_count = None
    cell.metadata.pop("execution", None)


def _colab_url(nb: NotebookNode) -> str:
    """Return the Colab URL in a notebook's badge."""
    for cell in nb.cells:
        match = (
            re.search(r"https://colab\.research\.google\.com/github/[^\s)]+\.ipynb", cell.source)
            if cell.cell_type == "markdown"
            else None
        )
        if match:
            return match.group(0)
    raise ValueError("the notebook has no Open in Colab badge")


def _title(nb: NotebookNode) -> str:
    first = next(c.source for c in nb.cells if c.cell_type == "markdown")
    return first.splitlines()[0].lstrip("# ").strip()


def student_page(copies: dict[str, NotebookNode]) -> str:
    """Return the book page listing the student copies (file name -> notebook) with Colab and download links."""
    rows = "\n".join(
        f"| {_title(nb)} | [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({_colab_url(nb)}) "
        f"| {{download}}`{name} <../{PUBLISHED_DIR}/{name}>` |"
        for name, nb in copies.items()
    )
    return f"""<!-- Written by `aelib-student` (`make student`) from lectures/: edit the generator, not this page. -->
# Exercises: the student copies

Every lecture ends with exercises. Each has a cell for your code, where the lecture's
version holds the solution, and a **check cell** after it that prints one verdict line,
such as `Exercise 1.1: correct` or `Exercise 1.1: not yet (...)` with a hint.

The **student copy** of a lecture is the same notebook with the solutions taken out:
where a solution was, the code now says `raise NotImplementedError`. Open it on Colab,
or download it and run it locally (see [Setting up](setup.md)); write your solutions,
run each check cell, and hand in the notebook. Leave the check cells where they are:
the grader finds them there, and asks your code its own questions in their place.

| lecture | open on Colab | download |
|---|---|---|
{rows}
"""


def write_student_copies(
    lectures: str | Path = "lectures", out: str | Path = PUBLISHED_DIR, page: str | Path | None = "book/exercises.md"
) -> list[Path]:
    """Write the student copy of each lecture in `lectures` to `out` and the page that lists them; return the paths."""
    copies = {
        path.name: student_notebook(nbformat.read(path, as_version=4), path)
        for path in sorted(Path(lectures).glob("*.ipynb"))
    }
    if not copies:
        raise FileNotFoundError(f"no lecture notebooks (*.ipynb) in {lectures}")
    Path(out).mkdir(parents=True, exist_ok=True)
    written = []
    for name, nb in copies.items():
        nbformat.validate(nb)
        nbformat.write(nb, Path(out) / name)
        written.append(Path(out) / name)
    if page is not None:
        Path(page).write_text(student_page(copies), encoding="utf-8")
        written.append(Path(page))
    return written


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of `aelib-student`."""
    parser = argparse.ArgumentParser(
        prog="aelib-student", description="Write the student copies of the lectures: solutions out, checks kept."
    )
    parser.add_argument("--lectures", default="lectures", help="folder of the lecture notebooks (default: lectures)")
    parser.add_argument(
        "--out", default=PUBLISHED_DIR, help=f"folder for the student copies (default: {PUBLISHED_DIR})"
    )
    parser.add_argument(
        "--page", default="book/exercises.md", help="book page listing the copies (default: book/exercises.md)"
    )
    args = parser.parse_args(argv)
    try:
        written = write_student_copies(args.lectures, args.out, args.page)
    except (OSError, ValueError) as err:
        print(f"aelib-student: {err}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
