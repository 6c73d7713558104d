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


def test_a_gap_of_95_percent_of_a_unit_is_one_of_that_unit():
    assert describe_gap(timedelta(days=365 * 0.95)) == "1 year"
    assert describe_gap(timedelta(days=365 * 0.95) - timedelta(seconds=1)) == "347 days"
    assert describe_gap(timedelta(hours=24 * 0.95)) == "1 day"
    assert describe_gap(timedelta(minutes=60 * 0.95)) == "1 hour"
    assert describe_gap(timedelta(seconds=57)) == "1 minute"
    assert describe_gap(timedelta(seconds=56)) == "56 seconds"


def test_a_process_clock_a_little_beyond_the_tolerance_ahead_is_named_ahead_in_the_whole_message():
    process_now = DATABASE_NOW + timedelta(minutes=6)

    assert clock_problem(database_now=DATABASE_NOW, process_now=process_now, latest_run_start=None) == (
        "the job's clock (2026-12-04T12:06:00+00:00) is 6 minutes ahead of the database server's "
        "(2026-12-04T12:00:00+00:00), more than the 5 minutes allowed; fix the clock that is wrong before the next run"
    )


def test_a_database_clock_earlier_than_a_recorded_run_is_named_in_the_whole_message():
    latest_run_start = DATABASE_NOW + timedelta(hours=2)

    assert clock_problem(database_now=DATABASE_NOW, process_now=DATABASE_NOW, latest_run_start=latest_run_start) == (
        "the database server's clock (2026-12-04T12:00:00+00:00) is 2 hours earlier than the start of the latest "
        "recorded run (2026-12-04T14:00:00+00:00); fix the clock that is wrong before the next run"
    )
