"""Fixtures: every data test runs once on SQLite and once on PostgreSQL.

The tests are in three layers, each a folder and a marker of the same name
(the folder sets the marker): ``unit/`` needs no database, process, server or
browser and runs in seconds (``pytest backend/tests/unit`` or ``-m unit``);
``db/`` runs against both databases; ``process/`` also starts processes
(``flask``, psql, Chromium), servers on 127.0.0.1 (SMTP, webhooks) or a
second PostgreSQL role.

PostgreSQL comes from TEST_DATABASE_URL (default: the local server's ``test``
database). The run creates two schemas of its own there and names them in
OPS_DB_SCHEMA and OPS_DEACTIVATION_SCHEMA, as a deployment names OPS's ``ops``
schema and this project's ``user_deactivation``; the connection's search_path
finds neither, so every statement must name its schema itself. The run
migrates them once, empties them after every test and drops them at the end,
so tests are isolated from each other and from anything else in that
database. If no PostgreSQL answers, its
tests are skipped with one loud line, except under CI=true, where the run fails.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade
from freezegun import freeze_time

from ops_api import create_app
from ops_api.config import is_development_environment
from ops_api.extensions import db
from ops_api.models import Role, RoleName, User
from ops_api.services.users.accounts import get_or_create_system_admin

import factories
from api_support import login
from cli_runner import cli_app

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ALL_TABLES = ("ops_db_history", "ops_event", "user_session", "user_role", "role", "ops_user")
# SQLAlchemy-Continuum's trail of those tables (emptied with them between tests, by DELETE).
TRAIL_TABLES = ("transaction", *(f"{table}_version" for table in ALL_TABLES))
# This project's own tables, in its own schema.
OWN_TABLES = ("user_activity", "future_stamp", "moved_session", "job_run", "email_record")
_pg_problem: str | None = None


def pg_problem() -> str | None:
    """Why PostgreSQL cannot be used in this run (None: it can)."""
    return _pg_problem


def pg_base_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_PG_URL)


def pytest_sessionstart(session: pytest.Session) -> None:
    global _pg_problem
    engine = sa.create_engine(pg_base_url(), connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any failure to connect means: no PostgreSQL here
        _pg_problem = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    finally:
        engine.dispose()
    if _pg_problem and os.environ.get("CI", "").lower() == "true":
        pytest.exit(f"PostgreSQL is required under CI=true but {pg_base_url()} failed: {_pg_problem}", returncode=1)


LAYERS = ("unit", "db", "process")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its layer (its folder). Tests marked postgres_only run on the PostgreSQL
    variant alone, and sqlite_only on SQLite alone."""
    kept, dropped = [], []
    for item in items:
        layer = item.path.parent.name
        if layer not in LAYERS:
            raise pytest.UsageError(f"{item.nodeid}: a test belongs in one of the layers {', '.join(LAYERS)} (tests/<layer>/)")
        item.add_marker(layer)
        variant = getattr(item, "callspec", None) and item.callspec.params.get("database_url")
        if (item.get_closest_marker("postgres_only") and variant == "sqlite") or (
            item.get_closest_marker("sqlite_only") and variant == "postgresql"
        ):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_report_header(config: pytest.Config) -> str:
    if _pg_problem:
        return f"!!! PostgreSQL NOT REACHABLE at {pg_base_url()} ({_pg_problem}): its tests are SKIPPED !!!"
    return f"PostgreSQL: {pg_base_url()}"


def _migrate(url: str, schema: str, own_schema: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DB_SCHEMA": schema, "DEACTIVATION_SCHEMA": own_schema})
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def test_schema() -> str:
    """The name of this run's PostgreSQL schema for OPS's tables (OPS_DB_SCHEMA of every test)."""
    return f"ops_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def test_own_schema(test_schema: str) -> str:
    """The name of this run's PostgreSQL schema for this project's own (OPS_DEACTIVATION_SCHEMA of every test)."""
    return test_schema.replace("ops_test_", "ud_test_", 1)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory, test_schema: str, test_own_schema: str) -> Path:
    """A migrated SQLite file, copied for each test (cheaper than migrating each time)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "ops.db"
    _migrate(f"sqlite:///{path}", test_schema, test_own_schema)
    return path


@pytest.fixture(scope="session")
def pg_schema_url(test_schema: str, test_own_schema: str) -> Iterator[str]:
    """The PostgreSQL test database, with this run's two schemas migrated in it."""
    if _pg_problem:
        pytest.skip(f"PostgreSQL not reachable: {_pg_problem}")
    url = pg_base_url()
    try:
        _migrate(url, test_schema, test_own_schema)
        yield url
    finally:
        drop_schema(test_schema)
        drop_schema(test_own_schema)


def drop_schema(schema: str) -> None:
    admin_engine = sa.create_engine(pg_base_url())
    with admin_engine.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin_engine.dispose()


def _empty_pg_schema(url: str, schema: str, own_schema: str) -> None:
    engine = sa.create_engine(url)
    tables = ", ".join(
        [f'"{schema}"."{table}"' for table in ALL_TABLES] + [f'"{own_schema}"."{table}"' for table in OWN_TABLES]
    )
    with engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        # The trail holds a few rows per test: DELETE is far cheaper than TRUNCATE's new files,
        # and no test reads its ids as absolute numbers.
        for table in TRAIL_TABLES:
            connection.execute(sa.text(f'DELETE FROM "{schema}"."{table}"'))
        connection.execute(sa.text(f'ALTER SEQUENCE "{schema}".ops_user_id_seq RESTART WITH 500'))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, test_schema: str, test_own_schema: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The URL of an empty, migrated database of either kind; OPS_DB_SCHEMA and OPS_DEACTIVATION_SCHEMA name its schemas."""
    monkeypatch.setenv("OPS_DB_SCHEMA", test_schema)
    monkeypatch.setenv("OPS_DEACTIVATION_SCHEMA", test_own_schema)
    if request.param == "sqlite":
        path = tmp_path / "ops.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_schema_url")
        _empty_pg_schema(url, test_schema, test_own_schema)
        yield url
        _empty_pg_schema(url, test_schema, test_own_schema)


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    # The job takes "now" from this process's clock, which the tests freeze (a development setting).
    application = cli_app(
        {"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True, "ENV_NAME": "test", "JOB_CLOCK": "process"}
    )
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def session(app: Flask):
    """The application's SQLAlchemy session, on the test's database."""
    return db.session


@pytest.fixture
def system_admin(session) -> User:
    user = get_or_create_system_admin(session)
    session.commit()
    return user


@pytest.fixture
def roles(session) -> dict[str, Role]:
    by_name = {name.value: Role(name=name.value) for name in RoleName}
    session.add_all(by_name.values())
    session.commit()
    return by_name


@pytest.fixture
def user_admin(session, roles) -> User:
    """An ordinary person holding USER_ADMIN."""
    admin = factories.make_user(session, email="pat.admin@example.gov", roles=[roles["USER_ADMIN"]])
    session.commit()
    return admin


@pytest.fixture
def fakeauth(app: Flask) -> None:
    """Switch FakeAuth logins on for this test's app (the login reads the setting per request)."""
    app.config["FAKEAUTH_ENABLED"] = True


# -- running commands in process, and fixtures several test files share ----------


@pytest.fixture(autouse=True)
def _restore_app_logger() -> Iterator[None]:
    """Undo what a command run in process did to the ``ops_api`` logger (JSON handler, level, propagate)."""
    app_logger = logging.getLogger("ops_api")
    saved = (list(app_logger.handlers), app_logger.level, app_logger.propagate)
    yield
    app_logger.handlers[:] = saved[0]
    app_logger.setLevel(saved[1])
    app_logger.propagate = saved[2]


@pytest.fixture
def app_from_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Flask]]:
    """Build another app on the test's database with the given OPS_ environment variables.

    The environment is what a `flask` process started from the repository root
    would see (``cli_runner.in_process_env``: .flaskenv, then ``env``). For
    commands whose settings come from the environment; run them with
    ``cli_runner.invoke(built_app, ...)``.
    """
    from cli_runner import in_process_env

    built: list[Flask] = []

    def build(**env: str) -> Flask:
        for name, value in in_process_env(**env).items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        settings: dict[str, object] = {"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True}
        if "OPS_JOB_CLOCK" not in env and is_development_environment({"ENV_NAME": os.environ.get("OPS_ENV_NAME")}):
            settings["JOB_CLOCK"] = "process"  # tests freeze this process's clock (a development setting)
        application = cli_app(settings)
        built.append(application)
        return application

    yield build
    for application in built:
        with application.app_context():
            db.engine.dispose()


@pytest.fixture
def population(session) -> dict[str, object]:
    """Two users due at factories.JOB_NOW (idle 400 and 90 days) and one recent user (idle 1 day), made at JOB_NOW."""
    with freeze_time(factories.JOB_NOW):
        return factories.make_population(session, factories.JOB_NOW)


@pytest.fixture
def person(session, roles) -> User:
    """An ordinary ACTIVE person holding VIEWER_EDITOR, made at factories.PERSON_SINCE, with no sessions.

    A test module that needs more (sessions, a reactivation) extends it with a
    fixture of the same name that asks for this one.
    """
    with freeze_time(factories.PERSON_SINCE):
        user = factories.make_user(session, email="sam.person@example.gov", roles=[roles["VIEWER_EDITOR"]])
        session.commit()
    return user


@pytest.fixture
def login_at() -> datetime | None:
    """When ``admin_token`` signs in; None: the real clock. A module whose requests run frozen overrides it."""
    return None


@pytest.fixture
def admin_token(client, fakeauth, user_admin: User, login_at: datetime | None) -> str:
    """An access token of ``user_admin`` (USER_ADMIN), from a FakeAuth login at ``login_at``."""
    with freeze_time(login_at) if login_at is not None else contextlib.nullcontext():
        return login(client, user_admin)["access_token"]
