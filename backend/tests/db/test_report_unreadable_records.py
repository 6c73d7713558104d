"""A damaged row in OPS's ops_event never breaks the evidence: the report, its CSV, its page and the API
count it and list it as an unreadable record, and read every other row as before."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import text

from ops_api.models import OpsEvent, OpsEventType, User
from ops_api.services.report.deactivation_report import build_report
from ops_api.services.report.report_html import render_evidence_page
from ops_api.services.users.accounts import deactivate_user
from ops_api.sql import qualified

from api_support import bearer
from cli_runner import invoke
from factories import make_user

DAY = timedelta(days=1)
T0 = datetime(2026, 7, 1, tzinfo=timezone.utc)
DAMAGED_AT = T0 + DAY + timedelta(hours=5)
PERIOD = ("--from", "2026-07-01", "--to", "2026-07-03")


def damaged_event(session, details: Any) -> int:
    """An UPDATE_USER event to INACTIVE whose details are ``details``, as a bad write to OPS's table leaves it."""
    event = OpsEvent(event_type=OpsEventType.UPDATE_USER, event_details=details, created_on=DAMAGED_AT)
    session.add(event)
    session.commit()
    return event.id


@pytest.fixture
def good_deactivation(session, user_admin) -> User:
    user = make_user(session, email="gone@example.gov", created_on=T0 - 100 * DAY)
    session.commit()
    with freeze_time(T0 + DAY):
        deactivate_user(session, user, actor=user_admin, reason="left the agency")
        session.commit()
    return user


@pytest.mark.parametrize(
    ("details", "problem"),
    [
        ({"user_id": "abc", "new_status": "INACTIVE"}, "event_details.user_id is not a whole number"),
        ({"new_status": "INACTIVE"}, "event_details.user_id is not a whole number"),
        ({"user_id": 1.5, "new_status": "INACTIVE"}, "event_details.user_id is not a whole number"),
        ({"user_id": True, "new_status": "INACTIVE"}, "event_details.user_id is not a whole number"),
        ({"user_id": 10**20, "new_status": "INACTIVE"}, "event_details.user_id is outside the range of a user id"),
        ({"user_id": 7, "actor_id": "admin", "new_status": "INACTIVE"}, "event_details.actor_id is not a whole number"),
        ({"user_id": 7, "actor_id": 2**40, "new_status": "INACTIVE"}, "event_details.actor_id is outside the range of a user id"),
    ],
    ids=["text-id", "missing-id", "fraction-id", "boolean-id", "huge-id", "text-actor", "huge-actor"],
)
def test_an_event_with_details_the_report_cannot_read_is_listed_as_unreadable(session, good_deactivation, details, problem):
    event_id = damaged_event(session, details)

    report = build_report(session, start=T0, end=T0 + 2 * DAY, now=T0 + 3 * DAY, threshold_days=60)

    assert report.unreadable == [{"table": "ops_event", "id": event_id, "problem": problem}]
    assert report.to_dict()["summary"]["unreadable_records"] == 1
    assert [d["email"] for d in report.deactivations] == ["gone@example.gov"]


@pytest.mark.parametrize(
    ("details", "problem"),
    [(["INACTIVE"], "event_details is not a JSON object"), ("INACTIVE", "event_details is not a JSON object"), (None, "event_details is empty")],
    ids=["array", "string", "null"],
)
def test_an_event_whose_details_are_not_an_object_is_listed_as_unreadable(session, good_deactivation, details, problem):
    """Such details might hide a deactivation: they are counted, never taken for absent."""
    event_id = damaged_event(session, details)

    report = build_report(session, start=T0, end=T0 + 2 * DAY, now=T0 + 3 * DAY, threshold_days=60)

    assert report.unreadable == [{"table": "ops_event", "id": event_id, "problem": problem}]
    assert [d["email"] for d in report.deactivations] == ["gone@example.gov"]


def test_the_csv_lists_an_unreadable_record_with_its_id(app, session, good_deactivation):
    event_id = damaged_event(session, {"user_id": "abc", "new_status": "INACTIVE"})

    result = invoke(app, "inactive-users-report", *PERIOD, now=T0 + 3 * DAY)

    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    unreadable = [row for row in rows if row["record"] == "unreadable record"]
    assert [(row["table"], row["record_id"], row["problem"]) for row in unreadable] == [
        ("ops_event", str(event_id), "event_details.user_id is not a whole number")
    ]
    assert "gone@example.gov" in result.stdout


def test_the_api_answers_200_and_lists_an_unreadable_record(client, admin_token, session, good_deactivation):
    event_id = damaged_event(session, {"user_id": "abc", "new_status": "INACTIVE"})

    response = client.get("/api/v1/reports/deactivations?from=2026-07-01&to=2026-07-03", headers=bearer(admin_token))

    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["summary"]["unreadable_records"] == 1
    assert body["unreadable"] == [{"table": "ops_event", "id": event_id, "problem": "event_details.user_id is not a whole number"}]
    assert [d["email"] for d in body["deactivations"]] == ["gone@example.gov"]


def test_the_page_counts_and_lists_an_unreadable_record(session, good_deactivation):
    event_id = damaged_event(session, {"user_id": "abc", "new_status": "INACTIVE"})
    report = build_report(session, start=T0, end=T0 + 2 * DAY, now=T0 + 3 * DAY, threshold_days=60)

    page = render_evidence_page(report, environment="test", version="test")

    section = page[page.index('<table id="unreadable">') :]
    section = section[: section.index("</table>")]
    assert f'<td data-label="Record id" class="num">{event_id}</td>' in section
    assert "event_details.user_id is not a whole number" in section
    assert "<dt>Unreadable records</dt><dd>1</dd>" in page


def test_the_page_says_every_record_was_readable_when_none_was_damaged(session, good_deactivation):
    report = build_report(session, start=T0, end=T0 + 2 * DAY, now=T0 + 3 * DAY, threshold_days=60)

    page = render_evidence_page(report, environment="test", version="test")

    assert "Every record of the period was readable." in page
    assert "<dt>Unreadable records</dt><dd>0</dd>" in page


@pytest.mark.sqlite_only
def test_malformed_json_text_in_sqlite_is_listed_as_unreadable(session, good_deactivation):
    """SQLite keeps JSON as text, so a row may not be JSON at all (PostgreSQL's jsonb cannot hold such text)."""
    event_id = damaged_event(session, {"user_id": 1, "new_status": "INACTIVE"})
    table = qualified(session, "ops_event")
    session.execute(text(f"UPDATE {table} SET event_details = :details WHERE id = :id"), {"details": '{"new_status": "INACTIVE", ', "id": event_id})
    session.commit()

    report = build_report(session, start=T0, end=T0 + 2 * DAY, now=T0 + 3 * DAY, threshold_days=60)

    assert report.unreadable == [{"table": "ops_event", "id": event_id, "problem": "event_details is not valid JSON"}]
    assert [d["email"] for d in report.deactivations] == ["gone@example.gov"]
