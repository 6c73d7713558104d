"""Alerts: which outcomes alert, what an alert says, where each URL sends it, and a receiver that fails or hangs."""

import base64
import dataclasses
import logging
import time
from datetime import datetime, timezone

import pytest

from ops_api import create_app
from ops_api.config import DEFAULT_ENV_NAME, ConfigError, parse_alert_urls
from ops_api.services.alert_delivery import deliver_to
from ops_api.services.alert_destinations import UnusableUrl, parse_destination
from ops_api.services.alerts import (
    DEFAULT_TIMEOUT_SECONDS,
    FAILURE,
    WARNING,
    Alert,
    AlertSettings,
    alert_for_error,
    alert_for_report,
    send_alert,
)
from ops_api.services.user_deactivation import DeactivationReport, FailedUser, InactiveUser

from smtp_server import smtp_server
from webhook_receiver import closed_port, silent_listener, trickling_listener, webhook_receiver

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
#
# Everything below is received by real servers on 127.0.0.1 and sent in this
# process: there is no child process left to start, so no test races one.

ALERT = Alert(title="[test] disable-inactive-users FAILED", body="Environment: test\nfirst error", level=FAILURE)
# The job's own bound, and the margin a loaded machine may add to it before these tests call it a failure.
BOUND = DEFAULT_TIMEOUT_SECONDS
MARGIN = 2.0


def failures(caplog):
    return [r for r in caplog.records if getattr(r, "event", None) == "alert_failed"]


def test_an_alert_reaches_a_json_webhook():
    with webhook_receiver() as receiver:
        sent = send_alert(AlertSettings(urls=(receiver.url("hooks/ops"),), env_name="test"), ALERT)

        (document,) = receiver.wait_for(1)
    assert sent is True
    assert receiver.paths == ["/hooks/ops"]
    assert document == {"version": "1.0", "title": ALERT.title, "message": ALERT.body, "type": "failure"}


def test_an_alert_to_a_prompt_receiver_costs_well_under_a_second():
    with webhook_receiver() as receiver:
        settings = AlertSettings(urls=(receiver.url(),))
        send_alert(settings, ALERT)  # the first send pays for imports and the opener
        started = time.monotonic()
        sent = send_alert(settings, ALERT)
        elapsed = time.monotonic() - started

    assert sent is True
    assert elapsed < 3, elapsed  # the target is under 1 s; generous so that a loaded machine does not fail it


def test_every_configured_url_gets_the_alert():
    with webhook_receiver() as first, webhook_receiver() as second:
        sent = send_alert(AlertSettings(urls=(first.url(), second.url())), ALERT)

        assert sent is True
        # Delivered before send_alert returned: nothing to wait for.
        assert len(first.received) == 1 and len(second.received) == 1


def test_a_json_webhook_gets_basic_authentication_and_headers_from_its_url():
    with webhook_receiver() as receiver:
        url = f"json://ops:s3cret@127.0.0.1:{receiver.port}/alerts?+X-Api-Key=k3y&cto=60"
        assert send_alert(AlertSettings(urls=(url,)), ALERT) is True

    (headers,) = receiver.headers
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"ops:s3cret").decode()
    assert headers["X-Api-Key"] == "k3y"
    assert receiver.paths == ["/alerts"]  # Apprise's own parameters (cto) are not passed on


def test_nothing_is_sent_without_urls_or_without_an_alert():
    with webhook_receiver() as receiver:
        assert send_alert(AlertSettings(urls=()), ALERT) is False
        assert send_alert(AlertSettings(urls=(receiver.url(),)), None) is False
        time.sleep(0.2)
        assert receiver.received == []


def test_a_receiver_that_is_down_is_logged_and_does_not_raise(caplog):
    port = closed_port()

    with caplog.at_level(logging.INFO, logger="ops_api"):
        sent = send_alert(AlertSettings(urls=(f"json://127.0.0.1:{port}/alerts",)), ALERT)

    assert sent is False
    (record,) = failures(caplog)
    assert record.levelname == "ERROR"
    assert record.error == "the alert reached none of the 1 destinations"
    assert record.details == [f"OPS_ALERT_URLS entry 1 (JSON webhook at 127.0.0.1:{port}): connection refused"]
    assert record.alert["title"] == ALERT.title  # the alert's text is kept in the log


def test_a_receiver_that_answers_an_error_status_is_a_failure(caplog):
    with webhook_receiver(status=500) as receiver, caplog.at_level(logging.INFO, logger="ops_api"):
        sent = send_alert(AlertSettings(urls=(receiver.url(),)), ALERT)

    assert sent is False
    assert len(receiver.received) == 1
    (record,) = failures(caplog)
    assert record.details == [f"OPS_ALERT_URLS entry 1 (JSON webhook at 127.0.0.1:{receiver.port}): answered HTTP 500"]


def test_a_receiver_that_never_answers_is_abandoned_at_the_bound_and_the_others_still_get_the_alert(caplog):
    # The job's real bound (10 s). The others are sent at the same time, not after the silent one.
    with silent_listener() as port, webhook_receiver() as prompt, caplog.at_level(logging.INFO, logger="ops_api"):
        settings = AlertSettings(urls=(f"json://127.0.0.1:{port}/alerts", prompt.url()))
        started = time.monotonic()
        sent = send_alert(settings, ALERT)
        elapsed = time.monotonic() - started

        assert len(prompt.received) == 1
    assert sent is False
    assert BOUND - 0.1 <= elapsed < BOUND + MARGIN, elapsed
    (record,) = failures(caplog)
    assert record.error == "the alert reached 1 of the 2 destinations"
    assert record.details == [f"OPS_ALERT_URLS entry 1 (JSON webhook at 127.0.0.1:{port}): no answer within 10 s"]


def test_a_receiver_that_answers_a_byte_at_a_time_is_abandoned_at_the_bound(caplog):
    # Every read succeeds long before a socket timeout: only the deadline over the whole delivery stops it.
    with trickling_listener(interval=0.2) as port, caplog.at_level(logging.INFO, logger="ops_api"):
        started = time.monotonic()
        sent = send_alert(AlertSettings(urls=(f"json://127.0.0.1:{port}/alerts",), timeout_seconds=1.5), ALERT)
        elapsed = time.monotonic() - started

    assert sent is False
    assert 1.4 <= elapsed < 1.5 + MARGIN, elapsed
    (record,) = failures(caplog)
    assert record.details == [f"OPS_ALERT_URLS entry 1 (JSON webhook at 127.0.0.1:{port}): no answer within 1.5 s"]


def test_an_unusable_url_is_logged_by_position_not_by_text(caplog):
    with webhook_receiver() as receiver, caplog.at_level(logging.INFO, logger="ops_api"):
        sent = send_alert(AlertSettings(urls=("nosuchservice://secret-token@host", receiver.url())), ALERT)

        assert len(receiver.received) == 1  # the good URL still gets it
    assert sent is False
    (record,) = failures(caplog)
    (detail,) = record.details
    assert detail.startswith("OPS_ALERT_URLS entry 1 is unusable: its scheme is not one of json://")
    assert "secret-token" not in record.getMessage() + repr(record.details)


def test_an_alert_reaches_a_mailbox():
    with smtp_server() as server:
        url = f"mailto://127.0.0.1:{server.port}?from=ops-job@example.gov&to=oncall@example.gov,security@example.gov"
        sent = send_alert(AlertSettings(urls=(url,)), ALERT)

        (mail,) = server.mailbox.take()
    assert sent is True
    assert mail.sender == "ops-job@example.gov"
    assert mail.recipients == ("oncall@example.gov", "security@example.gov")
    assert mail.subject == ALERT.title
    assert mail.body().replace("\r\n", "\n").strip() == ALERT.body


def test_a_mailbox_that_refuses_is_a_failure(caplog):
    with smtp_server() as server, caplog.at_level(logging.INFO, logger="ops_api"):
        server.mailbox.refuse_with = "554 5.7.1 refused"
        sent = send_alert(AlertSettings(urls=(f"mailto://127.0.0.1:{server.port}?from=a@example.gov&to=b@example.gov",)), ALERT)

    assert sent is False
    (record,) = failures(caplog)
    assert record.details == [f"OPS_ALERT_URLS entry 1 (e-mail at 127.0.0.1:{server.port}): the SMTP server answered 554"]


def test_a_mailtos_url_never_falls_back_to_plain_smtp(caplog):
    # The test server offers no STARTTLS: the alert and the password must not go out in clear.
    with smtp_server() as server, caplog.at_level(logging.INFO, logger="ops_api"):
        url = f"mailtos://ops:pa55word@127.0.0.1:{server.port}?from=ops-job@example.gov&to=oncall@example.gov"
        sent = send_alert(AlertSettings(urls=(url,)), ALERT)

        assert server.mailbox.take() == []
    assert sent is False
    (record,) = failures(caplog)
    (detail,) = record.details
    assert detail.startswith(f"OPS_ALERT_URLS entry 1 (e-mail at 127.0.0.1:{server.port}): SMTPNotSupportedError")
    assert "pa55word" not in detail


SLACK = "slack://T0AAAAAAA/B0BBBBBBB/XyZsecretTOKEN"
TEAMS_WORKFLOW = "workflows://prod-01.westus.logic.azure.com:443/8f0a4c2e9b/sIgNaTuRe_1-2"
TEAMS_CONNECTOR = "msteams://agency/1a2b3c@4d5e6f/a7b8c9/d0e1f2/sEcReT"


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


def test_slack_and_teams_receive_documents_in_their_own_formats():
    # The services' hosts are not reachable from a test: the same documents go to a local receiver instead.
    with webhook_receiver() as receiver:
        destinations = [
            dataclasses.replace(parse_destination(url), url=receiver.http_url(name))
            for url, name in ((SLACK, "slack"), (TEAMS_WORKFLOW, "workflow"), (TEAMS_CONNECTOR, "connector"))
        ]
        deliveries = deliver_to(destinations, title=ALERT.title, body="a <b> & c\nline 2", level=WARNING, timeout_seconds=5)

        documents = dict(zip(receiver.paths, receiver.received, strict=True))
    assert [d.delivered for d in deliveries] == [True, True, True]
    assert documents["/slack"] == {"text": f"*{ALERT.title}*\na &lt;b&gt; &amp; c\nline 2"}
    card = documents["/workflow"]["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert [block["text"] for block in card["content"]["body"]] == [ALERT.title, "a <b> & c\n\nline 2"]
    assert documents["/connector"]["@type"] == "MessageCard" and documents["/connector"]["title"] == ALERT.title


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
