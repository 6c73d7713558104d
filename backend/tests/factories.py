"""Small builders for test data; each flushes and leaves the commit to the test."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from ops_api.adapters.smtp_mail import MailSettings, TlsTrust
from ops_api.advisory_lock import LOCK_ARGUMENTS, LockPurpose
from ops_api.clock import utcnow
from ops_api.config import defaults, finalize
from ops_api.models import JobRun, OpsDBHistory, OpsEvent, Role, User, UserActivity, UserSession, UserStatus
from ops_api.services.alerts import AlertSettings
from ops_api.services.users.user_deactivation import UserDeactivationService
from ops_api.sql import OWN_SCHEMA, qualified

_numbers = itertools.count(1)



# -- settings as the application makes them --------------------------------------------


def app_settings(**overrides: Any) -> dict[str, Any]:
    """The settings with their defaults (ops_api.config, the one place defaults are applied), in a test environment."""
    config = {**defaults(os.devnull), "SQLALCHEMY_DATABASE_URI": "sqlite://", "ENV_NAME": "test", **overrides}
    finalize(config)
    return config


def mail_settings(**fields: Any) -> MailSettings:
    """MailSettings from the default settings, with ``fields`` replaced."""
    return dataclasses.replace(MailSettings.from_config(app_settings()), **fields)


def alert_settings(**fields: Any) -> AlertSettings:
    """AlertSettings from the default settings, with ``fields`` replaced."""
    return dataclasses.replace(AlertSettings.from_config(app_settings()), **fields)


def tls_trust(**fields: Any) -> TlsTrust:
    return dataclasses.replace(TlsTrust.from_config(app_settings()), **fields)


def deactivation_service(session: Session, **arguments: Any) -> UserDeactivationService:
    """The job's service as the default settings build it; ``arguments`` as UserDeactivationService takes them."""
    config = app_settings()
    arguments.setdefault("inactive_days", config["DEACTIVATION_INACTIVE_DAYS"])
    arguments.setdefault("excluded_oidc_ids", config["DEACTIVATION_EXCLUDED_OIDC_IDS"])
    arguments.setdefault("max_disable", config["DEACTIVATION_MAX_PER_RUN"])
    return UserDeactivationService(session, **arguments)

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
        roles=roles or [],
    )
    if created_on is not None:
        user.created_on = created_on
        user.updated_on = created_on
    session.add(user)
    session.flush()
    if reactivated_on is not None:
        set_view(session, user, reactivated_on=reactivated_on)
    return user


def set_view(session: Session, user: User, **dates: datetime | None) -> None:
    """Write this project's view of ``user`` directly (as the triggers or an admin's reactivation would have)."""
    session.execute(
        sa.update(UserActivity).where(UserActivity.user_id == user.id).values(**dates),
        execution_options={"synchronize_session": False},
    )
    session.expire(user, ["activity"])


def view_of(session: Session, user: User | int) -> UserActivity | None:
    """This project's view of ``user``, read afresh."""
    session.expire_all()
    return session.get(UserActivity, user if isinstance(user, int) else user.id)


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
    _drop_test_trigger(session, "refuse_run_record", on="job_run", own=True)


def _drop_test_trigger(session: Session, name: str, *, on: str, own: bool = False) -> None:
    """Drop a fault trigger (and its function on PostgreSQL): only rows are emptied between tests."""
    session.rollback()
    if session.get_bind().dialect.name == "sqlite":
        session.execute(sa.text(f"DROP TRIGGER IF EXISTS {name}"))
    else:
        session.execute(sa.text(f"DROP TRIGGER IF EXISTS {name} ON {qualified(session, on, own=own)}"))
        session.execute(sa.text(f"DROP FUNCTION IF EXISTS {qualified(session, name, own=own)}()"))
    session.commit()


def run_records(session: Session) -> list[JobRun]:
    """The job's run records, oldest first, read afresh."""
    session.expire_all()
    return list(session.scalars(select(JobRun).order_by(JobRun.id)))


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
    """An engine of the test's own, aimed like the application's at the test's two schemas."""
    translate = (
        {None: os.environ["OPS_DB_SCHEMA"], OWN_SCHEMA: os.environ["OPS_DEACTIVATION_SCHEMA"]}
        if database_url.startswith("postgresql")
        else {OWN_SCHEMA: "main"}
    )
    options.setdefault("execution_options", {})["schema_translate_map"] = translate
    return sa.create_engine(database_url, **options)


def table_name(bind: Any, table: str) -> str:
    """``table`` as raw SQL in a test must name it: with the test's schema on PostgreSQL."""
    return qualified(bind, table)


def refuse_run_records(session: Session) -> None:
    """Install a real database fault: a trigger that aborts every insert of the job's run record."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(sa.text(
            "CREATE TRIGGER refuse_run_record BEFORE INSERT ON job_run "
            "BEGIN SELECT RAISE(ABORT, 'run records refused by test trigger'); END"
        ))
    else:
        function = qualified(session, "refuse_run_record", own=True)
        session.execute(sa.text(
            f"CREATE FUNCTION {function}() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'run records refused by test trigger'; END $$ LANGUAGE plpgsql"
        ))
        session.execute(sa.text(
            f"CREATE TRIGGER refuse_run_record BEFORE INSERT ON {qualified(session, 'job_run', own=True)} FOR EACH ROW "
            f"EXECUTE FUNCTION {function}()"
        ))
    session.commit()


@contextlib.contextmanager
def held_lock(database_url: str, purpose: LockPurpose = LockPurpose.RUN, *, schema: str | None = None, engine: Any = None) -> Iterator[None]:
    """Hold ``purpose``'s advisory lock (default: the one-run lock) for ``schema`` (default: the test's own),
    on a connection of its own, as another run would; release it after."""
    holder = engine or open_engine(database_url)
    key = {"namespace": int(purpose), "schema": schema or os.environ["OPS_DB_SCHEMA"]}
    try:
        with holder.connect() as connection:
            connection.execute(sa.text(f"SELECT pg_advisory_lock{LOCK_ARGUMENTS}"), key)
            connection.commit()
            try:
                yield
            finally:
                connection.execute(sa.text(f"SELECT pg_advisory_unlock{LOCK_ARGUMENTS}"), key)
                connection.commit()
    finally:
        if engine is None:
            holder.dispose()


def run_lock_free(database_url: str) -> bool:
    """Whether the one-run lock of the test's schema can be taken now (it is then released at once)."""
    holder = open_engine(database_url)
    key = {"namespace": int(LockPurpose.RUN), "schema": os.environ["OPS_DB_SCHEMA"]}
    try:
        with holder.connect() as connection:
            acquired = connection.execute(sa.text(f"SELECT pg_try_advisory_lock{LOCK_ARGUMENTS}"), key).scalar()
            connection.execute(sa.text("SELECT pg_advisory_unlock_all()"))
            return bool(acquired)
    finally:
        holder.dispose()


def run_job(
    session: Session,
    *,
    dry_run: bool = False,
    as_of: datetime | None = None,
    max_disable: int | None = None,
    days: int | None = None,
    excluded_oidc_ids: Any = None,
    send_email: bool = False,
    clock: Any = None,
    should_stop: Any = None,
) -> Any:
    """One whole run of the job (``run_hourly_job``) on ``session``, at the test's (frozen) clock; its report.

    Settings are the test app's, with the rule's and the cap's given here;
    e-mail is off unless asked for. Fails the test if the run could not run.
    """
    from flask import current_app

    from ops_api.services.job.hourly_job import JobOptions, run_hourly_job

    config = dict(current_app.config)
    if excluded_oidc_ids is not None:
        config["DEACTIVATION_EXCLUDED_OIDC_IDS"] = tuple(excluded_oidc_ids)
    clock = clock or utcnow
    result = run_hourly_job(
        session,
        config,
        options=JobOptions(days=days, dry_run=dry_run, as_of=as_of, max_disable=max_disable, send_email=send_email),
        migrations_directory=current_app.extensions["migrate"].directory,
        clock=clock,
        process_clock=clock,
        should_stop=should_stop or (lambda: False),
    )
    assert result.report is not None, result.errors
    return result.report
