"""The rule's Python reference (ops_api.domain.inactivity) over plain values: no database."""

from datetime import datetime, timedelta, timezone

import pytest

from ops_api.domain.defaults import DEFAULT_INACTIVE_DAYS
from ops_api.domain.inactivity import DEFAULT_THRESHOLD, InactiveUser, disable_due, is_due, last_seen, warning_stage

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def test_last_seen_is_the_latest_known_date():
    assert last_seen(now=NOW, created_on=NOW - 300 * DAY) == NOW - 300 * DAY
    assert last_seen(now=NOW, created_on=NOW - 300 * DAY, latest_session=NOW - 90 * DAY) == NOW - 90 * DAY
    assert (
        last_seen(now=NOW, created_on=NOW - 300 * DAY, latest_session=NOW - 90 * DAY, reactivated_on=NOW - 10 * DAY)
        == NOW - 10 * DAY
    )
    assert last_seen(now=NOW, activity=NOW - 2 * DAY, latest_session=NOW - 90 * DAY) == NOW - 2 * DAY


def test_a_date_after_now_counts_as_now_and_no_date_at_all_is_none():
    assert last_seen(now=NOW, created_on=NOW - 300 * DAY, latest_session=NOW + 30 * DAY) == NOW
    assert last_seen(now=NOW) is None


def test_due_exactly_at_the_threshold_and_not_a_microsecond_before():
    threshold = timedelta(days=DEFAULT_INACTIVE_DAYS)
    assert DEFAULT_THRESHOLD == threshold
    assert is_due(NOW - threshold, NOW)
    assert not is_due(NOW - threshold + timedelta(microseconds=1), NOW)
    assert disable_due(NOW - threshold) == NOW


def test_only_active_non_excluded_datable_users_are_due():
    long_ago = NOW - 400 * DAY
    assert not is_due(long_ago, NOW, active=False)
    assert not is_due(long_ago, NOW, excluded=True)
    assert not is_due(None, NOW)
    assert is_due(NOW - 30 * DAY, NOW, timedelta(days=30))


@pytest.mark.parametrize(
    ("before_due", "stage"),
    [
        (timedelta(days=8), None),  # no stage yet
        (timedelta(days=7), 7),  # stage 7's moment
        (timedelta(days=3), 7),
        (timedelta(days=1), 1),  # stage 1 replaces 7
        (timedelta(hours=2), 1),
        (timedelta(0), None),  # due now: disabled, not warned
        (-DAY, None),
    ],
)
def test_the_most_urgent_stage_whose_moment_has_come(before_due, stage):
    assert warning_stage(NOW + before_due, NOW, (7, 1)) == stage
    assert warning_stage(NOW + before_due, NOW, [1, 7]) == stage


def test_no_stages_no_warning():
    assert warning_stage(NOW + DAY, NOW, ()) is None


def test_an_inactive_user_as_a_dictionary_names_each_field():
    user = InactiveUser(user_id=7, email="idle@example.gov", last_seen=NOW - 61 * DAY, days_inactive=61)

    assert user.to_dict() == {"user_id": 7, "email": "idle@example.gov", "last_seen": "2026-04-01T12:00:00+00:00", "days_inactive": 61}
