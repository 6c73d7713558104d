"""This project's own schema: its tables, and the triggers on OPS's tables that keep its view of each user.

In OPS_DEACTIVATION_SCHEMA (PostgreSQL; beside OPS's tables on SQLite):

* ``user_activity``: the rule's view of each user (active or not, created,
  last active, reactivated), backfilled here from ``ops_user`` and the
  sessions that exist, and indexed on (is_active, latest of the three dates);
* ``future_stamp`` and ``moved_session``: dates found in the future, and
  sessions moved to another user, which the job warns about;
* ``job_run`` and ``email_record``: the job's run and e-mail records;
* the trigger functions.

In OPS's schema it adds triggers only (their SQL is in ``ops_api/models/triggers.py``), which call those functions:

* on ``user_session``, after a session is opened or its ``last_active_at`` or
  ``user_id`` is written (before, on PostgreSQL, so that a session written for
  an account that is not ACTIVE is stored ended), and after sessions are
  deleted (deleting never lowers the view's last activity);
* on ``ops_user``, after a user is added or their ``status`` or ``created_on``
  changes: the view follows, and an account made ACTIVE again gets
  ``reactivated_on`` from the database's clock (this project's own path then
  sets it from the job's clock).

The PostgreSQL functions are SECURITY DEFINER with a fixed search_path, so
they write this project's tables whichever role OPS's application connects
as, and each catches every error it meets and raises a WARNING instead: a
missing table, a renamed or dropped column or a lock timeout on this project's
side never fails OPS's own statement. Recording activity writes no row of
OPS's tables, and writes this project's row at most once a minute per user.

Lock order, as every status change here takes it: a user's sessions, then
``ops_user``, then ``user_activity``. The session triggers take only
``user_activity`` after the session row; the account triggers run under the
``ops_user`` row lock.

Revision ID: s0002
Revises: s0001
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from ops_api.models import triggers
from ops_api.sql import latest_of
from ops_backend.migrations.ops_schema import dialect_name, is_postgresql, ops_schema, own, own_schema, q

revision = "s0002"
down_revision = "s0001"
branch_labels = None
depends_on = None


def watermark() -> sa.ColumnElement:
    """Spelled exactly as ops_api.models.state.activity_watermark, so queries match the index."""
    return latest_of(sa.column("last_active_at"), sa.column("reactivated_on"), sa.column("created_on"))


def upgrade() -> None:
    schema = own_schema()
    op.create_table(
        "user_activity",
        sa.Column("user_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_on", sa.DateTime(), nullable=True),
        sa.Column("last_active_at", sa.DateTime(), nullable=True),
        sa.Column("reactivated_on", sa.DateTime(), nullable=True),
        schema=schema,
    )
    op.create_index(
        "ix_user_activity_is_active_watermark", "user_activity", [sa.column("is_active"), watermark()], schema=schema
    )
    op.create_table(
        "future_stamp",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=14), nullable=False),
        sa.Column("recorded", sa.DateTime(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("user_id", "source", "recorded", name="uq_future_stamp_user_id"),
        schema=schema,
    )
    op.create_table(
        "moved_session",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("from_user_id", sa.Integer(), nullable=True),
        sa.Column("to_user_id", sa.Integer(), nullable=False),
        sa.Column("last_active_at", sa.DateTime(), nullable=True),
        sa.Column("moved_at", sa.DateTime(), nullable=False),
        sa.Column("reported_at", sa.DateTime(), nullable=True),
        schema=schema,
    )
    json = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
    op.create_table(
        "job_run",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=7), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("as_of", sa.DateTime(), nullable=True),
        sa.Column("threshold_days", sa.Integer(), nullable=True),
        sa.Column("max_disable", sa.Integer(), nullable=True),
        sa.Column("candidates", sa.Integer(), nullable=True),
        sa.Column("disabled", sa.Integer(), nullable=True),
        sa.Column("failed", sa.Integer(), nullable=True),
        sa.Column("no_longer_due", sa.Integer(), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("skipped_reason", sa.Text(), nullable=True),
        sa.Column("errors", json, nullable=False),
        sa.Column("emails_sent", sa.Integer(), nullable=True),
        sa.Column("emails_failed", sa.Integer(), nullable=True),
        sa.Column("mail_error", sa.Text(), nullable=True),
        sa.Column("reconciled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_by", sa.Integer(), nullable=True),
        schema=schema,
    )
    op.create_index("ix_job_run_started_at", "job_run", ["started_at"], schema=schema)
    op.create_table(
        "email_record",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("created_on", sa.DateTime(), nullable=False),
        sa.Column("updated_on", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=7), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(), nullable=True),
        sa.Column("recipient_user_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("period", sa.DateTime(), nullable=True),
        sa.Column("stage", sa.Integer(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("details", json, nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        schema=schema,
    )
    op.create_index("ix_email_record_kind_created_on", "email_record", ["kind", "created_on"], schema=schema)
    op.create_index(
        "ix_email_record_user_id_kind_created_on", "email_record", ["user_id", "kind", "created_on"], schema=schema
    )

    # Every user gets a row: whether ACTIVE, created when, last active when (from the sessions that exist).
    status_is_active = "u.status::text = 'ACTIVE'" if is_postgresql() else "u.status = 'ACTIVE'"
    op.execute(
        f"INSERT INTO {own('user_activity')} (user_id, is_active, created_on, last_active_at)"
        f" SELECT u.id, {status_is_active}, u.created_on, s.latest FROM {q('ops_user')} u"
        f" LEFT JOIN (SELECT user_id, max(last_active_at) AS latest FROM {q('user_session')} GROUP BY user_id) s"
        " ON s.user_id = u.id"
    )
    for statement in triggers.create_statements(dialect_name(), ops_schema=ops_schema(), own_schema=own_schema()):
        op.execute(statement)


def downgrade() -> None:
    for statement in triggers.drop_statements(dialect_name(), ops_schema=ops_schema(), own_schema=own_schema()):
        op.execute(statement)
    for table in ("email_record", "job_run", "moved_session", "future_stamp", "user_activity"):
        op.drop_table(table, schema=own_schema())
