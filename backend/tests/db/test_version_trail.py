"""OPS's SQLAlchemy-Continuum trail: one transaction row per commit, a version of every row it changed."""

from datetime import datetime, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import select, text

from ops_api.models import OpsDBHistory, OpsEventType, Role, User, UserSession, UserStatus
from ops_api.models.versions import VERSION_TABLES, VersionOperation, transaction
from ops_api.services.users.accounts import deactivate_user, update_user_profile

import factories
from cli_runner import invoke
from factories import make_session

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
T1 = datetime(2026, 3, 2, 10, 30, tzinfo=timezone.utc)
INSERT, UPDATE, DELETE = VersionOperation.INSERT, VersionOperation.UPDATE, VersionOperation.DELETE


def versions(session, table, **key):
    """The versions of one row of ``table`` (by its key columns), oldest first."""
    shadow = VERSION_TABLES[table]
    condition = [shadow.c[name] == value for name, value in key.items()]
    return session.execute(select(shadow).where(*condition).order_by(shadow.c.transaction_id)).mappings().all()


def transactions(session):
    return session.execute(select(transaction).order_by(transaction.c.id)).mappings().all()


@pytest.fixture
def person(person, session):
    """The shared person, with two live sessions last active at T0."""
    with freeze_time(T0):
        make_session(session, person, last_active_at=T0)
        make_session(session, person, last_active_at=T0)
        session.commit()
    return person


def deactivate(session, person, actor):
    with freeze_time(T1):
        deactivate_user(session, person, actor=actor, reason="left the agency")
        session.commit()
    return transactions(session)[-1]


def test_a_deactivation_is_one_continuum_transaction_issued_at_commit_with_no_remote_address(session, user_admin, person):
    before = len(transactions(session))

    committed = deactivate(session, person, user_admin)

    assert len(transactions(session)) == before + 1
    assert committed["issued_at"] == T1
    assert committed["remote_addr"] is None


def test_the_users_new_version_holds_the_inactive_status_as_an_update(session, user_admin, person):
    committed = deactivate(session, person, user_admin)

    latest = versions(session, "ops_user", id=person.id)[-1]
    assert latest["transaction_id"] == committed["id"]
    assert latest["operation_type"] == UPDATE
    assert latest["status"] is UserStatus.INACTIVE
    assert latest["email"] == person.email
    assert latest["updated_by"] == user_admin.id
    assert latest["end_transaction_id"] is None


def test_the_users_new_version_closes_the_previous_one(session, user_admin, person):
    committed = deactivate(session, person, user_admin)

    earlier, latest = versions(session, "ops_user", id=person.id)[-2:]
    assert earlier["status"] is UserStatus.ACTIVE
    assert earlier["end_transaction_id"] == committed["id"]
    assert latest["end_transaction_id"] is None


def test_each_ended_session_gets_a_version_in_the_same_transaction(session, user_admin, person):
    committed = deactivate(session, person, user_admin)

    session_ids = session.scalars(select(UserSession.id).where(UserSession.user_id == person.id)).all()
    assert len(session_ids) == 2
    for session_id in session_ids:
        latest = versions(session, "user_session", id=session_id)[-1]
        assert (latest["transaction_id"], latest["operation_type"], latest["is_active"]) == (committed["id"], UPDATE, False)
        assert latest["last_active_at"] == T0


def test_the_event_and_every_history_row_are_versioned_as_inserts_in_the_same_transaction(session, user_admin, person):
    committed = deactivate(session, person, user_admin)

    (event,) = factories.events_for(session, person)
    history_ids = session.scalars(select(OpsDBHistory.id).where(OpsDBHistory.created_on == T1)).all()
    assert len(history_ids) == 3  # the user and two sessions
    for table, row_id in [("ops_event", event.id), *[("ops_db_history", history_id) for history_id in history_ids]]:
        (version,) = versions(session, table, id=row_id)
        assert (version["transaction_id"], version["operation_type"]) == (committed["id"], INSERT), table


def test_this_projects_own_columns_leave_no_trail(session, person):
    before = len(transactions(session))

    with freeze_time(T1):
        person.last_active_at = T1  # ops_user's activity column: this project's, not OPS's
        session.commit()

    assert len(transactions(session)) == before


def test_a_rolled_back_change_leaves_no_trail(session, user_admin, person):
    before = len(transactions(session))

    with freeze_time(T1):
        deactivate_user(session, person, actor=user_admin, reason="left the agency")
        session.flush()
        session.rollback()
        session.commit()

    assert len(transactions(session)) == before
    assert versions(session, "ops_user", id=person.id)[-1]["status"] is UserStatus.ACTIVE


def test_roles_granted_and_taken_are_versioned_as_user_role_inserts_and_deletes(session, user_admin, person):
    granted = session.scalars(select(Role).where(Role.name == "READ_ONLY")).one()
    kept = [role.name for role in person.roles]
    with freeze_time(T0):
        update_user_profile(session, person, actor=user_admin, changes={"roles": [*kept, "READ_ONLY"]})
        session.commit()
    grant = transactions(session)[-1]
    with freeze_time(T1):
        update_user_profile(session, person, actor=user_admin, changes={"roles": kept})
        session.commit()
    removal = transactions(session)[-1]

    added, removed = versions(session, "user_role", user_id=person.id, role_id=granted.id)
    assert (added["transaction_id"], added["operation_type"], added["end_transaction_id"]) == (grant["id"], INSERT, removal["id"])
    assert (removed["transaction_id"], removed["operation_type"]) == (removal["id"], DELETE)


def test_a_granted_role_names_the_admin_who_granted_it(session, user_admin, person):
    kept = [role.name for role in person.roles]
    with freeze_time(T1):
        update_user_profile(session, person, actor=user_admin, changes={"roles": [*kept, "READ_ONLY"]})
        session.commit()

    granted = session.scalars(select(Role).where(Role.name == "READ_ONLY")).one()
    (version,) = versions(session, "user_role", user_id=person.id, role_id=granted.id)
    assert (version["created_by"], version["updated_by"], version["created_on"]) == (user_admin.id, user_admin.id, T1)


def test_a_new_user_is_versioned_as_an_insert(session, user_admin):
    with freeze_time(T1):
        user = factories.make_user(session, email="new.person@example.gov")
        session.commit()

    (version,) = versions(session, "ops_user", id=user.id)
    assert (version["operation_type"], version["email"], version["end_transaction_id"]) == (INSERT, "new.person@example.gov", None)


def test_the_job_versions_each_user_it_disables_in_a_transaction_of_its_own(app, session, person):
    with freeze_time(T0):
        other = factories.make_user(session, email="other.idle@example.gov")
        session.commit()
    before = {row["id"] for row in transactions(session)}

    result = invoke(app, "disable-inactive-users", now=T1.replace(year=2027))

    assert result.exit_code == 0, result.output
    session.expire_all()
    assert {session.get(User, user.id).status for user in (person, other)} == {UserStatus.INACTIVE}
    disabled_in = [versions(session, "ops_user", id=user.id)[-1]["transaction_id"] for user in (person, other)]
    assert not before & set(disabled_in)
    assert disabled_in[0] != disabled_in[1]
    # The run's own record is this project's, in its own schema: OPS's trail holds the deactivations only.
    assert {version["event_type"] for version in versions(session, "ops_event")} == {OpsEventType.UPDATE_USER}


def test_a_row_inserted_then_updated_by_a_later_flush_is_one_version_of_the_update(session):
    with freeze_time(T1):
        user = factories.make_user(session, email="new.person@example.gov")  # flushed
        user.first_name = "Changed"
        session.commit()

    (version,) = versions(session, "ops_user", id=user.id)
    assert (version["operation_type"], version["first_name"]) == (UPDATE, "Changed")


def test_the_transaction_is_issued_at_the_first_change_not_at_the_commit(session, user_admin, person):
    with freeze_time(T1) as clock:
        deactivate_user(session, person, actor=user_admin, reason="left the agency")
        session.flush()
        clock.tick(90)
        session.commit()

    assert transactions(session)[-1]["issued_at"] == T1


def test_a_change_rolled_back_to_a_savepoint_leaves_no_version(session, person):
    before = versions(session, "ops_user", id=person.id)

    with freeze_time(T1):
        savepoint = session.begin_nested()
        person.first_name = "Undone"
        session.flush()
        savepoint.rollback()
        factories.make_user(session, email="kept@example.gov")
        session.commit()

    assert versions(session, "ops_user", id=person.id) == before
    assert len([row for row in transactions(session) if row["issued_at"] == T1]) == 1


def test_a_change_released_with_a_savepoint_is_versioned_at_the_commit_in_one_transaction(session, person, caplog):
    with freeze_time(T1):
        with session.begin_nested():
            person.first_name = "Kept"
        factories.make_user(session, email="also.kept@example.gov")
        session.commit()

    latest = versions(session, "ops_user", id=person.id)[-1]
    assert latest["first_name"] == "Kept"
    assert [row["id"] for row in transactions(session) if row["issued_at"] == T1] == [latest["transaction_id"]]
    assert not [r for r in caplog.records if getattr(r, "event", None) == "version_trail_incomplete"]


def test_a_sessions_activity_mark_is_versioned(session, person):
    from ops_api.services.users.sign_in import resume_session

    user_session = session.scalars(select(UserSession).where(UserSession.user_id == person.id)).first()
    with freeze_time(T1):
        resumed = resume_session(session, session_id=user_session.id, user_id=person.id)
        session.commit()

    assert resumed.touched
    latest = versions(session, "user_session", id=user_session.id)[-1]
    assert (latest["operation_type"], latest["last_active_at"], latest["is_active"]) == (UPDATE, T1, True)


def test_activity_stamped_in_the_future_is_never_rewritten_so_the_trail_gains_no_version_of_it(app, session, person):
    user_session = session.scalars(select(UserSession).where(UserSession.user_id == person.id)).first()
    future = T1.replace(year=2030)
    user_session.last_active_at = future
    session.commit()
    before = versions(session, "user_session", id=user_session.id)

    result = invoke(app, "disable-inactive-users", now=T1)

    assert result.exit_code == 0, result.output
    session.expire_all()
    assert versions(session, "user_session", id=user_session.id) == before
    assert before[-1]["last_active_at"] == future


@pytest.fixture
def without_transaction_table(session):
    session.execute(text(f"DROP TABLE {factories.table_name(session, 'transaction')}"))
    session.commit()
    session.get_bind().dispose()  # pooled connections forget that they saw the table
    yield
    session.rollback()
    transaction.create(session.get_bind())


def test_without_a_transaction_table_changes_commit_and_a_warning_says_the_trail_is_missing(
    session, person, without_transaction_table, caplog
):
    with freeze_time(T1):
        person.first_name = "Untracked"
        session.commit()

    session.expire_all()
    assert session.get(User, person.id).first_name == "Untracked"
    assert [r.message for r in caplog.records if getattr(r, "event", None) == "version_trail_missing"] == [
        "no transaction table: changes are committed without OPS's version trail (run flask db upgrade)"
    ]


def test_more_rows_than_a_batch_are_versioned_in_batches_in_one_transaction(session, user_admin, person, monkeypatch):
    monkeypatch.setattr("ops_api.versioning._BATCH", 2)  # 7 rows: the user, 2 sessions, the event, 3 history rows

    committed = deactivate(session, person, user_admin)

    session_ids = session.scalars(select(UserSession.id).where(UserSession.user_id == person.id)).all()
    history_ids = session.scalars(select(OpsDBHistory.id).where(OpsDBHistory.created_on == T1)).all()
    latest = [versions(session, "user_session", id=session_id)[-1] for session_id in session_ids]
    assert [row["transaction_id"] for row in latest] == [committed["id"]] * 2
    assert [len(versions(session, "ops_db_history", id=history_id)) for history_id in history_ids] == [1, 1, 1]
    assert versions(session, "ops_user", id=person.id)[-2]["end_transaction_id"] == committed["id"]


def test_more_role_removals_than_a_batch_are_each_one_delete_version(session, user_admin, person, monkeypatch):
    extra = ["READ_ONLY", "BUDGET_TEAM", "REVIEWER_APPROVER"]
    with freeze_time(T0):
        update_user_profile(session, person, actor=user_admin, changes={"roles": extra})
        session.commit()
    monkeypatch.setattr("ops_api.versioning._BATCH", 2)

    with freeze_time(T1):
        update_user_profile(session, person, actor=user_admin, changes={"roles": [extra[0]]})
        session.commit()

    removal = transactions(session)[-1]
    for name in extra[1:]:
        role = session.scalars(select(Role).where(Role.name == name)).one()
        added, removed = versions(session, "user_role", user_id=person.id, role_id=role.id)
        assert (removed["transaction_id"], removed["operation_type"]) == (removal["id"], DELETE)
        assert added["end_transaction_id"] == removal["id"]


def test_replacing_the_bulk_demo_data_empties_the_trail_too(app, session, person):
    from ops_api.devtools.load_data import load
    from ops_api.extensions import db

    assert transactions(session)
    session.rollback()  # the read's locks would hold up the loader's TRUNCATE

    load(db.engine, users=5, sessions_per_user=1, seed=1, now=T1, replace=True)

    session.expire_all()
    assert transactions(session) == []
    assert all(not versions(session, table) for table in VERSION_TABLES)
