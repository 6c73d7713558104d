"""Security: a disabled account reaches nothing; FakeAuth never runs in production."""

import re
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from api_support import bearer, error_of, login
from cli_runner import invoke, invoke_flask
from factories import make_user
from ops_api.api.openapi import PATHS
from ops_api.models import OpsDBHistory, User
from ops_api.services.user_deactivation import UserDeactivationService

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=timezone.utc)
DAY_61 = T0 + timedelta(days=61)


def protected_routes(app):
    """Every (method, path) the app serves under /auth and /api/v1 that the OpenAPI description does not mark public."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not (rule.rule.startswith("/api/v1") or rule.rule.startswith("/auth")):
            continue
        spec_path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            operation = PATHS.get(spec_path, {}).get(method.lower(), {})
            if operation.get("security") == []:
                continue  # public by design, e.g. login and the description itself
            routes.append((method, re.sub(r"<(?:\w+:)?\w+>", "1", rule.rule)))
    return routes


def test_a_token_of_an_account_the_job_disabled_is_refused_on_every_protected_route(
    app, client, session, user_admin, roles
):
    app.config["FAKEAUTH_ENABLED"] = True
    app.config["JWT_ACCESS_TOKEN_EXPIRES"] = timedelta(days=90)
    person = make_user(session, created_on=T0 - timedelta(days=30), roles=[roles["USER_ADMIN"]])
    session.commit()
    with freeze_time(T0):
        token = login(client, person)["access_token"]
    with freeze_time(DAY_61):
        assert UserDeactivationService(session).disable_inactive_users().disabled == [person.id]

        routes = protected_routes(app)
        answers = {(method, path): client.open(path, method=method, headers=bearer(token), json={}) for method, path in routes}

    assert len(routes) >= 6
    for route, response in answers.items():
        assert response.status_code == 401, route
        error_of(response, 401)


@pytest.mark.parametrize("command", [["disable-inactive-users"], ["seed-demo"]])
def test_with_production_and_fakeauth_on_the_job_refuses_to_start(database_url, command):
    result = invoke_flask(*command, database_url=database_url, OPS_ENV_NAME="production", OPS_FAKEAUTH_ENABLED="true")

    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "FakeAuth" in result.stderr or "FAKEAUTH" in result.stderr


@pytest.mark.parametrize("command", [["seed-demo"], ["seed-load", "--users", "1", "--replace"]])
def test_development_commands_are_refused_in_production_and_change_nothing(session, system_admin, app_from_env, command):
    before = (session.scalar(select(func.count()).select_from(User)), session.scalar(select(func.count()).select_from(OpsDBHistory)))

    result = invoke(app_from_env(OPS_ENV_NAME="production"), *command)

    assert result.exit_code == 1
    assert "refused because OPS_ENV_NAME names production" in result.stderr
    session.expire_all()
    assert (session.scalar(select(func.count()).select_from(User)), session.scalar(select(func.count()).select_from(OpsDBHistory))) == before
