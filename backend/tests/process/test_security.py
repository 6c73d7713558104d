"""Security: a disabled account reaches nothing; development behaviour never runs outside a development environment."""

import re
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from ops_api.api.openapi import spec
from ops_api.models import OpsDBHistory, User

from api_support import bearer, error_of, login
from cli_runner import invoke_flask, run_flask
from factories import event_and_history_counts, make_user, run_job

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
            operation = spec()["paths"].get(spec_path, {}).get(method.lower(), {})
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
        assert run_job(session).disabled == [person.id]

        routes = protected_routes(app)
        answers = {(method, path): client.open(path, method=method, headers=bearer(token), json={}) for method, path in routes}

    assert len(routes) >= 6
    for route, response in answers.items():
        assert response.status_code == 401, route
        error_of(response, 401)


# OPS_ENV_NAME values a deployment might use: none is a development name, so all are refused.
DEPLOYED_NAMES = ["production", "Production", "staging", "prd-east", ""]


def run_without_dotenv(*args, database_url, **extra_env):
    """As the image runs `flask`: no .flaskenv is read, so an unset OPS_ENV_NAME stays unset."""
    return run_flask(
        *args, database_url=database_url, FLASK_SKIP_DOTENV="1", FLASK_APP="ops_backend.cli:create_cli_app", **extra_env
    )


@pytest.mark.parametrize("command", [["disable-inactive-users"], ["seed-demo"]])
@pytest.mark.parametrize("env_name", ["production", "staging"])
def test_outside_development_with_fakeauth_on_every_command_refuses_to_start(database_url, command, env_name):
    result = invoke_flask(*command, database_url=database_url, OPS_ENV_NAME=env_name, OPS_FAKEAUTH_ENABLED="true")

    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "FAKEAUTH" in result.stderr


def test_without_an_env_name_fakeauth_refuses_to_start(database_url):
    result = run_without_dotenv("disable-inactive-users", database_url=database_url, OPS_FAKEAUTH_ENABLED="true")

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: configuration: OPS_FAKEAUTH_ENABLED must not be true: OPS_ENV_NAME is not set, so this is a "
        "deployed environment (development names: local, dev, development, test)"
    )


@pytest.mark.parametrize(
    "command",
    [["seed-demo"], ["seed-load", "--users", "1", "--replace"], ["seed-load", "--replace", "--users", "oops"], ["seed-load", "--help"]],
)
def test_development_commands_are_refused_outside_development_and_change_nothing(session, system_admin, database_url, command):
    before = (session.scalar(select(func.count()).select_from(User)), session.scalar(select(func.count()).select_from(OpsDBHistory)))

    results = [run_flask(*command, database_url=database_url, OPS_ENV_NAME=name) for name in ("production", "staging")]
    results.append(run_without_dotenv(*command, database_url=database_url))

    for result in results:
        assert result.returncode == 1, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert f"error: {command[0]} is a development command" in result.stderr
    session.expire_all()
    assert (session.scalar(select(func.count()).select_from(User)), session.scalar(select(func.count()).select_from(OpsDBHistory))) == before


def test_the_bulk_loader_cannot_wipe_the_audit_tables_under_any_deployed_name(session, system_admin, roles, database_url):
    """`seed-load --replace` empties ops_event and ops_db_history; only a development name lets it run."""
    for n in range(3):
        make_user(session, email=f"due{n}@example.gov", created_on=T0 - timedelta(days=90))
    session.commit()
    with freeze_time(T0):
        assert len(run_job(session).disabled) == 3
    before = event_and_history_counts(session)
    assert before[0] >= 3 and before[1] >= 3

    refused = [
        run_flask("seed-load", "--users", "5", "--replace", database_url=database_url, OPS_ENV_NAME=name)
        for name in DEPLOYED_NAMES
    ]
    refused.append(run_without_dotenv("seed-load", "--users", "5", "--replace", database_url=database_url))

    assert [r.returncode for r in refused] == [1] * (len(DEPLOYED_NAMES) + 1), [r.stderr for r in refused]
    session.expire_all()
    assert event_and_history_counts(session) == before
    session.rollback()  # end the read, whose locks would hold off the TRUNCATE below
    # The control: under a development name the same command does empty them.
    allowed = run_flask("seed-load", "--users", "5", "--replace", database_url=database_url, OPS_ENV_NAME="test")
    assert allowed.returncode == 0, allowed.stderr
    session.expire_all()
    assert event_and_history_counts(session) == (0, 0)


def test_fakeauth_login_needs_a_development_name_at_the_time_of_the_request(app, client, session, fakeauth, user_admin):
    """Switching the setting on after start-up is not enough: each login checks the environment again."""
    assert client.post("/auth/login", json={"provider": "fakeauth", "oidc_id": str(user_admin.oidc_id)}).status_code == 200
    app.config["ENV_NAME"] = "production"

    answer = client.post("/auth/login", json={"provider": "fakeauth", "oidc_id": str(user_admin.oidc_id)})

    assert error_of(answer, 400)["code"] == "provider_not_enabled"
