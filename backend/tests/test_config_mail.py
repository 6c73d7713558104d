"""E-mail settings: OPS_DEACTIVATION_WARN_DAYS, OPS_SMTP_*, OPS_MAIL_SENDER; refused in one line."""

import pytest

from ops_api import create_app
from ops_api.config import ConfigError
from ops_api.services.notifications import MailSettings

SQLITE = {"SQLALCHEMY_DATABASE_URI": "sqlite://"}


def test_by_default_email_is_off_and_warnings_are_at_7_and_1_days():
    settings = MailSettings.from_config(create_app(SQLITE).config)

    assert settings.enabled is False
    assert settings.warn_days == (7, 1)
    assert (settings.port, settings.starttls, settings.timeout_seconds) == (587, True, 10)
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
    assert settings.password == "123456" and settings.starttls is True
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
        ({"SMTP_TIMEOUT": 0}, "OPS_SMTP_TIMEOUT must be 1 or more"),
        ({"SMTP_USERNAME": "ops"}, "must be set together"),
        ({"SMTP_USERNAME": "ops", "SMTP_PASSWORD": "pw", "SMTP_STARTTLS": False}, "never sent in clear"),
        ({"MAIL_SENDER": "not an address"}, "OPS_MAIL_SENDER must be an e-mail address"),
    ],
)
def test_an_unusable_mail_setting_is_refused_in_one_line(settings, message):
    with pytest.raises(ConfigError) as refused:
        create_app({**SQLITE, **settings})

    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_the_command_refuses_a_bad_mail_setting_in_one_line_with_exit_1(tmp_path):
    from cli_runner import invoke_flask

    result = invoke_flask(
        "disable-inactive-users", database_url=f"sqlite:///{tmp_path}/ops.db", OPS_DEACTIVATION_WARN_DAYS="7,seven"
    )

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == ["error: configuration: OPS_DEACTIVATION_WARN_DAYS: 'seven' is not a whole number of days"]
