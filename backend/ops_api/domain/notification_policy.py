"""Which inactivity e-mail is owed: pure decisions over plain data, no database and no SMTP.

The service (services/mail/notifications.py) reads the past messages from
``email_record``, the users from ``ops_user`` and administrators'
deactivations from ``ops_event``, hands them here as plain values, and renders
and sends what these functions return.

At most once: a past message that went out (its record is ``SUCCESS``, or
``UNKNOWN`` because the job stopped mid-send) is never repeated; a ``FAILED``
one is owed again while it is within the retry window. A period is the user's
``last_seen``: new activity starts a new period, and the old period's warnings
are then never sent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ops_api.domain.inactivity import InactiveUser, disable_due, warning_stage

KIND_WARNING = "inactivity_warning"
KIND_NOTICE = "deactivation_notice"
KIND_SUMMARY = "deactivation_summary"


@dataclass(frozen=True)
class PastMessage:
    """A message on record: its event details, and whether it counts as sent (SUCCESS or UNKNOWN)."""

    details: Mapping[str, Any]
    went_out: bool


# In a notice's details: the UPDATE_USER event of the administrator's
# deactivation it tells of. A notice without it tells of the job's.
EVENT_KEY = "deactivation_event_id"


@dataclass(frozen=True)
class OwedNotice:
    user_id: int
    last_seen: datetime | None  # the period; None for an administrator's deactivation, which ends none
    disabled_on: datetime
    retry: bool  # owed because an earlier attempt failed
    event_id: int | None = None  # the administrator's UPDATE_USER event; None when the job disabled the user

    @property
    def by_administrator(self) -> bool:
        return self.event_id is not None


@dataclass(frozen=True)
class AdminDeactivation:
    """A user made INACTIVE by an administrator (not by the job), as its UPDATE_USER event says."""

    event_id: int
    user_id: int
    disabled_on: datetime


@dataclass(frozen=True)
class DueWarning:
    user_id: int
    last_seen: datetime  # the period
    stage: int
    disable_due: datetime


def notices_owed(disabled: Sequence[InactiveUser], past: Iterable[PastMessage], now: datetime) -> list[OwedNotice]:
    """A notice for each user just disabled, and one for each failed notice not yet sent since.

    ``past`` holds the notices of the retry window. Ordered by the day of the
    deactivation, then the user.
    """
    sent: set[tuple[int, str]] = set()
    failed: dict[tuple[int, str], Mapping[str, Any]] = {}
    for message in past:
        details = message.details
        if details.get("kind") != KIND_NOTICE or details.get("user_id") is None or details.get(EVENT_KEY) is not None:
            continue  # an administrator's deactivation is owed its notice by admin_notices_owed
        key = (details["user_id"], details.get("period") or "")
        if message.went_out:
            sent.add(key)
        else:
            failed[key] = details
    wanted: dict[tuple[int, str], OwedNotice] = {}
    for user in disabled:
        wanted[(user.user_id, user.last_seen.isoformat())] = OwedNotice(user.user_id, user.last_seen, now, False)
    for key, details in failed.items():
        if key not in wanted and key[1]:
            wanted[key] = OwedNotice(
                key[0], datetime.fromisoformat(key[1]), datetime.fromisoformat(details["disabled_on"]), True
            )
    owed = [notice for key, notice in wanted.items() if key not in sent]
    return sorted(owed, key=lambda notice: (notice.disabled_on, notice.user_id))


def admin_deactivation(
    event_id: int, at: datetime, details: Any, *, by_the_job: bool
) -> AdminDeactivation | None:
    """The administrator's deactivation an UPDATE_USER event records, or None.

    None for an event written by the job (``by_the_job``: its actor is the
    System Admin, whose deactivations get the job's own notice), one that is
    not a change to INACTIVE (a profile edit, a reactivation, a lock), and one
    whose details cannot be read as such.
    """
    if by_the_job or not isinstance(details, Mapping) or details.get("new_status") != "INACTIVE":
        return None
    user_id = details.get("user_id")
    # ops_user.id is a 32-bit integer: a larger number names nobody (and would fail as a query parameter).
    if isinstance(user_id, bool) or not isinstance(user_id, int) or not -(2**31) <= user_id < 2**31:
        return None
    return AdminDeactivation(event_id, user_id, at)


def admin_notices_owed(
    deactivations: Iterable[AdminDeactivation],
    past: Iterable[PastMessage],
    reactivated_on: Mapping[int, datetime | None],
    now: datetime,
    *,
    window: timedelta,
) -> list[OwedNotice]:
    """A notice for each administrator's deactivation of the last ``window``, until one goes out.

    Owed until a notice naming the deactivation's event went out (or may
    have: UNKNOWN); each run that finds it owed tries again, so a failed one
    is retried for the same ``window`` as the job's notices. Not owed when the
    user was made ACTIVE again at or after the deactivation (``reactivated_on``,
    by user), nor for a deactivation that a later one of the same user
    supersedes. Ordered by the moment of the deactivation, then the user.
    """
    went_out: set[int] = set()
    failed: set[int] = set()
    for message in past:
        details = message.details
        event_id = details.get(EVENT_KEY)
        if details.get("kind") != KIND_NOTICE or isinstance(event_id, bool) or not isinstance(event_id, int):
            continue
        (went_out if message.went_out else failed).add(event_id)
    latest: dict[int, AdminDeactivation] = {}
    for deactivation in deactivations:
        if not now - window < deactivation.disabled_on <= now:
            continue
        known = latest.get(deactivation.user_id)
        if known is None or (deactivation.disabled_on, deactivation.event_id) > (known.disabled_on, known.event_id):
            latest[deactivation.user_id] = deactivation
    owed = []
    for deactivation in latest.values():
        back_on = reactivated_on.get(deactivation.user_id)
        if deactivation.event_id in went_out or (back_on is not None and back_on >= deactivation.disabled_on):
            continue
        owed.append(
            OwedNotice(
                deactivation.user_id,
                None,
                deactivation.disabled_on,
                deactivation.event_id in failed,
                deactivation.event_id,
            )
        )
    return sorted(owed, key=lambda notice: (notice.disabled_on, notice.user_id))


def summary_rows(disabled: Sequence[InactiveUser], now: datetime) -> dict[tuple[int, str], dict[str, Any]]:
    """The summary's row for each user just disabled, keyed by (user, period)."""
    return {
        (user.user_id, user.last_seen.isoformat()): {
            "user_id": user.user_id,
            "email": user.email,
            "last_seen": user.last_seen.isoformat(),
            "days_inactive": user.days_inactive,
            "disabled_on": now.isoformat(),
        }
        for user in disabled
    }


def summary_rows_owed(past: Iterable[PastMessage]) -> dict[int, dict[tuple[int, str], dict[str, Any]]]:
    """For each admin, the rows that failed summaries still owe: those of FAILED summaries after the last that went out.

    ``past`` in the order the messages were recorded.
    """
    owed: dict[int, dict[tuple[int, str], dict[str, Any]]] = {}
    for message in past:
        details = message.details
        admin_id = details.get("recipient_user_id")
        if details.get("kind") != KIND_SUMMARY or admin_id is None:
            continue
        if message.went_out:
            owed.pop(admin_id, None)
        else:
            for row in details.get("users") or []:
                owed.setdefault(admin_id, {})[(row["user_id"], row["last_seen"])] = row
    return owed


def summary_for(
    admin_id: int,
    new_rows: Mapping[tuple[int, str], dict[str, Any]],
    owed: Mapping[int, Mapping[tuple[int, str], dict[str, Any]]],
) -> list[dict[str, Any]]:
    """The rows of one admin's summary (what was owed, then this run's), by deactivation time and user; may be empty."""
    rows = {**owed.get(admin_id, {}), **new_rows}
    return sorted(rows.values(), key=lambda row: (row["disabled_on"], row["user_id"]))


def warnings_due(
    candidates: Iterable[tuple[int, datetime]],
    now: datetime,
    *,
    threshold: timedelta,
    stages: Iterable[int],
) -> dict[int, DueWarning]:
    """For each (user_id, last_seen) candidate, the warning stage due at ``now``, if any."""
    stages = tuple(stages)
    due = {}
    for user_id, seen in candidates:
        due_at = disable_due(seen, threshold)
        stage = warning_stage(due_at, now, stages)
        if stage is not None:
            due[user_id] = DueWarning(user_id, seen, stage, due_at)
    return due


def sent_warning_keys(past_details: Iterable[Mapping[str, Any]]) -> set[tuple[int, datetime, int]]:
    """(user, period, stage) of each warning that went out; damaged records are skipped."""
    keys = set()
    for details in past_details:
        with contextlib.suppress(KeyError, TypeError, ValueError):
            keys.add((details["user_id"], datetime.fromisoformat(details["period"]), details["stage"]))
    return keys


def warnings_owed(due: Mapping[int, DueWarning], sent: set[tuple[int, datetime, int]]) -> list[DueWarning]:
    """The due warnings not sent yet for their period and stage, longest inactive first."""
    owed = [warning for warning in due.values() if (warning.user_id, warning.last_seen, warning.stage) not in sent]
    return sorted(owed, key=lambda warning: (warning.last_seen, warning.user_id))
