"""What the migrations need to know about the database they run in.

This project lives beside OPS inside OPS's database. On PostgreSQL its own
objects (tables, trigger functions, its Alembic version table) live in a
schema of its own, ``OPS_DEACTIVATION_SCHEMA``; in OPS's schema,
``OPS_DB_SCHEMA``, it adds nothing but triggers. SQLite, the embedded
default, has no schemas: there both sets of tables share the one file.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from flask import current_app

# The version table of the first design, which kept everything in OPS's schema (moved by s0003).
LEGACY_VERSION_TABLE = "alembic_version_user_deactivation"


def dialect_name() -> str:
    return str(op.get_context().dialect.name)


def is_postgresql() -> bool:
    return dialect_name() == "postgresql"


def is_offline() -> bool:
    return context.is_offline_mode()


def ops_schema() -> str | None:
    """OPS's schema: OPS_DB_SCHEMA on PostgreSQL, none on SQLite."""
    return current_app.config["DB_SCHEMA"] if is_postgresql() else None


def own_schema() -> str | None:
    """This project's schema: OPS_DEACTIVATION_SCHEMA on PostgreSQL, none on SQLite."""
    return current_app.config["DEACTIVATION_SCHEMA"] if is_postgresql() else None


def has_table(name: str, *, own: bool = False) -> bool:
    return sa.inspect(op.get_bind()).has_table(name, schema=own_schema() if own else ops_schema())


def enum_exists(name: str) -> bool:
    return bool(
        op.get_bind().execute(
            sa.text(
                "SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
                " WHERE t.typname = :name AND n.nspname = :schema"
            ),
            {"name": name, "schema": ops_schema()},
        ).scalar()
    )


def q(name: str) -> str:
    """One of OPS's objects, qualified with OPS's schema, for statements written as text."""
    schema = ops_schema()
    return f'"{schema}"."{name}"' if schema else f'"{name}"'


def own(name: str) -> str:
    """One of this project's objects, qualified with its schema, for statements written as text."""
    schema = own_schema()
    return f'"{schema}"."{name}"' if schema else f'"{name}"'
