"""Write the student copies of the lectures (`aelib-student`, `make student`).

A student copy is the lecture with every solution taken out: the lines from
`### BEGIN SOLUTION` to `### END SOLUTION` become `raise NotImplementedError(...)`
at the same indentation, and solution cells lose their outputs. Check cells keep their
ids and metadata (which `aelib-grade` finds them by) but lose their outputs: a student
never sees a verdict they did not earn; the grader keeps the reference lectures.

No other cell whose output depends on a solution keeps its output either (a model that
the solution built and trained, say). Which cells those are is read from the code, not
by running it, so that writing the copies takes a second and gives the same copies on
every machine: a cell depends on a solution when it reads a name that a solution cell,
or a cell that depends on one, binds or reads (read: it may have changed it). Names
bound by imports (modules) and builtins carry nothing. A cell that does not parse as
Python after a solution makes every later cell depend on it. tests/test_student.py runs
each copy, stubs raising, and checks that every cell whose output then differs or that
raises has no stored output: it catches what reading names cannot see (a solution that
draws from a shared random generator, say).

Everything else stays as it is. The Colab badge points at the copy itself. The copies
go to `student/` (committed, so that students can open them on Colab), and a book page
lists them with Colab and download links.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import copy
import re
import sys
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from ..conventions import SOLUTION_BEGIN, SOLUTION_END, is_check_cell, solution_of
from .submission import lecture_id

__all__ = ["strip_solutions", "solution_dependent", "student_notebook", "student_page", "write_student_copies", "main"]

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
    for cell, dependent in zip(student.cells, solution_dependent(nb.cells), strict=True):
        if dependent:
            _clear(cell)
    return student


def solution_dependent(cells: list[NotebookNode]) -> list[bool]:
    """Return, for each cell, whether its output may depend on a solution (solution and check cells do)."""
    names = [_names(cell.source) if cell.cell_type == "code" else None for cell in cells]
    modules = set().union(*(found[2] for found in names if found))  # names that some cell binds by an import
    tainted: set[str] = set()
    after_solution = unreadable = False
    dependent = []
    for cell, found in zip(cells, names, strict=True):
        if cell.cell_type != "code":
            dependent.append(False)
            continue
        is_solution = bool(solution_of(cell)) or SOLUTION_BEGIN in cell.source
        after_solution = after_solution or is_solution
        unreadable = unreadable or (after_solution and found is None)  # not Python (a magic): it may touch anything
        bound, read, _ = found or (set(), set(), set())
        depends = is_solution or is_check_cell(cell) or unreadable or bool(read & tainted)
        if depends:
            tainted |= (bound | read) - modules - _BUILTINS
        dependent.append(depends)
    return dependent


_BUILTINS = frozenset(dir(builtins))
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_SCOPES = (*_DEFINITIONS, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)  # own local names


def _names(source: str) -> tuple[set[str], set[str], set[str]] | None:
    """Return the global names a cell binds, the names it reads (in nested scopes too), and those it imports.

    None if the cell is not Python.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    bound, imported = set(), set()
    read = {
        node.target.id if isinstance(node, ast.AugAssign) else node.id
        for node in ast.walk(tree)
        if (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load))
        or (isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name))
    }
    for node in ast.walk(tree):  # a function may bind globals when it runs; walrus targets leak from comprehensions
        if isinstance(node, ast.Global):
            bound.update(node.names)
        elif isinstance(node, ast.NamedExpr):
            bound.add(node.target.id)
    stack = [tree]
    while stack:
        for node in ast.iter_child_nodes(stack.pop()):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imported.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
            elif isinstance(node, _DEFINITIONS):
                bound.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                bound.add(node.id)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                bound.add(node.name)
            elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
                bound.add(node.name)
            elif isinstance(node, ast.MatchMapping) and node.rest:
                bound.add(node.rest)
            if not isinstance(node, _SCOPES):
                stack.append(node)
    return bound, read, imported


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
