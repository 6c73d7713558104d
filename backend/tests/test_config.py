"""Settings: DATABASE_URL, OPS_ environment variables and the mapping given to create_app."""

import uuid

import pytest

from ops_api import create_app
from ops_api.config import DEFAULT_EXCLUDED_OIDC_IDS, ConfigError


def test_without_database_url_the_app_uses_sqlite_in_the_instance_folder(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{app.instance_path}/ops.db"


def test_a_bare_postgresql_database_url_uses_psycopg_3(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://ops@db.internal:5432/ops")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://ops@db.internal:5432/ops"


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
    assert len(DEFAULT_EXCLUDED_OIDC_IDS) == 8


def test_the_mapping_given_to_create_app_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("OPS_DEACTIVATION_INACTIVE_DAYS", "90")
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "DEACTIVATION_INACTIVE_DAYS": 30})
    assert app.config["DEACTIVATION_INACTIVE_DAYS"] == 30


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OPS_DEACTIVATION_INACTIVE_DAYS", "0", "must be 1 or more"),
        ("OPS_DEACTIVATION_INACTIVE_DAYS", "-5", "must be 1 or more"),
        ("OPS_DEACTIVATION_INACTIVE_DAYS", "sixty", "must be a whole number"),
        ("OPS_DEACTIVATION_INACTIVE_DAYS", "1.5", "must be a whole number"),
        ("OPS_DEACTIVATION_MAX_PER_RUN", "-1", "must be 0 or more"),
        ("OPS_DEACTIVATION_EXCLUDED_OIDC_IDS", "not-a-uuid", "is not a UUID"),
        ("OPS_DEACTIVATION_EXCLUDED_OIDC_IDS", "[1, 2", "is not valid JSON"),
    ],
)
def test_an_unusable_setting_is_refused_with_a_one_line_message(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message) as caught:
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert "\n" not in str(caught.value)
