"""Faults in the middle of a run (PostgreSQL): SIGTERM and a killed connection. Nothing is half-applied."""

import json
import os
import signal
import time
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from freezegun import freeze_time
from sqlalchemy import insert, select

from ops_api.clock import utcnow
from ops_api.models import JobRun, OpsDBHistory, OpsDBHistoryType, OpsEvent, OpsEventType, RecordStatus, User, UserSession, UserStatus
from ops_api.sql import qualified

import factories
from cli_runner import TEST_EVIDENCE_KEY, invoke, start_flask
from factories import deactivation_service, run_job
from webhook_receiver import webhook_receiver

DUE = 150
JOB_APPLICATION_NAME = "ops_job_under_fault"
STATUS_CHANGE_GATE = 2026  # second key of the advisory lock the slow trigger waits on
pytestmark = pytest.mark.postgres_only


@pytest.fixture
def slow_due_population(session):
    """DUE due users with a live session each; every status change takes ~40 ms (a trigger that sleeps).

    The trigger also takes a shared advisory lock keyed on the schema, so a test that
    holds that lock (``hold_status_changes``) stops the job inside a user's transaction.
    """
    long_ago = utcnow() - timedelta(days=400)
    session.execute(
        insert(User),
        [{"email": f"due{i}@example.gov", "status": UserStatus.ACTIVE, "created_on": long_ago, "updated_on": long_ago} for i in range(DUE)],
    )
    ids = session.scalars(select(User.id)).all()
    session.execute(
        insert(UserSession),
        [{"user_id": uid, "ip_address": "10.0.0.1", "is_active": True, "last_active_at": long_ago, "created_on": long_ago, "updated_on": long_ago} for uid in ids],
    )
    function, table = factories.table_name(session, "slow_status_change"), factories.table_name(session, "ops_user")
    session.execute(sa.text(
        f"CREATE FUNCTION {function}() RETURNS trigger AS $$ BEGIN "
        f"PERFORM pg_advisory_xact_lock_shared(hashtext(TG_TABLE_SCHEMA), {STATUS_CHANGE_GATE}); "
        f"PERFORM pg_sleep(0.04); RETURN NEW; END $$ LANGUAGE plpgsql"
    ))
    session.execute(sa.text(
        f"CREATE TRIGGER slow_status_change BEFORE UPDATE OF status ON {table} FOR EACH ROW "
        f"WHEN (NEW.status = 'INACTIVE') EXECUTE FUNCTION {function}()"
    ))
    session.commit()
    yield set(ids)
    session.rollback()
    session.execute(sa.text(f"DROP TRIGGER IF EXISTS slow_status_change ON {table}"))
    session.execute(sa.text(f"DROP FUNCTION IF EXISTS {function}()"))
    session.commit()


def count_inactive(database_url):
    engine = factories.open_engine(database_url)
    with engine.connect() as connection:
        count = connection.execute(select(sa.func.count()).select_from(User).where(User.status == UserStatus.INACTIVE)).scalar()
    engine.dispose()
    return count


def wait_until_some_are_disabled(database_url, at_least=10, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count_inactive(database_url) >= at_least:
            return
        time.sleep(0.05)
    raise AssertionError("the run did not get going")


def assert_nothing_half_applied(session, due_ids):
    """Each user is either untouched, or INACTIVE with its sessions ended and exactly one event and one status row."""
    session.expire_all()
    statuses = dict(session.execute(select(User.id, User.status)).all())
    live = Counter(session.scalars(select(UserSession.user_id).where(UserSession.is_active.is_(True))))
    events = session.scalars(select(OpsEvent).where(OpsEvent.event_type == OpsEventType.UPDATE_USER)).all()
    per_user = Counter(e.event_details["user_id"] for e in events)
    history = session.scalars(
        select(OpsDBHistory.row_key).where(OpsDBHistory.class_name == "User", OpsDBHistory.event_type == OpsDBHistoryType.UPDATED)
    ).all()
    status_rows = Counter(int(key) for key in history)
    for uid in due_ids:
        if statuses[uid] is UserStatus.INACTIVE:
            assert (per_user[uid], status_rows[uid], live[uid]) == (1, 1, 0), uid
        else:
            assert statuses[uid] is UserStatus.ACTIVE
            assert (per_user[uid], status_rows[uid], live[uid]) == (0, 0, 1), uid
    return {uid for uid in due_ids if statuses[uid] is UserStatus.INACTIVE}


@contextmanager
def hold_status_changes(database_url):
    """Hold the lock the slow trigger waits on: the job stops inside its next user's transaction."""
    engine = factories.open_engine(database_url)
    with engine.connect() as connection:
        schema = os.environ["OPS_DB_SCHEMA"]
        connection.execute(sa.text("SELECT pg_advisory_lock(hashtext(:schema), :gate)"), {"schema": schema, "gate": STATUS_CHANGE_GATE})
        try:
            yield
        finally:
            connection.execute(sa.text("SELECT pg_advisory_unlock(hashtext(:schema), :gate)"), {"schema": schema, "gate": STATUS_CHANGE_GATE})
    engine.dispose()


def kill_job_connection_mid_transaction(database_url, timeout=30):
    """Terminate the job's connection once it waits inside a user's transaction; how many were terminated."""
    # Autocommit: inside one transaction pg_stat_activity keeps showing its first snapshot.
    killer = factories.open_engine(database_url, isolation_level="AUTOCOMMIT")
    deadline = time.monotonic() + timeout
    killed = 0
    with killer.connect() as connection:
        while not killed and time.monotonic() < deadline:
            killed = connection.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name AND state = 'active' AND wait_event_type = 'Lock'"
                ),
                {"name": JOB_APPLICATION_NAME},
            ).scalar()
            time.sleep(0.02)
    killer.dispose()
    return killed


def test_sigterm_mid_run_finishes_the_user_in_hand_reports_and_exits_1(app, session, database_url, slow_due_population):
    job = start_flask("disable-inactive-users", "--max-disable", "0", "--format", "json", database_url=database_url)
    wait_until_some_are_disabled(database_url)

    job.send_signal(signal.SIGTERM)
    stdout, stderr = job.communicate(timeout=30)

    assert job.returncode == 1, stderr[-1000:]
    report = json.loads(stdout)
    assert report["skipped_reason"].startswith("stopped on request:")
    disabled = assert_nothing_half_applied(session, slow_due_population)
    assert set(report["disabled"]) == disabled
    assert 0 < len(disabled) < DUE
    assert any(json.loads(line).get("event") == "stop_requested" for line in stderr.splitlines() if line.startswith("{"))
    (summary,) = session.scalars(select(JobRun)).all()
    assert (summary.status, summary.outcome) == (RecordStatus.FAILED, "stopped")

    rerun = invoke(app, "disable-inactive-users", "--max-disable", "0", "--format", "json")  # the next run, in process

    assert rerun.exit_code == 0
    assert set(json.loads(rerun.stdout)["disabled"]) == slow_due_population - disabled
    assert assert_nothing_half_applied(session, slow_due_population) == slow_due_population


def test_a_killed_database_connection_mid_run_loses_nothing_alerts_and_the_next_run_finishes(
    app, session, database_url, slow_due_population
):
    job_url = f"{database_url}{'&' if '?' in database_url else '?'}application_name={JOB_APPLICATION_NAME}"
    with webhook_receiver() as receiver:
        job = start_flask(
            "disable-inactive-users", "--max-disable", "0", "--format", "json",
            database_url=job_url, OPS_ALERT_URLS=receiver.url(), OPS_ENV_NAME="fault-test",
        )
        wait_until_some_are_disabled(database_url)
        with hold_status_changes(database_url):
            killed = kill_job_connection_mid_transaction(database_url)
        stdout, stderr = job.communicate(timeout=120)
        alerts = receiver.wait_for(1, timeout=15)

    assert killed >= 1, f"the job was not found waiting mid-transaction (exit {job.returncode}): {stderr[-1000:]}"
    assert job.returncode == 1, stderr[-1000:]
    report = json.loads(stdout)
    assert len(report["failed"]) >= 1
    assert "fault-test" in json.dumps(alerts)
    assert_nothing_half_applied(session, slow_due_population)

    rerun = invoke(app, "disable-inactive-users", "--max-disable", "0", "--format", "json")  # the next run, in process

    assert rerun.exit_code == 0, rerun.stderr[-1000:]
    assert assert_nothing_half_applied(session, slow_due_population) == slow_due_population


def test_a_user_whose_row_another_transaction_holds_fails_after_the_lock_wait_and_the_others_go_on(session, database_url):

    long_ago = utcnow() - timedelta(days=400)
    session.execute(
        insert(User),
        [{"email": f"held{i}@example.gov", "status": UserStatus.ACTIVE, "created_on": long_ago, "updated_on": long_ago} for i in range(3)],
    )
    session.commit()
    first, held, last = session.scalars(select(User.id).order_by(User.id)).all()
    session.execute(
        insert(UserSession),
        [{"user_id": uid, "ip_address": "10.0.0.1", "is_active": True, "last_active_at": long_ago, "created_on": long_ago, "updated_on": long_ago} for uid in (first, held, last)],
    )
    session.commit()
    holder = factories.open_engine(database_url)
    with holder.connect() as connection:
        connection.execute(select(User.id).where(User.id == held).with_for_update())
        started = time.monotonic()
        report = run_job(session)
        waited = time.monotonic() - started
        connection.rollback()
    holder.dispose()

    assert sorted(report.disabled) == [first, last]
    assert [f.user_id for f in report.failed] == [held]
    assert "lock timeout" in report.failed[0].error
    assert 4 < waited < 30
    assert_nothing_half_applied(session, {first, held, last})


def test_many_users_at_once_are_asked_about_in_batches(session):

    # More ids than PostgreSQL takes parameters in one statement.
    assert deactivation_service(session).last_seen_of(range(1, 70_002)) == {}


# -- stuck and killed runs ------------------------------------------------------


def job_backends_waiting_on_a_lock(database_url, application_name):
    engine = factories.open_engine(database_url)
    with engine.connect() as connection:
        waiting = connection.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name AND wait_event_type = 'Lock'"
            ),
            {"name": application_name},
        ).scalar()
    engine.dispose()
    return waiting


def sigterm_once_the_job_waits_on_a_lock(database_url):
    """Start the job, SIGTERM it once it waits on a lock; return (job, stderr, seconds from the signal to its end).

    Its timeouts are far beyond the test: only the stop request can end the wait.
    """
    job_url = f"{database_url}{'&' if '?' in database_url else '?'}application_name={JOB_APPLICATION_NAME}"
    job = start_flask(
        "disable-inactive-users", "--max-disable", "0", "--format", "json", database_url=job_url,
        OPS_DB_LOCK_TIMEOUT_MS="600000", OPS_DB_STATEMENT_TIMEOUT_MS="600000",
    )
    deadline = time.monotonic() + 60
    while not job_backends_waiting_on_a_lock(database_url, JOB_APPLICATION_NAME):
        assert time.monotonic() < deadline and job.process.poll() is None, "the run never waited on the lock"
        time.sleep(0.05)
    signalled = time.monotonic()
    job.send_signal(signal.SIGTERM)
    _, stderr = job.communicate(timeout=15)
    return job, stderr, time.monotonic() - signalled


def run_events(session):
    session.expire_all()
    return session.scalars(
        select(JobRun).order_by(JobRun.id)
    ).all()


@pytest.mark.parametrize("table", ["ops_user", "user_session"])
def test_sigterm_while_the_read_waits_on_a_table_lock_ends_the_run_within_10_s_and_changes_nothing(
    session, database_url, slow_due_population, table
):
    holder = factories.open_engine(database_url)
    with holder.connect() as connection:
        connection.execute(sa.text(f"LOCK TABLE {factories.table_name(session, table)} IN ACCESS EXCLUSIVE MODE"))
        job, stderr, took = sigterm_once_the_job_waits_on_a_lock(database_url)
        # The table lock is still held here: the run ended on the stop request, not because the lock went.
        lock_still_held_elsewhere = True
        from ops_api.services.job.job_runs import run_lock_held

        assert run_lock_held(session) is False  # the one-run lock went with the run
        connection.rollback()
    holder.dispose()

    assert lock_still_held_elsewhere and took < 10, f"{took:.1f} s"
    assert job.returncode == 1, stderr[-1000:]
    assert "could not run: stopped on request" in stderr
    assert count_inactive(database_url) == 0
    assert assert_nothing_half_applied(session, slow_due_population) == set()
    if table == "user_session":
        (event,) = run_events(session)
        assert event.status is RecordStatus.FAILED
        assert event.outcome == "stopped"
    else:
        # The run's record names the System Admin, read from ops_user: with ops_user locked the record
        # waits too; the stop request cancels that wait as well, says so, and the alert is the run's trace.
        assert run_events(session) == []
        assert "could not be recorded" in stderr


def test_the_read_phase_fails_at_the_lock_timeout_or_the_statement_timeout_not_never(session, database_url, app_from_env):
    factories.make_user(session, email="idle@example.gov", created_on=utcnow() - timedelta(days=400))
    session.commit()
    holder = factories.open_engine(database_url)
    for settings, expected in (
        ({"OPS_DB_LOCK_TIMEOUT_MS": "300"}, "lock timeout"),
        ({"OPS_DB_LOCK_TIMEOUT_MS": "600000", "OPS_DB_STATEMENT_TIMEOUT_MS": "300"}, "statement timeout"),
    ):
        app = app_from_env(**settings)
        with holder.connect() as connection:
            # user_session: the read phase's first table; ops_event (the run's record) stays writable.
            connection.execute(sa.text(f"LOCK TABLE {factories.table_name(session, 'user_session')} IN ACCESS EXCLUSIVE MODE"))
            started = time.monotonic()
            result = invoke(app, "disable-inactive-users", "--no-email")
            took = time.monotonic() - started
            connection.rollback()
        assert result.exit_code == 1, result.stderr
        assert "could not run" in result.stderr and expected in result.stderr
        assert took < 10
        assert count_inactive(database_url) == 0
        assert run_events(session)[-1].status is RecordStatus.FAILED
    holder.dispose()


def test_a_run_killed_with_sigkill_shows_as_did_not_finish_in_the_health_check_and_the_evidence(
    app, session, database_url, slow_due_population
):
    from ops_api.services.job.job_runs import job_health, run_lock_held
    from ops_api.services.report.deactivation_report import build_report

    app.config["EVIDENCE_KEY"] = TEST_EVIDENCE_KEY  # the job's process seals its records with it: read them with it too
    job = start_flask("disable-inactive-users", "--max-disable", "0", "--format", "json", database_url=database_url)
    wait_until_some_are_disabled(database_url)
    job.process.kill()
    job.communicate(timeout=10)

    disabled = assert_nothing_half_applied(session, slow_due_population)
    assert 0 < len(disabled) < DUE
    (event,) = run_events(session)
    assert event.status is RecordStatus.UNKNOWN and event.outcome == "running"
    deadline = time.monotonic() + 10
    while run_lock_held(session):  # the server notices the dead connection
        assert time.monotonic() < deadline
        time.sleep(0.05)
        session.rollback()

    later = utcnow() + timedelta(minutes=2)
    health = job_health(session, now=later)
    assert not health.healthy and health.last_run_outcome == "did_not_finish"
    assert "latest real run: did not finish" in health.describe()
    checked = invoke(app, "disable-inactive-users-health", "--format", "json", now=later)
    assert checked.exit_code == 1 and json.loads(checked.stdout)["last_run_outcome"] == "did_not_finish"
    with freeze_time(later):
        answer = app.test_client().get("/api/v1/health/disable-inactive-users")
    assert answer.status_code == 503 and "latest real run: did not finish" in answer.get_data(as_text=True)

    hour = event.started_at.replace(minute=0, second=0, microsecond=0)
    evidence = build_report(session, start=hour, end=hour + timedelta(hours=1), now=hour + timedelta(hours=1, minutes=5), threshold_days=60)
    assert [run["outcome"] for run in evidence.runs] == ["did_not_finish"]
    assert evidence.hours == 1 and evidence.hours_with_a_real_run == 0  # a run that did not finish is no completed run
    assert len([d for d in evidence.deactivations if d["automatic"]]) == len(disabled)

    rerun = invoke(app, "disable-inactive-users", "--max-disable", "0", "--format", "json")

    assert rerun.exit_code == 0, rerun.stderr[-1000:]
    assert assert_nothing_half_applied(session, slow_due_population) == slow_due_population
    first, second = run_events(session)
    assert first.outcome == "running" and second.outcome == "completed"


def test_sigterm_while_the_correction_waits_ends_the_run_within_10_s_stopped_and_disabling_nobody(
    session, database_url, slow_due_population
):
    # One user's activity lies in 2200: the run owes the correction, which records it in future_stamp.
    ahead = session.scalars(select(User).order_by(User.id).limit(1)).one()
    session.execute(insert(UserSession), [{
        "user_id": ahead.id, "ip_address": "10.0.0.2", "is_active": False,
        "last_active_at": datetime(2200, 1, 1, tzinfo=timezone.utc), "created_on": utcnow(), "updated_on": utcnow(),
    }])
    session.commit()
    holder = factories.open_engine(database_url)
    with holder.connect() as connection:
        stamps = qualified(session, "future_stamp", own=True)
        connection.execute(sa.text(f"LOCK TABLE {stamps} IN ACCESS EXCLUSIVE MODE"))
        job, stderr, took = sigterm_once_the_job_waits_on_a_lock(database_url)
        connection.rollback()
    holder.dispose()

    assert took < 10, f"{took:.1f} s"
    assert job.returncode == 1, stderr[-1000:]
    assert "could not run: stopped on request" in stderr
    assert count_inactive(database_url) == 0
    (record,) = run_events(session)
    assert record.status is RecordStatus.FAILED and record.outcome == "stopped"
