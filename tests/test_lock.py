"""requirements.lock installs with pip on every platform and Python we support: PyPI has a wheel there for each pin.

`pip install --dry-run --platform P --python-version V -r requirements.lock` cannot tell from here: pip evaluates the
lock's markers for the interpreter that runs it, not for P and V (it wants tensorflow-cpu on macOS); it takes
`--platform manylinux_2_28_x86_64` literally, without the older manylinux tags that a glibc 2.28 system installs
too; and the venv's pip 23 downloads every wheel to read its metadata (about 500 MB, a minute and 30 s of CPU per
platform and Python, here). So the slow test does what pip's finder would do there: it evaluates the markers with
`packaging` and looks in PyPI's index (pypi.org itself, whatever pip is set up with) for a file of each pinned version
whose wheel tags and Requires-Python the target accepts. It needs the network, and reads each project's index once.
"""

import json
import re
import ssl
import time
import tomllib
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from conftest import REPOSITORY
from packaging import tags
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

LOCK = REPOSITORY / "requirements.lock"
PYPI = "https://pypi.org/simple"


def manylinux(arch: str, glibc_minor: int) -> tuple[str, ...]:
    """The manylinux platform tags that pip installs on a glibc 2.`glibc_minor` system, newest first."""
    oldest = 5 if arch == "x86_64" else 17  # manylinux1 was x86 only; aarch64 starts at manylinux2014
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    platforms = []
    for minor in range(glibc_minor, oldest - 1, -1):
        platforms.append(f"manylinux_2_{minor}_{arch}")
        if minor in legacy and (arch == "x86_64" or minor == 17):
            platforms.append(f"{legacy[minor]}_{arch}")
    return tuple(platforms)


@dataclass(frozen=True)
class Platform:
    name: str  # the test ids'
    label: str  # the failure messages'
    sys_platform: str
    platform_machine: str
    wheel_platforms: tuple[str, ...]  # wheel platform tags it installs


# The oldest systems the lock installs on: pyarrow 25.0.1 has manylinux_2_28 wheels only (tensorflow 2.21.0 needs
# 2.27); tensorflow, ai-edge-litert, pyarrow, scipy and scikit-learn need macOS 12 on arm64.
PLATFORMS = (
    Platform("linux-x86_64", "Linux x86-64 (glibc 2.28+)", "linux", "x86_64", manylinux("x86_64", 28)),
    Platform("macos-arm64", "macOS arm64 (12+)", "darwin", "arm64", tuple(tags.mac_platforms((12, 0), "arm64"))),
    Platform("linux-aarch64", "Linux aarch64 (glibc 2.28+)", "linux", "aarch64", manylinux("aarch64", 28)),
)
# Not 3.14: tensorflow(-cpu) 2.21.0 and h5py 3.14.0 have no cp314 wheels.
PYTHONS = ("3.11", "3.12", "3.13")
TARGETS = [pytest.param(p, v, id=f"{p.name}-py{v}") for p in PLATFORMS for v in PYTHONS]

# Pins that PyPI has as source only, which pip builds on any platform (pure Python).
SOURCE_ONLY = {"antlr4-python3-runtime"}  # 4.9.3, which hydra-core (for dvc) pins to 4.9.*


def marker_environment(platform: Platform, python: str) -> dict[str, str]:
    """What environment markers see in CPython `python` (X.Y) on `platform`."""
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{python}.0",
        "os_name": "posix",
        "platform_machine": platform.platform_machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": {"linux": "Linux", "darwin": "Darwin"}[platform.sys_platform],
        "platform_version": "",
        "python_full_version": f"{python}.0",
        "python_version": python,
        "sys_platform": platform.sys_platform,
    }


def lock_pins() -> list[Requirement]:
    """The lock's requirement lines (`name==version ; markers`), without uv's comments."""
    lines = (line.strip() for line in LOCK.read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("#")]


def pins_for(platform: Platform, python: str) -> dict[str, Version]:
    """The version the lock pins for each package that `pip install -r` installs on `platform` with `python`."""
    environment = marker_environment(platform, python)
    pins = {}
    for requirement in lock_pins():
        if requirement.marker is None or requirement.marker.evaluate(environment):
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"requirements.lock: {requirement} is not an exact pin"
            pins[canonicalize_name(requirement.name)] = Version(specifier.version)
    return pins


def accepted_tags(platform: Platform, python: str) -> set[tags.Tag]:
    """The wheel tags that pip on CPython `python` on `platform` installs."""
    version = tuple(int(part) for part in python.split("."))
    interpreter = f"cp{version[0]}{version[1]}"
    return {
        *tags.cpython_tags(version, [interpreter], platform.wheel_platforms),
        *tags.compatible_tags(version, interpreter, platform.wheel_platforms),
    }


def _https_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    try:
        import certifi  # what pip trusts, for Pythons that come without the system's certificates (macOS)

        context.load_verify_locations(certifi.where())
    except ImportError:
        pass
    return context


def project_files(name: str, context: ssl.SSLContext) -> list[dict]:
    """The files of every release of `name` in PyPI's simple index (PEP 691 JSON); none if PyPI has no `name`."""
    request = urllib.request.Request(f"{PYPI}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    for attempt in range(1, 4):
        try:
            with urllib.request.urlopen(request, timeout=60, context=context) as response:
                return json.load(response)["files"]
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return []
            if attempt == 3:
                raise
        except (OSError, ValueError):  # a dropped connection or a page cut short: try again, twice
            if attempt == 3:
                raise
        time.sleep(attempt)
    return []


def release_files(files: list[dict], version: Version) -> list[dict]:
    """Those of `files` (the index's) that belong to `version`, with "tags" (a wheel's) or None (the source)."""
    found = []
    for file in files:
        filename = file["filename"]
        try:
            if filename.endswith(".whl"):
                _, file_version, _, file_tags = parse_wheel_filename(filename)
            else:
                (_, file_version), file_tags = parse_sdist_filename(filename), None
        except (ValueError, InvalidVersion):  # eggs, installers and malformed names of old releases
            continue
        if file_version == version:
            found.append({**file, "tags": file_tags})
    return found


@pytest.fixture(scope="module")
def pypi_files() -> dict[tuple[str, Version], list[dict]]:
    """PyPI's files of each version the lock pins for a supported platform, by (name, version); fetched 8 at a time."""
    wanted = {pin for platform in PLATFORMS for python in PYTHONS for pin in pins_for(platform, python).items()}
    context = _https_context()
    with ThreadPoolExecutor(max_workers=8) as pool:
        pages = dict(zip(wanted, pool.map(lambda pin: project_files(pin[0], context), wanted)))
    return {pin: release_files(files, pin[1]) for pin, files in pages.items()}


def installable(file: dict, accepted: set[tags.Tag], python: str, name: str) -> bool:
    """Whether pip on that target would take `file`: a wheel with an accepted tag, or the source of a SOURCE_ONLY pin,
    with a Requires-Python that admits `python` (pip ignores one it cannot parse)."""
    if (file["tags"] is None and name not in SOURCE_ONLY) or (file["tags"] is not None and not file["tags"] & accepted):
        return False
    try:
        return SpecifierSet(file.get("requires-python") or "").contains(f"{python}.0")
    except InvalidSpecifier:
        return True


def what_pypi_has(files: list[dict], platform: Platform) -> str:
    """A short account of `files` for a failure message: the Pythons of the wheels, the platform tags of those for
    `platform`'s system and processor, and whether there is the source."""
    wheels = [tag for file in files if file["tags"] is not None for tag in file["tags"]]
    if platform.sys_platform == "darwin":
        kin = {tag.platform for tag in wheels if re.fullmatch(r"macosx_\d+_\d+_(arm64|universal2)", tag.platform)}
    else:
        kin = {
            tag.platform for tag in wheels if re.fullmatch(rf"\w*linux\w*_{platform.platform_machine}", tag.platform)
        }
    parts = []
    if wheels:
        interpreters = " ".join(sorted({tag.interpreter for tag in wheels}, key=lambda text: (len(text), text)))
        where = ", ".join(sorted(kin)) if kin else f"none for {platform.label.split(' (')[0]}"
        parts.append(f"wheels for {interpreters} ({where})")
    if any(file["tags"] is None for file in files):
        parts.append("the source")
    return " and ".join(parts) or "no files of that version"


@pytest.mark.slow
@pytest.mark.parametrize(("platform", "python"), TARGETS)
def test_pip_finds_a_wheel_for_every_pin(platform, python, pypi_files):
    """`pip install -r requirements.lock` on that platform with that Python finds every pinned version on PyPI as a
    wheel it can install there (or as source for the pure-Python SOURCE_ONLY ones): none fails with "No matching
    distribution found"."""
    accepted = accepted_tags(platform, python)
    missing = []
    for name, version in sorted(pins_for(platform, python).items()):
        files = pypi_files[name, version]
        if not any(installable(file, accepted, python, name) for file in files):
            missing.append(f"  {name}=={version}: PyPI has {what_pypi_has(files, platform)}")
    assert not missing, (
        f"pip install -r requirements.lock fails on {platform.label} with Python {python}: no wheel there for\n"
        + "\n".join(missing)
    )


@pytest.mark.parametrize(("platform", "python"), TARGETS)
def test_the_lock_pins_what_pyproject_asks_for(platform, python):
    """Every dependency in pyproject.toml (dev extras included) that applies to that platform and Python is in the lock,
    at the version pyproject.toml asks for: requirements.lock was remade after pyproject.toml last changed."""
    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    environment = marker_environment(platform, python)
    pins = pins_for(platform, python)
    wrong = []
    for requirement in map(Requirement, wanted):
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None or not requirement.specifier.contains(pinned, prereleases=True):
            wrong.append(f"  {requirement.name}{requirement.specifier}: the lock has {pinned or 'nothing'}")
    assert not wrong, (
        f"requirements.lock on {platform.label} with Python {python} is not pyproject.toml's:\n" + "\n".join(wrong)
    )
