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

The rule's Python reference is :mod:`ops_api.domain.inactivity` (plain
values, no database); the SQL below is the database's spelling of the same
rule, and the property tests check that the two agree.

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

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ops_api.advisory_lock import LOCK_ARGUMENTS, try_advisory_lock
from ops_api.clock import ensure_utc, utcnow
from ops_api.domain.defaults import DEFAULT_INACTIVE_DAYS, DEFAULT_MAX_DISABLE, MAX_INACTIVE_DAYS
from ops_api.domain.inactivity import disable_due
from ops_api.errors import describe_error
from ops_api.models import User, UserSession, UserStatus
from ops_api.models.users import activity_watermark
from ops_api.models.versions import VersionOperation
from ops_api.services.users import (
    SYSTEM_ADMIN_OIDC_ID,
    NotAuthorizedError,
    can_administer_users,
    deactivate_user,
    get_or_create_system_admin,
    lock_for_status_change,
)
from ops_api.sql import latest_of
from ops_api.versioning import note_change

logger = logging.getLogger(__name__)

# The instants a preview (as_of) may name.
EARLIEST_AS_OF = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST_AS_OF = datetime(9000, 1, 1, tzinfo=timezone.utc)
# Clocks of different hosts disagree a little: activity this far ahead of the
# job's clock is left alone (it counts as now); beyond it, it is bad data.
FUTURE_ACTIVITY_ALLOWANCE = timedelta(minutes=5)
# Users per statement when the admin UI asks about many at once (PostgreSQL
# takes at most 65,535 parameters in one statement).
IDS_PER_STATEMENT = 10_000
# The PostgreSQL advisory lock that keeps runs from overlapping: one per schema
# that holds OPS's tables (whatever the connection's search_path), so separate
# OPS schemas (or test runs) on one server never block each other.
RUN_LOCK_NAMESPACE = 20_260_026
RUN_LOCK_ARGUMENTS = LOCK_ARGUMENTS


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

    # None only for a user with no date at all (then days_inactive is None too).
    last_seen: datetime | None
    days_inactive: int | None
    # When the job will disable the user if nothing changes; None for users it
    # never disables (excluded, or not ACTIVE). In the past: at the next run.
    disable_due: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
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
        found = [_inactive_user(row, as_of, now) for row in rows]
        # Activity stamped after now counts as now, which can reorder a few rows.
        return sorted(found, key=lambda user: (user.last_seen, user.user_id))

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
        return sorted((_inactive_user(row, now) for row in rows), key=lambda user: (user.last_seen, user.user_id))

    def last_seen_of(self, user_ids: Iterable[int], *, now: datetime | None = None) -> dict[int, datetime | None]:
        """``last_seen`` for the given users, as the rule computes it (one statement per 10,000 users).

        None for a user with no date at all (no activity, reactivation or creation date).
        """
        now = self.clock() if now is None else now
        ids = list(user_ids)
        last_seen = self._last_seen_expression()
        seen: dict[int, datetime | None] = {}
        for start in range(0, len(ids), IDS_PER_STATEMENT):
            batch = ids[start : start + IDS_PER_STATEMENT]
            rows: Iterable[Any] = self.session.execute(select(User.id, last_seen).where(User.id.in_(batch)))
            seen.update((user_id, _not_after(at, now)) for user_id, at in rows)
        return seen

    def inactivity_of(self, users: Iterable[User], *, now: datetime | None = None) -> dict[int, Inactivity]:
        """last_seen, days inactive and disable_due for each of ``users`` (one statement)."""
        now = self.clock() if now is None else now
        users = list(users)
        seen = self.last_seen_of([user.id for user in users], now=now)
        result = {}
        for user in users:
            last_seen = seen[user.id]
            subject = user.status is UserStatus.ACTIVE and user.oidc_id not in self.excluded_oidc_ids
            result[user.id] = Inactivity(
                last_seen=last_seen,
                days_inactive=(now - last_seen).days if last_seen is not None else None,
                disable_due=disable_due(last_seen, self.threshold) if subject and last_seen is not None else None,
            )
        return result

    def _last_seen_expression(self) -> Any:
        """The rule's ``last_seen`` before the clamp to now: every date the database holds for the user.

        ops_user's own dates (the activity column the triggers keep, the
        reactivation, the creation) and the latest activity of any session
        still present. Deleting sessions cannot lower it: the column keeps
        what they recorded.
        """
        latest_session = (
            select(func.max(UserSession.last_active_at))
            .where(UserSession.user_id == User.id)
            .correlate(User)
            .scalar_subquery()
        )
        return latest_of(activity_watermark(), latest_session)

    def _inactive_users_query(self, *, as_of: datetime, now: datetime) -> Select[Any]:
        cutoff = as_of - self.threshold
        last_seen = self._last_seen_expression()
        query = select(User.id, User.email, last_seen.label("last_seen")).where(User.status == UserStatus.ACTIVE)
        if cutoff < now:
            # First the range "watermark at or before the cutoff" of the index
            # on (status, watermark): empty when nobody is due, so the hourly
            # run costs next to nothing however many users there are. Then the
            # whole rule, sessions included, for the few rows in that range.
            query = query.where(activity_watermark() <= cutoff, last_seen <= cutoff)
        else:
            # A preview so far ahead that even activity at "now" is too old:
            # every ACTIVE user with any date qualifies.
            query = query.where(activity_watermark().is_not(None))
        if self.excluded_oidc_ids:
            # Last, so the few excluded ids are tested only on rows that passed the rest.
            query = query.where(
                or_(User.oidc_id.is_(None), User.oidc_id.not_in(sorted(self.excluded_oidc_ids)))
            )
        return query.order_by(last_seen.asc(), User.id.asc())

    def undatable_users(self) -> list[int]:
        """ACTIVE users with no date at all: the rule cannot measure them, so the job names them instead."""
        return list(
            self.session.scalars(
                select(User.id).where(User.status == UserStatus.ACTIVE, activity_watermark().is_(None)).order_by(User.id)
            )
        )

    def users_with_future_activity(self, *, now: datetime | None = None) -> list[tuple[int, str, datetime]]:
        """ACTIVE users whose recorded activity lies after now: bad data that the rule treats as now.

        Read from ops_user's activity column through the (status, watermark)
        index: the range after now is empty or tiny, so this costs next to
        nothing each hour.
        """
        now = self.clock() if now is None else now
        rows = self.session.execute(
            select(User.id, User.email, User.last_active_at)
            .where(User.status == UserStatus.ACTIVE, activity_watermark() > now, User.last_active_at > now)
            .order_by(User.id)
        )
        # (last_active_at > now: never None here)
        return [(user_id, email, latest) for user_id, email, latest in rows if latest is not None]

    # -- acting --------------------------------------------------------------

    def _pin_future_activity(self, now: datetime) -> None:
        """Set activity stamped beyond now + FUTURE_ACTIVITY_ALLOWANCE to now, and commit.

        The rule counts such activity as now, but if it stayed in the future it
        would count as now again at every run and keep the account safe until
        real time caught up, perhaps for years. Pinned to the moment the job
        first saw it, it exempts the account for one window at most. Sessions
        are corrected first and the user's activity column second (the lock
        order of every writer); the original values are logged, so the
        correction is on record.
        """
        limit = now + FUTURE_ACTIVITY_ALLOWANCE
        # Any status: a reactivated account would otherwise bring its future stamp back.
        users = self.session.execute(
            select(User.id, User.last_active_at).where(
                User.status.in_(list(UserStatus)), activity_watermark() > limit, User.last_active_at > limit
            )
        ).all()
        if not users:
            self.session.commit()
            return
        user_ids = [user_id for user_id, _ in users]
        sessions = self.session.execute(
            select(UserSession.id, UserSession.user_id, UserSession.last_active_at).where(
                UserSession.user_id.in_(user_ids), UserSession.last_active_at > limit
            )
        ).all()
        for user_id, recorded in users:
            if recorded is None:  # the query asked for last_active_at > limit
                continue
            logger.warning(
                "user %s: last activity %s lies in the future; set to %s",
                user_id,
                recorded.isoformat(),
                now.isoformat(),
                extra={
                    "event": "future_activity_pinned",
                    "user_id": user_id,
                    "session_ids": [row.id for row in sessions if row.user_id == user_id],
                    "recorded_last_active_at": recorded.isoformat(),
                    "pinned_to": now.isoformat(),
                },
            )
        if sessions:
            pinned = self.session.scalars(
                update(UserSession)
                .where(UserSession.id.in_([row.id for row in sessions]), UserSession.last_active_at > limit)
                .values(last_active_at=now)
                .returning(UserSession.id)
                .execution_options(synchronize_session=False)
            ).all()
            # A session's last_active_at is OPS's column: OPS's trail records the correction.
            # ops_user's is this project's own, outside OPS's trail.
            note_change(self.session, UserSession.__tablename__, [(session_id,) for session_id in pinned], VersionOperation.UPDATE)
        self.session.execute(
            update(User)
            .where(User.id.in_(user_ids), User.last_active_at > limit)
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
        undatable = self.undatable_users()
        if undatable:
            logger.warning(
                "%s ACTIVE users have no activity, reactivation or creation date; the rule cannot measure them",
                len(undatable),
                extra={"event": "undatable_users", "user_ids": undatable[:100], "count": len(undatable)},
            )
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

        actor = self._acting_system_admin()
        for candidate in report.candidates:
            if should_stop():
                processed = len(report.disabled) + len(report.failed) + len(report.no_longer_due)
                report.stopped_early = True
                report.skipped_reason = f"stopped early: {processed} of {due} due users processed"
                break
            try:
                done = self._disable_one(candidate.user_id, actor=actor)
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

    def _acting_system_admin(self) -> User:
        """The System Admin as this run's actor, read once (creating it LOCKED, as OPS keeps it, if missing).

        Checked here, at the start of the run: if it may not administer users
        (it was made INACTIVE), every deactivation is refused. Kept as a
        detached copy, so the per-user transactions do not re-read it.
        """
        try:
            admin = get_or_create_system_admin(self.session)
            self.session.commit()
        except IntegrityError:
            # Another run created the System Admin between our look-up and our
            # insert (its oidc_id is unique): use the one that run committed.
            self.session.rollback()
            admin = get_or_create_system_admin(self.session)
            self.session.commit()
        if not can_administer_users(admin):
            raise NotAuthorizedError(f"the System Admin (user {admin.id}) is {admin.status.name} and may not act")
        return User(id=admin.id, oidc_id=admin.oidc_id, email=admin.email, status=admin.status)

    def _disable_one(self, user_id: int, *, actor: User) -> InactiveUser | None:
        """Lock the user (sessions first) if still due, and disable them. The caller commits.

        The user's row is locked only if the rule still holds for it. Held
        until commit, so a concurrent run, login or request serialises with
        us: if one of them recorded activity while we waited for the lock,
        PostgreSQL re-reads the row, whose activity column the triggers have
        raised, and the user is no longer due. A lock held elsewhere for longer
        than the connection's lock_timeout fails this user, not the run.
        """
        now = self.clock()
        user = lock_for_status_change(self.session, user_id, *self._due_conditions(now))
        if user is None:
            return None
        # The locking read checked the whole rule; ops_user's own dates say when
        # (the activity column holds the latest of every session's activity).
        dates = [d for d in (user.last_active_at, user.reactivated_on, user.created_on) if d is not None]
        last_seen = min(max(dates), now)
        current = InactiveUser(user_id, user.email, last_seen, (now - last_seen).days)
        reason = (
            f"Automatically disabled: inactive for {current.days_inactive} days "
            f"(last seen {current.last_seen.isoformat()}; threshold {self.inactive_days} days)"
        )
        deactivate_user(self.session, user, actor=actor, reason=reason)
        return current

    def _due_conditions(self, now: datetime) -> list[Any]:
        """The rule at ``now`` as conditions on ops_user, sessions included (for the locking read)."""
        cutoff = now - self.threshold
        conditions = [
            User.status == UserStatus.ACTIVE,
            activity_watermark() <= cutoff,
            self._last_seen_expression() <= cutoff,
        ]
        if self.excluded_oidc_ids:
            conditions.append(or_(User.oidc_id.is_(None), User.oidc_id.not_in(sorted(self.excluded_oidc_ids))))
        return conditions

    @contextlib.contextmanager
    def _run_lock(self, *, skip: bool) -> Iterator[bool]:
        """Hold PostgreSQL's session-level advisory lock for the run; yield whether it was acquired.

        SQLite has no such lock; the per-user re-check under the write lock
        keeps concurrent runs from disabling anyone twice.
        """
        if skip:
            yield True
            return
        with try_advisory_lock(self.session.get_bind(), RUN_LOCK_NAMESPACE) as acquired:
            yield acquired


def check_as_of(as_of: datetime) -> datetime:
    """``as_of`` as aware UTC; ValueError for a naive one or one outside 1970 to 9000."""
    as_of = ensure_utc(as_of)
    if not EARLIEST_AS_OF <= as_of <= LATEST_AS_OF:
        raise ValueError(f"as_of must lie between {EARLIEST_AS_OF:%Y} and {LATEST_AS_OF:%Y}, got {as_of.isoformat()}")
    return as_of


def _check_max_disable(max_disable: int) -> None:
    if isinstance(max_disable, bool) or not isinstance(max_disable, int) or max_disable < 0:
        raise ValueError(f"max_disable must be a whole number of at least 0, got {max_disable!r}")


def _not_after(value: datetime | None, now: datetime) -> datetime | None:
    """Activity recorded later than now (clock skew, bad data) counts as now."""
    return value if value is None or value <= now else now


def _inactive_user(row: Any, as_of: datetime, now: datetime | None = None) -> InactiveUser:
    user_id, email, recorded = row
    last_seen = _not_after(recorded, as_of if now is None else now)
    if last_seen is None:  # the queries that come here never select a user without any date
        raise ValueError(f"user {user_id} has no date to measure inactivity from")
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
