"""Evidence that AC-2(3) operated: every deactivation in a period, and every run of the job.

For an assessor, over ``[start, end)`` (UTC):

* **Deactivations**: every ``UPDATE_USER`` event that made a user INACTIVE,
  automatic (by the System Admin, i.e. the job) or manual (by a user
  administrator): the user, the actor, when, the reason, the user's last
  activity at that moment, the inactivity warnings sent in the threshold's
  span before it and the notices sent after it (the job sends one for either
  kind of deactivation).
* **Runs**: every run-summary event of ``disable-inactive-users`` (real and
  dry), with its outcome and counts. A run records its event when it starts;
  one killed before it could complete it (``kill -9``) shows as
  ``did_not_finish`` and, like one still running, covers no hour.
* **Evidence chain**: whether the signed chain of the job's run and e-mail
  records holds over the period and the links just before and after it
  (:mod:`ops_api.services.evidence`): intact from which record to which,
  how many, signed or not; or each record deleted, edited or inserted.
* **Schedule**: the whole UTC hours of the period (up to now) in which no real
  run left a summary event, merged into gaps, so a scheduler that stopped
  shows. A run that did not finish leaves its hour a gap. Hours before the
  hour of the first real run ever recorded are not gaps but "before the job's
  first run" (the job was not deployed yet), and the hour in progress at
  ``now`` is neither covered nor a gap: it is shown apart, since a run may
  still come.

*Last activity* is rebuilt from what the database still holds, as the rule
would have computed it at the deactivation's moment: the latest of the user's
``created_on``, the greatest ``last_active_at`` of their sessions up to that
moment, and the latest reactivation (an ``UPDATE_USER`` event to ACTIVE, or
``reactivated_on``) up to that moment.

The report is as it stood at ``now`` (the moment it is made, or an earlier
``--as-of``): events after it are left out and hours after it are not counted,
so the same period and ``now`` give the same document, byte for byte, as long
as the history up to ``now`` is unchanged. The HTML page's digest relies on it.

Only reads; a few statements whatever the size of the period.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import Text, case, cast, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from ops_api.clock import ensure_utc
from ops_api.domain import inactivity
from ops_api.domain.defaults import NOTICE_RETRY_WINDOW, SYSTEM_ADMIN_OIDC_ID
from ops_api.domain.evidence_chain import ChainVerdict, EvidenceKeys
from ops_api.domain.notification_policy import EVENT_KEY, KIND_NOTICE, KIND_WARNING
from ops_api.instants import parse_iso
from ops_api.models import EmailRecord, JobRun, OpsEvent, OpsEventType, User, UserActivity, UserSession, UserStatus
from ops_api.services import evidence
from ops_api.services.job import job_runs
from ops_api.sql import batched

# The longest period one report covers (a leap year).
MAX_RANGE = timedelta(days=366)
HOUR = timedelta(hours=1)
# Users (or deactivations) per statement: PostgreSQL takes at most 65,535 parameters in one.
# ops_user.id is a 32-bit integer: a larger id in an event names no user, and casting it in SQL would fail.
USER_ID_RANGE = (-(2**31), 2**31 - 1)


class ReportRangeError(ValueError):
    """The period asked for is not one the report can cover (one line, for a usage error or a 400)."""


def parse_bound(text: str, *, end: bool) -> datetime:
    """``2026-03-01`` or an ISO 8601 instant (UTC when it has no offset).

    A date alone means the start of that day for ``from``, and the end of that
    day for ``to``, so ``--from 2026-03-01 --to 2026-03-31`` covers all of March.
    """
    value = str(text).strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime.combine(day, time(0), tzinfo=timezone.utc)
            return moment + timedelta(days=1) if end else moment
        parsed = parse_iso(value)
    except ValueError:
        raise ReportRangeError(f"{text!r} is not a date (2026-03-01) or an ISO 8601 instant") from None
    except OverflowError:  # the end of 9999-12-31 is not a datetime
        raise ReportRangeError(f"{text!r} is beyond the last day this report can cover") from None
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is before the first UTC instant
        raise ReportRangeError(f"{text!r} is beyond the dates this report can cover") from None


def check_range(start: datetime, end: datetime) -> None:
    if end <= start:
        raise ReportRangeError("the period is empty: --to must be later than --from")
    if end - start > MAX_RANGE:
        raise ReportRangeError(f"the period is longer than {MAX_RANGE.days} days; ask for less at a time")


@dataclass
class DeactivationEvidence:
    start: datetime
    end: datetime
    generated_at: datetime
    threshold_days: int
    deactivations: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    hours: int = 0
    hours_with_a_real_run: int = 0
    hours_before_first_run: int = 0
    first_real_run_at: datetime | None = None
    # {"from", "to", "with_a_real_run"}: the period's hour that ``generated_at`` falls in, if any.
    hour_in_progress: dict[str, Any] | None = None
    gaps: list[dict[str, Any]] = field(default_factory=list)
    # Stored rows the report could not read (wrong types, missing keys): listed, never taken for absent.
    unreadable: list[dict[str, Any]] = field(default_factory=list)
    # The chain of the job's records over the period (None: not verified, no keys given).
    chain: ChainVerdict | None = None

    def to_dict(self) -> dict[str, Any]:
        outcomes: dict[str, int] = {}
        for run in self.runs:
            if not run["dry_run"]:
                outcomes[run["outcome"] or "unknown"] = outcomes.get(run["outcome"] or "unknown", 0) + 1
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "generated_at": self.generated_at.isoformat(),
            "threshold_days": self.threshold_days,
            "summary": {
                "deactivations": len(self.deactivations),
                "automatic": sum(1 for d in self.deactivations if d["automatic"]),
                "manual": sum(1 for d in self.deactivations if not d["automatic"]),
                "real_runs_by_outcome": outcomes,
                "dry_runs": sum(1 for run in self.runs if run["dry_run"]),
                "hours": self.hours,
                "hours_with_a_real_run": self.hours_with_a_real_run,
                "hours_without_a_real_run": self.hours - self.hours_with_a_real_run - self.hours_before_first_run,
                "hours_before_first_run": self.hours_before_first_run,
                "first_real_run_at": self.first_real_run_at.isoformat() if self.first_real_run_at else None,
                "hour_in_progress": self.hour_in_progress,
                "unreadable_records": len(self.unreadable),
            },
            "deactivations": self.deactivations,
            "runs": self.runs,
            "gaps": self.gaps,
            "unreadable": self.unreadable,
            "evidence_chain": self.chain.to_dict() if self.chain is not None else None,
        }

    def to_json(self) -> str:
        """The JSON document exactly as ``--format json`` prints it (ASCII, final newline included)."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def sha256(self) -> str:
        """The SHA-256 of :meth:`to_json`'s bytes: what the HTML page's footer carries."""
        return hashlib.sha256(self.to_json().encode("ascii")).hexdigest()

    def to_csv(self) -> str:
        """One table: a ``record`` column says whether a row is a deactivation, a run or a gap."""
        columns = [
            "record", "at", "user_id", "email", "actor_id", "actor_email", "automatic", "reason",
            "last_activity", "warnings", "notices", "status", "outcome", "dry_run", "candidates",
            "disabled", "failed", "skipped_reason", "gap_until", "gap_hours", "table", "record_id", "problem",
        ]
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for d in self.deactivations:
            writer.writerow(_cells({
                "record": "deactivation", "at": d["disabled_at"], "user_id": d["user_id"], "email": d["email"],
                "actor_id": d["actor_id"], "actor_email": d["actor_email"], "automatic": d["automatic"],
                "reason": d["reason"], "last_activity": d["last_activity"],
                "warnings": "; ".join(_message_text(w) for w in d["warnings"]),
                "notices": "; ".join(_message_text(n) for n in d["notices"]),
            }))
        for run in self.runs:
            writer.writerow(_cells({
                "record": "run", "at": run["at"], "status": run["status"], "outcome": run["outcome"],
                "dry_run": run["dry_run"], "candidates": run["candidates"], "disabled": run["disabled"],
                "failed": run["failed"], "skipped_reason": run["skipped_reason"],
            }))
        for gap in self.gaps:
            writer.writerow(_cells({"record": "gap", "at": gap["from"], "gap_until": gap["to"], "gap_hours": gap["hours"]}))
        for row in self.unreadable:
            writer.writerow(_cells({
                "record": "unreadable record", "table": row["table"], "record_id": row["id"], "problem": row["problem"],
            }))
        if self.chain is not None:
            # One row for the chain's verdict, then one per record deleted, edited or inserted.
            writer.writerow(_cells({"record": "evidence chain", "status": self.chain.status, "problem": self.chain.describe()}))
            for broken in self.chain.breaks:
                writer.writerow(_cells({
                    "record": "evidence chain break", "table": broken.kind, "record_id": broken.record_id,
                    "status": broken.what, "problem": broken.detail,
                }))
        return out.getvalue()


def build_report(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    threshold_days: int,
    keys: EvidenceKeys | None = None,
) -> DeactivationEvidence:
    """The evidence for ``[start, end)`` as it stood at ``now``: later events are left out, later hours are not gaps.

    Given the evidence ``keys``, it also verifies the chain of the job's records over the period.
    """
    start, end, now = ensure_utc(start), ensure_utc(end), ensure_utc(now)
    check_range(start, end)
    report = DeactivationEvidence(start=start, end=end, generated_at=now, threshold_days=threshold_days)
    report.deactivations = _deactivations(session, start, end, now, timedelta(days=threshold_days), report.unreadable)
    report.runs = _runs(session, start, end, now)
    first_real_run = job_runs.first_real_run_at(session)
    # The first run as of ``now``: a later one would change a report of an earlier moment.
    _schedule(report, now, first_real_run if first_real_run is not None and first_real_run <= now else None)
    if keys is not None and start <= now:
        report.chain = evidence.verify_period(session, keys, start=start, end=min(end, now + timedelta(microseconds=1)))
    return report


def _deactivations(
    session: Session, start: datetime, end: datetime, now: datetime, threshold: timedelta, unreadable: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every UPDATE_USER event of the period that made a user INACTIVE, read in Python so a damaged one is
    listed as unreadable instead of breaking the report."""
    # Unpacked by position below; typed as Any (SQLAlchemy types wide rows as plain objects).
    events: Sequence[Any] = session.execute(
        select(OpsEvent.id, OpsEvent.created_on, cast(OpsEvent.event_details, Text))
        .where(
            OpsEvent.event_type == OpsEventType.UPDATE_USER,
            OpsEvent.created_on >= start,
            OpsEvent.created_on < end,
            OpsEvent.created_on <= now,
            _new_status_is(session, UserStatus.INACTIVE, or_unreadable=True),
        )
        .order_by(OpsEvent.created_on, OpsEvent.id)
    ).all()
    readable: list[tuple[int, datetime, dict[str, Any]]] = []
    for event_id, at, stored in events:
        details, problem = _parse_details(stored)
        problem = problem or _status_change_problem(details)
        if problem is not None:
            unreadable.append({"table": "ops_event", "id": event_id, "problem": problem})
            continue
        readable.append((event_id, at, details))
    user_ids = sorted({details["user_id"] for _, _, details in readable} | {
        details["actor_id"] for _, _, details in readable if isinstance(details.get("actor_id"), int)
    })
    people = _people(session, user_ids)
    subject_ids = sorted({details["user_id"] for _, _, details in readable})
    views = _views(session, subject_ids)
    reactivations = _reactivations(session, subject_ids, end)
    sessions_before = _latest_sessions_before(session, [event_id for event_id, _, _ in readable])
    found = []
    for event_id, at, details in readable:
        user_id = details["user_id"]
        email, created_on, _ = people.get(user_id, (None, None, None))
        view = views.get(user_id)
        actor_id = details.get("actor_id") if isinstance(details.get("actor_id"), int) else None
        actor_email, _, actor_oidc = people.get(actor_id, (None, None, None)) if actor_id is not None else (None, None, None)
        reactivated = max((moment for moment in reactivations.get(user_id, ()) if moment <= at), default=None)
        if view is not None and view.reactivated_on is not None and view.reactivated_on <= at:
            reactivated = max(filter(None, (reactivated, view.reactivated_on)))
        activity = view.last_active_at if view is not None and view.last_active_at is not None and view.last_active_at <= at else None
        last_activity = inactivity.last_seen(
            now=at,
            activity=activity,
            latest_session=sessions_before.get(event_id),
            reactivated_on=reactivated,
            created_on=view.created_on if view is not None and view.created_on is not None else created_on,
        )
        found.append(
            {
                "event_id": event_id,
                "user_id": user_id,
                "email": email,
                "disabled_at": at.isoformat(),
                "automatic": actor_oidc == SYSTEM_ADMIN_OIDC_ID,
                "actor_id": actor_id,
                "actor_email": actor_email,
                "old_status": _text(details.get("old_status")),
                "reason": _text(details.get("reason")),
                "last_activity": last_activity.isoformat() if last_activity else None,
                "days_inactive": (at - last_activity).days if last_activity else None,
                "warnings": [],
                "notices": [],
            }
        )
    _attach_messages(session, found, start, end, now, threshold)
    return found


def _new_status_is(session: Session, status: UserStatus, *, or_unreadable: bool = False) -> ColumnElement[bool]:
    """An event's details name ``status`` as the new status (``or_unreadable``: or are not a JSON object at all,
    so that they might name it and Python can list them as unreadable).

    PostgreSQL's jsonb holds only JSON. SQLite keeps JSON as text, where one
    malformed row would make ``json_extract`` fail the whole statement: there
    the key is read only from rows that are valid JSON.
    """
    details = OpsEvent.event_details
    new_status = details["new_status"].as_string()
    if session.get_bind().dialect.name != "sqlite":
        named = new_status == status.name
        return named | details.is_(None) | (func.jsonb_typeof(details) != "object") if or_unreadable else named
    valid = func.json_valid(details) == 1
    named = case((valid, new_status), else_=None) == status.name
    if not or_unreadable:
        return named
    an_object = case((valid, func.json_type(details)), else_=None) == "object"
    return named | details.is_(None) | ~valid | ~an_object


def _parse_details(stored: str | None) -> tuple[Any, str | None]:
    """The event's details read from their stored JSON text, and why they cannot be read (None when they can)."""
    try:
        details = json.loads(stored) if stored is not None else None
    except ValueError:
        return None, "event_details is not valid JSON"
    # SQL NULL and JSON null alike.
    return details, "event_details is empty" if details is None else None


def _status_change_problem(details: Any) -> str | None:
    """Why an UPDATE_USER event's details cannot be read as a status change; None when they can."""
    if not isinstance(details, dict):
        return "event_details is not a JSON object"
    for key, required in (("user_id", True), ("actor_id", False)):
        value = details.get(key)
        if value is None and not required:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            return f"event_details.{key} is not a whole number"
        if not USER_ID_RANGE[0] <= value <= USER_ID_RANGE[1]:
            return f"event_details.{key} is outside the range of a user id"
    return None


def _text(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else json.dumps(value)


def _people(session: Session, user_ids: Sequence[int]) -> dict[int, tuple[str | None, datetime | None, Any]]:
    """E-mail, creation date and oidc id of each user, by id."""
    people: dict[int, tuple[str | None, datetime | None, Any]] = {}
    for batch in batched(user_ids):
        rows = session.execute(select(User.id, User.email, User.created_on, User.oidc_id).where(User.id.in_(batch)))
        people.update((user_id, (email, created_on, oidc_id)) for user_id, email, created_on, oidc_id in rows)
    return people


def _views(session: Session, user_ids: Sequence[int]) -> dict[int, UserActivity]:
    views: dict[int, UserActivity] = {}
    for batch in batched(user_ids):
        views.update((view.user_id, view) for view in session.scalars(select(UserActivity).where(UserActivity.user_id.in_(batch))))
    return views


def _reactivations(session: Session, user_ids: Sequence[int], end: datetime) -> dict[int, list[datetime]]:
    """When each user was made ACTIVE again (UPDATE_USER events to ACTIVE), up to the period's end."""
    wanted = set(user_ids)
    moments: dict[int, list[datetime]] = {}
    if not wanted:
        return moments
    rows: Iterable[Any] = session.execute(
        select(OpsEvent.created_on, OpsEvent.event_details).where(
            OpsEvent.event_type == OpsEventType.UPDATE_USER,
            OpsEvent.created_on < end,
            _new_status_is(session, UserStatus.ACTIVE),
        )
    )
    for at, details in rows:
        user_id = details.get("user_id") if isinstance(details, dict) else None
        if at is not None and user_id in wanted:
            moments.setdefault(user_id, []).append(at)
    return moments


def _latest_sessions_before(session: Session, event_ids: Sequence[int]) -> dict[int, datetime]:
    """For each deactivation event: the latest activity of its user's sessions still present, up to its moment.

    Only events whose details were read as a status change come here, so the
    user id in them is a whole number and casting it in SQL cannot fail.
    """
    subject_id = OpsEvent.event_details["user_id"].as_integer()
    latest_before = (
        select(func.max(UserSession.last_active_at))
        .where(UserSession.user_id == subject_id, UserSession.last_active_at <= OpsEvent.created_on)
        .correlate(OpsEvent)
        .scalar_subquery()
    )
    latest: dict[int, datetime] = {}
    for batch in batched(event_ids):
        rows = session.execute(select(OpsEvent.id, latest_before).where(OpsEvent.id.in_(batch)))
        latest.update((event_id, at) for event_id, at in rows if at is not None)
    return latest


def _attach_messages(
    session: Session,
    deactivations: list[dict[str, Any]],
    start: datetime,
    end: datetime,
    now: datetime,
    threshold: timedelta,
) -> None:
    """The warnings in the threshold's span before each deactivation, and the notices in the week after.

    Notices come after a deactivation by the job and, from the job's next run,
    after one by an administrator; the latter name their event and are shown
    with it alone.
    """
    user_ids = sorted({d["user_id"] for d in deactivations})
    by_user: dict[int, list[EmailRecord]] = {}
    for batch in batched(user_ids):
        records = session.scalars(
            select(EmailRecord)
            .where(
                EmailRecord.kind.in_([KIND_WARNING, KIND_NOTICE]),
                EmailRecord.created_on >= start - threshold,
                EmailRecord.created_on < end + NOTICE_RETRY_WINDOW,
                EmailRecord.created_on <= now,
                EmailRecord.user_id.in_(batch),
            )
            .order_by(EmailRecord.created_on, EmailRecord.id)
        )
        for record in records:
            by_user.setdefault(record.user_id or 0, []).append(record)
    for deactivation in deactivations:
        at = datetime.fromisoformat(deactivation["disabled_at"])
        for record in by_user.get(deactivation["user_id"], []):
            message = {
                "sent_at": record.created_on.isoformat(),
                "status": record.status.name,
                "recipient": record.recipient,
                "period": record.period.isoformat() if record.period else None,
            }
            if record.kind == KIND_WARNING and at - threshold < record.created_on <= at:
                deactivation["warnings"].append({**message, "stage": record.stage})
            elif record.kind == KIND_NOTICE and at <= record.created_on < at + NOTICE_RETRY_WINDOW:
                # The notice of an administrator's deactivation names its event: it belongs to that one only.
                told_of = (record.details or {}).get(EVENT_KEY) if isinstance(record.details, dict) else None
                if told_of is None or told_of == deactivation["event_id"]:
                    deactivation["notices"].append(message)


def _runs(session: Session, start: datetime, end: datetime, now: datetime) -> list[dict[str, Any]]:
    runs = session.scalars(
        select(JobRun)
        .where(JobRun.started_at >= start, JobRun.started_at < end, JobRun.started_at <= now)
        .order_by(JobRun.started_at, JobRun.id)
    ).all()
    lock_held = job_runs.run_lock_held(session) if runs else None
    return [
        {
            "run_id": run.id,
            "at": run.started_at.isoformat(),
            "status": run.status.name,
            # A run killed before it completed its record reads "did_not_finish".
            "outcome": job_runs.outcome_of(run, now=now, lock_held=lock_held),
            "dry_run": run.dry_run,
            "candidates": run.candidates,
            "disabled": run.disabled,
            "failed": run.failed,
            "skipped_reason": run.skipped_reason,
        }
        for run in runs
    ]


def hour_of(moment: datetime) -> datetime:
    """The start of the UTC hour ``moment`` falls in."""
    return moment.replace(minute=0, second=0, microsecond=0)


def counted_hours(start: datetime, end: datetime, now: datetime) -> Iterator[datetime]:
    """The whole UTC hours of ``[start, end)`` that had ended by ``now``: those the schedule is checked on."""
    hour = hour_of(start)
    if hour < start:
        hour += HOUR
    last = min(end, now)
    while hour + HOUR <= last:
        yield hour
        hour += HOUR


def hour_in_progress(start: datetime, end: datetime, now: datetime) -> datetime | None:
    """The whole hour of ``[start, end)`` that ``now`` falls in, not over yet; None when ``now`` is in no such hour."""
    hour = hour_of(now)
    return hour if start <= hour and hour + HOUR <= end else None


def before_first_run(hour: datetime, first_real_run_at: datetime | None) -> bool:
    """Whether ``hour`` ended before the hour of the job's first real run (or no real run is on record)."""
    return first_real_run_at is None or hour < hour_of(first_real_run_at)


def _schedule(report: DeactivationEvidence, now: datetime, first_real_run_at: datetime | None) -> None:
    """Whole hours of the period, up to now: before the job's first run, with a real run, or in a gap."""
    ran = {
        hour_of(datetime.fromisoformat(run["at"]))
        for run in report.runs
        # A run that did not finish (or is still running) is not a finished real run.
        if not run["dry_run"] and run["outcome"] not in (job_runs.OUTCOME_RUNNING, job_runs.OUTCOME_DID_NOT_FINISH)
    }
    gaps: list[dict[str, Any]] = []
    hours, covered, before = 0, 0, 0
    for hour in counted_hours(report.start, report.end, now):
        hours += 1
        if before_first_run(hour, first_real_run_at):
            before += 1
        elif hour in ran:
            covered += 1
        elif gaps and gaps[-1]["_end"] == hour:
            gaps[-1]["_end"] = hour + HOUR
        else:
            gaps.append({"_start": hour, "_end": hour + HOUR})
    report.hours, report.hours_with_a_real_run, report.hours_before_first_run = hours, covered, before
    report.first_real_run_at = first_real_run_at
    current = hour_in_progress(report.start, report.end, now)
    report.hour_in_progress = (
        None
        if current is None
        else {"from": current.isoformat(), "to": (current + HOUR).isoformat(), "with_a_real_run": current in ran}
    )
    report.gaps = [
        {
            "from": gap["_start"].isoformat(),
            "to": gap["_end"].isoformat(),
            "hours": int((gap["_end"] - gap["_start"]) / HOUR),
        }
        for gap in gaps
    ]


def _message_text(message: dict[str, Any]) -> str:
    stage = f"{message['stage']}-day " if message.get("stage") is not None else ""
    return f"{stage}{message['sent_at']} {message['status']} to {message['recipient']}"


def _cells(row: dict[str, Any]) -> dict[str, Any]:
    """Text that a spreadsheet would run as a formula is quoted."""
    safe = {}
    for key, value in row.items():
        if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
            value = "'" + value
        safe[key] = "" if value is None else value
    return safe


__all__ = [
    "DeactivationEvidence",
    "ReportRangeError",
    "build_report",
    "check_range",
    "before_first_run",
    "counted_hours",
    "hour_in_progress",
    "hour_of",
    "parse_bound",
]
