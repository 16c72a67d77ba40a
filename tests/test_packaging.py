"""Packaging: loose ranges in pyproject that the exact pins of constraints.txt satisfy, mirrored by environment.yml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement

from prepare_env import IPYWIDGETS_7

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return Requirement(requirement).name.lower().replace("_", "-")


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


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for extra in project["optional-dependencies"].values() for r in extra]
    return [Requirement(r) for r in project["dependencies"] + extras]


def test_environment_yml_mirrors_constraints():
    assert _environment_pins() == _constraints()


@pytest.mark.parametrize("requirement", _declared(), ids=str)
def test_each_dependency_has_a_range_that_its_pin_satisfies(requirement: Requirement):
    pins = _constraints()
    name = _name(str(requirement))
    assert name in pins, f"add an exact pin for {name} to constraints.txt and environment.yml"
    assert not any(spec.operator == "==" for spec in requirement.specifier), "pyproject declares ranges, not pins"
    assert any(spec.operator == ">=" for spec in requirement.specifier), "a lower bound says what is known to work"
    assert requirement.specifier.contains(pins[name], prereleases=True), (
        f"the pin {name}=={pins[name]} is outside {requirement}"
    )


def test_ipywidgets_range_admits_colabs_7_and_the_pinned_8():
    (ipywidgets,) = [r for r in _declared() if r.name == "ipywidgets"]
    for version in [*IPYWIDGETS_7, _constraints()["ipywidgets"]]:  # the versions test_widgets_compat.py runs
        assert ipywidgets.specifier.contains(version), f"ipywidgets {version} is tested but not allowed by {ipywidgets}"
