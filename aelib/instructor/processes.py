"""The processes of a sandboxed run: its tree in /proc, the memory it holds, how to end it, how to read its output."""

from __future__ import annotations

import os
import signal
import subprocess

__all__ = ["children", "held_memory", "kill_tree", "drain", "OUTPUT_CAP"]

OUTPUT_CAP = 4 * 2**20  # bytes of pytest's output and of the records kept


def children(pid: int) -> list[int]:
    """Return the pids of the descendants of `pid`, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(stat[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def held_memory(pid: int) -> int:
    """Return the memory a process holds: its proportional set size, or its resident set if that is unreadable."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def kill_tree(proc: subprocess.Popen) -> None:
    """Kill a run and everything it started: the sandbox's PID namespace ends with bwrap; without one, the tree."""
    for pid in [proc.pid, *children(proc.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def drain(stream, chunks: list[bytes]) -> None:
    """Read a pipe to its end, keeping at most OUTPUT_CAP bytes (the last ones)."""
    kept = 0
    for chunk in iter(lambda: stream.read(65536), b""):
        chunks.append(chunk)
        kept += len(chunk)
        while kept > OUTPUT_CAP and len(chunks) > 1:
            kept -= len(chunks.pop(0))
    stream.close()
