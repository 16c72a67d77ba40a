"""The caps on one sandboxed run (memory, wall time, file size), and byte counts as people write them."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits", "DEFAULT_LIMITS", "DEFAULT_MEMORY", "DEFAULT_WALL_TIME", "format_bytes", "parse_bytes"]

DEFAULT_MEMORY = 4 * 2**30
DEFAULT_WALL_TIME = 1800.0
FILE_SIZE = 2**30


def format_bytes(n: int) -> str:
    """Return a byte count as the largest unit that keeps it readable: '4 GiB', '512 MiB'."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} B"


def parse_bytes(text: str) -> int:
    """Parse '4G', '4GiB', '512M', '1073741824' into bytes; raise ValueError otherwise."""
    units = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
    cleaned = text.strip().lower().removesuffix("b").removesuffix("i")
    number, unit = (cleaned[:-1], cleaned[-1]) if cleaned[-1:].isalpha() else (cleaned, "")
    value = float(number) * units[unit] if unit in units and number else float("nan")
    if not value >= 2**20:
        raise ValueError(f"expected a size such as 4G or 512M (at least 1M), got {text!r}")
    return int(value)


@dataclass(frozen=True)
class Limits:
    """The caps on one run: memory of all its processes together, wall time, size of each file."""

    memory: int = DEFAULT_MEMORY
    wall_time: float = DEFAULT_WALL_TIME
    file_size: int = FILE_SIZE


DEFAULT_LIMITS = Limits()
