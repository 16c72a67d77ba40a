"""Packaging: loose ranges in pyproject, exact pins in constraints.txt, mirrored by environment.yml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[_name(name)] = version
    return pins


def _environment_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"\s+- ([A-Za-z0-9_.\-]+)==(\S+)$", line)
        if m:
            pins[_name(m.group(1))] = m.group(2)
    return pins


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_mirrors_constraints():
    assert _environment_pins() == _constraints()


def test_every_declared_dependency_is_pinned_for_ci():
    project = _pyproject()["project"]
    declared = list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values() for r in extra]
    missing = {_name(r) for r in declared} - set(_constraints())
    assert not missing, f"add exact pins for {sorted(missing)} to constraints.txt and environment.yml"


def test_colab_friendly_ranges():
    deps = {_name(r): r for r in _pyproject()["project"]["dependencies"]}
    assert "==" not in " ".join(deps.values()), "the package itself must not pin exact versions"
    assert deps["torch"] == "torch>=2.2"
    assert "<9" in deps["ipywidgets"] and ">=7" in deps["ipywidgets"]
    assert _pyproject()["project"]["requires-python"] == ">=3.10"


def test_lecture_pins():
    pins = _constraints()
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    assert pins["jupyter-book"] == "1.0.4.post1" and "nbval" in pins
