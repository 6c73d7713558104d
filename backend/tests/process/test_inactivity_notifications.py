"""Inactivity e-mail through a real SMTP server on 127.0.0.1: warnings, notices, the admins' summary, failures.

Each "hourly run" is the job's own sequence at a frozen instant: the
deactivation run, then notify_after_run, exactly as `flask
disable-inactive-users` does. The database is read afterwards.
"""

from __future__ import annotations

import json
import signal
import time
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from ops_api.advisory_lock import LockPurpose, lock_held
from ops_api.clock import utcnow
from ops_api.domain.defaults import FAKEAUTH_OIDC_IDS
from ops_api.domain.notification_policy import EVENT_KEY
from ops_api.models import EmailRecord, OpsEvent, OpsEventType, RecordStatus, User, UserStatus
from ops_api.services.mail.notifications import (
    KIND_NOTICE,
    KIND_SUMMARY,
    KIND_WARNING,
    MailSettings,
    NotificationService,
    details_of,
    notify_after_run,
)
from ops_api.services.users.accounts import deactivate_user, reactivate_user

from api_support import bearer
from cli_runner import invoke, start_flask
from factories import deactivation_service, mail_settings, make_session, make_user, run_records
from factories import run_job as run_the_job
from smtp_server import free_port, smtp_server

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
THRESHOLD = 60 * DAY
# Disable dates fall on the half hour, so each stage's moment lies between two hourly runs.
DUE = datetime(2026, 9, 1, 12, 30, tzinfo=timezone.utc)
LONG_AGO = DUE - 400 * DAY


@pytest.fixture
def server():
    with smtp_server() as running:
        yield running


@pytest.fixture
def user_admin(session, roles) -> User:
    """The summaries' recipient: OPS's demo user administrator, a FakeAuth user the rule never disables or warns.

    (The shared fixture's admin is created on the real clock, later than these
    tests' frozen instants: a date in the future, which the rule counts from
    the run that first saw it, so within one window it would be warned too.)
    """
    admin = make_user(session, email="pat.admin@example.gov", roles=[roles["USER_ADMIN"]], oidc_id=FAKEAUTH_OIDC_IDS[0])
    session.commit()
    return admin


def server_mail_settings(server, **overrides) -> MailSettings:
    values = {
        "host": "127.0.0.1",
        "port": server.port,
        "security": "none",
        "timeout_seconds": 5,
        "sender": "OPS <no-reply@ops.example.gov>",
        "product_name": "OPS Test",
        "support_contact": "the OPS help desk (help@ops.example.gov)",
        "warn_days": (7, 1),
    }
    values.update(overrides)
    return mail_settings(**values)


def hourly_run(session, settings: MailSettings, at: datetime, *, dry_run: bool = False):
    """One run of the job at ``at``: deactivations, then the e-mail."""
    with freeze_time(at, real_asyncio=True):
        return run_now(session, settings, dry_run=dry_run)


def run_now(session, settings: MailSettings, *, dry_run: bool = False):
    """A run of the job (its e-mail off), then the e-mail that follows it, sent with ``settings``."""
    report = run_the_job(session, max_disable=0, dry_run=dry_run)
    mail = notify_after_run(NotificationService(session, settings, deactivation_service(session)), report)
    return report, mail


def idle_until(session, due: datetime, *, email: str, **kwargs) -> User:
    """A user whose last activity makes them due at ``due``."""
    user = make_user(session, email=email, created_on=LONG_AGO, **kwargs)
    make_session(session, user, last_active_at=due - THRESHOLD, is_active=False)
    return user


def notification_events(session, **wanted) -> list[EmailRecord]:
    """The job's e-mail records, oldest first, that match ``wanted`` (by the details a record gives the policy)."""
    session.expire_all()
    records = session.scalars(select(EmailRecord).order_by(EmailRecord.id)).all()
    return [r for r in records if all(details_of(r).get(k) == v for k, v in wanted.items())]


def schedule(session, settings, server, start: datetime, end: datetime, *, skip=()) -> list[tuple[datetime, str, str]]:
    """Hourly runs from start to end (inclusive) except at ``skip``; (run time, recipient, subject) of each message."""
    delivered = []
    at = start
    with freeze_time(at, real_asyncio=True) as clock:  # one frozen clock, moved along: much cheaper than one per run
        while at <= end:
            if at not in skip:
                clock.move_to(at)
                run_now(session, settings)
                delivered += [(at, m.to, m.subject) for m in server.mailbox.take()]
            at += HOUR
    return delivered


def test_warnings_at_7_and_1_days_once_each_then_notice_and_summary_across_hourly_runs(session, server, user_admin):
    settings = server_mail_settings(server)
    steady = idle_until(session, DUE, email="steady@example.gov")
    # Logs in between the two warnings: a new period starts, its 1-day warning never goes.
    returning = idle_until(session, DUE, email="returning@example.gov")
    session.commit()
    login_at = DUE - 3 * DAY - 20 * MINUTE  # 12:10, between two runs
    start = DUE - 8 * DAY - 30 * MINUTE  # on the hour
    first_stage = DUE - 7 * DAY + 30 * MINUTE  # the first run after the 7-day moment
    skipped = {first_stage, first_stage + 2 * DAY}  # the run that should warn, and one more: skipped

    before_login = schedule(session, settings, server, start, login_at, skip=skipped)
    make_session(session, returning, last_active_at=login_at)  # the login
    session.commit()
    after_login = schedule(session, settings, server, login_at + 50 * MINUTE, DUE + 3 * HOUR)
    delivered = before_login + after_login

    late_by_one_hour = first_stage + HOUR  # the run after the skipped one
    disabled_at = DUE + 30 * MINUTE
    assert [(at, to) for at, to, _ in delivered] == [
        (late_by_one_hour, "steady@example.gov"),
        (late_by_one_hour, "returning@example.gov"),
        (DUE - DAY + 30 * MINUTE, "steady@example.gov"),
        (disabled_at, "steady@example.gov"),
        (disabled_at, "pat.admin@example.gov"),
    ]
    subjects = [subject for _, _, subject in delivered]
    assert subjects[0] == subjects[1] == subjects[2] == "OPS Test: your account will be disabled on 1 September 2026 unless you sign in"
    assert subjects[3] == "OPS Test: your account was disabled for inactivity"
    assert subjects[4] == "OPS Test: 1 account disabled for inactivity"

    session.expire_all()
    assert session.get(User, steady.id).status is UserStatus.INACTIVE
    assert session.get(User, returning.id).status is UserStatus.ACTIVE
    warnings = notification_events(session, kind=KIND_WARNING)
    assert [(details_of(e)["user_id"], details_of(e)["stage"], e.status) for e in warnings] == [
        (steady.id, 7, RecordStatus.SUCCESS),
        (returning.id, 7, RecordStatus.SUCCESS),
        (steady.id, 1, RecordStatus.SUCCESS),
    ]
    old_period = (DUE - THRESHOLD).isoformat()
    assert {details_of(e)["period"] for e in warnings} == {old_period}
    assert all(details_of(e)["recipient"] in {"steady@example.gov", "returning@example.gov"} for e in warnings)
    (notice,) = notification_events(session, kind=KIND_NOTICE)
    assert details_of(notice)["user_id"] == steady.id and details_of(notice)["period"] == old_period
    assert details_of(notice)["disabled_on"] == disabled_at.isoformat()
    (summary,) = notification_events(session, kind=KIND_SUMMARY)
    assert details_of(summary)["recipient"] == "pat.admin@example.gov"
    assert [row["user_id"] for row in details_of(summary)["users"]] == [steady.id]

    # The new period's 7-day warning comes 7 days before its own disable date, and only then.
    new_due = login_at + THRESHOLD
    assert hourly_run(session, settings, new_due - 7 * DAY - HOUR)[1].notifications == []
    hourly_run(session, settings, new_due - 7 * DAY + HOUR)
    (message,) = server.mailbox.take()
    assert message.to == "returning@example.gov"
    assert f"disabled on {new_due.day} {new_due:%B %Y}" in message.subject
    latest = notification_events(session, kind=KIND_WARNING, user_id=returning.id)
    assert [(details_of(e)["stage"], details_of(e)["period"]) for e in latest] == [
        (7, old_period),
        (7, login_at.isoformat()),
    ]


def test_after_missed_runs_only_the_most_urgent_stage_is_sent_and_never_the_skipped_one(session, server):
    settings = server_mail_settings(server)
    user = idle_until(session, DUE, email="away@example.gov")
    session.commit()

    hourly_run(session, settings, DUE - 8 * DAY)  # nothing due yet
    assert server.mailbox.take() == []
    hourly_run(session, settings, DUE - 12 * HOUR)  # the scheduler was down for a week
    (warning,) = server.mailbox.take()
    for hours in range(11, 0, -1):
        hourly_run(session, settings, DUE - hours * HOUR)

    assert server.mailbox.take() == []
    assert "disabled on 1 September 2026" in warning.subject
    assert "sign in" in warning.body() and "1 September 2026" in warning.body()
    assert [(details_of(e)["stage"], details_of(e)["user_id"]) for e in notification_events(session)] == [(1, user.id)]


def test_the_notice_names_the_date_and_how_to_ask_for_reactivation_and_admins_get_one_summary(session, server, roles):
    settings = server_mail_settings(server)
    admins = [
        make_user(session, email=f"admin{n}@example.gov", roles=[roles["USER_ADMIN"]]) for n in (1, 2)
    ]
    make_user(session, email="gone.admin@example.gov", roles=[roles["USER_ADMIN"]], status=UserStatus.INACTIVE)
    due = [idle_until(session, DUE - n * HOUR, email=f"idle{n}@example.gov") for n in (1, 2, 3)]
    session.commit()

    hourly_run(session, settings, DUE)
    received = server.mailbox.take()

    notices = [m for m in received if "was disabled" in m.subject]
    summaries = [m for m in received if "accounts disabled" in m.subject]
    assert sorted(m.to for m in notices) == sorted(u.email for u in due)
    assert sorted(m.to for m in summaries) == ["admin1@example.gov", "admin2@example.gov"]
    assert len(received) == 5
    notice = notices[0]
    assert notice.message["From"] == "OPS <no-reply@ops.example.gov>"
    assert "1 September 2026, 12:30 UTC" in notice.body()
    assert "help@ops.example.gov" in notice.body() and "reactivat" in notice.body()
    assert "help@ops.example.gov" in notice.body("html")
    summary = summaries[0]
    assert summary.subject == "OPS Test: 3 accounts disabled for inactivity"
    for user in due:
        assert user.email in summary.body() and user.email in summary.body("html")
    assert "last seen" in summary.body()
    # The next run sends nothing again.
    hourly_run(session, settings, DUE + HOUR)
    assert server.mailbox.take() == []
    assert len(notification_events(session, kind=KIND_NOTICE)) == 3
    assert {details_of(e)["recipient_user_id"] for e in notification_events(session, kind=KIND_SUMMARY)} == {a.id for a in admins}


def test_a_server_that_refuses_mail_never_stops_a_deactivation_and_the_message_is_retried_next_run(session, server, user_admin):
    settings = server_mail_settings(server)
    user = idle_until(session, DUE, email="idle@example.gov")
    session.commit()
    server.mailbox.refuse_with = "554 5.7.1 refused by the test server"

    report, mail = hourly_run(session, settings, DUE + HOUR)

    assert report.disabled == [user.id] and report.failed == []
    session.expire_all()
    assert session.get(User, user.id).status is UserStatus.INACTIVE
    assert [n.status for n in mail.notifications] == ["failed", "failed"]
    failed = notification_events(session)
    assert [(details_of(e)["kind"], e.status) for e in failed] == [
        (KIND_NOTICE, RecordStatus.FAILED),
        (KIND_SUMMARY, RecordStatus.FAILED),
    ]
    assert "554" in failed[0].error

    server.mailbox.refuse_with = None
    hourly_run(session, settings, DUE + 2 * HOUR)
    received = server.mailbox.take()
    assert sorted(m.to for m in received) == ["idle@example.gov", "pat.admin@example.gov"]
    assert "1 September 2026, 13:30 UTC" in next(m for m in received if m.to == "idle@example.gov").body()
    hourly_run(session, settings, DUE + 3 * HOUR)
    assert server.mailbox.take() == []
    assert [(details_of(e)["kind"], e.status) for e in notification_events(session)][2:] == [
        (KIND_NOTICE, RecordStatus.SUCCESS),
        (KIND_SUMMARY, RecordStatus.SUCCESS),
    ]


def test_a_closed_port_fails_each_message_once_and_the_warning_goes_when_the_server_is_back(session, server):
    user = idle_until(session, DUE, email="idle@example.gov")
    session.commit()
    closed = server_mail_settings(server, port=free_port())

    report, mail = hourly_run(session, closed, DUE - DAY + HOUR)

    assert report.outcome.value == "completed"
    assert [(n.kind, n.status) for n in mail.notifications] == [(KIND_WARNING, "failed")]
    (failed,) = notification_events(session)
    assert failed.status is RecordStatus.FAILED and details_of(failed)["stage"] == 1
    assert "Connection" in details_of(failed)["error"] or "refused" in details_of(failed)["error"].lower()

    hourly_run(session, server_mail_settings(server), DUE - DAY + 2 * HOUR)
    (warning,) = server.mailbox.take()
    assert warning.to == user.email
    hourly_run(session, server_mail_settings(server), DUE - DAY + 3 * HOUR)
    assert server.mailbox.take() == []
    assert [e.status for e in notification_events(session)] == [RecordStatus.FAILED, RecordStatus.SUCCESS]


def test_a_warning_left_unknown_by_a_job_killed_mid_send_is_never_sent_again(session, server, database_url):
    # Real time: the job runs as a `flask` process, killed while the server holds its message's DATA unanswered.
    started = utcnow().replace(microsecond=0)
    user = idle_until(session, started + 3 * DAY, email="idle@example.gov")  # the 7-day stage is due, the 1-day one not
    session.commit()
    server.mailbox.holding = True
    job = start_flask("disable-inactive-users", database_url=database_url, **server.environment())
    try:
        assert server.mailbox.data_arrived.wait(timeout=60), "the job never handed a message over"
    finally:
        job.process.kill()
        job.communicate(timeout=10)
    server.mailbox.release()
    server.mailbox.holding = False
    deadline = time.monotonic() + 10
    while lock_held(session, LockPurpose.SEND) or lock_held(session, LockPurpose.RUN):  # PostgreSQL sees the dead connection
        assert time.monotonic() < deadline
        time.sleep(0.05)
        session.rollback()
    (left,) = notification_events(session)
    assert (left.status, left.kind, left.user_id, left.stage) == (RecordStatus.UNKNOWN, KIND_WARNING, user.id, 7)
    left_as = (left.id, left.updated_on, left.error)

    _, mail = hourly_run(session, server_mail_settings(server), started + HOUR)

    assert mail.skipped_reason is None and mail.notifications == []
    assert server.mailbox.take() == []
    (kept,) = notification_events(session)
    assert (kept.status, (kept.id, kept.updated_on, kept.error)) == (RecordStatus.UNKNOWN, left_as)


def test_sigterm_while_the_server_holds_a_message_ends_the_run_within_10_s_and_the_deactivation_stands(
    session, server, database_url
):
    # Real time, a real `flask` process; a server timeout far beyond the test, so only the stop can end the wait.
    started = utcnow().replace(microsecond=0)
    due = idle_until(session, started - DAY, email="due@example.gov")
    session.commit()
    server.mailbox.holding = True
    job = start_flask(
        "disable-inactive-users", "--format", "json", database_url=database_url,
        **{**server.environment(), "OPS_SMTP_TIMEOUT": "300"},
    )
    try:
        assert server.mailbox.data_arrived.wait(timeout=60), "the job never handed a message over"
        signalled = time.monotonic()
        job.send_signal(signal.SIGTERM)
        stdout, stderr = job.communicate(timeout=30)
        took = time.monotonic() - signalled
    finally:
        if job.process.poll() is None:
            job.process.kill()
        server.mailbox.release()
        server.mailbox.holding = False

    assert took < 10, f"{took:.1f} s"
    assert job.returncode == 1, stderr[-1000:]
    session.expire_all()
    assert session.get(User, due.id).status is UserStatus.INACTIVE  # what was done stays done
    (record,) = run_records(session)
    assert record.outcome == "stopped"


def test_a_reactivation_starts_a_new_period_with_warnings_of_its_own(session, server, system_admin):
    settings = server_mail_settings(server)
    user = idle_until(session, DUE, email="back@example.gov")
    session.commit()
    hourly_run(session, settings, DUE - DAY + HOUR)
    hourly_run(session, settings, DUE + HOUR)
    assert [m.subject.split(": ")[1][:18] for m in server.mailbox.take()] == ["your account will ", "your account was d"]

    reactivated_at = DUE + DAY
    with freeze_time(reactivated_at):
        reactivate_user(session, session.get(User, user.id), actor=system_admin, reason="asked the help desk")
        session.commit()
    hourly_run(session, settings, reactivated_at + THRESHOLD - 7 * DAY + HOUR)

    (warning,) = server.mailbox.take()
    assert warning.to == user.email
    assert [details_of(e)["period"] for e in notification_events(session, kind=KIND_WARNING)] == [
        (DUE - THRESHOLD).isoformat(),
        reactivated_at.isoformat(),
    ]


def test_a_dry_run_lists_what_it_would_send_and_sends_and_records_nothing(session, server, user_admin):
    settings = server_mail_settings(server)
    idle_until(session, DUE, email="due@example.gov")
    idle_until(session, DUE + 3 * DAY, email="soon@example.gov")
    session.commit()

    _, mail = hourly_run(session, settings, DUE + HOUR, dry_run=True)

    assert [(n.kind, n.recipient, n.stage, n.status) for n in mail.notifications] == [
        (KIND_NOTICE, "due@example.gov", None, "planned"),
        (KIND_SUMMARY, "pat.admin@example.gov", None, "planned"),
        (KIND_WARNING, "soon@example.gov", 7, "planned"),
    ]
    assert server.mailbox.take() == []
    assert notification_events(session) == []


def test_with_email_off_a_run_sends_nothing_and_says_so_once(session, user_admin, caplog):
    idle_until(session, DUE, email="due@example.gov")
    session.commit()

    with caplog.at_level("INFO", logger="ops_api"):
        report, mail = hourly_run(session, mail_settings(), DUE + HOUR)

    assert report.disabled and mail.email_enabled is False and mail.notifications == []
    assert len([r for r in caplog.records if getattr(r, "event", None) == "email_off"]) == 1
    assert notification_events(session) == []


def test_users_without_an_address_excluded_users_and_locked_users_get_no_warning(session, server):
    settings = server_mail_settings(server)
    idle_until(session, DUE, email="dropped@example.gov").email = ""  # no address on file (OPS: NOT NULL)
    idle_until(session, DUE, email="locked@example.gov", status=UserStatus.LOCKED)
    excluded = idle_until(session, DUE, email="excluded@example.gov")
    wanted = idle_until(session, DUE, email="wanted@example.gov")
    session.commit()

    with freeze_time(DUE - DAY + HOUR, real_asyncio=True):
        deactivation = deactivation_service(session, excluded_oidc_ids=[excluded.oidc_id])
        plan = NotificationService(session, settings, deactivation).plan()

    assert [(n.recipient, n.stage) for n in plan] == [(wanted.email, 1)]


# -- the command (in process, at a frozen clock) -------------------------------------

NOW = DUE


def run_job(app, *args):
    return invoke(app, "disable-inactive-users", *args, now=NOW)


def test_the_command_sends_after_disabling_and_lists_mail_in_its_json_report(session, server, user_admin, app_from_env):
    due = make_user(session, email="due@example.gov", created_on=NOW - 400 * DAY)
    make_session(session, due, last_active_at=NOW - 90 * DAY)
    soon = make_user(session, email="soon@example.gov", created_on=NOW - 400 * DAY)
    make_session(session, soon, last_active_at=NOW - 55 * DAY)
    session.commit()
    app = app_from_env(**server.environment())

    dry = run_job(app, "--dry-run", "--format", "json")
    quiet = run_job(app, "--no-email", "--dry-run")
    assert dry.exit_code == 0 and quiet.exit_code == 0, dry.stderr + quiet.stderr
    planned = json.loads(dry.stdout)["notifications"]
    assert [(m["kind"], m["recipient"], m["status"]) for m in planned["messages"]] == [
        (KIND_NOTICE, "due@example.gov", "planned"),
        (KIND_SUMMARY, "pat.admin@example.gov", "planned"),
        (KIND_WARNING, "soon@example.gov", "planned"),
    ]
    assert "E-mail" not in quiet.stdout
    assert server.mailbox.take() == [] and notification_events(session) == []

    result = run_job(app, "--format", "json")

    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["disabled"] == [due.id]
    assert report["notifications"]["sent"] == 3 and report["notifications"]["failed"] == 0
    assert sorted(m.to for m in server.mailbox.take()) == ["due@example.gov", "pat.admin@example.gov", "soon@example.gov"]
    assert [e.status for e in notification_events(session)] == [RecordStatus.SUCCESS] * 3


def test_a_server_that_takes_no_mail_fails_the_mail_step_with_exit_4_and_the_deactivation_stands(
    session, user_admin, app_from_env
):
    due = make_user(session, email="due@example.gov", created_on=NOW - 400 * DAY)
    make_session(session, due, last_active_at=NOW - 90 * DAY)
    session.commit()
    with smtp_server() as server:
        environment = server.environment()
        environment["OPS_SMTP_PORT"] = str(free_port())  # nothing listens there

    result = run_job(app_from_env(**environment))

    assert result.exit_code == 4, result.stderr
    assert "error: none of the 2 messages could be sent: ConnectionRefusedError" in result.stderr
    assert "FAILED" in result.stdout and "tried again next run" in result.stdout
    (run,) = run_records(session)
    assert (run.outcome, run.emails_sent, run.emails_failed) == ("completed", 0, 2)
    assert run.mail_error.startswith("none of the 2 messages could be sent")
    session.expire_all()
    assert session.get(User, due.id).status is UserStatus.INACTIVE
    assert [e.status for e in notification_events(session)] == [RecordStatus.FAILED] * 2
    failures = [json.loads(line) for line in result.stderr.splitlines() if '"notification_failed"' in line]
    assert len(failures) == 2


def test_the_command_with_no_email_records_no_message(session, server, user_admin, app_from_env):
    due = make_user(session, email="due@example.gov", created_on=NOW - 400 * DAY)
    make_session(session, due, last_active_at=NOW - 90 * DAY)
    session.commit()

    result = run_job(app_from_env(**server.environment()), "--no-email")

    assert result.exit_code == 0, result.stderr
    session.expire_all()
    assert session.get(User, due.id).status is UserStatus.INACTIVE
    assert server.mailbox.take() == [] and notification_events(session) == []


def test_the_hourly_e_mail_step_with_nothing_due_costs_four_statements_whatever_the_population(session, server, user_admin):
    from sqlalchemy import event

    for n in range(30):
        idle_until(session, DUE + (30 + n) * DAY, email=f"far{n}@example.gov")  # warnings not due yet
    session.commit()
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    with freeze_time(DUE, real_asyncio=True):
        deactivation = deactivation_service(session, max_disable=0)
        mail = NotificationService(session, server_mail_settings(server), deactivation)
        engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", count)
        try:
            report = mail.run()
        finally:
            event.remove(engine, "before_cursor_execute", count)

    assert report.notifications == [] and server.mailbox.take() == []
    # Besides PostgreSQL's advisory lock and unlock: the failed-message look-up, the newest OPS event
    # older than the retry window (it bounds the next read), the administrators' deactivations of the
    # window, and the warning candidates.
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "advisory" not in s]
    assert len(selects) == 4, selects


def test_a_threshold_at_or_below_a_warning_stage_drops_those_warnings_but_never_a_notice_or_summary(
    session, server, user_admin, app_from_env
):
    """--days 7 with the default stages 7,1: no 7-day warning (it would come before the account could be idle
    that long), the 1-day one still; --days 1: no warning at all. Every disabled user gets a recorded notice."""
    due = make_user(session, email="due@example.gov", created_on=NOW - 400 * DAY)
    make_session(session, due, last_active_at=NOW - 10 * DAY)
    soon = make_user(session, email="soon@example.gov", created_on=NOW - 400 * DAY)
    make_session(session, soon, last_active_at=NOW - 6 * DAY - 12 * HOUR)  # due in 12 h at 7 days
    idle = make_user(session, email="idle@example.gov", created_on=NOW - 400 * DAY)
    make_session(session, idle, last_active_at=NOW - 3 * DAY)
    session.commit()
    app = app_from_env(**server.environment())
    assert app.config["DEACTIVATION_WARN_DAYS"] == (7, 1)

    result = run_job(app, "--days", "7", "--format", "json")

    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["disabled"] == [due.id] and report["warnings_left_out"] == [7]
    assert [(m["kind"], m["recipient"], m["stage"]) for m in report["notifications"]["messages"]] == [
        (KIND_NOTICE, "due@example.gov", None),
        (KIND_SUMMARY, "pat.admin@example.gov", None),
        (KIND_WARNING, "soon@example.gov", 1),
    ]
    assert [details_of(e)["user_id"] for e in notification_events(session, kind=KIND_NOTICE)] == [due.id]
    assert len(notification_events(session, kind=KIND_SUMMARY)) == 1
    assert [e.status for e in notification_events(session)] == [RecordStatus.SUCCESS] * 3
    assert '"warnings_left_out"' in result.stderr  # the log says why

    result = run_job(app, "--days", "1")

    assert result.exit_code == 0, result.stderr
    assert "No 7-day, 1-day warnings in this run: the threshold (1 days) is not longer than them." in result.stdout
    notices = notification_events(session, kind=KIND_NOTICE)
    assert sorted(details_of(e)["user_id"] for e in notices) == sorted([due.id, soon.id, idle.id])
    assert len(notification_events(session, kind=KIND_SUMMARY)) == 2
    assert len(notification_events(session, kind=KIND_WARNING)) == 1  # only the one from the 7-day run
    assert sorted(m.to for m in server.mailbox.take()) == sorted(
        ["due@example.gov", "pat.admin@example.gov", "soon@example.gov", "soon@example.gov", "idle@example.gov", "pat.admin@example.gov"]
    )


# -- notices of an administrator's deactivation ------------------------------------

# An administrator disables an account between two runs: the run after it sends the notice.
ADMIN_AT = datetime(2026, 9, 1, 12, 40, tzinfo=timezone.utc)
NEXT_RUN = datetime(2026, 9, 1, 13, 0, tzinfo=timezone.utc)


@pytest.fixture
def login_at() -> datetime:
    """The administrator signs in just before disabling the account (admin_token)."""
    return ADMIN_AT - MINUTE


def active_user(session, email: str) -> User:
    """An ACTIVE user seen recently: neither due nor warned in the runs these tests make."""
    user = make_user(session, email=email, created_on=ADMIN_AT - 30 * DAY)
    make_session(session, user, last_active_at=ADMIN_AT - DAY, is_active=False)
    session.commit()
    return user


def disabled_by(session, admin: User, user: User, at: datetime = ADMIN_AT) -> OpsEvent:
    with freeze_time(at):
        event = deactivate_user(session, session.get(User, user.id), actor=admin, reason="left the agency")
        session.commit()
    assert event is not None
    return event


def test_an_administrators_deactivation_through_the_api_gets_one_notice_on_the_next_run_and_none_after(
    session, server, user_admin, client, admin_token
):
    settings = server_mail_settings(server)
    leaving = active_user(session, "leaving@example.gov")

    with freeze_time(ADMIN_AT):
        response = client.patch(
            f"/api/v1/users/{leaving.id}", headers=bearer(admin_token), json={"status": "INACTIVE", "reason": "left the agency"}
        )
    assert response.status_code == 200, response.get_json()
    # The API sends no mail and records none: the job does.
    assert server.mailbox.take() == [] and notification_events(session) == []
    (event_id,) = session.scalars(
        select(OpsEvent.id).where(OpsEvent.event_type == OpsEventType.UPDATE_USER, OpsEvent.created_by == user_admin.id)
    ).all()

    report, mail = hourly_run(session, settings, NEXT_RUN)

    assert report.disabled == []  # the job disabled nobody: no summary for the admins
    (message,) = server.mailbox.take()
    assert message.to == "leaving@example.gov"
    assert message.subject == "OPS Test: your account was disabled by an administrator"
    assert "disabled by an administrator on Tuesday 1 September 2026, 12:40 UTC" in message.body()
    assert "disabled by an administrator on Tuesday 1 September 2026, 12:40 UTC" in message.body("html")
    assert "help@ops.example.gov" in message.body() and "inactivity" not in message.body()
    (record,) = notification_events(session)
    assert (record.kind, record.status, record.user_id, record.period) == (KIND_NOTICE, RecordStatus.SUCCESS, leaving.id, None)
    assert record.created_on == NEXT_RUN
    assert record.details == {"disabled_on": ADMIN_AT.isoformat(), EVENT_KEY: event_id}

    hourly_run(session, settings, NEXT_RUN + HOUR)
    hourly_run(session, settings, NEXT_RUN + 6 * DAY)
    assert server.mailbox.take() == []
    assert len(notification_events(session)) == 1


def test_a_failed_notice_of_an_administrators_deactivation_is_retried_by_the_next_run(session, server, user_admin):
    settings = server_mail_settings(server)
    leaving = active_user(session, "leaving@example.gov")
    event = disabled_by(session, user_admin, leaving)
    server.mailbox.refuse_with = "554 5.7.1 refused by the test server"

    hourly_run(session, settings, NEXT_RUN)

    assert server.mailbox.take() == []
    (failed,) = notification_events(session)
    assert failed.status is RecordStatus.FAILED and "554" in failed.error
    assert failed.details[EVENT_KEY] == event.id

    server.mailbox.refuse_with = None
    hourly_run(session, settings, NEXT_RUN + HOUR)
    (message,) = server.mailbox.take()
    assert message.to == "leaving@example.gov" and "by an administrator" in message.subject
    hourly_run(session, settings, NEXT_RUN + 2 * HOUR)
    assert server.mailbox.take() == []
    assert [(e.status, e.details[EVENT_KEY]) for e in notification_events(session)] == [
        (RecordStatus.FAILED, event.id),
        (RecordStatus.SUCCESS, event.id),
    ]


def test_a_user_reactivated_before_the_next_run_gets_no_notice_of_the_administrators_deactivation(
    session, server, user_admin
):
    settings = server_mail_settings(server)
    back = active_user(session, "back@example.gov")
    disabled_by(session, user_admin, back)
    with freeze_time(ADMIN_AT + 5 * MINUTE):
        reactivate_user(session, session.get(User, back.id), actor=user_admin, reason="disabled by mistake")
        session.commit()

    report, mail = hourly_run(session, settings, NEXT_RUN)

    assert mail.notifications == [] and server.mailbox.take() == []
    assert notification_events(session) == []


def test_an_administrators_deactivation_older_than_the_retry_window_gets_no_notice(session, server, user_admin):
    """E-mail turned on a week after the deactivation: too late for a notice."""
    leaving = active_user(session, "leaving@example.gov")
    disabled_by(session, user_admin, leaving)

    hourly_run(session, server_mail_settings(server), ADMIN_AT + 7 * DAY + 20 * MINUTE)

    assert server.mailbox.take() == [] and notification_events(session) == []


def test_the_jobs_own_deactivation_gets_one_notice_for_inactivity_and_none_as_an_administrators(
    session, server, user_admin
):
    settings = server_mail_settings(server)
    idle = idle_until(session, DUE, email="idle@example.gov")
    leaving = active_user(session, "leaving@example.gov")
    disabled_by(session, user_admin, leaving)

    hourly_run(session, settings, NEXT_RUN)
    hourly_run(session, settings, NEXT_RUN + HOUR)

    received = sorted((m.to, m.subject) for m in server.mailbox.take())
    assert received == [
        ("idle@example.gov", "OPS Test: your account was disabled for inactivity"),
        ("leaving@example.gov", "OPS Test: your account was disabled by an administrator"),
        ("pat.admin@example.gov", "OPS Test: 1 account disabled for inactivity"),
    ]
    notices = notification_events(session, kind=KIND_NOTICE)
    assert sorted((e.user_id, EVENT_KEY in e.details) for e in notices) == sorted([(idle.id, False), (leaving.id, True)])
