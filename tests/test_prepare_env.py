"""The set-up step of `make test` gets Fashion-MNIST, or stops before any test with both fixes named.

No network and no apt-get here: torchvision's download fails as it does offline, and
the Debian install is replaced by a stand-in that writes the package's files.
"""

from __future__ import annotations

import urllib.error
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch

import aelib
import prepare_env
from aelib import data as data_module


@pytest.fixture
def small_fashion(tmp_path: Path) -> aelib.ImageData:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (16, 1, 28, 28), generator=generator).float().div(255)  # (N, 1, 28, 28)
    labels = torch.arange(16) % 10
    return aelib.ImageData("Fashion-MNIST", images[:12], labels[:12], images[12:], labels[12:], "")


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No data on disk, no Debian files, and torchvision's download failing as it does without a network."""
    from torchvision import datasets

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(datasets, "FashionMNIST", no_network)
    monkeypatch.setenv("AELIB_DATA", str(tmp_path / "data"))
    debian = tmp_path / "debian"
    monkeypatch.setattr(data_module, "DEBIAN_FASHION_MNIST", debian)
    return debian


def test_installs_debian_package_when_allowed(
    offline: Path,
    small_fashion: aelib.ImageData,
    monkeypatch: pytest.MonkeyPatch,
    load_benchmark: Callable[[str], ModuleType],
) -> None:
    installed = []

    def install(apt: list[str]) -> bool:
        installed.append(apt)
        raw = load_benchmark("idx_files").save_idx_copy(small_fashion, offline.parent, "package")
        raw.rename(offline)  # Debian's package has the four files in one folder
        return True

    monkeypatch.setattr(prepare_env, "apt_get", lambda: ["apt-get"])
    monkeypatch.setattr(prepare_env, "install_debian_package", install)
    data = prepare_env.get_fashion_mnist()
    assert installed == [["apt-get"]]
    assert "dataset-fashion-mnist" in data.source
    assert torch.equal(data.test_labels, small_fashion.test_labels)


def test_data_already_there_installs_nothing(
    offline: Path,
    small_fashion: aelib.ImageData,
    monkeypatch: pytest.MonkeyPatch,
    load_benchmark: Callable[[str], ModuleType],
) -> None:
    load_benchmark("idx_files").save_idx_copy(small_fashion, offline.parent / "data", "FashionMNIST")
    monkeypatch.setattr(prepare_env, "apt_get", lambda: pytest.fail("nothing to install"))
    assert "local copy" in prepare_env.get_fashion_mnist().source


@pytest.mark.parametrize("apt", [None, ["apt-get"]], ids=["not-allowed", "install-failed"])
def test_stops_naming_both_fixes(offline: Path, monkeypatch: pytest.MonkeyPatch, apt: list[str] | None) -> None:
    monkeypatch.setattr(prepare_env, "apt_get", lambda: apt)
    monkeypatch.setattr(prepare_env, "install_debian_package", lambda apt: False)
    with pytest.raises(SystemExit) as stop:
        prepare_env.get_fashion_mnist()
    message = str(stop.value.code)
    assert message.startswith("Cannot run the tests: Fashion-MNIST")
    assert "connect this machine to the network" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert ("may not install" in message) == (apt is None)
