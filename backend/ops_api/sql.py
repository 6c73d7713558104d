"""Portable SQL functions the dialects spell differently."""

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import ReturnTypeFromArgs


class greatest(ReturnTypeFromArgs[Any]):  # noqa: N801 (named like the SQL function)
    """The largest of its arguments. Pass no NULLs: the dialects disagree on them."""

    inherit_cache = True


class least(ReturnTypeFromArgs[Any]):  # noqa: N801
    """The smallest of its arguments. Pass no NULLs: the dialects disagree on them."""

    inherit_cache = True


@compiles(greatest, "sqlite")
def _greatest_sqlite(element: greatest, compiler: Any, **kw: Any) -> str:
    # SQLite's scalar max() with several arguments is GREATEST.
    return f"max({compiler.process(element.clauses, **kw)})"


@compiles(least, "sqlite")
def _least_sqlite(element: least, compiler: Any, **kw: Any) -> str:
    return f"min({compiler.process(element.clauses, **kw)})"
