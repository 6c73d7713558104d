"""A real SMTP server on 127.0.0.1 (aiosmtpd) for the e-mail tests: one that keeps what it gets, one that refuses."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: tuple[str, ...]
    message: EmailMessage

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
    """The handler: keeps every message, or answers ``refuse_with`` to each (e.g. "554 5.7.1 refused")."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.refuse_with: str | None = None
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's naming)
        if self.refuse_with:
            return self.refuse_with
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        with self._lock:
            self.received.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos), message))
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

    def settings(self, **overrides: object) -> dict[str, object]:
        """The application settings that send to this server."""
        return {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": self.port,
            "SMTP_STARTTLS": False,
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


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    try:
        yield SmtpServer(port=port, mailbox=mailbox)
    finally:
        controller.stop()
