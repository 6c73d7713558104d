"""End to end over HTTP and the job: 60 idle days disable an account, which stays locked
out until an administrator reactivates it; the next hourly run then leaves it alone."""

from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

from ops_api.models import OpsEventStatus, OpsEventType, UserStatus

from api_support import bearer, error_of, events_of_type, login, sessions_of
from factories import make_user, run_job

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=timezone.utc)
DAY_61 = T0 + timedelta(days=61)


@pytest.fixture
def long_lived_tokens(app):
    # So that a refusal 61 days on comes from the ended session, not from the token's expiry.
    app.config["JWT_ACCESS_TOKEN_EXPIRES"] = timedelta(days=90)


def test_a_disabled_account_is_locked_out_until_an_admin_reactivates_it(
    client, session, fakeauth, long_lived_tokens, system_admin, user_admin
):
    person = make_user(session, email="alex.person@example.gov", created_on=T0 - timedelta(days=30))
    session.commit()
    with freeze_time(T0):
        token = login(client, person)["access_token"]
        assert client.get("/api/v1/users/me", headers=bearer(token)).status_code == 200

    with freeze_time(DAY_61):
        report = run_job(session)
        refused_request = client.get("/api/v1/users/me", headers=bearer(token))
        refused_login = client.post("/auth/login", json={"provider": "fakeauth", "oidc_id": str(person.oidc_id)})
        admin_token = login(client, user_admin)["access_token"]
        reactivated = client.patch(
            f"/api/v1/users/{person.id}", headers=bearer(admin_token), json={"status": "ACTIVE"}
        )
        new_token = login(client, person)["access_token"]
        old_token_again = client.get("/api/v1/users/me", headers=bearer(token))
        new_token_answer = client.get("/api/v1/users/me", headers=bearer(new_token))
    with freeze_time(DAY_61 + timedelta(hours=1)):
        next_run = run_job(session)

    assert report.disabled == [person.id]
    assert next_run.candidates == [] and next_run.disabled == []

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
