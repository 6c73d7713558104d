"""Evidence that AC-2(3) operated: every deactivation in a period, and every run of the job.

For an assessor, over ``[start, end)`` (UTC):

* **Deactivations**: every ``UPDATE_USER`` event that made a user INACTIVE,
  automatic (by the System Admin, i.e. the job) or manual (by a user
  administrator): the user, the actor, when, the reason, the user's last
  activity at that moment, the inactivity warnings sent in the threshold's
  span before it and the notices sent after it.
* **Runs**: every run-summary event of ``disable-inactive-users`` (real and
  dry), with its outcome and counts. A run records its event when it starts;
  one killed before it could complete it (``kill -9``) shows as
  ``did_not_finish`` and, like one still running, covers no hour.
* **Schedule**: the whole UTC hours of the period (up to now) in which no real
  run left a summary event, merged into gaps, so a scheduler that stopped
  shows. A run that did not finish leaves its hour a gap.

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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from ops_api.clock import ensure_utc
from ops_api.domain.defaults import NOTICE_RETRY_WINDOW
from ops_api.domain.notification_policy import KIND_NOTICE, KIND_WARNING
from ops_api.instants import parse_iso
from ops_api.models import OpsEvent, OpsEventType, User, UserSession, UserStatus
from ops_api.services import job_runs
from ops_api.services.notifications import EVENT_TYPE as NOTIFICATION_EVENT
from ops_api.services.users import SYSTEM_ADMIN_OIDC_ID

# The longest period one report covers (a leap year).
MAX_RANGE = timedelta(days=366)
HOUR = timedelta(hours=1)
# How long after a deactivation its notice may have gone (the notices' retry window).
NOTICE_WINDOW = NOTICE_RETRY_WINDOW


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
    gaps: list[dict[str, Any]] = field(default_factory=list)

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
                "hours_without_a_real_run": self.hours - self.hours_with_a_real_run,
            },
            "deactivations": self.deactivations,
            "runs": self.runs,
            "gaps": self.gaps,
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
            "disabled", "failed", "skipped_reason", "gap_until", "gap_hours",
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
        return out.getvalue()


def build_report(
    session: Session, *, start: datetime, end: datetime, now: datetime, threshold_days: int
) -> DeactivationEvidence:
    """The evidence for ``[start, end)`` as it stood at ``now``: later events are left out, later hours are not gaps."""
    start, end, now = ensure_utc(start), ensure_utc(end), ensure_utc(now)
    check_range(start, end)
    report = DeactivationEvidence(start=start, end=end, generated_at=now, threshold_days=threshold_days)
    report.deactivations = _deactivations(session, start, end, now, timedelta(days=threshold_days))
    report.runs = _runs(session, start, end, now)
    _schedule(report, now)
    return report


def _deactivations(
    session: Session, start: datetime, end: datetime, now: datetime, threshold: timedelta
) -> list[dict[str, Any]]:
    details = OpsEvent.event_details
    subject_id = details["user_id"].as_integer()
    sessions_before = (
        select(func.max(UserSession.last_active_at))
        .where(UserSession.user_id == subject_id, UserSession.last_active_at <= OpsEvent.created_on)
        .correlate(OpsEvent)
        .scalar_subquery()
    )
    reactivation = aliased(OpsEvent)
    reactivated_before = (
        select(func.max(reactivation.created_on))
        .where(
            reactivation.event_type == OpsEventType.UPDATE_USER,
            reactivation.event_details["user_id"].as_integer() == subject_id,
            reactivation.event_details["new_status"].as_string() == UserStatus.ACTIVE.name,
            reactivation.created_on <= OpsEvent.created_on,
        )
        .correlate(OpsEvent)
        .scalar_subquery()
    )
    subject, actor = aliased(User), aliased(User)
    # Unpacked by position below; typed as Any (SQLAlchemy types wide rows as plain objects).
    rows: Sequence[Any] = session.execute(
        select(
            OpsEvent.id,
            OpsEvent.created_on,
            OpsEvent.event_details,
            subject.email,
            subject.created_on,
            subject.reactivated_on,
            actor.email,
            actor.oidc_id,
            sessions_before,
            reactivated_before,
        )
        .outerjoin(subject, subject.id == subject_id)
        .outerjoin(actor, actor.id == details["actor_id"].as_integer())
        .where(
            OpsEvent.event_type == OpsEventType.UPDATE_USER,
            OpsEvent.created_on >= start,
            OpsEvent.created_on < end,
            OpsEvent.created_on <= now,
            details["new_status"].as_string() == UserStatus.INACTIVE.name,
        )
        .order_by(OpsEvent.created_on, OpsEvent.id)
    ).all()
    found = []
    for event_id, at, event_details, email, created_on, reactivated_on, actor_email, actor_oidc, seen, reactivated in rows:
        candidates = [value for value in (created_on, seen, reactivated) if value is not None]
        if reactivated_on is not None and reactivated_on <= at:
            candidates.append(reactivated_on)
        last_activity = max(candidates) if candidates else None
        found.append(
            {
                "event_id": event_id,
                "user_id": event_details.get("user_id"),
                "email": email,
                "disabled_at": at.isoformat(),
                "automatic": actor_oidc == SYSTEM_ADMIN_OIDC_ID,
                "actor_id": event_details.get("actor_id"),
                "actor_email": actor_email,
                "old_status": event_details.get("old_status"),
                "reason": event_details.get("reason"),
                "last_activity": last_activity.isoformat() if last_activity else None,
                "days_inactive": (at - last_activity).days if last_activity else None,
                "warnings": [],
                "notices": [],
            }
        )
    _attach_messages(session, found, start, end, now, threshold)
    return found


def _attach_messages(
    session: Session,
    deactivations: list[dict[str, Any]],
    start: datetime,
    end: datetime,
    now: datetime,
    threshold: timedelta,
) -> None:
    """The warnings in the threshold's span before each deactivation, and the notices in the week after."""
    user_ids = sorted({d["user_id"] for d in deactivations if d["user_id"] is not None})
    if not user_ids:
        return
    kind = OpsEvent.event_details["kind"].as_string()
    # Unpacked by position below; typed as Any (SQLAlchemy types wide rows as plain objects).
    rows: Sequence[Any] = session.execute(
        select(OpsEvent.created_on, OpsEvent.event_status, OpsEvent.event_details)
        .where(
            OpsEvent.event_type == NOTIFICATION_EVENT,
            OpsEvent.created_on >= start - threshold,
            OpsEvent.created_on < end + NOTICE_WINDOW,
            OpsEvent.created_on <= now,
            kind.in_([KIND_WARNING, KIND_NOTICE]),
            OpsEvent.event_details["user_id"].as_integer().in_(user_ids),
        )
        .order_by(OpsEvent.created_on, OpsEvent.id)
    ).all()
    for deactivation in deactivations:
        at = datetime.fromisoformat(deactivation["disabled_at"])
        for sent_at, status, details in rows:
            if details.get("user_id") != deactivation["user_id"]:
                continue
            message = {
                "sent_at": sent_at.isoformat(),
                "status": status.name,
                "recipient": details.get("recipient"),
                "period": details.get("period"),
            }
            if details.get("kind") == KIND_WARNING and at - threshold < sent_at <= at:
                deactivation["warnings"].append({**message, "stage": details.get("stage")})
            elif details.get("kind") == KIND_NOTICE and at <= sent_at < at + NOTICE_WINDOW:
                deactivation["notices"].append(message)


def _runs(session: Session, start: datetime, end: datetime, now: datetime) -> list[dict[str, Any]]:
    # Unpacked by position below; typed as Any (SQLAlchemy types wide rows as plain objects).
    rows: Sequence[Any] = session.execute(
        select(OpsEvent.id, OpsEvent.created_on, OpsEvent.event_status, OpsEvent.event_details)
        .where(
            OpsEvent.event_type == OpsEventType.DISABLE_INACTIVE_USERS,
            OpsEvent.created_on >= start,
            OpsEvent.created_on < end,
            OpsEvent.created_on <= now,
        )
        .order_by(OpsEvent.created_on, OpsEvent.id)
    ).all()
    lock_held = job_runs.run_lock_held(session) if rows else None
    return [
        {
            "event_id": event_id,
            "at": at.isoformat(),
            "status": status.name,
            # A run killed before it completed its event reads "did_not_finish".
            "outcome": job_runs.outcome_of(details, at, now=now, lock_held=lock_held),
            "dry_run": bool((details or {}).get("dry_run")),
            "candidates": (details or {}).get("candidates"),
            "disabled": (details or {}).get("disabled"),
            "failed": (details or {}).get("failed"),
            "skipped_reason": (details or {}).get("skipped_reason"),
        }
        for event_id, at, status, details in rows
    ]


def counted_hours(start: datetime, end: datetime, now: datetime) -> Iterator[datetime]:
    """The whole UTC hours of ``[start, end)`` that had ended by ``now``: those the schedule is checked on."""
    hour = start.replace(minute=0, second=0, microsecond=0)
    if hour < start:
        hour += HOUR
    last = min(end, now)
    while hour + HOUR <= last:
        yield hour
        hour += HOUR


def _schedule(report: DeactivationEvidence, now: datetime) -> None:
    """Whole hours of the period, up to now, and those in which no real run finished."""
    ran = {
        datetime.fromisoformat(run["at"]).replace(minute=0, second=0, microsecond=0)
        for run in report.runs
        # A run that did not finish (or is still running) is not a finished real run.
        if not run["dry_run"] and run["outcome"] not in (job_runs.OUTCOME_RUNNING, job_runs.OUTCOME_DID_NOT_FINISH)
    }
    gaps: list[dict[str, Any]] = []
    hours, covered = 0, 0
    for hour in counted_hours(report.start, report.end, now):
        hours += 1
        if hour in ran:
            covered += 1
        elif gaps and gaps[-1]["_end"] == hour:
            gaps[-1]["_end"] = hour + HOUR
        else:
            gaps.append({"_start": hour, "_end": hour + HOUR})
    report.hours, report.hours_with_a_real_run = hours, covered
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
    "counted_hours",
    "parse_bound",
]
