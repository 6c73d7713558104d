"""Alerts delivered to real receivers on 127.0.0.1: JSON webhooks, Slack and Teams documents, mailboxes over SMTP and SMTPS, and receivers that refuse, stall or never answer."""

import base64
import dataclasses
import logging
import time

import trustme

from ops_api.adapters.alert_delivery import deliver_to
from ops_api.adapters.alert_destinations import parse_destination
from ops_api.services.alerts import (
    DEFAULT_TIMEOUT_SECONDS,
    FAILURE,
    WARNING,
    Alert,
    send_alert,
)

from factories import alert_settings, tls_trust
from smtp_server import smtp_server
from webhook_receiver import closed_port, silent_listener, trickling_listener, webhook_receiver

ALERT = Alert(title="[test] disable-inactive-users FAILED", body="Environment: test\nfirst error", level=FAILURE)


# The job's own bound, and the margin a loaded machine may add to it before these tests call it a failure.
BOUND = DEFAULT_TIMEOUT_SECONDS


MARGIN = 2.0


def failures(caplog):
    return [r for r in caplog.records if getattr(r, "event", None) == "alert_failed"]


SLACK = "slack://T0AAAAAAA/B0BBBBBBB/XyZsecretTOKEN"


TEAMS_WORKFLOW = "workflows://prod-01.westus.logic.azure.com:443/8f0a4c2e9b/sIgNaTuRe_1-2"


TEAMS_CONNECTOR = "msteams://agency/1a2b3c@4d5e6f/a7b8c9/d0e1f2/sEcReT"


def test_an_alert_reaches_a_json_webhook():
    with webhook_receiver() as receiver:
        sent = send_alert(alert_settings(urls=(receiver.url("hooks/ops"),), env_name="test"), ALERT)

        (document,) = receiver.wait_for(1)
    assert sent is True
    assert receiver.paths == ["/hooks/ops"]
    assert document == {"version": "1.0", "title": ALERT.title, "message": ALERT.body, "type": "failure"}


def test_an_alert_to_a_prompt_receiver_costs_well_under_a_second():
    with webhook_receiver() as receiver:
        settings = alert_settings(urls=(receiver.url(),))
        send_alert(settings, ALERT)  # the first send pays for imports and the opener
        started = time.monotonic()
        sent = send_alert(settings, ALERT)
        elapsed = time.monotonic() - started

    assert sent is True
    assert elapsed < 3, elapsed  # the target is under 1 s; generous so that a loaded machine does not fail it


def test_every_configured_url_gets_the_alert():
    with webhook_receiver() as first, webhook_receiver() as second:
        sent = send_alert(alert_settings(urls=(first.url(), second.url())), ALERT)

        assert sent is True
        # Delivered before send_alert returned: nothing to wait for.
        assert len(first.received) == 1 and len(second.received) == 1


def test_a_json_webhook_gets_basic_authentication_and_headers_from_its_url():
    with webhook_receiver() as receiver:
        url = f"json://ops:s3cret@127.0.0.1:{receiver.port}/alerts?+X-Api-Key=k3y&cto=60"
        assert send_alert(alert_settings(urls=(url,)), ALERT) is True

    (headers,) = receiver.headers
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"ops:s3cret").decode()
    assert headers["X-Api-Key"] == "k3y"
    assert receiver.paths == ["/alerts"]  # Apprise's own parameters (cto) are not passed on


def test_nothing_is_sent_without_urls_or_without_an_alert():
    with webhook_receiver() as receiver:
        assert send_alert(alert_settings(urls=()), ALERT) is False
        assert send_alert(alert_settings(urls=(receiver.url(),)), None) is False
        time.sleep(0.2)
        assert receiver.received == []


def test_a_receiver_that_answers_an_error_status_is_a_failure(caplog):
    with webhook_receiver(status=500) as receiver, caplog.at_level(logging.INFO, logger="ops_api"):
        sent = send_alert(alert_settings(urls=(receiver.url(),)), ALERT)

    assert sent is False
    assert len(receiver.received) == 1
    (record,) = failures(caplog)
    assert record.details == [f"OPS_ALERT_URLS entry 1 (JSON webhook at 127.0.0.1:{receiver.port}): answered HTTP 500"]


def test_a_receiver_that_never_answers_is_abandoned_at_the_bound_and_the_others_still_get_the_alert(caplog):
    # The job's real bound (10 s). The others are sent at the same time, not after the silent one.
    with silent_listener() as port, webhook_receiver() as prompt, caplog.at_level(logging.INFO, logger="ops_api"):
        settings = alert_settings(urls=(f"json://127.0.0.1:{port}/alerts", prompt.url()))
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
        sent = send_alert(alert_settings(urls=(f"json://127.0.0.1:{port}/alerts",), timeout_seconds=1.5), ALERT)
        elapsed = time.monotonic() - started

    assert sent is False
    assert 1.4 <= elapsed < 1.5 + MARGIN, elapsed
    (record,) = failures(caplog)
    assert record.details == [f"OPS_ALERT_URLS entry 1 (JSON webhook at 127.0.0.1:{port}): no answer within 1.5 s"]


def test_an_unusable_url_is_logged_by_position_not_by_text(caplog):
    with webhook_receiver() as receiver, caplog.at_level(logging.INFO, logger="ops_api"):
        sent = send_alert(alert_settings(urls=("nosuchservice://secret-token@host", receiver.url())), ALERT)

        assert len(receiver.received) == 1  # the good URL still gets it
    assert sent is False
    (record,) = failures(caplog)
    (detail,) = record.details
    assert detail.startswith("OPS_ALERT_URLS entry 1 is unusable: its scheme is not one of json://")
    assert "secret-token" not in record.getMessage() + repr(record.details)


def test_an_alert_reaches_a_mailbox():
    with smtp_server() as server:
        url = f"mailto://127.0.0.1:{server.port}?from=ops-job@example.gov&to=oncall@example.gov,security@example.gov"
        sent = send_alert(alert_settings(urls=(url,)), ALERT)

        (mail,) = server.mailbox.take()
    assert sent is True
    assert mail.sender == "ops-job@example.gov"
    assert mail.recipients == ("oncall@example.gov", "security@example.gov")
    assert mail.subject == ALERT.title
    assert mail.body().replace("\r\n", "\n").strip() == ALERT.body


def test_a_mailbox_that_refuses_is_a_failure(caplog):
    with smtp_server() as server, caplog.at_level(logging.INFO, logger="ops_api"):
        server.mailbox.refuse_with = "554 5.7.1 refused"
        sent = send_alert(alert_settings(urls=(f"mailto://127.0.0.1:{server.port}?from=a@example.gov&to=b@example.gov",)), ALERT)

    assert sent is False
    (record,) = failures(caplog)
    assert record.details == [f"OPS_ALERT_URLS entry 1 (e-mail at 127.0.0.1:{server.port}): the SMTP server answered 554"]


def test_a_mailtos_url_never_falls_back_to_plain_smtp(caplog):
    # The test server offers no STARTTLS: the alert and the password must not go out in clear.
    with smtp_server() as server, caplog.at_level(logging.INFO, logger="ops_api"):
        url = f"mailtos://ops:pa55word@127.0.0.1:{server.port}?from=ops-job@example.gov&to=oncall@example.gov"
        sent = send_alert(alert_settings(urls=(url,)), ALERT)

        assert server.mailbox.take() == []
    assert sent is False
    (record,) = failures(caplog)
    (detail,) = record.details
    assert detail.startswith(f"OPS_ALERT_URLS entry 1 (e-mail at 127.0.0.1:{server.port}): SMTPNotSupportedError")
    assert "pa55word" not in detail


def test_an_e_mail_alert_checks_the_certificate_against_the_trust_in_its_settings(tmp_path):
    ca = trustme.CA()
    ca_file = tmp_path / "relay-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with smtp_server(security="tls", certificate=ca.issue_cert("127.0.0.1")) as server:
        url = f"mailto://127.0.0.1:{server.port}?from=ops-job@example.gov&to=oncall@example.gov&mode=ssl"
        refused = send_alert(alert_settings(urls=(url,)), ALERT)
        sent = send_alert(alert_settings(urls=(url,), mail_tls_trust=tls_trust(ca_file=str(ca_file))), ALERT)
        received = server.mailbox.take()

    assert (refused, sent) == (False, True)
    assert [(mail.subject, mail.encrypted) for mail in received] == [(ALERT.title, True)]


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


def test_a_receiver_that_is_down_is_logged_and_does_not_raise(caplog):
    port = closed_port()

    with caplog.at_level(logging.INFO, logger="ops_api"):
        sent = send_alert(alert_settings(urls=(f"json://127.0.0.1:{port}/alerts",)), ALERT)

    assert sent is False
    (record,) = failures(caplog)
    assert record.levelname == "ERROR"
    assert record.error == "the alert reached none of the 1 destinations"
    assert record.details == [f"OPS_ALERT_URLS entry 1 (JSON webhook at 127.0.0.1:{port}): connection refused"]
    assert record.alert["title"] == ALERT.title  # the alert's text is kept in the log
