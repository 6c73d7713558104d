"""UserDeactivationService: the report, the audit parity, the safety cap and per-user transactions."""

import threading
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import event, insert, select

from ops_api.extensions import db
from ops_api.models import OpsEvent, OpsEventType, User, UserSession, UserStatus
from ops_api.services.job.hourly_job import JobOptionsError
from ops_api.services.users.accounts import deactivate_user
from ops_api.services.users.user_deactivation import RunOutcome

import factories
from factories import (
    deactivation_service,
    event_and_history_counts,
    events_for,
    history_for,
    make_session,
    make_user,
    refuse_deactivation_of,
    remove_refusal,
    run_job,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
LONG_AGO = NOW - 800 * DAY


def idle_user(session, days_idle, **kwargs):
    user = make_user(session, created_on=LONG_AGO, **kwargs)
    make_session(session, user, last_active_at=NOW - days_idle * DAY)
    return user


def test_find_inactive_users_lists_candidates_longest_inactive_first(session):
    ninety = idle_user(session, 90, email="ninety@example.gov")
    four_hundred = idle_user(session, 400)
    idle_user(session, 10)
    session.commit()

    with freeze_time(NOW):
        found = deactivation_service(session).find_inactive_users()

    assert [c.user_id for c in found] == [four_hundred.id, ninety.id]
    assert found[1].email == "ninety@example.gov"
    assert found[1].last_seen == NOW - 90 * DAY
    assert found[1].days_inactive == 90


def test_find_inactive_users_previews_a_later_date(session):
    user = idle_user(session, 50)
    session.commit()

    with freeze_time(NOW):
        service = deactivation_service(session)
        assert service.find_inactive_users() == []
        preview = service.find_inactive_users(as_of=NOW + 10 * DAY)

    assert [(c.user_id, c.days_inactive) for c in preview] == [(user.id, 60)]


def _count_statements(engine, action):
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(statements)


def _add_idle_users(session, how_many):
    created = LONG_AGO
    session.execute(
        insert(User),
        [{"email": f"bulk{i}@example.gov", "status": UserStatus.ACTIVE, "created_on": created, "updated_on": created} for i in range(how_many)],
    )
    ids = session.scalars(select(User.id)).all()
    session.execute(
        insert(UserSession),
        [{"user_id": uid, "ip_address": "10.0.0.1", "is_active": False, "last_active_at": NOW - (61 + uid % 300) * DAY, "created_on": created, "updated_on": created} for uid in ids],
    )
    session.commit()


@pytest.mark.parametrize("how_many", [10, 1000])
def test_find_inactive_users_is_one_statement_whatever_the_number_of_users(session, how_many):
    _add_idle_users(session, how_many)
    service = deactivation_service(session)
    found = []

    with freeze_time(NOW):
        statements = _count_statements(db.engine, lambda: found.extend(service.find_inactive_users()))

    assert len(found) == how_many
    assert statements == 1


def test_a_run_disables_every_due_user_and_reports_it(session):
    due = [idle_user(session, d) for d in (61, 90, 400)]
    idle_user(session, 5)
    session.commit()

    with freeze_time(NOW):
        report = run_job(session)

    assert report.outcome is RunOutcome.COMPLETED
    assert sorted(report.disabled) == sorted(u.id for u in due)
    assert report.failed == [] and report.skipped_reason is None
    assert report.as_of == NOW and report.threshold_days == 60 and report.dry_run is False
    session.expire_all()
    assert all(u.status is UserStatus.INACTIVE for u in due)


def test_the_job_records_a_deactivation_exactly_like_a_system_admin_would(session, system_admin, user_admin):
    by_hand = idle_user(session, 90)
    by_job = idle_user(session, 90)
    make_session(session, by_hand, last_active_at=NOW - 100 * DAY)
    make_session(session, by_job, last_active_at=NOW - 100 * DAY)
    session.commit()

    with freeze_time(NOW):
        deactivate_user(session, by_hand, actor=user_admin, reason="by hand")
        session.commit()
        run_job(session)

    (manual,) = events_for(session, by_hand)
    (automatic,) = events_for(session, by_job)
    assert (manual.event_type, manual.event_status) == (automatic.event_type, automatic.event_status)
    ignore = {"user_id", "actor_id", "reason"}
    assert {k: v for k, v in manual.event_details.items() if k not in ignore} == {
        k: v for k, v in automatic.event_details.items() if k not in ignore
    }
    assert set(manual.event_details) == set(automatic.event_details)
    assert automatic.created_by == system_admin.id
    assert automatic.event_details["actor_id"] == system_admin.id
    assert "inactive for 90 days" in automatic.event_details["reason"]

    def trail(user):
        session_ids = session.scalars(select(UserSession.id).where(UserSession.user_id == user.id).order_by(UserSession.id)).all()
        rows = history_for(session, "User", user.id)[1:] + [h for sid in session_ids for h in history_for(session, "UserSession", sid)[1:]]
        return sorted((h.class_name, h.event_type.name, repr(h.changes)) for h in rows)

    assert trail(by_hand) == trail(by_job)
    assert {h.created_by for h in history_for(session, "User", by_job.id)[1:]} == {system_admin.id}
    ended = session.scalars(select(UserSession.is_active).where(UserSession.user_id == by_job.id)).all()
    assert ended == [False, False]


def test_a_second_run_straight_after_disables_nobody_and_writes_nothing(session):
    idle_user(session, 90)
    session.commit()
    with freeze_time(NOW):
        run_job(session)
    before = event_and_history_counts(session)

    with freeze_time(NOW + timedelta(hours=1)):
        report = run_job(session)

    assert report.candidates == [] and report.disabled == []
    assert event_and_history_counts(session) == before


def test_a_dry_run_reports_candidates_and_changes_nothing(session):
    user = idle_user(session, 90)
    session.commit()
    before = event_and_history_counts(session)

    with freeze_time(NOW):
        report = run_job(session, dry_run=True)

    assert [c.user_id for c in report.candidates] == [user.id]
    assert report.disabled == [] and report.dry_run is True
    assert event_and_history_counts(session) == before
    session.expire_all()
    assert user.status is UserStatus.ACTIVE


def test_a_dry_run_previews_a_given_date(session):
    user = idle_user(session, 50)
    session.commit()

    with freeze_time(NOW):
        report = run_job(session, dry_run=True, as_of=NOW + 10 * DAY)

    assert report.as_of == NOW + 10 * DAY
    assert [c.user_id for c in report.candidates] == [user.id]


def test_as_of_is_refused_without_dry_run(session):
    with pytest.raises(JobOptionsError, match="only with --dry-run"):
        run_job(session, as_of=NOW)


def test_the_safety_cap_refuses_a_run_with_more_due_users_than_allowed(session):
    due = [idle_user(session, 90) for _ in range(3)]
    session.commit()
    before = event_and_history_counts(session)

    with freeze_time(NOW):
        report = run_job(session, max_disable=2)

    assert report.outcome is RunOutcome.REFUSED_BY_CAP
    assert report.disabled == [] and len(report.candidates) == 3
    assert "3 users are due, more than the cap of 2" in report.skipped_reason
    assert event_and_history_counts(session) == before
    session.expire_all()
    assert all(u.status is UserStatus.ACTIVE for u in due)


def test_an_operator_lifts_the_cap_for_one_run(session):
    for _ in range(3):
        idle_user(session, 90)
    session.commit()

    with freeze_time(NOW):
        report = run_job(session, max_disable=3)

    assert report.outcome is RunOutcome.COMPLETED and len(report.disabled) == 3


def test_a_cap_of_zero_means_no_cap(session):
    for _ in range(3):
        idle_user(session, 90)
    session.commit()

    with freeze_time(NOW):
        report = run_job(session, max_disable=0)

    assert len(report.disabled) == 3


def test_exactly_the_cap_is_allowed(session):
    for _ in range(2):
        idle_user(session, 90)
    session.commit()

    with freeze_time(NOW):
        report = run_job(session, max_disable=2)

    assert len(report.disabled) == 2


@pytest.fixture
def drop_test_trigger(session):
    yield
    remove_refusal(session)


def test_one_users_failure_is_rolled_back_reported_and_does_not_stop_the_others(session, drop_test_trigger):
    first, broken, last = idle_user(session, 300), idle_user(session, 200), idle_user(session, 100)
    make_session(session, broken, last_active_at=NOW - 250 * DAY)
    session.commit()
    refuse_deactivation_of(session, broken.id)

    with freeze_time(NOW):
        report = run_job(session)

    assert report.outcome is RunOutcome.FAILED
    assert report.disabled == [first.id, last.id]
    assert [f.user_id for f in report.failed] == [broken.id]
    assert "refused by test trigger" in report.failed[0].error
    session.expire_all()
    assert broken.status is UserStatus.ACTIVE
    assert events_for(session, broken) == []
    assert all(s.is_active for s in session.scalars(select(UserSession).where(UserSession.user_id == broken.id)))
    assert len(history_for(session, "User", broken.id)) == 1  # only its creation


def test_a_user_who_logs_in_during_the_run_stays_active(session, database_url):
    early, late = idle_user(session, 300), idle_user(session, 100)
    session.commit()
    other = factories.open_engine(database_url)
    logged_in = []
    late_id = late.id

    def log_in_late_user_once():
        # Another process records a login for `late` after the run has
        # chosen its candidates but before it reaches that user: the job's
        # loop asks between users (the statement watcher's thread asks too,
        # from the start, and is ignored here).
        if not logged_in and threading.current_thread() is threading.main_thread():
            with other.begin() as connection:
                connection.execute(insert(UserSession.__table__).values(
                    user_id=late_id, ip_address="10.0.0.1", is_active=True, last_active_at=NOW, created_on=NOW, updated_on=NOW))
            logged_in.append(True)
        return False

    with freeze_time(NOW):
        report = run_job(session, should_stop=log_in_late_user_once)
    other.dispose()

    assert [c.user_id for c in report.candidates] == [early.id, late.id]
    assert report.disabled == [early.id]
    assert report.no_longer_due == [late.id]
    session.expire_all()
    assert late.status is UserStatus.ACTIVE
    assert events_for(session, late) == []


def test_a_run_told_to_stop_finishes_the_user_in_hand_and_reports_it_stopped(session):
    users = [idle_user(session, d) for d in (300, 200, 100)]
    session.commit()
    polls = []

    def stop_after_first():
        # The run asks before each user; the statement watcher (PostgreSQL) asks from a thread of its own.
        if threading.current_thread() is threading.main_thread():
            polls.append(1)
        return len(polls) > 1

    with freeze_time(NOW):
        report = run_job(session, should_stop=stop_after_first)

    assert report.disabled == [users[0].id]
    assert report.outcome is RunOutcome.STOPPED
    assert report.skipped_reason == "stopped on request: 1 of 3 due users processed"
    session.expire_all()
    assert [u.status for u in users] == [UserStatus.INACTIVE, UserStatus.ACTIVE, UserStatus.ACTIVE]


def test_the_run_creates_the_system_admin_if_missing(session):
    idle_user(session, 90)
    session.commit()

    with freeze_time(NOW):
        report = run_job(session)

    (event,) = session.scalars(select(OpsEvent).where(OpsEvent.event_type == OpsEventType.UPDATE_USER)).all()
    actor = session.get(User, event.created_by)
    assert actor.email == "system.admin@email.com"
    assert len(report.disabled) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"inactive_days": 0}, "inactive_days"),
        ({"inactive_days": -1}, "inactive_days"),
        ({"max_disable": -1}, "max_disable"),
    ],
)
def test_the_service_refuses_unusable_settings(session, kwargs, message):
    with pytest.raises(ValueError, match=message):
        deactivation_service(session, **kwargs)
