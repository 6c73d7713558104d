"""The signed chain of the job's own records: a position, a link and a seal on every run and e-mail record.

In OPS_DEACTIVATION_SCHEMA (PostgreSQL; beside OPS's tables on SQLite), on
``job_run`` and on ``email_record``:

* ``chain_seq``: the record's position in the one chain across both tables
  (1, 2, 3, ...), unique in each table;
* ``chain_prev`` and ``chain_prev_record``: the SHA-256 of the header of the
  record before it, and that record's name (``job_run:12``);
* ``chain_key_id`` and ``chain_seal``: which evidence key sealed it (the first
  8 hex digits of the key's SHA-256; empty when unsigned) and the seal, an
  HMAC-SHA256 of the record's canonical bytes (``ops_api.domain.evidence_chain``).

On ``job_run`` also ``disabled_events``: for each user the run disabled, the
``ops_event`` id of the ``UPDATE_USER`` event and the SHA-256 of its row.

Records written before this revision keep empty columns: readers report them
as "before the chain began". Nothing is signed here, and nothing in OPS's
schema changes. Downgrading drops the columns and their indexes again.

Revision ID: s0004
Revises: s0003
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from ops_backend.migrations.ops_schema import own, own_schema

revision = "s0004"
down_revision = "s0003"
branch_labels = None
depends_on = None

TABLES = ("job_run", "email_record")
CHAIN_COLUMNS = ("chain_seq", "chain_prev", "chain_prev_record", "chain_key_id", "chain_seal")


def chain_columns() -> list[sa.Column]:
    return [
        sa.Column("chain_seq", sa.BigInteger(), nullable=True),
        sa.Column("chain_prev", sa.String(length=64), nullable=True),
        sa.Column("chain_prev_record", sa.String(length=64), nullable=True),
        sa.Column("chain_key_id", sa.String(length=8), nullable=True),
        sa.Column("chain_seal", sa.String(length=64), nullable=True),
    ]


def upgrade() -> None:
    schema = own_schema()
    for table in TABLES:
        for column in chain_columns():
            op.add_column(table, column, schema=schema)
        op.create_index(f"ix_{table}_chain_seq", table, ["chain_seq"], unique=True, schema=schema)
    json = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
    op.add_column("job_run", sa.Column("disabled_events", json, nullable=True), schema=schema)


def downgrade() -> None:
    schema = own_schema()
    # Plain ALTER TABLE ... DROP COLUMN: PostgreSQL and SQLite (3.35 and later, which the project needs) both have it.
    op.execute(f"ALTER TABLE {own('job_run')} DROP COLUMN disabled_events")
    for table in TABLES:
        op.drop_index(f"ix_{table}_chain_seq", table_name=table, schema=schema)
        for column in CHAIN_COLUMNS:
            op.execute(f"ALTER TABLE {own(table)} DROP COLUMN {column}")
