"""Alerts: which outcomes alert, what an alert says, where each URL sends it, and a receiver that fails or hangs."""

from datetime import datetime, timezone

import pytest

from ops_api import create_app
from ops_api.adapters.alert_destinations import UnusableUrl, parse_destination
from ops_api.config import DEFAULT_ENV_NAME, ConfigError, parse_alert_urls
from ops_api.domain.inactivity import InactiveUser
from ops_api.services.alerts import (
    FAILURE,
    WARNING,
    AlertSettings,
    alert_for_error,
    alert_for_report,
)
from ops_api.services.users.user_deactivation import DeactivationReport, FailedUser

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


def failures(caplog):
    return [r for r in caplog.records if getattr(r, "event", None) == "alert_failed"]


SLACK = "slack://T0AAAAAAA/B0BBBBBBB/XyZsecretTOKEN"


TEAMS_WORKFLOW = "workflows://prod-01.westus.logic.azure.com:443/8f0a4c2e9b/sIgNaTuRe_1-2"


TEAMS_CONNECTOR = "msteams://agency/1a2b3c@4d5e6f/a7b8c9/d0e1f2/sEcReT"


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


@pytest.mark.parametrize(
    ("url", "kind", "address"),
    [
        (SLACK, "Slack webhook", "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/XyZsecretTOKEN"),
        ("https://hooks.slack.com/services/T0/B0/XyZ", "Slack webhook", "https://hooks.slack.com/services/T0/B0/XyZ"),
        (
            TEAMS_WORKFLOW,
            "Teams workflow",
            (
                "https://prod-01.westus.logic.azure.com:443/workflows/8f0a4c2e9b/triggers/manual/paths/invoke"
                "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=sIgNaTuRe_1-2"
            ),
        ),
        (
            "https://prod-01.westus.logic.azure.com:443/workflows/8f/triggers/manual/paths/invoke?api-version=2016-06-01&sig=x",
            "Teams workflow",
            "https://prod-01.westus.logic.azure.com:443/workflows/8f/triggers/manual/paths/invoke?api-version=2016-06-01&sig=x",
        ),
        (TEAMS_CONNECTOR, "Teams connector", "https://agency.webhook.office.com/webhookb2/1a2b3c@4d5e6f/IncomingWebhook/a7b8c9/d0e1f2/sEcReT"),
        ("jsons://hooks.example.gov/ops?team=iam", "JSON webhook", "https://hooks.example.gov/ops?team=iam"),
    ],
)
def test_slack_teams_and_https_webhook_urls_map_to_the_services_addresses(url, kind, address):
    destination = parse_destination(url)

    assert (destination.kind, destination.url) == (kind, address)
    assert address not in repr(destination)  # a destination printed by mistake does not show its tokens


def test_a_slack_url_can_name_the_channel():
    destination = parse_destination("slack://T0AAAAAAA/B0BBBBBBB/XyZsecretTOKEN/#ops-alerts")

    assert destination.url == "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/XyZsecretTOKEN"
    assert destination.payload("title", "body", FAILURE)["channel"] == "#ops-alerts"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mailto://ops:pa55word@mail.example.gov?to=a@example.gov", "a password is never sent over plain SMTP"),
        ("mailto://mail.example.gov?to=a@example.gov", "needs a sender"),
        ("slack://T0AAAAAAA/B0BBBBBBB", "three webhook tokens"),
        ("https://hooks.example.gov/pa55word", "must be a Slack or Teams webhook"),
        ("workflows://prod.logic.azure.com/only-one-part", "workflows://host/workflow/signature"),
        ("json://127.0.0.1:notaport/x", "does not parse"),
    ],
)
def test_urls_that_cannot_be_used_say_why_without_repeating_them(url, message):
    with pytest.raises(UnusableUrl, match=message) as caught:
        parse_destination(url)
    assert "pa55word" not in str(caught.value) and url not in str(caught.value)


def test_mail_urls_follow_the_apprise_defaults():
    secure = parse_destination("mailtos://ops:pa55word@example.gov?to=oncall@example.gov&smtp=smtp.example.gov")
    implicit_tls = parse_destination("mailto://ops:pa55word@example.gov/oncall@example.gov?mode=ssl")

    assert (secure.host, secure.port, secure.mode, secure.sender) == ("smtp.example.gov", 587, "starttls", "ops@example.gov")
    assert secure.recipients == ("oncall@example.gov",)
    assert (implicit_tls.host, implicit_tls.port, implicit_tls.mode) == ("example.gov", 465, "ssl")
    assert "pa55word" not in repr(secure)


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
