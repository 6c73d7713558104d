"""PostgreSQL session-level advisory locks, one per (purpose, schema).

A lock is keyed by a namespace (one number per purpose: the run, the sending
of e-mail) and the schema that holds OPS's tables, so separate OPS schemas (or
test runs) on one server never block each other. SQLite has no such lock:
there the helper always yields True.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import text

from ops_api.sql import schema_of

# The SQL arguments of every lock call; the parameters come from lock_key().
LOCK_ARGUMENTS = "(:namespace, hashtext(:schema))"


def lock_key(engine: Any, namespace: int) -> dict[str, Any]:
    return {"namespace": namespace, "schema": schema_of(engine)}


@contextlib.contextmanager
def try_advisory_lock(engine: Any, namespace: int) -> Iterator[bool]:
    """Try the lock without waiting; yield whether it was acquired, and release it on exit.

    Taken on a connection of its own, so commits in the caller's session
    (which return its connection to the pool) cannot release it early.
    """
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as connection:
        key = lock_key(engine, namespace)
        acquired = connection.execute(text(f"SELECT pg_try_advisory_lock{LOCK_ARGUMENTS}"), key).scalar()
        connection.commit()
        try:
            yield bool(acquired)
        finally:
            if acquired:
                with contextlib.suppress(Exception):  # a dead connection has released it already
                    connection.execute(text(f"SELECT pg_advisory_unlock{LOCK_ARGUMENTS}"), key)
                    connection.commit()
