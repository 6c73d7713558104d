"""The inactivity rule (NIST SP 800-53 AC-2(3)) over plain values: its one Python reference.

For a user at the instant ``now`` (aware UTC):

* ``last_seen`` is the latest of the dates known for the user: the activity
  this project's view of the user keeps (which outlives deleted sessions), the
  latest activity of any of the user's sessions still present, the moment the
  user was last made ACTIVE again, and the creation date. A moment later than ``now`` (clock skew, bad data) counts as ``now``.
  No date at all: None, and the rule cannot measure the user.
* The user is due when ACTIVE, not excluded, and ``now - last_seen >= threshold``.
* ``disable_due`` is ``last_seen + threshold``: when the job disables the user
  if nothing changes.
* A warning of stage N (days) is due when ``disable_due - N days <= now < disable_due``;
  when several stages are, only the most urgent (smallest N) is sent.

The database spells the same rule in SQL (services/users/user_deactivation.py); the
property tests check the two agree. The bulk loader and the benchmark's naive
loop use these functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ops_api.domain.defaults import DEFAULT_INACTIVE_DAYS

DEFAULT_THRESHOLD = timedelta(days=DEFAULT_INACTIVE_DAYS)


@dataclass(frozen=True)
class InactiveUser:
    """A user measured against the rule at some moment: due to be disabled, just disabled, or due a warning."""

    user_id: int
    email: str | None
    last_seen: datetime
    days_inactive: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "email": self.email,
            "last_seen": self.last_seen.isoformat(),
            "days_inactive": self.days_inactive,
        }


def last_seen(
    *,
    now: datetime,
    activity: datetime | None = None,
    latest_session: datetime | None = None,
    reactivated_on: datetime | None = None,
    created_on: datetime | None = None,
) -> datetime | None:
    """The latest of the user's dates, never later than ``now``; None when there is none."""
    dates = [d for d in (activity, latest_session, reactivated_on, created_on) if d is not None]
    if not dates:
        return None
    return min(max(dates), now)


def disable_due(seen: datetime, threshold: timedelta = DEFAULT_THRESHOLD) -> datetime:
    """When a user last seen at ``seen`` becomes due."""
    return seen + threshold


def is_due(
    seen: datetime | None,
    now: datetime,
    threshold: timedelta = DEFAULT_THRESHOLD,
    *,
    active: bool = True,
    excluded: bool = False,
) -> bool:
    """Whether the job disables the user at ``now``."""
    return active and not excluded and seen is not None and now - seen >= threshold


def warning_stage(due_at: datetime, now: datetime, stages: Iterable[int]) -> int | None:
    """The most urgent warning stage (days before ``due_at``) whose moment has come; None if none has.

    None too once ``due_at`` has passed: the user is then disabled, not warned.
    A stage skipped (runs were missed) is never sent later: only the most
    urgent one due now counts.
    """
    if now >= due_at:
        return None
    return next((n for n in sorted(stages) if now >= due_at - timedelta(days=n)), None)
