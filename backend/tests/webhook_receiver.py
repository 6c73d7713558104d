"""Real HTTP endpoints on 127.0.0.1 for the alert tests: one that records (and answers a chosen status),
one that never answers, one that answers a byte at a time forever, and one that is closed."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """Collects the JSON documents POSTed to it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self._arrived = threading.Condition()

    def url(self, path: str = "alerts") -> str:
        """The ``json://`` URL of this receiver (the generic JSON webhook)."""
        return f"json://127.0.0.1:{self.port}/{path}"

    def http_url(self, path: str = "alerts") -> str:
        """The plain ``http://`` address, for destinations whose own address is replaced in a test."""
        return f"http://127.0.0.1:{self.port}/{path}"

    def record(self, path: str, document: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        with self._arrived:
            self.paths.append(path)
            self.headers.append(headers or {})
            self.received.append(document)
            self._arrived.notify_all()

    def wait_for(self, count: int = 1, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.received) < count and time.monotonic() < deadline:
                self._arrived.wait(deadline - time.monotonic())
            return list(self.received)


@contextmanager
def webhook_receiver(status: int = 200) -> Iterator[Receiver]:
    """An HTTP server in a thread that answers ``status`` to every POST and keeps its JSON body."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver.record(self.path, json.loads(body or b"{}"), dict(self.headers.items()))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def silent_listener() -> Iterator[int]:
    """A port that accepts connections (the kernel completes them) but never reads or answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@contextmanager
def trickling_listener(interval: float = 0.2) -> Iterator[int]:
    """A port that answers every connection with an endless HTTP header, one byte every ``interval`` seconds.

    Each read succeeds before any socket timeout, so only a deadline over the
    whole delivery can end the wait.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.2)
    stop = threading.Event()

    def trickle(connection: socket.socket) -> None:
        with connection:
            try:
                connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                while not stop.wait(interval):
                    connection.sendall(b"a")
            except OSError:
                pass  # the client gave up

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = sock.accept()
            except OSError:
                continue
            threading.Thread(target=trickle, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        sock.close()


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
