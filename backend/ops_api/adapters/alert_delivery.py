"""Sending an alert to every destination of ``OPS_ALERT_URLS`` in this process, within a deadline.

The bound: every destination is sent from a daemon thread of its own, all at
once, and every socket operation (connect, each read and write) waits at most
for the time left. The caller waits for the threads until the deadline and
then reports whatever has not answered. Name resolution cannot be timed out in
Python; a daemon thread stuck in it is abandoned, and it does not keep the
process alive.

E-mail destinations check the server's certificate as the inactivity e-mail
does (:class:`~ops_api.adapters.smtp_mail.TlsTrust`: the system's CAs plus
``OPS_SMTP_TLS_CA_FILE``; ``OPS_SMTP_TLS_VERIFY=false`` in development only).
Apprise's ``verify=no`` in a URL is accepted and ignored: a URL never turns
certificate checks off.

Nothing here logs or returns a URL: problems name the entry by its position,
its kind and its host, and any URL in an error text is replaced by ``<url>``.
"""

from __future__ import annotations

import json
import re
import smtplib
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

from ops_api.adapters.alert_destinations import Destination, HttpPost, Mail, UnusableUrl, parse_destination
from ops_api.adapters.smtp_mail import TlsTrust

# The longest one socket operation may wait, whatever time is left.
MAX_SOCKET_WAIT_SECONDS = 10.0
USER_AGENT = "ops-disable-inactive-users"
# Certificates checked against the system's CAs only: what e-mail destinations accept unless told otherwise.
SYSTEM_TRUST = TlsTrust(ca_file=None, verify=True)


@dataclass(frozen=True)
class Delivery:
    """What happened to one entry of ``OPS_ALERT_URLS``."""

    position: int
    delivered: bool
    problem: str | None = None


# -- sending -----------------------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A webhook that redirects is misconfigured; following it would turn the POST into a GET.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _post(destination: HttpPost, title: str, body: str, level: str, deadline: float) -> None:
    data = json.dumps(destination.payload(title, body, level)).encode()
    request = urllib.request.Request(
        destination.url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **destination.headers},
    )
    try:
        with _OPENER.open(request, timeout=_time_left(deadline)) as response:
            response.read(64 * 1024)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"answered HTTP {exc.code}") from None


def _mail_alert(destination: Mail, title: str, body: str, level: str, deadline: float, tls_trust: TlsTrust) -> None:
    message = EmailMessage()
    message["Subject"] = title
    message["From"] = destination.sender
    message["To"] = ", ".join(destination.recipients)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=parseaddr(destination.sender)[1].rpartition("@")[2] or None)
    message.set_content(body)
    context = tls_trust.client_context()
    smtp = (
        smtplib.SMTP_SSL(destination.host, destination.port, timeout=_time_left(deadline), context=context)
        if destination.mode == "ssl"
        else smtplib.SMTP(destination.host, destination.port, timeout=_time_left(deadline))
    )
    with smtp:
        if destination.mode == "starttls":
            smtp.starttls(context=context)
        if destination.username and destination.password:
            smtp.login(destination.username, destination.password)
        smtp.send_message(message)


class DeliveryError(Exception):
    """A destination answered, but not with success."""


def _time_left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeliveryError("no time left before the deadline")
    return min(left, MAX_SOCKET_WAIT_SECONDS)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, DeliveryError):
        return str(exc)
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"the SMTP server answered {exc.smtp_code}"
    return redact(f"{type(exc).__name__}: {exc}")


_ANY_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def redact(message: str) -> str:
    """``message`` with every URL in it replaced by ``<url>`` (URLs carry tokens and passwords)."""
    return _ANY_URL.sub("<url>", message)


def deliver(
    urls: Sequence[str], *, title: str, body: str, level: str, timeout_seconds: float, tls_trust: TlsTrust = SYSTEM_TRUST
) -> list[Delivery]:
    """Send to every URL at once; return one :class:`Delivery` per URL within ``timeout_seconds``.

    ``tls_trust`` decides which certificates e-mail destinations accept. Never
    raises. A destination still sending when the time is up is reported
    as not delivered and left to its daemon thread.
    """
    destinations: list[Destination | UnusableUrl] = []
    for url in urls:
        try:
            destinations.append(parse_destination(url))
        except UnusableUrl as exc:
            destinations.append(exc)
    return deliver_to(destinations, title=title, body=body, level=level, timeout_seconds=timeout_seconds, tls_trust=tls_trust)


def deliver_to(
    destinations: Sequence[Destination | UnusableUrl],
    *,
    title: str,
    body: str,
    level: str,
    timeout_seconds: float,
    tls_trust: TlsTrust = SYSTEM_TRUST,
) -> list[Delivery]:
    """:func:`deliver` for destinations already parsed (an :class:`UnusableUrl` stands for an entry that did not parse)."""
    deadline = time.monotonic() + timeout_seconds
    results: dict[int, Delivery] = {}
    guard = threading.Lock()
    threads: list[tuple[int, str, threading.Thread]] = []

    def send(position: int, destination: Destination) -> None:
        try:
            if isinstance(destination, Mail):
                _mail_alert(destination, title, body, level, deadline, tls_trust)
            else:
                _post(destination, title, body, level, deadline)
            outcome = Delivery(position, True)
        except BaseException as exc:  # one destination's failure must never reach the caller
            outcome = Delivery(position, False, f"{_name(position, destination)}: {_describe(exc)}")
        with guard:
            results.setdefault(position, outcome)

    for position, destination in enumerate(destinations, start=1):
        if isinstance(destination, UnusableUrl):
            results[position] = Delivery(position, False, f"OPS_ALERT_URLS entry {position} is unusable: {destination}")
            continue
        thread = threading.Thread(target=send, args=(position, destination), name=f"alert-{position}", daemon=True)
        thread.start()
        threads.append((position, _name(position, destination), thread))

    for _position, _label, thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with guard:
        for position, label, _thread in threads:
            results.setdefault(position, Delivery(position, False, f"{label}: no answer within {timeout_seconds:g} s"))
        return [results[position] for position in sorted(results)]


def _name(position: int, destination: Destination) -> str:
    return f"OPS_ALERT_URLS entry {position} ({destination.kind} at {destination.where})"
