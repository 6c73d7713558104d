"""SQLAlchemy-Continuum's version trail for the six tables: ``transaction`` and ``<table>_version``, where missing.

OPS versions every model with SQLAlchemy-Continuum, so an OPS database holds
all of them already and this revision changes nothing there. In an empty
database it creates them as Continuum does: each shadow copies its base
table's columns (read from the database, so the types are the base table's
own), all nullable but the key, without the columns this project adds to
``ops_user``, plus ``transaction_id``, ``end_transaction_id`` and
``operation_type``, keyed on the base key and ``transaction_id``.

Revision ID: u0003
Revises: u0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from ops_backend.migrations.ops_schema import has_table, target_schema

revision = "u0003"
down_revision = "u0002"
branch_labels = None
depends_on = None

VERSIONED = ("ops_user", "role", "user_role", "user_session", "ops_event", "ops_db_history")
# Columns this project adds (u0002): outside OPS's trail.
NOT_VERSIONED = {"ops_user": {"last_active_at", "reactivated_on"}}


def shadow_columns(inspector: sa.Inspector, table: str, key: list[str]) -> list[sa.Column]:
    schema = target_schema()
    columns = []
    for column in inspector.get_columns(table, schema=schema):
        if column["name"] in NOT_VERSIONED.get(table, set()):
            continue
        column_type = column["type"]
        if isinstance(column_type, postgresql.ENUM):
            # OPS's type, already in the schema: used, never created.
            column_type = postgresql.ENUM(name=column_type.name, schema=schema, create_type=False)
        columns.append(sa.Column(column["name"], column_type, nullable=column["name"] not in key, autoincrement=False))
    return columns


def upgrade() -> None:
    schema = target_schema()
    inspector = sa.inspect(op.get_bind())
    if not has_table("transaction"):
        op.create_table(
            "transaction",
            sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
            sa.Column("remote_addr", sa.String(length=50), nullable=True),
            sa.Column("issued_at", sa.DateTime(), nullable=True),
            schema=schema,
        )
    for table in VERSIONED:
        shadow = f"{table}_version"
        if has_table(shadow):
            continue
        key = inspector.get_pk_constraint(table, schema=schema)["constrained_columns"]
        op.create_table(
            shadow,
            *shadow_columns(inspector, table, key),
            sa.Column("transaction_id", sa.BigInteger(), nullable=False, autoincrement=False),
            sa.Column("end_transaction_id", sa.BigInteger(), nullable=True),
            sa.Column("operation_type", sa.SmallInteger(), nullable=False),
            sa.PrimaryKeyConstraint(*key, "transaction_id", name=f"pk_{shadow}"),
            schema=schema,
        )
        for column in ("transaction_id", "end_transaction_id", "operation_type"):
            op.create_index(f"ix_{shadow}_{column}", shadow, [column], schema=schema)


def downgrade() -> None:
    # Continuum's tables belong to OPS: never dropped here (as in u0001).
    pass
