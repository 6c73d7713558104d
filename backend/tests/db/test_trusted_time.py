"""Time a run can trust, and dates it never rewrites.

A run takes "now" from the database server and refuses, changing nothing,
when its own clock disagrees or a recorded run started later. A date later
than now is recorded with the moment a real run first saw it and counts as
that moment, so it exempts an account for one window at most; OPS's own rows
keep what OPS wrote. Each case is a warning naming the user.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from freezegun import freeze_time
from sqlalchemy import select, update

from ops_api.clock import utcnow
from ops_api.models import FutureStamp, JobRun, OpsEvent, RecordStatus, StampSource, User, UserSession, UserStatus

from cli_runner import invoke
from factories import deactivation_service, make_session, make_user, run_job, set_view, table_name, view_of
from webhook_receiver import webhook_receiver

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
WINDOW = 60 * DAY
LONG_AGO = NOW - 800 * DAY
YEAR_2200 = datetime(2200, 1, 1, tzinfo=timezone.utc)


def status_of(session, user) -> UserStatus:
    session.expire_all()
    return session.get(User, user.id).status


def warnings_of(caplog, event: str):
    return [record for record in caplog.records if getattr(record, "event", None) == event]


# -- the clock ---------------------------------------------------------------------------------


def real_clock_people(session):
    """Around the real clock (a real run's "now" is the database server's): one active an hour ago, one idle 90 days."""
    real_now = utcnow()
    active = make_user(session, email="active@example.gov", created_on=real_now - 400 * DAY)
    make_session(session, active, last_active_at=real_now - timedelta(hours=1))
    idle = make_user(session, email="idle@example.gov", created_on=real_now - 400 * DAY)
    make_session(session, idle, last_active_at=real_now - 90 * DAY, is_active=False)
    session.commit()
    return active, idle


def snapshot(session):
    session.expire_all()
    return (
        [(u.id, u.status) for u in session.scalars(select(User).order_by(User.id))],
        [(s.id, s.last_active_at, s.is_active) for s in session.scalars(select(UserSession).order_by(UserSession.id))],
        session.scalar(select(sa.func.count()).select_from(OpsEvent)),
        session.scalar(select(sa.func.count()).select_from(JobRun)),
        session.scalar(select(sa.func.count()).select_from(FutureStamp)),
    )


def test_a_run_whose_clock_is_6_years_behind_the_database_changes_nothing_and_alerts(session, app_from_env):
    active, idle = real_clock_people(session)
    before = snapshot(session)
    six_years_ago = utcnow() - timedelta(days=6 * 365)

    with webhook_receiver() as receiver:
        app = app_from_env(OPS_JOB_CLOCK="database", OPS_ALERT_URLS=receiver.url("alerts"), OPS_ENV_NAME="dev")
        result = invoke(app, "disable-inactive-users", now=six_years_ago)
        alerts = receiver.wait_for(1, timeout=5)

    assert result.exit_code == 1
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "refused to run: the job's clock" in error and "is 6 years behind the database server's" in error
    assert snapshot(session) == before  # no status, session, event, record or stamp
    (alert,) = alerts
    assert alert["type"] == "failure" and "refused to run: the job's clock" in alert["message"]


def test_after_a_refusal_the_right_clock_disables_nobody_who_was_active(session, app_from_env):
    active, idle = real_clock_people(session)
    app = app_from_env(OPS_JOB_CLOCK="database")
    refused = invoke(app, "disable-inactive-users", now=utcnow() - timedelta(days=6 * 365))

    result = invoke(app, "disable-inactive-users")

    assert refused.exit_code == 1 and result.exit_code == 0, result.stderr
    assert status_of(session, active) is UserStatus.ACTIVE
    assert status_of(session, idle) is UserStatus.INACTIVE
    assert session.scalars(select(FutureStamp)).all() == []


def test_a_run_whose_clock_is_ahead_of_the_database_is_refused_too(session, app_from_env):
    real_clock_people(session)

    result = invoke(app_from_env(OPS_JOB_CLOCK="database"), "disable-inactive-users", now=utcnow() + timedelta(hours=2))

    assert result.exit_code == 1
    assert "is 2 hours ahead of the database server's" in result.stderr


def test_a_database_clock_earlier_than_the_latest_recorded_run_refuses_and_changes_nothing(session, app_from_env):
    real_clock_people(session)
    session.add(
        JobRun(started_at=utcnow() + DAY, status=RecordStatus.SUCCESS, outcome="completed", dry_run=False, errors=[])
    )
    session.commit()
    before = snapshot(session)

    result = invoke(app_from_env(OPS_JOB_CLOCK="database"), "disable-inactive-users")

    assert result.exit_code == 1
    assert "earlier than the start of the latest recorded run" in result.stderr
    assert snapshot(session) == before


# -- dates in the future -------------------------------------------------------------------------


def test_a_user_created_in_2200_is_named_and_disabled_one_window_after_the_run_that_first_saw_it(session, caplog):
    user = make_user(session, email="from.2200@example.gov", created_on=LONG_AGO)
    session.commit()
    session.execute(update(User).where(User.id == user.id).values(created_on=YEAR_2200))  # as plain SQL would
    session.commit()

    with freeze_time(NOW), caplog.at_level(logging.WARNING, logger="ops_api"):
        first = run_job(session)
    with freeze_time(NOW + WINDOW - timedelta(seconds=1)):
        not_yet = run_job(session)
    with freeze_time(NOW + WINDOW):
        then = run_job(session)

    (warning,) = warnings_of(caplog, "future_dates_recorded")
    assert warning.sample == [
        {"user_id": user.id, "email": "from.2200@example.gov", "source": "created_on", "recorded": YEAR_2200.isoformat()}
    ]
    assert first.candidates == [] and not_yet.candidates == []
    assert then.disabled == [user.id]
    session.expire_all()
    assert session.get(User, user.id).created_on == YEAR_2200  # OPS's row keeps what was written there


def test_a_preview_far_ahead_finds_a_user_created_in_the_future_before_any_real_run_saw_it(session):
    user = make_user(session, created_on=LONG_AGO)
    session.commit()
    session.execute(update(User).where(User.id == user.id).values(created_on=YEAR_2200))
    session.commit()

    with freeze_time(NOW):
        preview = run_job(session, dry_run=True, as_of=datetime(2199, 1, 1, tzinfo=timezone.utc))

    assert [c.user_id for c in preview.candidates] == [user.id]
    assert session.scalars(select(FutureStamp)).all() == []  # a dry run records nothing


def test_a_reactivation_stamped_in_2200_exempts_for_one_window_at_most(session, caplog):
    user = make_user(session, email="back.in.2200@example.gov", created_on=LONG_AGO)
    session.commit()
    set_view(session, user, reactivated_on=YEAR_2200)  # written by a host whose clock was wrong
    session.commit()

    with freeze_time(NOW), caplog.at_level(logging.WARNING, logger="ops_api"):
        run_job(session)
    with freeze_time(NOW + WINDOW):
        then = run_job(session)

    (warning,) = warnings_of(caplog, "future_dates_recorded")
    assert [(s["user_id"], s["source"]) for s in warning.sample] == [(user.id, "reactivated_on")]
    assert then.disabled == [user.id]


def test_a_future_session_moved_to_another_user_is_named_and_counts_for_its_new_owner_one_window_at_most(session, caplog):
    owner = make_user(session, email="owner@example.gov", created_on=LONG_AGO)
    other = make_user(session, email="other@example.gov", created_on=LONG_AGO)
    make_session(session, other, last_active_at=NOW - 90 * DAY, is_active=False)
    moved = make_session(session, owner, last_active_at=YEAR_2200, is_active=False)
    session.commit()
    session.execute(update(UserSession).where(UserSession.id == moved.id).values(user_id=other.id))  # as plain SQL would
    session.commit()

    with freeze_time(NOW), caplog.at_level(logging.WARNING, logger="ops_api"):
        first = run_job(session)
    with freeze_time(NOW + WINDOW):
        then = run_job(session)

    (moves,) = warnings_of(caplog, "sessions_moved")
    assert [(m["session_id"], m["from_user_id"], m["to_user_id"]) for m in moves.sample] == [(moved.id, owner.id, other.id)]
    stamps = {(s["user_id"], s["source"]) for w in warnings_of(caplog, "future_dates_recorded") for s in w.sample}
    assert (other.id, "session") in stamps
    assert other.id not in first.disabled and other.id in then.disabled
    session.expire_all()
    assert session.get(UserSession, moved.id).last_active_at == YEAR_2200  # never rewritten


def test_a_future_stamp_seen_again_counts_from_its_first_sighting_not_a_new_one(session):
    user = make_user(session, created_on=LONG_AGO)
    future = make_session(session, user, last_active_at=YEAR_2200, is_active=False)
    session.commit()
    with freeze_time(NOW):
        run_job(session)
    # Thirty days on, OPS's cleanup deletes the session; the delete trigger hands its stamp to the view again.
    with freeze_time(NOW + 30 * DAY):
        session.execute(sa.delete(UserSession).where(UserSession.id == future.id))
        session.commit()
        run_job(session)

    with freeze_time(NOW + WINDOW):
        then = run_job(session)

    assert then.disabled == [user.id]
    (stamp,) = session.scalars(select(FutureStamp)).all()
    assert (stamp.source, stamp.recorded, stamp.first_seen_at) == (StampSource.SESSION, YEAR_2200, NOW)


def test_a_dry_run_names_future_dates_and_records_nothing(session, caplog):
    user = make_user(session, email="ahead@example.gov", created_on=LONG_AGO)
    make_session(session, user, last_active_at=NOW + 30 * DAY)
    session.commit()

    with freeze_time(NOW), caplog.at_level(logging.WARNING, logger="ops_api"):
        run_job(session, dry_run=True)

    (warning,) = warnings_of(caplog, "future_dates")
    assert warning.count == 1 and warning.sample[0]["user_id"] == user.id
    assert session.scalars(select(FutureStamp)).all() == []
    assert view_of(session, user).last_active_at == NOW + 30 * DAY


def test_activity_a_few_minutes_ahead_is_clock_skew_and_neither_recorded_nor_named(session, caplog):
    user = make_user(session, created_on=LONG_AGO)
    make_session(session, user, last_active_at=NOW + timedelta(minutes=4))
    session.commit()

    with freeze_time(NOW), caplog.at_level(logging.WARNING, logger="ops_api"):
        run_job(session)

    assert warnings_of(caplog, "future_dates_recorded") == []
    assert session.scalars(select(FutureStamp)).all() == []


def test_a_future_date_never_rewrites_opss_rows_whatever_the_source(session):
    user = make_user(session, created_on=LONG_AGO)
    ahead = make_session(session, user, last_active_at=NOW + 400 * DAY)
    session.commit()
    session.execute(update(User).where(User.id == user.id).values(created_on=NOW + 300 * DAY))
    session.commit()
    before = session.execute(
        sa.text(f"SELECT u.created_on, s.last_active_at FROM {table_name(session, 'ops_user')} u"
                f" JOIN {table_name(session, 'user_session')} s ON s.user_id = u.id WHERE s.id = :id"),
        {"id": ahead.id},
    ).one()

    with freeze_time(NOW):
        deactivation_service(session).correct_future_dates(NOW)

    after = session.execute(
        sa.text(f"SELECT u.created_on, s.last_active_at FROM {table_name(session, 'ops_user')} u"
                f" JOIN {table_name(session, 'user_session')} s ON s.user_id = u.id WHERE s.id = :id"),
        {"id": ahead.id},
    ).one()
    assert after == before
    view = view_of(session, user)
    assert (view.created_on, view.last_active_at) == (NOW, NOW)
