"""Student copies: solutions out, checks kept with their ids but no verdicts, badges at the copy, copies up to date.

No output that depends on a solution is stored in a copy: each copy runs at `quick` with
its stubs raising, and every cell that then raises, or shows other output than the one
stored, must store none. Also checks that every lecture follows the exercise convention
that the student copy and the grader rely on.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import os
from pathlib import Path

import nbformat
import pytest
from docutils import nodes

from aelib.conventions import CHECK_MARKER, SOLUTION_BEGIN, SOLUTION_END
from aelib.instructor import colab
from aelib.instructor.kernels import execute_notebook
from aelib.instructor.student import (
    SolutionMarkerError,
    solution_dependent,
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
    next(c for c in nb.cells if c.id == "solution-1-3").source = "def revive_dead_units(model, images):\n    return []"
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


def _notebook(*sources: str) -> nbformat.NotebookNode:
    """Return a notebook of code cells, each with a stored output; a cell with the markers is a solution of 9.1."""
    nb = nbformat.v4.new_notebook()
    for number, source in enumerate(sources):
        cell = nbformat.v4.new_code_cell(source, execution_count=number + 1)
        cell.outputs = [nbformat.v4.new_output("stream", text=f"output {number}\n")]
        if SOLUTION_BEGIN in source:
            cell.metadata["aelib"] = {"solution": "9.1"}
        nb.cells.append(cell)
    return nb


SOLUTION_CELL = f"def build():\n    {SOLUTION_BEGIN}\n    return [1, 2]\n    {SOLUTION_END}"


@pytest.mark.parametrize(
    "later, depends",
    [
        ("print(build())", True),  # reads the solution
        ("print(build)", True),  # reads the solution's function itself
        ("print(model)", True),  # reads what a dependent cell bound
        ("data.append(0)", True),  # reads what a dependent cell may have changed
        ("def show():\n    print(model)", True),  # a function that reads it when called
        ("from math import sqrt\nprint(sqrt(4), len(text))", False),  # only modules, builtins and clean names
        ("%time print(1)", True),  # not Python: what it touches is unknown, here and after
        ("print(text)", False),
    ],
)
def test_a_cell_depends_on_a_solution_through_the_names_it_reads(later, depends):
    setup, dependent = "import math\ntext = 'abc'\ndata = [0]", "model = build()\nprint(len(data))"
    nb = _notebook(setup, SOLUTION_CELL, dependent, later)
    assert solution_dependent(nb.cells) == [False, True, True, depends]
    student = student_notebook(nb, "lectures/99_fixture.ipynb")
    assert [bool(c.outputs) for c in student.cells] == [True, False, False, not depends]


def test_the_budget_training_cell_of_lecture_3_stores_no_output():
    """The leak of issue 19: the reference solution's parameter count and test MSE, under the stub."""
    lecture = ROOT / "lectures" / "03_conv_autoencoder.ipynb"
    nb = nbformat.read(lecture, as_version=4)
    training = next(
        c
        for c in nb.cells
        if c.cell_type == "code" and "build_budget_autoencoder()" in c.source and not c.metadata.get("aelib")
    )
    assert training.outputs, "the lecture stores the reference run's output"
    student = next(c for c in student_notebook(nb, lecture).cells if c.id == training.id)
    assert (student.outputs, student.execution_count) == ([], None)


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"  # a model id, new on every run


def _shown(outputs: list) -> list:
    """What a cell shows: its streams, joined per stream, and each error's name and rich output's data."""
    shown = []
    for output in outputs:
        if output.output_type == "stream":
            if shown and shown[-1][:2] == ("stream", output.name):
                shown[-1] = ("stream", output.name, shown[-1][2] + output.text)
            else:
                shown.append(("stream", output.name, output.text))
        elif output.output_type == "error":
            shown.append(("error", output.ename))
        else:
            shown.append((output.output_type, {k: v for k, v in output.get("data", {}).items() if k != WIDGET_VIEW}))
    return shown


def _unearned(student: nbformat.NotebookNode, run: nbformat.NotebookNode) -> list[str]:
    """Return the cells of `student` that store output although, in `run` (the copy executed), they raised or differ.

    Before the first solution cell no output can depend on a solution, and an unchecked cell's
    output there depends on the profile (stored at `full`, run at `quick`): only raising counts.
    """
    first_solution = next(i for i, c in enumerate(student.cells) if "solution" in c.metadata.get("aelib", {}))
    unearned = []
    for index, (stored, ran) in enumerate(zip(student.cells, run.cells, strict=True)):
        if stored.cell_type != "code" or not stored.outputs:
            continue
        raised = any(o.output_type == "error" for o in ran.outputs)
        comparable = index >= first_solution or stored.source.startswith(CHECK_MARKER)
        if raised or (comparable and _shown(ran.outputs) != _shown(stored.outputs)):
            first_line = stored.source.splitlines()[0] if stored.source else ""
            unearned.append(f"cell {index} ({stored.get('id')}, {'raises' if raised else 'differs'}): {first_line}")
    return unearned


def test_unearned_finds_a_cell_that_raises_or_differs():
    student = _notebook("x = 1", SOLUTION_CELL, "print(build())", "print(2)", "print(3)")
    run = copy.deepcopy(student)
    run.cells[2].outputs = [nbformat.v4.new_output("error", ename="NotImplementedError", evalue="", traceback=[])]
    run.cells[3].outputs = [nbformat.v4.new_output("stream", text="something else\n")]
    run.cells[4].outputs = [
        nbformat.v4.new_output("stream", text="output "),
        nbformat.v4.new_output("stream", text="4\n"),
    ]
    assert [line.split(" (")[0] for line in _unearned(student, run)] == ["cell 2", "cell 3"]
    run.cells[0].outputs = [nbformat.v4.new_output("stream", text="x is 1 at this profile\n")]
    assert len(_unearned(student, run)) == 2, "before the first solution, an unchecked cell's output may differ"
    student.cells[0].source = f"{CHECK_MARKER}\n{student.cells[0].source}"
    assert len(_unearned(student, run)) == 3, "a checked cell's output must not differ anywhere"


class StudentRun:
    """Run one lecture's student copy at `quick`, its stubs raising, once; its tests are one xdist scope."""

    lecture: Path

    @pytest.fixture(scope="class")
    @classmethod
    def student_run(cls, tmp_path_factory) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
        """Return the lecture's student copy and the same copy executed."""
        student = student_notebook(nbformat.read(cls.lecture, as_version=4), cls.lecture)
        run = copy.deepcopy(student)
        env = {**os.environ, "AELIB_PROFILE": "quick", "AELIB_PROGRESS": "0"}
        cwd = tmp_path_factory.mktemp(cls.lecture.stem)  # whatever the copy writes stays out of the repository
        execute_notebook(run, timeout=600, cwd=str(cwd), env=env, allow_errors=True)
        return student, run

    def test_student_copy_stores_no_output_its_run_does_not_give(self, student_run):
        student, run = student_run
        unrun = [c.get("id") for c in run.cells if c.cell_type == "code" and c.execution_count is None]
        assert not unrun, f"cells that did not run: {unrun}"
        unearned = _unearned(student, run)
        assert not unearned, "outputs that depend on a solution, stored in the student copy:\n" + "\n".join(unearned)


# One class per lecture, so that `--dist loadscope` runs the copies on different workers.
for _lecture in LECTURES:
    globals()[f"TestStudentCopy_{_lecture.stem}"] = type(
        f"TestStudentCopy_{_lecture.stem}", (StudentRun,), {"lecture": _lecture}
    )


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


def test_the_book_hides_what_a_solution_made_in_lecture_3():
    nb = nbformat.read(ROOT / "lectures" / "03_conv_autoencoder.ipynb", as_version=4)
    document = nodes.section()
    document += [_rendered_cell(c) for c in nb.cells if c.cell_type == "code"]
    _book_extension().hide_solutions(document)
    code = [c for c in nb.cells if c.cell_type == "code"]
    (budget,) = [container for container, c in zip(document.children, code, strict=True) if c.id == "c3a1d0fd"]
    assert [p["nb_element"] for p in budget.children] == ["cell_code_source"], (
        "the reference model's numbers stay hidden"
    )


def test_the_book_shows_exercises_without_solutions_or_verdicts():
    nb = nbformat.read(FIXTURE, as_version=4)
    document = nodes.section()
    document += [_rendered_cell(c) for c in nb.cells if c.cell_type == "code"]
    code = [c for c in nb.cells if c.cell_type == "code"]
    dependent = solution_dependent(code)
    assert _book_extension().hide_solutions(document) == sum(dependent) >= 6
    student = [c for c in student_notebook(nb, FIXTURE).cells if c.cell_type == "code"]
    for container, cell, hidden in zip(document.children, student, dependent, strict=True):
        parts = [p["nb_element"] for p in container.children]
        assert container.children[0].astext() == cell.source
        assert parts == (["cell_code_source"] if hidden else ["cell_code_source", "cell_code_output"])
        assert hidden or "aelib" not in cell.metadata
    assert SOLUTION_BEGIN not in document.astext()
    assert document.astext().count("Exercise 1.1: correct") == 1, "only the config cell's made-up output is left"
