"""The e-mail's send lock (PostgreSQL): one sender per OPS schema, and schemas never block each other."""

from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from ops_api.advisory_lock import LockPurpose
from ops_api.models import OpsEvent
from ops_api.services.mail.notifications import NotificationService

import factories
from factories import deactivation_service, mail_settings, make_session, make_user
from smtp_server import smtp_server

DAY = timedelta(days=1)
NOW = datetime(2026, 9, 1, 12, 0, tzinfo=timezone.utc)


def run_while_held(session, database_url, schema):
    """Send the e-mail due now while another connection holds the send lock of ``schema``."""
    # Due in 3 days: the 7-day warning is owed.
    user = make_user(session, email="soon@example.gov", created_on=NOW - 400 * DAY)
    make_session(session, user, last_active_at=NOW - 57 * DAY, is_active=False)
    session.commit()
    with smtp_server() as server, factories.held_lock(database_url, LockPurpose.SEND, schema=schema):
        settings = mail_settings(host="127.0.0.1", port=server.port, security="none", timeout_seconds=5, sender="no-reply@ops.example.gov")
        with freeze_time(NOW, real_asyncio=True):
            report = NotificationService(session, settings, deactivation_service(session)).run()
        received = server.mailbox.take()
    return report, received


@pytest.mark.postgres_only
def test_a_run_that_finds_the_send_lock_taken_sends_nothing(session, database_url, test_schema):
    report, received = run_while_held(session, database_url, test_schema)

    assert report.skipped_reason == "skipped: another run is sending e-mail"
    assert received == []
    assert session.scalar(select(func.count()).select_from(OpsEvent)) == 0


@pytest.mark.postgres_only
def test_a_sender_in_another_schema_does_not_block_this_one(session, database_url, test_schema):
    report, received = run_while_held(session, database_url, f"{test_schema}_other")

    assert report.skipped_reason is None
    assert [n.recipient for n in report.sent] == ["soon@example.gov"]
    assert len(received) == 1
