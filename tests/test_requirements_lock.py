"""requirements.lock matches pyproject.toml: what the container image installs (with hashes) is what the project
asks for. Checked offline, from the two files and the distributions installed in the test environment.

- every runtime dependency of pyproject.toml is pinned, at a version its range accepts, and marked as coming
  from pyproject.toml;
- every pin is exact (==) and carries sha256 hashes, so `pip --require-hashes` can check each download;
- every pin is needed: following the lock's "via" notes from pyproject.toml reaches every pinned package;
- nothing is missing: each pinned package's own requirements (read from its installed metadata when the installed
  version is the pinned one) are pinned too, at versions they accept;
- the lock was resolved with the Python of the container image.

When a dependency changes, regenerate the lock with the command in docs/development.md.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
PYPROJECT = "askcall (pyproject.toml)"
SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass
class Pin:
    name: str
    version: str
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)


def parse_lock(text: str) -> dict[str, Pin]:
    """The pins of a pip-compile lock: name → version, hashes and the "# via" notes (who needs it)."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    in_via = False
    for line in text.replace("\\\n", " ").splitlines():
        stripped = line.strip()
        if not stripped or (stripped.startswith("#") and current is None):
            continue
        if not line[0].isspace():  # a requirement: name==version --hash=… --hash=…
            requirement, *options = stripped.split(" --")
            name, equals, version = requirement.strip().partition("==")
            assert equals and name and version, f"not an exact pin: {stripped[:80]}"
            key = canonicalize_name(name)
            assert key not in pins, f"{name} is pinned twice"
            hashes = [option.removeprefix("hash=").strip() for option in options if option.startswith("hash=")]
            assert len(hashes) == len(options), f"{name}: options other than --hash: {options}"
            current = pins[key] = Pin(key, version.strip(), hashes)
            in_via = False
        elif stripped.startswith("# via"):
            first = stripped.removeprefix("# via").strip()
            current.via += [first] if first else []
            in_via = True
        elif in_via and stripped.startswith("#   "):
            current.via.append(stripped.removeprefix("#").strip())
    return pins


def runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in project["dependencies"]]


def applies(requirement: Requirement) -> bool:
    """Whether a requirement applies to a plain install (no extras) on this interpreter and platform."""
    return requirement.marker is None or requirement.marker.evaluate({**default_environment(), "extra": ""})


def missing_requirements(pins: dict[str, Pin]) -> tuple[list[str], int]:
    """What pinned packages need but the lock doesn't pin (or pins at a version they refuse), read from the
    metadata of each installed distribution whose version is the pinned one; and how many were checked."""
    missing: list[str] = []
    checked = 0
    for pin in pins.values():
        try:
            installed = metadata.distribution(pin.name)
        except metadata.PackageNotFoundError:
            continue
        if Version(installed.version) != Version(pin.version):
            continue  # another version is installed here: its metadata says nothing about the pinned one
        checked += 1
        for text in installed.requires or []:
            needed = Requirement(text)
            if not applies(needed):
                continue
            found = pins.get(canonicalize_name(needed.name))
            if found is None or not needed.specifier.contains(found.version, prereleases=True):
                missing.append(f"{pin.name}=={pin.version} needs {needed}")
    return missing, checked


@pytest.fixture(scope="module")
def pins() -> dict[str, Pin]:
    return parse_lock(LOCK.read_text())


def test_every_runtime_dependency_is_pinned_within_its_range(pins: dict[str, Pin]) -> None:
    requirements = runtime_requirements()
    assert requirements, "no dependencies found in pyproject.toml"
    for requirement in requirements:
        pin = pins.get(canonicalize_name(requirement.name))
        assert pin is not None, f"{requirement.name} is not in requirements.lock: regenerate it"
        assert requirement.specifier.contains(pin.version, prereleases=True), (
            f"requirements.lock pins {pin.name}=={pin.version}, outside pyproject.toml's {requirement}: regenerate it"
        )
        assert PYPROJECT in pin.via, f"{pin.name}: the lock doesn't say pyproject.toml asks for it"
    direct = {canonicalize_name(r.name) for r in requirements}
    stale = sorted(pin.name for pin in pins.values() if PYPROJECT in pin.via and pin.name not in direct)
    assert stale == [], f"pinned as if pyproject.toml asked for them, but it doesn't: {stale}"


def test_every_pin_is_exact_and_hashed(pins: dict[str, Pin]) -> None:
    for pin in pins.values():
        Version(pin.version)  # a version, not a range or a URL
        assert pin.hashes, f"{pin.name} has no hash"
        assert all(SHA256.match(value) for value in pin.hashes), f"{pin.name}: {pin.hashes}"


def test_every_pin_is_needed(pins: dict[str, Pin]) -> None:
    reached = {PYPROJECT}
    while True:
        more = {pin.name for pin in pins.values() if pin.name not in reached and reached & set(pin.via)}
        if not more:
            break
        reached |= more
    assert sorted(set(pins) - reached) == []
    for pin in pins.values():
        unknown = [parent for parent in pin.via if parent != PYPROJECT and canonicalize_name(parent) not in pins]
        assert unknown == [], f"{pin.name} is pinned for packages the lock doesn't pin: {unknown}"


def test_nothing_a_pinned_package_needs_is_missing(pins: dict[str, Pin]) -> None:
    missing, checked = missing_requirements(pins)
    assert checked, "no pinned version is installed here: nothing could be checked"
    assert missing == [], "requirements.lock is incomplete: regenerate it"


def test_the_completeness_check_finds_a_dropped_pin(pins: dict[str, Pin]) -> None:
    """The check above can fail: without one of the packages aiohttp needs, it says so."""
    dropped = {name: pin for name, pin in pins.items() if name != "yarl"}
    missing, _ = missing_requirements(dropped)
    assert any(line.startswith("aiohttp==") and "needs yarl" in line for line in missing), missing


def test_the_lock_was_resolved_with_the_python_of_the_image() -> None:
    header = re.search(r"autogenerated by pip-compile with Python (\d+\.\d+)", LOCK.read_text())
    assert header, "requirements.lock has no pip-compile header"
    images = re.findall(r"^FROM python:(\d+\.\d+)-", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert images and set(images) == {header.group(1)}
