"""The bulk loader's COPY path on each PostgreSQL driver: awkward text, NULLs, booleans and times arrive intact."""

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from ops_api.devtools.load_data import _copy_in

ROWS = [
    (1, "tab\there, newline\nthere", None, True, datetime(2026, 3, 1, 12, 30, tzinfo=timezone.utc)),
    (2, "back\\slash \\N and carriage\rreturn", "", False, datetime(2025, 12, 31, 23, 59, 59, 123456, tzinfo=timezone.utc)),
    (3, "plain", "x", None, None),
]


@pytest.mark.postgres_only
@pytest.mark.pg_driver
@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_copy_in_round_trips_rows_on_each_driver(pg_schema_url, driver):
    pytest.importorskip(driver)
    url = make_url(pg_schema_url).set(drivername=f"postgresql+{driver}")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            cursor = connection.connection.driver_connection.cursor()
            cursor.execute("CREATE TEMP TABLE copy_check (id int, a text, b text, flag boolean, at timestamptz) ON COMMIT DROP")
            _copy_in(cursor, "COPY copy_check FROM STDIN", iter(ROWS))
            got = connection.execute(sa.text("SELECT id, a, b, flag, at FROM copy_check ORDER BY id")).all()
        assert [tuple(row) for row in got] == ROWS
    finally:
        engine.dispose()
