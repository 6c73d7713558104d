"""What this project adds to OPS's tables: the last activity, the reactivation moment, indexes, triggers, event types.

* ``ops_user.last_active_at``: the latest activity recorded in any of the
  user's sessions, backfilled here from the sessions that exist, then raised
  by a trigger whenever a session's ``last_active_at`` is written, whoever
  writes it (OPS's request handling knows nothing of this column). Deleting
  sessions never lowers it.
* ``ops_user.reactivated_on``: when an admin last made the account ACTIVE. This
  project's own path sets it (in Python); a trigger fills it in, from the
  database's clock in UTC, when other code (OPS's own admin pages) makes an
  account ACTIVE without knowing of it, so such a reactivation also starts a
  fresh window instead of being undone at the next run.
* Indexes for the hourly search, the per-user re-check and the job's history.
* ``DISABLE_INACTIVE_USERS`` and ``INACTIVITY_NOTIFICATION`` in OPS's
  ``opseventtype``.

Lock order: the trigger runs after PostgreSQL has locked the session row and
then locks the user row. Everything in this project that changes a user's
status takes the same two locks in the same order, so activity racing a run
waits instead of deadlocking. An insert or update that would leave an active
session on an account that is no longer ACTIVE is stored as ended.

Revision ID: u0002
Revises: u0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from ops_api.sql import latest_of
from ops_backend.migrations.ops_schema import q, target_schema

revision = "u0002"
down_revision = "u0001"
branch_labels = None
depends_on = None

ADDED_EVENT_TYPES = ("DISABLE_INACTIVE_USERS", "INACTIVITY_NOTIFICATION")
TRIGGER = "user_session_records_activity"
REACTIVATION_TRIGGER = "ops_user_records_reactivation"


def watermark() -> sa.ColumnElement:
    """Spelled exactly as ops_api.models.users.activity_watermark, so queries match the index."""
    return latest_of(sa.column("last_active_at"), sa.column("reactivated_on"), sa.column("created_on"))


def upgrade() -> None:
    schema = target_schema()
    if schema is not None:
        for value in ADDED_EVENT_TYPES:
            op.execute(f"ALTER TYPE \"{schema}\".opseventtype ADD VALUE IF NOT EXISTS '{value}'")

    with op.batch_alter_table("ops_user", schema=schema) as batch:
        batch.add_column(sa.Column("last_active_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("reactivated_on", sa.DateTime(), nullable=True))

    op.execute(
        f"UPDATE {q('ops_user')} SET last_active_at = (SELECT max(s.last_active_at) FROM {q('user_session')} s"
        f" WHERE s.user_id = {q('ops_user')}.id)"
    )

    op.create_index(
        "ix_ops_user_status_activity_watermark", "ops_user", [sa.column("status"), watermark()], schema=schema
    )
    op.create_index(
        "ix_user_session_user_id_last_active_at", "user_session", ["user_id", "last_active_at"], schema=schema
    )
    op.create_index("ix_ops_event_event_type_created_on", "ops_event", ["event_type", "created_on"], schema=schema)

    if schema is not None:
        _create_postgresql_trigger()
        _create_postgresql_reactivation_trigger()
    else:
        _create_sqlite_triggers()
        _create_sqlite_reactivation_trigger()


def _create_postgresql_trigger() -> None:
    op.execute(f"""
CREATE FUNCTION {q(TRIGGER)}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    account_status text;
BEGIN
    -- The session row is locked already; the user row comes second, as in
    -- every status change this project makes.
    SELECT status::text INTO account_status FROM {q('ops_user')} WHERE id = NEW.user_id FOR NO KEY UPDATE;
    IF NEW.last_active_at IS NOT NULL THEN
        UPDATE {q('ops_user')} SET last_active_at = NEW.last_active_at
        WHERE id = NEW.user_id AND (last_active_at IS NULL OR last_active_at < NEW.last_active_at);
    END IF;
    -- A session opened or used while its account was being disabled.
    IF NEW.is_active AND account_status IS DISTINCT FROM 'ACTIVE' THEN
        NEW.is_active := false;
    END IF;
    RETURN NEW;
END
$$""")
    op.execute(
        f"CREATE TRIGGER {TRIGGER} BEFORE INSERT OR UPDATE OF last_active_at ON {q('user_session')}"
        f" FOR EACH ROW EXECUTE FUNCTION {q(TRIGGER)}()"
    )


def _create_postgresql_reactivation_trigger() -> None:
    op.execute(f"""
CREATE FUNCTION {q(REACTIVATION_TRIGGER)}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Made ACTIVE by code that left reactivated_on alone: record the moment.
    IF NEW.status = 'ACTIVE' AND OLD.status IS DISTINCT FROM 'ACTIVE'
       AND NEW.reactivated_on IS NOT DISTINCT FROM OLD.reactivated_on THEN
        NEW.reactivated_on := now() AT TIME ZONE 'UTC';
    END IF;
    RETURN NEW;
END
$$""")
    op.execute(
        f"CREATE TRIGGER {REACTIVATION_TRIGGER} BEFORE UPDATE OF status ON {q('ops_user')}"
        f" FOR EACH ROW EXECUTE FUNCTION {q(REACTIVATION_TRIGGER)}()"
    )


def _create_sqlite_reactivation_trigger() -> None:
    # The text form SQLAlchemy writes: microseconds, naive UTC.
    op.execute(
        f"CREATE TRIGGER {REACTIVATION_TRIGGER} AFTER UPDATE OF status ON ops_user FOR EACH ROW"
        " WHEN NEW.status = 'ACTIVE' AND OLD.status IS NOT 'ACTIVE' AND NEW.reactivated_on IS OLD.reactivated_on"
        " BEGIN UPDATE ops_user SET reactivated_on = strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'"
        " WHERE id = NEW.id; END"
    )


def _sqlite_trigger_body() -> str:
    return """
BEGIN
    UPDATE ops_user SET last_active_at = NEW.last_active_at
    WHERE id = NEW.user_id AND NEW.last_active_at IS NOT NULL
      AND (last_active_at IS NULL OR last_active_at < NEW.last_active_at);
    UPDATE user_session SET is_active = 0
    WHERE id = NEW.id AND NEW.is_active
      AND (SELECT status FROM ops_user WHERE id = NEW.user_id) IS NOT 'ACTIVE';
END"""


def _create_sqlite_triggers() -> None:
    op.execute(f"CREATE TRIGGER {TRIGGER}_insert AFTER INSERT ON user_session FOR EACH ROW{_sqlite_trigger_body()}")
    op.execute(
        f"CREATE TRIGGER {TRIGGER}_update AFTER UPDATE OF last_active_at ON user_session FOR EACH ROW"
        f"{_sqlite_trigger_body()}"
    )


def downgrade() -> None:
    schema = target_schema()
    if schema is not None:
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {q('user_session')}")
        op.execute(f"DROP FUNCTION IF EXISTS {q(TRIGGER)}()")
        op.execute(f"DROP TRIGGER IF EXISTS {REACTIVATION_TRIGGER} ON {q('ops_user')}")
        op.execute(f"DROP FUNCTION IF EXISTS {q(REACTIVATION_TRIGGER)}()")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {REACTIVATION_TRIGGER}")
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}_insert")
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}_update")
    op.drop_index("ix_ops_event_event_type_created_on", table_name="ops_event", schema=schema)
    op.drop_index("ix_user_session_user_id_last_active_at", table_name="user_session", schema=schema)
    op.drop_index("ix_ops_user_status_activity_watermark", table_name="ops_user", schema=schema)
    with op.batch_alter_table("ops_user", schema=schema) as batch:
        batch.drop_column("reactivated_on")
        batch.drop_column("last_active_at")
    # PostgreSQL cannot remove values from an enum type: the two event types stay.
