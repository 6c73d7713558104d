"""The inactive-account job's run history in ``ops_event``, and the health check built on it.

Every run, real or dry, leaves one ``DISABLE_INACTIVE_USERS`` event, written
when it starts (status ``UNKNOWN``, outcome ``running``) and completed when it
ends: ``SUCCESS`` when the run completed or was skipped because another run held the
lock, ``FAILED`` otherwise (a user failed, the safety cap refused the run, or
the run could not run at all). Its ``event_details`` say what happened:
outcome, dry_run, counts, duration, as_of, threshold, skipped_reason and the
first errors.

Transactions: :func:`record_run` and :func:`record_failed_run` own theirs.
Each first rolls back whatever the caller's session still holds (so a failed
run's half-done work is undone and its locks are released), then writes the
event on a session of its own and commits it, so the event survives that
rollback. The job (services/hourly_job.py) calls :func:`record_start` first
and one of them once, after the run. A run killed before it completes its
event leaves it "running"; readers show it as "did_not_finish"
(:func:`outcome_of`).

Health: the job is healthy when its last successful *real* run (outcome
``completed``, not a dry run) finished no longer than ``max_age`` ago. A run
skipped because another run held the lock does not count: it shows that the
scheduler still fires, not that the work gets done, and a run stuck while
holding the lock would otherwise keep the check green forever.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ops_api.clock import ensure_utc, utcnow
from ops_api.domain.defaults import JOB_NAME
from ops_api.models import OpsEvent, OpsEventStatus, OpsEventType
from ops_api.services.user_deactivation import DeactivationReport, RunOutcome
from ops_api.sql import schema_of

logger = logging.getLogger(__name__)

EVENT_TYPE = OpsEventType.DISABLE_INACTIVE_USERS
# The outcome a run's event has from its start until the run completes it.
OUTCOME_RUNNING = "running"
# What readers call a run whose event still says "running" when no run can be behind it any more.
OUTCOME_DID_NOT_FINISH = "did_not_finish"
# The longest a run may take: the platform's timeout (deploy/: 1800 s). A run
# still "running" after this was killed (kill -9, lost node) before it could
# complete its record.
RUN_DEADLINE = timedelta(minutes=30)
# A run records its start a moment before it takes the one-run lock.
STARTING_GRACE = timedelta(minutes=1)
# How many errors the event keeps; the job's log has all of them.
MAX_ERRORS_IN_EVENT = 20
# The hourly job plus its 30-minute timeout fits twice into this.
DEFAULT_MAX_AGE = timedelta(hours=2)
DEFAULT_MAX_AGE_TEXT = "2h"


# -- writing ---------------------------------------------------------------


def run_details(report: DeactivationReport, *, finished_at: datetime) -> dict[str, Any]:
    """The ``event_details`` of a finished run's summary event."""
    return {
        "job": JOB_NAME,
        "outcome": report.outcome.value,
        "dry_run": report.dry_run,
        "as_of": report.as_of.isoformat(),
        "threshold_days": report.threshold_days,
        "max_disable": report.max_disable,
        "candidates": len(report.candidates),
        "disabled": len(report.disabled),
        "failed": len(report.failed),
        "no_longer_due": len(report.no_longer_due),
        "duration_seconds": report.duration_seconds,
        "finished_at": finished_at.isoformat(),
        "skipped_reason": report.skipped_reason,
        "errors": [f.to_dict() for f in report.failed[:MAX_ERRORS_IN_EVENT]],
    }


def record_start(
    session: Session,
    *,
    dry_run: bool,
    threshold_days: int | None,
    max_disable: int | None,
    as_of: datetime | None,
    started_at: datetime,
) -> int:
    """Write the event of a run that starts (status UNKNOWN, outcome "running") and commit it; return its id.

    :func:`record_run` or :func:`record_failed_run` completes the same row when
    the run ends; a run killed before that leaves it "running", which readers
    show as "did not finish" once no run can still be behind it.
    """
    details = {
        "job": JOB_NAME,
        "outcome": OUTCOME_RUNNING,
        "dry_run": dry_run,
        "as_of": (as_of or started_at).isoformat(),
        "threshold_days": threshold_days,
        "max_disable": max_disable,
        "started_at": started_at.isoformat(),
        "candidates": None,
        "disabled": None,
        "failed": None,
        "no_longer_due": None,
        "finished_at": None,
        "skipped_reason": None,
        "errors": [],
    }
    return _write_event(session, OpsEventStatus.UNKNOWN, details, started_at)


def record_run(
    session: Session, report: DeactivationReport, *, event_id: int | None = None, now: datetime | None = None
) -> int:
    """Write (or, given ``event_id``, complete) the summary event of a finished run and commit it; return its id."""
    status = (
        OpsEventStatus.SUCCESS
        if report.outcome in (RunOutcome.COMPLETED, RunOutcome.SKIPPED)
        else OpsEventStatus.FAILED
    )
    finished_at = utcnow() if now is None else ensure_utc(now)
    return _write_event(session, status, run_details(report, finished_at=finished_at), finished_at, event_id=event_id)


def record_failed_run(
    session: Session,
    *,
    error: str,
    dry_run: bool,
    threshold_days: int | None,
    started_at: datetime,
    as_of: datetime | None = None,
    event_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Write (or complete) the FAILED event of a run that could not run, after rolling back its work; return its id."""
    finished_at = utcnow() if now is None else ensure_utc(now)
    details = {
        "job": JOB_NAME,
        "outcome": RunOutcome.FAILED.value,
        "dry_run": dry_run,
        "as_of": (as_of or started_at).isoformat(),
        "threshold_days": threshold_days,
        "candidates": None,
        "disabled": None,
        "failed": None,
        "no_longer_due": None,
        "duration_seconds": round((finished_at - started_at).total_seconds(), 3),
        "finished_at": finished_at.isoformat(),
        "skipped_reason": None,
        "errors": [{"user_id": None, "error": error}],
    }
    return _write_event(session, OpsEventStatus.FAILED, details, finished_at, event_id=event_id)


def _write_event(
    session: Session, status: OpsEventStatus, details: dict[str, Any], at: datetime, *, event_id: int | None = None
) -> int:
    session.rollback()
    with Session(bind=session.get_bind()) as own:
        event = own.get(OpsEvent, event_id) if event_id is not None else None
        if event is None:
            event = OpsEvent(event_type=EVENT_TYPE, created_on=at)
            own.add(event)
        else:
            # The run's start row: it keeps its created_on (when the run started).
            details = {"started_at": (event.event_details or {}).get("started_at"), **details}
        event.event_status = status
        event.event_details = details
        event.updated_on = at
        own.commit()
        return event.id


# -- reading ---------------------------------------------------------------


def run_lock_held(session: Session) -> bool | None:
    """Whether some connection holds the one-run lock of this schema now; None where there is no such lock (SQLite)."""
    from ops_api.services.user_deactivation import RUN_LOCK_NAMESPACE  # the lock's one home

    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return None
    return bool(
        session.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND classid = CAST(:namespace AS bigint)::oid"
                " AND objid = (hashtext(:schema)::bigint & 4294967295)::oid AND objsubid = 2)"
            ),
            {"namespace": RUN_LOCK_NAMESPACE, "schema": schema_of(bind)},
        ).scalar()
    )


def outcome_of(
    details: Mapping[str, Any] | None, created_on: datetime, *, now: datetime, lock_held: bool | None
) -> str | None:
    """A run event's outcome as a reader should show it: a "running" run that cannot be running is "did_not_finish".

    It cannot be running once RUN_DEADLINE has passed since it started, or (a
    real run on PostgreSQL, started over STARTING_GRACE ago) when nobody holds
    the one-run lock it runs under.
    """
    outcome = (details or {}).get("outcome")
    if outcome != OUTCOME_RUNNING:
        return outcome
    age = now - ensure_utc(created_on)
    if age >= RUN_DEADLINE:
        return OUTCOME_DID_NOT_FINISH
    if lock_held is False and not (details or {}).get("dry_run") and age >= STARTING_GRACE:
        return OUTCOME_DID_NOT_FINISH
    return OUTCOME_RUNNING


def _real_run_events() -> Any:
    return (
        select(OpsEvent)
        .where(OpsEvent.event_type == EVENT_TYPE)
        .where(OpsEvent.event_details["dry_run"].as_boolean().is_not(True))
        .order_by(OpsEvent.created_on.desc(), OpsEvent.id.desc())
        .limit(1)
    )


def last_successful_run(session: Session) -> OpsEvent | None:
    """The summary event of the latest real run that completed (skipped and dry runs do not count)."""
    query = _real_run_events().where(
        OpsEvent.event_status == OpsEventStatus.SUCCESS,
        OpsEvent.event_details["outcome"].as_string() == RunOutcome.COMPLETED.value,
    )
    return session.scalars(query).first()


def last_real_run(session: Session) -> OpsEvent | None:
    """The summary event of the latest real run, whatever its outcome."""
    return session.scalars(_real_run_events()).first()


@dataclass(frozen=True)
class JobHealth:
    healthy: bool
    status: str  # "ok", "stale" or "never_succeeded"
    checked_at: datetime
    max_age: timedelta
    last_success_at: datetime | None
    last_run_at: datetime | None
    last_run_outcome: str | None

    @property
    def age(self) -> timedelta | None:
        if self.last_success_at is None:
            return None
        return max(self.checked_at - self.last_success_at, timedelta(0))

    def to_dict(self) -> dict[str, Any]:
        age = self.age
        return {
            "job": JOB_NAME,
            "healthy": self.healthy,
            "status": self.status,
            "checked_at": self.checked_at.isoformat(),
            "max_age_seconds": int(self.max_age.total_seconds()),
            "last_success_at": self.last_success_at.isoformat() if self.last_success_at else None,
            "age_seconds": int(age.total_seconds()) if age is not None else None,
            "last_run_at": self.last_run_at.isoformat() if self.last_run_at else None,
            "last_run_outcome": self.last_run_outcome,
        }

    def describe(self) -> str:
        """One line for a person or an uptime check's log."""
        limit = format_duration(self.max_age)
        latest = (
            f"; latest real run: {(self.last_run_outcome or 'unknown').replace('_', ' ')} at {self.last_run_at.isoformat()}"
            if self.last_run_at is not None and self.last_run_at != self.last_success_at
            else ""
        )
        if self.last_success_at is None:
            return f"{self.status}: {JOB_NAME} has no successful real run on record{latest}"
        age = self.age or timedelta(0)
        return (
            f"{self.status}: the last successful real run of {JOB_NAME} finished at "
            f"{self.last_success_at.isoformat()}, {format_duration(age)} ago (max age {limit}){latest}"
        )


def job_health(session: Session, *, max_age: timedelta = DEFAULT_MAX_AGE, now: datetime | None = None) -> JobHealth:
    """Whether the job's last successful real run finished within ``max_age`` of ``now``. Only reads."""
    if max_age <= timedelta(0):
        raise ValueError("max_age must be positive")
    now = utcnow() if now is None else ensure_utc(now)
    success = last_successful_run(session)
    latest = last_real_run(session)
    last_success_at = success.created_on if success is not None else None
    if last_success_at is None:
        healthy, status = False, "never_succeeded"
    elif now - last_success_at > max_age:
        healthy, status = False, "stale"
    else:
        healthy, status = True, "ok"
    return JobHealth(
        healthy=healthy,
        status=status,
        checked_at=now,
        max_age=max_age,
        last_success_at=last_success_at,
        last_run_at=latest.created_on if latest is not None else None,
        last_run_outcome=(
            outcome_of(latest.event_details, latest.created_on, now=now, lock_held=run_lock_held(session))
            if latest is not None and latest.created_on is not None
            else None
        ),
    )


# -- durations like 90m, 2h, 1d ---------------------------------------------

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d{1,7})\s*([smhd])\s*$", re.IGNORECASE)


def parse_duration(text: str) -> timedelta:
    """``90m``, ``2h``, ``1d`` or ``45s`` as a timedelta; ValueError with a one-line message otherwise."""
    match = _DURATION.match(str(text))
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 90m, 2h or 1d")
    amount, unit = int(match.group(1)), match.group(2).lower()
    if amount == 0:
        raise ValueError(f"{text!r} is not a positive duration")
    return timedelta(seconds=amount * _UNITS[unit])


def format_duration(value: timedelta) -> str:
    """A short rendering: ``2h``, ``1h 5m``, ``3d 4h``, ``42s``."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    if seconds or not parts:
        parts.append(f"{seconds}s")
    return " ".join(parts[:2])
