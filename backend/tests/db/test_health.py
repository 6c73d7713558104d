"""`flask disable-inactive-users-health` (in process, at a frozen clock), and GET /api/v1/health/disable-inactive-users."""

import json
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

from cli_runner import invoke, run_flask
from factories import make_session, make_user, run_job

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
URL = "/api/v1/health/disable-inactive-users"


def finished_run_at(session, when, **kwargs):
    """A run of the job at ``when``, recorded as the job records it."""
    with freeze_time(when):
        run_job(session, **kwargs)


# -- the command --------------------------------------------------------------


def health(app, *args, now=NOW):
    return invoke(app, "disable-inactive-users-health", *args, now=now)


def test_the_command_fails_when_there_has_never_been_a_run(app, session):
    result = health(app)

    assert result.exit_code == 1
    assert result.stdout.strip() == "never_succeeded: disable-inactive-users has no successful real run on record"


def test_the_command_passes_after_a_real_run_and_fails_after_only_a_dry_run(app, session, system_admin):
    dry = invoke(app, "disable-inactive-users", "--dry-run", now=NOW)
    after_dry = health(app, now=NOW + timedelta(seconds=10))
    real = invoke(app, "disable-inactive-users", now=NOW + timedelta(seconds=20))
    after_real = health(app, "--max-age", "90m", "--format", "json", now=NOW + timedelta(seconds=50))

    assert (dry.exit_code, real.exit_code) == (0, 0)
    assert after_dry.exit_code == 1
    assert after_real.exit_code == 0, after_real.stdout + after_real.stderr
    document = json.loads(after_real.stdout)
    assert document["healthy"] is True and document["status"] == "ok"
    assert document["max_age_seconds"] == 90 * 60
    assert document["age_seconds"] < 60
    assert document["age_seconds"] == 30


@pytest.mark.parametrize(("max_age", "code"), [("1d", 1), ("2h", 1), ("3d", 0)])
def test_the_command_compares_the_last_success_with_max_age(app, session, system_admin, max_age, code):
    finished_run_at(session, NOW - 2 * DAY)

    result = health(app, "--max-age", max_age)

    assert result.exit_code == code, result.stdout + result.stderr
    assert result.stdout.startswith("ok:" if code == 0 else "stale:")
    assert f"(max age {max_age})" in result.stdout


@pytest.mark.parametrize("max_age", ["2x", "0h", "soon", "-1d", "1.5h"])
def test_a_bad_max_age_is_a_usage_error_in_one_line(app, max_age):
    result = health(app, "--max-age", max_age)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "--max-age" in result.stderr


def test_the_command_fails_in_one_line_when_the_database_is_unreachable():
    # A real process, like the platform's check that runs it.
    result = run_flask("disable-inactive-users-health", database_url="postgresql+psycopg://postgres@127.0.0.1:1/none")

    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "cannot connect to the database" in result.stderr


def test_the_command_documents_its_exit_codes(app):
    result = health(app, "--help")

    assert result.exit_code == 0
    for text in ("--max-age", "0  healthy", "1  unhealthy", "2  usage error"):
        assert text in result.stdout


# -- the HTTP endpoint ----------------------------------------------------------


@pytest.fixture
def client(app):
    return app.test_client()


def test_the_endpoint_answers_503_when_there_has_never_been_a_run(client):
    with freeze_time(NOW):
        response = client.get(URL)

    assert response.status_code == 503
    assert response.is_json
    assert response.get_json() == {
        "error": {
            "code": "job_never_succeeded",
            "message": "never_succeeded: disable-inactive-users has no successful real run on record",
            "fields": {},
        }
    }


def test_the_endpoint_answers_200_within_max_age_and_503_after(client, session, system_admin):
    finished_run_at(session, NOW)

    with freeze_time(NOW + timedelta(minutes=119)):
        fresh = client.get(URL)
    with freeze_time(NOW + timedelta(minutes=121)):
        stale = client.get(URL)
    with freeze_time(NOW + timedelta(minutes=121)):
        lenient = client.get(URL, query_string={"max_age": "1d"})

    assert fresh.status_code == 200
    assert fresh.get_json()["status"] == "ok"
    assert fresh.get_json()["last_success_at"] == NOW.isoformat()
    assert fresh.get_json()["age_seconds"] == 119 * 60
    assert stale.status_code == 503 and stale.get_json()["error"]["code"] == "job_stale"
    assert f"finished at {NOW.isoformat()}, 2h 1m ago (max age 2h)" in stale.get_json()["error"]["message"]
    assert lenient.status_code == 200 and lenient.get_json()["max_age_seconds"] == 86400


def test_a_dry_run_does_not_make_the_endpoint_healthy(client, session, system_admin):
    finished_run_at(session, NOW, dry_run=True)

    with freeze_time(NOW + timedelta(minutes=1)):
        response = client.get(URL)

    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "job_never_succeeded"


@pytest.mark.parametrize("max_age", ["forever", "", "0" * 31 + "m", "0m", "12345678m", " 2h", "2 h", "1.5h"])
def test_the_endpoint_refuses_a_max_age_outside_its_documented_pattern_with_400_json(client, max_age):
    response = client.get(URL, query_string={"max_age": max_age})

    assert response.status_code == 400
    assert "max_age" in response.get_json()["error"]["fields"]


@pytest.mark.parametrize(("max_age", "seconds"), [("90m", 5400), ("2H", 7200), ("0000090m", 5400), ("9999999s", 9999999)])
def test_the_endpoint_reads_every_max_age_its_pattern_admits(client, session, system_admin, max_age, seconds):
    finished_run_at(session, NOW)

    with freeze_time(NOW + timedelta(seconds=30)):
        response = client.get(URL, query_string={"max_age": max_age})

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["max_age_seconds"] == seconds


def test_the_endpoint_answers_the_document_the_command_prints(app, client, session, system_admin):
    finished_run_at(session, NOW)

    with freeze_time(NOW + timedelta(minutes=5)):
        answer = client.get(URL, query_string={"max_age": "90m"})
    printed = health(app, "--max-age", "90m", "--format", "json", now=NOW + timedelta(minutes=5))

    assert answer.status_code == 200 and printed.exit_code == 0
    assert answer.get_json() == json.loads(printed.stdout)


def test_the_endpoint_ignores_query_parameters_it_does_not_know(client, session, system_admin):
    finished_run_at(session, NOW)

    with freeze_time(NOW + timedelta(seconds=30)):
        response = client.get(URL, query_string={"max_age": "1h", "nocache": "1717"})

    assert response.status_code == 200 and response.get_json()["max_age_seconds"] == 3600


def test_the_endpoint_needs_no_login_and_tells_nothing_about_users(client, session, system_admin):
    user = make_user(session, email="someone.private@example.gov", created_on=NOW - 400 * DAY)
    make_session(session, user, last_active_at=NOW - 90 * DAY)
    session.commit()
    finished_run_at(session, NOW)

    with freeze_time(NOW):
        response = client.get(URL)

    assert response.status_code == 200
    assert "someone.private" not in response.get_data(as_text=True)


def test_the_endpoint_answers_503_json_when_the_database_cannot_be_asked():
    from ops_api import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:1/none", "TESTING": True})

    response = app.test_client().get(URL)

    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "job_health_unavailable"
    assert "127.0.0.1" not in response.get_data(as_text=True)  # no connection details for an anonymous caller
