"""Portable SQL functions the dialects spell differently."""

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import ReturnTypeFromArgs


class greatest(ReturnTypeFromArgs[Any]):  # noqa: N801 (named like the SQL function)
    """The largest of its arguments. Pass no NULLs: the dialects disagree on them."""

    inherit_cache = True


class least(ReturnTypeFromArgs[Any]):  # noqa: N801
    """The smallest of its arguments. Pass no NULLs: the dialects disagree on them."""

    inherit_cache = True


class latest_of(ReturnTypeFromArgs[Any]):  # noqa: N801
    """The largest of its non-NULL arguments; NULL only when every argument is NULL.

    PostgreSQL's GREATEST already skips NULLs. SQLite's max() returns NULL as
    soon as one argument is, so there each argument falls back on the others.
    The rendering is deterministic, so an index on it is matched by a query
    that spells the same call.
    """

    inherit_cache = True


@compiles(greatest, "sqlite")
def _greatest_sqlite(element: greatest, compiler: Any, **kw: Any) -> str:
    # SQLite's scalar max() with several arguments is GREATEST.
    return f"max({compiler.process(element.clauses, **kw)})"


@compiles(least, "sqlite")
def _least_sqlite(element: least, compiler: Any, **kw: Any) -> str:
    return f"min({compiler.process(element.clauses, **kw)})"


@compiles(latest_of)
def _latest_of_default(element: latest_of, compiler: Any, **kw: Any) -> str:
    return f"GREATEST({compiler.process(element.clauses, **kw)})"


@compiles(latest_of, "sqlite")
def _latest_of_sqlite(element: latest_of, compiler: Any, **kw: Any) -> str:
    parts = [compiler.process(clause, **kw) for clause in element.clauses]
    if len(parts) == 1:
        return parts[0]
    rotations = [", ".join(parts[i:] + parts[:i]) for i in range(len(parts))]
    return "max(" + ", ".join(f"coalesce({rotation})" for rotation in rotations) + ")"



# The schema key of this project's own tables in the models. The engine's
# schema_translate_map turns it into OPS_DEACTIVATION_SCHEMA on PostgreSQL, and
# into SQLite's one database, "main"; OPS's tables carry no schema key and
# become OPS_DB_SCHEMA (no schema on SQLite).
OWN_SCHEMA = "user_deactivation"
# This project's Alembic version table, in its own schema; OPS's alembic_version is never read or written.
VERSION_TABLE = "alembic_version"


def _translate_map(bind: Any) -> dict[str | None, str | None]:
    get_bind = getattr(bind, "get_bind", None)
    if get_bind is not None:
        bind = get_bind()
    engine = getattr(bind, "engine", bind)
    return engine.get_execution_options().get("schema_translate_map") or {}


def schema_of(bind: Any) -> str | None:
    """The schema OPS's tables live in for this engine, connection or session (None on SQLite).

    Set once, by the settings, as the engine's ``schema_translate_map``.
    """
    return _translate_map(bind).get(None)


def own_schema_of(bind: Any) -> str | None:
    """The schema this project's own tables live in (OPS_DEACTIVATION_SCHEMA; "main" on SQLite)."""
    return _translate_map(bind).get(OWN_SCHEMA)


def qualified(bind: Any, table: str, *, own: bool = False) -> str:
    """``table`` with its schema, quoted, for the few statements written as text (``own``: one of this project's)."""
    schema = own_schema_of(bind) if own else schema_of(bind)
    return f'"{schema}"."{table}"' if schema else f'"{table}"'


T = TypeVar("T")

# Ids per statement for a list passed as IN (...): far below every driver's
# parameter limit (65,535 on psycopg), whatever the number of users.
IDS_PER_STATEMENT = 10_000


def batched(items: Sequence[T], size: int = IDS_PER_STATEMENT) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``, one statement's worth each."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
