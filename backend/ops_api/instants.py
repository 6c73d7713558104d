"""Reading ISO 8601 dates and instants typed by people (CLI options, query parameters).

Every time here is UTC: a date or instant written without an offset is read as UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone


def parse_iso(text: object) -> datetime:
    """``2026-12-31``, ``2026-12-31T09:00:00Z`` or ``...+01:00`` as an aware datetime (UTC when no offset).

    Surrounding blanks are ignored. ValueError for anything else. An offset
    other than UTC is kept; ``ops_api.clock.ensure_utc`` converts it (and may
    raise OverflowError at the ends of the calendar).
    """
    parsed = datetime.fromisoformat(str(text).strip())
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed
