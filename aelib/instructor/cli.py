"""The command line of `aelib-grade SUBMISSION... [--out scores.csv] [--feedback DIR] [--timeout S] [--jobs N]`.

It refuses to run without a working sandbox unless told `--no-sandbox`, and then warns
on every run. The table is printed, and the CSV (and the feedback files) written, after
every submission ran.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

from .feedback import write_feedback
from .grading import DEFAULT_TIMEOUT, grade
from .limits import DEFAULT_MEMORY, DEFAULT_WALL_TIME, Limits, format_bytes, parse_bytes
from .reporting import format_table, write_csv
from .sandbox import SandboxUnavailable, check_bwrap
from .submission import load_references

__all__ = ["main", "expand"]

NO_SANDBOX_WARNING = (
    "aelib-grade: WARNING: --no-sandbox: the notebooks run as you, can read and write your files, use the "
    "network, leave processes behind and rewrite their own scores. Use it for notebooks you trust only."
)


def expand(paths: list[str]) -> list[str]:
    """Replace each folder by the notebooks inside it (checkpoints excluded)."""
    found = []
    for p in paths:
        if Path(p).is_dir():
            found += sorted(str(q) for q in Path(p).rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts)
        else:
            found.append(p)
    return found


def _size(text: str) -> int:
    try:
        return parse_bytes(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of `aelib-grade`."""
    parser = argparse.ArgumentParser(
        prog="aelib-grade",
        description=(
            "Grade exercise notebooks: each runs under nbval in its own sandbox, and the grader judges its answers."
        ),
    )
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSION", help="notebooks to grade, or folders of them")
    parser.add_argument("--out", default="scores.csv", help="CSV file to write (default: scores.csv)")
    parser.add_argument(
        "--feedback",
        metavar="DIR",
        help="folder to write one Markdown feedback file per submission into (made if missing)",
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help=f"seconds a cell may run (default: {DEFAULT_TIMEOUT:g})"
    )
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel (default: 1)")
    parser.add_argument("--lectures", default="lectures", help="folder of the reference lectures (default: lectures)")
    parser.add_argument(
        "--profile",
        choices=("quick", "cpu", "full"),
        default="quick",
        help="scale profile the notebooks run at (default: quick)",
    )
    parser.add_argument(
        "--memory",
        type=_size,
        default=DEFAULT_MEMORY,
        help=f"memory one submission may use, e.g. 4G (default: {format_bytes(DEFAULT_MEMORY)})",
    )
    parser.add_argument(
        "--wall-time",
        type=float,
        default=DEFAULT_WALL_TIME,
        help=f"seconds one submission may run in all (default: {DEFAULT_WALL_TIME:g})",
    )
    parser.add_argument(
        "--no-sandbox", action="store_true", help="run the notebooks without a sandbox: for notebooks you trust only"
    )
    args = parser.parse_args(argv)
    if args.timeout <= 0 or args.jobs < 1 or args.wall_time <= 0:
        parser.error("--timeout and --wall-time must be positive and --jobs at least 1")
    if importlib.util.find_spec("nbval") is None:
        parser.error("grading runs nbval, which is not installed: pip install 'aelib[dev]' (or pip install nbval)")
    if args.no_sandbox:
        print(NO_SANDBOX_WARNING, file=sys.stderr)
    else:
        try:
            check_bwrap()
        except SandboxUnavailable as err:
            print(f"aelib-grade: cannot grade safely: {err}", file=sys.stderr)
            return 2
    try:
        references, problems = load_references(args.lectures)
    except (OSError, ValueError) as err:
        parser.error(f"cannot read the reference lectures: {err}")
    for problem in problems:
        print(f"aelib-grade: {problem}", file=sys.stderr)
    if not references:
        parser.error(f"no reference lectures with check cells in {args.lectures!r}: pass --lectures FOLDER")
    paths = expand(args.submissions)
    start = time.monotonic()
    limits = Limits(memory=args.memory, wall_time=args.wall_time)
    scores = grade(
        paths,
        references,
        timeout=args.timeout,
        jobs=args.jobs,
        profile=args.profile,
        sandboxed=not args.no_sandbox,
        limits=limits,
        progress=True,
    )
    print(format_table(scores))
    write_csv(scores, args.out)
    if args.feedback:
        write_feedback(scores, args.feedback)
    print(
        f"\n{len(scores)} submissions graded in {time.monotonic() - start:.0f} s with {args.jobs} jobs; scores "
        f"written to {args.out}" + (f", feedback to {args.feedback}" if args.feedback else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
