"""The user administration routes under /api/v1/users: USER_ADMIN only, through the users service."""

from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from ops_api.models import OpsEventType, Role, UserStatus

from api_support import bearer, error_of, login, sessions_of
from factories import PERSON_SINCE, event_and_history_counts, events_for, history_for, make_session, make_user

T0 = datetime(2026, 8, 3, 9, 0, tzinfo=timezone.utc)
T1 = T0 + timedelta(minutes=2)
EARLIER = PERSON_SINCE  # when the shared person was made


@pytest.fixture
def person(person, session):
    """The shared person (VIEWER_EDITOR, made at EARLIER), last active at EARLIER."""
    with freeze_time(EARLIER):
        make_session(session, person, last_active_at=EARLIER)
        session.commit()
    return person


@pytest.fixture
def login_at():
    return T0


@pytest.fixture
def person_token(client, fakeauth, person):
    with freeze_time(T0):
        return login(client, person)["access_token"]


def test_me_answers_the_callers_own_record_for_any_user(client, person, person_token):
    with freeze_time(T1):
        response = client.get("/api/v1/users/me", headers=bearer(person_token))

    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == person.id
    assert body["email"] == "sam.person@example.gov"
    assert body["status"] == "ACTIVE"
    assert body["roles"] == ["VIEWER_EDITOR"]


def test_the_list_shows_every_user_with_status_and_roles(client, user_admin, person, admin_token):
    with freeze_time(T1):
        response = client.get("/api/v1/users", headers=bearer(admin_token))

    assert response.status_code == 200
    users = response.get_json()["users"]
    assert [u["email"] for u in users] == ["pat.admin@example.gov", "sam.person@example.gov"]
    assert users[1] == {
        "id": person.id,
        "oidc_id": str(person.oidc_id),
        "email": "sam.person@example.gov",
        "first_name": "Person",
        "last_name": person.last_name,
        "full_name": f"Person {person.last_name}",
        "status": "ACTIVE",
        "roles": ["VIEWER_EDITOR"],
        "reactivated_on": None,
        "created_on": EARLIER.isoformat(),
        "updated_on": EARLIER.isoformat(),
        "last_seen": EARLIER.isoformat(),
        "days_inactive": (T1 - EARLIER).days,
        "disable_due": (EARLIER + timedelta(days=60)).isoformat(),
    }


def test_the_list_filters_by_status(client, session, person, admin_token):
    locked = make_user(session, status=UserStatus.LOCKED)
    session.commit()

    with freeze_time(T1):
        response = client.get("/api/v1/users?status=LOCKED", headers=bearer(admin_token))

    assert [u["id"] for u in response.get_json()["users"]] == [locked.id]


@pytest.mark.parametrize("query", ["status=asleep", "colour=blue"])
def test_the_list_refuses_an_unknown_filter_or_status(client, admin_token, query):
    with freeze_time(T1):
        error = error_of(client.get(f"/api/v1/users?{query}", headers=bearer(admin_token)), 400)

    assert error["code"] == "validation_error"
    assert query.split("=")[0] in error["fields"]


def test_one_user_by_id(client, person, admin_token):
    with freeze_time(T1):
        response = client.get(f"/api/v1/users/{person.id}", headers=bearer(admin_token))

    assert response.status_code == 200
    assert response.get_json()["email"] == "sam.person@example.gov"


@pytest.mark.parametrize("method", ["get", "patch"])
def test_an_unknown_user_id_is_a_404(client, admin_token, method):
    with freeze_time(T1):
        response = getattr(client, method)("/api/v1/users/9999", headers=bearer(admin_token), json={"first_name": "X"})

    assert error_of(response, 404)["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/users", None),
        ("get", "/api/v1/users/{id}", None),
        ("patch", "/api/v1/users/{id}", {"status": "INACTIVE"}),
        ("patch", "/api/v1/users/{id}", {"first_name": "Changed"}),
        ("patch", "/api/v1/users/{id}", {"no_such_field": True}),
        ("patch", "/api/v1/users/9999", {"status": "INACTIVE"}),
    ],
)
def test_a_non_admin_gets_403_on_every_admin_route_and_changes_nothing(
    client, session, user_admin, person, person_token, method, path, body
):
    before = event_and_history_counts(session)

    with freeze_time(T1):
        response = getattr(client, method)(
            path.format(id=user_admin.id), headers=bearer(person_token), json=body
        )

    assert error_of(response, 403)["code"] == "forbidden"
    session.expire_all()
    assert user_admin.status is UserStatus.ACTIVE
    assert user_admin.first_name == "Person"
    assert event_and_history_counts(session) == before


def test_patch_status_inactive_deactivates_through_the_service(client, session, user_admin, person, admin_token):
    with freeze_time(T1):
        response = client.patch(
            f"/api/v1/users/{person.id}",
            headers=bearer(admin_token),
            json={"status": "INACTIVE", "reason": "left the agency"},
        )

    assert response.status_code == 200
    assert response.get_json()["status"] == "INACTIVE"
    session.expire_all()
    assert person.status is UserStatus.INACTIVE
    assert person.updated_by == user_admin.id
    assert all(not s.is_active for s in sessions_of(session, person))
    (event,) = [e for e in events_for(session, person) if e.event_type is OpsEventType.UPDATE_USER]
    assert event.created_on == T1
    assert event.event_details == {
        "user_id": person.id,
        "old_status": "ACTIVE",
        "new_status": "INACTIVE",
        "reason": "left the agency",
        "actor_id": user_admin.id,
    }
    change = history_for(session, "User", person.id)[-1]
    assert change.changes == {"status": {"old": "ACTIVE", "new": "INACTIVE"}}
    assert change.created_by == user_admin.id


def test_patch_status_without_a_reason_records_who_changed_it(client, session, person, admin_token):
    with freeze_time(T1):
        client.patch(f"/api/v1/users/{person.id}", headers=bearer(admin_token), json={"status": "LOCKED"})

    (event,) = [e for e in events_for(session, person) if e.event_type is OpsEventType.UPDATE_USER]
    assert event.event_details["new_status"] == "LOCKED"
    assert "pat.admin@example.gov" in event.event_details["reason"]
    session.expire_all()
    assert person.status is UserStatus.LOCKED
    assert all(not s.is_active for s in sessions_of(session, person))


def test_patch_status_active_reactivates_and_starts_a_fresh_window(client, session, person, admin_token):
    with freeze_time(T1):
        client.patch(f"/api/v1/users/{person.id}", headers=bearer(admin_token), json={"status": "INACTIVE"})
    with freeze_time(T1 + timedelta(minutes=1)):
        response = client.patch(
            f"/api/v1/users/{person.id}", headers=bearer(admin_token), json={"status": "ACTIVE", "reason": "back"}
        )

    assert response.status_code == 200
    session.expire_all()
    assert person.status is UserStatus.ACTIVE
    assert person.reactivated_on == T1 + timedelta(minutes=1)
    history = history_for(session, "User", person.id)[-1]
    assert history.changes["status"] == {"old": "INACTIVE", "new": "ACTIVE"}


def test_self_deactivation_is_a_400_and_changes_nothing(client, session, user_admin, admin_token):
    before = event_and_history_counts(session)

    with freeze_time(T1):
        response = client.patch(
            f"/api/v1/users/{user_admin.id}", headers=bearer(admin_token), json={"status": "INACTIVE"}
        )

    assert error_of(response, 400)["code"] == "invalid_status_change"
    session.expire_all()
    assert user_admin.status is UserStatus.ACTIVE
    assert all(s.is_active for s in sessions_of(session, user_admin))
    assert event_and_history_counts(session) == before


def test_a_refused_status_change_also_discards_the_profile_edit_sent_with_it(
    client, session, user_admin, admin_token
):
    before = event_and_history_counts(session)

    with freeze_time(T1):
        response = client.patch(
            f"/api/v1/users/{user_admin.id}",
            headers=bearer(admin_token),
            json={"first_name": "Renamed", "status": "LOCKED"},
        )

    assert error_of(response, 400)["code"] == "invalid_status_change"
    session.expire_all()
    assert user_admin.first_name == "Person"
    assert event_and_history_counts(session) == before


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"nickname": "Ri"}, {"nickname"}),
        ({"status": "ASLEEP"}, {"status"}),
        ({"status": "INACTIVE", "colour": "red"}, {"colour"}),
        ({"reason": "no status"}, {"reason"}),
        ({"email": "not an address"}, {"email"}),
        ({"first_name": 7, "roles": "USER_ADMIN"}, {"first_name", "roles"}),
        ({"roles": ["WIZARD"]}, {"roles"}),
    ],
)
def test_a_malformed_patch_is_a_400_with_field_errors_and_changes_nothing(
    client, session, person, admin_token, body, fields
):
    before = event_and_history_counts(session)

    with freeze_time(T1):
        response = client.patch(f"/api/v1/users/{person.id}", headers=bearer(admin_token), json=body)

    error = error_of(response, 400)
    assert error["code"] == "validation_error"
    assert set(error["fields"]) == fields
    session.expire_all()
    assert person.status is UserStatus.ACTIVE
    assert event_and_history_counts(session) == before


@pytest.mark.parametrize(
    "data", ['{"status": ', "[1, 2]", "{}", "plain text"]
)
def test_a_patch_body_that_is_not_a_json_object_with_content_is_a_400(client, person, admin_token, data):
    with freeze_time(T1):
        response = client.patch(
            f"/api/v1/users/{person.id}",
            headers={**bearer(admin_token), "Content-Type": "application/json"},
            data=data,
        )

    assert error_of(response, 400)["code"] in {"bad_request", "validation_error"}


def budget_team_id(session) -> int:
    return session.scalar(select(Role.id).where(Role.name == "BUDGET_TEAM"))


def test_a_profile_edit_is_recorded_in_history_and_is_not_a_reactivation(
    client, session, user_admin, person, admin_token
):
    old_last_name = person.last_name

    with freeze_time(T1):
        response = client.patch(
            f"/api/v1/users/{person.id}",
            headers=bearer(admin_token),
            json={
                "first_name": "Ria",
                "last_name": "Novak",
                "email": "ria.novak@example.gov",
                "roles": ["VIEWER_EDITOR", "BUDGET_TEAM"],
            },
        )

    assert response.status_code == 200
    assert response.get_json()["roles"] == ["BUDGET_TEAM", "VIEWER_EDITOR"]
    session.expire_all()
    assert person.reactivated_on is None
    assert person.status is UserStatus.ACTIVE
    row = history_for(session, "User", person.id)[-1]
    assert row.created_by == user_admin.id
    assert row.created_on == T1
    assert row.changes == {
        "first_name": {"old": "Person", "new": "Ria"},
        "last_name": {"old": old_last_name, "new": "Novak"},
        "email": {"old": "sam.person@example.gov", "new": "ria.novak@example.gov"},
        "roles": {"collection_of": "Role", "added": [{"id": budget_team_id(session), "name": "BUDGET_TEAM"}], "deleted": []},
    }


def test_a_profile_edit_of_a_reactivated_user_keeps_their_reactivation_moment(
    client, session, person, admin_token
):
    with freeze_time(T1):
        client.patch(f"/api/v1/users/{person.id}", headers=bearer(admin_token), json={"status": "INACTIVE"})
    with freeze_time(T1 + timedelta(seconds=10)):
        client.patch(f"/api/v1/users/{person.id}", headers=bearer(admin_token), json={"status": "ACTIVE"})
    with freeze_time(T1 + timedelta(minutes=5)):
        client.patch(f"/api/v1/users/{person.id}", headers=bearer(admin_token), json={"last_name": "Edited"})

    session.expire_all()
    assert person.last_name == "Edited"
    assert person.reactivated_on == T1 + timedelta(seconds=10)
