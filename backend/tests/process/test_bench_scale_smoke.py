"""The scale benchmark's three cases at a tiny size, on PostgreSQL with both drivers, so it keeps working.

Each runs the real job process against a real SMTP server and checks the
database afterwards (benchmarks/bench_scale.py); the full sizes are not a test.
PostgreSQL only: the parameter limit is PostgreSQL's, and the cases shape
their data with PostgreSQL's SQL.
"""

import importlib.util
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"

pytestmark = pytest.mark.postgres_only

DRIVERS = ("postgresql+psycopg", "postgresql+psycopg2")


def _bench_scale():
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("bench_scale", BENCHMARKS / "bench_scale.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _with_driver(url: str, driver: str) -> str:
    return sa.make_url(url).set(drivername=driver).render_as_string(hide_password=False)


@pytest.mark.parametrize("driver", DRIVERS)
def test_future_dates_of_300_active_users_are_recorded_and_no_ops_row_is_rewritten(database_url, driver):
    result = _bench_scale().run_case(_with_driver(database_url, driver), "future", 300)

    assert result["checks"]["no_ops_row_rewritten"] is True
    assert result["checks"]["every_future_date_recorded"] is True
    assert result["checks"]["one_warning_with_bounded_sample"] is True
    assert result["expected"]["users_with_future_dates"] > 250
    assert result["ok"] is True, result["checks"]


@pytest.mark.parametrize("driver", DRIVERS)
def test_warnings_due_to_25_users_are_sent_through_a_real_smtp_server_and_recorded(database_url, driver):
    result = _bench_scale().run_case(_with_driver(database_url, driver), "warn", 25)

    assert result["smtp_received"] == 25
    assert result["checks"]["every_warning_recorded_sent"] is True
    assert result["ok"] is True, result["checks"]


@pytest.mark.parametrize("driver", DRIVERS)
def test_25_due_users_are_disabled_with_no_cap_and_each_gets_a_notice(database_url, driver):
    result = _bench_scale().run_case(_with_driver(database_url, driver), "disable", 25)

    assert result["job"]["disabled"] == 25
    assert result["checks"]["notices_sent"] is True
    assert result["ok"] is True, result["checks"]


def test_a_check_fails_when_a_row_of_ops_was_rewritten():
    bench = _bench_scale()

    assert bench.rewritten({"ops_user": {1: "a", 2: "b"}}, {"ops_user": {1: "a", 2: "c", 3: "d"}}) == {"ops_user": 1}
    assert bench.rewritten({"user_session": {1: "a"}}, {"user_session": {}}) == {"user_session": 1}
