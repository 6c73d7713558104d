"""PostgreSQL session-level advisory locks, one per (purpose, schema): the one home of their keys.

A lock is keyed by its purpose (one number each: the run, the sending of
e-mail) and the schema that holds OPS's tables, so separate OPS schemas (or
test runs) on one server never block each other. SQLite has no such lock:
there the helper always yields True.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator
from typing import Any

from sqlalchemy import text

from ops_api.sql import schema_of


class LockPurpose(enum.IntEnum):
    """What a lock keeps to one process at a time; the value is the lock's first key."""

    RUN = 20_260_026  # a real run of the job
    SEND = 20_260_027  # the sending of the job's e-mail
    CHAIN = 20_260_028  # appending a record to the evidence chain (transaction-level: see take_transaction_lock)


# The SQL arguments of every lock call; the parameters come from lock_key().
LOCK_ARGUMENTS = "(:namespace, hashtext(:schema))"


def lock_key(bind: Any, purpose: LockPurpose) -> dict[str, Any]:
    """The parameters of ``purpose``'s lock for the schema ``bind`` works in."""
    return {"namespace": int(purpose), "schema": schema_of(bind)}


@contextlib.contextmanager
def try_advisory_lock(engine: Any, purpose: LockPurpose) -> Iterator[bool]:
    """Try the lock without waiting; yield whether it was acquired, and release it on exit.

    Taken on a connection of its own, so commits in the caller's session
    (which return its connection to the pool) cannot release it early.
    """
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as connection:
        key = lock_key(engine, purpose)
        acquired = connection.execute(text(f"SELECT pg_try_advisory_lock{LOCK_ARGUMENTS}"), key).scalar()
        connection.commit()
        try:
            yield bool(acquired)
        finally:
            if acquired:
                with contextlib.suppress(Exception):  # a dead connection has released it already
                    connection.execute(text(f"SELECT pg_advisory_unlock{LOCK_ARGUMENTS}"), key)
                    connection.commit()


def take_transaction_lock(session: Any, purpose: LockPurpose) -> None:
    """Wait for ``purpose``'s transaction-level lock in ``session``'s transaction; it is released by its commit or rollback.

    Bounded by the connection's lock_timeout like any lock. On SQLite, which
    has no such lock, the caller's first write takes the database's one write
    lock instead, which serialises writers just the same.
    """
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(text(f"SELECT pg_advisory_xact_lock{LOCK_ARGUMENTS}"), lock_key(bind, purpose))


def lock_held(session: Any, purpose: LockPurpose) -> bool | None:
    """Whether some connection holds ``purpose``'s lock of this schema now; None where there is no such lock (SQLite)."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return None
    # A two-key advisory lock shows its keys as classid and objid (as oids), and objsubid 2.
    return bool(
        session.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND classid = CAST(:namespace AS bigint)::oid"
                " AND objid = (hashtext(:schema)::bigint & 4294967295)::oid AND objsubid = 2)"
            ),
            lock_key(bind, purpose),
        ).scalar()
    )
