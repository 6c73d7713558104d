"""Bounds on the hourly job's statements (PostgreSQL), and the thread that cancels them on a stop request.

An adapter: it owns a thread and a second database connection, so it lives
apart from the services that call it. :func:`job_statement_bounds` is the one
entry point; the job wraps its rule in it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, scoped_session

from ops_api.errors import describe_error

logger = logging.getLogger("ops_api.hourly_job")

# Once a stop is requested, the statement in hand gets this long to finish on
# its own (the user in hand is usually done by then); after it, the statement
# the job waits on is cancelled, and again every CANCEL_EVERY, until the rule's
# phase ends. The platform's SIGKILL follows SIGTERM after 30 s by default.
STOP_GRACE_SECONDS = 2.0
CANCEL_EVERY_SECONDS = 1.0


@contextlib.contextmanager
def job_statement_bounds(
    session: Session | scoped_session[Session], config: Mapping[str, Any], *, should_stop: Callable[[], bool]
) -> Iterator[None]:
    """Bound every statement of ``session`` while the rule runs (PostgreSQL; SQLite has nothing to bound).

    - Each transaction the session begins gets ``SET LOCAL statement_timeout``
      (OPS_DB_STATEMENT_TIMEOUT_MS); lock waits are bounded per connection by
      lock_timeout (OPS_DB_LOCK_TIMEOUT_MS). Both cover the read phase.
    - Once ``should_stop()`` turns true, the statement the session waits on
      gets STOP_GRACE_SECONDS to finish, then is cancelled from a second
      connection (pg_cancel_backend), so a stop request ends a run stuck on a
      lock within seconds. A cancelled statement fails its transaction, which
      is rolled back whole: nothing is half-applied.
    """
    own = session() if isinstance(session, scoped_session) else session
    engine = own.get_bind()
    if engine.dialect.name != "postgresql":
        yield
        return
    timeout_ms = int(config["DB_STATEMENT_TIMEOUT_MS"])
    job_thread = threading.get_ident()
    backends: set[int] = set()

    def bound_transaction(sess: Session, transaction: Any, connection: Connection) -> None:
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {timeout_ms}")

    def remember_backend(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        # Every connection the job takes from the pool (its session, the run
        # lock, the run record's own session); not the watcher's.
        if threading.get_ident() == job_thread:
            pid = _backend_pid(dbapi_connection)
            if pid is not None:
                backends.add(pid)

    finished = threading.Event()
    watcher = threading.Thread(
        target=_cancel_when_stopped, args=(engine, backends, should_stop, finished), name="job-stop-watcher", daemon=True
    )
    event.listen(own, "after_begin", bound_transaction)
    event.listen(engine, "checkout", remember_backend)
    watcher.start()
    try:
        yield
    finally:
        finished.set()
        watcher.join()
        event.remove(engine, "checkout", remember_backend)
        event.remove(own, "after_begin", bound_transaction)


def _backend_pid(dbapi: Any) -> int | None:
    info = getattr(dbapi, "info", None)
    pid = getattr(info, "backend_pid", None)  # psycopg 3
    if pid is None and hasattr(dbapi, "get_backend_pid"):  # psycopg2
        pid = dbapi.get_backend_pid()
    return int(pid) if pid is not None else None


def _cancel_when_stopped(
    engine: Engine, backends: set[int], should_stop: Callable[[], bool], finished: threading.Event
) -> None:
    stop_seen: float | None = None
    last_cancel = 0.0
    while not finished.wait(0.1):
        if stop_seen is None:
            if should_stop():
                stop_seen = time.monotonic()
            continue
        now = time.monotonic()
        if now - stop_seen < STOP_GRACE_SECONDS or now - last_cancel < CANCEL_EVERY_SECONDS or not backends:
            continue
        last_cancel = now
        try:
            with engine.connect() as connection:
                # Only the job's statements that wait on a lock or have run past the
                # grace; a quick one (a user's update, the run record) is left to finish.
                cancelled = connection.execute(
                    sa.text(
                        "SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity "
                        "WHERE pid = ANY(:pids) AND state = 'active' "
                        "AND (wait_event_type = 'Lock' OR clock_timestamp() - query_start > make_interval(secs => :grace))"
                    ),
                    {"pids": sorted(backends), "grace": STOP_GRACE_SECONDS},
                ).scalar()
                connection.commit()
        except Exception as exc:  # the run still ends at its own statement's timeout
            logger.error(
                "could not cancel the job's waiting statement: %s",
                describe_error(exc),
                extra={"event": "cancel_failed", "error": describe_error(exc)},
            )
            continue
        if cancelled:
            logger.warning(
                "stop requested: cancelled %s statement(s) the job was waiting on",
                cancelled,
                extra={"event": "statement_cancelled", "statements": cancelled},
            )
