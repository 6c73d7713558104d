"""Move what the first design kept in OPS's schema into this project's own, losing nothing; then remove it.

The first design (its Alembic version table was ``alembic_version_user_deactivation``
in OPS's schema) added to OPS's schema: the columns ``ops_user.last_active_at``
and ``reactivated_on``, three indexes, two triggers and their functions, and two
values of OPS's enum ``opseventtype``, whose rows held the job's run records
(``DISABLE_INACTIVE_USERS``) and e-mail records (``INACTIVITY_NOTIFICATION``)
in ``ops_event``, with their versions in ``ops_event_version``. OPS's own next
migration would drop all of it, and could not recreate its enum while such rows
exist.

Where that version table exists, this revision:

1. raises each user's view (``user_activity``, made by s0002) to the activity
   and reactivation moments the columns held;
2. copies the run and e-mail records into ``job_run`` and ``email_record``,
   keeping their ids, so reports read before and after name the same records;
3. deletes those rows from ``ops_event``, their versions from
   ``ops_event_version``, and the ``transaction`` rows that held nothing else;
4. drops the triggers, functions, indexes, columns and the old version table.

Afterwards no row of OPS's tables holds either event type, so OPS's next
``sync_enum_values`` of ``opseventtype`` applies cleanly and removes the two
values (PostgreSQL cannot remove an enum value itself). ``ops_db_history`` is
left as it is: it is the audit record of what happened, and rewriting it is
not this migration's business.

Elsewhere (a database attached with s0002, or a new one) it does nothing.
Dropping the columns takes a short ACCESS EXCLUSIVE lock on ``ops_user``.
Downgrading it does nothing: the first design is not restored.

Revision ID: s0003
Revises: s0002
Create Date: 2026-12-04
"""

import json
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from alembic import op

from ops_backend.migrations.ops_schema import LEGACY_VERSION_TABLE, has_table, is_offline, is_postgresql, ops_schema, own, q

revision = "s0003"
down_revision = "s0002"
branch_labels = None
depends_on = None

RUN_EVENT = "DISABLE_INACTIVE_USERS"
EMAIL_EVENT = "INACTIVITY_NOTIFICATION"
VERSIONED = ("ops_user", "role", "user_role", "user_session", "ops_event", "ops_db_history")
LEGACY_INDEXES = {
    "ops_user": "ix_ops_user_status_activity_watermark",
    "user_session": "ix_user_session_user_id_last_active_at",
    "ops_event": "ix_ops_event_event_type_created_on",
}
LEGACY_TRIGGERS = {"user_session_records_activity": "user_session", "ops_user_records_reactivation": "ops_user"}
RUN_COUNTS = ("threshold_days", "max_disable", "candidates", "disabled", "failed", "no_longer_due")
EMAIL_COLUMNS = ("kind", "recipient", "recipient_user_id", "user_id", "period", "stage", "subject", "error")


def upgrade() -> None:
    if is_postgresql():
        op.execute(_postgresql_move())
    elif not is_offline() and has_table(LEGACY_VERSION_TABLE):
        _sqlite_move()


# -- PostgreSQL: one DO block, so that `flask db upgrade --sql` prints it whole ------------


def _postgresql_move() -> str:
    ops_user, events = q("ops_user"), q("ops_event")
    helpers = [
        # Lenient readers for the JSON documents: a value that does not parse is NULL, never an error.
        """CREATE FUNCTION pg_temp.legacy_instant(value text) RETURNS timestamp LANGUAGE plpgsql AS $f$
           BEGIN RETURN value::timestamptz AT TIME ZONE 'UTC'; EXCEPTION WHEN OTHERS THEN RETURN NULL; END $f$""",
        """CREATE FUNCTION pg_temp.legacy_number(value jsonb) RETURNS numeric LANGUAGE plpgsql AS $f$
           BEGIN IF jsonb_typeof(value) = 'number' THEN RETURN value::text::numeric; END IF; RETURN NULL;
           EXCEPTION WHEN OTHERS THEN RETURN NULL; END $f$""",
    ]
    # 1. the view of each user, from each column that is still there
    dates = {
        column: f"""UPDATE {own('user_activity')} AS a SET {column} = GREATEST(a.{column}, u.{column})
            FROM {ops_user} AS u WHERE u.id = a.user_id"""
        for column in ("last_active_at", "reactivated_on")
    }
    records = [
        # 2. the records, with their ids
        f"""INSERT INTO {own('job_run')} (id, started_at, finished_at, status, outcome, dry_run, as_of,
                {', '.join(RUN_COUNTS)}, duration_seconds, skipped_reason, errors, created_by)
            SELECT e.id, coalesce(e.created_on, e.updated_on, now() AT TIME ZONE 'UTC'),
                pg_temp.legacy_instant(e.event_details->>'finished_at'),
                coalesce(e.event_status::text, 'UNKNOWN'),
                left(coalesce(e.event_details->>'outcome', 'unknown'), 32),
                coalesce(jsonb_typeof(e.event_details->'dry_run') = 'boolean' AND (e.event_details->>'dry_run')::boolean, false),
                pg_temp.legacy_instant(e.event_details->>'as_of'),
                {', '.join(f"pg_temp.legacy_number(e.event_details->'{name}')::integer" for name in RUN_COUNTS)},
                pg_temp.legacy_number(e.event_details->'duration_seconds')::float8,
                e.event_details->>'skipped_reason',
                CASE WHEN jsonb_typeof(e.event_details->'errors') = 'array' THEN e.event_details->'errors' ELSE '[]'::jsonb END,
                e.created_by
            FROM {events} AS e WHERE e.event_type::text = '{RUN_EVENT}'""",
        f"""INSERT INTO {own('email_record')} (id, created_on, updated_on, status, {', '.join(EMAIL_COLUMNS)}, details, created_by)
            SELECT e.id, coalesce(e.created_on, e.updated_on, now() AT TIME ZONE 'UTC'),
                coalesce(e.updated_on, e.created_on, now() AT TIME ZONE 'UTC'),
                coalesce(e.event_status::text, 'UNKNOWN'),
                left(coalesce(e.event_details->>'kind', 'unknown'), 32),
                e.event_details->>'recipient',
                pg_temp.legacy_number(e.event_details->'recipient_user_id')::integer,
                pg_temp.legacy_number(e.event_details->'user_id')::integer,
                pg_temp.legacy_instant(e.event_details->>'period'),
                pg_temp.legacy_number(e.event_details->'stage')::integer,
                e.event_details->>'subject',
                e.event_details->>'error',
                CASE WHEN jsonb_typeof(e.event_details) = 'object'
                     THEN e.event_details - ARRAY[{', '.join(f"'{name}'" for name in EMAIL_COLUMNS)}]
                     ELSE '{{}}'::jsonb END,
                e.created_by
            FROM {events} AS e WHERE e.event_type::text = '{EMAIL_EVENT}'""",
        *(
            f"SELECT setval(pg_get_serial_sequence('{own(table)}', 'id'), coalesce(max(id), 0) + 1, false) FROM {own(table)}"
            for table in ("job_run", "email_record")
        ),
        # 3. out of OPS's tables, with their versions and the transactions that held nothing else
        f"""CREATE TEMP TABLE legacy_events ON COMMIT DROP AS
            SELECT id FROM {events} WHERE event_type::text IN ('{RUN_EVENT}', '{EMAIL_EVENT}')""",
        f"""CREATE TEMP TABLE legacy_transactions ON COMMIT DROP AS
            SELECT DISTINCT transaction_id AS id FROM {q('ops_event_version')} WHERE id IN (SELECT id FROM legacy_events)""",
        f"DELETE FROM {q('ops_event_version')} WHERE id IN (SELECT id FROM legacy_events)",
        f"DELETE FROM {events} WHERE id IN (SELECT id FROM legacy_events)",
        f"""DELETE FROM {q('transaction')} AS t WHERE t.id IN (SELECT id FROM legacy_transactions) AND {
            ' AND '.join(f"NOT EXISTS (SELECT 1 FROM {q(table + '_version')} AS v WHERE v.transaction_id = t.id)" for table in VERSIONED)
        }""",
        # 4. what the first design added
        *(f"DROP TRIGGER IF EXISTS {name} ON {q(table)}" for name, table in LEGACY_TRIGGERS.items()),
        *(f"DROP FUNCTION IF EXISTS {q(name)}()" for name in LEGACY_TRIGGERS),
        *(f"DROP INDEX IF EXISTS {q(index)}" for index in LEGACY_INDEXES.values()),
        f"ALTER TABLE {ops_user} DROP COLUMN IF EXISTS last_active_at, DROP COLUMN IF EXISTS reactivated_on",
        f"DROP TABLE IF EXISTS {q(LEGACY_VERSION_TABLE)}",
        "DROP FUNCTION pg_temp.legacy_instant(text)",
        "DROP FUNCTION pg_temp.legacy_number(jsonb)",
    ]

    def execute(step: str) -> str:
        return f"        EXECUTE $step${step}$step$;"

    def has_column(column: str) -> str:
        return (
            "EXISTS (SELECT 1 FROM information_schema.columns"
            f" WHERE table_schema = '{ops_schema()}' AND table_name = 'ops_user' AND column_name = '{column}')"
        )

    lines = [execute(step) for step in helpers]
    lines += [f"        IF {has_column(column)} THEN\n    {execute(step)}\n        END IF;" for column, step in dates.items()]
    lines += [execute(step) for step in records]
    legacy_table = f"{ops_schema()}.{LEGACY_VERSION_TABLE}"
    return f"""DO $move$
BEGIN
    IF to_regclass('{legacy_table}') IS NOT NULL OR {has_column("last_active_at")} THEN
        RAISE NOTICE 'moving the records and dates of the first design out of OPS''s schema';
{chr(10).join(lines)}
    END IF;
END
$move$"""


# -- SQLite (the development database): the same steps, read and written in Python ---------


def _sqlite_instant(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed.isoformat(" ", "microseconds")


def _sqlite_number(value: Any) -> Any:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _sqlite_move() -> None:
    bind = op.get_bind()
    bind.execute(sa.text(
        "UPDATE user_activity SET"
        " last_active_at = (SELECT max(coalesce(u.last_active_at, user_activity.last_active_at),"
        " coalesce(user_activity.last_active_at, u.last_active_at)) FROM ops_user u WHERE u.id = user_activity.user_id),"
        " reactivated_on = (SELECT max(coalesce(u.reactivated_on, user_activity.reactivated_on),"
        " coalesce(user_activity.reactivated_on, u.reactivated_on)) FROM ops_user u WHERE u.id = user_activity.user_id)"
    ))
    rows = bind.execute(sa.text(
        "SELECT id, event_type, event_status, event_details, created_on, updated_on, created_by FROM ops_event"
        f" WHERE event_type IN ('{RUN_EVENT}', '{EMAIL_EVENT}') ORDER BY id"
    )).all()
    for event_id, event_type, status, raw, created_on, updated_on, created_by in rows:
        details = json.loads(raw) if isinstance(raw, str) else (raw or {})
        details = details if isinstance(details, dict) else {}
        started = created_on or updated_on
        if event_type == RUN_EVENT:
            bind.execute(
                sa.text(
                    "INSERT INTO job_run (id, started_at, finished_at, status, outcome, dry_run, as_of,"
                    f" {', '.join(RUN_COUNTS)}, duration_seconds, skipped_reason, errors, created_by) VALUES"
                    " (:id, :started, :finished, :status, :outcome, :dry_run, :as_of,"
                    f" {', '.join(':' + name for name in RUN_COUNTS)}, :duration, :skipped, :errors, :created_by)"
                ),
                {
                    "id": event_id, "started": started, "finished": _sqlite_instant(details.get("finished_at")),
                    "status": status or "UNKNOWN", "outcome": str(details.get("outcome") or "unknown")[:32],
                    "dry_run": details.get("dry_run") is True, "as_of": _sqlite_instant(details.get("as_of")),
                    **{name: _sqlite_number(details.get(name)) for name in RUN_COUNTS},
                    "duration": _sqlite_number(details.get("duration_seconds")),
                    "skipped": details.get("skipped_reason"),
                    "errors": json.dumps(details.get("errors") if isinstance(details.get("errors"), list) else []),
                    "created_by": created_by,
                },
            )
        else:
            extra = {key: value for key, value in details.items() if key not in EMAIL_COLUMNS}
            bind.execute(
                sa.text(
                    f"INSERT INTO email_record (id, created_on, updated_on, status, {', '.join(EMAIL_COLUMNS)}, details, created_by)"
                    f" VALUES (:id, :created, :updated, :status, {', '.join(':' + name for name in EMAIL_COLUMNS)}, :details, :created_by)"
                ),
                {
                    "id": event_id, "created": started, "updated": updated_on or started, "status": status or "UNKNOWN",
                    "kind": str(details.get("kind") or "unknown")[:32], "recipient": details.get("recipient"),
                    "recipient_user_id": _sqlite_number(details.get("recipient_user_id")),
                    "user_id": _sqlite_number(details.get("user_id")), "period": _sqlite_instant(details.get("period")),
                    "stage": _sqlite_number(details.get("stage")), "subject": details.get("subject"),
                    "error": details.get("error"), "details": json.dumps(extra), "created_by": created_by,
                },
            )
    moved = [row[0] for row in rows]
    for start in range(0, len(moved), 500):
        ids = ", ".join(str(int(event_id)) for event_id in moved[start : start + 500])
        transactions = bind.execute(sa.text(f"SELECT DISTINCT transaction_id FROM ops_event_version WHERE id IN ({ids})")).scalars().all()
        bind.execute(sa.text(f"DELETE FROM ops_event_version WHERE id IN ({ids})"))
        bind.execute(sa.text(f"DELETE FROM ops_event WHERE id IN ({ids})"))
        for transaction_id in transactions:
            if not any(
                bind.execute(sa.text(f"SELECT 1 FROM {table}_version WHERE transaction_id = :t LIMIT 1"), {"t": transaction_id}).first()
                for table in VERSIONED
            ):
                bind.execute(sa.text('DELETE FROM "transaction" WHERE id = :t'), {"t": transaction_id})
    for name in ("user_session_records_activity_insert", "user_session_records_activity_update", "ops_user_records_reactivation"):
        bind.execute(sa.text(f'DROP TRIGGER IF EXISTS "{name}"'))
    for index in LEGACY_INDEXES.values():
        bind.execute(sa.text(f'DROP INDEX IF EXISTS "{index}"'))
    columns = {column["name"] for column in sa.inspect(bind).get_columns("ops_user")}
    for column in ("last_active_at", "reactivated_on"):
        if column in columns:
            bind.execute(sa.text(f"ALTER TABLE ops_user DROP COLUMN {column}"))
    bind.execute(sa.text(f'DROP TABLE "{LEGACY_VERSION_TABLE}"'))


def downgrade() -> None:
    pass  # the first design is not restored
