"""The benchmark at a tiny size, on both databases, so it keeps working (the full run is not a test)."""

import importlib.util
import sys
from pathlib import Path

import pytest

from ops_api.devtools.load_data import LoadError, load, plan_users

BENCHMARK = Path(__file__).resolve().parents[3] / "benchmarks" / "bench_inactive_users.py"


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
        database_url, bench.DataSet(users=200, sessions_per_user=3), due=20, repeat=2, baseline_repeat=1, disable_repeat=2,
        reconcile_repeat=1, job=False, activity_writes=20,
    )

    assert result["baseline_naive_loop"]["equal_to_search"] is True
    assert result["first_run_of_day_disabling"]["disabled"] == 20
    assert result["search_one_due"]["statements"] == 1
    assert result["search_due"]["rows"] == 20 and result["search_due"]["statements"] == 1
    assert result["disable_run"]["disabled"] == 20
    steady = result["vacuumed"] if result["database"] == "postgresql" else result["analyzed"]
    assert steady["search"]["statements"] == 1
    # The hourly run does not reconcile (the day's first run left its record); the day's first run does, in more statements.
    assert result["first_run_of_day_nobody_due"]["statements"] > steady["hourly_run"]["statements"]
    assert result["reconcile_view"]["statements"] == 4
    if result["database"] == "postgresql":
        assert result["analyze_only"]["search"]["statements"] == 1
        assert result["generic_vs_custom"]["generic_over_custom"] is not None
        # The application's connections never JIT-compile; the same statements with jit = on are explained too.
        for compared in (result["jit_reconcile_view"], result["jit_search_nobody_due"]):
            assert compared["app_connection_jit_setting"] == ["off"]
            assert compared["app_connection_plans_with_jit_section"] == 0
            assert all("Execution Time" in plan for plan in compared["jit_on_plans"])
            if compared["jit_available"]:  # the server can compile: with the threshold at 0 it does
                assert all("JIT:" in plan for plan in compared["jit_forced_plans"])
        # OPS's request measured with the triggers and without them, both ways of interleaving, both cases
        # (the benchmark itself checks that the view moved, or did not, as each write should have made it).
        writes = result["activity_write_cost"]
        assert writes["blocks"]["moves_view"]["dropped"]["writes"] >= 20 and writes["blocks"]["within_minute"]["disabled"]["writes"] >= 20
        assert writes["per_write"]["moves_view"]["without"]["writes"] == 20 and writes["per_write"]["within_minute"]["with"]["writes"] == 20
        assert all(writes[m][case]["ratio"] > 0 for m in ("blocks", "per_write") for case in ("moves_view", "within_minute"))
    assert bench.render_table({"results": [result]}).count("\n") == 2


def test_a_data_set_is_named_by_users_sessions_and_inactive_share():
    bench = _benchmark_module()

    assert bench.DataSet.parse("1000000:10:0.5") == bench.DataSet(users=1_000_000, sessions_per_user=10, inactive_share=0.5)
    assert bench.DataSet.parse("100000") == bench.DataSet(users=100_000)
    assert bench.DataSet.parse("100000:100").load_options() == {}
    assert bench.DataSet.parse("10:10:0.5").load_options() == {"inactive_share": 0.5, "inactive_long_idle": True}


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


def test_the_loader_makes_a_large_share_of_long_idle_inactive_users_on_request():
    planned = plan_users(20_000, seed=7, due=0, inactive_share=0.5, inactive_long_idle=True)

    inactive = [u for u in planned if u.status == "INACTIVE"]
    assert 0.48 < len(inactive) / len(planned) < 0.52
    # Every INACTIVE user who ever logged in was last seen more than the rule's 60 days ago.
    assert all(u.latest_days > 60 for u in inactive if u.latest_days is not None)
    # Still about 3% reactivated overall, and the ACTIVE users as the steady state has them.
    assert 0.02 < sum(1 for u in planned if u.reactivated_days is not None) / len(planned) < 0.04
    assert all(min(d for d in (u.latest_days, u.reactivated_days, u.created_days) if d is not None) < 59 for u in planned if u.status == "ACTIVE")


def test_the_loader_refuses_an_inactive_share_that_leaves_no_room_for_locked_users():
    with pytest.raises(ValueError):
        plan_users(10, seed=1, due=None, inactive_share=0.99)


@pytest.mark.pg_driver
def test_the_loader_refuses_a_database_that_holds_users(app, database_url):
    from datetime import datetime, timezone

    from ops_api.extensions import db

    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    summary = load(db.engine, users=50, sessions_per_user=2, seed=1, now=now, due=5)
    assert summary.due == 5 and summary.users == 50

    with pytest.raises(LoadError):
        load(db.engine, users=50, sessions_per_user=2, seed=1, now=now)
