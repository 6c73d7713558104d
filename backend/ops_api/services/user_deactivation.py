"""Disable accounts after a period of inactivity (NIST SP 800-53 AC-2(3)).

The rule, for a user U at the instant ``now`` (UTC, computed in Python):

* ``last_seen(U)`` is the latest of: the greatest ``last_active_at`` over all of
  U's sessions, active or ended; ``U.reactivated_on`` (the moment an admin last
  made U ACTIVE again); ``U.created_on``. A value later than ``now`` (clock
  skew, bad data) counts as ``now``; a real run also pins session activity
  stamped more than a few minutes ahead to the moment it first saw it, so bad
  data exempts an account for one window at most.
* U is disabled when U is ACTIVE, not excluded, and
  ``now - last_seen(U) >= threshold`` (60 days by default).

Every deactivation goes through :func:`ops_api.services.users.deactivate_user`
with the System Admin as actor, so it is recorded exactly like a manual one.

Transactions: :meth:`UserDeactivationService.find_inactive_users` only reads.
:meth:`UserDeactivationService.disable_inactive_users` owns its transactions:
it ends the session's current transaction with a rollback, then commits once
per user (so one failure cannot undo or block the others). Call it with a
session that holds no uncommitted work.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Select, func, or_, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, lazyload

from ops_api.clock import ensure_utc, utcnow
from ops_api.models import User, UserSession, UserStatus
from ops_api.services.users import (
    SYSTEM_ADMIN_OIDC_ID,
    deactivate_user,
    get_or_create_system_admin,
    select_user_for_update,
)
from ops_api.sql import greatest, least

logger = logging.getLogger(__name__)

DEFAULT_INACTIVE_DAYS = 60
# A century: anything longer is a typo, and would overflow date arithmetic.
MAX_INACTIVE_DAYS = 36_500
# The instants a preview (as_of) may name.
EARLIEST_AS_OF = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST_AS_OF = datetime(9000, 1, 1, tzinfo=timezone.utc)
# Clocks of different hosts disagree a little: activity this far ahead of the
# job's clock is left alone (it counts as now); beyond it, it is bad data.
FUTURE_ACTIVITY_ALLOWANCE = timedelta(minutes=5)
# How long a run waits for another transaction's lock on a user before that
# user fails (and the run goes on with the others).
USER_LOCK_WAIT = "5s"
# Users per statement when the admin UI asks about many at once (PostgreSQL
# takes at most 65,535 parameters in one statement).
IDS_PER_STATEMENT = 10_000
DEFAULT_MAX_DISABLE = 50
# The PostgreSQL advisory lock that keeps runs from overlapping: one per schema,
# so separate OPS schemas (or test runs) on one server never block each other.
RUN_LOCK_NAMESPACE = 20_260_026
RUN_LOCK_ARGUMENTS = "(:namespace, hashtext(current_schema()))"


class RunOutcome(enum.Enum):
    COMPLETED = "completed"  # every due user disabled (or nobody was due, or a dry run)
    FAILED = "failed"  # a user could not be disabled, or the run was stopped early
    REFUSED_BY_CAP = "refused_by_cap"  # more users due than the safety cap allows
    SKIPPED = "skipped"  # another run holds the lock


@dataclass(frozen=True)
class InactiveUser:
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


@dataclass(frozen=True)
class Inactivity:
    """Where a user stands against the rule, as the admin UI shows it."""

    last_seen: datetime
    days_inactive: int
    # When the job will disable the user if nothing changes; None for users it
    # never disables (excluded, or not ACTIVE). In the past: at the next run.
    disable_due: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "last_seen": self.last_seen.isoformat(),
            "days_inactive": self.days_inactive,
            "disable_due": self.disable_due.isoformat() if self.disable_due else None,
        }


@dataclass(frozen=True)
class FailedUser:
    user_id: int
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "error": self.error}


@dataclass
class DeactivationReport:
    as_of: datetime
    threshold_days: int
    dry_run: bool
    max_disable: int
    candidates: list[InactiveUser] = field(default_factory=list)
    disabled: list[int] = field(default_factory=list)
    # Due when the run started, but not any more when their row was locked
    # (they logged in, or someone else changed them meanwhile).
    no_longer_due: list[int] = field(default_factory=list)
    failed: list[FailedUser] = field(default_factory=list)
    skipped_reason: str | None = None
    refused_by_cap: bool = False
    skipped_by_lock: bool = False
    stopped_early: bool = False
    duration_seconds: float = 0.0

    @property
    def outcome(self) -> RunOutcome:
        if self.skipped_by_lock:
            return RunOutcome.SKIPPED
        if self.refused_by_cap and not self.dry_run:
            return RunOutcome.REFUSED_BY_CAP
        if self.failed or self.stopped_early:
            return RunOutcome.FAILED
        return RunOutcome.COMPLETED

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "as_of": self.as_of.isoformat(),
            "threshold_days": self.threshold_days,
            "candidates": [c.to_dict() for c in self.candidates],
            "disabled": list(self.disabled),
            "failed": [f.to_dict() for f in self.failed],
            "skipped_reason": self.skipped_reason,
        }


class UserDeactivationService:
    """Finds and disables inactive accounts. Takes the session it works in; never reads Flask globals."""

    def __init__(
        self,
        session: Session,
        *,
        inactive_days: int = DEFAULT_INACTIVE_DAYS,
        excluded_oidc_ids: Iterable[uuid.UUID] | None = None,
        max_disable: int = DEFAULT_MAX_DISABLE,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if (
            isinstance(inactive_days, bool)
            or not isinstance(inactive_days, int)
            or not 1 <= inactive_days <= MAX_INACTIVE_DAYS
        ):
            raise ValueError(f"inactive_days must be a whole number from 1 to {MAX_INACTIVE_DAYS}, got {inactive_days!r}")
        _check_max_disable(max_disable)
        if excluded_oidc_ids is None:
            from ops_api.config import DEFAULT_EXCLUDED_OIDC_IDS

            excluded_oidc_ids = DEFAULT_EXCLUDED_OIDC_IDS
        self.session = session
        self.inactive_days = inactive_days
        # The System Admin acts for the job, so it is never a candidate itself.
        self.excluded_oidc_ids = frozenset({*excluded_oidc_ids, SYSTEM_ADMIN_OIDC_ID})
        self.max_disable = max_disable
        self.clock = clock

    @classmethod
    def from_config(
        cls, session: Session, config: Mapping[str, Any], *, inactive_days: int | None = None
    ) -> UserDeactivationService:
        """Build the service from the application's settings (``inactive_days`` overrides the rule)."""
        return cls(
            session,
            inactive_days=inactive_days or config["DEACTIVATION_INACTIVE_DAYS"],
            excluded_oidc_ids=config["DEACTIVATION_EXCLUDED_OIDC_IDS"],
            max_disable=config["DEACTIVATION_MAX_PER_RUN"],
        )

    @property
    def threshold(self) -> timedelta:
        return timedelta(days=self.inactive_days)

    # -- reading -------------------------------------------------------------

    def find_inactive_users(self, as_of: datetime | None = None) -> list[InactiveUser]:
        """Users the rule would disable at ``as_of`` (default: now), longest inactive first.

        One SQL statement, whatever the number of users. ``as_of`` previews a
        later (or earlier) date; activity recorded after the real now still
        counts as now.
        """
        now = self.clock()
        as_of = now if as_of is None else check_as_of(as_of)
        rows = self.session.execute(self._inactive_users_query(as_of=as_of, now=now)).all()
        return [_inactive_user(row, as_of) for row in rows]

    def find_users_due_within(self, within: timedelta, *, now: datetime | None = None) -> list[InactiveUser]:
        """ACTIVE, non-excluded users not due yet whose disable_due falls within ``within`` of now.

        The inactivity warnings' candidates: the rule's own query previewed at
        ``now + within``, less those already due at ``now`` (the job disables
        those instead). One statement, driven by the same indexes as the job's
        own search, so the hourly look costs about what the rule's does.
        """
        now = self.clock() if now is None else ensure_utc(now)
        if within >= self.threshold:
            raise ValueError("within must be shorter than the inactivity threshold")
        query = self._inactive_users_query(as_of=now + within, now=now)
        last_seen = query.selected_columns.last_seen
        rows = self.session.execute(query.where(last_seen > now - self.threshold)).all()
        return [_inactive_user(row, now) for row in rows]

    def last_seen_of(self, user_ids: Iterable[int], *, now: datetime | None = None) -> dict[int, datetime]:
        """``last_seen`` for the given users, as the rule computes it (one statement per 10,000 users)."""
        now = self.clock() if now is None else now
        ids = list(user_ids)
        last_seen = self._last_seen_expression(now)
        seen: dict[int, datetime] = {}
        for start in range(0, len(ids), IDS_PER_STATEMENT):
            batch = ids[start : start + IDS_PER_STATEMENT]
            seen.update((user_id, at) for user_id, at in self.session.execute(select(User.id, last_seen).where(User.id.in_(batch))))
        return seen

    def inactivity_of(self, users: Iterable[User], *, now: datetime | None = None) -> dict[int, Inactivity]:
        """last_seen, days inactive and disable_due for each of ``users`` (one statement)."""
        now = self.clock() if now is None else now
        users = list(users)
        seen = self.last_seen_of([user.id for user in users], now=now)
        result = {}
        for user in users:
            subject = user.status is UserStatus.ACTIVE and user.oidc_id not in self.excluded_oidc_ids
            result[user.id] = Inactivity(
                last_seen=seen[user.id],
                days_inactive=(now - seen[user.id]).days,
                disable_due=seen[user.id] + self.threshold if subject else None,
            )
        return result

    def _last_seen_expression(self, now: datetime) -> Any:
        latest_activity = (
            select(func.max(UserSession.last_active_at))
            .where(UserSession.user_id == User.id)
            .correlate(User)
            .scalar_subquery()
        )
        window_start = func.coalesce(User.reactivated_on, User.created_on)
        return least(
            greatest(User.created_on, window_start, func.coalesce(latest_activity, User.created_on)),
            now,
        ).label("last_seen")

    def _inactive_users_query(self, *, as_of: datetime, now: datetime) -> Select[Any]:
        cutoff = as_of - self.threshold
        last_seen = self._last_seen_expression(now)
        query = select(User.id, User.email, last_seen).where(User.status == UserStatus.ACTIVE)
        if cutoff < now:
            # Every input to last_seen must be at or before the cutoff. Spelled
            # out column by column so the planner can use the indexes: the
            # anti-join probes user_session by (user_id, last_active_at), or
            # (PostgreSQL) hashes the users seen after the cutoff, read from
            # the index on (last_active_at, user_id). The subquery selects an
            # indexed column so that SQLite's probe is index-only too.
            recent_activity = (
                select(UserSession.user_id)
                .where(UserSession.user_id == User.id, UserSession.last_active_at > cutoff)
                .exists()
            )
            query = query.where(
                User.created_on <= cutoff,
                or_(User.reactivated_on.is_(None), User.reactivated_on <= cutoff),
                ~recent_activity,
            )
        # else: a preview so far ahead that even activity at "now" is too old:
        # every ACTIVE, non-excluded user qualifies.
        if self.excluded_oidc_ids:
            # Last, so SQLite tests the few excluded ids only on rows that passed the rest.
            query = query.where(
                or_(User.oidc_id.is_(None), User.oidc_id.not_in(sorted(self.excluded_oidc_ids)))
            )
        return query.order_by(last_seen.asc(), User.id.asc())

    def users_with_future_activity(self, *, now: datetime | None = None) -> list[tuple[int, str | None, datetime]]:
        """ACTIVE users with a last_active_at later than now: bad data that the rule treats as now.

        The users are found through user_session's (last_active_at, user_id)
        index: the range after now is empty or tiny, so this costs next to
        nothing each hour. (An IN list rather than a join or GROUP BY, which
        would let SQLite prefer walking a whole index in user order.)
        """
        now = self.clock() if now is None else now
        future_users = select(UserSession.user_id).where(UserSession.last_active_at > now)
        latest = (
            select(func.max(UserSession.last_active_at))
            .where(UserSession.user_id == User.id)
            .correlate(User)
            .scalar_subquery()
        )
        rows = self.session.execute(
            select(User.id, User.email, latest)
            .where(User.status == UserStatus.ACTIVE, User.id.in_(future_users))
            .order_by(User.id)
        )
        return [(user_id, email, latest) for user_id, email, latest in rows]

    # -- acting --------------------------------------------------------------

    def _pin_future_activity(self, now: datetime) -> None:
        """Set activity stamped beyond now + FUTURE_ACTIVITY_ALLOWANCE to now, and commit.

        The rule counts such activity as now, but if it stayed in the future it
        would count as now again at every run and keep the account safe until
        real time caught up, perhaps for years. Pinned to the moment the job
        first saw it, it exempts the account for one window at most. The
        original values are logged, so the correction is on record.
        """
        limit = now + FUTURE_ACTIVITY_ALLOWANCE
        rows = self.session.execute(
            select(UserSession.id, UserSession.user_id, UserSession.last_active_at).where(UserSession.last_active_at > limit)
        ).all()
        for session_id, user_id, recorded in rows:
            logger.warning(
                "session %s of user %s: last_active_at %s lies in the future; set to %s",
                session_id,
                user_id,
                recorded.isoformat(),
                now.isoformat(),
                extra={
                    "event": "future_activity_pinned",
                    "session_id": session_id,
                    "user_id": user_id,
                    "recorded_last_active_at": recorded.isoformat(),
                    "pinned_to": now.isoformat(),
                },
            )
        if rows:
            self.session.execute(
                update(UserSession)
                .where(UserSession.id.in_([row.id for row in rows]), UserSession.last_active_at > limit)
                .values(last_active_at=now)
                .execution_options(synchronize_session=False)
            )
        self.session.commit()

    def disable_inactive_users(
        self,
        *,
        dry_run: bool = False,
        max_disable: int | None = None,
        as_of: datetime | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> DeactivationReport:
        """Disable every user due now; return what was found and done.

        ``as_of`` is accepted only with ``dry_run`` (a preview of a given date);
        a real run always uses now. When more users are due than
        ``max_disable`` (0: no cap), nobody is disabled. On PostgreSQL only one
        real run at a time proceeds; another is skipped. ``should_stop`` is
        polled between users so a run can end early yet cleanly.
        """
        if as_of is not None and not dry_run:
            raise ValueError("as_of is accepted only with dry_run; a real run always uses now")
        max_disable = self.max_disable if max_disable is None else max_disable
        _check_max_disable(max_disable)
        started = time.monotonic()
        now = self.clock()
        report = DeactivationReport(
            as_of=now if as_of is None else check_as_of(as_of),
            threshold_days=self.inactive_days,
            dry_run=dry_run,
            max_disable=max_disable,
        )
        self.session.rollback()  # start from a clean transaction boundary

        with self._run_lock(skip=dry_run) as acquired:
            if not acquired:
                report.skipped_by_lock = True
                report.skipped_reason = "skipped: another run is in progress"
            else:
                self._run(report, now=now, should_stop=should_stop)

        report.duration_seconds = round(time.monotonic() - started, 3)
        _log_summary(report)
        return report

    def _run(self, report: DeactivationReport, *, now: datetime, should_stop: Callable[[], bool]) -> None:
        future = self.users_with_future_activity(now=now)
        for user_id, email, latest in future:
            logger.warning(
                "user %s (%s) has activity recorded in the future (%s); it counts as now",
                user_id,
                email,
                latest.isoformat(),
                extra={"event": "future_activity", "user_id": user_id, "email": email, "last_active_at": latest.isoformat()},
            )
        if future and not report.dry_run:
            self._pin_future_activity(now)
        report.candidates = self.find_inactive_users(report.as_of if report.dry_run else None)
        self.session.rollback()  # end the read; each user gets a transaction of its own

        due = len(report.candidates)
        if report.max_disable and due > report.max_disable:
            report.refused_by_cap = True
            report.skipped_reason = (
                f"refused by the safety cap: {due} users are due, more than the cap of "
                f"{report.max_disable}; nobody was disabled"
                + ("" if report.dry_run else f" (rerun with --max-disable {due} once the activity data is checked)")
            )
            return
        if report.dry_run or not report.candidates:
            return

        actor_id = self._system_admin_id()
        for candidate in report.candidates:
            if should_stop():
                processed = len(report.disabled) + len(report.failed) + len(report.no_longer_due)
                report.stopped_early = True
                report.skipped_reason = f"stopped early: {processed} of {due} due users processed"
                break
            try:
                done = self._disable_one(candidate.user_id, actor_id=actor_id)
                self.session.commit()
            except Exception as exc:  # one user's failure must not stop the others
                self.session.rollback()
                error = describe_error(exc)
                report.failed.append(FailedUser(candidate.user_id, error))
                logger.error(
                    "could not disable user %s: %s",
                    candidate.user_id,
                    error,
                    extra={"event": "user_disable_failed", "user_id": candidate.user_id, "error": error},
                )
                continue
            if done is None:
                report.no_longer_due.append(candidate.user_id)
            else:
                report.disabled.append(candidate.user_id)
                logger.info(
                    "user %s disabled after %s days of inactivity",
                    done.user_id,
                    done.days_inactive,
                    extra={"event": "user_disabled", **done.to_dict()},
                )

    def _system_admin_id(self) -> int:
        try:
            admin_id = get_or_create_system_admin(self.session).id
            self.session.commit()
        except IntegrityError:
            # Another run created the System Admin between our look-up and our
            # insert (its oidc_id is unique): use the one that run committed.
            self.session.rollback()
            admin_id = get_or_create_system_admin(self.session).id
            self.session.commit()
        return admin_id

    def _disable_one(self, user_id: int, *, actor_id: int) -> InactiveUser | None:
        """Lock the user's row, check the rule again, and disable if still due. The caller commits."""
        # Held until commit, so a concurrent run or login serialises with us
        # and the re-check below sees what they committed. A lock held
        # elsewhere for longer than USER_LOCK_WAIT fails this user, not the run.
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(text(f"SET LOCAL lock_timeout = '{USER_LOCK_WAIT}'"))
        user = select_user_for_update(self.session, User.id == user_id)
        now = self.clock()
        still_due = self.session.execute(self._inactive_users_query(as_of=now, now=now).where(User.id == user_id)).first()
        if user is None or still_due is None:
            return None
        current = _inactive_user(still_due, now)
        # Re-read each time (the actor must still be ACTIVE), but not its roles:
        # the System Admin's rights do not come from roles (lazy if ever asked).
        actor = self.session.get(User, actor_id, options=[lazyload(User.roles)])
        if actor is None:
            raise LookupError(f"the System Admin user {actor_id} no longer exists")
        reason = (
            f"Automatically disabled: inactive for {current.days_inactive} days "
            f"(last seen {current.last_seen.isoformat()}; threshold {self.inactive_days} days)"
        )
        deactivate_user(self.session, user, actor=actor, reason=reason)
        return current

    @contextlib.contextmanager
    def _run_lock(self, *, skip: bool) -> Iterator[bool]:
        """Hold PostgreSQL's session-level advisory lock for the run; yield whether it was acquired.

        Taken on a connection of its own, so the per-user commits (which
        return the session's connection to the pool) cannot release it early.
        SQLite has no such lock; the per-user re-check under the write lock
        keeps concurrent runs from disabling anyone twice.
        """
        engine = self.session.get_bind()
        if skip or engine.dialect.name != "postgresql":
            yield True
            return
        with engine.connect() as connection:
            acquired = connection.execute(text(f"SELECT pg_try_advisory_lock{RUN_LOCK_ARGUMENTS}"), {"namespace": RUN_LOCK_NAMESPACE}).scalar()
            connection.commit()
            try:
                yield bool(acquired)
            finally:
                if acquired:
                    with contextlib.suppress(Exception):  # a dead connection has released it already
                        connection.execute(text(f"SELECT pg_advisory_unlock{RUN_LOCK_ARGUMENTS}"), {"namespace": RUN_LOCK_NAMESPACE})
                        connection.commit()


def check_as_of(as_of: datetime) -> datetime:
    """``as_of`` as aware UTC; ValueError for a naive one or one outside 1970 to 9000."""
    as_of = ensure_utc(as_of)
    if not EARLIEST_AS_OF <= as_of <= LATEST_AS_OF:
        raise ValueError(f"as_of must lie between {EARLIEST_AS_OF:%Y} and {LATEST_AS_OF:%Y}, got {as_of.isoformat()}")
    return as_of


def describe_error(exc: BaseException) -> str:
    """One line naming an error; for database errors, the driver's own message."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__


def _check_max_disable(max_disable: int) -> None:
    if isinstance(max_disable, bool) or not isinstance(max_disable, int) or max_disable < 0:
        raise ValueError(f"max_disable must be a whole number of at least 0, got {max_disable!r}")


def _inactive_user(row: Any, as_of: datetime) -> InactiveUser:
    user_id, email, last_seen = row
    return InactiveUser(user_id=user_id, email=email, last_seen=last_seen, days_inactive=(as_of - last_seen).days)


def _log_summary(report: DeactivationReport) -> None:
    logger.info(
        "disable-inactive-users %s: %s due, %s disabled, %s failed%s",
        report.outcome.value,
        len(report.candidates),
        len(report.disabled),
        len(report.failed),
        f" ({report.skipped_reason})" if report.skipped_reason else "",
        extra={
            "event": "run_summary",
            "outcome": report.outcome.value,
            "dry_run": report.dry_run,
            "as_of": report.as_of.isoformat(),
            "threshold_days": report.threshold_days,
            "candidates": len(report.candidates),
            "disabled": len(report.disabled),
            "no_longer_due": len(report.no_longer_due),
            "failed": len(report.failed),
            "skipped_reason": report.skipped_reason,
            "duration_seconds": report.duration_seconds,
        },
    )
