"""Small builders for test data; each flushes and leaves the commit to the test."""

from __future__ import annotations

import itertools
import os
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from ops_api.clock import utcnow
from ops_api.models import OpsDBHistory, OpsEvent, OpsEventType, Role, User, UserSession, UserStatus
from ops_api.sql import qualified

_numbers = itertools.count(1)


def make_user(
    session: Session,
    *,
    email: str | None = None,
    status: UserStatus = UserStatus.ACTIVE,
    created_on: datetime | None = None,
    reactivated_on: datetime | None = None,
    roles: list[Role] | None = None,
    oidc_id: uuid.UUID | None = None,
) -> User:
    number = next(_numbers)
    user = User(
        oidc_id=oidc_id or uuid.uuid4(),
        email=email or f"person{number}@example.gov",
        first_name="Person",
        last_name=str(number),
        status=status,
        reactivated_on=reactivated_on,
        roles=roles or [],
    )
    if created_on is not None:
        user.created_on = created_on
        user.updated_on = created_on
    session.add(user)
    session.flush()
    return user


def make_session(
    session: Session, user: User, *, last_active_at: datetime | None, is_active: bool = True
) -> UserSession:
    user_session = UserSession(
        user_id=user.id, is_active=is_active, ip_address="10.0.0.1", last_active_at=last_active_at
    )
    session.add(user_session)
    session.flush()
    return user_session


def events_for(session: Session, user: User) -> list[OpsEvent]:
    """UPDATE_USER and other events whose details name ``user``."""
    events = session.scalars(select(OpsEvent).order_by(OpsEvent.id)).all()
    return [e for e in events if (e.event_details or {}).get("user_id") == user.id]


def history_for(session: Session, class_name: str, row_key: object) -> list[OpsDBHistory]:
    return session.scalars(
        select(OpsDBHistory)
        .where(OpsDBHistory.class_name == class_name, OpsDBHistory.row_key == str(row_key))
        .order_by(OpsDBHistory.id)
    ).all()


def refuse_deactivation_of(session: Session, user_id: int) -> None:
    """Install a real database fault: a trigger that aborts making ``user_id`` INACTIVE."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(sa.text(
            f"CREATE TRIGGER refuse_one BEFORE UPDATE OF status ON ops_user WHEN NEW.id = {int(user_id)} "
            "AND NEW.status = 'INACTIVE' BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END"
        ))
    else:
        session.execute(sa.text(
            f"CREATE FUNCTION {qualified(session, 'refuse_one')}() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'refused by test trigger'; END $$ LANGUAGE plpgsql"
        ))
        session.execute(sa.text(
            f"CREATE TRIGGER refuse_one BEFORE UPDATE ON {qualified(session, 'ops_user')} FOR EACH ROW "
            f"WHEN (NEW.id = {int(user_id)} AND NEW.status = 'INACTIVE') EXECUTE FUNCTION {qualified(session, 'refuse_one')}()"
        ))
    session.commit()


def remove_refusal(session: Session) -> None:
    _drop_test_trigger(session, "refuse_one", on="ops_user")


def remove_run_record_refusal(session: Session) -> None:
    _drop_test_trigger(session, "refuse_run_record", on="ops_event")


def _drop_test_trigger(session: Session, name: str, *, on: str) -> None:
    """Drop a fault trigger (and its function on PostgreSQL): only rows are emptied between tests."""
    session.rollback()
    if session.get_bind().dialect.name == "sqlite":
        session.execute(sa.text(f"DROP TRIGGER IF EXISTS {name}"))
    else:
        session.execute(sa.text(f"DROP TRIGGER IF EXISTS {name} ON {qualified(session, on)}"))
        session.execute(sa.text(f"DROP FUNCTION IF EXISTS {qualified(session, name)}()"))
    session.commit()


def run_records(session: Session) -> list[OpsEvent]:
    """The job's run records (DISABLE_INACTIVE_USERS events), oldest first, read afresh."""
    session.expire_all()
    return list(
        session.scalars(
            select(OpsEvent).where(OpsEvent.event_type == OpsEventType.DISABLE_INACTIVE_USERS).order_by(OpsEvent.id)
        )
    )


# When the shared ``person`` fixture is made: before every moment the tests that use it freeze.
PERSON_SINCE = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)

# The instant the shared ``population`` fixture is built around; run the job at it
# (``cli_runner.invoke(..., now=JOB_NOW)``) and the figures are exact.
JOB_NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def make_population(session: Session, now: datetime) -> dict[str, Any]:
    """Two due users (idle 400 and 90 days at ``now``) and one recent one (idle 1 day). Commits."""
    due = []
    for days in (400, 90):
        user = make_user(session, created_on=now - timedelta(days=800), email=f"idle{days}@example.gov")
        make_session(session, user, last_active_at=now - timedelta(days=days))
        due.append(user)
    recent = make_user(session, created_on=now - timedelta(days=800))
    make_session(session, recent, last_active_at=now - timedelta(days=1))
    session.commit()
    return {"due": due, "recent": recent}


def make_real_clock_population(session: Session) -> dict[str, Any]:
    """``make_population`` around the real clock, for tests that run `flask` as a subprocess,
    whose clock no test can freeze. Commits."""
    return make_population(session, utcnow())


def event_and_history_counts(session: Session) -> tuple[int, int]:
    """How many ops_event and ops_db_history rows exist: equal before and after means nothing was written."""
    return tuple(session.scalar(select(sa.func.count()).select_from(model)) for model in (OpsEvent, OpsDBHistory))


def open_engine(database_url: str, **options: Any) -> sa.Engine:
    """An engine of the test's own, aimed like the application's at the test's OPS_DB_SCHEMA."""
    if database_url.startswith("postgresql"):
        options.setdefault("execution_options", {})["schema_translate_map"] = {None: os.environ["OPS_DB_SCHEMA"]}
    return sa.create_engine(database_url, **options)


def table_name(bind: Any, table: str) -> str:
    """``table`` as raw SQL in a test must name it: with the test's schema on PostgreSQL."""
    return qualified(bind, table)


def refuse_run_records(session: Session) -> None:
    """Install a real database fault: a trigger that aborts every insert of the job's run record."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(sa.text(
            "CREATE TRIGGER refuse_run_record BEFORE INSERT ON ops_event WHEN NEW.event_type = 'DISABLE_INACTIVE_USERS' "
            "BEGIN SELECT RAISE(ABORT, 'run records refused by test trigger'); END"
        ))
    else:
        function = qualified(session, "refuse_run_record")
        session.execute(sa.text(
            f"CREATE FUNCTION {function}() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'run records refused by test trigger'; END $$ LANGUAGE plpgsql"
        ))
        session.execute(sa.text(
            f"CREATE TRIGGER refuse_run_record BEFORE INSERT ON {qualified(session, 'ops_event')} FOR EACH ROW "
            f"WHEN (NEW.event_type::text = 'DISABLE_INACTIVE_USERS') EXECUTE FUNCTION {function}()"
        ))
    session.commit()


def run_lock_key(schema: str | None = None) -> dict[str, Any]:
    """The parameters of the job's one-run-at-a-time lock for ``schema`` (default: the test's own)."""
    from ops_api.services.user_deactivation import RUN_LOCK_NAMESPACE

    return {"namespace": RUN_LOCK_NAMESPACE, "schema": schema or os.environ["OPS_DB_SCHEMA"]}
