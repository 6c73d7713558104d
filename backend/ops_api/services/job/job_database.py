"""What the hourly job needs of its database: the right one, its clock, and no statement waiting forever.

- :func:`check_database`: the database answers, holds OPS's users and is at
  this project's migration heads (read from a migrations directory given as an
  argument, never from Flask's globals).
- :class:`DatabaseClock`: "now" as the database server tells it, the clock
  OPS's own requests write activity with.
- :func:`restore_triggers`: the view's triggers created again.

The bounds on the job's statements, with their watcher thread, are an
adapter: :mod:`ops_api.adapters.statement_watcher`.
"""

from __future__ import annotations

import functools
import logging
import time
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from ops_api.errors import describe_error
from ops_api.models import UserActivity, UserSession
from ops_api.models import triggers as trigger_sql
from ops_api.sql import VERSION_TABLE, own_schema_of, schema_of

logger = logging.getLogger("ops_api.hourly_job")

class JobEnvironmentError(Exception):
    """The job cannot run here (database unreachable, schema missing, clocks disagree); nothing was changed."""


# -- the database's clock --------------------------------------------------------------


class DatabaseClock:
    """The database server's clock: read once, at the first call, then carried forward by this process's monotonic clock.

    Raises JobEnvironmentError when the database cannot be asked.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read: tuple[datetime, float] | None = None

    def __call__(self) -> datetime:
        if self._read is None:
            self._read = (database_now(self.engine), time.monotonic())
        at, then = self._read
        return at + timedelta(seconds=time.monotonic() - then)


def database_now(engine: Engine) -> datetime:
    """The database server's current time, as an aware UTC datetime."""
    query = (
        "SELECT clock_timestamp()"
        if engine.dialect.name == "postgresql"
        else "SELECT strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')"
    )
    try:
        with engine.connect() as connection:
            value = connection.exec_driver_sql(query).scalar()
    except sa.exc.DBAPIError as exc:
        url = engine.url.render_as_string(hide_password=True)
        raise JobEnvironmentError(f"cannot read the database's clock ({url}): {describe_error(exc)}") from None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(timezone.utc)


# -- the schema check ----------------------------------------------------------


def check_database(engine: Engine, migrations_directory: str, *, triggers: bool = True) -> None:
    """Raise JobEnvironmentError unless the database answers, holds OPS's users and is migrated.

    "Migrated" is read from this project's own version table, in its own
    schema, and compared with the heads of ``migrations_directory``; OPS's
    alembic_version says nothing about this project. On PostgreSQL the
    triggers that keep this project's view must be on OPS's tables too (a
    table OPS dropped and made again has lost them).
    """
    url = engine.url.render_as_string(hide_password=True)
    schema, own = schema_of(engine), own_schema_of(engine)
    where = f"schema {schema!r} of {url}" if schema else url
    try:
        with engine.connect() as connection:
            has_users = sa.inspect(connection).has_table("ops_user", schema=schema)
            current = MigrationContext.configure(
                connection, opts={"version_table": VERSION_TABLE, "version_table_schema": own}
            ).get_current_heads()
            present = _triggers_present(connection, schema) if triggers and has_users and schema is not None else None
    except sa.exc.DBAPIError as exc:
        raise JobEnvironmentError(f"cannot connect to the database {url}: {describe_error(exc)}") from None
    if not has_users:
        raise JobEnvironmentError(
            f"{where} holds no OPS user table (ops_user); check DATABASE_URL and OPS_DB_SCHEMA"
            " (an empty database gets OPS's tables from `flask db upgrade`)"
        )
    heads = migration_heads(migrations_directory)
    if set(current) != heads:
        at = ", ".join(sorted(current)) or "no migration of this project"
        in_own = f" (schema {own!r})" if schema else ""
        raise JobEnvironmentError(
            f"{where} is at {at}{in_own}, not {', '.join(sorted(heads))}; run `flask db upgrade` first"
        )
    if present is not None:
        missing = sorted(set(OWN_TRIGGERS) - present)
        if missing:
            raise JobEnvironmentError(
                f"{where} lacks this project's triggers {', '.join(missing)} (was a table made again, or a"
                " trigger disabled?); without them activity goes unrecorded: run `flask restore-triggers`"
            )


@functools.cache
def migration_heads(migrations_directory: str) -> frozenset[str]:
    """The head revisions of the migrations in ``migrations_directory`` (read once per process)."""
    return frozenset(ScriptDirectory(migrations_directory).get_heads())


# The triggers the migrations put on OPS's tables (migration s0002), by name.
OWN_TRIGGERS = tuple(trigger_sql.TRIGGERS)


def restore_triggers(engine: Engine) -> int:
    """Create again every function and trigger that keeps the view, in one transaction; return how many triggers.

    For a database where one was lost (OPS made a table again) or disabled.
    Then raises the view's activity to what the sessions still hold, which a
    missing trigger did not record. Commits.
    """
    with engine.begin() as connection:
        for statement in trigger_sql.create_statements(
            connection.dialect.name, ops_schema=schema_of(connection), own_schema=own_schema_of(connection)
        ):
            connection.execute(sa.text(statement))
        latest = (
            sa.select(sa.func.max(UserSession.last_active_at))
            .where(UserSession.user_id == UserActivity.user_id)
            .scalar_subquery()
        )
        connection.execute(
            sa.update(UserActivity)
            .where(sa.or_(UserActivity.last_active_at.is_(None), UserActivity.last_active_at < latest))
            .values(last_active_at=latest)
        )
    return len(trigger_sql.TRIGGERS)


def _triggers_present(connection: Connection, schema: str) -> set[str]:
    return set(
        connection.execute(
            sa.text(
                "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :schema AND NOT t.tgisinternal"
                " AND t.tgenabled <> 'D'"
            ),
            {"schema": schema},
        ).scalars()
    )
