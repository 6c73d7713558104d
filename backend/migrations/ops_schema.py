"""What the migrations need to know about the database they run in.

This project lives inside OPS's database: its migrations keep their own
version table (OPS's Alembic owns ``alembic_version``), and on PostgreSQL
they work in ``OPS_DB_SCHEMA`` alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from flask import current_app

# This project's Alembic version table; OPS's own is alembic_version, untouched.
VERSION_TABLE = "alembic_version_user_deactivation"


def schema_for(dialect_name: str) -> str | None:
    """The schema of OPS's tables: OPS_DB_SCHEMA on PostgreSQL, none on SQLite."""
    return current_app.config["DB_SCHEMA"] if dialect_name == "postgresql" else None


def target_schema() -> str | None:
    return schema_for(op.get_bind().dialect.name)


def is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def has_table(name: str) -> bool:
    return sa.inspect(op.get_bind()).has_table(name, schema=target_schema())


def enum_exists(name: str) -> bool:
    return bool(
        op.get_bind().execute(
            sa.text(
                "SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
                " WHERE t.typname = :name AND n.nspname = :schema"
            ),
            {"name": name, "schema": target_schema()},
        ).scalar()
    )


def q(name: str) -> str:
    """``name`` qualified with the target schema, for statements written as text."""
    schema = target_schema()
    return f'"{schema}"."{name}"' if schema else f'"{name}"'
