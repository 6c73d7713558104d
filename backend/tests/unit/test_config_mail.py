"""E-mail settings: OPS_DEACTIVATION_WARN_DAYS, OPS_SMTP_*, OPS_MAIL_SENDER; refused in one line."""

import pytest
import trustme

from ops_api import create_app
from ops_api.config import ConfigError
from ops_api.domain.defaults import SmtpSecurity
from ops_api.services.mail.notifications import MailSettings

from factories import tls_trust

SQLITE = {"SQLALCHEMY_DATABASE_URI": "sqlite://"}


def test_by_default_email_is_off_and_warnings_are_at_7_and_1_days():
    settings = MailSettings.from_config(create_app(SQLITE).config)

    assert settings.enabled is False
    assert settings.warn_days == (7, 1)
    assert (settings.port, settings.security, settings.timeout_seconds) == (587, SmtpSecurity.STARTTLS, 10)
    assert settings.tls_trust == tls_trust(ca_file=None, verify=True)
    assert settings.product_name == "OPS"


def test_environment_variables_set_the_server_and_the_stages(monkeypatch):
    for name, value in {
        "OPS_SMTP_HOST": "smtp.example.gov",
        "OPS_SMTP_PORT": "2525",
        "OPS_SMTP_USERNAME": "ops-mailer",
        "OPS_SMTP_PASSWORD": "123456",  # digits: the environment loader reads it as a number
        "OPS_MAIL_SENDER": "OPS <no-reply@example.gov>",
        "OPS_DEACTIVATION_WARN_DAYS": "1, 14,7",
        "OPS_PRODUCT_NAME": "OPS (staging)",
        "OPS_SUPPORT_CONTACT": "help@example.gov",
    }.items():
        monkeypatch.setenv(name, value)

    settings = MailSettings.from_config(create_app(SQLITE).config)

    assert settings.enabled and settings.host == "smtp.example.gov" and settings.port == 2525
    assert settings.password == "123456" and settings.security is SmtpSecurity.STARTTLS
    assert settings.warn_days == (14, 7, 1)
    assert (settings.product_name, settings.support_contact) == ("OPS (staging)", "help@example.gov")


def test_an_empty_list_of_stages_sends_no_warnings():
    assert create_app({**SQLITE, "DEACTIVATION_WARN_DAYS": ""}).config["DEACTIVATION_WARN_DAYS"] == ()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"DEACTIVATION_WARN_DAYS": "7,x"}, "'x' is not a whole number of days"),
        ({"DEACTIVATION_WARN_DAYS": "0"}, "must be at least 1 and less than"),
        ({"DEACTIVATION_WARN_DAYS": "60"}, "less than OPS_DEACTIVATION_INACTIVE_DAYS (60)"),
        ({"DEACTIVATION_WARN_DAYS": "7", "DEACTIVATION_INACTIVE_DAYS": 5}, "less than OPS_DEACTIVATION_INACTIVE_DAYS (5)"),
        ({"SMTP_HOST": "smtp.example.gov"}, "OPS_MAIL_SENDER must be set"),
        ({"SMTP_HOST": "smtp://smtp.example.gov", "MAIL_SENDER": "a@example.gov"}, "OPS_SMTP_HOST must be a host name"),
        ({"SMTP_PORT": "70000"}, "OPS_SMTP_PORT must be at most 65535"),
        ({"SMTP_PORT": "smtp"}, "OPS_SMTP_PORT must be a whole number"),
        ({"SMTP_STARTTLS": "maybe"}, "OPS_SMTP_STARTTLS must be true or false"),
        ({"SMTP_SECURITY": "ssl"}, "OPS_SMTP_SECURITY must be one of tls, starttls, none, got 'ssl'"),
        ({"SMTP_SECURITY": "tls", "SMTP_STARTTLS": "true"}, "OPS_SMTP_STARTTLS=true contradicts OPS_SMTP_SECURITY=tls; remove OPS_SMTP_STARTTLS"),
        ({"SMTP_SECURITY": "none", "SMTP_STARTTLS": True}, "OPS_SMTP_STARTTLS=true contradicts OPS_SMTP_SECURITY=none"),
        ({"SMTP_SECURITY": "starttls", "SMTP_STARTTLS": False}, "OPS_SMTP_STARTTLS=false contradicts OPS_SMTP_SECURITY=starttls"),
        ({"SMTP_TLS_CA_FILE": "/nonexistent/relay-ca.pem"}, "OPS_SMTP_TLS_CA_FILE: cannot read '/nonexistent/relay-ca.pem' (No such file or directory)"),
        ({"SMTP_TLS_VERIFY": ""}, "OPS_SMTP_TLS_VERIFY must be true or false, got ''"),
        ({"SMTP_TLS_VERIFY": "sometimes"}, "OPS_SMTP_TLS_VERIFY must be true or false"),
        ({"SMTP_TIMEOUT": 0}, "OPS_SMTP_TIMEOUT must be 1 or more"),
        ({"SMTP_USERNAME": "ops"}, "must be set together"),
        ({"SMTP_USERNAME": "ops", "SMTP_PASSWORD": "pw", "SMTP_STARTTLS": False}, "never sent in clear"),
        ({"SMTP_USERNAME": "ops", "SMTP_PASSWORD": "pw", "SMTP_SECURITY": "none"}, "never sent in clear"),
        ({"MAIL_SENDER": "not an address"}, "OPS_MAIL_SENDER must be an e-mail address"),
    ],
)
def test_an_unusable_mail_setting_is_refused_in_one_line(settings, message):
    with pytest.raises(ConfigError) as refused:
        create_app({**SQLITE, **settings})

    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("settings", "security", "port"),
    [
        ({"SMTP_SECURITY": "tls"}, SmtpSecurity.TLS, 465),
        ({"SMTP_SECURITY": " StartTLS "}, SmtpSecurity.STARTTLS, 587),
        ({"SMTP_SECURITY": "none"}, SmtpSecurity.NONE, 587),
        ({"SMTP_SECURITY": "tls", "SMTP_PORT": "2465"}, SmtpSecurity.TLS, 2465),
        ({"SMTP_SECURITY": "", "SMTP_PORT": 25}, SmtpSecurity.STARTTLS, 25),
    ],
)
def test_the_security_setting_chooses_the_mode_and_the_usual_port_unless_one_is_given(settings, security, port):
    mail = MailSettings.from_config(create_app({**SQLITE, **settings}).config)

    assert (mail.security, mail.port) == (security, port)


@pytest.mark.parametrize(
    ("environment", "security"),
    [
        ({"OPS_SMTP_STARTTLS": "true"}, SmtpSecurity.STARTTLS),
        ({"OPS_SMTP_STARTTLS": "false"}, SmtpSecurity.NONE),
        ({"OPS_SMTP_STARTTLS": "true", "OPS_SMTP_SECURITY": "starttls"}, SmtpSecurity.STARTTLS),
        ({"OPS_SMTP_STARTTLS": "false", "OPS_SMTP_SECURITY": "tls"}, SmtpSecurity.TLS),
    ],
)
def test_the_older_starttls_setting_keeps_its_meaning(monkeypatch, environment, security):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    mail = MailSettings.from_config(create_app(SQLITE).config)

    assert mail.security is security
    assert mail.port == (465 if security is SmtpSecurity.TLS else 587)


def test_a_ca_file_is_trusted_besides_the_systems_cas(tmp_path):
    ca_file = tmp_path / "relay-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))

    mail = MailSettings.from_config(create_app({**SQLITE, "SMTP_TLS_CA_FILE": f" {ca_file} "}).config)

    assert mail.tls_trust == tls_trust(ca_file=str(ca_file), verify=True)


def test_a_ca_file_without_a_certificate_is_refused_in_one_line(tmp_path):
    not_a_bundle = tmp_path / "relay-ca.pem"
    not_a_bundle.write_text("this is not a certificate\n")

    with pytest.raises(ConfigError) as refused:
        create_app({**SQLITE, "SMTP_TLS_CA_FILE": str(not_a_bundle)})

    assert str(refused.value) == f"OPS_SMTP_TLS_CA_FILE: {str(not_a_bundle)!r} holds no PEM certificate"


@pytest.mark.parametrize("env_name", ["local", "dev", "development", "test"])
def test_certificate_checks_can_be_turned_off_in_a_development_environment(env_name):
    mail = MailSettings.from_config(create_app({**SQLITE, "ENV_NAME": env_name, "SMTP_TLS_VERIFY": "false"}).config)

    assert mail.tls_trust.verify is False


@pytest.mark.parametrize(
    ("env_name", "named"),
    [
        (None, "OPS_ENV_NAME is not set, so this is a deployed environment"),
        ("production", "OPS_ENV_NAME 'production' is not a development environment"),
    ],
)
def test_certificate_checks_cannot_be_turned_off_in_a_deployed_environment(env_name, named):
    with pytest.raises(ConfigError) as refused:
        create_app({**SQLITE, "ENV_NAME": env_name, "SMTP_TLS_VERIFY": False})

    assert str(refused.value).startswith(f"OPS_SMTP_TLS_VERIFY must not be false: {named}")
    assert "\n" not in str(refused.value)


def test_the_command_refuses_certificate_checks_off_when_deployed_in_one_line_with_exit_1(tmp_path):
    from cli_runner import invoke_flask

    result = invoke_flask(
        "disable-inactive-users",
        database_url=f"sqlite:///{tmp_path}/ops.db",
        OPS_ENV_NAME="staging",
        OPS_SMTP_TLS_VERIFY="false",
    )

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: configuration: OPS_SMTP_TLS_VERIFY must not be false: OPS_ENV_NAME 'staging' is not a development environment "
        "(local, dev, development, test)"
    ]


def test_the_command_refuses_a_bad_mail_setting_in_one_line_with_exit_1(tmp_path):
    from cli_runner import invoke_flask

    result = invoke_flask(
        "disable-inactive-users", database_url=f"sqlite:///{tmp_path}/ops.db", OPS_DEACTIVATION_WARN_DAYS="7,seven"
    )

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == ["error: configuration: OPS_DEACTIVATION_WARN_DAYS: 'seven' is not a whole number of days"]
