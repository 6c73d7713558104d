"""Damaged rows: each is handled as documented, never crashes the run, never changes the wrong user."""

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from factories import make_session, make_user
from ops_api.models import UserStatus
from ops_api.services.user_deactivation import UserDeactivationService

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def test_a_session_without_last_active_at_is_not_activity(session):
    user = make_user(session, created_on=NOW - 400 * DAY)
    make_session(session, user, last_active_at=None)
    session.commit()

    with freeze_time(NOW):
        report = UserDeactivationService(session).disable_inactive_users()

    assert report.disabled == [user.id]
    assert report.candidates[0].last_seen == NOW - 400 * DAY  # falls back to created_on


def test_a_session_without_last_active_at_does_not_hide_real_activity(session):
    user = make_user(session, created_on=NOW - 400 * DAY)
    make_session(session, user, last_active_at=None)
    make_session(session, user, last_active_at=NOW - DAY)
    session.commit()

    with freeze_time(NOW):
        report = UserDeactivationService(session).disable_inactive_users()

    assert report.candidates == []


def test_a_user_without_email_is_still_disabled_and_reported_without_one(session):
    user = make_user(session, created_on=NOW - 400 * DAY)
    user.email = None
    session.commit()

    with freeze_time(NOW):
        report = UserDeactivationService(session).disable_inactive_users()

    assert report.disabled == [user.id]
    assert report.candidates[0].email is None
    session.expire_all()
    assert user.status is UserStatus.INACTIVE


def test_an_unknown_status_string_is_refused_by_the_database(session):
    user = make_user(session)
    session.commit()

    with pytest.raises(sa.exc.IntegrityError):
        session.execute(sa.text("UPDATE ops_user SET status = 'SUSPENDED' WHERE id = :id"), {"id": user.id})
        session.flush()
    session.rollback()

    session.expire_all()
    assert user.status is UserStatus.ACTIVE


def test_a_user_created_in_the_future_counts_as_created_now(session):
    user = make_user(session, created_on=NOW + 30 * DAY)
    session.commit()

    with freeze_time(NOW):
        service = UserDeactivationService(session)
        now_view = service.find_inactive_users()
        preview = service.find_inactive_users(as_of=NOW + 60 * DAY)

    assert now_view == []
    assert [(c.user_id, c.last_seen) for c in preview] == [(user.id, NOW)]
