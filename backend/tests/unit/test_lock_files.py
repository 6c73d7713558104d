"""requirements.lock (the image) and constraints/ops-pins.txt (OPS's pins) agree with each other and with pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from test_deploy_files import instructions, newest_supported_python

REPO_ROOT = Path(__file__).resolve().parents[3]
LOCK = REPO_ROOT / "requirements.lock"
CONSTRAINTS = REPO_ROOT / "constraints" / "ops-pins.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?\s*$")


def pins(path: Path) -> dict[str, tuple[str, str | None]]:
    """name -> (version, marker) for every `name==version` line; hashes, comments and blanks skipped."""
    found: dict[str, tuple[str, str | None]] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "--hash")):
            continue
        match = PIN.match(stripped)
        assert match, f"{path.name}:{number}: not a name==version pin: {line!r}"
        name = canonicalize_name(match[1])
        assert name not in found, f"{path.name}:{number}: {name} pinned twice"
        found[name] = (match[2], match[3])
    return found


def pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def test_the_lock_and_ops_constraints_pin_every_shared_library_to_the_same_version():
    locked, constrained = pins(LOCK), pins(CONSTRAINTS)
    shared = sorted(set(locked) & set(constrained))
    assert {"flask", "sqlalchemy", "alembic", "psycopg2-binary", "flask-jwt-extended", "werkzeug"} <= set(shared)
    disagree = {name: (locked[name][0], constrained[name][0]) for name in shared if locked[name][0] != constrained[name][0]}
    assert disagree == {}, f"lock vs OPS constraints: {disagree}"


def test_every_locked_version_carries_a_hash():
    lines = [line.strip() for line in LOCK.read_text().splitlines()]
    for number, line in enumerate(lines):
        if PIN.match(line):
            assert line.endswith("\\") and lines[number + 1].startswith("--hash=sha256:"), line


def test_the_lock_holds_every_runtime_dependency_within_its_declared_range():
    locked = pins(LOCK)
    project = pyproject()["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["psycopg2"]]
    for text in declared:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is declared but not locked"
        assert requirement.specifier.contains(locked[name][0], prereleases=True), (name, locked[name][0], str(requirement.specifier))
        for extra in requirement.extras:  # psycopg[binary] brings psycopg-binary
            assert canonicalize_name(f"{name}-{extra}") in locked, f"{name}[{extra}]"


def test_the_lock_is_compiled_for_the_python_of_the_image():
    header = LOCK.read_text().split("\n\n", 1)[0]
    compiled_for = re.search(r"--python-version\s+(3\.\d+)", header)
    assert compiled_for, "the lock's header must name --python-version"
    assert compiled_for[1] == newest_supported_python()
    assert instructions("FROM") == [f"python:{compiled_for[1]}-slim"]
    assert "-c constraints/ops-pins.txt" in header and "--generate-hashes" in header


@pytest.mark.parametrize("python", ["3.11", "3.14"])
def test_the_declared_pythons_run_from_the_oldest_supported_to_ops_python(python):
    assert SpecifierSet(pyproject()["project"]["requires-python"]).contains(python)
    assert f"Programming Language :: Python :: {python}" in pyproject()["project"]["classifiers"]
