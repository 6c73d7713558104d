"""The hourly job as one service call (services/job/hourly_job.py), and how a run that never completed reads."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session

from ops_api.models import RecordStatus, User, UserStatus
from ops_api.services.job import job_runs
from ops_api.services.job.hourly_job import EXIT_FAILED, EXIT_OK, JobOptions, check_database, run_hourly_job
from ops_api.services.mail.notifications import NotificationService
from ops_api.services.report.deactivation_report import build_report
from ops_api.services.users.user_deactivation import DeactivationReport
from ops_api.transactions import PendingWorkError

import factories

NOW = datetime(2026, 9, 1, 12, 30, tzinfo=timezone.utc)
DAY = timedelta(days=1)


run_events = factories.run_records


def in_a_thread_without_flask(work):
    """Run ``work()`` in a thread of its own: no application context, no Flask globals to lean on."""
    outcome = {}

    def target():
        from flask import has_app_context

        outcome["had_app_context"] = has_app_context()
        outcome["value"] = work()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(60)
    return outcome


def test_the_whole_job_runs_from_a_plain_session_settings_and_clock_and_returns_one_result(
    app, session, database_url, system_admin
):
    idle = factories.make_user(session, email="idle@example.gov", created_on=NOW - 400 * DAY)
    session.commit()
    config = dict(app.config)
    migrations = app.extensions["migrate"].directory
    engine = factories.open_engine(database_url)

    def work():
        with Session(bind=engine) as own:
            return run_hourly_job(
                own, config, options=JobOptions(send_email=True), migrations_directory=migrations,
                clock=lambda: NOW, process_clock=lambda: NOW,
            )

    outcome = in_a_thread_without_flask(work)
    engine.dispose()

    assert outcome["had_app_context"] is False
    result = outcome["value"]
    assert result.exit_code == EXIT_OK and result.errors == [] and result.could_not_run is None
    assert result.report.disabled == [idle.id] and result.report.as_of == NOW
    assert result.recorded and result.alerts_sent == [False]  # no alert URL configured: nothing to send
    assert result.mail is not None and result.mail.skipped_reason.startswith("e-mail is off")
    session.expire_all()
    assert session.get(User, idle.id).status is UserStatus.INACTIVE
    (event,) = run_events(session)
    assert event.id == result.run_id and event.status is RecordStatus.SUCCESS
    assert event.outcome == "completed" and event.started_at == NOW


def test_a_database_without_the_schema_is_refused_before_anything_is_recorded(app, tmp_path):
    empty = factories.open_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with Session(bind=empty) as own:
        result = run_hourly_job(
            own, dict(app.config), options=JobOptions(), migrations_directory=app.extensions["migrate"].directory
        )
    empty.dispose()

    assert result.exit_code == EXIT_FAILED and result.report is None and result.run_id is None
    assert "holds no OPS user table" in result.could_not_run and len(result.errors) == 1


def test_the_schema_check_takes_its_migrations_directory_explicitly(app, database_url, tmp_path):
    (tmp_path / "versions").mkdir()
    (tmp_path / "script.py.mako").write_text("")
    engine = factories.open_engine(database_url)
    check_database(engine, app.extensions["migrate"].directory)  # migrated: no complaint
    with pytest.raises(Exception, match="run `flask db upgrade` first"):
        check_database(engine, str(tmp_path))  # a directory whose heads this database is not at
    engine.dispose()


def test_a_run_that_started_and_never_completed_reads_running_then_did_not_finish_and_covers_no_hour(
    session, system_admin
):
    started = NOW.replace(minute=5)
    event_id = job_runs.record_start(
        session, dry_run=False, threshold_days=60, max_disable=None, as_of=None, started_at=started
    )
    (event,) = run_events(session)
    assert event.id == event_id and event.status is RecordStatus.UNKNOWN
    assert event.outcome == job_runs.OUTCOME_RUNNING

    soon = started + timedelta(seconds=30)
    assert job_runs.job_health(session, now=soon).last_run_outcome == "running"
    after_the_deadline = started + job_runs.RUN_DEADLINE
    health = job_runs.job_health(session, now=after_the_deadline)
    assert not health.healthy and health.last_run_outcome == "did_not_finish"
    assert "latest real run: did not finish" in health.describe()

    hour = started.replace(minute=0)
    evidence = build_report(session, start=hour, end=hour + timedelta(hours=1), now=hour + timedelta(hours=1), threshold_days=60)
    assert [run["outcome"] for run in evidence.runs] == ["did_not_finish"]
    assert (evidence.hours, evidence.hours_with_a_real_run, len(evidence.gaps)) == (1, 0, 1)
    assert evidence.to_dict()["summary"]["real_runs_by_outcome"] == {"did_not_finish": 1}


def test_a_started_run_completes_its_own_row(session, system_admin):
    started = NOW
    event_id = job_runs.record_start(
        session, dry_run=True, threshold_days=60, max_disable=None, as_of=None, started_at=started
    )
    report = DeactivationReport(as_of=started, threshold_days=60, dry_run=True, max_disable=50)
    assert job_runs.record_run(session, report, run_id=event_id, now=started + timedelta(seconds=3)) == event_id

    (event,) = run_events(session)
    assert event.status is RecordStatus.SUCCESS and event.outcome == "completed"
    assert event.started_at == started and event.finished_at == started + timedelta(seconds=3)
    assert event.started_at == started


# -- who commits ----------------------------------------------------------------


@pytest.mark.parametrize("flushed", [False, True], ids=["pending", "flushed"])
def test_the_job_refuses_a_session_holding_uncommitted_work_and_keeps_that_work(app, session, system_admin, flushed):
    idle = factories.make_user(session, email="idle@example.gov", created_on=NOW - 400 * DAY)
    session.commit()
    idle.first_name = "Edited"
    if flushed:
        session.flush()

    with pytest.raises(PendingWorkError, match="run_hourly_job owns its session's transactions"):
        factories.run_job(session, clock=lambda: NOW)

    assert idle.first_name == "Edited"  # neither committed nor thrown away: the caller decides
    session.commit()
    session.expire_all()
    assert session.get(User, idle.id).first_name == "Edited"
    assert session.get(User, idle.id).status is UserStatus.ACTIVE
    assert run_events(session) == []


def test_the_mail_step_refuses_a_session_holding_flushed_work(app, session, system_admin):
    idle = factories.make_user(session, email="idle@example.gov", created_on=NOW - 400 * DAY)
    session.commit()
    idle.last_name = "Flushed"
    session.flush()
    service = NotificationService(session, factories.mail_settings(host="127.0.0.1", sender="ops@example.gov"), factories.deactivation_service(session))

    with pytest.raises(PendingWorkError, match="the e-mail step owns its session's transactions"):
        service.run()

    session.rollback()


def test_a_read_alone_is_not_pending_work(app, session, system_admin):
    factories.make_user(session, email="idle@example.gov", created_on=NOW - 400 * DAY)
    session.commit()
    session.get(User, system_admin.id)  # a read opens a transaction, and writes nothing

    result = factories.run_job(session, clock=lambda: NOW)

    assert result.disabled != []
