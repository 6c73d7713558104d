"""The folders of backend/ops_api: each says what it owns and may import, and none swallows the package.

Read from the files, never imported.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "ops_api"
# The most of the package's code one folder may hold directly (its own .py files, not its subfolders').
MAX_FOLDER_SHARE = 0.25


def code_lines(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def folder_lines(package: Path) -> dict[str, int]:
    """Non-blank lines of the .py files directly in each folder that holds any, by folder ("ops_api/services/job")."""
    lines: dict[str, int] = {}
    for path in sorted(package.rglob("*.py")):
        folder = path.parent.relative_to(package.parent).as_posix()
        lines[folder] = lines.get(folder, 0) + code_lines(path)
    return lines


def oversized(lines: Mapping[str, int], limit: float = MAX_FOLDER_SHARE) -> list[str]:
    total = sum(lines.values())
    return [
        f"{folder}/ holds {count} of the package's {total} code lines ({count / total:.0%}), more than {limit:.0%}"
        for folder, count in sorted(lines.items())
        if count > limit * total
    ]


def test_no_folder_holds_more_than_a_quarter_of_the_package() -> None:
    lines = folder_lines(PACKAGE)
    assert len(lines) >= 10, lines  # the root, domain, adapters, models, api, devtools, services and its four
    problems = oversized(lines)
    assert not problems, "\n".join(problems)


def test_a_folder_over_the_share_is_named_with_its_figures() -> None:
    lines = {"ops_api": 20, "ops_api/api": 60, "ops_api/domain": 20}
    assert oversized(lines) == ["ops_api/api/ holds 60 of the package's 100 code lines (60%), more than 25%"]
    assert oversized({"ops_api": 25, "ops_api/api": 25, "ops_api/domain": 25, "ops_api/models": 25}) == []


def test_every_folder_of_code_is_a_package_whose_docstring_says_what_it_may_import() -> None:
    folders = sorted({path.parent for path in PACKAGE.rglob("*.py")})
    problems = []
    for folder in folders:
        init = folder / "__init__.py"
        name = folder.relative_to(PACKAGE.parent).as_posix()
        if not init.exists():
            problems.append(f"{name} has no __init__.py")
            continue
        docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        if "May import" not in docstring:
            problems.append(f"{name}/__init__.py's docstring does not say what the package may import")
    assert not problems, "\n".join(problems)


def installed_packages(pyproject: Path) -> set[str]:
    import tomllib

    return set(tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])


def package_folders(package: Path) -> set[str]:
    """Dotted names of every folder of ``package`` that holds an __init__.py."""
    return {
        ".".join(init.parent.relative_to(package.parent).parts)
        for init in package.rglob("__init__.py")
        if "__pycache__" not in init.parts
    }


def test_every_folder_of_the_package_is_installed() -> None:
    # The image installs the project without its source tree: a folder left out of
    # pyproject's list is missing there, though every editable install has it.
    missing = package_folders(PACKAGE) - installed_packages(PACKAGE.parents[1] / "pyproject.toml")
    assert not missing, f"pyproject.toml [tool.setuptools] packages leaves out {sorted(missing)}"


def test_no_two_test_files_share_a_name_across_the_layers() -> None:
    # The layers are folders without __init__.py: pytest imports each test file by its bare
    # name, so a second file of the same name elsewhere fails the whole run's collection.
    tests = PACKAGE.parent / "tests"
    seen: dict[str, list[str]] = {}
    for path in sorted(tests.rglob("test_*.py")):
        seen.setdefault(path.name, []).append(path.relative_to(tests).as_posix())
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}
