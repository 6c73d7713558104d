"""The alerts service: which outcomes alert, what an alert says, and a notifier that fails or hangs."""

import logging
import time
from datetime import datetime, timezone

import pytest

from ops_api import create_app
from ops_api.config import DEFAULT_ENV_NAME, ConfigError, parse_alert_urls
from ops_api.services.alerts import (
    FAILURE,
    WARNING,
    Alert,
    AlertSettings,
    alert_for_error,
    alert_for_report,
    send_alert,
)
from ops_api.services.user_deactivation import DeactivationReport, FailedUser, InactiveUser
from webhook_receiver import closed_port, silent_listener, webhook_receiver

AS_OF = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def report(*, due=3, disabled=(), failed=(), dry_run=False, refused=False, skipped=False, max_disable=50):
    candidates = [InactiveUser(user_id=i, email=f"u{i}@example.gov", last_seen=AS_OF, days_inactive=90) for i in range(1, due + 1)]
    result = DeactivationReport(as_of=AS_OF, threshold_days=60, dry_run=dry_run, max_disable=max_disable, candidates=candidates)
    result.disabled = list(disabled)
    result.failed = [FailedUser(user_id, error) for user_id, error in failed]
    result.refused_by_cap = refused
    result.skipped_by_lock = skipped
    if skipped:
        result.candidates = []
        result.skipped_reason = "skipped: another run is in progress"
    return result


# -- which outcomes alert ---------------------------------------------------


def test_a_failed_user_alerts_with_the_environment_counts_and_first_error():
    alert = alert_for_report(
        report(disabled=[1, 2], failed=[(3, "OperationalError: refused by test trigger")]), env_name="ops-staging"
    )

    assert alert.level == FAILURE
    assert alert.title == "[ops-staging] disable-inactive-users FAILED"
    assert "Environment: ops-staging" in alert.body
    assert "Counts: 3 due, 2 disabled, 1 failed, 0 left alone" in alert.body
    assert "- user 3: OperationalError: refused by test trigger" in alert.body


def test_an_alert_quotes_the_first_five_errors_and_counts_the_rest():
    failures = [(i, f"error number {i}") for i in range(1, 9)]

    alert = alert_for_report(report(due=8, failed=failures), env_name="prod")

    assert "error number 5" in alert.body and "error number 6" not in alert.body
    assert "and 3 more" in alert.body


def test_a_refusal_by_the_safety_cap_alerts_as_a_warning():
    alert = alert_for_report(report(due=80, refused=True, max_disable=50), env_name="prod")

    assert alert.level == WARNING
    assert "REFUSED by the safety cap" in alert.title
    assert "Counts: 80 due, 0 disabled" in alert.body
    assert "cap 50" in alert.body


@pytest.mark.parametrize(
    "finished",
    [
        pytest.param(report(disabled=[1, 2, 3]), id="clean run"),
        pytest.param(report(due=0), id="nobody due"),
        pytest.param(report(dry_run=True), id="dry run"),
        pytest.param(report(dry_run=True, due=80, refused=True), id="dry run over the cap"),
        pytest.param(report(skipped=True), id="skipped by the lock"),
    ],
)
def test_no_alert_for_a_clean_dry_or_skipped_run(finished):
    assert alert_for_report(finished, env_name="prod") is None


def test_a_run_that_could_not_run_alerts_with_its_error():
    alert = alert_for_error("cannot connect to the database postgresql+psycopg://ops@db/ops: connection refused", env_name="dev")

    assert alert.level == FAILURE
    assert alert.title == "[dev] disable-inactive-users FAILED: could not run"
    assert "Environment: dev" in alert.body
    assert "connection refused" in alert.body


def test_a_dry_run_that_could_not_run_does_not_alert():
    assert alert_for_error("boom", env_name="dev", dry_run=True) is None


# -- sending ----------------------------------------------------------------

ALERT = Alert(title="[test] disable-inactive-users FAILED", body="Environment: test\nfirst error", level=FAILURE)


def test_an_alert_reaches_a_json_webhook():
    with webhook_receiver() as receiver:
        sent = send_alert(AlertSettings(urls=(receiver.url("hooks/ops"),), env_name="test"), ALERT)

        (document,) = receiver.wait_for(1)
    assert sent is True
    assert receiver.paths == ["/hooks/ops"]
    assert document["title"] == ALERT.title
    assert document["message"] == ALERT.body
    assert document["type"] == "failure"


def test_every_configured_url_gets_the_alert():
    with webhook_receiver() as first, webhook_receiver() as second:
        sent = send_alert(AlertSettings(urls=(first.url(), second.url())), ALERT)

        assert sent is True
        assert len(first.wait_for(1)) == 1 and len(second.wait_for(1)) == 1


def test_nothing_is_sent_without_urls_or_without_an_alert():
    with webhook_receiver() as receiver:
        assert send_alert(AlertSettings(urls=()), ALERT) is False
        assert send_alert(AlertSettings(urls=(receiver.url(),)), None) is False
        time.sleep(0.2)
        assert receiver.received == []


def test_a_receiver_that_is_down_is_logged_and_does_not_raise(caplog):
    url = f"json://127.0.0.1:{closed_port()}/alerts"

    with caplog.at_level(logging.INFO, logger="ops_api"):
        sent = send_alert(AlertSettings(urls=(url,)), ALERT)

    assert sent is False
    (record,) = [r for r in caplog.records if getattr(r, "event", None) == "alert_failed"]
    assert record.levelname == "ERROR"
    assert record.alert["title"] == ALERT.title  # the alert's text is kept in the log
    assert any("127.0.0.1" in detail for detail in record.details)  # Apprise's own reason


def test_a_receiver_that_never_answers_is_abandoned_after_the_bound(caplog):
    with silent_listener() as port, caplog.at_level(logging.INFO, logger="ops_api"):
        # Apprise's own read timeout is set far beyond the bound: only the bound ends the wait.
        settings = AlertSettings(urls=(f"json://127.0.0.1:{port}/alerts?rto=60&cto=60",), timeout_seconds=1.5)
        started = time.monotonic()
        sent = send_alert(settings, ALERT)
        elapsed = time.monotonic() - started

    assert sent is False
    assert 1.4 <= elapsed < 3
    (record,) = [r for r in caplog.records if getattr(r, "event", None) == "alert_failed"]
    assert "no answer from the notifier within 1.5 s" in record.error


def test_a_url_apprise_does_not_understand_is_logged_by_position_not_by_text(caplog):
    with webhook_receiver() as receiver, caplog.at_level(logging.INFO, logger="ops_api"):
        sent = send_alert(AlertSettings(urls=("nosuchservice://secret-token@host", receiver.url())), ALERT)

        assert len(receiver.wait_for(1)) == 1  # the good URL still gets it
    assert sent is False
    (record,) = [r for r in caplog.records if getattr(r, "event", None) == "alert_failed"]
    assert "OPS_ALERT_URLS entry 1 is not a URL Apprise understands" in record.details
    assert "secret-token" not in record.getMessage() + repr(record.details)


# -- settings ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("json://127.0.0.1:8000/a", ("json://127.0.0.1:8000/a",)),
        ('["json://h/a", "msteams://t/o/k/e/n"]', ("json://h/a", "msteams://t/o/k/e/n")),
        (["json://h/a"], ("json://h/a",)),
        ("json://h/a, slack://x/y/z", ("json://h/a", "slack://x/y/z")),
        ("mailto://u:p@mail.example.gov?to=a@example.gov,b@example.gov", ("mailto://u:p@mail.example.gov?to=a@example.gov,b@example.gov",)),
        ("", ()),
        (None, ()),
    ],
)
def test_alert_urls_accept_one_url_a_json_list_or_commas(value, expected):
    assert parse_alert_urls(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not a url", "entry 1 is not a URL"),
        ('["json://h/a", "hooks.example.gov/secret"]', "entry 2 is not a URL"),
        ("[not json", "not valid JSON"),
        ({"a": 1}, "must be a URL or a list"),  # what Flask makes of OPS_ALERT_URLS='{"a": 1}'
        ("json://h/a, hooks.example.gov/secret", "entry 1 is not a URL"),
    ],
)
def test_unusable_alert_urls_are_refused_without_echoing_them(value, message):
    with pytest.raises(ConfigError, match=message) as caught:
        parse_alert_urls(value)
    assert "secret" not in str(caught.value)


def test_alert_settings_come_from_ops_prefixed_environment_variables(monkeypatch):
    monkeypatch.setenv("OPS_ALERT_URLS", '["json://127.0.0.1:9/a", "json://127.0.0.1:9/b"]')
    monkeypatch.setenv("OPS_ENV_NAME", "ops-dev")

    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})

    settings = AlertSettings.from_config(app.config)
    assert settings.urls == ("json://127.0.0.1:9/a", "json://127.0.0.1:9/b")
    assert settings.env_name == "ops-dev"


def test_without_settings_there_are_no_urls_and_a_placeholder_environment_name(monkeypatch):
    monkeypatch.delenv("OPS_ALERT_URLS", raising=False)
    monkeypatch.delenv("OPS_ENV_NAME", raising=False)

    settings = AlertSettings.from_config(create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}).config)

    assert settings.urls == ()
    assert settings.env_name == DEFAULT_ENV_NAME
