"""Make the notebook tests GPU-aware: the `full` profile with CUDA, `quick` on a CPU.

`pytest --profile full` (or `cpu`, `quick`) overrides the choice. The profile reaches the
notebooks' kernels through the AELIB_PROFILE environment variable, which kernels
started by nbval inherit. AELIB_CACHE points them all at one fresh, empty model cache
for the session (removed at its end), so no test ever loads a stale model.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from aelib.instructor.plugin import retry_kernel_starts


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--profile",
        choices=("full", "cpu", "quick"),
        default=None,
        help="scale profile for the lecture notebooks (default: full with CUDA, quick without)",
    )


def pytest_configure(config: pytest.Config) -> None:
    chosen = config.getoption("--profile")
    if chosen is None:
        import torch

        chosen = "full" if torch.cuda.is_available() else "quick"
    os.environ["AELIB_PROFILE"] = chosen
    os.environ["AELIB_CACHE"] = _fresh_model_cache(config)
    os.environ.setdefault("AELIB_PROGRESS", "0")  # no progress widgets in stored or compared output
    retry_kernel_starts()  # a kernel that dies or does not answer within 30 s while starting starts again


def _fresh_model_cache(config: pytest.Config) -> str:
    """Return this session's model cache: a new empty folder, or the controller's in an xdist worker."""
    handed_down = getattr(config, "workerinput", {}).get("aelib_cache")
    if handed_down:
        return handed_down
    folder = tempfile.mkdtemp(prefix="aelib-test-cache-")
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
    return folder


@pytest.hookimpl(optionalhook=True)  # an xdist hook: without xdist there are no workers
def pytest_configure_node(node) -> None:
    """Hand the session's model cache to each xdist worker, so that all share one fresh cache."""
    node.workerinput["aelib_cache"] = os.environ["AELIB_CACHE"]


def pytest_report_header(config: pytest.Config) -> str:
    return f"aelib profile: {os.environ.get('AELIB_PROFILE')}"


# The modules that take longest, first: `make test` hands whole modules to its workers
# (--dist loadscope) in this order (--no-loadscope-reorder), so the two that grade
# notebooks in sandboxes start at once, one on each worker, and short modules fill the end.
LONGEST_FIRST = (
    "test_student.py",  # runs every student copy once (minutes)
    "test_grading.py",
    "test_grading_attacks.py",
    "test_kernel_starts.py",
    "03_conv_autoencoder.ipynb",
    "04_applications.ipynb",
    "01_autoencoders.ipynb",
    "test_grading_probes.py",
    "02_transposed_convolutions.ipynb",
    "test_exercises_lecture1.py",
)


# At the full profile one notebook cell may train several models on every image: lecture 3's
# checkerboard cell trains four, about 10 minutes on a 2-core CPU (seconds on a GPU). There
# the safety net of pyproject.toml's `timeout` (600 s) gives each notebook cell an hour.
FULL_PROFILE_CELL_TIMEOUT = 3600


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the longest modules first, keeping the order of tests within each module; at full, give cells time."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
    if os.environ.get("AELIB_PROFILE") == "full":
        for item in items:
            if item.path.suffix == ".ipynb":
                item.add_marker(pytest.mark.timeout(FULL_PROFILE_CELL_TIMEOUT))


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="session")
def load_benchmark() -> Callable[[str], ModuleType]:
    """Return a function that imports `benchmarks/<name>.py` once, as running the script would."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))  # the scripts import their helpers from beside themselves

    def load(name: str) -> ModuleType:
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # dataclasses look their module up by name
            spec.loader.exec_module(module)
        return sys.modules[name]

    return load
