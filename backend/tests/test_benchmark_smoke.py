"""The benchmark at a tiny size, on both databases, so it keeps working (the full run is not a test)."""

import importlib.util
import sys
from pathlib import Path

import pytest

from ops_api.devtools.load_data import LoadError, load, plan_users

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_inactive_users.py"


def _benchmark_module():
    spec = importlib.util.spec_from_file_location("bench_inactive_users", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.pg_driver
def test_the_benchmark_runs_at_200_users_and_agrees_with_the_naive_loop(database_url):
    bench = _benchmark_module()

    result = bench.run_suite(
        database_url, users=200, sessions_per_user=3, due=20, repeat=2, baseline_repeat=1, disable_repeat=2, job=False,
        activity_writes=20,
    )

    assert result["baseline_naive_loop"]["equal_to_a"] is True
    assert result["a_find_inactive_users"]["rows"] == 20
    assert result["a_find_inactive_users"]["statements"] == 1
    assert result["c_disable_run"]["disabled"] == 20
    assert result["a_find_when_nobody_due"]["statements"] == 1
    if result["database"] == "postgresql":
        assert result["generic_vs_custom"]["generic_over_custom"] is not None
    assert bench.render_table({"results": [result]}).count("\n") == 2


def test_the_loader_is_deterministic_and_has_the_realistic_spread():
    first = plan_users(20_000, seed=7, due=None)
    assert first == plan_users(20_000, seed=7, due=None)
    assert first != plan_users(20_000, seed=8, due=None)
    never = sum(1 for u in first if u.latest_days is None) / len(first)
    not_active = sum(1 for u in first if u.status != "ACTIVE") / len(first)
    reactivated = sum(1 for u in first if u.reactivated_days is not None)
    assert 0.04 < never < 0.06
    assert 0.09 < not_active < 0.11
    assert reactivated > 0
    # Last seen (latest session, or the reactivation after it) within 400 days.
    last_seen = [min(d for d in (u.latest_days, u.reactivated_days) if d is not None) for u in first if u.latest_days is not None]
    assert 390 < max(last_seen) <= 400


@pytest.mark.pg_driver
def test_the_loader_refuses_a_database_that_holds_users(app, database_url):
    from datetime import datetime, timezone

    from ops_api.extensions import db

    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    summary = load(db.engine, users=50, sessions_per_user=2, seed=1, now=now, due=5)
    assert summary.due == 5 and summary.users == 50

    with pytest.raises(LoadError):
        load(db.engine, users=50, sessions_per_user=2, seed=1, now=now)
