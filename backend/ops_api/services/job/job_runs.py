"""The inactive-account job's run records (``job_run``, in this project's schema) and the health check built on them.

Every run, real or dry, leaves one record, written when it starts (status
``UNKNOWN``, outcome ``running``) and completed when it ends: ``SUCCESS``
when the run completed or was skipped because another run held the lock,
``FAILED`` otherwise (a user failed, the safety cap refused the run, or the
run could not run at all). It says what happened: outcome, dry_run, counts,
duration, as_of, threshold, skipped_reason and the first errors. The System
Admin, as whom the job acts, is its creator.

Transactions: :func:`record_start`, :func:`record_run` and
:func:`record_failed_run` own theirs. Each first rolls back whatever the
caller's session still holds (so a failed run's half-done work is undone and
its locks are released), then writes the record on a session of its own and
commits it, so the record survives that rollback. A run killed before it
completes its record leaves it "running"; readers show it as
"did_not_finish" (:func:`outcome_of`).

Health: the job is healthy when its last successful *real* run (outcome
``completed``, not a dry run) finished no longer than ``max_age`` ago. A run
skipped because another run held the lock does not count: it shows that the
scheduler still fires, not that the work gets done, and a run stuck while
holding the lock would otherwise keep the check green forever. Given the
evidence keys, it also verifies the last month of the chain of the job's
records (:mod:`ops_api.services.evidence`): a broken chain is unhealthy
(``chain_broken``), whatever the runs say.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from ops_api.advisory_lock import LockPurpose, lock_held
from ops_api.clock import ensure_utc, utcnow
from ops_api.domain.defaults import JOB_NAME, SYSTEM_ADMIN_OIDC_ID
from ops_api.domain.evidence_chain import UNSIGNED, ChainVerdict, EvidenceKeys
from ops_api.models import JobRun, RecordStatus, User
from ops_api.services import evidence
from ops_api.services.mail.notifications import NotificationReport
from ops_api.services.users.user_deactivation import DeactivationReport, RunOutcome
from ops_api.transactions import require_no_pending_work

logger = logging.getLogger(__name__)

# The outcome a run's record has from its start until the run completes it.
OUTCOME_RUNNING = "running"
# What readers call a run whose record still says "running" when no run can be behind it any more.
OUTCOME_DID_NOT_FINISH = "did_not_finish"
# The longest a run may take: the platform's timeout (deploy/: 1800 s). A run
# still "running" after this was killed (kill -9, lost node) before it could
# complete its record.
RUN_DEADLINE = timedelta(minutes=30)
# A run records its start a moment before it takes the one-run lock.
STARTING_GRACE = timedelta(minutes=1)
# How many errors the record keeps; the job's log has all of them.
MAX_ERRORS_IN_RECORD = 20
# The hourly job plus its 30-minute timeout fits twice into this.
DEFAULT_MAX_AGE = timedelta(hours=2)
DEFAULT_MAX_AGE_TEXT = "2h"


# -- writing ---------------------------------------------------------------


def record_start(
    session: Session,
    *,
    dry_run: bool,
    threshold_days: int | None,
    max_disable: int | None,
    as_of: datetime | None,
    started_at: datetime,
    keys: EvidenceKeys = UNSIGNED,
) -> int:
    """Write the record of a run that starts (status UNKNOWN, outcome "running") and commit it; return its id.

    :func:`record_run` or :func:`record_failed_run` completes the same row when
    the run ends; a run killed before that leaves it "running", which readers
    show as "did not finish" once no run can still be behind it.
    """
    return _write(
        session,
        None,
        keys=keys,
        started_at=started_at,
        status=RecordStatus.UNKNOWN,
        outcome=OUTCOME_RUNNING,
        dry_run=dry_run,
        as_of=as_of or started_at,
        threshold_days=threshold_days,
        max_disable=max_disable,
    )


def record_run(
    session: Session,
    report: DeactivationReport,
    *,
    mail: NotificationReport | None = None,
    mail_error: str | None = None,
    run_id: int | None = None,
    now: datetime | None = None,
    keys: EvidenceKeys = UNSIGNED,
) -> int:
    """Write (or, given ``run_id``, complete) the record of a finished run and commit it; return its id."""
    status = (
        RecordStatus.SUCCESS if report.outcome in (RunOutcome.COMPLETED, RunOutcome.SKIPPED) else RecordStatus.FAILED
    )
    finished_at = utcnow() if now is None else ensure_utc(now)
    return _write(
        session,
        run_id,
        keys=keys,
        started_at=finished_at,
        finished_at=finished_at,
        status=status,
        outcome=report.outcome.value,
        dry_run=report.dry_run,
        as_of=report.as_of,
        threshold_days=report.threshold_days,
        max_disable=report.max_disable,
        candidates=len(report.candidates),
        disabled=len(report.disabled),
        failed=len(report.failed),
        no_longer_due=len(report.no_longer_due),
        duration_seconds=report.duration_seconds,
        skipped_reason=report.skipped_reason,
        errors=[f.to_dict() for f in report.failed[:MAX_ERRORS_IN_RECORD]],
        emails_sent=len(mail.sent) if mail is not None and not mail.dry_run else None,
        emails_failed=len(mail.failed) if mail is not None and not mail.dry_run else None,
        mail_error=mail_error,
        reconciled=report.reconciled,
        disabled_events=list(report.disabled_events),
    )


def record_failed_run(
    session: Session,
    report: DeactivationReport,
    *,
    error: str,
    started_at: datetime,
    stopped: bool = False,
    run_id: int | None = None,
    now: datetime | None = None,
    keys: EvidenceKeys = UNSIGNED,
) -> int:
    """Write (or complete) the record of a run that could not run to its end, after rolling back its work.

    Its outcome is "stopped" when a stop request ended it, else "failed"; either is FAILED.
    """
    finished_at = utcnow() if now is None else ensure_utc(now)
    session.rollback()  # the failed run's own half-done work: this is the run's session, and it failed
    return _write(
        session,
        run_id,
        keys=keys,
        started_at=started_at,
        finished_at=finished_at,
        status=RecordStatus.FAILED,
        outcome=(RunOutcome.STOPPED if stopped else RunOutcome.FAILED).value,
        dry_run=report.dry_run,
        as_of=report.as_of,
        threshold_days=report.threshold_days,
        max_disable=report.max_disable,
        disabled=len(report.disabled),
        failed=len(report.failed),
        duration_seconds=round((finished_at - started_at).total_seconds(), 3),
        errors=[{"user_id": None, "error": error}, *(f.to_dict() for f in report.failed[: MAX_ERRORS_IN_RECORD - 1])],
        reconciled=report.reconciled,
        disabled_events=list(report.disabled_events),
    )


def _write(session: Session, run_id: int | None, *, keys: EvidenceKeys, started_at: datetime, **values: Any) -> int:
    """Write the record on a session of its own; ``session`` (the run's) must hold no uncommitted work.

    A new record is appended to the evidence chain; completing one seals it
    again (only if its seal still held: see :func:`evidence.resealing`).
    """
    # Also ends the run's read transaction: on SQLite a reader would keep the record's writer waiting.
    require_no_pending_work(session, "the run record")
    with Session(bind=session.get_bind()) as own:
        run = own.get(JobRun, run_id) if run_id is not None else None
        if run is None:
            run = JobRun(started_at=started_at, errors=[], created_by=_system_admin_id(own))
            for name, value in values.items():
                setattr(run, name, value)
            evidence.append_record(own, run, keys)
        else:
            with evidence.resealing(run, keys):
                for name, value in values.items():
                    setattr(run, name, value)
        own.commit()
        return run.id


def _system_admin_id(session: Session) -> int | None:
    """The System Admin's id (the job acts as it), or None before it exists."""
    return session.scalar(select(User.id).where(User.oidc_id == SYSTEM_ADMIN_OIDC_ID))


# -- reading ---------------------------------------------------------------


def run_lock_held(session: Session) -> bool | None:
    """Whether some connection holds the one-run lock of this schema now; None where there is no such lock (SQLite)."""
    return lock_held(session, LockPurpose.RUN)


def outcome_of(run: JobRun, *, now: datetime, lock_held: bool | None) -> str:
    """A run's outcome as a reader should show it: a "running" run that cannot be running is "did_not_finish".

    It cannot be running once RUN_DEADLINE has passed since it started, or (a
    real run on PostgreSQL, started over STARTING_GRACE ago) when nobody holds
    the one-run lock it runs under.
    """
    if run.outcome != OUTCOME_RUNNING:
        return run.outcome
    age = now - ensure_utc(run.started_at)
    if age >= RUN_DEADLINE:
        return OUTCOME_DID_NOT_FINISH
    if lock_held is False and not run.dry_run and age >= STARTING_GRACE:
        return OUTCOME_DID_NOT_FINISH
    return OUTCOME_RUNNING


def _real_runs() -> Any:
    return (
        select(JobRun)
        .where(JobRun.dry_run.is_not(true()))
        .order_by(JobRun.started_at.desc(), JobRun.id.desc())
        .limit(1)
    )


def latest_run_start(session: Session) -> datetime | None:
    """When the latest recorded run (real or dry) started; None when there is none. Only reads."""
    return session.scalar(select(func.max(JobRun.started_at)))


def first_real_run_at(session: Session) -> datetime | None:
    """When the earliest real run on record started, whatever its outcome (None: no real run yet)."""
    query = select(JobRun.started_at).where(JobRun.dry_run.is_not(true())).order_by(JobRun.started_at, JobRun.id).limit(1)
    return session.scalars(query).first()


def last_successful_run(session: Session) -> JobRun | None:
    """The record of the latest real run that completed (skipped and dry runs do not count)."""
    query = _real_runs().where(JobRun.status == RecordStatus.SUCCESS, JobRun.outcome == RunOutcome.COMPLETED.value)
    return session.scalars(query).first()


def last_real_run(session: Session) -> JobRun | None:
    """The record of the latest real run, whatever its outcome."""
    return session.scalars(_real_runs()).first()


@dataclass(frozen=True)
class JobHealth:
    healthy: bool
    status: str  # "ok", "stale" or "never_succeeded"
    checked_at: datetime
    max_age: timedelta
    last_success_at: datetime | None
    last_run_at: datetime | None
    last_run_outcome: str | None
    # The chain of the job's records over the last month (None: not verified).
    chain: ChainVerdict | None = None

    @property
    def evidence_chain(self) -> str | None:
        """The chain's verdict in one line: "chain intact from ... to ..., N records, signed" or where it broke."""
        return self.chain.describe() if self.chain is not None else None

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
            "evidence_chain": self.evidence_chain,
        }

    def describe(self) -> str:
        """One line for a person or an uptime check's log."""
        if self.chain is not None and not self.chain.intact:
            return f"{self.status}: the evidence of {JOB_NAME} was tampered with: {self.chain.describe()}"
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


def job_health(
    session: Session,
    *,
    max_age: timedelta = DEFAULT_MAX_AGE,
    now: datetime | None = None,
    keys: EvidenceKeys | None = None,
) -> JobHealth:
    """Whether the job's last successful real run finished within ``max_age`` of ``now``, and (given ``keys``)
    whether the last month of its evidence chain holds. Only reads."""
    if max_age <= timedelta(0):
        raise ValueError("max_age must be positive")
    now = utcnow() if now is None else ensure_utc(now)
    success = last_successful_run(session)
    latest = last_real_run(session)
    last_success_at = (success.finished_at or success.started_at) if success is not None else None
    if last_success_at is None:
        healthy, status = False, "never_succeeded"
    elif now - last_success_at > max_age:
        healthy, status = False, "stale"
    else:
        healthy, status = True, "ok"
    chain = evidence.verify_recent(session, keys, now=now) if keys is not None else None
    if chain is not None and not chain.intact:
        healthy, status = False, "chain_broken"
    return JobHealth(
        healthy=healthy,
        status=status,
        checked_at=now,
        max_age=max_age,
        last_success_at=last_success_at,
        last_run_at=latest.started_at if latest is not None else None,
        last_run_outcome=(
            outcome_of(latest, now=now, lock_held=run_lock_held(session)) if latest is not None else None
        ),
        chain=chain,
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
