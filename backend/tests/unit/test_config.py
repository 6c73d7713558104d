"""Settings: DATABASE_URL, OPS_ environment variables and the mapping given to create_app."""

import re
import sys
import uuid

import pytest
from flask import Flask

from ops_api import create_app
from ops_api.config import ConfigError
from ops_api.domain.defaults import DEFAULT_EXCLUDED_OIDC_IDS

HUGE = str(10**30)


ENORMOUS = "9" * 5000  # more digits than Python will read as a number


def test_without_database_url_a_development_app_uses_sqlite_in_the_instance_folder(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("OPS_ENV_NAME", "local")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{app.instance_path}/ops.db"


@pytest.mark.parametrize("env_name", [None, "production", "staging"])
def test_without_database_url_a_deployed_app_refuses_the_builtin_sqlite_file(monkeypatch, env_name):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("OPS_ENV_NAME", raising=False)
    if env_name:
        monkeypatch.setenv("OPS_ENV_NAME", env_name)
    with pytest.raises(ConfigError, match="DATABASE_URL is not set; the built-in SQLite file is for development only") as caught:
        create_app()
    assert "\n" not in str(caught.value)


def test_an_instance_folder_that_cannot_be_made_is_one_line_not_a_traceback(monkeypatch, tmp_path):
    """As in an image whose instance folder lies in a place the job's user cannot write."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # nothing, not even root, can make a folder beneath a file
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("OPS_ENV_NAME", "dev")
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(blocker / "instance"))

    with pytest.raises(ConfigError, match="cannot be created .*; set DATABASE_URL") as caught:
        create_app()
    assert "\n" not in str(caught.value)


def test_an_sqlite_older_than_3_35_is_refused_in_one_line(monkeypatch, tmp_path):
    """The audit and version-trail inserts read their keys back with RETURNING, which SQLite has from 3.35."""
    monkeypatch.setattr("ops_api.config.sqlite3.sqlite_version_info", (3, 26, 0))
    monkeypatch.setattr("ops_api.config.sqlite3.sqlite_version", "3.26.0")

    with pytest.raises(ConfigError, match=re.escape("SQLite 3.35.0 or later is needed; this Python has 3.26.0")) as caught:
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/ops.db", "ENV_NAME": "test"})
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_bare_postgresql_database_url_uses_psycopg_3_when_installed(monkeypatch, scheme):
    monkeypatch.setenv("DATABASE_URL", f"{scheme}://ops@db.internal:5432/ops")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://ops@db.internal:5432/ops"


@pytest.mark.pg_driver
def test_a_bare_postgresql_database_url_falls_back_to_psycopg2(monkeypatch):
    pytest.importorskip("psycopg2")
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if psycopg 3 were not installed
    monkeypatch.setenv("DATABASE_URL", "postgresql://ops@db.internal:5432/ops")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg2://ops@db.internal:5432/ops"


@pytest.mark.pg_driver
@pytest.mark.parametrize(("url", "message"), [
    ("postgresql+psycopg2://ops@db.internal/ops", "names 'postgresql+psycopg2' but psycopg2 is not installed"),
    ("postgresql+psycopg://ops@db.internal/ops", "names 'postgresql+psycopg' but psycopg is not installed"),
    ("postgresql://ops@db.internal/ops", "no PostgreSQL driver is installed"),
])
def test_a_driver_that_is_not_installed_is_refused_with_a_one_line_message(monkeypatch, url, message):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        create_app()
    assert "\n" not in str(caught.value)
    assert "db.internal" not in str(caught.value)


def test_ops_prefixed_environment_variables_set_the_rule(monkeypatch):
    monkeypatch.setenv("OPS_DEACTIVATION_INACTIVE_DAYS", "90")
    monkeypatch.setenv("OPS_DEACTIVATION_MAX_PER_RUN", "0")
    wanted = uuid.uuid4()
    monkeypatch.setenv("OPS_DEACTIVATION_EXCLUDED_OIDC_IDS", f" {wanted} , {uuid.UUID(int=1)}")
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["DEACTIVATION_INACTIVE_DAYS"] == 90
    assert app.config["DEACTIVATION_MAX_PER_RUN"] == 0
    assert app.config["DEACTIVATION_EXCLUDED_OIDC_IDS"] == (wanted, uuid.UUID(int=1))


def test_excluded_oidc_ids_accept_a_json_list(monkeypatch):
    monkeypatch.setenv("OPS_DEACTIVATION_EXCLUDED_OIDC_IDS", f'["{uuid.UUID(int=7)}"]')
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["DEACTIVATION_EXCLUDED_OIDC_IDS"] == (uuid.UUID(int=7),)


def test_the_default_exclusions_are_the_system_admin_and_fakeauth_users():
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["DEACTIVATION_EXCLUDED_OIDC_IDS"] == DEFAULT_EXCLUDED_OIDC_IDS
    # OPS's FakeAuthProvider offers ...0018-...0022, ...0027, ...0028 and ...0029 (randy.readonly).
    assert {str(oidc_id)[-4:] for oidc_id in DEFAULT_EXCLUDED_OIDC_IDS} == {
        "0026", "0018", "0019", "0020", "0021", "0022", "0027", "0028", "0029"
    }


def test_the_mapping_given_to_create_app_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("OPS_DEACTIVATION_INACTIVE_DAYS", "90")
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "DEACTIVATION_INACTIVE_DAYS": 30})
    assert app.config["DEACTIVATION_INACTIVE_DAYS"] == 30


def test_the_job_statement_timeout_defaults_to_five_minutes_and_can_be_set(monkeypatch):
    assert create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}).config["DB_STATEMENT_TIMEOUT_MS"] == 300_000
    monkeypatch.setenv("OPS_DB_STATEMENT_TIMEOUT_MS", "60000")
    assert create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}).config["DB_STATEMENT_TIMEOUT_MS"] == 60_000


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OPS_DEACTIVATION_INACTIVE_DAYS", "0", "must be 1 or more"),
        ("OPS_DEACTIVATION_INACTIVE_DAYS", "-5", "must be 1 or more"),
        ("OPS_DEACTIVATION_INACTIVE_DAYS", "sixty", "must be a whole number"),
        ("OPS_DEACTIVATION_INACTIVE_DAYS", "1.5", "must be a whole number"),
        ("OPS_DEACTIVATION_MAX_PER_RUN", "-1", "must be 0 or more"),
        ("OPS_DB_STATEMENT_TIMEOUT_MS", "0", "must be 1 or more"),
        ("OPS_DB_STATEMENT_TIMEOUT_MS", "5m", "must be a whole number"),
        ("OPS_DB_STATEMENT_TIMEOUT_MS", "1800001", "must be 1800000 or less"),
        ("OPS_DEACTIVATION_EXCLUDED_OIDC_IDS", "not-a-uuid", "is not a UUID"),
        ("OPS_DEACTIVATION_EXCLUDED_OIDC_IDS", "[1, 2", "is not valid JSON"),
    ],
)
def test_an_unusable_setting_is_refused_with_a_one_line_message(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message) as caught:
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OPS_SMTP_TIMEOUT", HUGE, "OPS_SMTP_TIMEOUT must be 600 or less"),
        ("OPS_SMTP_TIMEOUT", ENORMOUS, "OPS_SMTP_TIMEOUT must be 600 or less"),
        ("OPS_SMTP_PORT", ENORMOUS, "OPS_SMTP_PORT must be at most 65535"),
        ("OPS_JWT_ACCESS_TOKEN_EXPIRES", HUGE, "must be 86400 or less"),
        ("OPS_JWT_ACCESS_TOKEN_EXPIRES", "1e400", "must be a whole number"),
        ("OPS_JWT_REFRESH_TOKEN_EXPIRES", HUGE, "must be 2592000 or less"),
        ("OPS_JWT_REFRESH_TOKEN_EXPIRES", ENORMOUS, "must be 2592000 or less"),
        ("OPS_DEACTIVATION_MAX_PER_RUN", HUGE, "must be 10000000 or less"),
        ("OPS_DEACTIVATION_MAX_PER_RUN", ENORMOUS, "must be 10000000 or less"),
        ("OPS_DEACTIVATION_MAX_PER_RUN", "-" + ENORMOUS, "must be 0 or more"),
        ("OPS_DEACTIVATION_INACTIVE_DAYS", HUGE, "must be 36500 or less"),
        ("OPS_DEACTIVATION_WARN_DAYS", HUGE, "must be at least 1 and less than"),
        ("OPS_DEACTIVATION_WARN_DAYS", ENORMOUS, "must be at least 1 and less than"),
        ("OPS_DEACTIVATION_WARN_DAYS", f"7,{ENORMOUS}", "must be at least 1 and less than"),
        ("OPS_DB_STATEMENT_TIMEOUT_MS", ENORMOUS, "must be 1800000 or less"),
        ("OPS_SMTP_PORT__DEEP", "1", "'__' names a setting that is not a mapping"),
    ],
)
def test_an_absurd_value_is_refused_in_one_short_line(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message) as caught:
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    text = str(caught.value)
    assert "\n" not in text
    assert len(text) < 300  # the 5,000 digits are never repeated back
