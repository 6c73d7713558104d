"""The steps before a run's search run only when one statement says they are owed.

Most hours nothing is owed: the day's reconciliation is done, no view date
lies ahead, no session moved, every ACTIVE user has a date. Such an hour is
the probe, the search and (on PostgreSQL) the run lock, and writes nothing.
Whatever appears between two reconciliations is still found the next hour.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from freezegun import freeze_time
from sqlalchemy import event, select, update

from ops_api.models import FutureStamp, MovedSession, StampSource, User, UserActivity, UserSession
from ops_api.services.job.hourly_job import run_rule
from ops_api.services.users.user_deactivation import DeactivationReport

from factories import deactivation_service, make_session, make_user, run_job

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
YEAR_2200 = datetime(2200, 1, 1, tzinfo=timezone.utc)


def events_of(caplog, name: str):
    return [record for record in caplog.records if getattr(record, "event", None) == name]


def a_quiet_population(session):
    """Two users active yesterday: nobody due, nothing ahead, nothing undatable."""
    for email in ("one@example.gov", "two@example.gov"):
        user = make_user(session, email=email, created_on=NOW - 400 * DAY)
        make_session(session, user, last_active_at=NOW - DAY)
    session.commit()


def statements_of_the_rule(session, at: datetime) -> tuple[DeactivationReport, list[str]]:
    """Run the rule's part of a real run at ``at`` and return its report and every statement it sent."""
    engine = session.get_bind().engine
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(" ".join(statement.split()))

    service = deactivation_service(session, clock=lambda: at)
    report = DeactivationReport(as_of=at, threshold_days=service.inactive_days, dry_run=False, max_disable=0)
    event.listen(engine, "before_cursor_execute", record)
    try:
        run_rule(service, report, now=at, should_stop=lambda: False)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return report, sent


def test_an_hour_that_owes_nothing_sends_the_probe_and_the_search_and_writes_nothing(session):
    a_quiet_population(session)
    with freeze_time(NOW):
        run_job(session)  # the day's first run reconciles

    report, sent = statements_of_the_rule(session, NOW + HOUR)

    writes = [s for s in sent if s.split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}]
    assert writes == []
    assert not report.reconciled and report.candidates == []
    on_the_session = [s for s in sent if "advisory" not in s]
    assert len(on_the_session) == 2, on_the_session  # the probe, then the search
    assert len(sent) == (4 if session.get_bind().dialect.name == "postgresql" else 2)


def test_activity_a_minute_ahead_is_clock_skew_and_owes_no_correction(session):
    a_quiet_population(session)
    with freeze_time(NOW):
        run_job(session)
    skewed = make_user(session, email="fast.clock@example.gov", created_on=NOW - 400 * DAY)
    make_session(session, skewed, last_active_at=NOW + HOUR + timedelta(minutes=1))  # an API host a minute fast
    session.commit()

    _, sent = statements_of_the_rule(session, NOW + HOUR)

    assert [s for s in sent if s.split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}] == []


def test_the_days_first_run_still_reconciles(session):
    a_quiet_population(session)

    report, _ = statements_of_the_rule(session, NOW)

    assert report.reconciled


def test_a_future_date_that_appears_after_the_reconciliation_is_recorded_the_next_hour(session, caplog):
    a_quiet_population(session)
    with freeze_time(NOW):
        run_job(session)
    ahead = make_user(session, email="ahead@example.gov", created_on=NOW - 400 * DAY)
    make_session(session, ahead, last_active_at=YEAR_2200)
    session.commit()

    with freeze_time(NOW + HOUR), caplog.at_level(logging.WARNING, logger="ops_api"):
        report = run_job(session)

    assert not report.reconciled
    (stamp,) = session.scalars(select(FutureStamp)).all()
    assert (stamp.user_id, stamp.source, stamp.recorded, stamp.first_seen_at) == (
        ahead.id, StampSource.SESSION, YEAR_2200, NOW + HOUR,
    )
    (warning,) = events_of(caplog, "future_dates_recorded")
    assert warning.sample[0]["user_id"] == ahead.id


def test_a_session_moved_after_the_reconciliation_is_named_the_next_hour(session, caplog):
    a_quiet_population(session)
    owner = make_user(session, email="owner@example.gov", created_on=NOW - 400 * DAY)
    other = make_user(session, email="other@example.gov", created_on=NOW - 400 * DAY)
    moved = make_session(session, owner, last_active_at=NOW - DAY, is_active=False)
    make_session(session, other, last_active_at=NOW - DAY)
    session.commit()
    with freeze_time(NOW):
        run_job(session)
    session.execute(update(UserSession).where(UserSession.id == moved.id).values(user_id=other.id))  # as plain SQL would
    session.commit()

    with freeze_time(NOW + HOUR), caplog.at_level(logging.WARNING, logger="ops_api"):
        report = run_job(session)

    assert not report.reconciled
    (moves,) = events_of(caplog, "sessions_moved")
    assert [(m["session_id"], m["from_user_id"], m["to_user_id"]) for m in moves.sample] == [(moved.id, owner.id, other.id)]
    (record,) = session.scalars(select(MovedSession)).all()
    assert record.reported_at == NOW + HOUR


def test_a_user_added_without_any_date_after_the_reconciliation_is_named_the_next_hour(session, caplog):
    a_quiet_population(session)
    with freeze_time(NOW):
        run_job(session)
    user = make_user(session, email="dateless@example.gov", created_on=NOW - 400 * DAY)
    session.flush()
    session.execute(sa.update(User).where(User.id == user.id).values(created_on=None))  # before the view first sees it
    session.commit()
    session.execute(sa.delete(UserActivity).where(UserActivity.user_id == user.id))
    session.execute(sa.insert(UserActivity).values(user_id=user.id, is_active=True))  # as the insert trigger records it
    session.commit()

    with freeze_time(NOW + HOUR), caplog.at_level(logging.WARNING, logger="ops_api"):
        report = run_job(session)

    assert not report.reconciled and report.candidates == []
    (record,) = events_of(caplog, "undatable_users")
    assert record.user_ids == [user.id]
