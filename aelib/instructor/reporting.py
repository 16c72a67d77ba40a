"""Reporting: the score of each submission, as a terminal table and a CSV written atomically."""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Score", "write_csv", "format_table", "exercise_key"]


@dataclass
class Score:
    """The grade of one submission: points per exercise (out of `max_points`) and the reasons for lost points."""

    submission: str
    lecture: str = ""
    points: dict[str, float] = field(default_factory=dict)
    max_points: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> float:
        return sum(self.points.values())

    @property
    def max_total(self) -> float:
        return sum(self.max_points.values())


def _fmt(points: float) -> str:
    return f"{points:g}"


def exercise_key(exercise: str) -> tuple:
    """Sort "1.2" before "1.10", and numbers before names."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"[.\s]", exercise))


def _safe(cell: str) -> str:
    """Keep a spreadsheet from reading a cell as a formula (a file name or a message may start with = + - @)."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def _rows(scores: list[Score]) -> tuple[list[str], list[list[str]]]:
    exercises = sorted({e for s in scores for e in s.max_points}, key=exercise_key)
    header = ["submission", "lecture", *exercises, "total", "max", "reason"]
    rows = []
    for s in scores:
        cells = [_fmt(s.points[e]) if e in s.points else "" for e in exercises]
        rows.append([s.submission, s.lecture, *cells, _fmt(s.total), _fmt(s.max_total), "; ".join(s.reasons)])
    return header, rows


def write_csv(scores: list[Score], out: str | Path) -> None:
    """Write one row per submission (lecture, points per exercise, total, maximum, reasons), atomically.

    The file appears complete or not at all: it is written beside `out` under another
    name, then renamed.
    """
    header, rows = _rows(scores)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([[_safe(cell) for cell in row] for row in rows])
    out = Path(out)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(buffer.getvalue())
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def format_table(scores: list[Score]) -> str:
    """Return the scores as an aligned text table (the CSV's columns)."""
    header, rows = _rows(scores)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, ["-" * w for w in widths] + ["-" * 6], *rows]:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    return "\n".join(line.rstrip() for line in lines)
