"""End to end over HTTP: a disabled account is locked out until an administrator reactivates it.

The inactivity job's own service arrives separately; here the System Admin
calls deactivate_user directly, as the job does.
"""

from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

from api_support import bearer, error_of, events_of_type, login, sessions_of
from factories import make_user
from ops_api.models import OpsEventStatus, OpsEventType, UserStatus
from ops_api.services.users import deactivate_user

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=timezone.utc)
DAY_61 = T0 + timedelta(days=61)


@pytest.fixture
def fakeauth(app):
    app.config["FAKEAUTH_ENABLED"] = True


@pytest.fixture
def long_lived_tokens(app):
    # So that a refusal 61 days on comes from the ended session, not from the token's expiry.
    app.config["JWT_ACCESS_TOKEN_EXPIRES"] = timedelta(days=90)


def test_a_disabled_account_is_locked_out_until_an_admin_reactivates_it(
    client, session, fakeauth, long_lived_tokens, system_admin, user_admin
):
    person = make_user(session, email="alex.person@example.gov")
    session.commit()
    with freeze_time(T0):
        token = login(client, person)["access_token"]
        assert client.get("/api/v1/users/me", headers=bearer(token)).status_code == 200

    with freeze_time(DAY_61):
        deactivate_user(session, person, actor=system_admin, reason="no activity for 60 days")
        session.commit()
        refused_request = client.get("/api/v1/users/me", headers=bearer(token))
        refused_login = client.post("/auth/login", json={"provider": "fakeauth", "oidc_id": str(person.oidc_id)})
        admin_token = login(client, user_admin)["access_token"]
        reactivated = client.patch(
            f"/api/v1/users/{person.id}", headers=bearer(admin_token), json={"status": "ACTIVE"}
        )
        new_token = login(client, person)["access_token"]
        old_token_again = client.get("/api/v1/users/me", headers=bearer(token))
        new_token_answer = client.get("/api/v1/users/me", headers=bearer(new_token))

    assert error_of(refused_request, 401)["code"] == "session_ended"
    assert error_of(refused_login, 403)["code"] == "account_inactive"
    assert reactivated.status_code == 200
    assert error_of(old_token_again, 401)["code"] == "session_ended"
    assert new_token_answer.get_json()["status"] == "ACTIVE"
    session.expire_all()
    assert person.status is UserStatus.ACTIVE
    assert person.reactivated_on == DAY_61
    assert [(s.is_active, s.last_active_at) for s in sessions_of(session, person)] == [
        (False, T0),
        (True, DAY_61),
    ]
    attempts = [
        e.event_status
        for e in events_of_type(session, OpsEventType.LOGIN_ATTEMPT)
        if e.event_details["user_id"] == person.id
    ]
    assert attempts == [OpsEventStatus.SUCCESS, OpsEventStatus.FAILED, OpsEventStatus.SUCCESS]
