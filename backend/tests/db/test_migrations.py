"""The schema is made only by migrations, and the migrations agree with the models."""

import warnings

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from ops_api.extensions import db
from ops_api.sql import OWN_SCHEMA, VERSION_TABLE, own_schema_of, schema_of

OPS_TABLES = {"ops_user", "role", "user_role", "user_session", "ops_event", "ops_db_history"}
OWN_TABLES = {"user_activity", "future_stamp", "moved_session", "job_run", "email_record"}
OWN_TRIGGERS = {
    "user_deactivation_session_insert",
    "user_deactivation_session_update",
    "user_deactivation_session_delete",
    "user_deactivation_account_insert",
    "user_deactivation_account_update",
}


def schemas() -> tuple[str | None, str | None]:
    """OPS's schema and this project's (both None on SQLite, where all tables share the one file)."""
    if db.engine.dialect.name == "sqlite":
        return None, None
    return schema_of(db.engine), own_schema_of(db.engine)


def tables(schema: str | None) -> set[str]:
    return set(sa.inspect(db.engine).get_table_names(schema=schema))


def index_names(table: str, schema: str | None) -> set[str]:
    """Every index on ``table``, expression indexes included (the inspector skips those on SQLite)."""
    with db.engine.connect() as connection:
        if schema is None:
            rows = connection.execute(
                sa.text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"), {"t": table}
            )
        else:
            rows = connection.execute(
                sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = :s AND tablename = :t"),
                {"s": schema, "t": table},
            )
        return set(rows.scalars())


def triggers() -> set[str]:
    with db.engine.connect() as connection:
        if db.engine.dialect.name == "sqlite":
            return set(connection.execute(sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
        return set(
            connection.execute(
                sa.text(
                    "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND NOT t.tgisinternal"
                ),
                {"s": schema_of(db.engine)},
            ).scalars()
        )


def test_the_migrated_schemas_match_the_models(app):
    ops, own = schemas()
    differences = []
    # Each schema on its own, as the connection's default (compare_metadata reads that one).
    for schema, own_tables in ((ops, False), (own, True)):
        comparable = sa.MetaData(naming_convention=db.metadata.naming_convention)
        for table in db.metadata.tables.values():
            if (table.schema == OWN_SCHEMA) is own_tables:
                table.to_metadata(comparable, schema=None)
        # An engine without the application's schema_translate_map, which would send reflection to OPS's schema.
        plain = sa.create_engine(db.engine.url)
        with plain.connect() as connection:
            if schema is not None:
                connection.exec_driver_sql(f'SET search_path TO "{schema}"')
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    # SQLite holds both sets in one file; Alembic's own table is not a model.
                    "include_name": lambda name, kind, parent, wanted=set(comparable.tables): (
                        kind != "table" or name in wanted
                    ),
                },
            )
            with warnings.catch_warnings():
                # Expression indexes (the activity watermark, created_on DESC) cannot be reflected for comparison.
                warnings.filterwarnings("ignore", message=".*expression-based index.*")
                # alembic-postgresql-enum (imported by the attach tests in this process) adds its own
                # comparison of native enums, against the default schema; the enums are OPS's, not models.
                differences += [d for d in compare_metadata(context, comparable) if "enum" not in str(d[0])]
        plain.dispose()
    assert differences == []


def test_upgrade_puts_this_projects_tables_and_version_table_in_its_own_schema(app):
    ops, own = schemas()

    assert OPS_TABLES <= tables(ops)
    assert OWN_TABLES | {VERSION_TABLE} <= tables(own)
    assert "ix_user_activity_is_active_watermark" in index_names("user_activity", own)
    assert triggers() >= OWN_TRIGGERS


@pytest.mark.postgres_only
def test_opss_schema_gets_nothing_of_this_project_but_triggers(app):
    ops, own = schemas()

    assert not (OWN_TABLES | {VERSION_TABLE}) & tables(ops)
    columns = {c["name"] for c in sa.inspect(db.engine).get_columns("ops_user", schema=ops)}
    assert "last_active_at" not in columns and "reactivated_on" not in columns
    with db.engine.connect() as connection:
        functions = set(
            connection.execute(
                sa.text("SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = :s"),
                {"s": ops},
            ).scalars()
        )
        labels = set(
            connection.execute(
                sa.text(
                    "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid"
                    " JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.typname = 'opseventtype' AND n.nspname = :s"
                ),
                {"s": ops},
            ).scalars()
        )
    assert functions == set()
    assert not {"DISABLE_INACTIVE_USERS", "INACTIVITY_NOTIFICATION"} & labels


@pytest.mark.postgres_only
def test_postgresql_holds_opss_native_enums_and_timestamps_without_time_zone(app):
    ops, own = schemas()
    with db.engine.connect() as connection:
        types = dict(
            connection.execute(
                sa.text(
                    "SELECT column_name, udt_schema || '.' || udt_name FROM information_schema.columns "
                    "WHERE table_schema = :schema AND table_name = :table"
                ),
                {"schema": ops, "table": "ops_user"},
            ).all()
        )
        own_types = dict(
            connection.execute(
                sa.text(
                    "SELECT column_name, udt_schema || '.' || udt_name FROM information_schema.columns "
                    "WHERE table_schema = :schema AND table_name = 'user_activity'"
                ),
                {"schema": own},
            ).all()
        )
    assert types["status"] == f"{ops}.userstatus"
    assert types["created_on"] == "pg_catalog.timestamp"
    assert own_types["last_active_at"] == own_types["reactivated_on"] == "pg_catalog.timestamp"


def test_downgrade_removes_only_this_projects_objects_and_upgrade_restores_them(app):
    ops, own = schemas()

    downgrade(revision="base")

    assert OPS_TABLES <= tables(ops)  # OPS's tables are never dropped
    assert not OWN_TABLES & tables(own)
    assert not triggers() & OWN_TRIGGERS
    upgrade()
    assert OWN_TABLES <= tables(own)
    assert triggers() >= OWN_TRIGGERS
