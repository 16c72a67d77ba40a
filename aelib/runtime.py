"""Seeding and device selection, shared by every lecture (introduced in lecture 1).

Importing this module (which `aelib.set_seed`, the first call of every lecture, does) also
makes the CPU flush denormal floats to zero. In a long training run the weights of dead
code units and of always-black border pixels decay below float32's normal range (about
1e-38); a CPU multiplies such numbers many times slower, and lecture 1's sweep at the
`full` profile got slower epoch by epoch. Flushed, the results are the same to every
printed digit (tests/test_training.py). Worker threads take the setting from the thread
that starts them, so it is made here, before PyTorch's thread pool starts.
"""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["set_seed", "get_device"]

torch.set_flush_denormal(True)  # a no-op (returning False) on processors without the flag


def set_seed(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch (CPU and every GPU) so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def get_device(device: str | torch.device | None = None) -> torch.device:
    """Return `device` as a torch.device; None means the GPU if there is one, else the CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
