"""The installed snnTorch and Norse lie in the ranges pyproject.toml pins (the tested ones).

stdbp_plugin.snntorch builds on snnTorch's private ``LIF`` base class; a new major version of
either framework may change what the drop-in neurons rely on, so this test fails loudly until
the suite has been run against it and the pin widened.
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")
from packaging.requirements import Requirement  # noqa: E402
from packaging.version import Version  # noqa: E402

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def pinned(name: str) -> Requirement:
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    return Requirement(extras[name][0])


@pytest.mark.parametrize("name", ["snntorch", "norse"])
def test_pin_has_an_upper_major_bound(name):
    req = pinned(name)
    assert req.name == name
    uppers = [s for s in req.specifier if s.operator == "<"]
    assert uppers and re.fullmatch(r"\d+", uppers[0].version), (
        f"pyproject.toml must bound {name} below the next untested major version, got {req}"
    )


@pytest.mark.parametrize("name", ["snntorch", "norse"])
def test_installed_version_is_a_tested_one(name):
    try:
        installed = Version(importlib.metadata.version(name))
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{name} is not installed")
    req = pinned(name)
    assert req.specifier.contains(installed, prereleases=True), (
        f"{name} {installed} is outside the tested range {req.specifier} in pyproject.toml: "
        f"stdbp_plugin's {name} face has not been tested with it. Run the test suite against "
        f"it, then widen the pin (or pin {name}{req.specifier})."
    )


def test_the_check_rejects_a_new_major():
    """The range check itself: the next major version of each framework falls outside."""
    for name in ("snntorch", "norse"):
        spec = pinned(name).specifier
        upper = next(s for s in spec if s.operator == "<")
        assert not spec.contains(Version(upper.version), prereleases=True)
