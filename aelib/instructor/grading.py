"""Grade submissions: read each one, run it in its sandbox with probes in place of the checks, judge the answers.

For each submission the grader:

1. reads the file once and never writes it (see `submission`): a file that is empty,
   too large or not a notebook scores zero with that reason;
2. tells its lecture by the check cells it holds (then its metadata, then its file
   name), and says so in the reason when its name or metadata claims another lecture;
3. builds the notebook to run: the submission's code cells, and a probe cell (with a
   seed drawn for this run) where the instructor put each check cell;
4. runs real nbval on it in a sandbox (see `sandbox`), with a per-cell timeout; a cell
   that hangs beyond interrupting is skipped in a second run;
5. judges each probe's answers in this process (see `judging`): a right answer earns the
   check cell's points (metadata `aelib.points`).

Any failure while doing so becomes that submission's row, with a reason: the batch
always finishes, and the table is written after every submission ran.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from .judging import STUCK, Answer, cell_problem, clean, collect_answers, judge_probe, parse_records
from .plugin import kernel_failed_to_start
from .reporting import Score
from .sandbox import DEFAULT_LIMITS, Limits, Sandbox, _remove, check_bwrap, format_bytes
from .submission import Graded, Reference, first_line, graded_notebook, identify, read_submission

__all__ = ["DEFAULT_TIMEOUT", "grade_submission", "grade"]

DEFAULT_TIMEOUT = 120.0
_PLUGIN = Path(__file__).with_name("plugin.py")
_RUNS = 3  # a run, and at most two more without a cell that ignored the interrupt
KERNEL_START_ATTEMPTS = 3  # as in plugin.py


def _pytest(timeout: float) -> list[str]:
    """Return the command that runs nbval on the graded notebook, writing records to the grader's pipe."""
    return [
        sys.executable,
        "-m",
        "pytest",
        "submission.ipynb",
        "-c",
        "pytest.ini",
        "-p",
        "nbval.plugin",
        "-p",
        "no:cacheprovider",
        "--nbval-lax",
        "--nbval-current-env",
        f"--nbval-cell-timeout={timeout:g}",
        "-q",
        "--color=no",
        "-W",
        "ignore",
        "--aelib-results={results}",
    ]


def _run(
    box: Sandbox,
    build: Callable[[str], Graded],
    *,
    timeout: float,
    threads: int,
    profile: str,
    deadline: float,
    exercises: list[str],
):
    """Run nbval on the graded notebook in fresh scratch folders; skip a cell that ignores the interrupt, twice at most.

    `build(folder)` returns the notebook whose probes save into `folder`. Returns the
    final record of each code cell, the answers of each exercise, why the sandbox was
    stopped ("" if it was not), and the last run's output.
    """
    records: dict[int, dict] = {}
    answers: dict[str, Answer] = {}
    skipped: set[int] = set()
    for _ in range(_RUNS):
        scratch = box.scratch()
        try:
            work = scratch / "work"
            graded = build(box.inside(scratch, scratch / "answers"))
            for number in skipped:
                graded.nb.cells[number].metadata["tags"] = ["nbval-skip"]
            nbformat.write(graded.nb, work / "submission.ipynb")
            (work / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
            shutil.copyfile(_PLUGIN, work / "conftest.py")
            env = box.environment(
                scratch,
                {
                    "AELIB_PROFILE": profile,
                    "AELIB_PROGRESS": "0",
                    "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",  # only nbval and the results plugin: fast, predictable
                    "OMP_NUM_THREADS": str(threads),  # parallel kernels must not fight over the cores
                    "MKL_NUM_THREADS": str(threads),
                },
            )
            outcome = box.run(_pytest(timeout), scratch, env, deadline=deadline)
            answers.update(collect_answers(str(scratch / "answers"), exercises))
        finally:
            _remove(scratch)
        run = parse_records(outcome.records)
        records.update({n: r for n, r in run.items() if n not in skipped})
        stuck = [
            n for n, r in sorted(run.items()) if STUCK in r["error"] and n not in skipped and n < len(graded.nb.cells)
        ]
        if outcome.stopped or not stuck:
            break
        skipped.add(stuck[0])
    return records, answers, outcome.stopped, outcome.output


def grade_submission(
    path: str | Path,
    references: dict[str, Reference],
    box: Sandbox,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    threads: int = 1,
    profile: str = "quick",
) -> Score:
    """Grade one submission in `box`; the submission file is only read. Never raises: a failure is the row's reason."""
    start = time.monotonic()
    path = Path(path)
    score = Score(clean(str(path), 300))
    try:
        _grade(path, references, box, score, timeout=timeout, threads=threads, profile=profile)
    except Exception as err:  # a bug or a case nobody foresaw costs this row, never the batch
        score.points = {exercise: 0 for exercise in score.max_points}
        score.reasons.append(
            f"the grader failed on this submission ({type(err).__name__}: {clean(str(err), 120)}); grade it "
            "again or by hand"
        )
    score.seconds = time.monotonic() - start
    return score


def _grade(
    path: Path,
    references: dict[str, Reference],
    box: Sandbox,
    score: Score,
    *,
    timeout: float,
    threads: int,
    profile: str,
) -> None:
    try:
        data = path.read_bytes()
    except OSError as err:
        nb, problem = None, f"cannot read the file ({err.strerror or err})"
    else:
        nb, problem = read_submission(data)
    ref, note = identify(nb, path, references)
    if ref is not None:
        score.lecture = ref.lecture
        score.max_points = ref.exercises
        score.points = {exercise: 0 for exercise in ref.exercises}
    if note:
        score.reasons.append(note)
    if nb is None or ref is None:
        score.reasons.append(
            problem
            or (
                "cannot tell which lecture this notebook answers (no check cells, no aelib lecture metadata, no "
                "lecture name)"
            )
        )
        return
    seeds = {check.exercise: secrets.randbelow(2**31) for check in ref.checks}

    def build(folder: str) -> Graded:
        return graded_notebook(nb, ref, seeds, folder)

    graded = build("")
    score.reasons += [f"{check.exercise}: check cell deleted" for check in graded.missing]
    score.reasons += [
        f"{exercise}: check cell was edited; the grader's probe took its place" for exercise in graded.edited
    ]
    if not graded.probes:
        return
    limit = 120 + len(graded.nb.cells) * (
        timeout + 10
    )  # every cell is bounded by nbval; this guards against the unforeseen
    deadline = time.monotonic() + min(box.limits.wall_time, limit)
    exercises = sorted({check.exercise for check, _ in graded.probes.values()})
    records, answers, stopped, output = _run(
        box, build, timeout=timeout, threads=threads, profile=profile, deadline=deadline, exercises=exercises
    )
    memory = format_bytes(box.limits.memory)
    if stopped:
        score.reasons.append(f"stopped: it {stopped}")
    elif any(
        kernel_failed_to_start(r["error"]) for r in records.values()
    ):  # nbval's own retries (plugin.retry_kernel_starts) ran out
        score.reasons.append(
            f"the kernel died or did not answer while starting, {KERNEL_START_ATTEMPTS} times: a problem of this "
            "machine, not of the notebook; grade it again"
        )
    elif not records:
        last = output.strip().splitlines()[-1] if output.strip() else "no output"
        score.reasons.append(f"nbval could not run the notebook: {clean(last, 160)}")
    for number, record in sorted(records.items()):  # hangs and memory outside the probes are worth reporting too
        problem = cell_problem(record, timeout, memory)
        if (
            number not in graded.probes
            and number < len(graded.nb.cells)
            and problem.startswith(("timed out", "skipped", "used more"))
        ):
            score.reasons.append(f"code cell {number + 1} ({first_line(graded.nb, number)!r}) {problem}")
    for number, (check, seed) in sorted(graded.probes.items()):
        correct, reason = judge_probe(
            check.exercise,
            seed,
            answers.get(check.exercise),
            records.get(number),
            timeout=timeout,
            memory=memory,
            stopped=stopped,
        )
        if correct:
            score.points[check.exercise] += check.points
        else:
            score.reasons.append(f"{check.exercise}: {reason}")


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def grade(
    paths: list[str | Path],
    references: dict[str, Reference],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    jobs: int = 1,
    profile: str = "quick",
    sandboxed: bool = True,
    limits: Limits = DEFAULT_LIMITS,
    progress: bool = False,
) -> list[Score]:
    """Grade submissions, `jobs` sandboxes at a time; return the scores in input order.

    Raises SandboxUnavailable, naming the fix, if `sandboxed` and bubblewrap cannot build one here.
    """
    if sandboxed:
        check_bwrap()
    threads = max(1, _cpu_count() // max(1, jobs))
    printing = threading.Lock()
    with Sandbox(sandboxed=sandboxed, limits=limits) as box:

        def one(path: str | Path) -> Score:
            score = grade_submission(path, references, box, timeout=timeout, threads=threads, profile=profile)
            if progress:
                with printing:
                    print(
                        f"graded {score.submission}: {score.total:g}/{score.max_total:g} in {score.seconds:.0f} s",
                        file=sys.stderr,
                        flush=True,
                    )
            return score

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            return list(pool.map(one, paths))
