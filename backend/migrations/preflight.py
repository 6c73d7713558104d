"""Before migrating PostgreSQL: may the connected role do what the migrations need?

Attaching to OPS's database is meant to run as OPS's own role (``ops``), which
owns OPS's tables but may not create a schema. An administrator therefore runs
one statement once, ``CREATE SCHEMA user_deactivation AUTHORIZATION ops;``, and
``flask db upgrade`` as ``ops`` needs nothing more. Whatever is missing is
named here in one line with the exact statement to run, before anything changes.
"""

from __future__ import annotations

from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

# The tables that get this project's triggers, and what the migrations do with them.
TRIGGERED_TABLES = ("ops_user", "user_session")
TABLE_PRIVILEGES = ("SELECT", "TRIGGER")


def check_privileges(connection: Connection, *, ops_schema: str, own_schema: str) -> None:
    """Raise CommandError (one line) unless the role can migrate; create this project's schema if it may.

    Ends the connection's transaction either way, so that the migrations start a fresh one.
    """
    role = connection.execute(text("SELECT current_user")).scalar_one()
    try:
        _check(connection, role, ops_schema=ops_schema, own_schema=own_schema)
    except BaseException:
        connection.rollback()
        raise
    connection.commit()


def _schema_exists(connection: Connection, schema: str) -> bool:
    return connection.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}).first() is not None


def _check(connection: Connection, role: str, *, ops_schema: str, own_schema: str) -> None:
    may_create_schemas = connection.execute(text("SELECT has_database_privilege(current_database(), 'CREATE')")).scalar()
    if not _schema_exists(connection, own_schema):
        if not may_create_schemas:
            raise CommandError(
                f"schema {own_schema} does not exist and role {role} may not create it; "
                f"an administrator runs once: CREATE SCHEMA {own_schema} AUTHORIZATION {role};"
            )
        try:
            connection.exec_driver_sql(f'CREATE SCHEMA "{own_schema}"')
        except DBAPIError as exc:
            raise CommandError(f"schema {own_schema} could not be created: {str(exc.orig).splitlines()[0]}") from None
    missing = [
        privilege
        for privilege in ("USAGE", "CREATE")
        if not connection.execute(text("SELECT has_schema_privilege(:s, :p)"), {"s": own_schema, "p": privilege}).scalar()
    ]
    if missing:
        raise CommandError(
            f"role {role} may not create objects in schema {own_schema}; an administrator runs once: "
            f"GRANT {', '.join(missing)} ON SCHEMA {own_schema} TO {role};"
        )
    if not _schema_exists(connection, ops_schema):
        # An empty database: the first migration creates OPS's schema and tables.
        if not may_create_schemas:
            raise CommandError(
                f"schema {ops_schema} (OPS_DB_SCHEMA) does not exist and role {role} may not create it; "
                "check DATABASE_URL and OPS_DB_SCHEMA"
            )
        return
    if not connection.execute(text("SELECT has_schema_privilege(:s, 'USAGE')"), {"s": ops_schema}).scalar():
        raise CommandError(
            f"role {role} may not use OPS's schema {ops_schema}; an administrator runs once: "
            f"GRANT USAGE ON SCHEMA {ops_schema} TO {role};"
        )
    tables = [
        table
        for table in TRIGGERED_TABLES
        if connection.execute(text("SELECT to_regclass(:t)"), {"t": f'"{ops_schema}"."{table}"'}).scalar() is not None
    ]
    lacking = [
        table
        for table in tables
        if not all(
            connection.execute(
                text("SELECT has_table_privilege(:t, :p)"), {"t": f'"{ops_schema}"."{table}"', "p": privilege}
            ).scalar()
            for privilege in TABLE_PRIVILEGES
        )
    ]
    if lacking:
        names = ", ".join(f"{ops_schema}.{table}" for table in lacking)
        raise CommandError(
            f"role {role} may not read or add triggers to {names}; an administrator runs once: "
            f"GRANT {', '.join(TABLE_PRIVILEGES)} ON {names} TO {role};"
        )
