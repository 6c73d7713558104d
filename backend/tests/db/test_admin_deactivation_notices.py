"""Which deactivations by an administrator the job's mail step owes a notice, read from OPS's ops_event.

Planning only (no SMTP server): the messages the next run would send, on
both databases. Sending, retries and the evidence report are in
tests/process/test_inactivity_notifications.py and test_deactivation_report.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import text

from ops_api.domain.notification_policy import EVENT_KEY, KIND_NOTICE
from ops_api.models import OpsEvent, OpsEventType, User, UserStatus
from ops_api.services.mail.notifications import NotificationService
from ops_api.services.users.accounts import deactivate_user, lock_user, update_user_profile
from ops_api.sql import qualified

from factories import deactivation_service, mail_settings, make_user

DAY = timedelta(days=1)
ADMIN_AT = datetime(2026, 9, 1, 12, 40, tzinfo=timezone.utc)
RUN_AT = datetime(2026, 9, 1, 13, 0, tzinfo=timezone.utc)


def planned_notices(session) -> list[tuple[int | None, str, Any]]:
    """(user, subject, event) of each notice the run at RUN_AT would send."""
    with freeze_time(RUN_AT):
        service = NotificationService(session, mail_settings(host="127.0.0.1", product_name="OPS"), deactivation_service(session))
        plan = service.plan()
    session.rollback()
    return [(n.user_id, n.subject, n.details.get(EVENT_KEY)) for n in plan if n.kind == KIND_NOTICE]


def user(session, email: str) -> User:
    made = make_user(session, email=email, created_on=ADMIN_AT - 30 * DAY)
    session.commit()
    return made


def event_at(session, details: Any, *, created_by: int | None) -> int:
    """An UPDATE_USER event written straight into OPS's table (OPS's own code, or a bad write)."""
    event = OpsEvent(event_type=OpsEventType.UPDATE_USER, event_details=details, created_on=ADMIN_AT, created_by=created_by)
    session.add(event)
    session.commit()
    return event.id


def test_an_administrators_deactivation_is_owed_a_notice_with_its_own_words(session, user_admin):
    leaving = user(session, "leaving@example.gov")
    with freeze_time(ADMIN_AT):
        event = deactivate_user(session, leaving, actor=user_admin, reason="left the agency")
        session.commit()

    assert planned_notices(session) == [(leaving.id, "OPS: your account was disabled by an administrator", event.id)]


def test_a_lock_or_a_profile_edit_by_an_administrator_is_owed_no_notice(session, user_admin):
    locked, edited = user(session, "locked@example.gov"), user(session, "edited@example.gov")
    with freeze_time(ADMIN_AT):
        lock_user(session, locked, actor=user_admin, reason="suspicious sign-ins")
        update_user_profile(session, edited, actor=user_admin, changes={"first_name": "Edith"})
        session.commit()

    assert planned_notices(session) == []


def test_a_deactivation_written_by_ops_without_an_actor_is_owed_a_notice(session):
    """OPS's own code may write the event with no created_by: it is not the job's, so the user is told."""
    leaving = user(session, "leaving@example.gov")
    leaving.status = UserStatus.INACTIVE
    session.commit()
    event_id = event_at(session, {"user_id": leaving.id, "old_status": "ACTIVE", "new_status": "INACTIVE"}, created_by=None)

    assert planned_notices(session) == [(leaving.id, "OPS: your account was disabled by an administrator", event_id)]


def test_an_event_written_by_the_system_admin_is_the_jobs_and_owed_no_second_notice(session, system_admin):
    leaving = user(session, "leaving@example.gov")
    with freeze_time(ADMIN_AT):
        deactivate_user(session, leaving, actor=system_admin, reason="Automatically disabled: inactive for 60 days")
        session.commit()

    assert planned_notices(session) == []


@pytest.mark.parametrize(
    "details",
    [
        {"user_id": "abc", "new_status": "INACTIVE"},
        {"user_id": 2**40, "new_status": "INACTIVE"},
        {"new_status": "INACTIVE"},
        ["user_id", 1],
        None,
    ],
    ids=["text-id", "huge-id", "missing-id", "not-an-object", "empty"],
)
def test_a_damaged_event_is_passed_over_and_the_other_notices_still_planned(session, user_admin, details):
    leaving = user(session, "leaving@example.gov")
    event_at(session, details, created_by=user_admin.id)
    with freeze_time(ADMIN_AT):
        event = deactivate_user(session, leaving, actor=user_admin, reason="left the agency")
        session.commit()

    assert [(user_id, event_id) for user_id, _, event_id in planned_notices(session)] == [(leaving.id, event.id)]


@pytest.mark.sqlite_only
def test_malformed_json_text_in_sqlite_is_passed_over(session, user_admin):
    """SQLite keeps JSON as text, so an event's details may not be JSON at all."""
    leaving = user(session, "leaving@example.gov")
    damaged = event_at(session, {"user_id": leaving.id, "new_status": "INACTIVE"}, created_by=user_admin.id)
    session.execute(
        text(f"UPDATE {qualified(session, 'ops_event')} SET event_details = :details WHERE id = :id"),
        {"details": '{"new_status": "INACTIVE", ', "id": damaged},
    )
    session.commit()
    with freeze_time(ADMIN_AT):
        event = deactivate_user(session, leaving, actor=user_admin, reason="left the agency")
        session.commit()

    assert [(user_id, event_id) for user_id, _, event_id in planned_notices(session)] == [(leaving.id, event.id)]


def test_events_older_than_the_window_bound_the_read_and_the_window_is_still_read_whole(session, user_admin):
    # OPS numbers its events as it adds them: the newest one older than the window bounds the read.
    old, recent = user(session, "old@example.gov"), user(session, "recent@example.gov")
    with freeze_time(ADMIN_AT - 8 * DAY):
        deactivate_user(session, old, actor=user_admin, reason="left last month")
        session.commit()
    with freeze_time(ADMIN_AT - 7 * DAY + timedelta(hours=1)):  # just inside the 7-day window of RUN_AT
        event = deactivate_user(session, recent, actor=user_admin, reason="left this week")
        session.commit()

    assert [(user_id, event_id) for user_id, _, event_id in planned_notices(session)] == [(recent.id, event.id)]
