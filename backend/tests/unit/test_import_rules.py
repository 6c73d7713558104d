"""Who may import whom, read from the source: the package's folders keep the promises their docstrings make.

Every module of backend/ops_api and backend/cli.py is parsed, never imported,
so a rule holds for code no test happens to load. The rules:

- ``ops_api.domain`` is plain Python: the standard library and itself.
- ``ops_api.adapters`` never reaches up into a service, a model or the API.
- The entry points (backend/cli.py and ``ops_api.api``) call services; they
  never import a model, and the API never an adapter.
- Nothing in ``ops_api`` imports the backend folder (``ops_backend``: the CLI,
  the migrations).
- Nothing imports a floor above its own: the models and the helpers at the
  package's root import no service, adapter, view or dev tool, and a service
  no view or dev tool.
- No two modules of ``ops_api`` import each other, directly or round a loop,
  when they are loaded (an import inside a function runs later and is left out).

Each rule is a function from the parsed imports to the violations it finds, so
the tests at the end can feed it a small made-up source and watch it fail.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

BACKEND = Path(__file__).resolve().parents[2]
PACKAGE = BACKEND / "ops_api"
CLI = "cli"  # backend/cli.py, installed as ops_backend.cli


@dataclass(frozen=True)
class Import:
    """One import statement's target, as seen in the importing module's source."""

    importer: str
    target: str
    line: int
    at_load: bool  # runs when the module is loaded: not inside a function, not under TYPE_CHECKING

    def __str__(self) -> str:
        return f"{self.importer} (line {self.line}) imports {self.target}"


def module_name(path: Path) -> str:
    if path == BACKEND / "cli.py":
        return CLI
    parts = list(path.relative_to(BACKEND).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_sources() -> dict[str, tuple[str, bool]]:
    """Every module of ops_api and the CLI: name -> (source, is a package's __init__)."""
    paths = sorted(PACKAGE.rglob("*.py")) + [BACKEND / "cli.py"]
    return {module_name(path): (path.read_text(encoding="utf-8"), path.name == "__init__.py") for path in paths}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(body: Iterable[ast.stmt], at_load: bool) -> Iterable[tuple[ast.stmt, bool]]:
    """Every statement under ``body``, with whether it runs when the module is loaded."""
    for node in body:
        yield node, at_load
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _statements(node.body, False)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _statements(node.body, False)
            yield from _statements(node.orelse, at_load)
        else:
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    for child in children:
                        if isinstance(child, ast.ExceptHandler | ast.match_case):
                            yield from _statements(child.body, at_load)
                    yield from _statements([c for c in children if isinstance(c, ast.stmt)], at_load)


def imports_of(sources: Mapping[str, tuple[str, bool]]) -> list[Import]:
    """Each module's imports, resolved to module names; ``from package import submodule`` names the submodule."""
    found: list[Import] = []
    for importer, (source, is_package) in sources.items():
        tree = ast.parse(source, filename=importer)
        own_package = importer.split(".") if is_package else importer.split(".")[:-1]
        for node, at_load in _statements(tree.body, True):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = own_package[: len(own_package) - (node.level - 1)]
                    origin = ".".join(base + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                targets = [
                    f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in sources else origin for alias in node.names
                ]
            else:
                continue
            found += [Import(importer, target, node.lineno, at_load) for target in dict.fromkeys(targets)]
    return found


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


# -- the rules -------------------------------------------------------------------------


def domain_violations(imports: Iterable[Import]) -> list[str]:
    """The domain imports the standard library and itself, nothing else."""
    return [
        f"{found}: the domain may import only the standard library and ops_api.domain"
        for found in imports
        if _within(found.importer, "ops_api.domain")
        and not _within(found.target, "ops_api.domain")
        and found.target.split(".")[0] not in sys.stdlib_module_names
    ]


ABOVE_ADAPTERS = ("ops_api.services", "ops_api.models", "ops_api.api")


def adapter_violations(imports: Iterable[Import]) -> list[str]:
    """Services call adapters; an adapter never imports a service, a model or the API."""
    return [
        f"{found}: an adapter may not import {layer}"
        for found in imports
        if _within(found.importer, "ops_api.adapters")
        for layer in ABOVE_ADAPTERS
        if _within(found.target, layer)
    ]


def entry_point_violations(imports: Iterable[Import]) -> list[str]:
    """The CLI and the API reach the database through services: no model, and no adapter for the API."""
    violations = []
    for found in imports:
        entry = found.importer == CLI or _within(found.importer, "ops_api.api")
        if entry and _within(found.target, "ops_api.models"):
            violations.append(f"{found}: an entry point may not import a model; a service hands it what it needs")
        if _within(found.importer, "ops_api.api") and _within(found.target, "ops_api.adapters"):
            violations.append(f"{found}: the API may not import an adapter; a service calls it")
    return violations


FOLDERS = ("domain", "adapters", "services", "api", "models", "devtools")


def _layer(module: str) -> str | None:
    """Which floor a module of ops_api stands on: the helpers at the root share the models' floor."""
    parts = module.split(".")
    if parts[0] != "ops_api" or len(parts) == 1:
        return None  # the CLI, or the package itself (the app factory)
    if parts[1] in FOLDERS:
        return "models" if parts[1] == "models" else parts[1]
    return "models"


ABOVE = {
    "models": ("ops_api.services", "ops_api.adapters", "ops_api.api", "ops_api.devtools"),
    "services": ("ops_api.api", "ops_api.devtools"),
}


def upward_violations(imports: Iterable[Import]) -> list[str]:
    """The models and the root's helpers import no service, adapter, view or dev tool; a service no view or dev tool."""
    return [
        f"{found}: {'the models and the helpers' if layer == 'models' else 'a service'} may not import {above}"
        for found in imports
        if (layer := _layer(found.importer)) in ABOVE
        for above in ABOVE[layer]
        if _within(found.target, above)
    ]


def backend_folder_violations(imports: Iterable[Import]) -> list[str]:
    """The application package never imports the folder around it: the CLI and the migrations use it, not the reverse."""
    return [
        f"{found}: ops_api may not import the backend folder (the CLI, the migrations)"
        for found in imports
        if _within(found.importer, "ops_api")
        and (_within(found.target, "ops_backend") or _within(found.target, "backend") or _within(found.target, CLI))
    ]


def import_cycles(imports: Iterable[Import]) -> list[list[str]]:
    """Each loop of load-time imports among ops_api's modules, as the modules round it (the first repeated last)."""
    edges: dict[str, set[str]] = {}
    for found in imports:
        if found.at_load and _within(found.importer, "ops_api") and _within(found.target, "ops_api"):
            if found.target != found.importer:
                edges.setdefault(found.importer, set()).add(found.target)
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = "open"
        path.append(module)
        for target in sorted(edges.get(module, ())):
            if state.get(target) == "open":
                loop = path[path.index(target) :]
                if frozenset(loop) not in seen:
                    seen.add(frozenset(loop))
                    cycles.append([*loop, target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module)
    return cycles


def cycle_violations(imports: Iterable[Import]) -> list[str]:
    return ["import cycle: " + " -> ".join(loop) for loop in import_cycles(imports)]


# -- the project -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def project_imports() -> list[Import]:
    return imports_of(project_sources())


def test_the_domain_imports_only_the_standard_library_and_itself(project_imports: list[Import]) -> None:
    violations = domain_violations(project_imports)
    assert not violations, "\n".join(violations)


def test_adapters_import_no_service_model_or_api(project_imports: list[Import]) -> None:
    violations = adapter_violations(project_imports)
    assert not violations, "\n".join(violations)


def test_entry_points_import_no_model(project_imports: list[Import]) -> None:
    violations = entry_point_violations(project_imports)
    assert not violations, "\n".join(violations)


def test_no_module_imports_a_floor_above_its_own(project_imports: list[Import]) -> None:
    violations = upward_violations(project_imports)
    assert not violations, "\n".join(violations)


def test_the_application_package_never_imports_the_backend_folder(project_imports: list[Import]) -> None:
    violations = backend_folder_violations(project_imports)
    assert not violations, "\n".join(violations)


def test_no_import_cycle_among_the_application_modules(project_imports: list[Import]) -> None:
    violations = cycle_violations(project_imports)
    assert not violations, "\n".join(violations)


def test_no_import_left_out_of_the_cycle_check_hides_a_cycle(project_imports: list[Import]) -> None:
    # The imports that run later (create_app loads the views only when it builds
    # an app; a model names another for type checking only) break no cycle:
    # counted as load-time imports, they still make none.
    as_if_at_load = [Import(found.importer, found.target, found.line, True) for found in project_imports]
    violations = cycle_violations(as_if_at_load)
    assert not violations, "\n".join(violations)


def test_the_checker_reads_every_module_of_the_package(project_imports: list[Import]) -> None:
    importers = {found.importer for found in project_imports}
    assert {CLI, "ops_api", "ops_api.api.users", "ops_api.domain.inactivity", "ops_api.adapters.smtp_mail"} <= importers


# -- the rules catch what they are there for ---------------------------------------------


def _parsed(**modules: str) -> list[Import]:
    """Made-up modules, named with "__" for "." (``ops_api__domain__x``); a name ending in ``__init`` is a package."""
    sources = {}
    for key, source in modules.items():
        name = key.replace("__", ".")
        is_package = name.endswith(".init")
        sources[name.removesuffix(".init")] = (source, is_package)
    return imports_of(sources)


@pytest.mark.parametrize(
    ("rule", "modules", "expected"),
    [
        (
            domain_violations,
            {"ops_api__domain__rule": "import datetime\nfrom ops_api.models import User\n"},
            ["ops_api.domain.rule (line 2) imports ops_api.models: the domain may import only the standard library and ops_api.domain"],
        ),
        (
            domain_violations,
            {"ops_api__domain__rule": "from typing import Any\nimport sqlalchemy as sa\n"},
            ["ops_api.domain.rule (line 2) imports sqlalchemy: the domain may import only the standard library and ops_api.domain"],
        ),
        (
            adapter_violations,
            {"ops_api__adapters__mail": "def send():\n    from ops_api.services.mail import notifications\n"},
            ["ops_api.adapters.mail (line 2) imports ops_api.services.mail: an adapter may not import ops_api.services"],
        ),
        (
            entry_point_violations,
            {"ops_api__api__users": "from ..models import User\n"},
            [
                "ops_api.api.users (line 1) imports ops_api.models: an entry point may not import a model;"
                " a service hands it what it needs"
            ],
        ),
        (
            entry_point_violations,
            {"cli": "import ops_api.models.users\n"},
            ["cli (line 1) imports ops_api.models.users: an entry point may not import a model; a service hands it what it needs"],
        ),
        (
            entry_point_violations,
            {"ops_api__api__health": "from ops_api.adapters.smtp_mail import compose\n"},
            ["ops_api.api.health (line 1) imports ops_api.adapters.smtp_mail: the API may not import an adapter; a service calls it"],
        ),
        (
            upward_violations,
            {"ops_api__audit": "from ops_api.services.users import accounts\n"},
            ["ops_api.audit (line 1) imports ops_api.services.users: the models and the helpers may not import ops_api.services"],
        ),
        (
            upward_violations,
            {"ops_api__models__state": "from ops_api.api import schemas\n", "ops_api__api__schemas": ""},
            ["ops_api.models.state (line 1) imports ops_api.api.schemas: the models and the helpers may not import ops_api.api"],
        ),
        (
            upward_violations,
            {"ops_api__services__job__runs": "import ops_api.devtools.load_data\n"},
            ["ops_api.services.job.runs (line 1) imports ops_api.devtools.load_data: a service may not import ops_api.devtools"],
        ),
        (
            backend_folder_violations,
            {"ops_api__services__job": "from ops_backend.migrations import triggers\n"},
            [
                "ops_api.services.job (line 1) imports ops_backend.migrations:"
                " ops_api may not import the backend folder (the CLI, the migrations)"
            ],
        ),
        (
            cycle_violations,
            {
                "ops_api__init": "from ops_api import audit\n",
                "ops_api__audit": "from ops_api.models import User\n",
                "ops_api__models__init": "import ops_api.audit\n",
            },
            ["import cycle: ops_api.audit -> ops_api.models -> ops_api.audit"],
        ),
    ],
)
def test_each_rule_names_the_module_and_the_import_it_refuses(
    rule: Callable[[list[Import]], list[str]], modules: dict[str, str], expected: list[str]
) -> None:
    assert rule(_parsed(**modules)) == expected


def test_an_import_inside_a_function_or_for_type_checking_makes_no_cycle() -> None:
    imports = _parsed(
        ops_api__a="def later():\n    import ops_api.b\n",
        ops_api__b="from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ops_api.a import thing\n",
    )
    assert [found.at_load for found in imports if found.target.startswith("ops_api")] == [False, False]
    assert cycle_violations(imports) == []


def test_what_the_rules_allow_passes() -> None:
    imports = _parsed(
        ops_api__domain__rule="from collections.abc import Iterable\nfrom ops_api.domain.defaults import DAYS\n",
        ops_api__adapters__mail="from ops_api.domain import defaults\nfrom ops_api.errors import describe_error\n",
        ops_api__api__users="from ops_api.services.users import User\nfrom ops_api.api.schemas import load\n",
        cli="from ops_api.services.job import hourly_job\nfrom ops_api.devtools import demo_data\n",
        ops_api__audit="from ops_api.models import User\nfrom ops_api.clock import utcnow\n",
        ops_api__services__alerts="from ops_api.adapters import alert_delivery\nfrom ops_api.services.users import accounts\n",
        ops_api__init="def create_app():\n    from ops_api.api import register_api\n",
    )
    rules = (domain_violations, adapter_violations, entry_point_violations, upward_violations, backend_folder_violations, cycle_violations)
    assert [rule(imports) for rule in rules] == [[]] * len(rules)
