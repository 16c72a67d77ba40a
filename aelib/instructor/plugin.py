"""pytest plugin for `aelib-grade`: write each notebook cell's nbval outcome as one JSON line.

The grader copies this file as `conftest.py` beside the notebook it grades and names
where the records go with `--aelib-results`: a file, or `/dev/fd/N` for a pipe that the
grader reads. One line per cell and test phase, written as soon as the phase ends, so
that a run cut short still tells what happened before:
`{"cell": 3, "when": "call", "outcome": "passed", "xfail": false, "error": "", "output": "..."}`.
`outcome` is pytest's final one: a cell that passes after an earlier timeout (which
nbval marks xfail) is "passed" with `xfail` true.

The pytest process makes itself non-dumpable, so that the notebook's kernel, which runs
as the same user, cannot open the pipe through /proc. The records only explain lost
points (timeouts, errors); the points come from the probes' answers. It imports nothing
from aelib, so that the pytest process starts fast; the notebook's kernel does the heavy
imports.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import sys

import pytest

KERNEL_DIED = "Kernel died before replying to kernel_info"  # jupyter_client's words, before any cell has run
KERNEL_SILENT = "Kernel didn't respond in"  # jupyter_client's words when the start-up timeout ran out
KERNEL_START_ATTEMPTS = 3
# Measured on a shared 2-core machine: a kernel answers kernel_info 0.6-1.0 s after it is
# started, with the load average at 4-5.5 (`make test` and other test runs beside it); one
# silent for 30 s is stuck.
KERNEL_START_TIMEOUT = 30


def _output_text(outputs: list | None) -> str:
    """Join what a cell printed: its streams, plain-text results and errors."""
    parts = []
    for out in outputs or []:
        kind = out.get("output_type")
        if kind == "stream":
            parts.append(out.get("text", ""))
        elif kind in ("execute_result", "display_data"):
            parts.append(str(out.get("data", {}).get("text/plain", "")) + "\n")
        elif kind == "error":
            parts.append(f"{out.get('ename', '')}: {out.get('evalue', '')}\n")
    return "".join(parts)


def kernel_failed_to_start(err: BaseException) -> bool:
    """Tell whether jupyter_client's error says the kernel died or stayed silent before answering kernel_info."""
    return KERNEL_DIED in str(err) or KERNEL_SILENT in str(err)


def retry_kernel_starts(attempts: int = KERNEL_START_ATTEMPTS, timeout: float = KERNEL_START_TIMEOUT) -> None:
    """Make nbval start a notebook's kernel again when it dies or does not answer while starting.

    Each start waits at most `timeout` seconds for the kernel's first kernel_info reply
    (nbval's own `--nbval-kernel-startup-timeout` is replaced), and there are at most
    `attempts` starts in all. Kernels started side by side (test workers, grading jobs) can
    race for a port and die, or hang, before any cell has run: the machine's failure, never
    the notebook's. nbval shuts a failed kernel down before it raises; other errors pass through.
    """
    from nbval import kernel

    start = getattr(kernel.start_new_kernel, "__wrapped__", kernel.start_new_kernel)  # never wrap twice

    @functools.wraps(start)
    def start_new_kernel(*args, **kwargs):
        kwargs["startup_timeout"] = timeout
        for attempt in range(1, attempts + 1):
            try:
                return start(*args, **kwargs)
            except RuntimeError as err:
                if not kernel_failed_to_start(err) or attempt == attempts:
                    raise

    kernel.start_new_kernel = start_new_kernel


def pytest_addoption(parser):
    """Add `--aelib-results PATH`: the file that receives one JSON line per cell and phase."""
    parser.addoption(
        "--aelib-results", required=True, help="file (or /dev/fd/N) to write each cell's outcome to, as JSON lines"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the cell number, its printed output and nbval's error message to the report."""
    outcome = yield
    report = outcome.get_result()
    report.aelib_cell = getattr(item, "cell_num", None)
    report.aelib_output = _output_text(getattr(item, "test_outputs", None))
    report.aelib_error = str(call.excinfo.value).splitlines()[0] if call.excinfo and str(call.excinfo.value) else ""


class _Recorder:
    """Write the final outcome of each cell's test phases to the results file or pipe, one JSON line each."""

    def __init__(self, path: str) -> None:
        if path.startswith("/dev/fd/"):  # an inherited pipe: write to the descriptor (reopening it may be refused)
            self.out = os.fdopen(int(path.removeprefix("/dev/fd/")), "w", encoding="utf-8")
        else:
            self.out = open(path, "a", encoding="utf-8")  # noqa: SIM115  (open for the whole session)

    def pytest_runtest_logreport(self, report) -> None:
        cell = getattr(report, "aelib_cell", None)
        if cell is None or (report.when != "call" and report.outcome == "passed"):
            return
        record = {
            "cell": cell,
            "when": report.when,
            "outcome": report.outcome,
            "xfail": hasattr(report, "wasxfail"),
            "error": getattr(report, "aelib_error", ""),
            "output": getattr(report, "aelib_output", "")[-4000:],  # the end says how it ended; keep records small
        }
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()


def _not_dumpable() -> None:
    """Forbid other processes of this user (the kernel) to open this one's files through /proc."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0


def pytest_configure(config):
    """Start recording into the file named by `--aelib-results`; start kernels that die or hang at start again."""
    _not_dumpable()
    retry_kernel_starts()
    config.pluginmanager.register(_Recorder(config.getoption("--aelib-results")), "aelib-results")
