"""Authority stops at other people: no admin changes their own roles or status, nobody edits the System Admin,
and two admins disabling each other serialise (one wins, never both INACTIVE, never a 500)."""

import threading

import pytest
from sqlalchemy import select, text

from ops_api import create_app
from ops_api.models import User, UserStatus

import factories
from api_support import bearer, error_of, login
from factories import event_and_history_counts, make_user


def test_an_admin_cannot_grant_themselves_a_role(client, session, user_admin, admin_token):
    before = event_and_history_counts(session)

    response = client.patch(
        f"/api/v1/users/{user_admin.id}", headers=bearer(admin_token), json={"roles": ["USER_ADMIN", "SYSTEM_OWNER"]}
    )

    error = error_of(response, 400)
    assert error["code"] == "validation_error"
    assert set(error["fields"]) == {"roles"}
    session.expire_all()
    assert user_admin.role_names == ["USER_ADMIN"]
    assert event_and_history_counts(session) == before


@pytest.mark.parametrize("status", ["ACTIVE", "INACTIVE", "LOCKED"])
def test_an_admin_cannot_set_their_own_status(client, session, user_admin, admin_token, status):
    before = event_and_history_counts(session)

    response = client.patch(
        f"/api/v1/users/{user_admin.id}", headers=bearer(admin_token), json={"status": status, "reason": "mine"}
    )

    assert error_of(response, 400)["code"] == "invalid_status_change"
    session.expire_all()
    assert user_admin.status is UserStatus.ACTIVE
    assert event_and_history_counts(session) == before


def test_an_admin_may_still_edit_their_own_name(client, session, user_admin, admin_token):
    response = client.patch(f"/api/v1/users/{user_admin.id}", headers=bearer(admin_token), json={"first_name": "Pat"})

    assert response.status_code == 200
    assert response.get_json()["first_name"] == "Pat"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "attacker@example.gov"},
        {"first_name": "Owned"},
        {"roles": ["VIEWER_EDITOR"]},
        {"status": "ACTIVE", "reason": "let me in"},
        {"status": "INACTIVE"},
    ],
)
def test_the_system_admins_record_cannot_be_edited_through_the_api(
    client, session, system_admin, admin_token, body
):
    before = event_and_history_counts(session)

    response = client.patch(f"/api/v1/users/{system_admin.id}", headers=bearer(admin_token), json=body)

    assert error_of(response, 403)["code"] == "forbidden"
    session.expire_all()
    assert system_admin.email == "system.admin@email.com"
    assert system_admin.first_name == "System"
    assert system_admin.status is UserStatus.LOCKED
    assert event_and_history_counts(session) == before


@pytest.mark.postgres_only
def test_a_row_lock_held_elsewhere_is_a_409_and_changes_nothing(session, database_url, user_admin, person):
    quick = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "TESTING": True,
            "ENV_NAME": "test",
            "FAKEAUTH_ENABLED": True,
            "DB_LOCK_TIMEOUT_MS": 200,
        }
    )
    client = quick.test_client()
    token = login(client, user_admin)["access_token"]
    before = event_and_history_counts(session)
    engine = factories.open_engine(database_url)
    try:
        with engine.connect() as holder:
            holder.execute(
                text(f"SELECT id FROM {factories.table_name(holder, 'ops_user')} WHERE id = :id FOR UPDATE"),
                {"id": person.id},
            )
            response = client.patch(f"/api/v1/users/{person.id}", headers=bearer(token), json={"status": "INACTIVE"})
            holder.rollback()
    finally:
        engine.dispose()

    error = error_of(response, 409)
    assert error["code"] == "conflict"
    session.expire_all()
    assert person.status is UserStatus.ACTIVE
    assert event_and_history_counts(session) == before


TRIALS = 8


@pytest.mark.postgres_only
def test_two_admins_disabling_each_other_at_once_never_both_end_inactive(app, session, roles, fakeauth):
    outcomes = []
    for trial in range(TRIALS):
        first = make_user(session, email=f"first{trial}@example.gov", roles=[roles["USER_ADMIN"]])
        second = make_user(session, email=f"second{trial}@example.gov", roles=[roles["USER_ADMIN"]])
        session.commit()
        tokens = {user.id: login(app.test_client(), user)["access_token"] for user in (first, second)}
        first_id, second_id = first.id, second.id
        start = threading.Barrier(2)
        answers: dict[int, int] = {}

        # This trial's barrier, tokens and answers, bound now (the threads end within the trial).
        def disable(actor_id: int, target_id: int, start=start, tokens=tokens, answers=answers) -> None:
            client = app.test_client()
            start.wait()
            response = client.patch(
                f"/api/v1/users/{target_id}", headers=bearer(tokens[actor_id]), json={"status": "INACTIVE"}
            )
            answers[actor_id] = response.status_code

        threads = [
            threading.Thread(target=disable, args=(first_id, second_id)),
            threading.Thread(target=disable, args=(second_id, first_id)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        session.expire_all()
        statuses = dict(session.execute(select(User.id, User.status).where(User.id.in_([first_id, second_id]))).all())
        outcomes.append((sorted(answers.values()), sorted(s.name for s in statuses.values())))
    print("answers and statuses per trial:", outcomes)

    for answers, statuses in outcomes:
        assert all(code < 500 for code in answers), outcomes
        assert statuses == ["ACTIVE", "INACTIVE"], outcomes
        assert answers.count(200) == 1, outcomes
