"""aelib-grade for real: generated submissions graded in their sandboxes, exact scores, files untouched.

The submissions answer two small fixture lectures (tests/fixtures/grading/): one with
three of lecture 1's exercises worth 1, 1 and 2 points, one with exercises 2.1 and 3.2,
so that each run takes seconds; lecture 2 itself is graded too, solved and unsolved.
Hostile submissions are in test_grading_attacks.py, the probes and judges in
test_grading_probes.py.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from aelib.instructor import cli, grading, judging, plugin, reporting, sandbox
from aelib.instructor.student import student_notebook
from aelib.instructor.submission import graded_notebook, identify, load_references, read_submission

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_DIR = ROOT / "tests" / "fixtures" / "grading"
FIXTURE = FIXTURE_DIR / "grading_fixture.ipynb"
TIMEOUT = 15  # seconds per cell: several times what a fixture cell needs on a busy CPU; what each hang costs

SLIDE_MSE = """def mse(x, x_hat):
    return ((x - x_hat) ** 2).sum().sqrt()"""
ENCODE_WITH_GRADIENTS = """def encode(model, images):
    return model.encoder(images.flatten(1))"""
WRONG_ENCODE_VERDICT = "Exercise 1.4: not yet (the codes track gradients: compute them under torch.no_grad())\n"
WRONG_LECTURE = (
    "handed in as lecture fixture_b (its file name) but it answers lecture fixture: graded as lecture fixture"
)

# submission -> (points per exercise, the reasons' beginnings, in order); None: no lecture recognised.
EXPECTED = {
    "correct": ({"1.1": 1, "1.3": 1, "1.4": 2}, []),
    "partly_wrong": ({"1.1": 0, "1.3": 1, "1.4": 2}, ["1.1: not yet (that is the slide's formula"]),
    "raising": (
        {"1.1": 0, "1.3": 0, "1.4": 2},
        [
            "1.1: not yet (your code raised NameError: name 'mse' is not defined)",
            "1.3: not yet (your code raised ZeroDivisionError",
        ],
    ),
    "hanging": ({"1.1": 0, "1.3": 1, "1.4": 2}, [f"1.1: timed out after {TIMEOUT} s"]),
    "hanging_uninterruptible": (
        {"1.1": 1, "1.3": 0, "1.4": 2},
        [f"code cell 4 ('import signal') timed out after {TIMEOUT} s", "1.3: not yet (your code raised NameError"],
    ),
    "deleted_check": ({"1.1": 1, "1.3": 0, "1.4": 2}, ["1.3: check cell deleted"]),
    "tampered": (
        {"1.1": 0, "1.3": 1, "1.4": 0},
        [
            "1.1: check cell was edited; the grader's probe took its place",
            "1.1: not yet (that is the slide's formula",
            "1.4: not yet (the codes track gradients",
        ],
    ),
    "unsolved_student_copy": (
        {"1.1": 0, "1.3": 0, "1.4": 0},
        ["1.1: not yet (not implemented)", "1.3: not yet (not implemented)", "1.4: not yet (not implemented)"],
    ),
    "no_ids_no_metadata": ({"1.1": 1, "1.3": 1, "1.4": 2}, []),
    "early_check_copy": ({"1.1": 1, "1.3": 1, "1.4": 2}, []),
    "grading_fixture_b_alice": ({"1.1": 1, "1.3": 1, "1.4": 2}, [WRONG_LECTURE]),
    "not_json_grading_fixture": ({"1.1": 0, "1.3": 0, "1.4": 0}, ["not valid JSON at line 1"]),
    "empty": (None, ["empty file"]),
}


def _cell(nb: nbformat.NotebookNode, cell_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.id == cell_id)


def fixture() -> nbformat.NotebookNode:
    return nbformat.read(FIXTURE, as_version=4)


def _write_submissions(folder: Path) -> dict[str, Path]:
    """Write one submission per case of EXPECTED, each derived from the fixture lecture."""
    paths = {name: folder / f"{name}.ipynb" for name in EXPECTED}
    shutil.copyfile(FIXTURE, paths["correct"])
    shutil.copyfile(FIXTURE, paths["grading_fixture_b_alice"])

    nb = fixture()
    _cell(nb, "solution-1-1").source = SLIDE_MSE
    nbformat.write(nb, paths["partly_wrong"])

    nb = fixture()
    _cell(nb, "solution-1-1").source = 'raise RuntimeError("half-finished")\n\n' + _cell(nb, "solution-1-1").source
    _cell(nb, "solution-1-3").source = "def revive_dead_units(model, images):\n    return 1 / 0"
    nbformat.write(nb, paths["raising"])

    nb = fixture()
    _cell(nb, "solution-1-1").source = (
        "import time\n\n\ndef mse(x, x_hat):\n    while True:  # waits forever, without burning a core\n "
        "       time.sleep(1)"
    )
    nbformat.write(nb, paths["hanging"])

    nb = fixture()  # a cell that ignores the interrupt: nbval stops the kernel; the grader runs again without the cell
    cell = _cell(nb, "solution-1-3")
    cell.source = (
        "import signal\nimport time\n\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    "
        "time.sleep(0.1)\n\n"
    ) + cell.source
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

    raw = json.loads(
        FIXTURE.read_text()
    )  # the student ran a copy of a check cell (same id and metadata) before the solution
    raw["cells"].insert(2, raw["cells"][3])
    paths["early_check_copy"].write_text(json.dumps(raw))

    paths["not_json_grading_fixture"].write_text('{"cells": [{"cell_type": "code", "source": "print(1)"')
    paths["empty"].write_bytes(b"")
    return paths


def _hashes(folder: Path) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def references() -> dict:
    refs, problems = load_references(FIXTURE_DIR)
    assert problems == []
    return refs


@pytest.fixture(scope="module")
def graded(tmp_path_factory, references):
    """Grade every generated submission once, for real, in sandboxes; return the scores by case and the file hashes."""
    folder = tmp_path_factory.mktemp("submissions")
    paths = _write_submissions(folder)
    before = _hashes(folder) | _hashes(FIXTURE_DIR)
    scores = grading.grade(list(paths.values()), references, timeout=TIMEOUT, jobs=2)
    return dict(zip(paths, scores, strict=True)), before, _hashes(folder) | _hashes(FIXTURE_DIR)


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
    assert len(score.reasons) == len(reasons), score.reasons
    for got, want in zip(score.reasons, reasons, strict=True):
        assert got.startswith(want), score.reasons


def test_submission_and_reference_files_are_unchanged(graded):
    _, before, after = graded
    assert before == after


def test_csv_and_table(graded, tmp_path):
    scores, _, _ = graded
    out = tmp_path / "scores.csv"
    reporting.write_csv(list(scores.values()), out)
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"], "no temporary file is left behind"
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["submission", "lecture", "1.1", "1.3", "1.4", "total", "max", "reason"]
    by_case = {Path(r["submission"]).stem: r for r in rows}
    assert by_case["tampered"]["total"] == "1" and by_case["tampered"]["max"] == "4"
    assert by_case["correct"]["1.4"] == "2" and by_case["correct"]["reason"] == ""
    assert by_case["empty"]["1.1"] == "" and by_case["empty"]["reason"] == "empty file"
    table = reporting.format_table(list(scores.values())).splitlines()
    assert table[0].split()[:4] == ["submission", "lecture", "1.1", "1.3"]
    assert len(table) == 2 + len(scores)


def test_csv_cells_never_start_a_formula(tmp_path):
    score = reporting.Score('=HYPERLINK("http://x")', "1", {"1.1": 0}, {"1.1": 1}, ["@SUM(1)"])
    reporting.write_csv([score], tmp_path / "scores.csv")
    row = list(csv.reader((tmp_path / "scores.csv").open()))[1]
    assert row[0].startswith("'=") and row[-1] == "'@SUM(1)"


def test_the_graded_notebook_has_a_probe_where_the_instructor_put_each_check(references):
    nb = json.loads(FIXTURE.read_text())
    nb["cells"].insert(2, dict(nb["cells"][3]))  # an early copy of check 1.1, with its id
    nb["cells"][6]["metadata"] = {"aelib": "1.3"}  # malformed metadata on check 1.3: found by id all the same
    built = graded_notebook(nb, references["fixture"], {"1.1": 11, "1.3": 13, "1.4": 14}, "/scratch/answers")
    assert (built.missing, built.edited) == ([], [])
    assert {n: (c.exercise, seed) for n, (c, seed) in built.probes.items()} == {
        3: ("1.1", 11),
        5: ("1.3", 13),
        7: ("1.4", 14),
    }
    sources = [c.source for c in built.nb.cells]
    assert sources[1] == "".join(nb["cells"][2]["source"]), "the early copy stays a plain cell"
    assert "run_probe('1.1', 11, '/scratch/answers', lambda: (mse, ))" in sources[3]
    assert "# NBVAL_CHECK_OUTPUT" not in sources[3] and "from aelib.exercises import lecture1 as ex" in sources[3]
    assert all(c.metadata.get("tags", []) in ([], ["aelib-probe"]) for c in built.nb.cells), (
        "no tag or metadata of the student's survives"
    )


def test_a_lecture_is_told_by_what_the_notebook_holds(references):
    nb, _ = read_submission(FIXTURE.read_bytes())
    assert identify(nb, Path("01_alice.ipynb"), references) == (references["fixture"], "")
    nb["metadata"]["aelib"]["lecture"] = "fixture_b"
    ref, note = identify(nb, Path("alice.ipynb"), references)
    assert ref is references["fixture"] and note.startswith("handed in as lecture fixture_b (its metadata)")
    assert identify(None, Path("grading_fixture_b_late.ipynb"), references) == (references["fixture_b"], "")


def test_every_lecture_and_student_copy_has_its_check_cells_found():
    """The real lectures, and the student copies made from them, are recognised with a probe for every check."""
    references, problems = load_references(ROOT / "lectures")
    assert problems == []
    for path in sorted((ROOT / "lectures").glob("*.ipynb")):
        copy = student_notebook(nbformat.read(path, as_version=4), path)
        for nb in (json.loads(path.read_text()), json.loads(nbformat.writes(copy))):
            ref, note = identify(nb, path, references)
            built = graded_notebook(nb, ref, {c.exercise: 0 for c in ref.checks}, "/scratch/answers")
            assert (ref.path, note, built.missing, built.edited) == (path, "", [], [])
            assert len(built.probes) == len(ref.checks)


def test_records_survive_garbage(tmp_path):
    good = {"cell": 2, "when": "call", "outcome": "failed", "error": "Timeout", "output": "", "xfail": False}
    text = "\n".join(
        ["garbage", "[1, 2]", json.dumps({"cell": "2"}), "{" * 100_000, json.dumps(good), '{"cell": true}']
    )
    assert judging.parse_records(text) == {2: {k: good[k] for k in ("cell", "when", "outcome", "error", "output")}}


def test_a_kernel_that_keeps_dying_while_starting_is_reported(tmp_path, references, monkeypatch):
    """When nbval's own retries (tested below) run out, the score says it was the machine, not the notebook."""
    assert (judging.KERNEL_DIED, grading.KERNEL_START_ATTEMPTS) == (plugin.KERNEL_DIED, plugin.KERNEL_START_ATTEMPTS)
    record = {
        "cell": 0,
        "when": "setup",
        "outcome": "failed",
        "error": plugin.KERNEL_DIED,
        "output": "",
        "xfail": False,
    }
    calls = []

    def dying_run(self, argv, scratch, env, *, deadline):
        calls.append(1)
        return sandbox.Outcome(1, f"RuntimeError: {plugin.KERNEL_DIED}", json.dumps(record))

    monkeypatch.setattr(sandbox.Sandbox, "run", dying_run)
    with sandbox.Sandbox(sandboxed=False) as box:
        score = grading.grade_submission(_write_submissions(tmp_path)["correct"], references, box, timeout=TIMEOUT)
    assert len(calls) == 1 and score.total == 0
    assert score.reasons[0].startswith(
        f"the kernel died or did not answer while starting, {plugin.KERNEL_START_ATTEMPTS} times"
    )


@pytest.mark.parametrize(("message", "starts"), [(plugin.KERNEL_DIED, 2), ("some other failure", 1)])
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
    plugin.retry_kernel_starts()
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


def test_references_report_checks_they_cannot_grade(tmp_path):
    nb = fixture()
    _cell(nb, "check-1-3").source = "# NBVAL_CHECK_OUTPUT\nex.check_revive_dead_units(revive_dead_units, strict=True)"
    _cell(nb, "check-1-4").metadata["aelib"]["exercise"] = "9.9"
    nbformat.write(nb, tmp_path / "01_lecture.ipynb")
    refs, problems = load_references(tmp_path)
    assert [c.exercise for c in refs["fixture"].checks] == ["1.1", "9.9"]
    assert "check cell check-1-3 (exercise 1.3): pass the student's objects to the check positionally" in problems[0]
    assert "(exercise 9.9): no probe and judge for it" in problems[1]


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aelib.instructor.cli", *args], capture_output=True, text=True, timeout=300, env=env
    )


def test_command_line(tmp_path, capsys):
    (tmp_path / "empty.ipynb").write_bytes(b"")
    (tmp_path / "grading_fixture_damaged.ipynb").write_text("not json")
    out = tmp_path / "out" / "scores.csv"
    out.parent.mkdir()
    run = _cli(str(tmp_path), "--lectures", str(FIXTURE_DIR), "--out", str(out), "--memory", "2G")  # the real entry
    assert run.returncode == 0, run.stderr
    assert "2 submissions graded" in run.stdout and "WARNING" not in run.stderr
    rows = list(csv.reader(out.open()))
    assert rows[1][-1] == "empty file"
    assert rows[2][-3:] == ["0", "4", "not valid JSON at line 1: not a notebook file, or a damaged one"]
    (tmp_path / "nothing").mkdir()
    with pytest.raises(SystemExit) as bad:
        cli.main([str(tmp_path), "--lectures", str(tmp_path / "nothing")])
    assert bad.value.code == 2 and "no reference lectures" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad:
        cli.main([str(tmp_path), "--memory", "lots"])
    assert bad.value.code == 2 and "expected a size such as 4G" in capsys.readouterr().err


def test_without_bubblewrap_grading_refuses_unless_told_no_sandbox(tmp_path, capsys, monkeypatch):
    (tmp_path / "bin").mkdir()
    os.symlink(shutil.which("setpriv") or "/usr/bin/setpriv", tmp_path / "bin" / "setpriv")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # bwrap is nowhere
    (tmp_path / "empty.ipynb").write_bytes(b"")
    args = [str(tmp_path / "empty.ipynb"), "--lectures", str(FIXTURE_DIR), "--out", str(tmp_path / "s.csv")]
    sandbox.check_bwrap.cache_clear()
    try:
        assert cli.main(args) == 2 and not (tmp_path / "s.csv").exists()
        refused = capsys.readouterr().err
        assert "bubblewrap is not installed" in refused and "apt-get install bubblewrap" in refused
        assert "--no-sandbox" in refused
        assert cli.main([*args, "--no-sandbox"]) == 0 and (tmp_path / "s.csv").exists()
        assert "WARNING: --no-sandbox" in capsys.readouterr().err
    finally:
        sandbox.check_bwrap.cache_clear()


def test_bytes_and_sizes():
    assert [sandbox.parse_bytes(t) for t in ("4G", "4GiB", "512m", "1048576")] == [
        4 * 2**30,
        4 * 2**30,
        512 * 2**20,
        2**20,
    ]
    assert sandbox.format_bytes(4 * 2**30) == "4 GiB" and sandbox.format_bytes(1536 * 2**20) == "1.5 GiB"
    for bad in ("", "4X", "-1G", "1K"):
        with pytest.raises(ValueError):
            sandbox.parse_bytes(bad)


def test_a_bubblewrap_that_cannot_make_namespaces_is_refused_with_the_fix(tmp_path, monkeypatch):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    sandbox.check_bwrap.cache_clear()
    try:
        with pytest.raises(sandbox.SandboxUnavailable) as refused:
            sandbox.check_bwrap()
    finally:
        sandbox.check_bwrap.cache_clear()
    message = str(refused.value)
    assert "No permissions to create new namespace" in message and "user namespaces" in message
    assert "sysctl" in message and "--no-sandbox" in message


def test_a_real_lecture_earns_every_point_and_its_student_copy_none(tmp_path):
    """Lecture 2, graded as handed in: the reference with its solutions, and the student copy made from it."""
    lecture = ROOT / "lectures" / "02_transposed_convolutions.ipynb"
    references, problems = load_references(ROOT / "lectures")
    assert problems == []
    copy = tmp_path / "02_transposed_convolutions_student.ipynb"
    nbformat.write(student_notebook(nbformat.read(lecture, as_version=4), lecture), copy)
    solved, unsolved = grading.grade([lecture, copy], references, timeout=300, jobs=2)
    exercises = list(references["2"].exercises)
    assert (solved.lecture, solved.total, solved.reasons) == ("2", solved.max_total, []) and len(exercises) >= 3
    assert (unsolved.total, unsolved.reasons) == (0, [f"{e}: not yet (not implemented)" for e in exercises])
