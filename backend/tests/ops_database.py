"""A PostgreSQL schema shaped like a real OPS database, for the attach tests.

Written from what OPS's own migrations and seed loaders build (schema ``ops``
in production; a schema of the test's own here): native enum types holding
member names, timestamps without time zone, OPS's nullability, a user id
sequence starting at 500 that no column owns, SQLAlchemy-Continuum's
``transaction`` table and the ``*_version`` shadows of the six tables (with an
open version of each seed user, as OPS's loader leaves them), OPS's own
``alembic_version`` row, a LOCKED System Admin with no roles, FakeAuth users,
and user sessions written by plain SQL as OPS's request handling writes them.
Nothing here goes through this project's models.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

OPS_ALEMBIC_HEAD = "b8c9d0e1f2a3"

ENUMS = {
    "userstatus": ("ACTIVE", "INACTIVE", "LOCKED"),
    "opseventstatus": ("SUCCESS", "FAILED", "UNKNOWN"),
    "opsdbhistorytype": ("NEW", "UPDATED", "DELETED", "ERROR"),
    "opseventtype": (
        "CREATE_BLI", "UPDATE_BLI", "DELETE_BLI", "CREATE_PROJECT", "LOGIN_ATTEMPT", "LOGOUT", "IDLE_LOGOUT",
        "GET_USER_DETAILS", "CREATE_USER", "UPDATE_USER", "DEACTIVATE_USER", "CREATE_ROLE", "UPDATE_ROLE",
        "DELETE_ROLE", "CREATE_USER_SESSION", "UPDATE_USER_SESSION", "DELETE_USER_SESSION", "CREATE_GRANT_NUMBER",
    ),
}

AUDIT = """
    created_by integer REFERENCES {s}.ops_user(id),
    updated_by integer REFERENCES {s}.ops_user(id),
    created_on timestamp without time zone,
    updated_on timestamp without time zone"""

# Continuum's columns on a shadow table, after the base table's audit columns (OPS's own are nullable there).
SHADOW_AUDIT_NO_KEY = """
    created_by integer, updated_by integer, created_on timestamp without time zone,
    updated_on timestamp without time zone, transaction_id bigint NOT NULL, end_transaction_id bigint,
    operation_type smallint NOT NULL"""
SHADOW_AUDIT = SHADOW_AUDIT_NO_KEY + """,
    PRIMARY KEY (id, transaction_id)"""

TABLES = """
CREATE TABLE {s}.division (id integer PRIMARY KEY, name varchar);
CREATE SEQUENCE {s}.ops_user_id_seq START WITH 500;
CREATE TABLE {s}.ops_user (
    id integer DEFAULT nextval('{s}.ops_user_id_seq'::regclass) PRIMARY KEY,
    oidc_id uuid,
    hhs_id varchar,
    email varchar NOT NULL,
    first_name varchar,
    last_name varchar,
    division integer REFERENCES {s}.division(id),
    status {s}.userstatus DEFAULT 'INACTIVE' NOT NULL,
    created_by integer REFERENCES {s}.ops_user(id),
    updated_by integer REFERENCES {s}.ops_user(id),
    created_on timestamp without time zone,
    updated_on timestamp without time zone
);
CREATE UNIQUE INDEX ix_ops_user_oidc_id ON {s}.ops_user (oidc_id);
CREATE INDEX ix_ops_user_email ON {s}.ops_user (email);
CREATE TABLE {s}.role (
    id serial PRIMARY KEY,
    name varchar NOT NULL,
    permissions varchar[] DEFAULT '{{}}' NOT NULL,{audit}
);
CREATE INDEX ix_role_name ON {s}.role (name);
CREATE TABLE {s}.user_role (
    user_id integer NOT NULL REFERENCES {s}.ops_user(id),
    role_id integer NOT NULL REFERENCES {s}.role(id),{audit},
    PRIMARY KEY (user_id, role_id)
);
CREATE TABLE {s}.user_session (
    id serial PRIMARY KEY,
    user_id integer NOT NULL REFERENCES {s}.ops_user(id),
    is_active boolean,
    ip_address varchar NOT NULL,
    access_token text NOT NULL,
    refresh_token text NOT NULL,
    last_active_at timestamp without time zone NOT NULL,{audit}
);
CREATE INDEX ix_user_session_user_id_is_active ON {s}.user_session (user_id, is_active);
CREATE INDEX ix_user_session_user_id_created_on ON {s}.user_session (user_id, created_on);
CREATE TABLE {s}.ops_event (
    id serial PRIMARY KEY,
    event_type {s}.opseventtype,
    event_status {s}.opseventstatus,
    event_details jsonb,{audit}
);
CREATE TABLE {s}.ops_db_history (
    id serial PRIMARY KEY,
    event_type {s}.opsdbhistorytype,
    event_details jsonb,
    class_name varchar,
    row_key varchar,
    changes jsonb,{audit}
);
CREATE INDEX idx_ops_db_history_class_name_row_key_created_on
    ON {s}.ops_db_history (class_name, row_key, created_on DESC);
CREATE TABLE {s}.transaction (id bigserial PRIMARY KEY, remote_addr varchar(50), issued_at timestamp without time zone);
CREATE TABLE {s}.ops_user_version (
    id integer NOT NULL, oidc_id uuid, hhs_id varchar, email varchar, first_name varchar, last_name varchar,
    division integer, status {s}.userstatus DEFAULT 'INACTIVE',{shadow_audit}
);
CREATE INDEX ix_ops_user_version_email ON {s}.ops_user_version (email);
CREATE INDEX ix_ops_user_version_oidc_id ON {s}.ops_user_version (oidc_id);
CREATE TABLE {s}.role_version (id integer NOT NULL, name varchar, permissions varchar[],{shadow_audit});
CREATE TABLE {s}.user_role_version (
    user_id integer NOT NULL, role_id integer NOT NULL,{shadow_audit_no_key},
    PRIMARY KEY (user_id, role_id, transaction_id)
);
CREATE TABLE {s}.user_session_version (
    id integer NOT NULL, user_id integer, is_active boolean, ip_address varchar, access_token text,
    refresh_token text, last_active_at timestamp without time zone,{shadow_audit}
);
CREATE TABLE {s}.ops_event_version (
    id integer NOT NULL, event_type {s}.opseventtype, event_status {s}.opseventstatus, event_details jsonb,{shadow_audit}
);
CREATE TABLE {s}.ops_db_history_version (
    id integer NOT NULL, event_type {s}.opsdbhistorytype, event_details jsonb, class_name varchar, row_key varchar,
    changes jsonb,{shadow_audit}
);
CREATE TABLE {s}.alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY);
INSERT INTO {s}.alembic_version VALUES ('{head}');
"""

SYSTEM_ADMIN_OIDC = uuid.UUID("00000000-0000-1111-a111-000000000026")
FAKEAUTH_SUFFIXES = ("18", "19", "20", "21", "22", "27", "28")


@dataclass
class OpsUser:
    key: str
    email: str
    status: str = "ACTIVE"
    oidc_id: uuid.UUID | None = None
    created_days_ago: float | None = 400
    # Days ago of each session's last activity (sessions written by plain SQL).
    sessions: list[float] = field(default_factory=list)
    roles: tuple[str, ...] = ()
    id: int | None = None


def seed_users() -> list[OpsUser]:
    """The users of the attach tests: OPS's special accounts and every case the rule must decide."""
    users = [OpsUser("system_admin", "system.admin@email.com", "LOCKED", SYSTEM_ADMIN_OIDC)]
    for suffix in FAKEAUTH_SUFFIXES:
        # Idle for years: excluded all the same, as OPS's own script excludes them.
        users.append(
            OpsUser(f"fakeauth_{suffix}", f"fake{suffix}@email.com", oidc_id=uuid.UUID(f"00000000-0000-1111-a111-0000000000{suffix}"), created_days_ago=900)
        )
    users += [
        # READ_ONLY FakeAuth-style user that OPS's script does not exclude either.
        OpsUser("read_only_0029", "Read.Only@Email.com", oidc_id=uuid.UUID("00000000-0000-1111-a111-000000000029"), created_days_ago=500, roles=("READ_ONLY",)),
        OpsUser("recent", "Recent.Person@acf.hhs.gov", oidc_id=uuid.uuid4(), sessions=[1, 200], roles=("VIEWER_EDITOR",)),
        OpsUser("idle_90", "idle.ninety@acf.hhs.gov", oidc_id=uuid.uuid4(), sessions=[90, 120]),
        OpsUser("idle_exactly_60", "idle.sixty@acf.hhs.gov", oidc_id=uuid.uuid4(), sessions=[60]),
        OpsUser("idle_59", "idle.fiftynine@acf.hhs.gov", oidc_id=uuid.uuid4(), sessions=[59.9]),
        OpsUser("never_logged_in_old", "never.old@acf.hhs.gov", oidc_id=uuid.uuid4(), created_days_ago=100),
        OpsUser("never_logged_in_new", "never.new@acf.hhs.gov", oidc_id=uuid.uuid4(), created_days_ago=10),
        OpsUser("no_oidc_active_idle", "no.oidc@acf.hhs.gov", created_days_ago=300, sessions=[250]),
        OpsUser("inactive_idle", "already.inactive@acf.hhs.gov", "INACTIVE", uuid.uuid4(), sessions=[300]),
        OpsUser("locked_no_oidc", "john.locked@acf.hhs.gov", "LOCKED", None, sessions=[300]),
        OpsUser("admin", "user.admin@acf.hhs.gov", oidc_id=uuid.uuid4(), sessions=[0.5], roles=("USER_ADMIN",)),
        # Active 12 days ago; a test logs them out and runs OPS's cleanup, which deletes the session.
        OpsUser("active_then_cleaned", "cleaned.up@acf.hhs.gov", oidc_id=uuid.uuid4(), created_days_ago=400, sessions=[12]),
    ]
    return users


# Who the job must disable at the frozen instant, and nobody else.
DUE = {"read_only_0029", "idle_90", "idle_exactly_60", "never_logged_in_old", "no_oidc_active_idle"}


def build(engine: sa.Engine, schema: str, *, now: datetime) -> dict[str, OpsUser]:
    """Create ``schema`` as OPS's migrations and seed data leave it; return the seed users by key."""
    naive_now = now.replace(tzinfo=None)
    users = seed_users()
    with engine.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        for name, values in ENUMS.items():
            labels = ", ".join(f"'{value}'" for value in values)
            connection.exec_driver_sql(f"CREATE TYPE {schema}.{name} AS ENUM ({labels})")
        connection.exec_driver_sql(TABLES.format(
            s=schema, audit=AUDIT.format(s=schema), shadow_audit=SHADOW_AUDIT, shadow_audit_no_key=SHADOW_AUDIT_NO_KEY, head=OPS_ALEMBIC_HEAD
        ))
        role_ids = {}
        for name in ("SYSTEM_OWNER", "VIEWER_EDITOR", "REVIEWER_APPROVER", "USER_ADMIN", "BUDGET_TEAM",
                     "PROCUREMENT_TEAM", "SUPER_USER", "READ_ONLY"):
            role_ids[name] = connection.execute(
                sa.text(f"INSERT INTO {schema}.role (name, created_on, updated_on) VALUES (:name, :now, :now) RETURNING id"),
                {"name": name, "now": naive_now},
            ).scalar_one()
        for user in users:
            created = None if user.created_days_ago is None else naive_now - timedelta(days=user.created_days_ago)
            user.id = connection.execute(
                sa.text(
                    f"INSERT INTO {schema}.ops_user (oidc_id, email, first_name, last_name, status, created_on, updated_on)"
                    f" VALUES (:oidc, :email, 'Seed', :key, CAST(:status AS {schema}.userstatus), :created, :created) RETURNING id"
                ),
                {"oidc": user.oidc_id, "email": user.email, "key": user.key, "status": user.status, "created": created},
            ).scalar_one()
            for role in user.roles:
                connection.execute(
                    sa.text(f"INSERT INTO {schema}.user_role (user_id, role_id) VALUES (:user, :role)"),
                    {"user": user.id, "role": role_ids[role]},
                )
            for days in user.sessions:
                write_session(connection, schema, user.id, last_active_at=naive_now - timedelta(days=days))
        # OPS's loader runs under Continuum: one transaction, and an open version of each user it made.
        seed_transaction = connection.execute(
            sa.text(f"INSERT INTO {schema}.transaction (issued_at) VALUES (:now) RETURNING id"), {"now": naive_now}
        ).scalar_one()
        connection.execute(sa.text(
            f"INSERT INTO {schema}.ops_user_version (id, oidc_id, hhs_id, email, first_name, last_name, division, status,"
            " created_by, updated_by, created_on, updated_on, transaction_id, operation_type)"
            " SELECT id, oidc_id, hhs_id, email, first_name, last_name, division, status, created_by, updated_by,"
            f" created_on, updated_on, :tx, 0 FROM {schema}.ops_user"
        ), {"tx": seed_transaction})
    return {user.key: user for user in users}


def write_session(connection: sa.Connection, schema: str, user_id: int, *, last_active_at: datetime, is_active: bool = True) -> int:
    """Open a session as OPS's login does: a plain INSERT, knowing nothing of this project."""
    return connection.execute(
        sa.text(
            f"INSERT INTO {schema}.user_session (user_id, is_active, ip_address, access_token, refresh_token,"
            " last_active_at, created_on, updated_on) VALUES (:user, :active, '10.1.2.3', 'a.b.c', 'd.e.f', :at, :at, :at)"
            " RETURNING id"
        ),
        {"user": user_id, "active": is_active, "at": last_active_at.replace(tzinfo=None)},
    ).scalar_one()


def touch_session(connection: sa.Connection, schema: str, session_id: int, *, at: datetime) -> None:
    """Record a request's activity as OPS's request handling does: UPDATE user_session.last_active_at."""
    connection.execute(
        sa.text(f"UPDATE {schema}.user_session SET last_active_at = :at WHERE id = :id"),
        {"at": at.replace(tzinfo=None), "id": session_id},
    )


def log_out(connection: sa.Connection, schema: str, session_id: int, *, at: datetime) -> None:
    """OPS's logout: the session ends, and OPS stamps last_active_at with the moment."""
    connection.execute(
        sa.text(f"UPDATE {schema}.user_session SET is_active = false, last_active_at = :at WHERE id = :id"),
        {"at": at.replace(tzinfo=None), "id": session_id},
    )


def clean_up_sessions(connection: sa.Connection, schema: str, *, now: datetime, cutoff_days: int) -> int:
    """OPS's session cleanup: delete every ended session and every session older than the cutoff."""
    return connection.execute(
        sa.text(f"DELETE FROM {schema}.user_session WHERE is_active = false OR last_active_at < :cutoff"),
        {"cutoff": (now - timedelta(days=cutoff_days)).replace(tzinfo=None)},
    ).rowcount


def objects_in_schema(connection: sa.Connection, schema: str) -> set[tuple[str, str]]:
    """Every relation and type in ``schema``, by kind and name."""
    relations = connection.execute(
        sa.text("SELECT c.relkind::text, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s"),
        {"s": schema},
    ).all()
    types = connection.execute(
        sa.text("SELECT 'type', t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = :s"),
        {"s": schema},
    ).all()
    functions = connection.execute(
        sa.text("SELECT 'function', p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = :s"),
        {"s": schema},
    ).all()
    return {tuple(row) for row in [*relations, *types, *functions]}
