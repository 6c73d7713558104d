"""The OPS API application: ``create_app`` is the factory the ``flask`` command and tests use.

The folders and what each may import, from the bottom up:

- ``domain``: the inactivity rule and the job's facts as plain Python; imports
  nothing of the application.
- ``models`` (the tables, OPS's and this project's, and the triggers between
  them) and the shared helpers at this package's root: settings (``config``),
  "now" (``clock``, ``instants``), errors as text (``errors``), SQL the
  dialects spell differently (``sql``), the Flask extensions, the commit
  convention (``transactions``) with what rides along with it (``audit``,
  ``versioning``), the advisory locks, the job's logs, the signing key's
  check. They import the domain and each other, nothing above.
- ``adapters``: SMTP, alert delivery, the statement watcher, signals; they
  import the domain and the helpers, never a model.
- ``services``: what the application does (users, the job, mail, the report,
  alerts); they import everything below.
- ``api``: the HTTP entry point (backend/cli.py is the other, outside this
  package); it imports services, never a model or an adapter.
- ``devtools``: demo and bulk data for development, imported by the CLI only.

May import: its own subpackages. Never the backend folder around it
(``ops_backend``: the CLI, the migrations). The views are imported only when
an app is built, so loading a model or a service never loads the HTTP layer.
backend/tests/unit/test_import_rules.py checks these rules.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from ops_api import config as settings
from ops_api import transactions  # noqa: F401  (registers the session listeners: see its docstring)
from ops_api.extensions import db, migrate


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application.

    Settings come from the defaults, then OPS_-prefixed environment variables,
    then ``config`` (e.g. SQLALCHEMY_DATABASE_URI, TESTING), which wins.
    Raises ``ops_api.config.ConfigError`` for a setting it cannot use, and
    outside a development environment (``config.DEVELOPMENT_ENV_NAMES``)
    refuses FakeAuth, published or weak secrets, and the default SQLite file.
    """
    app = Flask(__name__, instance_relative_config=True)
    default_database = settings.defaults(app.instance_path)["SQLALCHEMY_DATABASE_URI"]
    app.config.from_mapping(settings.defaults(app.instance_path))
    try:
        app.config.from_prefixed_env("OPS")
    except (TypeError, ValueError) as exc:  # OPS_A__B where OPS_A is not a mapping
        raise settings.ConfigError(f"an OPS_ variable with '__' names a setting that is not a mapping: {exc}") from None
    if config:
        app.config.from_mapping(config)
    settings.finalize(app.config)

    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri == default_database and not os.environ.get("DATABASE_URL", "").strip():
        _check_default_database(app)

    db.init_app(app)
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            _bound_lock_waits(db.engine, app.config["DB_LOCK_TIMEOUT_MS"])
    migrate.init_app(app, db, directory=app.config["MIGRATIONS_DIRECTORY"] or _shipped_migrations())

    from ops_api.api import register_api

    register_api(app)
    # The commands are registered by the entry point that runs them (backend/cli.py's create_cli_app):
    # the package never imports the CLI.
    return app


def _check_default_database(app: Flask) -> None:
    """The SQLite file in the instance folder is for development: refuse it elsewhere, and say why it cannot be made."""
    if not settings.is_development_environment(app.config):
        raise settings.ConfigError(
            f"DATABASE_URL is not set; the built-in SQLite file is for development only and {settings.describe_environment(app.config)}"
        )
    try:
        os.makedirs(app.instance_path, exist_ok=True)
    except OSError as exc:
        raise settings.ConfigError(
            f"DATABASE_URL is not set and the folder for the built-in SQLite file, {app.instance_path}, "
            f"cannot be created ({exc.strerror or type(exc).__name__}); set DATABASE_URL"
        ) from None


def _shipped_migrations() -> str:
    return str(resources.files("ops_backend") / "migrations")


def _bound_lock_waits(engine: Engine, milliseconds: int) -> None:
    """Set up every PostgreSQL connection once, when it is opened: a lock_timeout, and no JIT compilation.

    The job's statements are short index reads and single-row writes; the
    planner's cost estimates for the whole-table statements (the daily
    reconciliation, the report) can cross jit_above_cost and then pay tens of
    milliseconds compiling code that saves nothing.
    """

    @event.listens_for(engine, "connect")
    def _set_session_options(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET lock_timeout = {int(milliseconds)}")
        cursor.execute("SET jit = off")
        cursor.close()
        dbapi_connection.commit()  # a SET inside a transaction that is rolled back would be undone


@event.listens_for(Engine, "connect")
def _sqlite_foreign_keys(dbapi_connection: Any, connection_record: Any) -> None:
    # SQLite ignores foreign keys unless asked, per connection.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
