"""`flask disable-inactive-users` posting its alerts to a real HTTP receiver on 127.0.0.1.

Every trigger (a failed user, a run that could not run, the safety cap) and
every non-trigger (a clean run, a dry run, a run skipped by the lock); a
receiver that is down or never answers; and what the database holds afterwards.
The command runs in process with the alert settings from the environment, in
a deployed environment, which takes "now" from the database server: so on the
real clock, around which the population is built. With an unreachable
database it runs as a real process.
"""

import json
import time

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from ops_api.models import JobRun, RecordStatus, User, UserStatus

import factories
from cli_runner import invoke, run_flask
from factories import refuse_deactivation_of, remove_refusal
from smtp_server import free_port, smtp_server
from webhook_receiver import closed_port, silent_listener, webhook_receiver

ENV = "ops-alert-test"
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/x"


@pytest.fixture
def population(session):
    """The shared population (two due users, one recent), around the real clock."""
    return factories.make_real_clock_population(session)


@pytest.fixture
def run_job(app_from_env):
    """Run the job in process, in a deployed environment, with OPS_ALERT_URLS=``alert_url``."""

    def run(*args, alert_url, **settings):
        return invoke(app_from_env(OPS_ALERT_URLS=alert_url, OPS_ENV_NAME=ENV, **settings), "disable-inactive-users", *args)

    return run


def run_process(*args, database_url, alert_url):
    """Run the job as a real `flask` process."""
    return run_flask("disable-inactive-users", *args, database_url=database_url, OPS_ALERT_URLS=alert_url, OPS_ENV_NAME=ENV)


def log_lines(stderr):
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def logged(stderr, event):
    return [line for line in log_lines(stderr) if line.get("event") == event]


def run_summaries(session):
    session.expire_all()
    return session.scalars(
        select(JobRun).order_by(JobRun.id)
    ).all()


def statuses(session):
    session.expire_all()
    return dict(session.execute(select(User.id, User.status)).all())


# -- triggers -------------------------------------------------------------------


def test_a_failed_user_sends_one_alert_naming_the_environment_counts_and_error(session, population, run_job):
    blocker = population["due"][1]
    refuse_deactivation_of(session, blocker.id)
    with webhook_receiver() as receiver:
        try:
            result = run_job(alert_url=receiver.url("ops/alerts"))
        finally:
            remove_refusal(session)
        alerts = receiver.wait_for(1, timeout=2)

    assert result.exit_code == 1
    (alert,) = alerts
    assert receiver.paths == ["/ops/alerts"]
    assert alert["type"] == "failure"
    assert alert["title"] == f"[{ENV}] disable-inactive-users FAILED"
    assert f"Environment: {ENV}" in alert["message"]
    assert "Counts: 2 due, 1 disabled, 1 failed, 0 left alone" in alert["message"]
    assert f"- user {blocker.id}: " in alert["message"] and "refused by test trigger" in alert["message"]
    assert len(logged(result.stderr, "alert_sent")) == 1
    # The database: one user disabled, the blocker still ACTIVE, the run recorded as FAILED.
    after = statuses(session)
    assert after[population["due"][0].id] is UserStatus.INACTIVE and after[blocker.id] is UserStatus.ACTIVE
    (summary,) = run_summaries(session)
    assert summary.status is RecordStatus.FAILED
    assert summary.failed == 1 and summary.errors[0]["user_id"] == blocker.id


def test_an_unreachable_database_sends_a_could_not_run_alert():
    with webhook_receiver() as receiver:
        result = run_process(database_url=UNREACHABLE, alert_url=receiver.url())
        alerts = receiver.wait_for(1, timeout=2)

    assert result.returncode == 1
    assert "cannot connect to the database" in result.stderr
    (alert,) = alerts
    assert alert["type"] == "failure"
    assert alert["title"] == f"[{ENV}] disable-inactive-users FAILED: could not run"
    assert f"Environment: {ENV}" in alert["message"]
    assert "cannot connect to the database postgresql+psycopg://postgres@127.0.0.1:1/x" in alert["message"]


def test_a_run_that_breaks_midway_alerts_and_its_failed_event_survives_the_rollback(session, population, run_job):
    # A real fault with the database still reachable: the sessions table disappears.
    session.execute(sa.text(f"ALTER TABLE {factories.table_name(session, 'user_session')} RENAME TO user_session_away"))
    session.commit()
    with webhook_receiver() as receiver:
        try:
            result = run_job(alert_url=receiver.url())
        finally:
            session.rollback()
            session.execute(sa.text(f"ALTER TABLE {factories.table_name(session, 'user_session_away')} RENAME TO user_session"))
            session.commit()
        alerts = receiver.wait_for(1, timeout=2)

    assert result.exit_code == 1
    assert "could not run" in result.stderr
    (alert,) = alerts
    assert alert["title"] == f"[{ENV}] disable-inactive-users FAILED: could not run"
    assert "user_session" in alert["message"]
    assert set(statuses(session).values()) == {UserStatus.ACTIVE}
    (event,) = run_summaries(session)
    assert event.status is RecordStatus.FAILED
    assert event.outcome == "failed" and event.dry_run is False
    assert "user_session" in event.errors[0]["error"]


def test_a_mail_step_that_sends_nothing_alerts_e_mail_failed_exits_4_and_the_deactivations_stand(session, population, run_job):
    with smtp_server() as server:
        mail = server.environment()
    mail["OPS_SMTP_PORT"] = str(free_port())  # nothing listens there: every message fails
    with webhook_receiver() as receiver:
        result = run_job(alert_url=receiver.url(), **mail)
        alerts = receiver.wait_for(1, timeout=2)

    assert result.exit_code == 4, result.stderr
    (alert,) = alerts
    assert alert["type"] == "failure"
    assert alert["title"] == f"[{ENV}] disable-inactive-users E-MAIL FAILED"
    assert "the deactivations were done, but the e-mail step failed (exit code 4)" in alert["message"]
    assert "ConnectionRefusedError" in alert["message"]
    after = statuses(session)
    assert all(after[user.id] is UserStatus.INACTIVE for user in population["due"])
    (run,) = run_summaries(session)
    assert run.status is RecordStatus.SUCCESS and run.outcome == "completed"
    assert run.emails_sent == 0 and run.emails_failed > 0 and run.mail_error


def test_a_refusal_by_the_safety_cap_sends_a_warning(session, population, run_job):
    with webhook_receiver() as receiver:
        result = run_job("--max-disable", "1", alert_url=receiver.url())
        alerts = receiver.wait_for(1, timeout=2)

    assert result.exit_code == 3
    (alert,) = alerts
    assert alert["type"] == "warning"
    assert alert["title"] == f"[{ENV}] disable-inactive-users REFUSED by the safety cap"
    assert f"Environment: {ENV}" in alert["message"]
    assert "Counts: 2 due, 0 disabled, 0 failed" in alert["message"]
    assert "--max-disable 2" in alert["message"]
    assert set(statuses(session).values()) == {UserStatus.ACTIVE}
    (summary,) = run_summaries(session)
    assert summary.status is RecordStatus.FAILED and summary.outcome == "refused_by_cap"


# -- non-triggers ---------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [pytest.param([], id="clean run"), pytest.param(["--dry-run"], id="dry run"), pytest.param(["--dry-run", "--max-disable", "1"], id="dry run over the cap")],
)
def test_no_alert_for_a_clean_run_or_a_dry_run(session, population, run_job, args):
    with webhook_receiver() as receiver:
        result = run_job(*args, alert_url=receiver.url())
        time.sleep(0.3)  # anything sent would have arrived before the command returned

        assert receiver.received == []
    assert result.exit_code == 0, result.stderr
    assert logged(result.stderr, "alert_sent") == [] and logged(result.stderr, "alert_failed") == []
    (summary,) = run_summaries(session)
    assert summary.status is RecordStatus.SUCCESS
    assert summary.dry_run is bool(args)


@pytest.mark.postgres_only
def test_no_alert_for_a_run_skipped_because_another_holds_the_lock(session, population, database_url, run_job):
    with webhook_receiver() as receiver:
        with factories.held_lock(database_url):
            result = run_job(alert_url=receiver.url())
        time.sleep(0.3)

        assert receiver.received == []
    assert result.exit_code == 0
    assert "skipped: another run is in progress" in result.stdout
    assert set(statuses(session).values()) == {UserStatus.ACTIVE}
    (summary,) = run_summaries(session)
    assert summary.status is RecordStatus.SUCCESS and summary.outcome == "skipped"


def test_no_alert_and_no_error_when_no_alert_url_is_configured(population, app_from_env):
    result = invoke(app_from_env(), "disable-inactive-users", "--max-disable", "1")

    assert result.exit_code == 3
    assert logged(result.stderr, "alert_failed") == []


# -- a broken notifier ------------------------------------------------------------


def test_with_the_receiver_down_the_job_keeps_its_exit_code_and_logs_why_the_alert_failed(session, population, run_job):
    blocker = population["due"][0]
    refuse_deactivation_of(session, blocker.id)
    port = closed_port()
    try:
        result = run_job(alert_url=f"json://127.0.0.1:{port}/alerts")
    finally:
        remove_refusal(session)

    assert result.exit_code == 1
    (failure,) = logged(result.stderr, "alert_failed")
    assert failure["level"] == "ERROR"
    assert failure["error"] == "the alert reached none of the 1 destinations"
    assert failure["details"] == [f"OPS_ALERT_URLS entry 1 (JSON webhook at 127.0.0.1:{port}): connection refused"]
    assert failure["alert"]["title"] == f"[{ENV}] disable-inactive-users FAILED"  # the alert's text is not lost
    report = json.loads(result.stdout.split("\n", 0)[0]) if result.stdout.startswith("{") else None
    assert report is None and "FAILED: " in result.stdout  # the report still names the failure
    (summary,) = run_summaries(session)
    assert summary.status is RecordStatus.FAILED


def test_with_the_receiver_down_a_could_not_run_failure_still_exits_1():
    result = run_process(database_url=UNREACHABLE, alert_url=f"json://127.0.0.1:{closed_port()}/alerts")

    assert result.returncode == 1
    assert "cannot connect to the database" in result.stderr
    assert len(logged(result.stderr, "alert_failed")) == 1


def test_a_receiver_that_never_answers_holds_the_job_no_longer_than_the_bound():
    with silent_listener() as port:
        started = time.monotonic()
        result = run_process(database_url=UNREACHABLE, alert_url=f"json://127.0.0.1:{port}/alerts")
        elapsed = time.monotonic() - started

    assert result.returncode == 1
    # The 10 s bound plus the process's own start-up and shut-down, loosely: a loaded machine must not fail it.
    assert 10 <= elapsed < 20, elapsed
    (failure,) = logged(result.stderr, "alert_failed")
    assert failure["error"] == "the alert reached none of the 1 destinations"
    assert failure["details"] == [f"OPS_ALERT_URLS entry 1 (JSON webhook at 127.0.0.1:{port}): no answer within 10 s"]
