"""Damaged rows: each is handled as documented, never crashes the run, never changes the wrong user."""

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from ops_api.models import User, UserStatus

from factories import deactivation_service, make_session, make_user, run_job, table_name

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def test_a_session_without_last_active_at_is_refused_by_the_database(session):
    # OPS declares user_session.last_active_at NOT NULL; so does a database this project creates.
    user = make_user(session, created_on=NOW - 400 * DAY)
    session.commit()

    with pytest.raises(sa.exc.IntegrityError):
        make_session(session, user, last_active_at=None)
    session.rollback()


def test_a_user_without_email_is_refused_by_the_database(session):
    user = make_user(session)
    session.commit()

    user.email = None
    with pytest.raises(sa.exc.IntegrityError):
        session.flush()
    session.rollback()


def test_a_user_without_created_on_is_measured_from_their_activity(session):
    # OPS's created_on is nullable (its models fill it, raw SQL may not).
    user = make_user(session, created_on=NOW - 400 * DAY)
    make_session(session, user, last_active_at=NOW - 90 * DAY)
    session.commit()
    session.execute(sa.update(User).where(User.id == user.id).values(created_on=None))
    session.commit()

    with freeze_time(NOW):
        report = run_job(session)

    assert report.disabled == [user.id]
    assert report.candidates[0].last_seen == NOW - 90 * DAY


def test_a_user_with_no_date_at_all_is_left_alone_and_named(session, caplog):
    user = make_user(session, created_on=NOW - 400 * DAY)
    session.commit()
    session.execute(sa.update(User).where(User.id == user.id).values(created_on=None))
    session.commit()

    with freeze_time(NOW), caplog.at_level("WARNING"):
        report = run_job(session)

    assert report.candidates == [] and report.disabled == []
    session.expire_all()
    assert session.get(User, user.id).status is UserStatus.ACTIVE
    (record,) = [r for r in caplog.records if getattr(r, "event", None) == "undatable_users"]
    assert record.user_ids == [user.id]


@pytest.mark.postgres_only
def test_an_unknown_status_string_is_refused_by_the_database(session):
    # OPS's native enum type refuses it (SQLite, the embedded default, has no enum types).
    user = make_user(session)
    session.commit()

    with pytest.raises((sa.exc.IntegrityError, sa.exc.DataError)):
        session.execute(
            sa.text(f"UPDATE {table_name(session, 'ops_user')} SET status = 'SUSPENDED' WHERE id = :id"), {"id": user.id}
        )
        session.flush()
    session.rollback()

    session.expire_all()
    assert user.status is UserStatus.ACTIVE


def test_a_user_created_in_the_future_counts_as_created_now(session):
    user = make_user(session, created_on=NOW + 30 * DAY)
    session.commit()

    with freeze_time(NOW):
        service = deactivation_service(session)
        now_view = service.find_inactive_users()
        preview = service.find_inactive_users(as_of=NOW + 60 * DAY)

    assert now_view == []
    assert [(c.user_id, c.last_seen) for c in preview] == [(user.id, NOW)]
