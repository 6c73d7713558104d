"""The admin API shows where each user stands against the inactivity rule, from the job's own service."""

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

from ops_api.models import UserStatus

from api_support import bearer, error_of, login
from factories import deactivation_service, make_session, make_user

NOW = datetime(2026, 9, 1, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
LONG_AGO = NOW - 800 * DAY
FAKEAUTH_USER_DEMO = uuid.UUID("00000000-0000-1111-a111-000000000019")


@pytest.fixture
def login_at():
    return NOW


@pytest.fixture
def idle_people(session):
    """Users idle 90, 70 and 10 days at NOW, an INACTIVE one and an excluded FakeAuth one (not the shared population)."""
    def idle(days, **kwargs):
        user = make_user(session, created_on=LONG_AGO, **kwargs)
        make_session(session, user, last_active_at=NOW - days * DAY)
        return user

    people = {
        "idle90": idle(90, email="idle90@example.gov"),
        "idle70": idle(70, email="idle70@example.gov"),
        "idle10": idle(10, email="idle10@example.gov"),
        "inactive": idle(200, status=UserStatus.INACTIVE),
        "fakeauth": idle(300, oidc_id=FAKEAUTH_USER_DEMO),
    }
    session.commit()
    return people


def get(client, token, url):
    with freeze_time(NOW):
        return client.get(url, headers=bearer(token))


def test_the_list_shows_last_seen_days_inactive_and_disable_due(client, idle_people, admin_token):
    users = {u["id"]: u for u in get(client, admin_token, "/api/v1/users").get_json()["users"]}

    idle10 = users[idle_people["idle10"].id]
    assert idle10["last_seen"] == (NOW - 10 * DAY).isoformat()
    assert idle10["days_inactive"] == 10
    assert idle10["disable_due"] == (NOW + 50 * DAY).isoformat()
    assert users[idle_people["idle90"].id]["disable_due"] == (NOW - 30 * DAY).isoformat()  # due at the next run


def test_disable_due_is_null_for_excluded_and_non_active_users(client, idle_people, admin_token):
    users = {u["id"]: u for u in get(client, admin_token, "/api/v1/users").get_json()["users"]}

    assert users[idle_people["inactive"].id]["disable_due"] is None
    assert users[idle_people["fakeauth"].id]["disable_due"] is None
    assert users[idle_people["fakeauth"].id]["days_inactive"] == 300


def test_the_list_filters_by_days_inactive(client, idle_people, admin_token):
    users = get(client, admin_token, "/api/v1/users?inactive_for_days=70").get_json()["users"]

    assert {u["id"] for u in users} == {idle_people[k].id for k in ("idle90", "idle70", "inactive", "fakeauth")}


@pytest.mark.parametrize("value", ["-1", "ten", "1.5", "", "²", "999999999999"])
def test_a_bad_inactive_for_days_is_a_400_with_the_field_named(client, idle_people, admin_token, value):
    error = error_of(get(client, admin_token, f"/api/v1/users?inactive_for_days={value}"), 400)

    assert "inactive_for_days" in error["fields"]


def test_the_inactive_preview_is_the_jobs_own_answer(client, session, idle_people, admin_token):
    body = get(client, admin_token, "/api/v1/users/inactive").get_json()
    with freeze_time(NOW):
        job_view = deactivation_service(session).find_inactive_users()

    assert body["threshold_days"] == 60
    assert body["as_of"] == NOW.isoformat()
    assert body["users"] == [c.to_dict() for c in job_view]
    assert [u["user_id"] for u in body["users"]] == [idle_people["idle90"].id, idle_people["idle70"].id]


def test_the_inactive_preview_takes_days_and_as_of(client, idle_people, admin_token):
    later = (NOW + 55 * DAY).isoformat()
    body = get(client, admin_token, f"/api/v1/users/inactive?days=65&as_of={later.replace('+', '%2B')}").get_json()

    assert body["threshold_days"] == 65
    assert [u["user_id"] for u in body["users"]] == [idle_people["idle90"].id, idle_people["idle70"].id, idle_people["idle10"].id]
    assert body["users"][-1]["days_inactive"] == 65


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("days=0", "days"),
        ("days=abc", "days"),
        ("days=²", "days"),
        ("days=999999999999", "days"),
        ("as_of=tomorrow", "as_of"),
        ("as_of=0001-01-01", "as_of"),
        ("when=now", "when"),
    ],
)
def test_a_bad_inactive_preview_query_is_a_400_with_the_field_named(client, idle_people, admin_token, query, field):
    error = error_of(get(client, admin_token, f"/api/v1/users/inactive?{query}"), 400)

    assert field in error["fields"]


def test_the_inactive_preview_is_for_user_admins_only(client, fakeauth, session, idle_people):
    with freeze_time(NOW):
        token = login(client, idle_people["idle10"])["access_token"]

    assert error_of(get(client, token, "/api/v1/users/inactive"), 403)["code"] == "forbidden"
