"""Hostile submissions: each attack class of issue 13, graded in sandboxes, with exact scores and every file unchanged.

Each attack is a cell added to a fixture notebook (an unsolved student copy, where the
attack is after unearned points, or a solved one, where it is after the machine). The
references are a copy of the fixture lectures in a temporary folder, so that an attack
that got through would damage only that copy; the same folder holds the submissions
and the output folder the attacks aim at. One control run without the sandbox shows
that the reading and writing attacks do work where nothing stops them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pytest

from aelib.instructor import grading
from aelib.instructor.sandbox import DEFAULT_LIMITS, Limits, Sandbox
from aelib.instructor.student import student_notebook
from aelib.instructor.submission import load_references

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_DIR = ROOT / "tests" / "fixtures" / "grading"
TIMEOUT = 20
TOKEN = f"aelib-attack-{uuid.uuid4().hex[:12]}"  # in the command line of every process an attack leaves behind
NOT_IMPLEMENTED = ["1.1: not yet (not implemented)", "1.3: not yet (not implemented)", "1.4: not yet (not implemented)"]
NO_ANSWERS = "the probe saved no answers: code earlier in the notebook kept it from running"

PATCH_CHECKS = """import builtins
import aelib.conventions
import aelib.exercises
from aelib.exercises import lecture1 as ex

for name in dir(ex):
    if name.startswith("check_"):
        setattr(ex, name, lambda *args, **kwargs: print("Exercise 1.1: correct"))
aelib.exercises.verdict = aelib.conventions.verdict = lambda exercise, problem: f"Exercise {exercise}: correct"
real_print = builtins.print
builtins.print = lambda *args, **kwargs: real_print(*(str(a).replace("not yet", "correct") for a in args), **kwargs)
"""

INPUT_TRANSFORMER = """def rewrite(lines):
    text = "".join(lines)
    if "check_" in text or "probe" in text:
        return ['print("Exercise 1.1: correct")\\n']
    return lines

get_ipython().input_transformers_cleanup.append(rewrite)
"""

FORGE_RESULTS = """import json, os, torch

forged = [
    json.dumps({"cell": cell, "when": "call", "outcome": "passed", "xfail": False,
                "error": "Timeout" if cell == 0 else "", "output": "Exercise 1.1: correct\\n"}) + "\\n"
    for cell in range(12)
]
for pid in os.listdir("/proc"):  # the results channel, named in pytest's arguments
    try:
        args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
    except OSError:
        continue
    for arg in args:
        if arg.startswith(b"--aelib-results="):
            path = arg.split(b"=", 1)[1].decode()
            for target in (path, f"/proc/{pid}/fd/{path.rsplit('/', 1)[-1]}", f"/proc/{pid}/cwd/results.jsonl"):
                try:
                    with open(target, "a") as f:
                        f.writelines(forged)
                except OSError:
                    pass
answers = "/scratch/answers"  # and the probes' answers, after the probes ran
for name in os.listdir(answers):
    os.unlink(os.path.join(answers, name))
forged = {"revived": [0], "parameters": [], "images_after": torch.zeros(1, 1, 28, 28)}
torch.save({"exercise": "1.3", "error": None, "answers": forged, "called": []}, f"{answers}/1.3.pt")
os.symlink("/etc/shadow", f"{answers}/1.1.pt")
os.mkfifo(f"{answers}/1.4.pt")
"""

READ_SOLUTIONS = """import glob, json, os, pathlib
import aelib

patterns = [{references!r} + "/*.ipynb", str(pathlib.Path(aelib.__file__).parents[1] / "lectures" / "*.ipynb"),
            str(pathlib.Path(aelib.__file__).parents[1] / "tests" / "fixtures" / "grading" / "*.ipynb")]
patterns += [f"/proc/{{pid}}/cwd/../*.ipynb" for pid in os.listdir("/proc") if pid.isdigit()]
for path in sorted({{p for pattern in patterns for p in glob.glob(pattern)}}):
    try:
        for cell in json.load(open(path))["cells"]:
            if isinstance(cell.get("metadata", {{}}).get("aelib"), dict) and "solution" in cell["metadata"]["aelib"]:
                exec("".join(cell["source"]))
    except Exception:
        pass
"""

WRITE_OUTSIDE = """import os, pathlib
import aelib

targets = [
    {reference!r},  # the reference lecture
    {victim!r},  # another student's submission, graded in the same batch
    {planted!r},  # a new notebook in the submissions folder
    {scores!r},  # the score table the grader will write
]
if {repository!r}:  # the package and the lectures beside it (left out of the unsandboxed control)
    package = pathlib.Path(aelib.__file__).parent
    targets += [str(package / "planted.py"), str(package.parent / "lectures" / "planted.ipynb")]
targets += [f"/proc/{{pid}}/cwd/../../planted.txt" for pid in os.listdir("/proc") if pid.isdigit()]
for target in targets:
    try:
        with open(target, "w") as f:
            f.write('{{"cells": []}}')
    except OSError:
        pass
"""

LEAVE_PROCESSES = f"""import os, subprocess, sys

pid = os.fork()
if pid == 0:  # a daemon: fork, new session, fork again
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time\\nwhile True: time.sleep(1)  # {TOKEN}"])
    os._exit(0)
os.waitpid(pid, 0)
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)  # {TOKEN}"], start_new_session=True)
"""

MEMORY_HOG = "big = bytearray(6 * 2**30)  # more than the 4 GiB cap, in one go"
GREEDY_MSE = """def mse(x, x_hat):
    hoard = bytearray(5 * 2**30)
    return ((x - x_hat) ** 2).mean()"""
CALLS_REFERENCE = """from aelib.upsampling import upsample_bed_of_nails as reference


def bed_of_nails(x, scale_factor):
    return reference(x, scale_factor)"""

# attack -> (points, the reasons' beginnings in order); the lecture is "fixture" unless the name says "_b".
EXPECTED = {
    "monkeypatched_checks": ({"1.1": 0, "1.3": 0, "1.4": 0}, NOT_IMPLEMENTED),
    "input_transformer": ({"1.1": 0, "1.3": 0, "1.4": 0}, [f"{e}: {NO_ANSWERS}" for e in ("1.1", "1.3", "1.4")]),
    "forged_results": (
        {"1.1": 0, "1.3": 0, "1.4": 0},
        [
            "1.1: the probe's answers could not be used: the answers file cannot be opened",
            "1.3: not yet (revive_dead_units changed the images in place)",
            "1.4: the probe's answers could not be used: the answers file is not a regular file",
        ],
    ),
    "reading_solutions": ({"1.1": 0, "1.3": 0, "1.4": 0}, NOT_IMPLEMENTED),
    "writing_outside": ({"1.1": 1, "1.3": 1, "1.4": 2}, []),
    "victim": ({"1.1": 1, "1.3": 1, "1.4": 2}, []),
    "leaving_processes": ({"1.1": 1, "1.3": 1, "1.4": 2}, []),
    "memory": (
        {"1.1": 0, "1.3": 1, "1.4": 2},
        [f"code cell 2 ({MEMORY_HOG[:40]!r}) used more than 4 GiB of memory", "1.1: used more than 4 GiB of memory"],
    ),
    "malformed_metadata": ({"1.1": 1, "1.3": 1, "1.4": 2}, []),
    "calls_reference_b": (
        {"2.1": 0, "3.2": 1},
        ["2.1: not yet (your code calls aelib.upsample_bed_of_nails, which this exercise asks you to write yourself)"],
    ),
}


def _with_cell(nb: nbformat.NotebookNode, source: str, after: str = "config") -> nbformat.NotebookNode:
    position = next(i for i, c in enumerate(nb.cells) if c.id == after) + 1
    nb.cells.insert(position, nbformat.v4.new_code_cell(source))
    return nb


def _write(world: Path, repository: bool = True) -> dict[str, Path]:
    """Write the references, the submissions and the output folder of one grading world; return the submissions."""
    refs, subs, out = world / "references", world / "submissions", world / "out"
    shutil.copytree(FIXTURE_DIR, refs, ignore=shutil.ignore_patterns("conftest.py", "__pycache__"))
    subs.mkdir()
    out.mkdir()
    (out / "scores.csv").write_text("submission,lecture\n")
    solved, solved_b = refs / "grading_fixture.ipynb", refs / "grading_fixture_b.ipynb"

    def read(path: Path = solved) -> nbformat.NotebookNode:
        return nbformat.read(path, as_version=4)

    def unsolved() -> nbformat.NotebookNode:
        return student_notebook(read(), solved)

    paths = {name: subs / f"{name}.ipynb" for name in EXPECTED}
    nbformat.write(_with_cell(unsolved(), PATCH_CHECKS), paths["monkeypatched_checks"])
    nbformat.write(_with_cell(unsolved(), INPUT_TRANSFORMER), paths["input_transformer"])
    nbformat.write(_with_cell(unsolved(), FORGE_RESULTS, after="check-1-4"), paths["forged_results"])
    nb = unsolved()
    for stub in ("solution-1-1", "solution-1-3", "solution-1-4"):  # after each stub, so that the solutions replace it
        _with_cell(nb, READ_SOLUTIONS.format(references=str(refs)), after=stub)
    nbformat.write(nb, paths["reading_solutions"])
    attack = WRITE_OUTSIDE.format(
        reference=str(solved),
        victim=str(paths["victim"]),
        planted=str(subs / "planted.ipynb"),
        scores=str(out / "scores.csv"),
        repository=repository,
    )
    nbformat.write(_with_cell(read(), attack), paths["writing_outside"])
    shutil.copyfile(solved, paths["victim"])
    nbformat.write(_with_cell(read(), LEAVE_PROCESSES), paths["leaving_processes"])
    nb = _with_cell(read(), MEMORY_HOG)
    next(c for c in nb.cells if c.id == "solution-1-1").source = GREEDY_MSE
    nbformat.write(nb, paths["memory"])

    raw = json.loads(solved.read_text())  # metadata of every wrong kind, and cells that are not cells
    raw["metadata"]["aelib"] = "lecture one"
    raw["cells"][0]["metadata"] = {"aelib": ["x"]}
    raw["cells"][1]["metadata"] = {"aelib": "1.1", "tags": "nbval-skip"}
    raw["cells"][2]["metadata"] = []
    raw["cells"][5]["metadata"] = {"aelib": {"exercise": {"1.3": 1}, "points": "all"}}
    raw["cells"] += [
        "garbage",
        {"cell_type": "code", "source": 42, "outputs": "none"},
        {"cell_type": "weird", "source": ["x"]},
    ]
    paths["malformed_metadata"].write_text(json.dumps(raw))

    nb = read(solved_b)
    next(c for c in nb.cells if c.id == "solution-2-1").source = CALLS_REFERENCE
    nbformat.write(nb, paths["calls_reference_b"])
    return paths


def _hashes(folder: Path) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _leftovers() -> list[int]:
    """Return the pids of processes that carry this run's token."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if TOKEN.encode() in Path(f"/proc/{pid}/cmdline").read_bytes() and int(pid) != os.getpid():
                found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    """Grade every attack once, two at a time, each in its sandbox; return the scores and the world before and after."""
    world = tmp_path_factory.mktemp("world")
    paths = _write(world)
    references, problems = load_references(world / "references")
    assert problems == []
    before = _hashes(world)
    scores = grading.grade(list(paths.values()), references, timeout=TIMEOUT, jobs=2)
    time.sleep(1)  # what a daemon would do, it would have begun
    return dict(zip(paths, scores, strict=True)), before, _hashes(world), _leftovers()


@pytest.mark.parametrize("attack", EXPECTED)
def test_exact_score_and_reasons(attacked, attack):
    scores, _, _, _ = attacked
    score = scores[attack]
    points, reasons = EXPECTED[attack]
    assert score.lecture == ("fixture_b" if attack.endswith("_b") else "fixture")
    assert score.points == points, score.reasons
    assert len(score.reasons) == len(reasons), score.reasons
    for got, want in zip(score.reasons, reasons, strict=True):
        assert got.startswith(want), score.reasons


def test_every_file_is_byte_identical_and_nothing_was_added(attacked):
    _, before, after, _ = attacked
    assert after == before
    assert not (ROOT / "aelib" / "planted.py").exists() and not (ROOT / "lectures" / "planted.ipynb").exists()


def test_nothing_outlives_the_run(attacked):
    *_, leftovers = attacked
    assert leftovers == []


def test_without_the_sandbox_the_same_attacks_get_through(tmp_path):
    """The control: unsandboxed, the attack notebooks do read the solutions, write files and leave processes."""
    paths = _write(tmp_path, repository=False)
    references, _ = load_references(tmp_path / "references")
    chosen = [paths[name] for name in ("reading_solutions", "writing_outside", "leaving_processes")]
    try:
        scores = grading.grade(chosen, references, timeout=TIMEOUT, jobs=2, sandboxed=False)
        assert scores[0].points == {"1.1": 1, "1.3": 1, "1.4": 2}, "the solutions were read"
        assert (tmp_path / "submissions" / "planted.ipynb").exists() and (
            tmp_path / "out" / "scores.csv"
        ).read_text() == '{"cells": []}'
        assert _leftovers(), "the daemon survived"
    finally:
        for pid in _leftovers():
            os.kill(pid, 9)


# --- the sandbox itself ----------------------------------------------------------------------


def _sandboxed(code: str, limits: Limits = DEFAULT_LIMITS, seconds: float = 60):
    with Sandbox(limits=limits) as box:
        scratch = box.scratch()
        return box.run(
            [sys.executable, "-c", code], scratch, box.environment(scratch, {}), deadline=time.monotonic() + seconds
        )


def test_inside_the_sandbox_only_python_and_scratch_are_there():
    code = f"""import os, socket, pathlib, aelib
print(os.getuid(), os.getgid())
print(sorted(os.listdir("/")))
print(sorted(os.listdir({str(ROOT)!r})))
for path in ({str(ROOT / "aelib" / "x")!r}, "/usr/x", "/x", "/scratch/work/ok"):
    try:
        open(path, "w").close()
        print("wrote", path)
    except OSError as err:
        print(type(err).__name__)
try:
    socket.create_connection(("127.0.0.1", 22), timeout=2)
except OSError as err:
    print(type(err).__name__)
print(len([p for p in os.listdir("/proc") if p.isdigit()]) <= 3)
"""
    outcome = _sandboxed(code)
    lines = outcome.output.splitlines()
    assert outcome.returncode == 0, outcome.output
    assert lines[0] == "65534 65534"
    assert "home" not in lines[1] and "scratch" in lines[1] and "tmp" in lines[1]
    repository_parts = sorted(p.name for p in (ROOT / "aelib", Path(sys.prefix)) if p.is_relative_to(ROOT))
    assert lines[2] == str(repository_parts), "only the package and the environment of the repository are there"
    assert lines[3:6] == ["OSError", "OSError", "OSError"] and lines[6] == "wrote /scratch/work/ok"
    assert lines[7] in ("ConnectionRefusedError", "OSError") and lines[8] == "True"


def test_the_watchdog_stops_processes_that_together_hold_too_much():
    """Each child stays under the per-process cap; together they pass the sandbox's, and the whole sandbox stops."""
    code = """import os, time
for _ in range(3):
    if os.fork() == 0:
        block = bytearray(250 * 2**20)
        block[::4096] = b"x" * len(block[::4096])  # touch every page
        time.sleep(60)
time.sleep(60)
"""
    outcome = _sandboxed(code, Limits(memory=600 * 2**20))
    assert outcome.returncode is None and outcome.stopped == "used more than 600 MiB of memory"
    assert outcome.seconds < 30


def test_a_run_past_its_wall_time_is_stopped():
    outcome = _sandboxed("import time; time.sleep(60)", seconds=2)
    assert (
        outcome.returncode is None and outcome.stopped.startswith("ran past its wall-time cap") and outcome.seconds < 10
    )


def test_the_gpu_is_bound_in_only_where_there_is_one(tmp_path):
    with Sandbox() as box:
        scratch = box.scratch()
        env = box.environment(scratch, {})
        assert box.gpu == sorted(p for p in map(str, Path("/dev").glob("nvidia*")) if not Path(p).is_dir())
        box.gpu = []
        without = box.command(["true"], scratch, env)
        assert "--dev-bind" not in without and "/sys" not in without
        box.gpu = ["/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm"]
        command = box.command(["true"], scratch, env)
    for device in box.gpu:
        assert command[command.index(device) - 1] == "--dev-bind" and command[command.index(device) + 1] == device
    assert command[command.index("/sys") - 1] == "--ro-bind"


@pytest.mark.skipif(not Sandbox().gpu, reason="no NVIDIA device nodes on this machine")
def test_a_notebook_can_use_the_gpu_inside_the_sandbox_under_the_memory_cap():
    code = "import torch; x = torch.ones(1000, 1000, device='cuda'); print(torch.cuda.is_available(), x.sum().item())"
    outcome = _sandboxed(code)
    assert outcome.returncode == 0, outcome.output
    assert outcome.output.strip().splitlines()[-1] == "True 1000000.0"
