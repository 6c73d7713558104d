"""The users service's reads and profile edits, as the admin API uses them."""

from datetime import datetime, timezone

import pytest
from freezegun import freeze_time

from ops_api.models import OpsEventType, UserStatus
from ops_api.services.users.accounts import (
    InvalidProfileChangeError,
    InvalidStatusChangeError,
    NotAuthorizedError,
    UserNotFoundError,
    get_user,
    list_users,
    update_user,
    update_user_profile,
)

from factories import event_and_history_counts, events_for, history_for, make_user, set_view

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=timezone.utc)
T1 = datetime(2026, 4, 20, 14, 0, tzinfo=timezone.utc)


@pytest.fixture
def person(person, session):
    """The shared person (VIEWER_EDITOR), reactivated by an admin at T0 (set directly: no event, no history)."""
    set_view(session, person, reactivated_on=T0)
    session.commit()
    return person


def test_list_users_filters_by_status_in_id_order(session, user_admin, person):
    locked = make_user(session, status=UserStatus.LOCKED)
    session.commit()

    assert list_users(session, actor=user_admin) == [user_admin, person, locked]
    assert list_users(session, actor=user_admin, status=UserStatus.LOCKED) == [locked]


def test_a_non_admin_cannot_list_or_read_users(session, roles, person):
    colleague = make_user(session, roles=[roles["BUDGET_TEAM"]])
    session.commit()

    with pytest.raises(NotAuthorizedError):
        list_users(session, actor=colleague)
    with pytest.raises(NotAuthorizedError):
        get_user(session, person.id, actor=colleague)


def test_get_user_with_an_unknown_id_raises_not_found(session, user_admin):
    with pytest.raises(UserNotFoundError):
        get_user(session, 9999, actor=user_admin)


def test_a_profile_edit_is_one_update_of_the_user_in_history_roles_included(session, roles, user_admin, person):
    with freeze_time(T1):
        update_user_profile(
            session,
            person,
            actor=user_admin,
            changes={"first_name": "Samantha", "roles": ["BUDGET_TEAM", "VIEWER_EDITOR"]},
        )
        session.commit()

    row = history_for(session, "User", person.id)[-1]
    assert row.changes == {
        "first_name": {"old": "Person", "new": "Samantha"},
        # OPS's shape for a collection: the members added and removed.
        "roles": {"collection_of": "Role", "added": [{"id": roles["BUDGET_TEAM"].id, "name": "BUDGET_TEAM"}], "deleted": []},
    }
    assert row.created_by == user_admin.id
    assert row.created_on == T1


def test_a_profile_edit_writes_an_update_user_event_naming_the_changes(session, user_admin, person):
    with freeze_time(T1):
        update_user_profile(session, person, actor=user_admin, changes={"email": "sam.p@example.gov"})
        session.commit()

    (event,) = events_for(session, person)
    assert event.event_type is OpsEventType.UPDATE_USER
    assert event.event_details == {
        "user_id": person.id,
        "changes": {"email": {"old": "sam.person@example.gov", "new": "sam.p@example.gov"}},
        "actor_id": user_admin.id,
    }


def test_a_profile_edit_is_not_a_reactivation(session, user_admin, person):
    with freeze_time(T1):
        update_user_profile(session, person, actor=user_admin, changes={"last_name": "Other"})
        session.commit()

    session.expire_all()
    assert person.reactivated_on == T0
    assert person.updated_on == T1


def test_an_edit_that_changes_nothing_writes_nothing(session, user_admin, person):
    before = event_and_history_counts(session)

    assert update_user_profile(session, person, actor=user_admin, changes={"first_name": "Person"}) is None
    session.commit()

    assert event_and_history_counts(session) == before


def test_an_e_mail_address_of_another_user_is_refused(session, user_admin, person):
    with pytest.raises(InvalidProfileChangeError) as caught:
        update_user_profile(session, person, actor=user_admin, changes={"email": "PAT.ADMIN@example.gov"})

    assert "email" in caught.value.fields


def test_a_role_that_does_not_exist_is_refused(session, user_admin, person):
    with pytest.raises(InvalidProfileChangeError) as caught:
        update_user_profile(session, person, actor=user_admin, changes={"roles": ["WIZARD"]})

    assert caught.value.fields == {"roles": ["no role named 'WIZARD'"]}


def test_an_admin_cannot_remove_their_own_user_admin_role(session, user_admin):
    with pytest.raises(InvalidProfileChangeError):
        update_user_profile(session, user_admin, actor=user_admin, changes={"roles": ["VIEWER_EDITOR"]})


def test_a_non_admin_cannot_edit_a_profile_and_changes_nothing(session, roles, person):
    colleague = make_user(session, roles=[roles["VIEWER_EDITOR"]])
    session.commit()
    before = event_and_history_counts(session)

    with pytest.raises(NotAuthorizedError):
        update_user_profile(session, person, actor=colleague, changes={"first_name": "Hacked"})
    session.rollback()

    session.expire_all()
    assert person.first_name == "Person"
    assert event_and_history_counts(session) == before


def test_update_user_refuses_a_status_the_user_cannot_reach(session, user_admin):
    locked = make_user(session, status=UserStatus.LOCKED)
    session.commit()

    with pytest.raises(InvalidStatusChangeError, match="LOCKED account cannot be made INACTIVE"):
        update_user(session, locked, actor=user_admin, profile={}, status=UserStatus.INACTIVE, reason="tidy")


def test_update_user_with_the_current_status_changes_nothing(session, user_admin, person):
    before = event_and_history_counts(session)

    assert update_user(session, person, actor=user_admin, profile={}, status=UserStatus.ACTIVE, reason="x") == []
    session.commit()

    assert event_and_history_counts(session) == before
