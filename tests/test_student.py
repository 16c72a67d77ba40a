"""Student copies: solutions out, checks kept with their ids but no verdicts, badges at the copy, copies up to date.

Also checks that every lecture follows the exercise convention that the student copy and
the grader rely on.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
from pathlib import Path

import nbformat
import pytest
from docutils import nodes

from aelib.conventions import SOLUTION_BEGIN, SOLUTION_END
from aelib.instructor import colab
from aelib.instructor.student import (
    SolutionMarkerError,
    strip_solutions,
    student_notebook,
    student_page,
    write_student_copies,
)

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "lectures").glob("*.ipynb"))
FIXTURE = ROOT / "tests" / "fixtures" / "grading" / "grading_fixture.ipynb"

SOLVED = f"""class Model:
    def __init__(self, k):
        self.k = k
        {SOLUTION_BEGIN}
        self.layers = [k, k]
        {SOLUTION_END}

    def forward(self, x):
        {SOLUTION_BEGIN}
        return x
        {SOLUTION_END}


def size(x):
    {SOLUTION_BEGIN}
    if x:
        return 1
    return 0
    {SOLUTION_END}"""


def test_strip_solutions_replaces_each_block_at_its_indentation():
    stripped = strip_solutions(SOLVED, "9.1")
    raise_line = 'raise NotImplementedError("Exercise 9.1: write your solution here")'
    assert stripped.splitlines() == [
        "class Model:",
        "    def __init__(self, k):",
        "        self.k = k",
        f"        {raise_line}",
        "",
        "    def forward(self, x):",
        f"        {raise_line}",
        "",
        "",
        "def size(x):",
        f"    {raise_line}",
    ]
    namespace = {}
    exec(stripped, namespace)
    with pytest.raises(NotImplementedError, match="Exercise 9.1"):
        namespace["size"](1)
    with pytest.raises(NotImplementedError):
        namespace["Model"](3)


@pytest.mark.parametrize(
    "source, message",
    [
        (f"def f():\n    {SOLUTION_BEGIN}\n    return 1", "never closed"),
        (f"def f():\n    return 1\n    {SOLUTION_END}", "without"),
        (f"def f():\n    {SOLUTION_BEGIN}\n    {SOLUTION_BEGIN}\n    {SOLUTION_END}", "inside another"),
    ],
)
def test_unpaired_markers_are_errors(source, message):
    with pytest.raises(SolutionMarkerError, match=message):
        strip_solutions(source)


def test_solution_cell_without_markers_is_an_error():
    nb = nbformat.read(FIXTURE, as_version=4)
    next(c for c in nb.cells if c.id == "solution-1-3").source = "def num_parameters(sizes):\n    return 0"
    with pytest.raises(SolutionMarkerError, match="solution-1-3.*no"):
        student_notebook(nb, FIXTURE)


def test_student_copy_of_the_fixture():
    nb = nbformat.read(FIXTURE, as_version=4)
    original = copy.deepcopy(nb)
    student = student_notebook(nb, FIXTURE)
    assert nb == original, "the lecture itself must stay as it was"
    assert student.metadata["aelib"]["lecture"] == "fixture"
    assert [c.id for c in student.cells] == [c.id for c in nb.cells]
    for before, after in zip(nb.cells, student.cells, strict=True):
        role = before.metadata.get("aelib", {})
        if "solution" in role:
            assert SOLUTION_BEGIN not in after.source and "raise NotImplementedError" in after.source
            assert after.source.splitlines()[0] == before.source.splitlines()[0], "the signature stays"
            assert (after.outputs, after.execution_count) == ([], None)
        elif "exercise" in role:
            assert before.outputs and "correct" in before.outputs[0]["text"], (
                "the fixture's check cells have verdicts to clear"
            )
            assert (after.source, after.metadata["aelib"], after.id) == (
                before.source,
                before.metadata["aelib"],
                before.id,
            )
            assert (after.outputs, after.execution_count) == ([], None), "no verdict the student did not earn"
        else:
            assert after == before, "every other cell is kept as it is"
        if after.cell_type == "code":
            ast.parse(after.source)


@pytest.mark.parametrize("lecture", LECTURES, ids=[p.name for p in LECTURES])
def test_student_copy_content(lecture):
    nb = nbformat.read(lecture, as_version=4)
    student = student_notebook(nb, lecture)
    url, branch = colab.read_repository(ROOT)
    assert colab.badge_markdown(url, branch, f"student/{lecture.name}") in student.cells[0].source
    text = "\n".join(c.source for c in student.cells)
    assert SOLUTION_BEGIN not in text and SOLUTION_END not in text
    for before, after in zip(nb.cells, student.cells, strict=True):
        if "exercise" in before.metadata.get("aelib", {}):
            assert (after.source, after.metadata["aelib"], after.id) == (
                before.source,
                before.metadata["aelib"],
                before.id,
            ), f"check cell {before.id} keeps its id and metadata"
            assert (after.outputs, after.execution_count) == ([], None), (
                f"check cell {before.id} must not show a verdict"
            )
        if after.cell_type == "code":
            ast.parse(after.source)


def test_committed_student_copies_and_book_page_are_up_to_date(tmp_path):
    written = write_student_copies(ROOT / "lectures", tmp_path / "student", tmp_path / "exercises.md")
    assert sorted(p.name for p in (ROOT / "student").glob("*.ipynb")) == [p.name for p in LECTURES], (
        "run `make student`"
    )
    for path in written[:-1]:
        committed = ROOT / "student" / path.name
        assert committed.read_bytes() == path.read_bytes(), f"{committed} is out of date: run `make student`"
    assert (ROOT / "book" / "exercises.md").read_text() == written[-1].read_text(), (
        "book/exercises.md is out of date: run `make student`"
    )


def test_book_page_links_every_student_copy():
    copies = {p.name: student_notebook(nbformat.read(p, as_version=4), p) for p in LECTURES}
    page = student_page(copies)
    url, branch = colab.read_repository(ROOT)
    for name in copies:
        assert f"({colab.colab_url(url, branch, f'student/{name}')})" in page
        assert f"{{download}}`{name} <../student/{name}>`" in page


@pytest.mark.parametrize("lecture", LECTURES, ids=[p.name for p in LECTURES])
def test_lecture_follows_the_exercise_convention(lecture):
    """Solutions between markers, each followed by its check cell, whose stored verdict is `correct`."""
    nb = nbformat.read(lecture, as_version=4)
    open_solutions = []
    checked = []
    for cell in nb.cells:
        role = cell.metadata.get("aelib", {})
        if "solution" in role:
            assert cell.cell_type == "code" and SOLUTION_BEGIN in cell.source and SOLUTION_END in cell.source, cell.id
            open_solutions.append(role["solution"])
        if "exercise" in role:
            exercise = role["exercise"]
            assert exercise in open_solutions, f"check cell {cell.id} for {exercise} must follow its solution cell"
            assert cell.source.startswith("# NBVAL_CHECK_OUTPUT\n") and role.get("points", 1) > 0
            assert [o.get("text") for o in cell.outputs] == [f"Exercise {exercise}: correct\n"], cell.id
            checked.append(exercise)
    assert sorted(set(open_solutions)) == sorted(set(checked)), "every solution needs a check cell"
    assert len(set(checked)) >= 3, "at least three exercises per lecture"


def _book_extension():
    """Import the book's exercise-page transform (it lives beside the book, not in the package)."""
    spec = importlib.util.spec_from_file_location("exercise_pages", ROOT / "book" / "_ext" / "exercise_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rendered_cell(cell: nbformat.NotebookNode) -> nodes.container:
    """Build the doctree that myst-nb renders for a code cell: source and output containers."""
    source = nodes.container(nb_element="cell_code_source")
    source += nodes.literal_block(cell.source, cell.source, language="ipython3")
    output = nodes.container(nb_element="cell_code_output")
    output += nodes.literal_block("Exercise 1.1: correct", "Exercise 1.1: correct")
    container = nodes.container(nb_element="cell_code", cell_metadata=cell.metadata)
    container += [source, output]
    return container


def test_the_book_shows_exercises_without_solutions_or_verdicts():
    nb = nbformat.read(FIXTURE, as_version=4)
    document = nodes.section()
    document += [_rendered_cell(c) for c in nb.cells if c.cell_type == "code"]
    assert _book_extension().hide_solutions(document) == 6
    student = [c for c in student_notebook(nb, FIXTURE).cells if c.cell_type == "code"]
    for container, cell in zip(document.children, student, strict=True):
        parts = [p["nb_element"] for p in container.children]
        assert container.children[0].astext() == cell.source
        assert parts == (["cell_code_source"] if "aelib" in cell.metadata else ["cell_code_source", "cell_code_output"])
    assert SOLUTION_BEGIN not in document.astext()
    assert document.astext().count("Exercise 1.1: correct") == 1, "only the config cell's made-up output is left"
