"""The SMTP adapter: how the inactivity e-mail leaves (sending only; what to send is decided elsewhere).

Mail goes out with the standard library's ``smtplib`` over one connection
per run: STARTTLS by default, implicit TLS (SMTPS) or plain SMTP as
configured. The server's certificate is always checked (chain and host name)
unless a development environment turned that off.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from ops_api.domain.defaults import (
    SmtpSecurity,
)
from ops_api.errors import describe_error


@dataclass(frozen=True)
class TlsTrust:
    """Which server certificates an SMTP client accepts (OPS_SMTP_TLS_CA_FILE, OPS_SMTP_TLS_VERIFY).

    The system's CAs plus those in ``ca_file``, with the host name checked;
    ``verify=False`` accepts any certificate (settings refuse it outside a
    development environment).
    """

    ca_file: str | None
    verify: bool

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TlsTrust:
        return cls(ca_file=config["SMTP_TLS_CA_FILE"], verify=config["SMTP_TLS_VERIFY"])

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.ca_file is not None:
            context.load_verify_locations(cafile=self.ca_file)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


@dataclass(frozen=True)
class MailSettings:
    """How to reach the SMTP server and what the messages say. Built from the settings; never reads Flask globals."""

    # No defaults here: the settings (ops_api.config) are the one place a default is applied.
    host: str | None
    port: int
    username: str | None
    password: str | None
    security: SmtpSecurity
    tls_trust: TlsTrust
    timeout_seconds: float
    sender: str | None
    product_name: str
    support_contact: str
    warn_days: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "security", SmtpSecurity(self.security))  # "tls" is read as SmtpSecurity.TLS
        if self.username is not None and self.security is SmtpSecurity.NONE:
            raise ValueError("SMTP credentials are never sent in clear: they need security tls or starttls")

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
            security=config["SMTP_SECURITY"],
            tls_trust=TlsTrust.from_config(config),
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


# Once a stop is requested, the message in hand gets this long to be answered;
# then its connection is shut, so a server that holds a message cannot keep a
# stopped run alive for SMTP_TIMEOUT (up to 10 minutes).
STOP_GRACE_SECONDS = 2.0
_STOP_POLL_SECONDS = 0.1


class SmtpTransport:
    """One SMTP connection for a run's messages, opened at the first message.

    A refusal of one message (a recipient or its content refused) leaves the
    connection usable for the next. A failure of the connection itself (no
    answer, refused, dropped, TLS or login failure) fails the remaining
    messages at once with the same error, so a dead server costs one timeout
    per run, not one per message. Used as a context manager, a thread watches
    ``should_stop``: STOP_GRACE_SECONDS after it turns true, the connection is
    shut, which ends a send that waits on the server.
    """

    def __init__(self, settings: MailSettings, *, should_stop: Callable[[], bool] = lambda: False) -> None:
        self.settings = settings
        self.should_stop = should_stop
        self._smtp: smtplib.SMTP | None = None
        self._broken: Exception | None = None
        self._done = threading.Event()
        self._watcher: threading.Thread | None = None

    def __enter__(self) -> SmtpTransport:
        self._watcher = threading.Thread(target=self._shut_on_stop, name="smtp-stop-watcher", daemon=True)
        self._watcher.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        if self._watcher is not None:
            self._watcher.join()
        if self._smtp is not None:
            with contextlib.suppress(Exception):
                self._smtp.quit()
            with contextlib.suppress(Exception):
                self._smtp.close()
            self._smtp = None

    def _shut_on_stop(self) -> None:
        while not self._done.wait(_STOP_POLL_SECONDS):
            if self.should_stop():
                if not self._done.wait(STOP_GRACE_SECONDS):
                    smtp = self._smtp
                    sock = getattr(smtp, "sock", None)
                    if sock is not None:
                        with contextlib.suppress(OSError):
                            sock.shutdown(socket.SHUT_RDWR)
                return

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
            host, timeout = settings.host or "", settings.timeout_seconds
            if settings.security is SmtpSecurity.TLS:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, settings.port, timeout=timeout, context=settings.tls_trust.client_context())
            else:
                smtp = smtplib.SMTP(host, settings.port, timeout=timeout)
            try:
                smtp.ehlo()
                if settings.security is SmtpSecurity.STARTTLS:
                    # Raises when the server does not offer STARTTLS: never a fallback to plain SMTP.
                    smtp.starttls(context=settings.tls_trust.client_context())
                    smtp.ehlo()
                if settings.username is not None:
                    smtp.login(settings.username, settings.password or "")
            except Exception:
                with contextlib.suppress(Exception):
                    smtp.close()
                raise
            self._smtp = smtp
        return self._smtp
