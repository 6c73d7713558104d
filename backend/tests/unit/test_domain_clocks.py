"""Whether a run may trust "now": the clock checks over plain values (no database)."""

from datetime import datetime, timedelta, timezone

from ops_api.domain.clocks import CLOCK_TOLERANCE, clock_problem, describe_gap

DATABASE_NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)


def test_clocks_within_the_tolerance_either_way_are_trusted():
    for skew in (timedelta(0), CLOCK_TOLERANCE, -CLOCK_TOLERANCE):
        assert clock_problem(database_now=DATABASE_NOW, process_now=DATABASE_NOW + skew, latest_run_start=None) is None


def test_a_process_clock_beyond_the_tolerance_either_way_is_refused_with_the_direction():
    behind = clock_problem(database_now=DATABASE_NOW, process_now=DATABASE_NOW - CLOCK_TOLERANCE - timedelta(seconds=1), latest_run_start=None)
    ahead = clock_problem(database_now=DATABASE_NOW, process_now=DATABASE_NOW + timedelta(days=3), latest_run_start=None)

    assert behind is not None and "5 minutes behind the database server's" in behind
    assert ahead is not None and "3 days ahead of the database server's" in ahead


def test_a_database_clock_earlier_than_a_recorded_run_is_refused_beyond_the_tolerance():
    just_within = clock_problem(database_now=DATABASE_NOW, process_now=DATABASE_NOW, latest_run_start=DATABASE_NOW + CLOCK_TOLERANCE)
    beyond = clock_problem(database_now=DATABASE_NOW, process_now=DATABASE_NOW, latest_run_start=DATABASE_NOW + timedelta(days=365 * 6))

    assert just_within is None
    assert beyond is not None and "6 years earlier than the start of the latest recorded run" in beyond


def test_a_gap_is_named_in_its_largest_unit_rounded():
    assert describe_gap(timedelta(hours=2) - timedelta(seconds=1)) == "2 hours"
    assert describe_gap(timedelta(days=6 * 365)) == "6 years"
    assert describe_gap(timedelta(seconds=40)) == "40 seconds"
    assert describe_gap(-timedelta(minutes=12)) == "12 minutes"
