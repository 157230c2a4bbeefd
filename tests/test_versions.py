"""The installed Ray and Optuna lie inside the ranges pyproject.toml declares as tested."""

from __future__ import annotations

import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser as the tomli package, where it is installed
    tomllib: Any = pytest.importorskip("tomli")

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
# The libraries whose private structures hpo._compat reads: bounded on both sides.
BOUNDED = ("ray", "optuna")


def _requirements() -> dict[str, Requirement]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    texts = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        texts.extend(t for t in extra if not t.startswith("hpo["))
    found: dict[str, Requirement] = {}
    for text in texts:
        req = Requirement(text)
        if req.name.lower() in BOUNDED:
            # Several extras may name one library (ray[tune], ray[default,tune]), always
            # with one tested range.
            earlier = found.get(req.name.lower())
            assert earlier is None or earlier.specifier == req.specifier, \
                f"{req.name} is declared with two ranges: {earlier} and {req}"
            found[req.name.lower()] = req
    return found


def test_ray_and_optuna_have_a_tested_range_with_an_upper_bound() -> None:
    reqs = _requirements()
    assert set(reqs) == set(BOUNDED)
    for name, req in reqs.items():
        operators = {spec.operator for spec in req.specifier}
        assert ">=" in operators and "<" in operators, f"{name}: {req.specifier}"


@pytest.mark.parametrize("name", BOUNDED)
def test_the_installed_version_is_inside_the_tested_range(name: str) -> None:
    req = _requirements()[name]
    try:
        installed = version(name)
    except PackageNotFoundError:
        pytest.skip(f"{name} is not installed")
    assert req.specifier.contains(installed, prereleases=True), (
        f"{name} {installed} is outside the tested range {req.specifier} in pyproject.toml: "
        "run the suite (tests/compat first) on it, then move the bound")
    assert re.match(r"\d+\.\d+", installed)
