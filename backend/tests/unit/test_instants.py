"""Reading typed ISO 8601 dates and instants (ops_api.instants): the one parser the CLI, the API and the report share."""

from datetime import datetime, timedelta, timezone

import pytest

from ops_api.instants import parse_iso


def test_a_date_or_instant_without_an_offset_is_utc():
    assert parse_iso("2026-12-31") == datetime(2026, 12, 31, tzinfo=timezone.utc)
    assert parse_iso(" 2026-12-31T09:00:00 ") == datetime(2026, 12, 31, 9, tzinfo=timezone.utc)
    assert parse_iso("2026-12-31T09:00:00Z") == datetime(2026, 12, 31, 9, tzinfo=timezone.utc)


def test_an_offset_is_kept_for_the_caller_to_convert():
    parsed = parse_iso("2026-12-31T10:00:00+01:00")
    assert parsed.utcoffset() == timedelta(hours=1)
    assert parsed == datetime(2026, 12, 31, 9, tzinfo=timezone.utc)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01", "31/12/2026"])
def test_anything_else_is_a_value_error(text):
    with pytest.raises(ValueError):
        parse_iso(text)
