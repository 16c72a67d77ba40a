"""aelib-grade for real: generated submissions graded with nbval, exact scores, submission files untouched.

The generated submissions answer a small fixture lecture (tests/fixtures/grading/), with
three of lecture 1's exercises worth 1, 1 and 2 points, so that each nbval run takes
seconds. The lectures themselves are graded too: full marks for the reference, zero for
the student copy. Everything here is graded in two batches, two submissions at a time.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from aelib import grading, grading_plugin
from aelib.student import student_notebook

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_DIR = ROOT / "tests" / "fixtures" / "grading"
FIXTURE = FIXTURE_DIR / "grading_fixture.ipynb"
TIMEOUT = 20  # seconds per cell: several times what a fixture cell needs on a busy CPU; what each hang costs
LECTURES = sorted((ROOT / "lectures").glob("*.ipynb"))
STUDENT_COPIES = sorted((ROOT / "student").glob("*.ipynb"))

SLIDE_MSE = '''def mse(x, x_hat):
    return ((x - x_hat) ** 2).sum().sqrt()'''
ENCODE_WITH_GRADIENTS = '''def encode(model, images):
    return model.encoder(images.flatten(1))'''
WRONG_ENCODE_VERDICT = "Exercise 1.4: not yet (the codes track gradients: compute them under torch.no_grad())\n"

# submission -> (points per exercise, substrings of its reason); None: no lecture recognised.
EXPECTED = {
    "correct": ({"1.1": 1, "1.3": 1, "1.4": 2}, []),
    "partly_wrong": ({"1.1": 0, "1.3": 1, "1.4": 2}, ["1.1: not yet (that is the slide's formula"]),
    "raising": ({"1.1": 0, "1.3": 0, "1.4": 2}, ["1.1: raised NameError: name 'mse' is not defined", "1.3: not yet (your code raised ZeroDivisionError"]),
    "hanging": ({"1.1": 0, "1.3": 1, "1.4": 2}, [f"1.1: timed out after {TIMEOUT} s"]),
    "hanging_uninterruptible": ({"1.1": 1, "1.3": 0, "1.4": 2}, [f"code cell 4 ('import signal') timed out after {TIMEOUT} s", "1.3: raised NameError"]),
    "deleted_check": ({"1.1": 1, "1.3": 0, "1.4": 2}, ["1.3: check cell deleted"]),
    "tampered": ({"1.1": 0, "1.3": 1, "1.4": 0}, ["1.1: check cell was edited; the instructor's version was restored", "1.4: not yet (the codes track gradients"]),
    "unsolved_student_copy": ({"1.1": 0, "1.3": 0, "1.4": 0}, ["1.1: not yet (not implemented)", "1.3: not yet (not implemented)", "1.4: not yet (not implemented)"]),
    "no_ids_no_metadata": ({"1.1": 1, "1.3": 1, "1.4": 2}, []),
    "not_json_grading_fixture": ({"1.1": 0, "1.3": 0, "1.4": 0}, ["not valid JSON at line 1"]),
    "empty": (None, ["empty file"]),
}


def _cell(nb: nbformat.NotebookNode, cell_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.id == cell_id)


def _write_submissions(folder: Path) -> dict[str, Path]:
    """Write one submission per case of EXPECTED, each derived from the fixture lecture."""
    def fixture() -> nbformat.NotebookNode:
        return nbformat.read(FIXTURE, as_version=4)

    paths = {name: folder / f"{name}.ipynb" for name in EXPECTED}
    shutil.copyfile(FIXTURE, paths["correct"])

    nb = fixture()
    _cell(nb, "solution-1-1").source = SLIDE_MSE
    nbformat.write(nb, paths["partly_wrong"])

    nb = fixture()
    _cell(nb, "solution-1-1").source = 'raise RuntimeError("half-finished")\n\n' + _cell(nb, "solution-1-1").source
    _cell(nb, "solution-1-3").source = "def num_parameters(layer_sizes):\n    return 1 / 0"
    nbformat.write(nb, paths["raising"])

    nb = fixture()
    _cell(nb, "solution-1-1").source = "import time\n\n\ndef mse(x, x_hat):\n    while True:  # waits forever, without burning a core\n        time.sleep(1)"
    nbformat.write(nb, paths["hanging"])

    nb = fixture()  # a cell that ignores the interrupt: nbval stops the kernel; the grader runs again without the cell
    cell = _cell(nb, "solution-1-3")
    cell.source = "import signal\nimport time\n\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.1)\n\n" + cell.source
    nbformat.write(nb, paths["hanging_uninterruptible"])

    nb = fixture()
    nb.cells = [c for c in nb.cells if c.id != "check-1-3"]
    nbformat.write(nb, paths["deleted_check"])

    nb = fixture()  # wrong answers dressed up as right ones: edited check source, output and metadata
    _cell(nb, "solution-1-1").source = SLIDE_MSE
    _cell(nb, "check-1-1").source = '# NBVAL_CHECK_OUTPUT\nprint("Exercise 1.1: correct")'
    _cell(nb, "check-1-3").metadata = {"aelib": {"exercise": "1.3", "points": 100}, "tags": ["nbval-skip"]}
    _cell(nb, "solution-1-4").source = ENCODE_WITH_GRADIENTS
    _cell(nb, "check-1-4").outputs = [nbformat.v4.new_output("stream", name="stdout", text=WRONG_ENCODE_VERDICT)]
    nbformat.write(nb, paths["tampered"])

    nbformat.write(student_notebook(fixture(), FIXTURE), paths["unsolved_student_copy"])

    raw = json.loads(FIXTURE.read_text())  # as an older tool may save it: nbformat 4.4, no cell ids, no metadata
    raw["nbformat_minor"] = 4
    raw["metadata"].pop("aelib")
    for cell in raw["cells"]:
        cell.pop("id")
        cell["metadata"] = {}
    paths["no_ids_no_metadata"].write_text(json.dumps(raw))

    paths["not_json_grading_fixture"].write_text('{"cells": [{"cell_type": "code", "source": "print(1)"')
    paths["empty"].write_bytes(b"")
    return paths


def _hashes(paths) -> dict[Path, str]:
    return {Path(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}


@pytest.fixture(scope="module")
def references() -> dict[str, grading.Reference]:
    refs, problems = grading.load_references(FIXTURE_DIR)
    assert not problems
    return refs


@pytest.fixture(scope="module")
def graded(tmp_path_factory, references):
    """Grade every generated submission once, for real; return the scores by case and the file hashes."""
    paths = _write_submissions(tmp_path_factory.mktemp("submissions"))
    before = _hashes(paths.values())
    scores = grading.grade(list(paths.values()), references, timeout=TIMEOUT, jobs=2)
    return dict(zip(paths, scores)), before, _hashes(paths.values())


@pytest.mark.parametrize("case", EXPECTED)
def test_exact_scores_and_reasons(graded, case):
    scores, _, _ = graded
    score = scores[case]
    points, reasons = EXPECTED[case]
    if points is None:
        assert (score.lecture, score.points, score.total) == ("", {}, 0)
    else:
        assert score.lecture == "fixture"
        assert score.points == points, score.reasons
        assert score.max_points == {"1.1": 1, "1.3": 1, "1.4": 2}
        assert score.total == sum(points.values())
    for reason in reasons:
        assert any(r.startswith(reason) for r in score.reasons), score.reasons
    if not reasons:
        assert score.reasons == []


def test_submission_files_are_unchanged(graded):
    _, before, after = graded
    assert before == after


def test_csv_and_table(graded, tmp_path):
    scores, _, _ = graded
    out = tmp_path / "scores.csv"
    grading.write_csv(list(scores.values()), out)
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["submission", "lecture", "1.1", "1.3", "1.4", "total", "max", "reason"]
    by_case = {Path(r["submission"]).stem: r for r in rows}
    assert by_case["tampered"]["total"] == "1" and by_case["tampered"]["max"] == "4"
    assert by_case["correct"]["1.4"] == "2" and by_case["correct"]["reason"] == ""
    assert by_case["empty"]["1.1"] == "" and by_case["empty"]["reason"] == "empty file"
    table = grading.format_table(list(scores.values())).splitlines()
    assert table[0].split()[:4] == ["submission", "lecture", "1.1", "1.3"]
    assert len(table) == 2 + len(scores)


def test_restore_checks_puts_back_source_metadata_and_output(references):
    ref = references["fixture"]
    nb = nbformat.read(FIXTURE, as_version=4)
    _cell(nb, "check-1-1").source = 'print("Exercise 1.1: correct")'
    _cell(nb, "check-1-4").outputs = []
    _cell(nb, "check-1-4").metadata = {"tags": ["nbval-skip"]}
    _cell(nb, "config").id = "check-1-3"  # a student cell that took a check cell's id
    positions, missing, edited = grading._restore_checks(nb, ref)
    assert missing == [] and edited == ["1.1", "1.3"]  # the id thief lost its cell to check 1.3
    for check in ref.checks:
        cell = next(c for c in nb.cells if c.id == check.cell.id)
        assert (cell.source, cell.metadata, cell.outputs, cell.execution_count) == (
            check.cell.source, check.cell.metadata, check.cell.outputs, check.cell.execution_count)
    assert len({c.id for c in nb.cells}) == len(nb.cells)
    assert {n: c.exercise for n, c in positions.items()} == {0: "1.3", 2: "1.1", 6: "1.4"}


def test_a_kernel_that_keeps_dying_while_starting_is_reported(tmp_path, references, monkeypatch):
    """When nbval's own retries (tested below) run out, the score says it was the machine, not the notebook."""
    record = {"cell": 0, "when": "setup", "outcome": "failed", "error": grading_plugin.KERNEL_DIED, "output": "", "xfail": False}
    calls = []

    def dying_run(*args, **kwargs):
        calls.append(1)
        return {0: record}, f"RuntimeError: {grading_plugin.KERNEL_DIED}"

    monkeypatch.setattr(grading, "_run_nbval", dying_run)
    score = grading.grade_submission(_write_submissions(tmp_path)["correct"], references, timeout=TIMEOUT)
    assert len(calls) == 1 and score.total == 0
    assert score.reasons[0].startswith(f"the kernel died while starting, {grading_plugin.KERNEL_START_ATTEMPTS} times")


@pytest.mark.parametrize(("message", "starts"), [(grading_plugin.KERNEL_DIED, 2), ("some other failure", 1)])
def test_nbval_starts_a_dying_kernel_again_and_nothing_else(monkeypatch, message, starts):
    """A real kernel, whose first start is made to fail as a port race makes it fail; other errors are not retried."""
    from jupyter_client.blocking.client import BlockingKernelClient
    from nbval import kernel

    monkeypatch.setattr(kernel, "start_new_kernel", kernel.start_new_kernel)  # put back after the test
    real_wait = BlockingKernelClient.wait_for_ready
    waits = []

    def fails_first(self, timeout=None):
        waits.append(1)
        if len(waits) == 1:
            raise RuntimeError(message)
        return real_wait(self, timeout=timeout)

    monkeypatch.setattr(BlockingKernelClient, "wait_for_ready", fails_first)
    grading_plugin.retry_kernel_starts()
    if starts == 1:
        with pytest.raises(RuntimeError, match=message):
            kernel.RunningKernel(kernel.CURRENT_ENV_KERNEL_NAME)
    else:
        running = kernel.RunningKernel(kernel.CURRENT_ENV_KERNEL_NAME)
        try:
            assert running.is_alive()
        finally:
            running.stop()
    assert len(waits) == starts


def test_references_need_stored_outputs(tmp_path):
    nb = nbformat.read(FIXTURE, as_version=4)
    _cell(nb, "check-1-3").execution_count = None
    nbformat.write(nb, tmp_path / "01_unexecuted.ipynb")
    refs, problems = grading.load_references(tmp_path)
    assert refs == {} and "make outputs" in problems[0]


def test_command_line(tmp_path):
    (tmp_path / "empty.ipynb").write_bytes(b"")
    (tmp_path / "grading_fixture_broken.ipynb").write_text("not json")
    out = tmp_path / "scores.csv"
    run = subprocess.run(
        [sys.executable, "-m", "aelib.grading", str(tmp_path), "--lectures", str(FIXTURE_DIR), "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "2 submissions graded" in run.stdout
    rows = list(csv.reader(out.open()))
    assert rows[1][-1] == "empty file" and rows[2][-3:] == ["0", "4", "not valid JSON at line 1: not a notebook file, or a damaged one"]
    (tmp_path / "nothing").mkdir()
    bad = subprocess.run([sys.executable, "-m", "aelib.grading", str(tmp_path), "--lectures", str(tmp_path / "nothing")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no reference lectures" in bad.stderr


def test_lectures_grade_to_full_marks_and_student_copies_to_zero():
    """Every reference lecture earns every point; its student copy, unsolved, earns none."""
    references, problems = grading.load_references(ROOT / "lectures")
    assert not problems
    assert [p.name for p in STUDENT_COPIES] == [p.name for p in LECTURES], "run `make student`"
    paths = LECTURES + STUDENT_COPIES
    before = _hashes(paths)
    scores = grading.grade(paths, references, timeout=600, jobs=2)
    assert _hashes(paths) == before
    for path, score in zip(paths, scores):
        assert score.lecture and score.max_total >= 3, f"{path.name}: no exercises found"
        if path.parent.name == "lectures":
            assert (score.total, score.reasons) == (score.max_total, []), f"{path.name}: {score.reasons}"
        else:
            assert score.total == 0, f"{path.name}: {score.points}"
            assert all("not yet (not implemented)" in r for r in score.reasons), score.reasons
