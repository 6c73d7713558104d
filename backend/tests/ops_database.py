"""Real OPS databases for the attach tests, loaded from the dumps in backend/tests/data.

Each test gets a database of its own, copied from a template loaded once per
test process, owned (OPS's schema, its tables, sequences and types) by a role
made as OPS's init script makes ``ops``: a login role without CREATE on the
database. What OPS's own code does to its rows (logins, requests, logouts,
the session cleanup, its admin pages) is written here as plain SQL, knowing
nothing of this project. Nothing here goes through this project's models.
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

DATA = Path(__file__).resolve().parent / "data"
# Built by OPS's own migrations and seed loaders (see data/README.md).
FRESH_DUMP = DATA / "ops-database.sql.gz"
# The same database after the first design of this project attached to it and ran.
FIRST_DESIGN_DUMP = DATA / "ops-attached-first-design.sql.gz"

OPS_SCHEMA = "ops"
OWN_SCHEMA = "user_deactivation"
OPS_ALEMBIC_HEAD = "b8c9d0e1f2a3"
SYSTEM_ADMIN_ID = 526
SYSTEM_ADMIN_OIDC = uuid.UUID("00000000-0000-1111-a111-000000000026")
# The users OPS's FakeAuthProvider offers (and ...0022, which OPS's own script excludes too).
FAKEAUTH_IDS = {520, 521, 522, 523, 525, 527, 528, 529}
# opseventtype as OPS's own Python enum lists it at the dump's head: what OPS's next sync_enum_values writes.
OPS_EVENT_TYPES = (
    "CREATE_BLI", "UPDATE_BLI", "DELETE_BLI", "SEND_BLI_FOR_APPROVAL", "CREATE_PROJECT", "UPDATE_PROJECT",
    "GET_AGREEMENT", "CREATE_NEW_AGREEMENT", "UPDATE_AGREEMENT", "DELETE_AGREEMENT", "CREATE_NEW_CAN",
    "UPDATE_CAN", "DELETE_CAN", "CREATE_CAN_FUNDING_RECEIVED", "UPDATE_CAN_FUNDING_RECEIVED",
    "DELETE_CAN_FUNDING_RECEIVED", "CREATE_CAN_FUNDING_BUDGET", "UPDATE_CAN_FUNDING_BUDGET",
    "DELETE_CAN_FUNDING_BUDGET", "CREATE_CAN_FUNDING_DETAILS", "UPDATE_CAN_FUNDING_DETAILS",
    "DELETE_CAN_FUNDING_DETAILS", "ACKNOWLEDGE_NOTIFICATION", "CREATE_BLI_PACKAGE", "UPDATE_BLI_PACKAGE",
    "CREATE_SERVICES_COMPONENT", "UPDATE_SERVICES_COMPONENT", "DELETE_SERVICES_COMPONENT",
    "CREATE_PROCUREMENT_ACQUISITION_PLANNING", "UPDATE_PROCUREMENT_ACQUISITION_PLANNING",
    "DELETE_PROCUREMENT_ACQUISITION_PLANNING", "CREATE_DOCUMENT", "UPDATE_DOCUMENT", "LOGIN_ATTEMPT",
    "LOGOUT", "IDLE_LOGOUT", "GET_USER_DETAILS", "CREATE_USER", "UPDATE_USER", "DEACTIVATE_USER",
    "CREATE_PORTFOLIO_URL", "UPDATE_PORTFOLIO_URL", "DELETE_PORTFOLIO_URL", "CREATE_CHANGE_REQUEST",
    "UPDATE_CHANGE_REQUEST", "DELETE_CHANGE_REQUEST", "CREATE_PROCUREMENT_SHOP", "UPDATE_PROCUREMENT_SHOP",
    "DELETE_PROCUREMENT_SHOP", "CREATE_ROLE", "UPDATE_ROLE", "DELETE_ROLE", "CREATE_USER_SESSION",
    "UPDATE_USER_SESSION", "DELETE_USER_SESSION", "CREATE_PROCUREMENT_TRACKER", "UPDATE_PROCUREMENT_TRACKER",
    "DELETE_PROCUREMENT_TRACKER", "UPDATE_PROCUREMENT_TRACKER_STEP", "CREATE_PROCUREMENT_ACTION",
    "UPDATE_PROCUREMENT_ACTION", "DELETE_PROCUREMENT_ACTION", "CREATE_GRANT_NUMBER", "UPDATE_GRANT_NUMBER",
    "DELETE_GRANT_NUMBER",
)


def tools_missing() -> str | None:
    """Why the PostgreSQL client tools the attach tests drive cannot be used (None: they can)."""
    missing = [tool for tool in ("psql", "pg_dump") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not found (Debian's postgresql-client)" if missing else None


@dataclass(frozen=True)
class Server:
    """The PostgreSQL server of TEST_DATABASE_URL, as its superuser reaches it."""

    base_url: str

    def url(self, database: str, *, role: str | None = None) -> str:
        url = make_url(self.base_url).set(database=database)
        if role is not None:
            url = url.set(username=role, password=None)
        return url.render_as_string(hide_password=False)

    def _client_env(self) -> dict[str, str]:
        url = make_url(self.base_url)
        env = {**os.environ, "PGHOST": url.host or "127.0.0.1", "PGPORT": str(url.port or 5432)}
        env["PGUSER"] = url.username or "postgres"
        if url.password:
            env["PGPASSWORD"] = str(url.password)
        return env

    def psql(self, database: str, sql: str | None = None, *, script: bytes | None = None) -> str:
        """Run SQL (or a dump's script) as the superuser with psql, stopping at the first error."""
        args = ["psql", "-q", "-X", "-v", "ON_ERROR_STOP=1", "-d", database]
        if sql is not None:
            args += ["-At", "-c", sql]
        done = subprocess.run(args, input=script, env=self._client_env(), capture_output=True, check=False, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.decode(errors='replace')[-2000:]}")
        return done.stdout.decode()

    def dump_schema(self, database: str, schema: str = OPS_SCHEMA) -> str:
        """``pg_dump -s -n schema``, without the lines whose random key changes at every dump."""
        done = subprocess.run(
            ["pg_dump", "-s", "-n", schema, "-d", database],
            env=self._client_env(), capture_output=True, text=True, check=True, timeout=120,
        )
        return "\n".join(line for line in done.stdout.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))

    def execute(self, database: str, *statements: str, autocommit: bool = False) -> None:
        engine = sa.create_engine(self.url(database), isolation_level="AUTOCOMMIT" if autocommit else None)
        try:
            with engine.begin() as connection:
                for statement in statements:
                    connection.exec_driver_sql(statement)
        finally:
            engine.dispose()

    def create_role(self, role: str) -> None:
        """A login role as OPS's init script makes ``ops``: no CREATE on any database, no superuser."""
        self.execute("postgres", f'CREATE ROLE "{role}" LOGIN', autocommit=True)

    def drop_role(self, role: str) -> None:
        self.execute("postgres", f'DROP ROLE IF EXISTS "{role}"', autocommit=True)

    def create_database(self, name: str, *, template: str | None = None) -> None:
        clause = f' TEMPLATE "{template}"' if template else ""
        self.execute("postgres", f'CREATE DATABASE "{name}"{clause}', autocommit=True)

    def drop_database(self, name: str) -> None:
        self.execute("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', autocommit=True)

    def load(self, database: str, dump: Path) -> None:
        self.psql(database, script=gzip.decompress(dump.read_bytes()))

    def give_ops_schema_to(self, database: str, role: str) -> None:
        """Make ``role`` own OPS's schema and everything in it, as the role that runs OPS's migrations does."""
        statements = self.psql(
            database,
            f"""SELECT format('ALTER TABLE %I.%I OWNER TO %I;', schemaname, tablename, '{role}')
                FROM pg_tables WHERE schemaname = '{OPS_SCHEMA}'
            UNION ALL
            SELECT format('ALTER SEQUENCE %I.%I OWNER TO %I;', n.nspname, c.relname, '{role}')
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind = 'S' AND n.nspname = '{OPS_SCHEMA}'
                AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i'))
            UNION ALL
            SELECT format('ALTER TYPE %I.%I OWNER TO %I;', n.nspname, t.typname, '{role}')
                FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                WHERE n.nspname = '{OPS_SCHEMA}' AND t.typtype = 'e'""",
        )
        self.psql(database, f'ALTER SCHEMA "{OPS_SCHEMA}" OWNER TO "{role}";\n{statements}')

    def create_own_schema(self, database: str, role: str, schema: str = OWN_SCHEMA) -> None:
        """The one statement an administrator runs before the attach."""
        self.execute(database, f'CREATE SCHEMA "{schema}" AUTHORIZATION "{role}"')


# -- what OPS's own code does, as plain SQL --------------------------------------------


def naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


def write_session(connection: sa.Connection, user_id: int, *, last_active_at: datetime, is_active: bool = True) -> int:
    """Open a session as OPS's login does: a plain INSERT."""
    return connection.execute(
        sa.text(
            "INSERT INTO ops.user_session (user_id, is_active, ip_address, access_token, refresh_token,"
            " last_active_at, created_on, updated_on, created_by, updated_by)"
            " VALUES (:user, :active, '10.1.2.3', 'a.b.c', 'd.e.f', :at, :at, :at, :user, :user) RETURNING id"
        ),
        {"user": user_id, "active": is_active, "at": naive(last_active_at)},
    ).scalar_one()


def touch_session(connection: sa.Connection, session_id: int, *, at: datetime) -> None:
    """A request's activity as OPS's request handling records it: UPDATE of the session's last_active_at."""
    connection.execute(
        sa.text("UPDATE ops.user_session SET last_active_at = :at WHERE id = :id"), {"at": naive(at), "id": session_id}
    )


def log_out(connection: sa.Connection, session_id: int, *, at: datetime) -> None:
    """OPS's logout: the session ends, and OPS stamps last_active_at with the moment."""
    connection.execute(
        sa.text("UPDATE ops.user_session SET is_active = false, last_active_at = :at WHERE id = :id"),
        {"at": naive(at), "id": session_id},
    )


def clean_up_sessions(connection: sa.Connection, *, now: datetime, cutoff_days: int) -> int:
    """OPS's session cleanup: delete every ended session and every session older than the cutoff."""
    return connection.execute(
        sa.text("DELETE FROM ops.user_session WHERE is_active = false OR last_active_at < :cutoff"),
        {"cutoff": naive(now - timedelta(days=cutoff_days))},
    ).rowcount


def set_status(connection: sa.Connection, user_id: int, status: str) -> None:
    """OPS's own admin page: a plain UPDATE of the status (and OPS's updated_on)."""
    connection.execute(
        sa.text("UPDATE ops.ops_user SET status = CAST(:status AS ops.userstatus), updated_on = now() WHERE id = :id"),
        {"status": status, "id": user_id},
    )


def collect_notices(connection: sa.Connection) -> Callable[[], list[str]]:
    """Start collecting the server's notices (WARNINGs included) on ``connection``; call the result to read them."""
    driver = connection.connection.driver_connection
    if hasattr(driver, "add_notice_handler"):  # psycopg 3
        seen: list[str] = []
        driver.add_notice_handler(lambda notice: seen.append(f"{notice.severity}: {notice.message_primary}"))
        return lambda: list(seen)
    # psycopg2 keeps them in a list, which SQLAlchemy empties after each statement into its dialect's log.
    seen_logged: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen_logged.append(record.getMessage())

    dialect_log = logging.getLogger("sqlalchemy.dialects.postgresql")
    handler = Keep(level=logging.INFO)
    dialect_log.addHandler(handler)
    previous = dialect_log.level
    dialect_log.setLevel(logging.INFO)

    def read() -> list[str]:
        dialect_log.removeHandler(handler)
        dialect_log.setLevel(previous)
        return list(seen_logged)

    return read


def statuses(connection: sa.Connection) -> dict[int, str]:
    return dict(connection.execute(sa.text("SELECT id, status::text FROM ops.ops_user")).all())
