"""Grade exercise notebooks with nbval: `aelib-grade SUBMISSION... [--out scores.csv] [--timeout S] [--jobs N]`.

For each submission the grader:

1. reads it, and never writes it: a file that is empty or not valid JSON scores zero
   with that reason;
2. finds its lecture among the reference lectures (notebook metadata `aelib.lecture`,
   else the lecture's file name inside the submission's name, else the check cells it holds);
3. restores the instructor's check cells (source, metadata, reference output) from the
   reference lecture, found by cell id (else by exercise metadata, else by source); a
   check cell that is gone scores zero for its exercise;
4. runs real nbval (`pytest --nbval-lax`) on that copy in a temporary folder, with a
   per-cell timeout; nbval interrupts a cell that runs past it and goes on with the next
   cells, and a cell whose kernel cannot be interrupted is skipped in a second run;
5. gives each check cell that passed its points (cell metadata `aelib.points`).

It prints a score table and writes a CSV: one row per submission, one column per exercise.
The instructor guide in the book describes the conventions.
"""

from __future__ import annotations

import argparse
import copy
import csv
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

__all__ = ["Check", "Reference", "Score", "lecture_id", "load_references", "grade_submission", "grade", "write_csv", "format_table", "main"]

DEFAULT_TIMEOUT = 120.0
CHECK_MARKER = "# NBVAL_CHECK_OUTPUT"
_PLUGIN = Path(__file__).with_name("grading_plugin.py")
_VALID_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_STUCK = "Failed to interrupt kernel"  # nbval's message when a timed-out cell ignores the interrupt


@dataclass(frozen=True)
class Check:
    """One check cell of a reference lecture: the instructor's cell, its exercise and its points."""

    cell: NotebookNode
    exercise: str
    points: float


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


@dataclass
class Score:
    """The grade of one submission: points per exercise (out of `max_points`) and the reasons for lost points."""

    submission: str
    lecture: str = ""
    points: dict[str, float] = field(default_factory=dict)
    max_points: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> float:
        return sum(self.points.values())

    @property
    def max_total(self) -> float:
        return sum(self.max_points.values())


@dataclass
class _CellResult:
    passed: bool
    reason: str


def lecture_id(nb: dict, path: str | Path) -> str | None:
    """Return a notebook's lecture id: metadata `aelib.lecture`, else the number its file name starts with."""
    meta = nb.get("metadata", {}).get("aelib", {})
    if isinstance(meta, dict) and meta.get("lecture"):
        return str(meta["lecture"])
    match = re.match(r"(\d+)_", Path(path).name)
    return str(int(match.group(1))) if match else None


def load_references(folder: str | Path) -> tuple[dict[str, Reference], list[str]]:
    """Read the reference lectures of `folder` (*.ipynb) that have check cells, keyed by lecture id.

    Returns them, and the problems of the lectures left out: a check cell without a stored
    reference output (the lecture was not executed: run `make outputs`), or a lecture id
    that another lecture already has.
    """
    references: dict[str, Reference] = {}
    problems = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        checks = []
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("aelib", {})
            if cell.cell_type != "code" or "exercise" not in meta:
                continue
            if not cell.source.startswith(CHECK_MARKER) or cell.execution_count is None or not cell.outputs:
                problems.append(
                    f"{path}: the check cell for exercise {meta['exercise']} (id {cell.id}) must start with "
                    f"{CHECK_MARKER!r} and have a stored output: run `make outputs LECTURES={path}`"
                )
                break
            checks.append(Check(cell, str(meta["exercise"]), float(meta.get("points", 1))))
        else:
            lecture = lecture_id(nb, path) or path.stem
            if lecture in references:
                problems.append(f"{path} and {references[lecture].path} both claim lecture {lecture}: set metadata aelib.lecture")
            elif checks:
                references[lecture] = Reference(path, lecture, checks)
    return references, problems


def _normalized(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _locate(cells: list, check: Check, used: set[int]) -> int | None:
    """Find the submission's cell for `check`: by id, else by exercise metadata, else by identical source."""
    tests = (
        lambda c: c.get("id") == check.cell.id,
        lambda c: c.get("cell_type") == "code" and c.get("metadata", {}).get("aelib", {}).get("exercise") == check.exercise,
        lambda c: c.get("cell_type") == "code" and _normalized(c.get("source", "")) == _normalized(check.cell.source),
    )
    for test in tests:
        for i, cell in enumerate(cells):
            if i not in used and test(cell):
                return i
    return None


def _identify(nb: NotebookNode | None, path: Path, references: dict[str, Reference]) -> Reference | None:
    """Return the reference lecture a submission (None if unreadable) answers, or None if nothing says which."""
    meta = nb.get("metadata", {}).get("aelib", {}) if nb is not None else {}
    if isinstance(meta, dict) and str(meta.get("lecture")) in references:
        return references[str(meta["lecture"])]
    for ref in sorted(references.values(), key=lambda r: -len(r.path.stem)):
        if ref.path.stem in path.name:
            return ref
    if nb is None:
        return None
    found = {key: sum(_locate(nb.cells, c, set()) is not None for c in ref.checks) for key, ref in references.items()}
    best = max(found, key=found.get, default=None)
    return references[best] if best is not None and found[best] > 0 else None


def _restore_checks(nb: NotebookNode, ref: Reference) -> tuple[dict[int, Check], list[Check], list[str]]:
    """Put the instructor's check cells back into `nb`, in place.

    Returns the check of each restored cell by its code-cell number (nbval's "Cell N"),
    the checks whose cell is gone, and the exercises whose check cell had been edited.
    """
    used: dict[int, Check] = {}
    missing, edited = [], []
    for check in ref.checks:
        i = _locate(nb.cells, check, set(used))
        if i is None:
            missing.append(check)
            continue
        if nb.cells[i].get("cell_type") != "code" or _normalized(nb.cells[i].get("source", "")) != _normalized(check.cell.source):
            edited.append(check.exercise)
        nb.cells[i] = copy.deepcopy(check.cell)
        used[i] = check
    # Cell ids must exist (nbformat 4.5) and be unique; the restored cells keep theirs.
    nb.nbformat, nb.nbformat_minor = 4, max(int(nb.get("nbformat_minor", 5)), 5)
    seen = {nb.cells[i].id for i in used}
    for i, cell in enumerate(nb.cells):
        if i in used:
            continue
        if not _VALID_ID.match(str(cell.get("id", ""))) or cell.get("id") in seen:
            cell["id"] = uuid.uuid4().hex[:8]
        seen.add(cell["id"])
    positions, number = {}, 0
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") == "code":
            if i in used:
                positions[number] = used[i]
            number += 1
    return positions, missing, edited


def _read_submission(path: Path) -> tuple[NotebookNode | None, str]:
    """Parse a submission without changing it: the notebook, or None and the reason it scores zero."""
    try:
        data = path.read_bytes()
    except OSError as err:
        return None, f"cannot read the file ({err.strerror or err})"
    if not data.strip():
        return None, "empty file"
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        where = f" at line {err.lineno}" if isinstance(err, json.JSONDecodeError) else ""
        return None, f"not valid JSON{where}: not a notebook file, or a damaged one"
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        return None, "valid JSON but not a Jupyter notebook (no list of cells)"
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4, capture_validation_error={})
    except Exception as err:  # nbformat raises many types on malformed notebooks
        return None, f"not a readable notebook ({type(err).__name__}: {str(err).splitlines()[0][:100] if str(err) else ''})"
    return nb, ""


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill pytest and its kernel, which runs in a session of its own."""
    try:
        import psutil

        victims = psutil.Process(proc.pid).children(recursive=True)
    except Exception:  # psutil missing, or the process already gone
        victims = []
    for victim in victims:
        try:
            victim.kill()
        except Exception:
            pass
    proc.kill()


def _run_nbval(workdir: Path, results: Path, timeout: float, threads: int, profile: str, limit: float) -> tuple[dict[int, dict], str]:
    """Run nbval on workdir/submission.ipynb; return the final record of each code cell and pytest's output.

    The results file lies outside the notebook's folder (the kernel's working directory).
    """
    results.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env.update(
        AELIB_PROFILE=profile,
        AELIB_PROGRESS="0",
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",  # only nbval and the results plugin: a fast, predictable pytest
    )
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # parallel kernels must not fight over the cores
        env.setdefault(var, str(threads))
    cmd = [
        sys.executable, "-m", "pytest", "submission.ipynb", "-c", "pytest.ini", "-p", "nbval.plugin", "-p", "no:cacheprovider",
        "--nbval-lax", "--nbval-current-env", f"--nbval-cell-timeout={timeout:g}", "--nbval-kernel-startup-timeout=120",
        "-q", "--color=no", "-W", "ignore", f"--aelib-results={results}",
    ]
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    try:
        log, _ = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        _kill_tree(proc)
        log, _ = proc.communicate()
        log += f"\ngrading stopped after {limit:g} s"
    records: dict[int, dict] = {}
    if results.exists():
        for line in results.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record["cell"] not in records or record["when"] == "call":
                records[record["cell"]] = record
    return records, log


def _cell_result(record: dict | None, timeout: float) -> _CellResult:
    """Decide whether one cell passed, and why not."""
    if record is None:
        return _CellResult(False, "not run")
    if record["outcome"] == "passed":
        return _CellResult(True, "")
    verdicts = [line for line in record["output"].splitlines() if line.startswith("Exercise ")]
    if verdicts:
        verdict = verdicts[-1].split(": ", 1)[-1]
        if verdict == "correct":
            return _CellResult(False, "the cell printed more than its verdict")
        return _CellResult(False, "not yet (not implemented)" if "not implemented yet" in verdict else verdict)
    error = record["error"]
    if error.startswith("Timeout"):
        return _CellResult(False, f"timed out after {timeout:g} s")
    if error.startswith("Kernel dead"):
        return _CellResult(False, "not run: the kernel had stopped")
    if record["outcome"] == "skipped" and not record["xfail"]:
        return _CellResult(False, "skipped")
    errors = [line for line in record["output"].splitlines() if re.match(r"^\w+(Error|Exception|Interrupt)\b", line)]
    return _CellResult(False, f"raised {errors[-1][:120]}" if errors else (error[:120] or record["outcome"]))


def _run_notebook(nb: NotebookNode, code_cells: list, timeout: float, threads: int, profile: str) -> tuple[dict[int, dict], str]:
    """Run nbval on `nb` in a temporary folder; if a cell hangs beyond interrupting, run again without it (twice at most).

    A kernel that dies while starting is started again inside nbval (see grading_plugin.retry_kernel_starts).
    """
    limit = 120 + len(code_cells) * (timeout + 10)  # each cell is bounded by nbval; this only guards against the unforeseen
    records: dict[int, dict] = {}
    skipped: set[int] = set()
    with tempfile.TemporaryDirectory(prefix="aelib-grade-") as tmp:
        workdir = Path(tmp) / "notebook"
        workdir.mkdir()
        (workdir / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        shutil.copyfile(_PLUGIN, workdir / "conftest.py")
        for _ in range(3):
            nbformat.write(nb, workdir / "submission.ipynb")
            run, log = _run_nbval(workdir, Path(tmp) / "results.jsonl", timeout, threads, profile, limit)
            records.update({n: r for n, r in run.items() if n not in skipped})
            stuck = [n for n, r in sorted(run.items()) if _STUCK in r["error"] and n not in skipped]
            if not stuck:
                break
            skipped.add(stuck[0])
            code_cells[stuck[0]].metadata.setdefault("tags", []).append("nbval-skip")
    return records, log


def grade_submission(
    path: str | Path,
    references: dict[str, Reference],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    threads: int = 1,
    profile: str = "quick",
) -> Score:
    """Grade one submission with nbval in a temporary folder; the submission file is only read."""
    from .grading_plugin import KERNEL_DIED, KERNEL_START_ATTEMPTS  # here: the plugin imports pytest, which aelib-student lacks

    start = time.monotonic()
    path = Path(path)
    score = Score(str(path))
    nb, problem = _read_submission(path)
    ref = _identify(nb, path, references)
    if ref is not None:
        score.lecture = ref.lecture
        score.max_points = ref.exercises
        score.points = {exercise: 0 for exercise in ref.exercises}
    if nb is None or ref is None:
        score.reasons.append(problem or "cannot tell which lecture this notebook answers (no aelib lecture metadata, no lecture name, no check cells)")
        score.seconds = time.monotonic() - start
        return score
    positions, missing, edited = _restore_checks(nb, ref)
    score.reasons += [f"{check.exercise}: check cell deleted" for check in missing]
    score.reasons += [f"{exercise}: check cell was edited; the instructor's version was restored" for exercise in edited]
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    records, log = _run_notebook(nb, code_cells, timeout, threads, profile)
    if not records:
        score.reasons.append(f"nbval could not run the notebook: {log.strip().splitlines()[-1] if log.strip() else 'no output'}")
    elif any(KERNEL_DIED in r["error"] for r in records.values()):  # nbval's own retries ran out
        score.reasons.append(f"the kernel died while starting, {KERNEL_START_ATTEMPTS} times: a problem of this machine, not of the notebook; grade it again")
    for number, record in sorted(records.items()):  # hangs outside the check cells are worth reporting too
        result = _cell_result(record, timeout)
        if number not in positions and result.reason.startswith(("timed out", "skipped")):
            first = code_cells[number].source.strip().splitlines()[0][:40] if code_cells[number].source.strip() else ""
            score.reasons.append(f"code cell {number + 1} ({first!r}) {result.reason}")
    for number, check in sorted(positions.items()):
        result = _cell_result(records.get(number), timeout)
        if result.passed:
            score.points[check.exercise] += check.points
        else:
            score.reasons.append(f"{check.exercise}: {result.reason}")
    score.seconds = time.monotonic() - start
    return score


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def grade(
    paths: list[str | Path],
    references: dict[str, Reference],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    jobs: int = 1,
    profile: str = "quick",
    progress: bool = False,
) -> list[Score]:
    """Grade submissions in parallel, `jobs` nbval processes at a time; return the scores in input order."""
    threads = max(1, _cpu_count() // max(1, jobs))

    def one(path: str | Path) -> Score:
        score = grade_submission(path, references, timeout=timeout, threads=threads, profile=profile)
        if progress:
            print(f"graded {score.submission}: {_fmt(score.total)}/{_fmt(score.max_total)} in {score.seconds:.0f} s", file=sys.stderr, flush=True)
        return score

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, paths))


def _fmt(points: float) -> str:
    return f"{points:g}"


def _exercise_key(exercise: str) -> tuple:
    """Sort "1.2" before "1.10", and numbers before names."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"[.\s]", exercise))


def _rows(scores: list[Score]) -> tuple[list[str], list[list[str]]]:
    exercises = sorted({e for s in scores for e in s.max_points}, key=_exercise_key)
    header = ["submission", "lecture", *exercises, "total", "max", "reason"]
    rows = []
    for s in scores:
        cells = [_fmt(s.points[e]) if e in s.points else "" for e in exercises]
        rows.append([s.submission, s.lecture, *cells, _fmt(s.total), _fmt(s.max_total), "; ".join(s.reasons)])
    return header, rows


def write_csv(scores: list[Score], out: str | Path) -> None:
    """Write one row per submission: its lecture, points per exercise, total, maximum and reasons."""
    header, rows = _rows(scores)
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def format_table(scores: list[Score]) -> str:
    """Return the scores as an aligned text table (the CSV's columns)."""
    header, rows = _rows(scores)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, ["-" * w for w in widths] + ["-" * 6], *rows]:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    return "\n".join(line.rstrip() for line in lines)


def _expand(paths: list[str]) -> list[str]:
    """Replace each folder by the notebooks inside it (checkpoints excluded)."""
    found = []
    for p in paths:
        if Path(p).is_dir():
            found += sorted(str(q) for q in Path(p).rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts)
        else:
            found.append(p)
    return found


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of `aelib-grade`."""
    parser = argparse.ArgumentParser(prog="aelib-grade", description="Grade exercise notebooks with nbval and write a score table.")
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSION", help="notebooks to grade, or folders of them")
    parser.add_argument("--out", default="scores.csv", help="CSV file to write (default: scores.csv)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help=f"seconds a cell may run (default: {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel (default: 1)")
    parser.add_argument("--lectures", default="lectures", help="folder of the reference lectures (default: lectures)")
    parser.add_argument("--profile", choices=("quick", "full"), default="quick", help="scale profile the notebooks run at (default: quick)")
    args = parser.parse_args(argv)
    if args.timeout <= 0 or args.jobs < 1:
        parser.error("--timeout must be positive and --jobs at least 1")
    if importlib.util.find_spec("nbval") is None:
        parser.error("grading runs nbval, which is not installed: pip install 'aelib[dev]' (or pip install nbval)")
    try:
        references, problems = load_references(args.lectures)
    except (OSError, ValueError) as err:
        parser.error(f"cannot read the reference lectures: {err}")
    for problem in problems:
        print(f"aelib-grade: left out {problem}", file=sys.stderr)
    if not references:
        parser.error(f"no reference lectures with check cells in {args.lectures!r}: pass --lectures FOLDER")
    paths = _expand(args.submissions)
    start = time.monotonic()
    scores = grade(paths, references, timeout=args.timeout, jobs=args.jobs, profile=args.profile, progress=True)
    print(format_table(scores))
    write_csv(scores, args.out)
    print(f"\n{len(scores)} submissions graded in {time.monotonic() - start:.0f} s with {args.jobs} jobs; scores written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
