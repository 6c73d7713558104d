"""POST /auth/login, /auth/refresh and /auth/logout: sessions, LOGIN_ATTEMPT and LOGOUT events."""

import uuid
from datetime import datetime, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from ops_api import create_app
from ops_api.models import OpsDBHistory, OpsEvent, OpsEventStatus, OpsEventType, UserSession, UserStatus

from api_support import bearer, error_of, events_of_type, login, row_count, sessions_of
from factories import history_for, make_user

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=timezone.utc)
T1 = datetime(2026, 6, 1, 8, 5, tzinfo=timezone.utc)


def test_login_opens_an_active_session_and_records_a_successful_attempt(client, session, fakeauth, person):
    with freeze_time(T0):
        response = client.post("/auth/login", json={"provider": "fakeauth", "oidc_id": str(person.oidc_id)})

    assert response.status_code == 200
    assert set(response.get_json()) == {"access_token", "refresh_token"}
    (user_session,) = sessions_of(session, person)
    assert user_session.is_active is True
    assert user_session.last_active_at == T0
    assert user_session.created_by == person.id
    (event,) = events_of_type(session, OpsEventType.LOGIN_ATTEMPT)
    assert event.event_status is OpsEventStatus.SUCCESS
    assert event.created_on == T0
    assert event.event_details == {
        "provider": "fakeauth",
        "oidc_id": str(person.oidc_id),
        "user_id": person.id,
        "session_id": user_session.id,
    }
    assert [h.event_type.name for h in history_for(session, "UserSession", user_session.id)] == ["NEW"]


def test_login_does_not_store_the_tokens(client, session, fakeauth, person):
    tokens = login(client, person)

    (user_session,) = sessions_of(session, person)
    # OPS's columns are NOT NULL; the bearer tokens themselves are never stored.
    assert user_session.access_token == "" and user_session.refresh_token == ""
    assert tokens["access_token"] not in str(session.scalars(select(OpsDBHistory.changes)).all())


def test_login_is_refused_and_creates_nothing_when_fakeauth_is_disabled(client, session, person):
    response = client.post("/auth/login", json={"provider": "fakeauth", "oidc_id": str(person.oidc_id)})

    error = error_of(response, 400)
    assert error["code"] == "provider_not_enabled"
    assert "provider" in error["fields"]
    assert row_count(session, UserSession) == 0
    assert row_count(session, OpsEvent) == 0


@pytest.mark.parametrize(
    ("status", "code"),
    [(UserStatus.INACTIVE, "account_inactive"), (UserStatus.LOCKED, "account_locked")],
)
def test_a_disabled_or_locked_user_cannot_log_in(client, session, fakeauth, status, code):
    user = make_user(session, status=status)
    session.commit()

    response = client.post("/auth/login", json={"provider": "fakeauth", "oidc_id": str(user.oidc_id)})

    error = error_of(response, 403)
    assert error["code"] == code
    assert status.name in error["message"]
    assert sessions_of(session, user) == []
    (event,) = events_of_type(session, OpsEventType.LOGIN_ATTEMPT)
    assert event.event_status is OpsEventStatus.FAILED
    assert event.event_details["user_id"] == user.id
    assert event.event_details["reason"] == f"ACCOUNT_{status.name}"


def test_an_unknown_oidc_id_is_refused_with_a_failed_attempt(client, session, fakeauth, person):
    stranger = uuid.uuid4()

    response = client.post("/auth/login", json={"provider": "fakeauth", "oidc_id": str(stranger)})

    assert error_of(response, 401)["code"] == "unknown_user"
    assert row_count(session, UserSession) == 0
    (event,) = events_of_type(session, OpsEventType.LOGIN_ATTEMPT)
    assert event.event_status is OpsEventStatus.FAILED
    assert event.event_details == {
        "provider": "fakeauth",
        "oidc_id": str(stranger),
        "user_id": None,
        "reason": "UNKNOWN_USER",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": "fakeauth", "oidc_id": "not-a-uuid"}, "oidc_id"),
        ({"provider": "fakeauth"}, "oidc_id"),
        ({"provider": "fakeauth", "oidc_id": 12}, "oidc_id"),
        ({"provider": "fakeauth", "oidc_id": str(uuid.uuid4()), "password": "x"}, "password"),
        ({"oidc_id": str(uuid.uuid4())}, "provider"),
        ({"provider": "ams", "oidc_id": str(uuid.uuid4())}, "provider"),
    ],
)
def test_a_malformed_login_is_a_400_with_field_errors_and_creates_nothing(client, session, fakeauth, body, field):
    error = error_of(client.post("/auth/login", json=body), 400)

    assert error["code"] == "validation_error"
    assert field in error["fields"]
    assert row_count(session, OpsEvent) == 0
    assert row_count(session, UserSession) == 0


def test_logout_ends_the_session_and_records_a_logout_event(client, session, fakeauth, person):
    with freeze_time(T0):
        tokens = login(client, person)
    with freeze_time(T1):
        response = client.post("/auth/logout", headers=bearer(tokens["access_token"]))

    assert response.status_code == 204
    (user_session,) = sessions_of(session, person)
    assert user_session.is_active is False
    assert user_session.last_active_at == T1
    (event,) = events_of_type(session, OpsEventType.LOGOUT)
    assert event.event_status is OpsEventStatus.SUCCESS
    assert event.event_details == {"user_id": person.id, "session_id": user_session.id}
    ended = history_for(session, "UserSession", user_session.id)[-1]
    assert ended.changes == {"is_active": {"old": True, "new": False}}
    assert ended.created_by == person.id


def test_logout_ends_only_the_session_of_the_token(client, session, fakeauth, person):
    first = login(client, person)
    login(client, person)

    client.post("/auth/logout", headers=bearer(first["access_token"]))

    assert [s.is_active for s in sessions_of(session, person)] == [False, True]


def test_a_refresh_token_gives_a_new_access_token_for_the_same_session(client, session, fakeauth, person):
    tokens = login(client, person)

    response = client.post("/auth/refresh", headers=bearer(tokens["refresh_token"]))

    assert response.status_code == 200
    fresh = response.get_json()["access_token"]
    assert client.get("/api/v1/users/me", headers=bearer(fresh)).status_code == 200
    assert len(sessions_of(session, person)) == 1


def test_a_refresh_token_is_refused_once_its_session_has_ended(client, session, fakeauth, person):
    tokens = login(client, person)
    client.post("/auth/logout", headers=bearer(tokens["access_token"]))

    error = error_of(client.post("/auth/refresh", headers=bearer(tokens["refresh_token"])), 401)

    assert error["code"] == "session_ended"


def test_a_refresh_token_is_not_an_access_token(client, fakeauth, person):
    tokens = login(client, person)

    assert error_of(client.get("/api/v1/users/me", headers=bearer(tokens["refresh_token"])), 401)
    assert error_of(client.post("/auth/refresh", headers=bearer(tokens["access_token"])), 401)


def test_without_a_jwt_secret_the_api_answers_503_and_creates_nothing(database_url, monkeypatch):
    monkeypatch.delenv("OPS_JWT_SECRET_KEY", raising=False)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "FAKEAUTH_ENABLED": True, "ENV_NAME": "test"})
    client = app.test_client()

    login_answer = client.post("/auth/login", json={"provider": "fakeauth", "oidc_id": str(uuid.uuid4())})
    me_answer = client.get("/api/v1/users/me", headers=bearer("anything"))

    assert error_of(login_answer, 503)["code"] == "auth_not_configured"
    assert error_of(me_answer, 503)["code"] == "auth_not_configured"
    with app.app_context():
        from ops_api.extensions import db

        assert row_count(db.session, OpsEvent) == 0
        db.session.remove()
        db.engine.dispose()
