"""Runs that overlap: each due user is disabled exactly once, with exactly one event."""

import json
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import insert, select

from ops_api.clock import utcnow
from ops_api.models import OpsDBHistory, OpsEvent, OpsEventType, User, UserStatus

import factories
from cli_runner import invoke, start_flask

DAY = timedelta(days=1)


def add_due_users(session, how_many):
    long_ago = utcnow() - 400 * DAY
    session.execute(
        insert(User),
        [
            {"email": f"due{i}@example.gov", "status": UserStatus.ACTIVE, "created_on": long_ago, "updated_on": long_ago}
            for i in range(how_many)
        ],
    )
    session.commit()
    return set(session.scalars(select(User.id)))


def assert_each_disabled_exactly_once(session, due_ids):
    session.expire_all()
    statuses = dict(session.execute(select(User.id, User.status)).all())
    assert all(statuses[uid] is UserStatus.INACTIVE for uid in due_ids)
    events = session.scalars(select(OpsEvent).where(OpsEvent.event_type == OpsEventType.UPDATE_USER)).all()
    per_user = Counter(e.event_details["user_id"] for e in events)
    assert set(per_user) == due_ids
    assert set(per_user.values()) == {1}
    history = session.scalars(
        select(OpsDBHistory).where(OpsDBHistory.class_name == "User", OpsDBHistory.event_type == "UPDATED")
    ).all()
    status_rows = Counter(int(h.row_key) for h in history if "status" in (h.changes or {}))
    assert set(status_rows) == due_ids and set(status_rows.values()) == {1}


@pytest.mark.parametrize("processes", [2, 5])
def test_runs_started_together_disable_each_due_user_exactly_once(session, database_url, processes):
    # 1,000 due users on PostgreSQL; SQLite serialises every write, so fewer keep the run short.
    due_ids = add_due_users(session, 1000 if database_url.startswith("postgresql") else 200)

    runs = [
        start_flask("disable-inactive-users", "--max-disable", "0", "--format", "json", database_url=database_url)
        for _ in range(processes)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    results = [(run.returncode, out, err) for run, (out, err) in zip(runs, outputs, strict=True)]

    assert [code for code, _, _ in results] == [0] * processes, [err[-500:] for _, _, err in results]
    reports = [json.loads(out) for _, out, _ in results]
    disabled = [uid for report in reports for uid in report["disabled"]]
    assert sorted(disabled) == sorted(due_ids)  # nobody twice, nobody missed
    for report in reports:
        assert report["failed"] == []
        assert report["skipped_reason"] in (None, "skipped: another run is in progress")
    assert_each_disabled_exactly_once(session, due_ids)


def run_while_lock_is_held(app, database_url, *args, schema=None, holder=None):
    """Run the job in process while a connection of its own holds the run lock, as another run would.

    ``schema`` names the schema the holder's lock is for (default: the test's own); ``holder`` is the
    engine it holds it on (default: one aimed like the application's).
    """
    try:
        with factories.held_lock(database_url, schema=schema, engine=holder):
            return invoke(app, "disable-inactive-users", *args, "--format", "json")
    finally:
        if holder is not None:
            holder.dispose()


@pytest.mark.postgres_only
def test_a_run_while_another_holds_the_lock_is_skipped_and_touches_nothing(app, session, database_url):
    add_due_users(session, 3)

    result = run_while_lock_is_held(app, database_url)

    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["skipped_reason"] == "skipped: another run is in progress"
    assert report["disabled"] == []
    session.expire_all()
    assert set(session.scalars(select(User.status))) == {UserStatus.ACTIVE}
    assert session.scalars(select(OpsEvent)).all() == []  # nothing in OPS's tables
    (run,) = factories.run_records(session)
    assert run.outcome == "skipped" and run.disabled == 0
    assert "skipped" in result.stderr


@pytest.mark.postgres_only
def test_the_lock_is_released_when_the_run_ends(app, session, database_url):
    # In process, the run's connection goes back to the pool instead of closing: only an unlock frees the lock.
    add_due_users(session, 1)
    assert invoke(app, "disable-inactive-users").exit_code == 0

    assert factories.run_lock_free(database_url) is True


@pytest.mark.postgres_only
def test_a_dry_run_previews_even_while_a_run_holds_the_lock(app, session, database_url):
    add_due_users(session, 2)

    result = run_while_lock_is_held(app, database_url, "--dry-run")

    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert len(report["candidates"]) == 2 and report["skipped_reason"] is None


def test_a_run_that_loses_the_race_to_create_the_system_admin_uses_the_winners(session, database_url, monkeypatch):
    from ops_api.services.users import user_deactivation
    from ops_api.services.users.accounts import SYSTEM_ADMIN_OIDC_ID, get_or_create_system_admin

    due_ids = add_due_users(session, 2)
    other_run = factories.open_engine(database_url)
    calls = []

    def racing_get_or_create(run_session):
        calls.append(1)
        if len(calls) == 1:
            # Between this run's look-up (nobody) and its insert, another run commits the admin.
            assert run_session.scalar(select(User).where(User.oidc_id == SYSTEM_ADMIN_OIDC_ID)) is None
            with other_run.begin() as connection:
                connection.execute(
                    insert(User),
                    {"oidc_id": SYSTEM_ADMIN_OIDC_ID, "email": "admin@other-run", "status": UserStatus.ACTIVE, "created_on": utcnow(), "updated_on": utcnow()},
                )
            run_session.add(User(oidc_id=SYSTEM_ADMIN_OIDC_ID, email="admin@this-run", status=UserStatus.ACTIVE))
            run_session.flush()  # IntegrityError: the oidc_id is taken
        return get_or_create_system_admin(run_session)

    monkeypatch.setattr(user_deactivation, "get_or_create_system_admin", racing_get_or_create)
    try:
        report = factories.run_job(session, max_disable=0)
    finally:
        other_run.dispose()

    assert report.failed == [] and sorted(report.disabled) == sorted(due_ids)
    admins = session.scalars(select(User).where(User.oidc_id == SYSTEM_ADMIN_OIDC_ID)).all()
    assert [a.email for a in admins] == ["admin@other-run"]
    events = session.scalars(select(OpsEvent).where(OpsEvent.event_type == OpsEventType.UPDATE_USER)).all()
    assert {e.created_by for e in events} == {admins[0].id}


@pytest.mark.postgres_only
def test_a_run_in_another_schema_does_not_block_this_one(app, session, database_url, test_schema):
    add_due_users(session, 1)

    ours = run_while_lock_is_held(app, database_url, schema=f"{test_schema}_other")

    report = json.loads(ours.stdout)
    assert report["skipped_reason"] is None
    assert len(report["disabled"]) == 1


@pytest.mark.postgres_only
def test_the_run_lock_is_keyed_on_the_tables_schema_whatever_the_search_path(app, session, database_url, test_schema):
    add_due_users(session, 1)
    session.commit()
    # Another run, on a connection whose search_path finds some other schema first.
    elsewhere = sa.create_engine(database_url, connect_args={"options": "-csearch_path=public"})

    ours = run_while_lock_is_held(app, database_url, schema=test_schema, holder=elsewhere)

    report = json.loads(ours.stdout)
    assert report["skipped_reason"] == "skipped: another run is in progress"
    assert report["disabled"] == []
