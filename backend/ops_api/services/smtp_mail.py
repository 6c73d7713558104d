"""The SMTP adapter: how the inactivity e-mail leaves (sending only; what to send is decided elsewhere).

Mail goes out with the standard library's ``smtplib``, STARTTLS by default,
over one connection per run.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from ops_api.domain.defaults import (
    DEFAULT_PRODUCT_NAME,
    DEFAULT_SMTP_PORT,
    DEFAULT_SMTP_STARTTLS,
    DEFAULT_SMTP_TIMEOUT_SECONDS,
    DEFAULT_SUPPORT_CONTACT,
    DEFAULT_WARN_DAYS,
)
from ops_api.errors import describe_error


@dataclass(frozen=True)
class MailSettings:
    """How to reach the SMTP server and what the messages say. Built from the settings; never reads Flask globals."""

    host: str | None = None
    port: int = DEFAULT_SMTP_PORT
    username: str | None = None
    password: str | None = None
    starttls: bool = DEFAULT_SMTP_STARTTLS
    timeout_seconds: float = DEFAULT_SMTP_TIMEOUT_SECONDS
    sender: str | None = None
    product_name: str = DEFAULT_PRODUCT_NAME
    support_contact: str = DEFAULT_SUPPORT_CONTACT
    warn_days: tuple[int, ...] = DEFAULT_WARN_DAYS

    @property
    def enabled(self) -> bool:
        return self.host is not None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MailSettings:
        return cls(
            host=config["SMTP_HOST"],
            port=config["SMTP_PORT"],
            username=config["SMTP_USERNAME"],
            password=config["SMTP_PASSWORD"],
            starttls=config["SMTP_STARTTLS"],
            timeout_seconds=config["SMTP_TIMEOUT"],
            sender=config["MAIL_SENDER"],
            product_name=config["PRODUCT_NAME"],
            support_contact=config["SUPPORT_CONTACT"],
            warn_days=tuple(config["DEACTIVATION_WARN_DAYS"]),
        )


def compose(settings: MailSettings, *, subject: str, recipient: str, text_body: str, html_body: str, at: datetime) -> EmailMessage:
    """One message, plain text with an HTML alternative, from the configured sender."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.sender or ""
    message["To"] = recipient
    message["Date"] = format_datetime(at)
    domain = parseaddr(settings.sender or "")[1].rpartition("@")[2] or None
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text_body)
    message.add_alternative(html_body, subtype="html")
    return message


class SmtpTransport:
    """One SMTP connection for a run's messages, opened at the first message.

    A refusal of one message (a recipient or its content refused) leaves the
    connection usable for the next. A failure of the connection itself (no
    answer, refused, dropped, TLS or login failure) fails the remaining
    messages at once with the same error, so a dead server costs one timeout
    per run, not one per message.
    """

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._broken: Exception | None = None

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._smtp is not None:
            with contextlib.suppress(Exception):
                self._smtp.quit()
            with contextlib.suppress(Exception):
                self._smtp.close()
            self._smtp = None

    def send(self, message: EmailMessage) -> None:
        if self._broken is not None:
            raise ConnectionError(f"not sent: the SMTP server failed earlier in this run ({describe_error(self._broken)})")
        try:
            smtp = self._connection()
            smtp.send_message(message)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError):
            raise  # this message was refused; the connection is still good
        except Exception as exc:
            self._broken = exc
            raise

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            settings = self.settings
            smtp = smtplib.SMTP(settings.host or "", settings.port, timeout=settings.timeout_seconds)
            try:
                smtp.ehlo()
                if settings.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if settings.username is not None:
                    smtp.login(settings.username, settings.password or "")
            except Exception:
                with contextlib.suppress(Exception):
                    smtp.close()
                raise
            self._smtp = smtp
        return self._smtp
