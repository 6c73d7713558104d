"""The one source of "now" for the application.

Every timestamp the application writes or compares is computed here, in Python,
as an aware UTC datetime; the database clock never decides anything. Tests
freeze this with freezegun.
"""

from datetime import datetime, timezone


def utcnow() -> datetime:
    """Return the current instant as an aware UTC datetime."""
    return datetime.now(timezone.utc)


def ensure_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime; naive values are refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no time zone; use UTC")
    return value.astimezone(timezone.utc)
