"""Attaching to a database that OPS's own migrations built, and running the job inside it.

The database is shaped like OPS's (tests/ops_database.py): schema of its own,
native enums, OPS's nullability, a LOCKED System Admin, OPS's alembic_version,
sessions written by plain SQL, and OPS's session cleanup deleting rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade
from freezegun import freeze_time

from ops_api import create_app
from ops_api.extensions import db
from ops_api.models import OpsDBHistory, OpsEvent, OpsEventType, User, UserSession, UserStatus
from ops_api.services.user_deactivation import UserDeactivationService

import ops_database
from conftest import drop_schema, pg_base_url, pg_problem

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def ops_schema() -> Iterator[str]:
    if pg_problem():
        pytest.skip(f"PostgreSQL not reachable: {pg_problem()}")
    schema = f"ops_attach_{uuid.uuid4().hex[:10]}"
    yield schema
    drop_schema(schema)


@pytest.fixture
def seeded(ops_schema: str) -> dict[str, ops_database.OpsUser]:
    engine = sa.create_engine(pg_base_url())
    try:
        return ops_database.build(engine, ops_schema, now=NOW)
    finally:
        engine.dispose()


@pytest.fixture
def ops_app(ops_schema: str, seeded) -> Iterator[Flask]:
    application = create_app({"SQLALCHEMY_DATABASE_URI": pg_base_url(), "DB_SCHEMA": ops_schema, "TESTING": True})
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def attached(ops_app: Flask) -> Flask:
    """The OPS-shaped database after `flask db upgrade`."""
    upgrade()
    return ops_app


def run_job(app: Flask, *args: str):
    result = app.test_cli_runner().invoke(args=["disable-inactive-users", "--no-email", *args])
    db.session.remove()
    return result


def raw(sql: str, **params):
    with db.engine.connect() as connection:
        return connection.execute(sa.text(sql), params).all()


def test_upgrade_adds_only_this_projects_objects_to_an_ops_schema(ops_app, ops_schema, seeded):
    with db.engine.connect() as connection:
        before = ops_database.objects_in_schema(connection, ops_schema)
        public_before = ops_database.objects_in_schema(connection, "public")

    upgrade()

    with db.engine.connect() as connection:
        after = ops_database.objects_in_schema(connection, ops_schema)
        public_after = ops_database.objects_in_schema(connection, "public")
        ops_head = connection.exec_driver_sql(f"SELECT version_num FROM {ops_schema}.alembic_version").scalars().all()
        columns = {c["name"] for c in sa.inspect(connection).get_columns("ops_user", schema=ops_schema)}
    added = {name for _, name in after - before}
    assert before <= after  # nothing of OPS's was dropped or replaced
    assert added == {
        "alembic_version_user_deactivation",
        "alembic_version_user_deactivation_pkc",
        "ix_ops_user_status_activity_watermark",
        "ix_user_session_user_id_last_active_at",
        "ix_ops_event_event_type_created_on",
        "user_session_records_activity",
        "ops_user_records_reactivation",
        # PostgreSQL's row type for the new version table
        "_alembic_version_user_deactivation",
    }
    assert public_after == public_before
    assert ops_head == [ops_database.OPS_ALEMBIC_HEAD]
    assert {"last_active_at", "reactivated_on"} <= columns


def test_upgrade_adds_the_jobs_event_types_to_opss_enum(attached, ops_schema):
    labels = {
        row[0]
        for row in raw(
            "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
            "JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.typname = 'opseventtype' AND n.nspname = :s",
            s=ops_schema,
        )
    }
    assert {"DISABLE_INACTIVE_USERS", "INACTIVITY_NOTIFICATION", "UPDATE_USER", "LOGIN_ATTEMPT"} <= labels


def test_upgrade_backfills_each_users_last_activity_from_their_sessions(attached, seeded):
    recent = db.session.get(User, seeded["recent"].id)
    never = db.session.get(User, seeded["never_logged_in_old"].id)

    assert recent.last_active_at == NOW - 1 * DAY
    assert never.last_active_at is None


def test_the_job_disables_exactly_the_due_ops_users_as_the_locked_system_admin(attached, ops_schema, seeded):
    with freeze_time(NOW):
        result = run_job(attached)

    assert result.exit_code == 0, result.output
    statuses = {key: db.session.get(User, user.id).status for key, user in seeded.items()}
    disabled = {key for key, user in seeded.items() if user.status == "ACTIVE" and statuses[key] is UserStatus.INACTIVE}
    assert disabled == ops_database.DUE
    assert statuses["system_admin"] is UserStatus.LOCKED
    admin_id = seeded["system_admin"].id
    for key in ops_database.DUE:
        user_id = seeded[key].id
        events = [
            e for e in db.session.scalars(select_events(OpsEventType.UPDATE_USER)) if e.event_details["user_id"] == user_id
        ]
        assert len(events) == 1 and events[0].created_by == admin_id
        history = db.session.scalars(
            sa.select(OpsDBHistory).where(OpsDBHistory.class_name == "User", OpsDBHistory.row_key == str(user_id))
        ).all()
        assert len(history) == 1
        assert history[0].changes["status"] == {"new": "INACTIVE", "old": "ACTIVE"}
        assert history[0].created_by == admin_id
        assert history[0].event_details["id"] == user_id
        assert history[0].event_details["status"] == "INACTIVE"
        live = db.session.scalars(
            sa.select(UserSession).where(UserSession.user_id == user_id, UserSession.is_active.is_(True))
        ).all()
        assert live == []
    stored = raw(f"SELECT status::text FROM {ops_schema}.ops_user WHERE id = :id", id=seeded["idle_90"].id)
    assert stored == [("INACTIVE",)]  # the member name, in OPS's native enum


def test_the_job_leaves_opss_continuum_trail_for_a_disabled_user_in_opss_own_tables(attached, ops_schema, seeded):
    user_id = seeded["idle_90"].id
    with freeze_time(NOW):
        result = run_job(attached)

    assert result.exit_code == 0, result.output
    trail = raw(
        f"SELECT v.transaction_id, v.end_transaction_id, v.operation_type, v.status::text, v.first_name, t.issued_at"
        f" FROM {ops_schema}.ops_user_version v JOIN {ops_schema}.transaction t ON t.id = v.transaction_id"
        " WHERE v.id = :id ORDER BY v.transaction_id",
        id=user_id,
    )
    (seed_tx, closed_by, seed_op, seed_status, _, _), (tx, still_open, op, status, first_name, issued_at) = trail
    assert (seed_op, seed_status) == (0, "ACTIVE")  # the version OPS's loader left
    assert closed_by == tx and still_open is None
    assert (op, status, first_name) == (1, "INACTIVE", "Seed")  # every OPS column copied, the status an update
    assert issued_at == NOW.replace(tzinfo=None)
    ended = raw(
        f"SELECT is_active, operation_type FROM {ops_schema}.user_session_version WHERE transaction_id = :tx", tx=tx
    )
    assert ended and all(row == (False, 1) for row in ended)
    event_id = raw(
        f"SELECT id FROM {ops_schema}.ops_event WHERE event_type = 'UPDATE_USER' AND (event_details->>'user_id')::int = :id",
        id=user_id,
    )[0][0]
    assert raw(f"SELECT operation_type FROM {ops_schema}.ops_event_version WHERE id = :id AND transaction_id = :tx", id=event_id, tx=tx) == [(0,)]
    history = raw(f"SELECT count(*) FROM {ops_schema}.ops_db_history_version WHERE transaction_id = :tx", tx=tx)[0][0]
    assert history == 1 + len(ended)  # the user's history row and one per ended session


def test_a_second_run_finds_nobody_and_writes_only_its_run_record(attached, seeded):
    with freeze_time(NOW):
        run_job(attached)
    events_before = db.session.scalar(sa.select(sa.func.count()).select_from(OpsEvent))
    with freeze_time(NOW + timedelta(hours=1)):
        result = run_job(attached)

    assert result.exit_code == 0, result.output
    assert "Nobody is due" in result.output
    events_after = db.session.scalar(sa.select(sa.func.count()).select_from(OpsEvent))
    run_records = db.session.scalars(select_events(OpsEventType.DISABLE_INACTIVE_USERS)).all()
    assert events_after == events_before + 1
    assert len(run_records) == 2


def test_activity_written_by_plain_sql_survives_opss_session_cleanup(attached, ops_schema, seeded):
    user_id = seeded["active_then_cleaned"].id
    with db.engine.begin() as connection:
        session_id = connection.exec_driver_sql(
            f"SELECT id FROM {ops_schema}.user_session WHERE user_id = {int(user_id)}"
        ).scalar_one()
        ops_database.touch_session(connection, ops_schema, session_id, at=NOW - 10 * DAY)
        ops_database.log_out(connection, ops_schema, session_id, at=NOW - 10 * DAY)
        deleted = ops_database.clean_up_sessions(connection, ops_schema, now=NOW, cutoff_days=30)
    assert deleted >= 1
    assert raw(f"SELECT count(*) FROM {ops_schema}.user_session WHERE user_id = :id", id=user_id) == [(0,)]

    with freeze_time(NOW):
        preview = UserDeactivationService(db.session).find_inactive_users()
        result = run_job(attached)

    assert result.exit_code == 0, result.output
    assert user_id not in {c.user_id for c in preview}
    user = db.session.get(User, user_id)
    assert user.status is UserStatus.ACTIVE
    assert user.last_active_at == NOW - 10 * DAY


def test_deleting_every_session_never_lowers_the_last_activity(attached, ops_schema, seeded):
    user_id = seeded["recent"].id
    with db.engine.begin() as connection:
        connection.exec_driver_sql(f"DELETE FROM {ops_schema}.user_session WHERE user_id = {int(user_id)}")

    assert db.session.get(User, user_id).last_active_at == NOW - 1 * DAY


def test_a_login_written_by_ops_while_the_account_is_disabled_is_stored_ended(attached, ops_schema, seeded):
    user_id = seeded["inactive_idle"].id
    with db.engine.begin() as connection:
        session_id = ops_database.write_session(connection, ops_schema, user_id, last_active_at=NOW)

    assert raw(f"SELECT is_active FROM {ops_schema}.user_session WHERE id = :id", id=session_id) == [(False,)]


def test_after_cleanup_the_job_still_disables_a_user_whose_activity_is_old(attached, ops_schema, seeded):
    with db.engine.begin() as connection:
        ops_database.clean_up_sessions(connection, ops_schema, now=NOW, cutoff_days=30)
    with freeze_time(NOW):
        due = {c.user_id for c in UserDeactivationService(db.session).find_inactive_users()}

    assert due == {seeded[key].id for key in ops_database.DUE}


def test_a_run_against_a_schema_without_ops_tables_refuses_in_one_line(ops_app, ops_schema):
    app = create_app({"SQLALCHEMY_DATABASE_URI": pg_base_url(), "DB_SCHEMA": f"{ops_schema}_missing"})
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["disable-inactive-users", "--no-email"])
        db.engine.dispose()

    assert result.exit_code == 1
    message = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(message) == 1 and "holds no OPS user table" in message[0]


def test_a_run_before_upgrade_refuses_and_names_flask_db_upgrade(ops_app):
    with freeze_time(NOW):
        result = run_job(ops_app)

    assert result.exit_code == 1
    assert "flask db upgrade" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User).where(User.status == UserStatus.INACTIVE)) == 1


def select_events(event_type: OpsEventType):
    return sa.select(OpsEvent).where(OpsEvent.event_type == event_type).order_by(OpsEvent.id)


def test_a_reactivation_made_by_opss_own_code_starts_a_fresh_window(attached, ops_schema, seeded):
    user_id = seeded["inactive_idle"].id  # idle 300 days before NOW
    before = datetime.now(timezone.utc)
    # OPS's admin page: a plain UPDATE of status (and its own updated_on), knowing nothing of reactivated_on.
    with db.engine.begin() as connection:
        connection.exec_driver_sql(
            f"UPDATE {ops_schema}.ops_user SET status = 'ACTIVE', updated_on = now() WHERE id = {int(user_id)}"
        )

    user = db.session.get(User, user_id)
    assert user.reactivated_on is not None and before - timedelta(seconds=5) <= user.reactivated_on
    result = run_job(attached)  # the real clock: the reactivation just happened
    assert result.exit_code == 0, result.output
    assert db.session.get(User, user_id).status is UserStatus.ACTIVE
