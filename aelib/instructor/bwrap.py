"""The bubblewrap command line of a sandboxed run: its namespaces, its user, and what is mounted where."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["bwrap_command", "python_folders", "NOBODY", "INSIDE", "DATA_INSIDE"]

NOBODY = 65534
INSIDE = Path("/scratch")  # where the scratch folder appears inside the sandbox
DATA_INSIDE = Path("/data")  # and the datasets


def bwrap_command(
    argv: list[str],
    scratch: Path,
    env: dict[str, str],
    *,
    data: Path,
    datasets: list[Path],
    gpu: list[str],
    root_user: bool,
) -> list[str]:
    """Return `argv` wrapped in bubblewrap, with the mounts, namespaces and user that `sandbox` describes.

    `data` is the folder of offline data, `datasets` the raw dataset folders bound below
    it, `gpu` the NVIDIA device nodes to bind in; as root, the run drops to nobody.
    """
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
    if not root_user:
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
    for path in python_folders():
        mount("--ro-bind", path, path)
    # /data is a folder of the sandbox's own root, with the data's files bound in one by one:
    # bound as a whole (read-only), it would leave no place to bind the datasets' folders.
    args.extend(["--perms", "0755", "--dir", str(DATA_INSIDE)])
    made.add(str(DATA_INSIDE))
    for item in sorted(data.iterdir()):
        mount("--ro-bind", item, DATA_INSIDE / item.name)
    for raw in datasets:
        mount("--ro-bind", raw, DATA_INSIDE / raw.parent.name / "raw")
    mount("--bind", scratch, INSIDE)
    args += ["--proc", "/proc", "--dev", "/dev"]
    for device in gpu:
        args += ["--dev-bind", device, device]
    if gpu and os.path.isdir("/sys"):
        mount("--ro-bind", "/sys", "/sys")
    args += ["--remount-ro", "/", "--chdir", str(INSIDE / "work"), "--clearenv"]
    for name, value in env.items():
        args += ["--setenv", name, value]
    if root_user:  # drop to nobody on the host too, with no capabilities left
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


def python_folders() -> list[Path]:
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
