"""Attaching to real OPS databases (built by OPS's own migrations and seed), as OPS's own role, and running the job there.

Each test loads a database of its own from backend/tests/data: a fresh OPS
database, or one the first design of this project attached to and ran in.
The role that attaches owns OPS's schema and may not create a schema, like
OPS's ``ops``; an administrator's one statement gives it this project's
schema. OPS's own code is played by plain SQL (logins, requests, logouts, the
session cleanup, its admin pages) and by OPS's own enum tooling
(alembic-postgresql-enum's ``sync_enum_values``, as OPS's migrations call it).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from flask import Flask
from flask_migrate import downgrade, upgrade

from ops_api.extensions import db
from ops_api.models import EmailRecord, JobRun, OpsDBHistory, OpsEvent, OpsEventType, RecordStatus, UserActivity
from ops_api.services.job.job_runs import job_health
from ops_api.services.report.deactivation_report import build_report

import ops_database
from cli_runner import TEST_EVIDENCE_KEY, cli_app, run_flask
from conftest import pg_base_url, pg_problem
from ops_database import FAKEAUTH_IDS, FIRST_DESIGN_DUMP, FRESH_DUMP, OWN_SCHEMA, SYSTEM_ADMIN_ID, Server

pytestmark = pytest.mark.postgres_only

DAY = timedelta(days=1)
# The users of the fresh database who are ACTIVE and not FakeAuth users (the System Admin, 526, is LOCKED).
ORDINARY_ACTIVE = {68, 287, 503, 512, 513, 514, 516, 517, 518, 519}


# -- databases, roles, apps --------------------------------------------------------------


@pytest.fixture(scope="session")
def server() -> Server:
    if pg_problem():
        pytest.skip(f"PostgreSQL not reachable: {pg_problem()}")
    missing = ops_database.tools_missing()
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the attach tests need the PostgreSQL client tools under CI=true: {missing}")
        pytest.skip(missing)
    return Server(pg_base_url())


@pytest.fixture(scope="session")
def ops_role(server: Server) -> Iterator[str]:
    """A role of OPS's kind (it runs OPS's migrations, so it owns OPS's schema; it may not create a schema)."""
    role = f"ops_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    server.create_role(role)
    yield role
    server.drop_role(role)


@pytest.fixture(scope="session")
def templates(server: Server, ops_role: str) -> Iterator[dict[Path, str]]:
    """Each dump loaded once per test process into a template database owned as OPS's would be."""
    made: dict[Path, str] = {}

    def template(dump: Path) -> str:
        if dump not in made:
            name = f"tmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            server.create_database(name)
            made[dump] = name
            server.load(name, dump)
            server.give_ops_schema_to(name, ops_role)
        return made[dump]

    yield template  # type: ignore[misc]
    for name in made.values():
        server.drop_database(name)


def _database(server: Server, template: str) -> Iterator[str]:
    name = f"ops_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    server.create_database(name, template=template)
    yield name
    server.drop_database(name)


@pytest.fixture
def ops_db(server: Server, templates) -> Iterator[str]:
    """A fresh OPS database: OPS's migrations and seed, nothing of this project."""
    yield from _database(server, templates(FRESH_DUMP))


@pytest.fixture
def first_design_db(server: Server, templates) -> Iterator[str]:
    """An OPS database that this project's first design attached to and ran in."""
    yield from _database(server, templates(FIRST_DESIGN_DUMP))


def app_for(url: str) -> Flask:
    return cli_app(
        {"SQLALCHEMY_DATABASE_URI": url, "DB_SCHEMA": "ops", "DEACTIVATION_SCHEMA": OWN_SCHEMA, "TESTING": True, "ENV_NAME": "test"}
    )


@pytest.fixture
def as_ops(server: Server, ops_db: str, ops_role: str) -> Iterator[Flask]:
    """The application on the fresh database, connected as OPS's role, after the administrator's statement."""
    server.create_own_schema(ops_db, ops_role)
    app = app_for(server.url(ops_db, role=ops_role))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def attached(as_ops: Flask) -> Flask:
    upgrade()
    return as_ops


def flask_as(server: Server, database: str, role: str, *args: str):
    """A real `flask` process as OPS's role, on a database with OPS's schema `ops` and this project's."""
    return run_flask(
        *args, database_url=server.url(database, role=role), OPS_DB_SCHEMA="ops", OPS_DEACTIVATION_SCHEMA=OWN_SCHEMA
    )


def one_line_error(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip() and not line.startswith("INFO")]
    assert len(lines) == 1, output
    return lines[0]


def sql(statement: str, **params):
    with db.engine.connect() as connection:
        return connection.execute(sa.text(statement), params).all()


def run_job(app: Flask, *args: str):
    result = app.test_cli_runner().invoke(args=["disable-inactive-users", "--no-email", *args])
    db.session.remove()
    return result


def now() -> datetime:
    return datetime.now(timezone.utc)


# -- the attach, as OPS's role -------------------------------------------------------------


def test_without_the_administrators_statement_the_attach_names_it_in_one_line_and_changes_nothing(server, ops_db, ops_role):
    before = server.dump_schema(ops_db)

    done = flask_as(server, ops_db, ops_role, "db", "upgrade")

    assert done.returncode == 1
    error = one_line_error(done.stderr)
    assert f"CREATE SCHEMA {OWN_SCHEMA} AUTHORIZATION {ops_role};" in error
    assert "Traceback" not in done.stderr
    assert server.dump_schema(ops_db) == before


def test_after_the_administrators_statement_the_attach_as_opss_role_adds_only_triggers_to_opss_schema(server, ops_db, ops_role):
    before = server.dump_schema(ops_db)
    server.create_own_schema(ops_db, ops_role)

    done = flask_as(server, ops_db, ops_role, "db", "upgrade")

    assert done.returncode == 0, done.stderr
    after = server.dump_schema(ops_db)
    removed = set(before.splitlines()) - set(after.splitlines())
    added = [line for line in set(after.splitlines()) - set(before.splitlines()) if line.strip() and not line.startswith("--")]
    assert removed == set()
    assert sorted(line.split()[2] for line in added) == [
        "user_deactivation_account_insert",
        "user_deactivation_account_update",
        "user_deactivation_session_delete",
        "user_deactivation_session_insert",
        "user_deactivation_session_update",
    ]
    assert all(line.startswith("CREATE TRIGGER ") for line in added)
    own = server.psql(ops_db, f"SELECT tablename FROM pg_tables WHERE schemaname = '{OWN_SCHEMA}' ORDER BY 1").split()
    assert own == ["alembic_version", "email_record", "future_stamp", "job_run", "moved_session", "user_activity"]
    assert server.psql(ops_db, "SELECT version_num FROM ops.alembic_version").strip() == ops_database.OPS_ALEMBIC_HEAD
    owners = server.psql(ops_db, f"SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = '{OWN_SCHEMA}'").split()
    assert owners == [ops_role]  # so the job, run as OPS's role, may use every one of them


def test_a_role_that_may_not_add_triggers_to_opss_tables_is_told_the_grant_in_one_line(server, ops_db, ops_role):
    stranger = f"{ops_role}_x"
    server.create_role(stranger)
    try:
        server.create_own_schema(ops_db, stranger)
        server.execute(ops_db, f'GRANT USAGE ON SCHEMA ops TO "{stranger}"')
        before = server.dump_schema(ops_db)

        done = flask_as(server, ops_db, stranger, "db", "upgrade")

        assert done.returncode == 1
        assert f"GRANT SELECT, TRIGGER ON ops.ops_user, ops.user_session TO {stranger};" in one_line_error(done.stderr)
        assert server.dump_schema(ops_db) == before
    finally:
        server.execute(ops_db, f'DROP SCHEMA IF EXISTS "{OWN_SCHEMA}" CASCADE', f'DROP OWNED BY "{stranger}"')
        server.drop_role(stranger)


def test_the_attach_sql_can_be_printed_for_a_database_administrator_and_changes_nothing(server, ops_db, ops_role):
    server.create_own_schema(ops_db, ops_role)
    before = server.dump_schema(ops_db)

    done = flask_as(server, ops_db, ops_role, "db", "upgrade", "--sql")

    assert done.returncode == 0, done.stderr
    assert f"CREATE TABLE {OWN_SCHEMA}.user_activity" in done.stdout
    assert "CREATE TRIGGER user_deactivation_session_insert BEFORE INSERT ON \"ops\".\"user_session\"" in done.stdout
    assert server.dump_schema(ops_db) == before
    assert server.psql(ops_db, f"SELECT count(*) FROM pg_tables WHERE schemaname = '{OWN_SCHEMA}'").strip() == "0"


def test_detaching_leaves_opss_schema_byte_identical_to_before_the_attach(server, ops_db, ops_role, as_ops):
    before = server.dump_schema(ops_db)
    upgrade()
    with db.engine.begin() as connection:  # some life in between: a login, a run
        ops_database.write_session(connection, 503, last_active_at=now())
    assert run_job(as_ops).exit_code == 0

    downgrade(revision="base")
    db.engine.dispose()

    assert server.dump_schema(ops_db) == before
    left = server.psql(ops_db, f"SELECT tablename FROM pg_tables WHERE schemaname = '{OWN_SCHEMA}'").split()
    assert left == ["alembic_version"]  # empty; DROP SCHEMA removes it with the schema


# -- the job in a real OPS database ---------------------------------------------------------


@pytest.fixture
def lived_in(attached: Flask) -> dict[str, int]:
    """The fresh database after months of OPS's own use, written as OPS writes it.

    Every account is 100 days old; sessions by OPS's login, requests, logout and cleanup:
    503 active yesterday, 512 idle 90 days, 513 exactly 60, 514 59.9, 516 active 12 days
    ago then logged out and cleaned up (no session left). 68, 287, 517, 518, 519 never
    logged in. The FakeAuth users (...0029 included) never logged in either.
    """
    moment = now()
    with db.engine.begin() as connection:
        connection.execute(sa.text("UPDATE ops.ops_user SET created_on = created_on - interval '100 days'"))
        ops_database.write_session(connection, 503, last_active_at=moment - DAY)
        ops_database.write_session(connection, 512, last_active_at=moment - 120 * DAY, is_active=False)
        ops_database.write_session(connection, 512, last_active_at=moment - 90 * DAY)
        ops_database.write_session(connection, 513, last_active_at=moment - 60 * DAY)
        ops_database.write_session(connection, 514, last_active_at=moment - timedelta(days=59.9))
        cleaned = ops_database.write_session(connection, 516, last_active_at=moment - 20 * DAY)
        ops_database.touch_session(connection, cleaned, at=moment - 12 * DAY)
        ops_database.log_out(connection, cleaned, at=moment - 12 * DAY)
        ops_database.clean_up_sessions(connection, now=moment, cutoff_days=30)
    return {"due": {68, 287, 512, 513, 517, 518, 519}}


def test_the_job_disables_exactly_the_due_users_as_the_system_admin_would(attached, lived_in):
    before = ops_database_statuses()

    result = run_job(attached)

    assert result.exit_code == 0, result.output
    after = ops_database_statuses()
    assert {user for user in after if after[user] != before[user]} == lived_in["due"]
    assert all(after[user] == "INACTIVE" for user in lived_in["due"])
    assert all(after[user] == "ACTIVE" for user in FAKEAUTH_IDS)  # ...0029 (randy.readonly) too
    assert after[SYSTEM_ADMIN_ID] == "LOCKED"
    for user_id in lived_in["due"]:
        (event,) = [e for e in db.session.scalars(sa.select(OpsEvent)) if e.event_details["user_id"] == user_id]
        assert event.event_type is OpsEventType.UPDATE_USER and event.created_by == SYSTEM_ADMIN_ID
        (history,) = db.session.scalars(
            sa.select(OpsDBHistory).where(OpsDBHistory.class_name == "User", OpsDBHistory.row_key == str(user_id))
        ).all()
        assert history.changes == {"status": {"new": "INACTIVE", "old": "ACTIVE"}} and history.created_by == SYSTEM_ADMIN_ID
    assert sql("SELECT count(*) FROM ops.user_session s JOIN ops.ops_user u ON u.id = s.user_id"
               " WHERE u.status <> 'ACTIVE' AND s.is_active") == [(0,)]
    # Nothing but OPS's own event types in OPS's tables; the run record names the System Admin.
    assert {row[0] for row in sql("SELECT DISTINCT event_type::text FROM ops.ops_event")} == {"UPDATE_USER"}
    (run,) = db.session.scalars(sa.select(JobRun)).all()
    assert (run.status, run.disabled, run.created_by) == (RecordStatus.SUCCESS, 7, SYSTEM_ADMIN_ID)


def test_a_second_run_finds_nobody_and_writes_nothing_into_opss_tables(attached, lived_in):
    assert run_job(attached).exit_code == 0
    events, history = sql("SELECT (SELECT count(*) FROM ops.ops_event), (SELECT count(*) FROM ops.ops_db_history)")[0]

    result = run_job(attached)

    assert result.exit_code == 0, result.output
    assert "Nobody is due" in result.output
    assert sql("SELECT (SELECT count(*) FROM ops.ops_event), (SELECT count(*) FROM ops.ops_db_history)") == [(events, history)]
    assert len(db.session.scalars(sa.select(JobRun)).all()) == 2


def test_the_job_leaves_opss_continuum_trail_in_opss_own_tables(attached, lived_in):
    assert run_job(attached).exit_code == 0

    trail = sql(
        "SELECT v.operation_type, v.status::text, v.end_transaction_id FROM ops.ops_user_version v"
        " WHERE v.id = 512 ORDER BY v.transaction_id"
    )
    assert trail[-1] == (1, "INACTIVE", None)  # the deactivation, an update, open
    assert trail[-2][2] is not None  # the seed's version, closed by it


def test_an_ops_style_sync_of_opseventtype_applies_cleanly_after_the_job_ran(attached, lived_in):
    assert run_job(attached).exit_code == 0
    run_job(attached, "--dry-run")

    sync_ops_event_types()

    assert {row[0] for row in sql("SELECT DISTINCT event_type::text FROM ops.ops_event")} == {"UPDATE_USER"}


def sync_ops_event_types() -> None:
    """OPS's next event-type migration: opseventtype made anew from OPS's own list, as OPS's migrations do it."""
    import alembic_postgresql_enum  # noqa: F401  (registers sync_enum_values on Alembic's operations)
    from alembic_postgresql_enum import TableReference

    with db.engine.begin() as connection:
        operations = Operations(MigrationContext.configure(connection))
        operations.sync_enum_values(  # type: ignore[attr-defined]
            enum_schema="ops",
            enum_name="opseventtype",
            new_values=list(ops_database.OPS_EVENT_TYPES),
            affected_columns=[
                TableReference(table_schema="ops", table_name="ops_event", column_name="event_type"),
                TableReference(table_schema="ops", table_name="ops_event_version", column_name="event_type"),
            ],
            enum_values_to_rename=[],
        )


def ops_database_statuses() -> dict[int, str]:
    with db.engine.connect() as connection:
        return ops_database.statuses(connection)


# -- triggers that never hurt OPS ------------------------------------------------------------


def test_recording_a_requests_activity_writes_no_row_of_opss_tables_but_the_session(attached):
    with db.engine.begin() as connection:
        session_id = ops_database.write_session(connection, 503, last_active_at=now() - DAY)
    user_row = sql("SELECT xmin::text FROM ops.ops_user WHERE id = 503")

    with db.engine.begin() as connection:
        ops_database.touch_session(connection, session_id, at=now())

    assert sql("SELECT xmin::text FROM ops.ops_user WHERE id = 503") == user_row  # ops_user's row was not rewritten
    assert db.session.get(UserActivity, 503).last_active_at > now() - timedelta(minutes=1)


def test_logins_and_status_changes_succeed_with_a_warning_after_this_projects_table_is_dropped(attached, server, ops_db):
    server.execute(ops_db, f"DROP TABLE {OWN_SCHEMA}.user_activity")
    engine = sa.create_engine(server.url(ops_db))
    try:
        with engine.begin() as connection:
            notices = ops_database.collect_notices(connection)
            session_id = ops_database.write_session(connection, 503, last_active_at=now())
            ops_database.touch_session(connection, session_id, at=now() + timedelta(minutes=5))
            ops_database.set_status(connection, 512, "INACTIVE")
            ops_database.set_status(connection, 512, "ACTIVE")
            connection.execute(sa.text("DELETE FROM ops.user_session WHERE id = :id"), {"id": session_id})
            warnings = notices()
    finally:
        engine.dispose()

    assert server.psql(ops_db, "SELECT status FROM ops.ops_user WHERE id = 512").strip() == "ACTIVE"
    assert len(warnings) == 5, warnings
    assert all("user_deactivation:" in w and "user_activity" in w for w in warnings)


def test_a_login_succeeds_after_ops_drops_a_column_the_trigger_reads(attached, server, ops_db):
    server.execute(ops_db, "ALTER TABLE ops.user_session DROP COLUMN is_active")

    server.execute(
        ops_db,
        "INSERT INTO ops.user_session (user_id, ip_address, access_token, refresh_token, last_active_at)"
        " VALUES (503, '10.1.2.3', 'a', 'b', now())",
    )

    assert server.psql(ops_db, "SELECT count(*) FROM ops.user_session WHERE user_id = 503").strip() == "1"


def test_activity_survives_opss_session_cleanup(attached, lived_in):
    assert sql("SELECT count(*) FROM ops.user_session WHERE user_id = 516") == [(0,)]

    assert run_job(attached).exit_code == 0

    assert ops_database_statuses()[516] == "ACTIVE"
    assert now() - db.session.get(UserActivity, 516).last_active_at < 13 * DAY


def test_a_login_written_by_ops_while_the_account_is_disabled_is_stored_ended(attached):
    with db.engine.begin() as connection:
        session_id = ops_database.write_session(connection, 500, last_active_at=now())  # 500 is INACTIVE

    assert sql("SELECT is_active FROM ops.user_session WHERE id = :id", id=session_id) == [(False,)]


def test_a_reactivation_by_opss_own_admin_page_starts_a_fresh_window(attached, lived_in):
    assert run_job(attached).exit_code == 0
    with db.engine.begin() as connection:
        ops_database.set_status(connection, 512, "ACTIVE")

    assert run_job(attached).exit_code == 0

    assert ops_database_statuses()[512] == "ACTIVE"
    assert now() - db.session.get(UserActivity, 512).reactivated_on < timedelta(minutes=5)


def test_a_run_before_the_attach_refuses_and_names_flask_db_upgrade(as_ops):
    result = run_job(as_ops)

    assert result.exit_code == 1
    assert "flask db upgrade" in result.output
    assert ops_database_statuses()[512] == "ACTIVE"


def test_a_run_against_a_schema_without_opss_tables_refuses_in_one_line(server, ops_db, ops_role):
    app = cli_app({"SQLALCHEMY_DATABASE_URI": server.url(ops_db, role=ops_role), "DB_SCHEMA": "ops_missing",
                   "EVIDENCE_KEY": TEST_EVIDENCE_KEY})
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["disable-inactive-users", "--no-email"])
        db.engine.dispose()

    assert result.exit_code == 1
    assert "holds no OPS user table" in one_line_error(result.stderr)


# -- moving a database attached the first way ---------------------------------------------------


def first_design_records(server: Server, database: str) -> tuple[list, list]:
    runs = server.psql(
        database,
        "SELECT id, event_status, event_details->>'outcome', event_details->>'dry_run', event_details->>'disabled'"
        " FROM ops.ops_event WHERE event_type = 'DISABLE_INACTIVE_USERS' ORDER BY id",
    )
    emails = server.psql(
        database,
        "SELECT id, event_status, event_details->>'kind', event_details->>'user_id', event_details->>'recipient'"
        " FROM ops.ops_event WHERE event_type = 'INACTIVITY_NOTIFICATION' ORDER BY id",
    )
    return [line.split("|") for line in runs.splitlines()], [line.split("|") for line in emails.splitlines()]


@pytest.fixture
def moved(server: Server, first_design_db: str, ops_role: str) -> Iterator[tuple[Flask, dict]]:
    before = {
        "records": first_design_records(server, first_design_db),
        "dates": server.psql(first_design_db, "SELECT id, last_active_at, reactivated_on FROM ops.ops_user"
                             " WHERE last_active_at IS NOT NULL OR reactivated_on IS NOT NULL ORDER BY id"),
        "updates": server.psql(first_design_db, "SELECT count(*) FROM ops.ops_event WHERE event_type = 'UPDATE_USER'"),
        "transactions": {int(i) for i in server.psql(first_design_db, "SELECT id FROM ops.transaction").split()},
        "records_only_transactions": {
            int(i)
            for i in server.psql(
                first_design_db,
                "SELECT DISTINCT v.transaction_id FROM ops.ops_event_version v"
                " WHERE v.event_type::text IN ('DISABLE_INACTIVE_USERS', 'INACTIVITY_NOTIFICATION')"
                " AND NOT EXISTS (SELECT 1 FROM ops.ops_event_version o WHERE o.transaction_id = v.transaction_id"
                " AND o.event_type::text NOT IN ('DISABLE_INACTIVE_USERS', 'INACTIVITY_NOTIFICATION'))"
                + "".join(
                    f" AND NOT EXISTS (SELECT 1 FROM ops.{table}_version o WHERE o.transaction_id = v.transaction_id)"
                    for table in ("ops_user", "role", "user_role", "user_session", "ops_db_history")
                ),
            ).split()
        },
    }
    server.create_own_schema(first_design_db, ops_role)
    app = app_for(server.url(first_design_db, role=ops_role))
    with app.app_context():
        upgrade()
        yield app, before
        db.session.remove()
        db.engine.dispose()


def test_the_move_keeps_every_run_and_email_record_with_its_id(moved):
    app, before = moved
    runs, emails = before["records"]

    moved_runs = db.session.scalars(sa.select(JobRun).order_by(JobRun.id)).all()
    moved_emails = db.session.scalars(sa.select(EmailRecord).order_by(EmailRecord.id)).all()

    assert [[str(r.id), r.status.name, r.outcome, str(r.dry_run).lower(), str(r.disabled)] for r in moved_runs] == runs
    assert [[str(e.id), e.status.name, e.kind, str(e.user_id or ""), e.recipient] for e in moved_emails] == emails
    assert len(runs) == 3 and len(emails) == 11


def test_the_move_keeps_every_activity_and_reactivation_moment(moved):
    app, before = moved
    for line in before["dates"].splitlines():
        user_id, last_active_at, reactivated_on = line.split("|")
        view = db.session.get(UserActivity, int(user_id))
        if last_active_at:
            assert view.last_active_at.replace(tzinfo=None) >= datetime.fromisoformat(last_active_at)
        if reactivated_on:
            assert view.reactivated_on.replace(tzinfo=None) == datetime.fromisoformat(reactivated_on)


def test_after_the_move_opss_tables_hold_nothing_of_this_project(moved, server, first_design_db):
    app, before = moved

    assert sql("SELECT DISTINCT event_type::text FROM ops.ops_event") == [("UPDATE_USER",)]
    assert sql("SELECT count(*) FROM ops.ops_event") == [(int(before["updates"]),)]
    assert sql("SELECT DISTINCT event_type::text FROM ops.ops_event_version") == [("UPDATE_USER",)]
    columns = {row[0] for row in sql("SELECT column_name FROM information_schema.columns"
                                     " WHERE table_schema = 'ops' AND table_name = 'ops_user'")}
    assert not {"last_active_at", "reactivated_on"} & columns
    assert sql("SELECT to_regclass('ops.alembic_version_user_deactivation')") == [(None,)]
    functions = sql("SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'ops'")
    assert functions == []
    # The transactions that held only the first design's records went with them; every other one stayed.
    remaining = {row[0] for row in sql("SELECT id FROM ops.transaction")}
    assert remaining == before["transactions"] - before["records_only_transactions"]
    assert len(before["records_only_transactions"]) == 28


def test_after_the_move_opss_next_enum_migration_applies_and_removes_the_first_designs_values(moved):
    sync_ops_event_types()

    labels = {row[0] for row in sql("SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid"
                                    " JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'ops'"
                                    " AND t.typname = 'opseventtype'")}
    assert labels == set(ops_database.OPS_EVENT_TYPES)


def test_after_the_move_the_report_and_the_health_check_show_the_same_history(moved):
    app, before = moved
    runs, emails = before["records"]
    first_run = db.session.scalar(sa.select(sa.func.min(JobRun.started_at)))
    moment = db.session.scalar(sa.select(sa.func.max(JobRun.finished_at))) + timedelta(minutes=1)

    evidence = build_report(db.session, start=first_run - DAY, end=moment, now=moment, threshold_days=60)
    health = job_health(db.session, now=moment)

    assert [(str(r["run_id"]), r["status"], r["outcome"]) for r in evidence.runs] == [(r[0], r[1], r[2]) for r in runs]
    assert len(evidence.deactivations) == 7 and all(d["automatic"] for d in evidence.deactivations)
    assert all(len(d["notices"]) == 1 for d in evidence.deactivations)
    assert health.healthy and health.last_run_outcome == "completed"


def test_a_lost_trigger_stops_the_run_and_restore_triggers_puts_it_back(attached, server, ops_db):
    server.execute(ops_db, "DROP TRIGGER user_deactivation_session_insert ON ops.user_session")
    with db.engine.begin() as connection:  # a login while the trigger is gone: the view does not hear of it
        ops_database.write_session(connection, 514, last_active_at=now())

    refused = run_job(attached)
    restored = attached.test_cli_runner().invoke(args=["restore-triggers"])
    db.session.remove()
    after = run_job(attached, "--dry-run")

    assert refused.exit_code == 1
    assert "user_deactivation_session_insert" in refused.output and "flask restore-triggers" in refused.output
    assert restored.exit_code == 0, restored.output
    assert "5 triggers in place" in restored.output
    assert after.exit_code == 0, after.output
    assert now() - db.session.get(UserActivity, 514).last_active_at < timedelta(minutes=5)  # raised from the session
