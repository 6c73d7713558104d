"""Errors as one line of text, for logs, reports and alerts."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError


def describe_error(exc: BaseException) -> str:
    """One line naming an error; for database errors, the driver's own message."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__
