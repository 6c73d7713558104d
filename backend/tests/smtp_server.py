"""A real SMTP server on 127.0.0.1 (aiosmtpd) for the e-mail tests: one that keeps what it gets, one that refuses.

It speaks plain SMTP, STARTTLS (required before any mail) or TLS from the first
byte, with a certificate the test makes (trustme), and may ask for a login.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: tuple[str, ...]
    message: EmailMessage
    encrypted: bool = False  # the session was under TLS (implicit or after STARTTLS)
    login: str | None = None  # the user name the session logged in with

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def to(self) -> str:
        return str(self.message["To"])

    def body(self, subtype: str = "plain") -> str:
        part = self.message.get_body(preferencelist=(subtype,))
        assert part is not None, f"no text/{subtype} part"
        return part.get_content()


class Mailbox:
    """The handler: keeps every message, or answers ``refuse_with`` to each (e.g. "554 5.7.1 refused").

    With ``holding`` set, a message's data is taken but never answered until
    ``release()``: the client waits in the middle of the hand-over, and
    ``data_arrived`` tells the test it is there.
    """

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.refuse_with: str | None = None
        self.holding = False
        self.data_arrived = threading.Event()
        self._released = threading.Event()
        self._lock = threading.Lock()

    def release(self) -> None:
        """End the holding: a held message is refused (its sender may be gone by now)."""
        self._released.set()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's naming)
        if self.holding:
            self.data_arrived.set()
            while not self._released.is_set():
                await asyncio.sleep(0.01)
            return "451 4.3.0 held by the test server"
        if self.refuse_with:
            return self.refuse_with
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        login = session.auth_data.login.decode() if session.authenticated else None
        with self._lock:
            self.received.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos), message, encrypted, login))
        return "250 OK"

    def take(self) -> list[Received]:
        """What arrived since the last take, oldest first."""
        with self._lock:
            taken, self.received = self.received, []
        return taken


@dataclass
class SmtpServer:
    port: int
    mailbox: Mailbox
    security: str = "none"  # as OPS_SMTP_SECURITY names it: none, starttls or tls

    def settings(self, **overrides: object) -> dict[str, object]:
        """The application settings that send to this server (a TLS server's CA file is the test's to add)."""
        return {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": self.port,
            "SMTP_SECURITY": self.security,
            "SMTP_TIMEOUT": 5,
            "MAIL_SENDER": "OPS <no-reply@ops.example.gov>",
            "PRODUCT_NAME": "OPS Test",
            "SUPPORT_CONTACT": "the OPS help desk (help@ops.example.gov)",
            **overrides,
        }

    def environment(self) -> dict[str, str]:
        """The same, as OPS_ environment variables for a `flask` subprocess."""
        return {f"OPS_{key}": str(value).lower() if isinstance(value, bool) else str(value) for key, value in self.settings().items()}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _accepting(user: str, password: str):
    """An aiosmtpd authenticator that accepts this one user name and password."""

    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        expected = LoginPassword(user.encode(), password.encode())
        return AuthResult(success=isinstance(auth_data, LoginPassword) and auth_data == expected, auth_data=auth_data)

    return authenticate


@contextmanager
def smtp_server(
    *, security: str = "none", certificate: trustme.LeafCert | None = None, login: tuple[str, str] | None = None
) -> Iterator[SmtpServer]:
    """A server on a free port of 127.0.0.1.

    ``security``: "none" (plain SMTP), "starttls" (STARTTLS offered, and
    required before MAIL and AUTH) or "tls" (TLS from the first byte); the last
    two present ``certificate``. ``login``: the (user, password) the server
    accepts; each message records who logged in (``Received.login``).
    """
    assert (security == "none") == (certificate is None), "a TLS server needs a certificate, a plain one has none"
    server_options: dict[str, object] = {}
    if certificate is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate.configure_cert(context)
        if security == "tls":
            server_options["ssl_context"] = context
            # aiosmtpd only knows of TLS it started itself (STARTTLS); under implicit TLS it must not refuse AUTH.
            server_options["auth_require_tls"] = False
        else:
            server_options.update(tls_context=context, require_starttls=True)
    if login is not None:
        server_options["authenticator"] = _accepting(*login)
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, ready_timeout=10, **server_options)
    controller.start()
    try:
        yield SmtpServer(port=port, mailbox=mailbox, security=security)
    finally:
        mailbox.release()
        controller.stop()
