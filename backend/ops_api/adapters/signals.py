"""Signals as a request to stop: SIGTERM and SIGINT set an event the job polls.

An adapter: it installs signal handlers and runs a thread, so it lives apart
from the services. The job itself only ever sees a ``should_stop`` callable.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Iterator
from typing import Any

logger = logging.getLogger("ops_api.cli")


@contextlib.contextmanager
def stop_requested_by_signal() -> Iterator[threading.Event]:
    """Turn SIGTERM and SIGINT into a request to stop after the user in hand.

    The platform sends SIGTERM to a replica that ran too long; finishing the
    current user's transaction and then reporting beats dying half-way.

    Python runs a signal handler only between bytecodes, so while a driver
    blocks in C (psycopg2 waiting on a lock) the handler waits too. The
    interpreter's own C handler still writes the signal's number to a wakeup
    socket at once; a thread reading it sets the stop request, so the job can
    cancel the statement it waits on (services/job/hourly_job.py).
    """
    stop = threading.Event()
    logged: set[int] = set()

    def request_stop(signum: int, frame: Any) -> None:
        if not logged:
            logger.warning(
                "received %s: stopping after the user in hand",
                signal.Signals(signum).name,
                extra={"event": "stop_requested", "signal": signal.Signals(signum).name},
            )
        logged.add(signum)
        stop.set()

    previous = {signum: signal.signal(signum, request_stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        with _signals_seen_at_once(stop, (signal.SIGTERM, signal.SIGINT)):
            yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def _signals_seen_at_once(stop: threading.Event, signals: tuple[int, ...]) -> Iterator[None]:
    """Set ``stop`` from a thread as soon as one of ``signals`` arrives, even while the main thread blocks in C."""
    if threading.current_thread() is not threading.main_thread():
        yield  # set_wakeup_fd works only in the main thread; the Python handler alone must do
        return
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    try:
        previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except ValueError:
        reader.close()
        writer.close()
        yield
        return

    def watch() -> None:
        while True:
            try:
                data = reader.recv(64)
            except OSError:
                return
            if not data:
                return
            if any(number in signals for number in data):
                stop.set()

    watcher = threading.Thread(target=watch, name="signal-watcher", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_fd)
        writer.close()  # the watcher reads the end of the stream and returns
        watcher.join(5)
        reader.close()
