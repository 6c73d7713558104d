"""Sign-in settings: FakeAuth's switch, the production guard and the JWT secret."""

from datetime import timedelta

import pytest

from ops_api import create_app
from ops_api.config import TESTING_JWT_SECRET_KEY, ConfigError

MEMORY = {"SQLALCHEMY_DATABASE_URI": "sqlite://"}
A_SECRET = "s" * 40


@pytest.fixture(autouse=True)
def _no_auth_environment(monkeypatch):
    for name in ("OPS_ENV_NAME", "OPS_FAKEAUTH_ENABLED", "OPS_JWT_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_fakeauth_is_off_by_default():
    assert create_app(MEMORY).config["FAKEAUTH_ENABLED"] is False


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("1", True), ("false", False), ("0", False)])
def test_fakeauth_is_switched_by_ops_fakeauth_enabled(monkeypatch, value, expected):
    monkeypatch.setenv("OPS_FAKEAUTH_ENABLED", value)
    assert create_app(MEMORY).config["FAKEAUTH_ENABLED"] is expected


@pytest.mark.parametrize("env_name", ["production", "Production ", "prod", "prd", "prod-east"])
def test_a_production_app_with_fakeauth_refuses_to_start(monkeypatch, env_name):
    monkeypatch.setenv("OPS_ENV_NAME", env_name)
    monkeypatch.setenv("OPS_FAKEAUTH_ENABLED", "true")

    with pytest.raises(ConfigError, match="OPS_FAKEAUTH_ENABLED must not be true") as caught:
        create_app({**MEMORY, "JWT_SECRET_KEY": A_SECRET})
    assert "\n" not in str(caught.value)


def test_a_production_app_without_fakeauth_starts(monkeypatch):
    monkeypatch.setenv("OPS_ENV_NAME", "production")
    assert create_app({**MEMORY, "JWT_SECRET_KEY": A_SECRET}).config["FAKEAUTH_ENABLED"] is False


def test_an_unreadable_fakeauth_switch_is_refused(monkeypatch):
    monkeypatch.setenv("OPS_FAKEAUTH_ENABLED", "perhaps")
    with pytest.raises(ConfigError, match="must be true or false"):
        create_app(MEMORY)


def test_the_jwt_secret_comes_from_ops_jwt_secret_key(monkeypatch):
    monkeypatch.setenv("OPS_JWT_SECRET_KEY", A_SECRET)
    assert create_app(MEMORY).config["JWT_SECRET_KEY"] == A_SECRET


def test_without_a_secret_the_app_still_starts_with_none_so_the_cli_runs():
    assert create_app(MEMORY).config["JWT_SECRET_KEY"] is None


def test_a_testing_app_without_a_secret_uses_the_fixed_test_secret():
    assert create_app({**MEMORY, "TESTING": True}).config["JWT_SECRET_KEY"] == TESTING_JWT_SECRET_KEY


def test_a_testing_app_in_production_never_gets_the_published_test_secret():
    app = create_app({**MEMORY, "TESTING": True, "ENV_NAME": "production"})
    assert app.config["JWT_SECRET_KEY"] is None


def test_a_short_jwt_secret_is_refused(monkeypatch):
    monkeypatch.setenv("OPS_JWT_SECRET_KEY", "short")
    with pytest.raises(ConfigError, match="at least 32 characters"):
        create_app(MEMORY)


def test_token_lifetimes_are_given_in_seconds(monkeypatch):
    monkeypatch.setenv("OPS_JWT_ACCESS_TOKEN_EXPIRES", "600")
    app = create_app(MEMORY)
    assert app.config["JWT_ACCESS_TOKEN_EXPIRES"] == timedelta(minutes=10)
    assert app.config["JWT_REFRESH_TOKEN_EXPIRES"] == timedelta(hours=12)
