"""Sign-in settings: FakeAuth's switch, development versus deployed environments, and the JWT secret."""

import base64
import hashlib
import os
import secrets
import time
from datetime import timedelta

import pytest

from ops_api import create_app
from ops_api.config import DEVELOPMENT_ENV_NAMES, TESTING_JWT_SECRET_KEY, ConfigError, secret_weakness

MEMORY = {"SQLALCHEMY_DATABASE_URI": "sqlite://"}
DEV = {**MEMORY, "ENV_NAME": "local"}
A_SECRET = "s" * 40  # fine for a development environment only: far too predictable elsewhere
STRONG_SECRET = "q8Vd1-Rk3TzXw0pLa9mYc2HnE7uJf4Gb6SiOe5"
# Names that a deployment might well use, none of them a development name.
DEPLOYED_NAMES = [
    "production", "Production ", "prod", "prd", "prod-east", "PRD-EAST", "staging", "stage", "uat", "impl",
    "ops-prod", "live", "preprod", "sandbox", "qa", "local-prod", "devel", "dev2", "testing", "tests",
    "loc", "unnamed", "",
]


@pytest.fixture(autouse=True)
def _no_auth_environment(monkeypatch):
    for name in ("OPS_ENV_NAME", "OPS_FAKEAUTH_ENABLED", "OPS_JWT_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_fakeauth_is_off_by_default():
    assert create_app(DEV).config["FAKEAUTH_ENABLED"] is False


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("1", True), ("false", False), ("0", False)])
def test_fakeauth_is_switched_by_ops_fakeauth_enabled(monkeypatch, value, expected):
    monkeypatch.setenv("OPS_FAKEAUTH_ENABLED", value)
    assert create_app(DEV).config["FAKEAUTH_ENABLED"] is expected


def test_the_development_names_are_the_short_documented_list():
    assert DEVELOPMENT_ENV_NAMES == ("local", "dev", "development", "test")


@pytest.mark.parametrize("env_name", ["local", "dev", "development", "test", "LOCAL", "Dev", " test "])
def test_fakeauth_and_the_test_secret_work_under_a_development_name(monkeypatch, env_name):
    monkeypatch.setenv("OPS_ENV_NAME", env_name)
    monkeypatch.setenv("OPS_FAKEAUTH_ENABLED", "true")
    app = create_app({**MEMORY, "TESTING": True})
    assert app.config["FAKEAUTH_ENABLED"] is True
    assert app.config["JWT_SECRET_KEY"] == TESTING_JWT_SECRET_KEY


@pytest.mark.parametrize("env_name", DEPLOYED_NAMES)
def test_fakeauth_refuses_to_start_under_any_other_name(monkeypatch, env_name):
    monkeypatch.setenv("OPS_ENV_NAME", env_name)
    monkeypatch.setenv("OPS_FAKEAUTH_ENABLED", "true")

    with pytest.raises(ConfigError, match="OPS_FAKEAUTH_ENABLED must not be true") as caught:
        create_app({**MEMORY, "JWT_SECRET_KEY": STRONG_SECRET})
    assert "\n" not in str(caught.value)
    assert "local, dev, development, test" in str(caught.value)


def test_without_an_env_name_fakeauth_refuses_to_start(monkeypatch):
    monkeypatch.setenv("OPS_FAKEAUTH_ENABLED", "true")
    with pytest.raises(ConfigError, match="OPS_ENV_NAME is not set, so this is a deployed environment"):
        create_app(MEMORY)


def test_without_an_env_name_alerts_call_the_environment_unnamed():
    assert create_app(MEMORY).config["ENV_NAME"] == "unnamed"


def test_a_deployed_app_without_fakeauth_starts(monkeypatch):
    monkeypatch.setenv("OPS_ENV_NAME", "production")
    assert create_app({**MEMORY, "JWT_SECRET_KEY": STRONG_SECRET}).config["FAKEAUTH_ENABLED"] is False


def test_an_unreadable_fakeauth_switch_is_refused(monkeypatch):
    monkeypatch.setenv("OPS_FAKEAUTH_ENABLED", "perhaps")
    with pytest.raises(ConfigError, match="must be true or false"):
        create_app(MEMORY)


def test_the_jwt_secret_comes_from_ops_jwt_secret_key(monkeypatch):
    monkeypatch.setenv("OPS_JWT_SECRET_KEY", STRONG_SECRET)
    assert create_app(MEMORY).config["JWT_SECRET_KEY"] == STRONG_SECRET


def test_a_development_environment_accepts_a_predictable_secret(monkeypatch):
    monkeypatch.setenv("OPS_JWT_SECRET_KEY", A_SECRET)
    assert create_app(DEV).config["JWT_SECRET_KEY"] == A_SECRET


def test_without_a_secret_the_app_still_starts_with_none_so_the_cli_runs():
    assert create_app(MEMORY).config["JWT_SECRET_KEY"] is None


def test_a_testing_app_without_a_secret_uses_the_fixed_test_secret():
    assert create_app({**DEV, "TESTING": True}).config["JWT_SECRET_KEY"] == TESTING_JWT_SECRET_KEY


@pytest.mark.parametrize("env_name", [None, "production", "Production", "staging", "prd-west"])
def test_a_testing_app_outside_development_never_gets_the_published_test_secret(monkeypatch, env_name):
    if env_name is not None:
        monkeypatch.setenv("OPS_ENV_NAME", env_name)
    app = create_app({**MEMORY, "TESTING": True})
    assert app.config["JWT_SECRET_KEY"] is None


@pytest.mark.parametrize("env_name", [None, "production", "Production", "staging"])
def test_the_published_test_secret_given_explicitly_is_refused_outside_development(monkeypatch, env_name):
    if env_name is not None:
        monkeypatch.setenv("OPS_ENV_NAME", env_name)
    monkeypatch.setenv("OPS_JWT_SECRET_KEY", TESTING_JWT_SECRET_KEY)
    with pytest.raises(ConfigError, match="published in this project's source") as caught:
        create_app(MEMORY)
    assert TESTING_JWT_SECRET_KEY not in str(caught.value)
    assert "\n" not in str(caught.value)


WEAK_SECRETS = [
    "a" * 32,
    "s" * 40,
    "ab" * 16,
    "passwordpasswordpasswordpassword",
    "0123456789" * 4,
    "abcdefghijklmnopqrstuvwxyz012345",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
    "Summer2026!Summer2026!Summer2026!",
    "11111111112222222222333333333344",
]


@pytest.mark.parametrize("weak", WEAK_SECRETS)
def test_a_predictable_secret_is_refused_in_a_deployed_environment_without_echoing_it(monkeypatch, weak):
    monkeypatch.setenv("OPS_ENV_NAME", "production")
    monkeypatch.setenv("OPS_JWT_SECRET_KEY", weak)

    with pytest.raises(ConfigError, match="OPS_JWT_SECRET_KEY") as caught:
        create_app(MEMORY)

    message = str(caught.value)
    assert "\n" not in message
    assert weak not in message and weak[:8] not in message


# What a red team set as OPS_JWT_SECRET_KEY under `production`, and the old check accepted.
RED_TEAM_SECRETS = [
    "changeme-changeme-changeme-changeme!",
    "Password123Password123Password123!",
    # Keyboard rows and columns, in the orders people type them.
    "qwertyuiopasdfghjklzxcvbnm1234567890",
    "1234567890qwertyuiopasdfghjklzxcvbnm",
    "qwertyuiopasdfghjklzxcvbnmQWERTYUIOPASDFGHJKLZXCVBNM1234567890",
    "mnbvcxzlkjhgfdsapoiuytrewq0987654321",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "zaq12wsxcde34rfvbgt56yhnmju78ik9ol0p",
    "1q2w3e4r5t6y7u8i9o0pasdfghjklzxcvbnm",
    # The hex SHA-256 of "password".
    "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
    # The published test secret upper-cased, reversed, and with one character more.
    TESTING_JWT_SECRET_KEY.upper(),
    TESTING_JWT_SECRET_KEY[::-1],
    TESTING_JWT_SECRET_KEY + "!",
]


@pytest.mark.parametrize("weak", RED_TEAM_SECRETS)
def test_the_red_teams_secrets_are_refused_in_one_line_that_says_how_to_make_a_key(monkeypatch, weak):
    monkeypatch.setenv("OPS_ENV_NAME", "production")
    monkeypatch.setenv("OPS_JWT_SECRET_KEY", weak)

    with pytest.raises(ConfigError) as caught:
        create_app(MEMORY)

    message = str(caught.value)
    assert message.startswith("OPS_JWT_SECRET_KEY ")
    assert "\n" not in message
    assert weak not in message and weak[:8] not in message and weak[-8:] not in message
    assert 'python3 -c "import secrets; print(secrets.token_urlsafe(48))"' in message


@pytest.mark.parametrize("weak", RED_TEAM_SECRETS)
def test_a_development_environment_still_accepts_the_red_teams_secrets(monkeypatch, weak):
    monkeypatch.setenv("OPS_JWT_SECRET_KEY", weak)
    assert create_app(DEV).config["JWT_SECRET_KEY"] == weak


def test_the_hex_sha256_of_password_in_the_red_team_list_is_computed_exactly():
    assert RED_TEAM_SECRETS[9] == hashlib.sha256(b"password").hexdigest()


def test_a_generated_key_is_accepted_in_a_deployed_environment(monkeypatch):
    monkeypatch.setenv("OPS_ENV_NAME", "production")
    key = secrets.token_urlsafe(48)
    monkeypatch.setenv("OPS_JWT_SECRET_KEY", key)
    assert create_app(MEMORY).config["JWT_SECRET_KEY"] == key


def test_ten_thousand_keys_of_each_documented_shape_are_accepted_within_seconds():
    """token_urlsafe(48) and token_hex(32), 10,000 of each: every one accepted (about 2 s here)."""
    started = time.perf_counter()
    for make in (lambda: secrets.token_urlsafe(48), lambda: secrets.token_hex(32)):
        refused = [key for key in (make() for _ in range(10_000)) if secret_weakness(key) is not None]
        assert refused == []
    assert time.perf_counter() - started < 10


def test_random_secrets_of_the_usual_shapes_are_accepted():
    """Keys made the documented ways pass the predictability tests, every time out of 2,000 each."""
    makers = {
        "hex of 16 bytes": lambda: secrets.token_hex(16),
        "hex of 32 bytes": lambda: secrets.token_hex(32),
        "urlsafe of 24 bytes": lambda: secrets.token_urlsafe(24),
        "base64 of 48 bytes": lambda: base64.b64encode(os.urandom(48)).decode(),
    }
    for shape, make in makers.items():
        refused = [key for key in (make() for _ in range(2000)) if secret_weakness(key) is not None]
        assert refused == [], shape


def test_a_short_jwt_secret_is_refused(monkeypatch):
    monkeypatch.setenv("OPS_JWT_SECRET_KEY", "short")
    with pytest.raises(ConfigError, match="at least 32 characters"):
        create_app(MEMORY)


def test_token_lifetimes_are_given_in_seconds(monkeypatch):
    monkeypatch.setenv("OPS_JWT_ACCESS_TOKEN_EXPIRES", "600")
    app = create_app(MEMORY)
    assert app.config["JWT_ACCESS_TOKEN_EXPIRES"] == timedelta(minutes=10)
    assert app.config["JWT_REFRESH_TOKEN_EXPIRES"] == timedelta(hours=12)
