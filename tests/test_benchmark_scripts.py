"""The two timing scripts run end to end offline and write what they print: `make bench` and `make time-lectures`."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import nbformat
import pytest

import aelib


def test_bench_quick_run_prints_and_writes_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], load_benchmark: Callable[[str], ModuleType]
) -> None:
    bench = load_benchmark("bench_training")
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "--models", "fc5", "--epochs", "2", "--device", "cpu", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "lecture loop" in printed and "train_autoencoder" in printed and "matrix-multiply peak" in printed
    report = json.loads(out.read_text())
    assert report["num_images"] == 2048 and report["epochs_timed"] == 2
    (result,) = report["results"]
    assert result["device"] == "cpu" and result["mm_peak_gflops"] > 0
    lecture, fast, together = result["rows"]
    assert (lecture["path"], fast["path"], together["path"]) == (
        "lecture loop",
        "train_autoencoder",
        "train_together, per model",
    )
    assert together["speedup_over_train_autoencoder"] == pytest.approx(fast["epoch_s"] / together["epoch_s"])
    assert len(fast["epoch_times_s"]) == 2 and all(t > 0 for t in fast["epoch_times_s"])
    assert fast["speedup"] == pytest.approx(lecture["epoch_s"] / fast["epoch_s"])
    assert fast["target"] == ">= 8x" and lecture["target"] is None


def _notebook(path: Path, *sources: str) -> Path:
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources]), path)
    return path


def test_time_lectures_times_each_notebook_and_reports_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], load_benchmark: Callable[[str], ModuleType]
) -> None:
    timer = load_benchmark("time_lectures")
    good = _notebook(
        tmp_path / "good.ipynb",
        "import os\nassert os.environ['AELIB_PROFILE'] == 'quick'",
        "import time\ntime.sleep(0.2)",
    )
    bad = _notebook(tmp_path / "bad.ipynb", "raise RuntimeError('broken on purpose')")
    out = tmp_path / "times.json"
    aelib_environ = {k: v for k, v in os.environ.items() if k.startswith("AELIB_")}  # torchvision's import sets its own
    assert (
        timer.main([str(good), str(bad), "--as-found", "--profile", "quick", "--out", str(out)]) == 1
    )  # a failure is an exit status
    report = json.loads(out.read_text())
    assert report["profile"] == "quick" and report["mnist"] == aelib.load_mnist(download=False, verbose=False).source
    good_result, bad_result = report["results"]
    assert good_result["error"] is None and good_result["seconds"] >= 0.2
    assert good_result["slowest_cells"][0]["cell"] == 1  # the sleeping cell
    assert "broken on purpose" in bad_result["error"]
    assert nbformat.read(good, as_version=4).cells[0].outputs == [], "the notebook itself must not be touched"
    assert "FAILED" in capsys.readouterr().out
    assert {k: v for k, v in os.environ.items() if k.startswith("AELIB_")} == aelib_environ, (
        "the profile and data folder go to the kernels, not into this process"
    )


def _cache_probe(log: Path) -> str:
    """A notebook cell that logs what it finds in its model cache, then fills it; a cold run (empty cache) is slow."""
    return (
        "import json, os, pathlib, time\n"
        "cache = pathlib.Path(os.environ['AELIB_CACHE'])\n"
        "seen = {'cache': str(cache), 'cold': not any(cache.iterdir()), 'profile': os.environ['AELIB_PROFILE'], "
        "'retrain': os.environ.get('AELIB_RETRAIN')}\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(json.dumps(seen) + '\\n')\n"
        "(cache / 'model.pt').write_text('trained')\n"
        "time.sleep(0.5 if seen['cold'] else 0)"
    )


def test_time_lectures_warm_runs_each_notebook_twice_on_a_fresh_cache_of_its_own(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    load_benchmark: Callable[[str], ModuleType],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    timer = load_benchmark("time_lectures")
    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / "old.pt").write_text("stale")
    monkeypatch.setenv("AELIB_CACHE", str(stale))
    monkeypatch.setenv("AELIB_RETRAIN", "1")
    log = tmp_path / "seen.jsonl"
    first, second = (_notebook(tmp_path / f"{name}.ipynb", _cache_probe(log)) for name in ("first", "second"))
    out = tmp_path / "times.json"
    assert timer.main([str(first), "--as-found", "--profile", "cpu", "--out", str(out)]) == 0
    assert "warm" not in json.loads(out.read_text())["results"][0]
    assert timer.main([str(first), str(second), "--as-found", "--profile", "cpu", "--warm", "--out", str(out)]) == 0

    seen = [json.loads(line) for line in log.read_text().splitlines()]
    assert [s["cold"] for s in seen] == [True, True, False, True, False], "cold alone; then cold, warm for each"
    assert seen[1]["cache"] == seen[2]["cache"] and seen[3]["cache"] == seen[4]["cache"]
    assert len({s["cache"] for s in seen}) == 3 and str(stale) not in {s["cache"] for s in seen}
    assert not any(Path(s["cache"]).exists() for s in seen), "the caches are temporary"
    assert {(s["profile"], s["retrain"]) for s in seen} == {("cpu", None)}, "AELIB_RETRAIN would make the warm run cold"
    report = json.loads(out.read_text())
    assert report["profile"] == "cpu" and report["warm"] is True
    for result in report["results"]:
        cold, warm = result["slowest_cells"][0]["seconds"], result["warm"]["slowest_cells"][0]["seconds"]
        assert cold >= 0.5 > warm and result["warm"]["error"] is None
        assert result["warm_ratio"] == pytest.approx(result["warm"]["seconds"] / result["seconds"])
    assert "warm/cold" in capsys.readouterr().out
