"""Seeding and device selection, shared by every lecture (introduced in lecture 1)."""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["set_seed", "get_device"]


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
