"""Every API request checks its token, the token's session and the session's user."""

import re
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
from flask_jwt_extended import create_access_token
from freezegun import freeze_time
from sqlalchemy import event, update

from ops_api.extensions import db
from ops_api.models import OpsDBHistory, User, UserStatus
from ops_api.services.users.accounts import deactivate_user

from api_support import bearer, error_of, login, row_count, sessions_of
from factories import make_user

T0 = datetime(2026, 7, 1, 9, 0, tzinfo=timezone.utc)
ME = "/api/v1/users/me"


@pytest.fixture
def token(client, fakeauth, person):
    with freeze_time(T0):
        return login(client, person)["access_token"]


@contextmanager
def session_updates():
    """Collect the UPDATE statements sent for user_session while the block runs."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if re.match(r"\s*UPDATE\s+(\S+\.)?user_session\b", statement, re.IGNORECASE):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def test_a_token_from_login_calls_the_api(client, person, token):
    with freeze_time(T0 + timedelta(seconds=5)):
        response = client.get(ME, headers=bearer(token))

    assert response.status_code == 200
    assert response.get_json()["email"] == "sam.person@example.gov"


def test_a_token_is_refused_after_logout(client, person, token):
    with freeze_time(T0 + timedelta(seconds=5)):
        client.post("/auth/logout", headers=bearer(token))
        response = client.get(ME, headers=bearer(token))

    assert error_of(response, 401)["code"] == "session_ended"


def test_a_token_is_refused_once_the_user_is_deactivated(client, session, user_admin, person, token):
    with freeze_time(T0 + timedelta(minutes=1)):
        deactivate_user(session, person, actor=user_admin, reason="left the agency")
        session.commit()
        response = client.get(ME, headers=bearer(token))

    assert error_of(response, 401)["code"] == "session_ended"


def test_a_token_is_refused_once_its_user_is_not_active_even_if_the_session_is(client, session, person, token):
    session.execute(update(User).where(User.id == person.id).values(status=UserStatus.INACTIVE))
    session.commit()

    with freeze_time(T0 + timedelta(seconds=5)):
        response = client.get(ME, headers=bearer(token))

    error = error_of(response, 401)
    assert error["code"] == "account_not_active"
    assert [s.is_active for s in sessions_of(session, person)] == [True]


def test_a_request_without_a_token_is_refused(client):
    error = error_of(client.get(ME), 401)

    assert error["code"] == "unauthorized"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-jwt", "Bearer ", "Basic a2ltOnNlY3JldA==", "Bearer a.b.c"],
)
def test_a_malformed_token_is_refused(client, authorization):
    response = client.get(ME, headers={"Authorization": authorization})

    assert error_of(response, 401)["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_token_signed_with_another_secret_is_refused(client, app, person, token):
    real_secret = app.config["JWT_SECRET_KEY"]
    with freeze_time(T0):
        app.config["JWT_SECRET_KEY"] = "another-secret-of-at-least-thirty-two-chars"
        forged = create_access_token(identity=str(person.id), additional_claims={"sid": 1})
        app.config["JWT_SECRET_KEY"] = real_secret

        assert error_of(client.get(ME, headers=bearer(forged)), 401)["code"] == "unauthorized"
        assert client.get(ME, headers=bearer(token)).status_code == 200


def test_an_expired_token_is_refused_and_marks_no_activity(client, session, person, token):
    with freeze_time(T0 + timedelta(minutes=16)):
        response = client.get(ME, headers=bearer(token))

    assert error_of(response, 401)["code"] == "token_expired"
    assert [s.last_active_at for s in sessions_of(session, person)] == [T0]


def test_a_token_naming_another_users_session_is_refused(client, session, person, token):
    other = make_user(session)
    session.commit()
    (person_session,) = sessions_of(session, person)
    with freeze_time(T0):
        crossed = create_access_token(identity=str(other.id), additional_claims={"sid": person_session.id})
        response = client.get(ME, headers=bearer(crossed))

    assert error_of(response, 401)["code"] == "session_ended"


def test_a_token_without_a_session_claim_is_refused(client, person):
    with freeze_time(T0):
        bare = create_access_token(identity=str(person.id))
        response = client.get(ME, headers=bearer(bare))

    assert error_of(response, 401)["code"] == "session_ended"


def test_last_active_at_moves_at_most_once_a_minute(client, session, person, token):
    with freeze_time(T0 + timedelta(seconds=70)), session_updates() as first:
        client.get(ME, headers=bearer(token))
    assert [s.last_active_at for s in sessions_of(session, person)] == [T0 + timedelta(seconds=70)]

    with freeze_time(T0 + timedelta(seconds=100)), session_updates() as second:
        client.get(ME, headers=bearer(token))
    assert [s.last_active_at for s in sessions_of(session, person)] == [T0 + timedelta(seconds=70)]

    with freeze_time(T0 + timedelta(seconds=131)), session_updates() as third:
        client.get(ME, headers=bearer(token))
    assert [s.last_active_at for s in sessions_of(session, person)] == [T0 + timedelta(seconds=131)]

    assert (len(first), len(second), len(third)) == (1, 0, 1)


def test_two_requests_thirty_seconds_apart_write_once(client, session, person, token):
    with session_updates() as updates:
        with freeze_time(T0 + timedelta(minutes=5)):
            client.get(ME, headers=bearer(token))
        with freeze_time(T0 + timedelta(minutes=5, seconds=30)):
            client.get(ME, headers=bearer(token))

    assert len(updates) == 1
    assert [s.last_active_at for s in sessions_of(session, person)] == [T0 + timedelta(minutes=5)]


def test_marking_activity_writes_no_history_and_leaves_updated_on(client, session, person, token):
    (before,) = sessions_of(session, person)
    updated_on = before.updated_on
    history = row_count(session, OpsDBHistory)

    with freeze_time(T0 + timedelta(minutes=10)):
        client.get(ME, headers=bearer(token))

    (after,) = sessions_of(session, person)
    assert after.last_active_at == T0 + timedelta(minutes=10)
    assert after.updated_on == updated_on
    assert row_count(session, OpsDBHistory) == history


def test_a_refresh_does_not_count_as_the_users_activity(client, session, fakeauth, person):
    with freeze_time(T0):
        tokens = login(client, person)
    with freeze_time(T0 + timedelta(minutes=10)):
        assert client.post("/auth/refresh", headers=bearer(tokens["refresh_token"])).status_code == 200

    assert [s.last_active_at for s in sessions_of(session, person)][-1] == T0
