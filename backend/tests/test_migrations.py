"""The schema is made only by migrations, and the migrations agree with the models."""

import warnings

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from ops_api.extensions import db
from ops_api.sql import schema_of
from ops_backend.migrations.ops_schema import VERSION_TABLE

OPS_TABLES = {"ops_user", "role", "user_role", "user_session", "ops_event", "ops_db_history"}
ADDED_INDEXES = {
    "ops_user": "ix_ops_user_status_activity_watermark",
    "user_session": "ix_user_session_user_id_last_active_at",
    "ops_event": "ix_ops_event_event_type_created_on",
}


def inspector_and_schema():
    return sa.inspect(db.engine), schema_of(db.engine)


def index_names(table: str) -> set[str]:
    """Every index on ``table``, expression indexes included (the inspector skips those on SQLite)."""
    schema = schema_of(db.engine)
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


def test_the_migrated_schema_matches_the_models(app):
    schema = schema_of(db.engine)
    with db.engine.connect() as connection:
        if schema is not None:
            # compare_metadata reads the connection's default schema.
            connection.exec_driver_sql(f'SET search_path TO "{schema}"')
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        with warnings.catch_warnings():
            # Expression indexes (the activity watermark, created_on DESC) cannot be reflected for comparison.
            warnings.filterwarnings("ignore", message=".*expression-based index.*")
            differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_upgrade_creates_opss_tables_this_projects_version_table_and_its_indexes(app):
    inspector, schema = inspector_and_schema()
    tables = set(inspector.get_table_names(schema=schema))

    assert OPS_TABLES | {VERSION_TABLE} <= tables
    assert "alembic_version" not in tables  # OPS's own, never made or touched here
    for table, index in ADDED_INDEXES.items():
        assert index in index_names(table)
    columns = {c["name"]: c for c in inspector.get_columns("ops_user", schema=schema)}
    assert columns["last_active_at"]["nullable"] and columns["reactivated_on"]["nullable"]
    assert not columns["email"]["nullable"] and not columns["status"]["nullable"]


@pytest.mark.postgres_only
def test_postgresql_holds_opss_native_enums_and_timestamps_without_time_zone(app):
    schema = schema_of(db.engine)
    with db.engine.connect() as connection:
        types = dict(
            connection.execute(
                sa.text(
                    "SELECT column_name, udt_schema || '.' || udt_name FROM information_schema.columns "
                    "WHERE table_schema = :schema AND table_name = 'ops_user'"
                ),
                {"schema": schema},
            ).all()
        )
    assert types["status"] == f"{schema}.userstatus"
    assert types["created_on"] == "pg_catalog.timestamp"
    assert types["last_active_at"] == "pg_catalog.timestamp"


def test_downgrade_removes_only_this_projects_additions_and_upgrade_restores_them(app):
    downgrade(revision="base")
    inspector, schema = inspector_and_schema()
    assert OPS_TABLES <= set(inspector.get_table_names(schema=schema))  # OPS's tables are never dropped
    assert "last_active_at" not in {c["name"] for c in inspector.get_columns("ops_user", schema=schema)}

    upgrade()
    inspector, schema = inspector_and_schema()
    assert "last_active_at" in {c["name"] for c in inspector.get_columns("ops_user", schema=schema)}
    assert ADDED_INDEXES["ops_user"] in index_names("ops_user")
