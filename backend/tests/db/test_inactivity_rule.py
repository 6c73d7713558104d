"""The inactivity rule, consequence by consequence, with frozen clocks on both databases.

last_seen(U) = latest of: any session's last_active_at, the last reactivation, created_on.
U is disabled when ACTIVE, not excluded, and now - last_seen(U) >= 60 days.
"""

import logging
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from ops_api.audit import acting_as
from ops_api.models import FutureStamp, StampSource, UserStatus
from ops_api.services.users.accounts import reactivate_user

from factories import deactivation_service, events_for, make_session, make_user, run_job

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
LONG_AGO = NOW - 800 * DAY
FAKEAUTH_USER_DEMO = uuid.UUID("00000000-0000-1111-a111-000000000019")


def status_of(session, user):
    session.expire_all()
    return user.status


def test_a_user_exactly_at_the_threshold_is_disabled(session):
    user = make_user(session, created_on=LONG_AGO)
    make_session(session, user, last_active_at=NOW - 60 * DAY)
    session.commit()

    with freeze_time(NOW):
        report = run_job(session)

    assert report.disabled == [user.id]
    assert status_of(session, user) is UserStatus.INACTIVE


def test_a_user_one_second_before_the_threshold_is_not_disabled(session):
    user = make_user(session, created_on=LONG_AGO)
    make_session(session, user, last_active_at=NOW - 60 * DAY + timedelta(seconds=1))
    session.commit()

    with freeze_time(NOW):
        report = run_job(session)

    assert report.disabled == []
    assert status_of(session, user) is UserStatus.ACTIVE


def test_the_latest_activity_counts_not_the_latest_created_or_any_old_session(session):
    user = make_user(session, created_on=LONG_AGO)
    make_session(session, user, last_active_at=NOW - DAY, is_active=False)  # created first, used yesterday
    make_session(session, user, last_active_at=NOW - 365 * DAY)  # created later, idle for a year
    session.commit()

    with freeze_time(NOW):
        report = run_job(session)

    assert report.candidates == []
    assert status_of(session, user) is UserStatus.ACTIVE


def test_activity_in_an_ended_session_counts(session):
    user = make_user(session, created_on=LONG_AGO)
    make_session(session, user, last_active_at=NOW - 10 * DAY, is_active=False)
    session.commit()

    with freeze_time(NOW):
        run_job(session)

    assert status_of(session, user) is UserStatus.ACTIVE


def test_a_user_created_61_days_ago_who_never_logged_in_is_disabled(session):
    user = make_user(session, created_on=NOW - 61 * DAY)
    session.commit()

    with freeze_time(NOW):
        report = run_job(session)

    assert report.disabled == [user.id]
    assert report.candidates[0].days_inactive == 61


def test_a_user_created_exactly_60_days_ago_who_never_logged_in_is_disabled(session):
    user = make_user(session, created_on=NOW - 60 * DAY)
    session.commit()

    with freeze_time(NOW):
        report = run_job(session)

    assert report.disabled == [user.id]


def test_a_user_created_59_days_ago_who_never_logged_in_is_not_disabled(session):
    user = make_user(session, created_on=NOW - 59 * DAY)
    session.commit()

    with freeze_time(NOW):
        report = run_job(session)

    assert report.candidates == []
    assert status_of(session, user) is UserStatus.ACTIVE


@pytest.fixture
def returned_user(session, user_admin):
    """Away for a year, disabled, then reactivated by an admin 5 days before NOW."""
    user = make_user(session, created_on=LONG_AGO, status=UserStatus.INACTIVE)
    make_session(session, user, last_active_at=NOW - 365 * DAY, is_active=False)
    session.commit()
    with freeze_time(NOW - 5 * DAY):
        reactivate_user(session, user, actor=user_admin, reason="back from leave")
        session.commit()
    return user


def test_a_reactivated_user_is_not_disabled_within_60_days_of_the_reactivation(session, returned_user):
    with freeze_time(NOW):
        run_job(session)
    with freeze_time(NOW - 5 * DAY + 60 * DAY - timedelta(seconds=1)):
        report = run_job(session)

    assert report.candidates == []
    assert status_of(session, returned_user) is UserStatus.ACTIVE


def test_a_reactivated_user_is_disabled_60_days_after_the_reactivation(session, returned_user):
    with freeze_time(NOW - 5 * DAY + 60 * DAY):
        report = run_job(session)

    assert report.disabled == [returned_user.id]


def test_a_reactivated_user_who_logs_in_gets_60_days_from_the_login(session, returned_user):
    make_session(session, returned_user, last_active_at=NOW - DAY)
    session.commit()

    with freeze_time(NOW - 5 * DAY + 60 * DAY):
        assert run_job(session).candidates == []
    with freeze_time(NOW - DAY + 60 * DAY):
        assert run_job(session).disabled == [returned_user.id]


def test_an_admin_edit_of_name_email_or_roles_does_not_reset_the_clock(session, user_admin, roles):
    user = make_user(session, created_on=LONG_AGO)
    make_session(session, user, last_active_at=NOW - 90 * DAY)
    session.commit()
    with freeze_time(NOW - DAY), acting_as(session, user_admin):
        user.first_name = "Renamed"
        user.email = "renamed@example.gov"
        user.roles.append(roles["BUDGET_TEAM"])
        session.commit()
    assert user.updated_on == NOW - DAY

    with freeze_time(NOW):
        report = run_job(session)

    assert report.disabled == [user.id]
    assert report.candidates[0].days_inactive == 90


@pytest.mark.parametrize("status", [UserStatus.INACTIVE, UserStatus.LOCKED])
def test_inactive_and_locked_users_are_never_touched(session, status):
    user = make_user(session, created_on=LONG_AGO, status=status)
    make_session(session, user, last_active_at=NOW - 400 * DAY)
    session.commit()

    with freeze_time(NOW):
        report = run_job(session)

    assert report.candidates == []
    assert status_of(session, user) is status
    assert events_for(session, user) == []


def test_the_system_admin_is_never_touched_even_if_not_listed(session, system_admin):
    # OPS keeps it LOCKED; an ACTIVE one must be left alone just the same.
    system_admin.status = UserStatus.ACTIVE
    system_admin.created_on = LONG_AGO
    session.commit()

    with freeze_time(NOW):
        report = run_job(session, excluded_oidc_ids=[])

    assert report.candidates == []
    assert status_of(session, system_admin) is UserStatus.ACTIVE


def test_fakeauth_users_are_excluded_by_default(session):
    fakeauth = make_user(session, created_on=LONG_AGO, oidc_id=FAKEAUTH_USER_DEMO)
    session.commit()

    with freeze_time(NOW):
        report = run_job(session)

    assert report.candidates == []
    assert status_of(session, fakeauth) is UserStatus.ACTIVE


def test_configured_exclusions_replace_the_defaults(session):
    kept = make_user(session, created_on=LONG_AGO)
    fakeauth = make_user(session, created_on=LONG_AGO, oidc_id=FAKEAUTH_USER_DEMO)
    session.commit()

    with freeze_time(NOW):
        report = run_job(session, excluded_oidc_ids=[kept.oidc_id])

    assert report.disabled == [fakeauth.id]
    assert status_of(session, kept) is UserStatus.ACTIVE


def test_a_user_without_an_oidc_id_is_still_subject_to_the_rule(session):
    user = make_user(session, created_on=LONG_AGO)
    user.oidc_id = None
    session.commit()

    with freeze_time(NOW):
        report = run_job(session)

    assert report.disabled == [user.id]


def test_activity_in_the_future_counts_as_now_and_is_logged(session, caplog):
    user = make_user(session, created_on=LONG_AGO, email="skewed@example.gov")
    make_session(session, user, last_active_at=NOW + 30 * DAY)
    session.commit()

    with freeze_time(NOW), caplog.at_level(logging.WARNING, logger="ops_api"):
        report = run_job(session)

    assert report.candidates == []
    assert status_of(session, user) is UserStatus.ACTIVE
    (warning,) = [r for r in caplog.records if getattr(r, "event", None) == "future_dates_recorded"]
    assert [(s["user_id"], s["email"], s["source"]) for s in warning.sample] == [(user.id, "skewed@example.gov", "session")]


def test_activity_in_the_future_cannot_exempt_beyond_todays_window(session):
    user = make_user(session, created_on=LONG_AGO)
    make_session(session, user, last_active_at=NOW + 365 * DAY)
    session.commit()

    with freeze_time(NOW):
        service = deactivation_service(session)
        preview = service.find_inactive_users(as_of=NOW + 60 * DAY)
        not_yet = service.find_inactive_users(as_of=NOW + 60 * DAY - timedelta(seconds=1))

    assert [c.user_id for c in preview] == [user.id]
    assert preview[0].last_seen == NOW
    assert not_yet == []


def test_the_threshold_is_configurable(session):
    user = make_user(session, created_on=LONG_AGO)
    make_session(session, user, last_active_at=NOW - 30 * DAY)
    session.commit()

    with freeze_time(NOW):
        assert run_job(session).candidates == []
        assert run_job(session, days=30).disabled == [user.id]


def test_activity_far_in_the_future_counts_from_when_the_job_first_saw_it_and_stays_in_opss_row(session, caplog):
    user = make_user(session, created_on=LONG_AGO)
    skewed = make_session(session, user, last_active_at=NOW + 365 * DAY)
    session.commit()

    with freeze_time(NOW), caplog.at_level(logging.WARNING, logger="ops_api"):
        first = run_job(session)
    with freeze_time(NOW + 60 * DAY - timedelta(seconds=1)):
        not_yet = run_job(session)
    with freeze_time(NOW + 60 * DAY):
        then = run_job(session)

    assert first.candidates == [] and not_yet.candidates == []
    assert then.disabled == [user.id]
    session.expire_all()
    assert skewed.last_active_at == NOW + 365 * DAY  # OPS's row keeps what it recorded
    (stamp,) = session.scalars(select(FutureStamp)).all()
    assert (stamp.user_id, stamp.source, stamp.recorded, stamp.first_seen_at) == (
        user.id, StampSource.SESSION, NOW + 365 * DAY, NOW
    )
    (recorded,) = [r for r in caplog.records if getattr(r, "event", None) == "future_dates_recorded"]
    assert recorded.sample[0]["recorded"] == (NOW + 365 * DAY).isoformat()


def test_activity_a_few_minutes_ahead_is_clock_skew_and_left_alone(session):
    user = make_user(session, created_on=LONG_AGO)
    ahead = make_session(session, user, last_active_at=NOW + timedelta(minutes=4))
    session.commit()

    with freeze_time(NOW):
        report = run_job(session)

    assert report.candidates == []
    session.expire_all()
    assert ahead.last_active_at == NOW + timedelta(minutes=4)


def test_a_dry_run_does_not_pin_future_activity(session):
    user = make_user(session, created_on=LONG_AGO)
    skewed = make_session(session, user, last_active_at=NOW + 365 * DAY)
    session.commit()

    with freeze_time(NOW):
        run_job(session, dry_run=True)

    session.expire_all()
    assert skewed.last_active_at == NOW + 365 * DAY
