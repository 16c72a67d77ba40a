"""Write a dataset as IDX files in torchvision's layout, for the timing scripts (and the data tests).

`aelib.load_mnist(root)` and torchvision's `datasets.MNIST(root)` both read the
result as a local copy.
"""

from __future__ import annotations

from pathlib import Path

import torch

import aelib

SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def save_idx_copy(data: aelib.ImageData, root: str | Path, torchvision_name: str) -> Path:
    """Write `data` as the four IDX files under `root/torchvision_name/raw`; return that folder.

    Images in [0, 1] are stored as bytes (x 255, rounded), labels as bytes.
    """
    raw = Path(root) / torchvision_name / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split, (images_name, labels_name) in SPLITS.items():
        images = getattr(data, f"{split}_images")  # (N, 1, 28, 28)
        images = (images * 255).round().to(torch.uint8).reshape(-1, 28, 28).numpy()  # (N, 28, 28)
        labels = getattr(data, f"{split}_labels").to(torch.uint8).numpy()  # (N,)
        aelib.write_idx(raw / images_name, images)
        aelib.write_idx(raw / labels_name, labels)
    return raw
