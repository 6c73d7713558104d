"""The users service: the one path for deactivate, reactivate and lock."""

from datetime import datetime, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import select
from sqlalchemy.orm import Session

from ops_api.models import OpsDBHistory, OpsDBHistoryType, OpsEventStatus, OpsEventType, User, UserSession, UserStatus
from ops_api.services.users.accounts import (
    InvalidStatusChangeError,
    NotAuthorizedError,
    deactivate_user,
    lock_user,
    reactivate_user,
)

import factories
from factories import event_and_history_counts, events_for, history_for, make_session, make_user, view_of

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
T1 = datetime(2026, 3, 2, 10, 30, tzinfo=timezone.utc)


@pytest.fixture
def person(person, session):
    """The shared person, with three sessions last active at T0: two live, one ended."""
    with freeze_time(T0):
        make_session(session, person, last_active_at=T0)
        make_session(session, person, last_active_at=T0, is_active=True)
        make_session(session, person, last_active_at=T0, is_active=False)
        session.commit()
    return person


def test_deactivation_makes_the_user_inactive_and_ends_every_session(session, user_admin, person):
    with freeze_time(T1):
        deactivate_user(session, person, actor=user_admin, reason="left the agency")
        session.commit()

    session.expire_all()
    assert person.status is UserStatus.INACTIVE
    sessions = session.scalars(select(UserSession).where(UserSession.user_id == person.id)).all()
    assert len(sessions) == 3
    assert all(not s.is_active for s in sessions)


def test_deactivation_leaves_last_active_at_as_the_users_own_activity(session, user_admin, person):
    with freeze_time(T1):
        deactivate_user(session, person, actor=user_admin, reason="left the agency")
        session.commit()

    session.expire_all()
    sessions = session.scalars(select(UserSession).where(UserSession.user_id == person.id)).all()
    assert {s.last_active_at for s in sessions} == {T0}


def test_deactivation_writes_exactly_one_update_user_event(session, user_admin, person):
    with freeze_time(T1):
        deactivate_user(session, person, actor=user_admin, reason="left the agency")
        session.commit()

    events = events_for(session, person)
    assert len(events) == 1
    event = events[0]
    assert event.event_type is OpsEventType.UPDATE_USER
    assert event.event_status is OpsEventStatus.SUCCESS
    assert event.created_by == user_admin.id
    assert event.created_on == T1
    assert event.event_details == {
        "user_id": person.id,
        "old_status": "ACTIVE",
        "new_status": "INACTIVE",
        "reason": "left the agency",
        "actor_id": user_admin.id,
    }


def test_deactivation_writes_history_for_the_user_and_each_ended_session(session, user_admin, person):
    with freeze_time(T1):
        deactivate_user(session, person, actor=user_admin, reason="left the agency")
        session.commit()

    user_rows = [h for h in history_for(session, "User", person.id) if h.event_type is OpsDBHistoryType.UPDATED]
    assert len(user_rows) == 1
    assert user_rows[0].changes == {"status": {"old": "ACTIVE", "new": "INACTIVE"}}
    assert user_rows[0].created_by == user_admin.id
    assert user_rows[0].created_on == T1

    ended = session.scalars(
        select(OpsDBHistory).where(
            OpsDBHistory.class_name == "UserSession", OpsDBHistory.event_type == OpsDBHistoryType.UPDATED
        )
    ).all()
    assert len(ended) == 2  # the two sessions that were still active
    assert all(h.changes == {"is_active": {"old": True, "new": False}} for h in ended)
    assert all(h.created_by == user_admin.id for h in ended)


def test_deactivation_records_who_updated_the_user(session, user_admin, person):
    with freeze_time(T1):
        deactivate_user(session, person, actor=user_admin, reason="left the agency")
        session.commit()

    session.expire_all()
    assert person.updated_by == user_admin.id
    assert person.updated_on == T1


def test_a_second_deactivation_changes_nothing_and_writes_nothing(session, user_admin, person):
    deactivate_user(session, person, actor=user_admin, reason="first")
    session.commit()
    before = event_and_history_counts(session)

    assert deactivate_user(session, person, actor=user_admin, reason="second") is None
    session.commit()

    assert event_and_history_counts(session) == before


def test_deactivating_a_locked_user_changes_nothing(session, user_admin):
    locked = make_user(session, status=UserStatus.LOCKED)
    session.commit()
    before = event_and_history_counts(session)

    assert deactivate_user(session, locked, actor=user_admin, reason="tidy up") is None
    session.commit()

    session.expire_all()
    assert locked.status is UserStatus.LOCKED
    assert event_and_history_counts(session) == before


def test_self_deactivation_is_refused_and_changes_nothing(session, user_admin):
    make_session(session, user_admin, last_active_at=T0)
    session.commit()
    before = event_and_history_counts(session)

    with pytest.raises(InvalidStatusChangeError):
        deactivate_user(session, user_admin, actor=user_admin, reason="oops")
    session.rollback()

    session.expire_all()
    assert user_admin.status is UserStatus.ACTIVE
    assert session.scalar(select(UserSession.is_active).where(UserSession.user_id == user_admin.id)) is True
    assert event_and_history_counts(session) == before


def test_self_lock_is_refused(session, user_admin):
    with pytest.raises(InvalidStatusChangeError):
        lock_user(session, user_admin, actor=user_admin, reason="oops")


def test_a_non_admin_cannot_deactivate_and_changes_nothing(session, roles, person):
    colleague = make_user(session, roles=[roles["VIEWER_EDITOR"]])
    session.commit()
    before = event_and_history_counts(session)

    with pytest.raises(NotAuthorizedError):
        deactivate_user(session, person, actor=colleague, reason="dislike")
    session.rollback()

    session.expire_all()
    assert person.status is UserStatus.ACTIVE
    assert event_and_history_counts(session) == before


def test_an_inactive_admin_cannot_act(session, roles, person):
    former_admin = make_user(session, status=UserStatus.INACTIVE, roles=[roles["USER_ADMIN"]])
    session.commit()

    with pytest.raises(NotAuthorizedError):
        deactivate_user(session, person, actor=former_admin, reason="stale")


@pytest.mark.parametrize("status", [UserStatus.LOCKED, UserStatus.INACTIVE])
def test_a_locked_or_inactive_user_admin_cannot_act(session, roles, person, status):
    admin = make_user(session, status=status, roles=[roles["USER_ADMIN"]])
    session.commit()
    before = event_and_history_counts(session)

    with pytest.raises(NotAuthorizedError):
        deactivate_user(session, person, actor=admin, reason="stale")
    session.rollback()
    assert event_and_history_counts(session) == before


def test_the_system_admin_is_created_locked_as_ops_keeps_it(session, system_admin):
    session.expire_all()
    assert system_admin.status is UserStatus.LOCKED


def test_the_locked_system_admin_may_deactivate(session, system_admin, person):
    assert system_admin.status is UserStatus.LOCKED
    assert deactivate_user(session, person, actor=system_admin, reason="automated") is not None
    session.commit()

    session.expire_all()
    assert person.status is UserStatus.INACTIVE
    assert events_for(session, person)[-1].created_by == system_admin.id
    assert system_admin.status is UserStatus.LOCKED


def test_an_inactive_system_admin_cannot_act(session, system_admin, person):
    system_admin.status = UserStatus.INACTIVE
    session.commit()

    with pytest.raises(NotAuthorizedError):
        deactivate_user(session, person, actor=system_admin, reason="automated")


def test_the_system_admin_account_cannot_be_deactivated(session, system_admin, user_admin):
    with pytest.raises(InvalidStatusChangeError):
        deactivate_user(session, system_admin, actor=user_admin, reason="tidy up")


def test_a_status_change_needs_a_reason(session, user_admin, person):
    with pytest.raises(InvalidStatusChangeError):
        deactivate_user(session, person, actor=user_admin, reason="  ")


def test_reactivation_is_recorded_and_its_moment_recoverable(session, user_admin, person):
    deactivate_user(session, person, actor=user_admin, reason="left")
    session.commit()

    with freeze_time(T1):
        event = reactivate_user(session, person, actor=user_admin, reason="came back")
        session.commit()

    session.expire_all()
    assert person.status is UserStatus.ACTIVE
    assert person.reactivated_on == T1
    assert event.event_details["old_status"] == "INACTIVE"
    assert event.event_details["new_status"] == "ACTIVE"
    last = history_for(session, "User", person.id)[-1]
    # OPS's history holds OPS's columns only: the moment is this project's, in its own view.
    assert last.changes == {"status": {"old": "INACTIVE", "new": "ACTIVE"}}
    assert view_of(session, person).reactivated_on == T1


def test_reactivating_an_active_user_changes_nothing(session, user_admin, person):
    before = event_and_history_counts(session)

    assert reactivate_user(session, person, actor=user_admin, reason="noop") is None
    session.commit()

    assert person.reactivated_on is None
    assert event_and_history_counts(session) == before


def test_lock_ends_sessions_and_is_recorded(session, user_admin, person):
    event = lock_user(session, person, actor=user_admin, reason="suspicious sign-in")
    session.commit()

    session.expire_all()
    assert person.status is UserStatus.LOCKED
    assert event.event_details["new_status"] == "LOCKED"
    assert not any(s for s in session.scalars(select(UserSession.is_active).where(UserSession.user_id == person.id)))


def test_a_status_change_reads_the_status_afresh_so_a_concurrent_change_is_not_repeated(
    session, user_admin, person, database_url
):
    assert person.status is UserStatus.ACTIVE  # loaded here, then changed by someone else
    other = factories.open_engine(database_url)
    with Session(other) as elsewhere:
        deactivate_user(elsewhere, elsewhere.get(User, person.id), actor=elsewhere.get(User, user_admin.id), reason="job")
        elsewhere.commit()
    other.dispose()

    assert deactivate_user(session, person, actor=user_admin, reason="admin, a moment later") is None
    event = lock_user(session, person, actor=user_admin, reason="then locked")
    session.commit()

    assert len(events_for(session, person)) == 2
    assert event.event_details["old_status"] == "INACTIVE"
