"""This project's view of each user (user_activity): the last activity that OPS's session cleanup cannot erase.

Kept by database triggers on OPS's user_session and ops_user, whoever writes
them; read by the hourly search through an index; never trusted alone before
a user is disabled.
"""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from freezegun import freeze_time
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from ops_api.models import JobRun, OpsEvent, OpsEventType, RecordStatus, User, UserActivity, UserSession, UserStatus
from ops_api.services.users.accounts import reactivate_user

import factories
from factories import deactivation_service, make_session, make_user, run_job, set_view, view_of

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
LONG_AGO = NOW - 800 * DAY


def last_active_at(session, user) -> datetime | None:
    return view_of(session, user).last_active_at


def test_opening_a_session_records_its_activity_in_the_view(session):
    user = make_user(session, created_on=LONG_AGO)
    make_session(session, user, last_active_at=NOW - 3 * DAY)
    session.commit()

    assert last_active_at(session, user) == NOW - 3 * DAY


def test_activity_written_by_plain_sql_raises_the_views_last_activity(session):
    user = make_user(session, created_on=LONG_AGO)
    user_session = make_session(session, user, last_active_at=NOW - 30 * DAY)
    session.commit()

    # As OPS's request handling writes it: an UPDATE of the session alone.
    session.execute(update(UserSession).where(UserSession.id == user_session.id).values(last_active_at=NOW - 2 * DAY))
    session.commit()

    assert last_active_at(session, user) == NOW - 2 * DAY


def test_older_activity_never_lowers_the_views_last_activity(session):
    user = make_user(session, created_on=LONG_AGO)
    make_session(session, user, last_active_at=NOW - 2 * DAY)
    make_session(session, user, last_active_at=NOW - 90 * DAY)
    session.commit()

    assert last_active_at(session, user) == NOW - 2 * DAY


def test_deleting_every_session_keeps_the_last_activity_and_the_user_safe(session):
    user = make_user(session, created_on=LONG_AGO)
    make_session(session, user, last_active_at=NOW - 10 * DAY, is_active=False)
    session.commit()
    # OPS's cleanup: ended sessions go.
    session.execute(delete(UserSession).where(UserSession.is_active.is_(False)))
    session.commit()

    with freeze_time(NOW):
        report = run_job(session)

    assert last_active_at(session, user) == NOW - 10 * DAY
    assert report.candidates == []
    assert session.get(User, user.id).status is UserStatus.ACTIVE


def test_a_lagging_view_never_disables_someone_whose_session_shows_recent_activity(session):
    user = make_user(session, created_on=LONG_AGO)
    make_session(session, user, last_active_at=NOW - 5 * DAY)
    session.commit()
    # Damage the view (a trigger switched off by hand, say): it claims 200 days.
    set_view(session, user, last_active_at=NOW - 200 * DAY)
    session.commit()

    with freeze_time(NOW):
        report = run_job(session)

    assert report.candidates == [] and report.disabled == []
    assert session.get(User, user.id).status is UserStatus.ACTIVE


def test_activity_stamped_in_the_future_counts_from_the_run_that_first_saw_it(session):
    user = make_user(session, created_on=LONG_AGO)
    future = make_session(session, user, last_active_at=NOW + 400 * DAY)
    session.commit()

    with freeze_time(NOW):
        run_job(session)

    assert last_active_at(session, user) == NOW
    assert session.get(UserSession, future.id).last_active_at == NOW + 400 * DAY  # OPS's row is never rewritten
    # One window later, with nothing new, the user is due like anyone else.
    with freeze_time(NOW + 60 * DAY):
        report = run_job(session)
    assert report.disabled == [user.id]


def test_a_future_stamp_left_only_in_the_view_counts_from_when_it_was_first_seen_too(session):
    user = make_user(session, created_on=LONG_AGO)
    make_session(session, user, last_active_at=NOW - 100 * DAY)
    session.commit()
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    set_view(session, user, last_active_at=NOW + 30 * DAY)
    session.commit()

    with freeze_time(NOW):
        run_job(session)

    assert last_active_at(session, user) == NOW


def test_a_session_opened_for_a_disabled_account_is_stored_ended(session):
    user = make_user(session, created_on=LONG_AGO, status=UserStatus.INACTIVE)
    session.commit()

    session.execute(
        insert(UserSession).values(user_id=user.id, ip_address="10.0.0.9", is_active=True, last_active_at=NOW)
    )
    session.commit()

    assert session.scalars(select(UserSession.is_active).where(UserSession.user_id == user.id)).all() == [False]


def test_the_hourly_search_can_read_the_index_rather_than_every_user(session):
    query = deactivation_service(session)._inactive_users_query(as_of=NOW, now=NOW)
    bind = session.get_bind()
    translate = bind.get_execution_options().get("schema_translate_map")
    compiled = query.compile(bind, compile_kwargs={"literal_binds": True}, schema_translate_map=translate, render_schema_translate=True)
    if bind.dialect.name == "sqlite":
        plan = " | ".join(row[3] for row in session.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}")))
        assert "SCAN ops_user" not in plan and "SCAN user_activity" not in plan
    else:
        # An empty table is cheapest to scan; forbid that to see which index the search can use.
        session.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = " | ".join(row[0] for row in session.execute(sa.text(f"EXPLAIN {compiled}")))
        session.rollback()
    assert "ix_user_activity_is_active_watermark" in plan


@pytest.mark.postgres_only
def test_activity_racing_a_run_never_deadlocks_it_nor_leaves_an_active_session_on_a_disabled_account(session, database_url):
    """OPS-style activity writes (session first, then the trigger locks the user) against the job's locks."""
    due_users = 120
    long_ago = datetime.now(timezone.utc) - 400 * DAY
    users = [make_user(session, created_on=long_ago) for _ in range(due_users)]
    session_ids = [make_session(session, user, last_active_at=long_ago + DAY).id for user in users]
    session.commit()
    engine = factories.open_engine(database_url, pool_size=6)
    stop = threading.Event()
    errors: list[str] = []
    writes = [0]

    def record_activity() -> None:
        rng = random.Random(11)
        while not stop.is_set():
            session_id = rng.choice(session_ids)
            try:
                # One request, one session, one transaction, as OPS records activity. (Several
                # sessions in one transaction, in random order, could deadlock the writers with
                # each other, whatever the job does.)
                with engine.begin() as connection:
                    # Still old activity, so the users stay due and the job must take both locks.
                    connection.execute(
                        update(UserSession).where(UserSession.id == session_id).values(
                            last_active_at=long_ago + DAY + timedelta(seconds=rng.randint(1, 3600))
                        )
                    )
                writes[0] += 1
            except sa.exc.DBAPIError as exc:
                errors.append(str(exc.orig).splitlines()[0])

    writers = [threading.Thread(target=record_activity) for _ in range(3)]
    for writer in writers:
        writer.start()
    try:
        with Session(engine) as job_session:
            report = run_job(job_session, max_disable=0)
    finally:
        stop.set()
        for writer in writers:
            writer.join(timeout=60)
    engine.dispose()

    assert writes[0] > 0
    assert not [e for e in errors if "deadlock" in e.lower()], errors[:3]
    assert not [f for f in report.failed if "deadlock" in f.error.lower()], report.failed[:3]
    assert len(report.disabled) == due_users and report.failed == []
    session.expire_all()
    left_open = session.execute(
        select(sa.func.count()).select_from(UserSession).join(User, User.id == UserSession.user_id)
        .where(User.status != UserStatus.ACTIVE, UserSession.is_active.is_(True))
    ).scalar()
    assert left_open == 0
    events = session.scalars(select(OpsEvent).where(OpsEvent.event_type == OpsEventType.UPDATE_USER)).all()
    assert len(events) == due_users


def test_a_reactivation_made_by_other_code_is_stamped_in_the_view_by_the_database(session):
    user = make_user(session, created_on=LONG_AGO, status=UserStatus.INACTIVE)
    make_session(session, user, last_active_at=NOW - 300 * DAY, is_active=False)
    session.commit()
    before = datetime.now(timezone.utc)

    # Code that knows nothing of this project (OPS's own admin path) makes the account ACTIVE.
    session.execute(update(User).where(User.id == user.id).values(status=UserStatus.ACTIVE))
    session.commit()

    stamped = view_of(session, user).reactivated_on
    assert stamped is not None and before - timedelta(seconds=5) <= stamped <= datetime.now(timezone.utc) + timedelta(seconds=5)
    report = run_job(session)  # the real clock
    assert report.candidates == []


def test_this_projects_own_reactivation_keeps_its_python_timestamp(session, user_admin):
    user = make_user(session, created_on=LONG_AGO, status=UserStatus.INACTIVE)
    session.commit()

    with freeze_time(NOW):
        reactivate_user(session, user, actor=user_admin, reason="back from leave")
        session.commit()

    assert view_of(session, user).reactivated_on == NOW


def test_a_user_the_view_lost_is_found_again_by_the_daily_reconciliation_and_disabled(session):
    user = make_user(session, created_on=LONG_AGO)
    session.commit()
    session.execute(delete(UserActivity).where(UserActivity.user_id == user.id))  # a trigger that met an error
    session.commit()

    with freeze_time(NOW):
        report = run_job(session)

    assert report.reconciled is True
    assert report.disabled == [user.id]


def test_an_account_made_active_unseen_counts_as_reactivated_when_the_reconciliation_finds_it(session):
    user = make_user(session, created_on=LONG_AGO, status=UserStatus.INACTIVE)
    session.commit()
    # OPS made the account ACTIVE, and the view never heard of it.
    session.execute(update(User).where(User.id == user.id).values(status=UserStatus.ACTIVE))
    session.execute(update(UserActivity).where(UserActivity.user_id == user.id).values(is_active=False, reactivated_on=None))
    session.commit()

    with freeze_time(NOW):
        counts = deactivation_service(session).reconcile_view(NOW)

    view = view_of(session, user)
    assert counts == {"added": 0, "status": 1, "created_on": 0, "removed": 0}
    assert (view.is_active, view.reactivated_on) == (True, NOW)


def test_the_reconciliation_removes_the_view_of_users_that_are_gone_and_corrects_creation_dates(session):
    kept = make_user(session, created_on=LONG_AGO)
    session.commit()
    session.add(UserActivity(user_id=999_999, is_active=True, created_on=LONG_AGO))
    set_view(session, kept, created_on=NOW - DAY)
    session.commit()

    with freeze_time(NOW):
        counts = deactivation_service(session).reconcile_view(NOW)

    assert counts == {"added": 0, "status": 0, "created_on": 1, "removed": 1}
    assert view_of(session, kept).created_on == LONG_AGO
    assert session.get(UserActivity, 999_999) is None


def test_a_real_run_reconciles_once_a_day(session):
    with freeze_time(NOW):
        first = run_job(session)
    with freeze_time(NOW + timedelta(hours=23)):
        run_job(session)
    session.add_all([JobRun(started_at=NOW, status=RecordStatus.SUCCESS, outcome="completed", dry_run=False, reconciled=True)])
    session.commit()
    with freeze_time(NOW + timedelta(hours=23)):
        same_day = run_job(session)
    with freeze_time(NOW + timedelta(hours=24)):
        next_day = run_job(session)
    with freeze_time(NOW + timedelta(hours=25)):
        dry = run_job(session, dry_run=True)

    assert (first.reconciled, same_day.reconciled, next_day.reconciled, dry.reconciled) == (True, False, True, False)
