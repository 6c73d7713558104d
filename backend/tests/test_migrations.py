"""The schema is made only by migrations, and the migrations agree with the models."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from ops_api.extensions import db

EXPECTED_TABLES = {"ops_user", "role", "user_role", "user_session", "ops_event", "ops_db_history", "alembic_version"}


def test_the_migrated_schema_matches_the_models(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_upgrade_creates_every_table_and_the_activity_index(app):
    inspector = sa.inspect(db.engine)
    assert EXPECTED_TABLES <= set(inspector.get_table_names())
    indexes = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("user_session")}
    assert indexes["ix_user_session_user_id_last_active_at"] == ["user_id", "last_active_at"]


def test_downgrade_to_base_and_upgrade_again_round_trips(app):
    downgrade(revision="base")
    assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}

    upgrade()
    assert EXPECTED_TABLES <= set(sa.inspect(db.engine).get_table_names())
