"""Scale profiles: what each one does, how it is chosen, what the config cell says, and the test suite's choice."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import aelib
from aelib.profiles import PROFILES


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AELIB_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AELIB_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def test_unset_means_cpu_without_a_gpu(no_gpu: None) -> None:
    p = aelib.profile()
    assert p == PROFILES["cpu"] and p.name == "cpu"


def test_unset_means_full_with_a_gpu(a_gpu: None) -> None:
    p = aelib.profile()
    assert p.name == "full" and p.num_epochs == 25 and p.num_train is None and p.num_test is None


def test_cpu_keeps_the_lectures_epochs_on_fewer_images_and_quick_is_smaller_still() -> None:
    full, cpu, quick = PROFILES["full"], PROFILES["cpu"], PROFILES["quick"]
    assert cpu.num_epochs == full.num_epochs == 25
    assert cpu.num_train is not None and cpu.num_test is not None and cpu.num_test < cpu.num_train
    assert quick.num_epochs < cpu.num_epochs and quick.num_train < cpu.num_train and quick.num_test < cpu.num_test


@pytest.mark.parametrize(("name", "expected"), [("full", "F"), ("cpu", "C"), ("quick", "Q")])
def test_pick_returns_the_value_of_the_profile(name: str, expected: str) -> None:
    assert aelib.profile(name).pick(full="F", cpu="C", quick="Q") == expected


def test_pick_for_cpu_defaults_to_the_full_value() -> None:
    assert aelib.profile("cpu").pick(full=15, quick=2) == 15
    assert aelib.profile("quick").pick(full=15, quick=2) == 2


def test_explicit_name_beats_the_environment_and_case_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AELIB_PROFILE", "quick")
    assert aelib.profile("FULL").name == "full"
    monkeypatch.setenv("AELIB_PROFILE", " CPU ")
    assert aelib.profile().name == "cpu"


def test_an_unknown_profile_is_a_clear_error_naming_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AELIB_PROFILE", "fast")
    with pytest.raises(
        ValueError,
        match=r"unknown profile 'fast' \(from AELIB_PROFILE='fast'\): expected one of 'full', 'cpu', 'quick'",
    ):
        aelib.profile()
    with pytest.raises(ValueError, match=r"unknown profile 'gpu' \(from 'gpu'\)"):
        aelib.profile("gpu")


def test_describe_without_a_gpu_says_what_why_and_how_to_change(no_gpu: None) -> None:
    line = aelib.profile().describe(minutes={"cpu": 3, "full": 15})
    assert "\n" not in line
    assert line.startswith("no GPU: profile 'cpu', 25 epochs on 6,000 training and 1,000 test images (about 3 minutes")
    assert "set AELIB_PROFILE=full for every image (about 15 minutes" in line and "Colab with a GPU" in line


def test_describe_with_a_gpu_offers_the_cpu_profile_and_leaves_out_unknown_minutes(a_gpu: None) -> None:
    line = aelib.profile().describe()
    assert line == (
        "GPU found: profile 'full', 25 epochs on every training and test image; "
        "set AELIB_PROFILE=cpu for fewer images, or quick for a smoke test"
    )


def test_describe_names_the_variable_that_chose_quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AELIB_PROFILE", "quick")
    line = aelib.profile().describe(minutes={"cpu": 3})
    assert line.startswith("AELIB_PROFILE=quick: profile 'quick', 2 epochs on 1,024 training and 512 test images;")
    assert "smoke test" in line and "unset AELIB_PROFILE" in line and "minutes" not in line


PROBE = """
import json, os, pathlib

def test_probe():
    cache = pathlib.Path(os.environ["AELIB_CACHE"])
    empty = cache.is_dir() and not any(cache.iterdir())
    seen = {"profile": os.environ["AELIB_PROFILE"], "cache": str(cache), "empty": empty}
    pathlib.Path(os.environ["PROBE_OUT"]).write_text(json.dumps(seen))
"""


def run_probe(tmp_path: Path, *options: str) -> dict:
    """Run a one-test session under this suite's conftest.py (stale settings in the environment); return what it saw."""
    (tmp_path / "conftest.py").write_text((Path(__file__).parent / "conftest.py").read_text())
    (tmp_path / "test_probe.py").write_text(PROBE)
    stale = tmp_path / "stale-cache"
    stale.mkdir(exist_ok=True)
    (stale / "old-model.pt").write_bytes(b"stale")
    out = tmp_path / "seen.json"
    tests = str(Path(__file__).parent)  # where the copied conftest.py finds what it imports from beside itself
    env = dict(os.environ, AELIB_PROFILE="full", AELIB_CACHE=str(stale), PROBE_OUT=str(out))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")]))
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:xdist",
        "-p",
        "no:cacheprovider",
        *options,
        str(tmp_path / "test_probe.py"),
    ]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(out.read_text())


def test_the_test_suite_takes_profile_cpu_and_a_fresh_cache_it_removes_afterwards(tmp_path: Path) -> None:
    seen = run_probe(tmp_path, "--profile", "cpu")
    assert seen["profile"] == "cpu"
    assert seen["empty"] and Path(seen["cache"]) != tmp_path / "stale-cache"
    assert not Path(seen["cache"]).exists(), "the session's cache folder is removed at its end"
    assert (tmp_path / "stale-cache" / "old-model.pt").read_bytes() == b"stale", "the user's own cache is left alone"


class FakeConfig:
    """Just what the suite's pytest_configure reads from a pytest.Config."""

    def __init__(self) -> None:
        self.cleanups: list = []

    def getoption(self, name: str) -> None:
        return None  # no --profile given

    def add_cleanup(self, cleanup) -> None:
        self.cleanups.append(cleanup)


@pytest.mark.parametrize(("cuda", "expected"), [(True, "full"), (False, "quick")])
def test_the_test_suite_defaults_to_full_with_cuda_and_quick_without(
    monkeypatch: pytest.MonkeyPatch, cuda: bool, expected: str
) -> None:
    spec = importlib.util.spec_from_file_location("suite_conftest", Path(__file__).parent / "conftest.py")
    suite = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    for name, stale in [("AELIB_PROFILE", "cpu"), ("AELIB_CACHE", "stale-cache"), ("AELIB_PROGRESS", "0")]:
        monkeypatch.setenv(name, stale)  # and restored afterwards
    config = FakeConfig()
    suite.pytest_configure(config)
    assert os.environ["AELIB_PROFILE"] == expected and os.environ["AELIB_CACHE"] != "stale-cache"
    for cleanup in config.cleanups:
        cleanup()
