"""Alembic environment: runs this project's migrations against the Flask app's database.

The version table is this project's own, in its own schema
(OPS_DEACTIVATION_SCHEMA on PostgreSQL); OPS's alembic_version is never read
or written. Before migrating, PostgreSQL is asked whether the connected role
may do what the migrations need; a missing privilege stops the run with one
line naming the statement an administrator runs (no traceback), and so does a
database error during a migration.
"""

import logging
from logging.config import fileConfig
from typing import Any

from alembic import context
from alembic.util import CommandError
from flask import current_app
from sqlalchemy.exc import DBAPIError

from ops_api.errors import describe_error
from ops_api.models.base import UTCDateTime
from ops_api.sql import VERSION_TABLE
from ops_backend.migrations.preflight import check_privileges

config = context.config
if config.config_file_name is not None:
    # Keep the application's own loggers when migrations run in-process.
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

db = current_app.extensions["migrate"].db
target_metadata = db.metadata


def version_table_schema(dialect_name: str) -> str | None:
    return current_app.config["DEACTIVATION_SCHEMA"] if dialect_name == "postgresql" else None


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write application column types as the plain types they store."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def skip_empty_autogenerate(context_: Any, revision: Any, directives: list[Any]) -> None:
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        logger.info("No changes in schema detected.")


def run_migrations_offline() -> None:
    """`flask db upgrade --sql`: the SQL for a database administrator to review and run, written to stdout."""
    context.configure(
        url=db.engine.url.render_as_string(hide_password=False),
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        version_table_schema=version_table_schema(db.engine.dialect.name),
        literal_binds=True,
        render_as_batch=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    options = dict(current_app.extensions["migrate"].configure_args)
    options.setdefault("process_revision_directives", skip_empty_autogenerate)
    options.setdefault("compare_type", True)
    options.setdefault("render_as_batch", True)  # SQLite alters tables by copying them
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            check_privileges(
                connection,
                ops_schema=current_app.config["DB_SCHEMA"],
                own_schema=current_app.config["DEACTIVATION_SCHEMA"],
            )
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table=VERSION_TABLE,
            version_table_schema=version_table_schema(connection.dialect.name),
            render_item=render_item,
            **options,
        )
        try:
            with context.begin_transaction():
                context.run_migrations()
        except DBAPIError as exc:
            # Everything was rolled back (PostgreSQL migrates in one transaction).
            raise CommandError(f"the migration failed and changed nothing: {describe_error(exc)}") from None


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
