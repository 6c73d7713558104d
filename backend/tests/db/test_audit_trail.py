"""The ops_db_history listener: one row per changed model row, attributed to the acting user."""

from datetime import datetime, timezone

from freezegun import freeze_time
from sqlalchemy import func, select

from ops_api.audit import acting_as
from ops_api.models import OpsDBHistory, OpsDBHistoryType, OpsEvent, OpsEventStatus, OpsEventType

from factories import history_for, make_session, make_user

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=timezone.utc)
T1 = datetime(2026, 5, 5, 8, 15, tzinfo=timezone.utc)


def _history_count(session):
    return session.scalar(select(func.count()).select_from(OpsDBHistory))


def test_an_insert_writes_one_new_row_attributed_to_the_actor(session, user_admin):
    with freeze_time(T0), acting_as(session, user_admin):
        user = make_user(session, email="new.person@example.gov")
        session.commit()

    (row,) = history_for(session, "User", user.id)
    assert row.event_type is OpsDBHistoryType.NEW
    assert row.created_by == user_admin.id
    assert row.created_on == T0
    # OPS's shape for an insert: the new value of each column given one; the whole row in event_details.
    assert row.changes["email"] == {"new": "new.person@example.gov"}
    assert row.changes["status"] == {"new": "ACTIVE"}
    assert row.row_key == str(user.id)
    assert row.event_details["email"] == "new.person@example.gov"
    assert row.event_details["display_name"] == user.full_name
    assert user.created_by == user_admin.id
    assert user.created_on == T0


def test_a_write_with_no_acting_user_is_recorded_with_created_by_empty(session):
    user = make_user(session)
    session.commit()

    (row,) = history_for(session, "User", user.id)
    assert row.created_by is None


def test_an_update_records_old_and_new_values(session, user_admin):
    user = make_user(session, email="old@example.gov")
    session.commit()

    with freeze_time(T1), acting_as(session, user_admin):
        user.email = "new@example.gov"
        session.commit()

    row = history_for(session, "User", user.id)[-1]
    assert row.event_type is OpsDBHistoryType.UPDATED
    assert row.changes == {"email": {"old": "old@example.gov", "new": "new@example.gov"}}
    assert row.created_by == user_admin.id
    assert user.updated_on == T1


def test_an_update_that_changes_nothing_writes_no_history(session, user_admin):
    user = make_user(session, email="same@example.gov")
    session.commit()
    before = _history_count(session)

    with acting_as(session, user_admin):
        user.email = "same@example.gov"
        session.commit()

    assert _history_count(session) == before


def test_moving_last_active_at_is_activity_not_an_administrative_change(session):
    user = make_user(session)
    user_session = make_session(session, user, last_active_at=T0)
    session.commit()
    updated_on_before = user_session.updated_on
    before = _history_count(session)

    user_session.last_active_at = T1
    session.commit()

    assert _history_count(session) == before
    assert user_session.updated_on == updated_on_before


def test_a_change_of_roles_is_recorded_as_a_change_of_the_user(session, roles, user_admin):
    user = make_user(session, roles=[roles["VIEWER_EDITOR"]])
    session.commit()

    with acting_as(session, user_admin):
        user.roles.append(roles["BUDGET_TEAM"])
        session.commit()

    row = history_for(session, "User", user.id)[-1]
    assert row.event_type is OpsDBHistoryType.UPDATED
    assert row.changes == {
        "roles": {"collection_of": "Role", "added": [{"id": roles["BUDGET_TEAM"].id, "name": "BUDGET_TEAM"}], "deleted": []}
    }
    assert row.created_by == user_admin.id


def test_a_delete_writes_a_deleted_row(session, user_admin):
    user = make_user(session)
    user_session = make_session(session, user, last_active_at=T0)
    session.commit()
    key = user_session.id

    with acting_as(session, user_admin):
        session.delete(user_session)
        session.commit()

    row = history_for(session, "UserSession", key)[-1]
    assert row.event_type is OpsDBHistoryType.DELETED
    # As OPS records a delete: no column changed, the row as it was in event_details.
    assert row.changes == {}
    assert row.event_details["id"] == key
    assert row.event_details["last_active_at"] == T0.isoformat()


def test_events_and_history_rows_are_not_themselves_audited(session):
    session.add(OpsEvent(event_type=OpsEventType.LOGOUT, event_status=OpsEventStatus.SUCCESS, event_details={}))
    session.commit()

    assert _history_count(session) == 0


def test_history_is_rolled_back_with_the_change_it_describes(session, user_admin):
    user = make_user(session, email="keep@example.gov")
    session.commit()
    before = _history_count(session)

    with acting_as(session, user_admin):
        user.email = "discard@example.gov"
        session.flush()
        session.rollback()

    assert _history_count(session) == before
