"""Alembic environment: runs migrations against the Flask app's database."""

import logging
from logging.config import fileConfig
from typing import Any

from alembic import context
from flask import current_app

from ops_api.models.base import UTCDateTime
from ops_backend.migrations.ops_schema import VERSION_TABLE, schema_for

config = context.config
if config.config_file_name is not None:
    # Keep the application's own loggers when migrations run in-process.
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

db = current_app.extensions["migrate"].db
target_metadata = db.metadata


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
    context.configure(
        url=db.engine.url.render_as_string(hide_password=False),
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        version_table_schema=schema_for(db.engine.dialect.name),
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
        schema = schema_for(connection.dialect.name)
        if schema is not None:
            # An empty database: the version table below needs its schema. In
            # an OPS database the schema exists and this changes nothing.
            connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # Our own version table, in OPS's schema; OPS's alembic_version is never read or written.
            version_table=VERSION_TABLE,
            version_table_schema=schema_for(connection.dialect.name),
            render_item=render_item,
            **options,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
