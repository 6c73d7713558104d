"""The evidence keys' settings: OPS_EVIDENCE_KEY and OPS_EVIDENCE_PREVIOUS_KEYS, never shown, required where deployed."""

import secrets

import pytest

from ops_api import create_app
from ops_api.config import ConfigError
from ops_api.domain.evidence_chain import Break, ChainVerdict, key_id_of
from ops_api.services.alerts import alert_for_chain
from ops_api.services.evidence import keys_from_config

MEMORY = {"SQLALCHEMY_DATABASE_URI": "sqlite://"}
DEV = {**MEMORY, "ENV_NAME": "local"}
DEPLOYED = {**MEMORY, "ENV_NAME": "staging"}


@pytest.fixture(autouse=True)
def _no_evidence_environment(monkeypatch):
    for name in ("OPS_ENV_NAME", "OPS_EVIDENCE_KEY", "OPS_EVIDENCE_PREVIOUS_KEYS", "OPS_JWT_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_without_a_key_development_records_are_unsigned_and_the_job_may_run():
    config = create_app(DEV).config
    assert config["EVIDENCE_KEY"] is None and config["EVIDENCE_KEY_REQUIRED"] is False
    assert not keys_from_config(config).signed


def test_a_deployed_environment_requires_the_key_for_the_job():
    assert create_app(DEPLOYED).config["EVIDENCE_KEY_REQUIRED"] is True


def test_the_key_and_previous_keys_come_from_the_environment(monkeypatch):
    current, old, older = (secrets.token_urlsafe(48) for _ in range(3))
    monkeypatch.setenv("OPS_EVIDENCE_KEY", current)
    monkeypatch.setenv("OPS_EVIDENCE_PREVIOUS_KEYS", f"{old}, {older}")
    keys = keys_from_config(create_app(DEPLOYED).config)
    assert keys.current_id == key_id_of(current.encode())
    assert set(keys.verifying()) == {key_id_of(k.encode()) for k in (current, old, older)}


def test_an_all_digit_key_stays_text(monkeypatch):
    digits = "".join(secrets.choice("0123456789") for _ in range(40))
    monkeypatch.setenv("OPS_EVIDENCE_KEY", digits)  # the environment reader would make a number of it
    assert create_app(DEV).config["EVIDENCE_KEY"] == digits


def test_a_short_key_is_refused_without_showing_it():
    with pytest.raises(ConfigError) as refused:
        create_app({**DEV, "EVIDENCE_KEY": "short-key"})
    assert "at least 32 characters" in str(refused.value) and "short-key" not in str(refused.value)


def test_a_typed_key_is_refused_where_deployed_without_showing_it():
    typed = "our evidence key for the job, typed by hand 2026"
    with pytest.raises(ConfigError) as refused:
        create_app({**DEPLOYED, "EVIDENCE_KEY": typed})
    assert str(refused.value).startswith("OPS_EVIDENCE_KEY ") and typed not in str(refused.value)


def test_the_jwt_secret_is_refused_as_the_evidence_key_where_deployed():
    key = secrets.token_urlsafe(48)
    with pytest.raises(ConfigError, match="must not be OPS_JWT_SECRET_KEY"):
        create_app({**DEPLOYED, "EVIDENCE_KEY": key, "JWT_SECRET_KEY": key})


def test_a_short_previous_key_is_named_by_its_position_only():
    with pytest.raises(ConfigError) as refused:
        create_app({**DEV, "EVIDENCE_PREVIOUS_KEYS": [secrets.token_urlsafe(48), "tiny"]})
    assert "entry 2" in str(refused.value) and "tiny" not in str(refused.value)


def test_a_broken_chain_is_a_failure_alert_naming_the_record_and_an_intact_one_none():
    broken = ChainVerdict(False, "signed", 3, None, None, 0, (Break("deleted", "job_run", 12, 5, "position 5 is empty"),))
    alert = alert_for_chain(broken, env_name="prod")
    assert alert.title == "[prod] disable-inactive-users EVIDENCE CHAIN BROKEN" and alert.level == "failure"
    assert "job_run 12 deleted: position 5 is empty" in alert.body
    assert alert_for_chain(ChainVerdict(True, "signed", 3, None, None, 0), env_name="prod") is None
    assert alert_for_chain(broken, env_name="prod", dry_run=True) is None
