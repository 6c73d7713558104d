"""Which e-mail is owed (ops_api.domain.notification_policy): plain data in, decisions out; no database."""

from datetime import datetime, timedelta, timezone

from ops_api.domain.notification_policy import (
    EVENT_KEY,
    KIND_NOTICE,
    KIND_SUMMARY,
    KIND_WARNING,
    AdminDeactivation,
    InactiveUser,
    OwedNotice,
    PastMessage,
    admin_deactivation,
    admin_notices_owed,
    notices_owed,
    sent_warning_keys,
    summary_for,
    summary_rows,
    summary_rows_owed,
    warnings_due,
    warnings_owed,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
THRESHOLD = 60 * DAY


def notice(user_id, period, *, went_out, disabled_on=NOW - DAY):
    details = {"kind": KIND_NOTICE, "user_id": user_id, "period": period.isoformat(), "disabled_on": disabled_on.isoformat()}
    return PastMessage(details, went_out)


def summary(admin_id, rows, *, went_out):
    return PastMessage({"kind": KIND_SUMMARY, "recipient_user_id": admin_id, "users": rows}, went_out)


def disabled(user_id, seen):
    return InactiveUser(user_id, f"u{user_id}@example.gov", seen, (NOW - seen).days)


def test_a_notice_for_each_user_just_disabled():
    seen = NOW - 61 * DAY
    assert notices_owed([disabled(2, seen), disabled(1, seen)], [], NOW) == [
        OwedNotice(1, seen, NOW, False),
        OwedNotice(2, seen, NOW, False),
    ]


def test_a_failed_notice_is_owed_again_until_one_goes_out():
    seen = NOW - 70 * DAY
    failed = notice(5, seen, went_out=False)
    assert notices_owed([], [failed], NOW) == [OwedNotice(5, seen, NOW - DAY, True)]
    assert notices_owed([], [failed, notice(5, seen, went_out=True)], NOW) == []


def test_a_notice_that_went_out_or_may_have_is_never_repeated():
    seen = NOW - 61 * DAY
    # went_out covers UNKNOWN: the job stopped mid-send.
    assert notices_owed([disabled(1, seen)], [notice(1, seen, went_out=True)], NOW) == []
    # Another period of the same user is another notice.
    assert notices_owed([disabled(1, seen)], [notice(1, seen - DAY, went_out=True)], NOW) == [OwedNotice(1, seen, NOW, False)]


def test_summaries_owe_the_rows_of_failures_after_the_last_that_went_out():
    row_a = {"user_id": 1, "last_seen": "2026-03-01T00:00:00+00:00", "disabled_on": "2026-05-01T00:00:00+00:00"}
    row_b = {"user_id": 2, "last_seen": "2026-03-02T00:00:00+00:00", "disabled_on": "2026-05-02T00:00:00+00:00"}
    past = [summary(9, [row_a], went_out=False), summary(9, [], went_out=True), summary(9, [row_b], went_out=False)]
    owed = summary_rows_owed(past)
    assert owed == {9: {(2, row_b["last_seen"]): row_b}}
    new = summary_rows([disabled(3, NOW - 61 * DAY)], NOW)
    rows = summary_for(9, new, owed)
    assert [row["user_id"] for row in rows] == [2, 3]
    assert summary_for(8, {}, owed) == []  # another admin is owed nothing


def test_warnings_the_stage_due_and_only_once_per_period_and_stage():
    soon = NOW - THRESHOLD + 5 * DAY  # disable_due in 5 days: stage 7
    tomorrow = NOW - THRESHOLD + DAY // 2  # in 12 hours: stage 1
    later = NOW - THRESHOLD + 20 * DAY  # no stage yet
    due = warnings_due([(1, soon), (2, tomorrow), (3, later)], NOW, threshold=THRESHOLD, stages=(7, 1))
    assert {user_id: warning.stage for user_id, warning in due.items()} == {1: 7, 2: 1}
    assert due[1].disable_due == soon + THRESHOLD
    sent = sent_warning_keys([{"kind": KIND_WARNING, "user_id": 1, "period": soon.isoformat(), "stage": 7}, {"damaged": True}])
    assert [warning.user_id for warning in warnings_owed(due, sent)] == [2]
    # Stage 1 of the same period is a different message; the longest inactive comes first.
    assert [(w.user_id, w.stage) for w in warnings_owed(due, {(1, soon, 1)})] == [(2, 1), (1, 7)]


def test_a_past_message_of_another_kind_neither_sends_nor_hides_a_notice():
    seen = NOW - 61 * DAY
    other_kind = PastMessage({"kind": KIND_WARNING, "user_id": 1, "period": seen.isoformat(), "stage": 1}, True)
    past = [other_kind, notice(2, seen, went_out=True)]

    assert notices_owed([disabled(1, seen), disabled(2, seen)], past, NOW) == [OwedNotice(1, seen, NOW, False)]


def test_a_failed_notice_without_a_period_is_never_retried():
    damaged = PastMessage({"kind": KIND_NOTICE, "user_id": 4, "disabled_on": (NOW - DAY).isoformat()}, False)

    assert notices_owed([], [damaged], NOW) == []


def test_a_user_disabled_again_in_a_period_whose_notice_failed_gets_a_new_notice_not_a_retry():
    seen = NOW - 70 * DAY

    assert notices_owed([disabled(5, seen)], [notice(5, seen, went_out=False)], NOW) == [OwedNotice(5, seen, NOW, False)]


def test_a_summary_row_names_the_user_the_period_the_days_and_when():
    seen = NOW - 61 * DAY

    assert summary_rows([disabled(3, seen)], NOW) == {
        (3, seen.isoformat()): {
            "user_id": 3,
            "email": "u3@example.gov",
            "last_seen": seen.isoformat(),
            "days_inactive": 61,
            "disabled_on": NOW.isoformat(),
        }
    }


def test_only_summaries_count_for_what_summaries_owe():
    row = {"user_id": 1, "last_seen": "2026-03-01T00:00:00+00:00", "disabled_on": "2026-05-01T00:00:00+00:00"}
    to_the_admin = PastMessage({"kind": KIND_NOTICE, "recipient_user_id": 9, "user_id": 9}, True)
    past = [to_the_admin, summary(9, [row], went_out=False), to_the_admin]

    assert summary_rows_owed(past) == {9: {(1, row["last_seen"]): row}}


def test_a_summary_that_went_out_with_nothing_owed_leaves_nothing_owed():
    assert summary_rows_owed([summary(9, [], went_out=True)]) == {}


def test_a_warning_falls_due_by_the_threshold_it_is_given():
    seen = NOW - 25 * DAY  # with a 30-day threshold, due in 5 days

    (warning,) = warnings_due([(1, seen)], NOW, threshold=30 * DAY, stages=(7, 1)).values()

    assert (warning.stage, warning.disable_due) == (7, seen + 30 * DAY)


def test_a_warning_record_with_a_missing_or_unreadable_period_or_stage_is_skipped():
    good = {"user_id": 1, "period": NOW.isoformat(), "stage": 7}
    damaged = [{"user_id": 2, "period": None, "stage": 7}, {"user_id": 3, "period": "not a date", "stage": 7}, {"user_id": 4, "stage": 1}]

    assert sent_warning_keys([*damaged, good]) == {(1, NOW, 7)}


# -- notices of an administrator's deactivation ------------------------------------

WINDOW = 7 * DAY


def admin_notice(event_id, user_id, *, went_out):
    details = {"kind": KIND_NOTICE, "user_id": user_id, "period": None, EVENT_KEY: event_id}
    return PastMessage(details, went_out)


def by_admin(event_id, user_id, at):
    return AdminDeactivation(event_id, user_id, at)


def test_an_update_user_event_to_inactive_not_written_by_the_job_is_an_administrators_deactivation():
    at = NOW - DAY
    assert admin_deactivation(7, at, {"user_id": 3, "old_status": "ACTIVE", "new_status": "INACTIVE"}, by_the_job=False) == (
        AdminDeactivation(7, 3, at)
    )


def test_the_jobs_events_reactivations_locks_edits_and_damaged_details_are_not_an_administrators_deactivation():
    at = NOW - DAY
    assert admin_deactivation(7, at, {"user_id": 3, "new_status": "INACTIVE"}, by_the_job=True) is None
    for details in (
        {"user_id": 3, "new_status": "ACTIVE"},
        {"user_id": 3, "new_status": "LOCKED"},
        {"user_id": 3, "changes": {"email": {"old": "a@x", "new": "b@x"}}},
        {"user_id": "3", "new_status": "INACTIVE"},
        {"user_id": True, "new_status": "INACTIVE"},
        {"user_id": 1.5, "new_status": "INACTIVE"},
        {"user_id": 2**31, "new_status": "INACTIVE"},
        ["not", "an", "object"],
        None,
    ):
        assert admin_deactivation(7, at, details, by_the_job=False) is None, details


def test_an_administrators_deactivation_is_owed_one_notice_naming_its_event():
    at = NOW - 2 * DAY
    assert admin_notices_owed([by_admin(7, 3, at)], [], {3: None}, NOW, window=WINDOW) == [
        OwedNotice(3, None, at, False, 7)
    ]


def test_an_administrators_notice_that_went_out_or_may_have_is_never_repeated():
    at = NOW - 2 * DAY
    assert admin_notices_owed([by_admin(7, 3, at)], [admin_notice(7, 3, went_out=True)], {}, NOW, window=WINDOW) == []


def test_an_administrators_failed_notice_is_owed_again_as_a_retry_until_one_goes_out():
    at = NOW - 2 * DAY
    failed = admin_notice(7, 3, went_out=False)
    assert admin_notices_owed([by_admin(7, 3, at)], [failed], {}, NOW, window=WINDOW) == [OwedNotice(3, None, at, True, 7)]
    assert admin_notices_owed([by_admin(7, 3, at)], [failed, admin_notice(7, 3, went_out=True)], {}, NOW, window=WINDOW) == []


def test_an_administrators_deactivation_older_than_the_window_is_owed_nothing():
    assert admin_notices_owed([by_admin(7, 3, NOW - WINDOW)], [], {}, NOW, window=WINDOW) == []
    assert admin_notices_owed([by_admin(7, 3, NOW - WINDOW + DAY)], [], {}, NOW, window=WINDOW) != []


def test_a_user_made_active_again_since_the_deactivation_is_owed_nothing():
    at = NOW - 2 * DAY
    assert admin_notices_owed([by_admin(7, 3, at)], [], {3: at + DAY}, NOW, window=WINDOW) == []
    # A reactivation before the deactivation is older news: the notice is owed.
    assert admin_notices_owed([by_admin(7, 3, at)], [], {3: at - DAY}, NOW, window=WINDOW) == [OwedNotice(3, None, at, False, 7)]


def test_only_the_latest_administrators_deactivation_of_a_user_is_owed_a_notice():
    first, second = NOW - 3 * DAY, NOW - DAY
    owed = admin_notices_owed([by_admin(9, 3, second), by_admin(7, 3, first)], [], {3: None}, NOW, window=WINDOW)
    assert owed == [OwedNotice(3, None, second, False, 9)]


def test_the_notice_of_another_deactivation_does_not_count_as_sent():
    at = NOW - DAY
    owed = admin_notices_owed([by_admin(9, 3, at)], [admin_notice(7, 3, went_out=True)], {}, NOW, window=WINDOW)
    assert owed == [OwedNotice(3, None, at, False, 9)]


def test_a_failed_administrators_notice_is_never_retried_as_one_for_inactivity():
    # Its retry comes from admin_notices_owed, with its own words; notices_owed leaves it alone, whatever its period.
    details = {**admin_notice(7, 3, went_out=False).details, "period": (NOW - 70 * DAY).isoformat(), "disabled_on": NOW.isoformat()}
    assert notices_owed([], [PastMessage(details, False)], NOW) == []


def test_a_user_id_at_either_end_of_the_32_bit_range_is_an_administrators_deactivation():
    at = NOW - DAY
    for user_id in (-(2**31), 2**31 - 1):
        details = {"user_id": user_id, "new_status": "INACTIVE"}
        assert admin_deactivation(7, at, details, by_the_job=False) == AdminDeactivation(7, user_id, at), user_id


def test_a_user_id_below_the_32_bit_range_is_not_an_administrators_deactivation():
    details = {"user_id": -(2**31) - 1, "new_status": "INACTIVE"}

    assert admin_deactivation(7, NOW - DAY, details, by_the_job=False) is None


def test_a_notice_whose_event_id_is_not_an_integer_names_no_deactivation():
    # JSON's true and 1.0 compare equal to event 1 in Python; neither names it.
    at = NOW - DAY
    for event_id in (True, 1.0):
        sent = PastMessage({"kind": KIND_NOTICE, "user_id": 3, "period": None, EVENT_KEY: event_id}, True)
        assert admin_notices_owed([by_admin(1, 3, at)], [sent], {}, NOW, window=WINDOW) == [
            OwedNotice(3, None, at, False, 1)
        ], event_id


def test_a_message_of_another_kind_naming_the_event_is_not_its_notice():
    at = NOW - DAY
    summary_naming_it = PastMessage({"kind": KIND_SUMMARY, "recipient_user_id": 9, EVENT_KEY: 7}, True)

    assert admin_notices_owed([by_admin(7, 3, at)], [summary_naming_it], {}, NOW, window=WINDOW) == [
        OwedNotice(3, None, at, False, 7)
    ]


def test_a_notice_that_went_out_counts_after_messages_that_name_no_deactivation():
    at = NOW - DAY
    jobs_notice = notice(4, NOW - 70 * DAY, went_out=True)

    assert admin_notices_owed([by_admin(7, 3, at)], [jobs_notice, admin_notice(7, 3, went_out=True)], {}, NOW, window=WINDOW) == []


def test_an_administrators_deactivation_at_the_instant_of_the_run_is_owed_a_notice():
    assert admin_notices_owed([by_admin(7, 3, NOW)], [], {}, NOW, window=WINDOW) == [OwedNotice(3, None, NOW, False, 7)]


def test_a_deactivation_outside_the_window_does_not_hide_a_later_one_within_it():
    at = NOW - DAY
    deactivations = [by_admin(5, 2, NOW - 2 * WINDOW), by_admin(7, 3, at)]

    assert admin_notices_owed(deactivations, [], {}, NOW, window=WINDOW) == [OwedNotice(3, None, at, False, 7)]


def test_a_user_made_active_again_at_the_instant_of_the_deactivation_is_owed_nothing():
    at = NOW - 2 * DAY

    assert admin_notices_owed([by_admin(7, 3, at)], [], {3: at}, NOW, window=WINDOW) == []


def test_a_deactivation_whose_notice_went_out_does_not_hide_another_users_owed_one():
    first, second = NOW - 2 * DAY, NOW - DAY
    deactivations = [by_admin(7, 3, first), by_admin(9, 4, second)]

    assert admin_notices_owed(deactivations, [admin_notice(7, 3, went_out=True)], {}, NOW, window=WINDOW) == [
        OwedNotice(4, None, second, False, 9)
    ]


def test_administrators_notices_are_ordered_by_the_moment_of_the_deactivation_then_the_user():
    early, late = NOW - 2 * DAY, NOW - DAY
    deactivations = [by_admin(1, 6, late), by_admin(2, 5, early), by_admin(3, 4, late)]

    owed = admin_notices_owed(deactivations, [], {}, NOW, window=WINDOW)

    assert [(notice.disabled_on, notice.user_id) for notice in owed] == [(early, 5), (late, 4), (late, 6)]
