"""Run-summary events and the health check built on them, at the service level with a frozen clock."""

from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from ops_api.models import RecordStatus, User, UserStatus
from ops_api.services.job import job_runs
from ops_api.services.job.job_runs import format_duration, job_health, parse_duration, record_failed_run
from ops_api.services.users.user_deactivation import DeactivationReport

import factories
from factories import make_session, make_user, refuse_deactivation_of, remove_refusal, run_job

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)


summary_events = factories.run_records


def due_user(session, *, days=90):
    user = make_user(session, created_on=NOW - 400 * DAY)
    make_session(session, user, last_active_at=NOW - days * DAY)
    return user


def run_and_record(session, **kwargs):
    """A run of the job, recorded as the job records it; its report."""
    return run_job(session, **kwargs)


def could_not_run(**overrides):
    """The report of a real run that ends before it found anyone."""
    return DeactivationReport(**{"as_of": NOW, "threshold_days": 60, "dry_run": False, "max_disable": 50, **overrides})


@freeze_time(NOW)
def test_a_real_run_leaves_one_success_event_with_its_counts(session, system_admin):
    first, second = due_user(session), due_user(session, days=61)
    session.commit()

    run_and_record(session)

    (event,) = summary_events(session)
    assert event.status is RecordStatus.SUCCESS
    assert event.started_at == NOW
    assert event.outcome == "completed" and event.dry_run is False
    assert (event.candidates, event.disabled, event.failed, event.no_longer_due) == (2, 2, 0, 0)
    assert event.as_of == NOW and event.finished_at == NOW
    assert event.threshold_days == 60 and event.max_disable == 50
    assert event.skipped_reason is None and event.errors == []
    assert event.duration_seconds >= 0
    assert event.created_by == system_admin.id  # the job acts as the System Admin
    assert {u.status for u in session.scalars(select(User).where(User.id.in_([first.id, second.id])))} == {UserStatus.INACTIVE}


@freeze_time(NOW)
def test_a_dry_run_leaves_one_success_event_marked_dry_and_disables_nobody(session, system_admin):
    user = due_user(session)
    session.commit()

    run_and_record(session, dry_run=True, as_of=NOW + 10 * DAY)

    (event,) = summary_events(session)
    assert event.status is RecordStatus.SUCCESS
    assert event.dry_run is True
    assert event.as_of == NOW + 10 * DAY
    assert event.candidates == 1 and event.disabled == 0
    session.refresh(user)
    assert user.status is UserStatus.ACTIVE


@freeze_time(NOW)
def test_a_failed_user_leaves_a_failed_event_naming_the_error(session, system_admin):
    blocker, other = due_user(session), due_user(session, days=70)
    session.commit()
    refuse_deactivation_of(session, blocker.id)
    try:
        run_and_record(session)
    finally:
        remove_refusal(session)

    (event,) = summary_events(session)
    assert event.status is RecordStatus.FAILED
    assert event.outcome == "failed"
    assert (event.disabled, event.failed) == (1, 1)
    (error,) = event.errors
    assert error["user_id"] == blocker.id and "refused by test trigger" in error["error"]
    assert session.get(User, other.id).status is UserStatus.INACTIVE


@freeze_time(NOW)
def test_a_refusal_by_the_cap_leaves_a_failed_event(session, system_admin):
    due_user(session), due_user(session)
    session.commit()

    run_and_record(session, max_disable=1)

    (event,) = summary_events(session)
    assert event.status is RecordStatus.FAILED
    assert event.outcome == "refused_by_cap"
    assert "safety cap" in event.skipped_reason


@freeze_time(NOW)
def test_the_failed_event_of_a_run_that_could_not_run_survives_the_rollback_of_its_work(session, system_admin):
    user = due_user(session)
    session.commit()
    user.first_name = "half-done work"  # uncommitted work of the run that failed
    session.flush()

    event_id = record_failed_run(
        session, could_not_run(), error="ProgrammingError: relation missing", started_at=NOW - timedelta(seconds=3)
    )

    (event,) = summary_events(session)
    assert event.id == event_id
    assert event.status is RecordStatus.FAILED
    assert event.outcome == "failed" and event.dry_run is False
    assert event.errors == [{"user_id": None, "error": "ProgrammingError: relation missing"}]
    assert event.duration_seconds == 3.0
    assert session.get(User, user.id).first_name == "Person"  # the run's work was rolled back


# -- health -------------------------------------------------------------------


def test_with_no_run_on_record_the_job_is_unhealthy(session):
    health = job_health(session, now=NOW)

    assert health.healthy is False and health.status == "never_succeeded"
    assert health.last_success_at is None and health.to_dict()["age_seconds"] is None
    assert "no successful real run" in health.describe()


def test_a_recent_real_run_is_healthy_and_a_stale_one_is_not(session, system_admin):
    with freeze_time(NOW):
        run_and_record(session)

    fresh = job_health(session, now=NOW + timedelta(minutes=90))
    stale = job_health(session, now=NOW + timedelta(hours=2, seconds=1))

    assert fresh.healthy is True and fresh.status == "ok"
    assert fresh.last_success_at == NOW
    assert fresh.to_dict()["age_seconds"] == 90 * 60
    assert "1h 30m ago (max age 2h)" in fresh.describe()
    assert stale.healthy is False and stale.status == "stale"
    assert job_health(session, now=NOW + 2 * DAY, max_age=3 * DAY).healthy is True


def test_dry_runs_do_not_count_as_a_successful_run(session, system_admin):
    with freeze_time(NOW - 5 * DAY):
        run_and_record(session)
    with freeze_time(NOW):
        run_and_record(session, dry_run=True)

    health = job_health(session, now=NOW + timedelta(minutes=5))

    assert health.healthy is False and health.status == "stale"
    assert health.last_success_at == NOW - 5 * DAY


def test_failed_refused_and_could_not_run_runs_do_not_count_but_are_reported(session, system_admin):
    with freeze_time(NOW - 3 * DAY):
        run_and_record(session)
    with freeze_time(NOW - timedelta(hours=1)):
        due_user(session), due_user(session)
        session.commit()
        run_and_record(session, max_disable=1)
    with freeze_time(NOW):
        record_failed_run(session, could_not_run(), error="boom", started_at=NOW)

    health = job_health(session, now=NOW)

    assert health.healthy is False
    assert health.last_success_at == NOW - 3 * DAY
    assert (health.last_run_at, health.last_run_outcome) == (NOW, "failed")
    assert "latest real run: failed" in health.describe()


@pytest.mark.postgres_only
def test_a_run_skipped_by_the_lock_does_not_count(session, system_admin, database_url):

    with factories.held_lock(database_url), freeze_time(NOW):
        report = run_and_record(session)

    (event,) = summary_events(session)
    assert report.skipped_by_lock
    assert event.status is RecordStatus.SUCCESS and event.outcome == "skipped"
    health = job_health(session, now=NOW)
    assert health.healthy is False and health.status == "never_succeeded"
    assert health.last_run_outcome == "skipped"


def test_health_reads_only(session, system_admin):
    with freeze_time(NOW):
        run_and_record(session)
    before = len(summary_events(session))

    job_health(session, now=NOW)

    assert len(summary_events(session)) == before


def test_max_age_must_be_positive(session):
    with pytest.raises(ValueError):
        job_health(session, max_age=timedelta(0), now=NOW)


# -- durations ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90m", timedelta(minutes=90)), ("2h", timedelta(hours=2)), ("1d", DAY), ("45s", timedelta(seconds=45)), (" 3H ", timedelta(hours=3))],
)
def test_durations_are_a_number_and_a_unit(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "2", "h", "2x", "-1h", "0m", "1.5h", "2 hours", "1h30m"])
def test_other_durations_are_refused(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_durations_render_short():
    assert [format_duration(v) for v in (timedelta(hours=2), timedelta(minutes=65), timedelta(seconds=42), 3 * DAY + timedelta(hours=4, minutes=1))] == [
        "2h",
        "1h 5m",
        "42s",
        "3d 4h",
    ]
    assert job_runs.DEFAULT_MAX_AGE == parse_duration(job_runs.DEFAULT_MAX_AGE_TEXT)


def test_a_run_whose_record_cannot_be_written_exits_1_after_doing_its_work(app, session):
    user = due_user(session)
    session.commit()
    factories.refuse_run_records(session)

    try:
        with freeze_time(NOW):
            result = app.test_cli_runner().invoke(args=["disable-inactive-users", "--no-email"])
    finally:
        factories.remove_run_record_refusal(session)

    assert result.exit_code == 1
    assert "could not be recorded" in result.stderr
    session.expire_all()
    assert session.get(User, user.id).status is UserStatus.INACTIVE
    assert summary_events(session) == []
