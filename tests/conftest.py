"""Make the notebook tests GPU-aware: the `full` profile with CUDA, `quick` on a CPU.

`pytest --profile full` (or `quick`) overrides the choice. The profile reaches the
notebooks' kernels through the AELIB_PROFILE environment variable, which kernels
started by nbval inherit.
"""

from __future__ import annotations

import os

import pytest

from aelib.grading_plugin import retry_kernel_starts


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--profile",
        choices=("full", "quick"),
        default=None,
        help="scale profile for the lecture notebooks (default: full with CUDA, quick without)",
    )


def pytest_configure(config: pytest.Config) -> None:
    chosen = config.getoption("--profile")
    if chosen is None:
        import torch

        chosen = "full" if torch.cuda.is_available() else "quick"
    os.environ["AELIB_PROFILE"] = chosen
    os.environ.setdefault("AELIB_PROGRESS", "0")  # no progress widgets in stored or compared output
    retry_kernel_starts()  # test workers start kernels side by side: one that dies while starting starts again


def pytest_report_header(config: pytest.Config) -> str:
    return f"aelib profile: {os.environ.get('AELIB_PROFILE')}"
