"""SMTP over TLS, against a real server on 127.0.0.1 whose certificate the test makes (trustme).

Implicit TLS (SMTPS) and STARTTLS both deliver with the certificate checked;
a certificate for another host or from a CA nobody trusts is refused, and the
job records the message as failed and goes on. Failure alerts sent by e-mail
trust the same certificates as the inactivity e-mail.
"""

from __future__ import annotations

import json
import smtplib
import ssl
from datetime import datetime, timedelta, timezone

import pytest
import trustme
from sqlalchemy import select

from ops_api.adapters.alert_delivery import deliver
from ops_api.adapters.smtp_mail import MailSettings, SmtpTransport, TlsTrust, compose
from ops_api.domain.defaults import SmtpSecurity
from ops_api.models import EmailRecord, RecordStatus, User, UserStatus
from ops_api.services.alerts import AlertSettings

from cli_runner import invoke
from factories import mail_settings, make_session, make_user, tls_trust
from smtp_server import smtp_server

TLS_MODES = ["tls", "starttls"]
LOGIN = ("ops-mailer", "s3cret-pa55")
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """The private CA of a relay: trusted only through OPS_SMTP_TLS_CA_FILE."""
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("smtp-tls") / "relay-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="module")
def certificate(ca) -> trustme.LeafCert:
    """A certificate for 127.0.0.1, the address every test connects to."""
    return ca.issue_cert("127.0.0.1")


@pytest.fixture(scope="module")
def other_host_certificate(ca) -> trustme.LeafCert:
    return ca.issue_cert("mail.example.gov")


@pytest.fixture(scope="module")
def untrusted_certificate() -> trustme.LeafCert:
    return trustme.CA().issue_cert("127.0.0.1")


def server_mail_settings(server, tls_trust: TlsTrust, **overrides) -> MailSettings:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": server.port,
        "security": server.security,
        "tls_trust": tls_trust,
        "timeout_seconds": 5,
        "sender": "OPS <no-reply@ops.example.gov>",
    }
    values.update(overrides)
    return mail_settings(**values)


def send_one(settings: MailSettings, recipient: str = "idle@example.gov") -> None:
    message = compose(
        settings, subject="Your OPS account", recipient=recipient, text_body="plain", html_body="<p>html</p>", at=datetime.now(timezone.utc)
    )
    with SmtpTransport(settings) as transport:
        transport.send(message)


# -- the transport --------------------------------------------------------------


@pytest.mark.parametrize("security", TLS_MODES)
def test_mail_is_delivered_under_tls_with_the_certificate_checked_and_the_login_encrypted(security, certificate, ca_file):
    with smtp_server(security=security, certificate=certificate, login=LOGIN) as server:
        send_one(server_mail_settings(server, tls_trust(ca_file=ca_file), username=LOGIN[0], password=LOGIN[1]))
        (received,) = server.mailbox.take()

    assert (received.to, received.subject, received.body().strip()) == ("idle@example.gov", "Your OPS account", "plain")
    assert received.encrypted is True
    assert received.login == "ops-mailer"


@pytest.mark.parametrize("security", TLS_MODES)
def test_a_certificate_for_another_host_is_refused_and_nothing_is_sent(security, other_host_certificate, ca_file):
    with smtp_server(security=security, certificate=other_host_certificate) as server:
        with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch|not valid for '127.0.0.1'"):
            send_one(server_mail_settings(server, tls_trust(ca_file=ca_file)))
        assert server.mailbox.take() == []


@pytest.mark.parametrize("security", TLS_MODES)
def test_a_certificate_from_a_ca_not_trusted_is_refused_and_nothing_is_sent(security, untrusted_certificate, ca_file):
    with smtp_server(security=security, certificate=untrusted_certificate) as server:
        with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer certificate"):
            send_one(server_mail_settings(server, tls_trust(ca_file=ca_file)))
        assert server.mailbox.take() == []


def test_by_default_only_the_systems_cas_are_trusted(certificate):
    with smtp_server(security="tls", certificate=certificate) as server:
        with pytest.raises(ssl.SSLCertVerificationError):
            send_one(server_mail_settings(server, tls_trust()))
        assert server.mailbox.take() == []


@pytest.mark.parametrize("security", TLS_MODES)
def test_with_verification_off_any_certificate_is_accepted(security):
    stranger = trustme.CA().issue_cert("mail.example.gov")  # another host, a CA nobody trusts
    with smtp_server(security=security, certificate=stranger) as server:
        send_one(server_mail_settings(server, tls_trust(verify=False)))
        (received,) = server.mailbox.take()

    assert received.encrypted is True


def test_starttls_never_falls_back_to_plain_smtp_when_the_server_does_not_offer_it():
    with smtp_server() as plain:
        with pytest.raises(smtplib.SMTPNotSupportedError, match="STARTTLS"):
            send_one(server_mail_settings(plain, tls_trust(), security="starttls"))
        assert plain.mailbox.take() == []


def test_mail_settings_refuse_credentials_over_plain_smtp():
    with pytest.raises(ValueError, match="never sent in clear"):
        mail_settings(host="127.0.0.1", security=SmtpSecurity.NONE, username="ops", password="pw")


# -- the job ------------------------------------------------------------------


def make_due_user(session) -> User:
    now = datetime.now(timezone.utc)
    user = make_user(session, email="due@example.gov", created_on=now - 400 * DAY)
    make_session(session, user, last_active_at=now - 90 * DAY, is_active=False)
    session.commit()
    return user


def notification_statuses(session) -> list[tuple[RecordStatus, str | None]]:
    session.expire_all()
    events = session.scalars(
        select(EmailRecord).order_by(EmailRecord.id)
    ).all()
    return [(record.status, record.error) for record in events]


def tls_environment(server, ca_file: str, **extra: str) -> dict[str, str]:
    return {**server.environment(), "OPS_SMTP_TLS_CA_FILE": ca_file, **extra}


@pytest.mark.parametrize("security", TLS_MODES)
def test_the_job_delivers_under_the_tls_settings_it_is_given(session, app_from_env, security, certificate, ca_file):
    user = make_due_user(session)
    with smtp_server(security=security, certificate=certificate) as server:
        result = invoke(app_from_env(**tls_environment(server, ca_file)), "disable-inactive-users", "--format", "json")
        received = server.mailbox.take()

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["notifications"]["sent"] == 1
    assert [(m.to, m.encrypted) for m in received] == [(user.email, True)]
    assert notification_statuses(session) == [(RecordStatus.SUCCESS, None)]


@pytest.mark.parametrize("bad_certificate", ["other_host_certificate", "untrusted_certificate"])
def test_a_refused_certificate_fails_the_message_the_deactivation_stands_and_the_run_exits_4(session, app_from_env, request, bad_certificate, ca_file):
    user = make_due_user(session)
    with smtp_server(security="tls", certificate=request.getfixturevalue(bad_certificate)) as server:
        result = invoke(app_from_env(**tls_environment(server, ca_file)), "disable-inactive-users", "--format", "json")
        assert server.mailbox.take() == []

    # The deactivation stands; a mail step that sent nothing is a failed step for the operators (exit 4).
    assert result.exit_code == 4, result.stderr
    report = json.loads(result.stdout)
    assert report["disabled"] == [user.id]
    assert (report["notifications"]["sent"], report["notifications"]["failed"]) == (0, 1)
    session.expire_all()
    assert session.get(User, user.id).status is UserStatus.INACTIVE
    ((status, error),) = notification_statuses(session)
    assert status is RecordStatus.FAILED
    assert error.startswith("SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED]")


def test_in_a_development_environment_the_job_can_send_with_verification_off(session, app_from_env, untrusted_certificate):
    user = make_due_user(session)
    with smtp_server(security="starttls", certificate=untrusted_certificate) as server:
        app = app_from_env(**server.environment(), OPS_ENV_NAME="dev", OPS_SMTP_TLS_VERIFY="false")
        result = invoke(app, "disable-inactive-users")
        received = server.mailbox.take()

    assert result.exit_code == 0, result.stderr
    assert [m.to for m in received] == [user.email]


# -- alerts by e-mail (send_alert's own use of the trust: test_alerts.py) -------


def alert_url(scheme: str, server, *, credentials: str = "", options: str = "") -> str:
    return f"{scheme}://{credentials}127.0.0.1:{server.port}?from=ops-job@example.gov&to=oncall@example.gov{options}"


@pytest.mark.parametrize(("scheme", "security", "options"), [("mailto", "tls", "&mode=ssl"), ("mailtos", "starttls", "")])
def test_an_e_mail_alert_trusts_the_ca_it_is_given(scheme, security, options, certificate, ca_file):
    with smtp_server(security=security, certificate=certificate, login=LOGIN) as server:
        url = alert_url(scheme, server, credentials=f"{LOGIN[0]}:{LOGIN[1]}@", options=options)
        (delivery,) = deliver([url], title="alert", body="body", level="failure", timeout_seconds=5, tls_trust=tls_trust(ca_file=ca_file))
        received = server.mailbox.take()

    assert (delivery.delivered, delivery.problem) == (True, None)
    assert [(m.to, m.encrypted, m.login) for m in received] == [("oncall@example.gov", True, "ops-mailer")]


def test_an_e_mail_alert_refuses_a_certificate_it_cannot_trust_whatever_its_url_says(certificate):
    with smtp_server(security="tls", certificate=certificate) as server:
        url = alert_url("mailto", server, options="&mode=ssl&verify=no")  # Apprise's verify=no is ignored
        (delivery,) = deliver([url], title="alert", body="body", level="failure", timeout_seconds=5)  # the system's CAs only
        assert server.mailbox.take() == []

    assert delivery.delivered is False
    assert "SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED]" in delivery.problem


def test_alert_settings_take_the_smtp_trust_settings(ca_file):
    from ops_api import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "ENV_NAME": "test", "SMTP_TLS_CA_FILE": ca_file, "SMTP_TLS_VERIFY": "false"})

    assert AlertSettings.from_config(app.config).mail_tls_trust == tls_trust(ca_file=ca_file, verify=False)
