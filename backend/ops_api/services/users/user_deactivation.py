"""The inactivity rule (NIST SP 800-53 AC-2(3)) in the database: its queries, and disabling one user.

The rule, for a user U at the instant ``now``:

* ``last_seen(U)`` is the latest of: the activity this project's view of U
  keeps (the latest of any of U's sessions, ever), the greatest
  ``last_active_at`` of U's sessions still present, the moment U was last made
  ACTIVE again, and U's ``created_on``. A date later than ``now`` counts as
  ``now``; a real run records it with the moment it first saw it
  (:meth:`UserDeactivationService.correct_future_dates`), and it counts as
  that moment from then on.
* U is disabled when U is ACTIVE, not excluded, and
  ``now - last_seen(U) >= threshold`` (60 days by default).

The rule's Python reference is :mod:`ops_api.domain.inactivity` (plain
values, no database); the SQL below is the database's spelling of the same
rule, and the property tests check that the two agree. The run itself is
sequenced by :func:`ops_api.services.job.hourly_job.run_hourly_job`.

Every deactivation goes through :func:`ops_api.services.users.accounts.deactivate_user`
with the System Admin as actor, so it is recorded exactly like a manual one.

Transactions: the queries only read. :meth:`~UserDeactivationService.disable_one`
flushes and leaves the commit to its caller; :meth:`~UserDeactivationService.correct_future_dates`,
:meth:`~UserDeactivationService.reconcile_view` and
:meth:`~UserDeactivationService.acting_system_admin` commit their own work.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Select, case, delete, exists, func, insert, literal, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ops_api.clock import ensure_utc, utcnow
from ops_api.domain import inactivity
from ops_api.domain.defaults import MAX_INACTIVE_DAYS
from ops_api.domain.inactivity import InactiveUser, disable_due
from ops_api.job_logging import LOG_SAMPLE
from ops_api.models import FutureStamp, JobRun, MovedSession, StampSource, User, UserActivity, UserSession, UserStatus
from ops_api.models.state import activity_watermark
from ops_api.services.users.accounts import (
    SYSTEM_ADMIN_OIDC_ID,
    NotAuthorizedError,
    can_administer_users,
    deactivate_user,
    get_or_create_system_admin,
    lock_for_status_change,
)
from ops_api.sql import batched, latest_of

logger = logging.getLogger(__name__)

# The instants a preview (as_of) may name.
EARLIEST_AS_OF = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST_AS_OF = datetime(9000, 1, 1, tzinfo=timezone.utc)
# Clocks of different hosts disagree a little: activity this far ahead of the
# job's clock is left alone (it counts as now); beyond it, it is bad data.
FUTURE_ACTIVITY_ALLOWANCE = timedelta(minutes=5)
# How often a real run checks the whole view against OPS's rows (reconcile_view).
RECONCILE_EVERY = timedelta(hours=24)


class RunOutcome(enum.Enum):
    COMPLETED = "completed"  # every due user disabled (or nobody was due, or a dry run)
    FAILED = "failed"  # a user could not be disabled, or the run could not run
    STOPPED = "stopped"  # a stop was requested (SIGTERM): what was done stays done
    REFUSED_BY_CAP = "refused_by_cap"  # more users due than the safety cap allows
    SKIPPED = "skipped"  # another run holds the lock


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
    # For each user disabled: {"user_id", "event_id", "sha256"} of the UPDATE_USER event written (the run record keeps them).
    disabled_events: list[dict[str, Any]] = field(default_factory=list)
    # Due when the run started, but not any more when their row was locked
    # (they logged in, or someone else changed them meanwhile).
    no_longer_due: list[int] = field(default_factory=list)
    failed: list[FailedUser] = field(default_factory=list)
    skipped_reason: str | None = None
    refused_by_cap: bool = False
    skipped_by_lock: bool = False
    stopped_early: bool = False
    # The run checked the whole view against OPS's rows (once a day).
    reconciled: bool = False
    # Per-user log lines left out beyond the sample the log keeps of each kind.
    lines_left_out: int = 0
    duration_seconds: float = 0.0

    @property
    def outcome(self) -> RunOutcome:
        if self.skipped_by_lock:
            return RunOutcome.SKIPPED
        if self.stopped_early:
            return RunOutcome.STOPPED
        if self.refused_by_cap and not self.dry_run:
            return RunOutcome.REFUSED_BY_CAP
        if self.failed:
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
        inactive_days: int,
        excluded_oidc_ids: Iterable[uuid.UUID],
        max_disable: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """Usually built by :meth:`from_config`: the settings are the one place the rule's defaults are applied."""
        if (
            isinstance(inactive_days, bool)
            or not isinstance(inactive_days, int)
            or not 1 <= inactive_days <= MAX_INACTIVE_DAYS
        ):
            raise ValueError(f"inactive_days must be a whole number from 1 to {MAX_INACTIVE_DAYS}, got {inactive_days!r}")
        _check_max_disable(max_disable)
        self.session = session
        self.inactive_days = inactive_days
        # The System Admin acts for the job, so it is never a candidate itself.
        self.excluded_oidc_ids = frozenset({*excluded_oidc_ids, SYSTEM_ADMIN_OIDC_ID})
        self.max_disable = max_disable
        self.clock = clock
        # The UPDATE_USER event of the latest disable_one that disabled someone (its run record names it).
        self.last_event_id: int | None = None

    @classmethod
    def from_config(
        cls,
        session: Session,
        config: Mapping[str, Any],
        *,
        inactive_days: int | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> UserDeactivationService:
        """Build the service from the application's settings (``inactive_days`` overrides the rule)."""
        return cls(
            session,
            inactive_days=inactive_days or config["DEACTIVATION_INACTIVE_DAYS"],
            excluded_oidc_ids=config["DEACTIVATION_EXCLUDED_OIDC_IDS"],
            max_disable=config["DEACTIVATION_MAX_PER_RUN"],
            clock=clock,
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
        those instead). One statement, driven by the same index as the job's
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
        last_seen = self._last_seen_expression(now)
        seen: dict[int, datetime | None] = {}
        for batch in batched(ids):
            rows: Iterable[Any] = self.session.execute(
                select(User.id, last_seen).outerjoin(UserActivity, UserActivity.user_id == User.id).where(User.id.in_(batch))
            )
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

    def _latest_session_expression(self, now: datetime) -> Any:
        """The latest activity of the user's sessions still present, leaving out stamps beyond the allowance.

        Such a stamp is bad data: the view holds it, and a real run's
        correction replaces it there with the moment it was first seen.
        """
        return (
            select(func.max(UserSession.last_active_at))
            .where(UserSession.user_id == User.id, UserSession.last_active_at <= now + FUTURE_ACTIVITY_ALLOWANCE)
            .correlate(User)
            .scalar_subquery()
        )

    def _last_seen_expression(self, now: datetime) -> Any:
        """The rule's ``last_seen`` before the clamp to now: every date the database holds for the user.

        The view's dates (the activity the triggers keep, the reactivation,
        the creation) and the latest activity of any session still present.
        Deleting sessions cannot lower it: the view keeps what they recorded.
        """
        return latest_of(activity_watermark(), self._latest_session_expression(now))

    def _inactive_users_query(self, *, as_of: datetime, now: datetime) -> Select[Any]:
        cutoff = as_of - self.threshold
        last_seen = self._last_seen_expression(now)
        query = (
            select(User.id, User.email, last_seen.label("last_seen"))
            .select_from(UserActivity)
            .join(User, User.id == UserActivity.user_id)
            # "= true", not "IS TRUE": the index's first column must be compared to be used.
            .where(UserActivity.is_active == true(), User.status == UserStatus.ACTIVE)
        )
        if cutoff < now:
            # First the range "watermark at or before the cutoff" of the view's
            # index on (is_active, watermark): empty when nobody is due, so the
            # hourly run costs next to nothing however many users and sessions
            # there are. Then the whole rule, sessions included, for the few
            # rows in that range.
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
                select(User.id)
                .select_from(UserActivity)
                .join(User, User.id == UserActivity.user_id)
                .where(
                    UserActivity.is_active == true(), activity_watermark().is_(None), User.status == UserStatus.ACTIVE
                )
                .order_by(User.id)
            )
        )

    def dates_in_the_future(self, *, now: datetime | None = None, limit: int = LOG_SAMPLE) -> tuple[int, list[FutureDate]]:
        """How many users the view gives a date later than now, and the first ``limit`` of those dates.

        Read through the view's index (both values of is_active): the range
        after now is empty or tiny, so this costs next to nothing each hour.
        The rule counts such a date as now; a real run's correction records it.
        """
        now = self.clock() if now is None else now
        future = activity_watermark() > now
        in_range = UserActivity.is_active.in_([True, False])
        count = self.session.scalar(select(func.count()).select_from(UserActivity).where(in_range, future)) or 0
        rows = self.session.execute(
            select(UserActivity, User.email)
            .outerjoin(User, User.id == UserActivity.user_id)
            .where(in_range, future)
            .order_by(UserActivity.user_id)
            .limit(limit)
        ).all()
        found = []
        for view, email in rows:
            for source, value in _view_dates(view).items():
                if value is not None and value > now:
                    found.append(FutureDate(view.user_id, email, source, value))
        return count, found

    def name_future_dates(self, now: datetime) -> None:
        """A dry run's warning: the dates later than now that a real run would record (they count as now)."""
        count, sample = self.dates_in_the_future(now=now)
        _log_future_dates(count, sample)

    def name_undatable_users(self) -> list[int]:
        """Warn once about ACTIVE users without any date (the rule cannot measure them); return them."""
        undatable = self.undatable_users()
        if undatable:
            logger.warning(
                "%s ACTIVE users have no activity, reactivation or creation date; the rule cannot measure them",
                len(undatable),
                extra={"event": "undatable_users", "user_ids": undatable[:LOG_SAMPLE], "count": len(undatable)},
            )
        return undatable

    # -- acting --------------------------------------------------------------

    def reconcile_view(self, now: datetime) -> dict[str, int]:
        """Bring the view in line with OPS's rows where a trigger could not keep it; commit; return the counts.

        The triggers keep the view; one that met an error (its table locked
        too long, say) let OPS's statement through with a warning instead.
        Four set-based statements find what that left: users without a row,
        a status the view has wrong (an account made ACTIVE unseen counts as
        reactivated now, so it is never disabled at once), a creation date
        that differs (unless it was recorded as lying in the future), and rows
        of users who no longer exist. Reads every user once: the job does it
        once a day (RECONCILE_EVERY), not every hour.
        """
        latest_session = (
            select(func.max(UserSession.last_active_at)).where(UserSession.user_id == User.id).correlate(User).scalar_subquery()
        )
        is_active = User.status == UserStatus.ACTIVE
        # Core statements on the session's connection: their row counts are the database's own.
        connection = self.session.connection()
        counts = {}
        counts["added"] = _rowcount(
            connection.execute(
                insert(UserActivity).from_select(
                    [UserActivity.user_id, UserActivity.is_active, UserActivity.created_on, UserActivity.last_active_at],
                    select(User.id, is_active, User.created_on, latest_session).where(
                        ~exists().where(UserActivity.user_id == User.id)
                    ),
                )
            )
        )
        counts["status"] = _rowcount(
            connection.execute(
                update(UserActivity)
                .where(exists().where(User.id == UserActivity.user_id, is_active != UserActivity.is_active))
                .values(
                    is_active=~UserActivity.is_active,
                    reactivated_on=case(
                        (~UserActivity.is_active, literal(now, UserActivity.reactivated_on.type)),
                        else_=UserActivity.reactivated_on,
                    ),
                )
            )
        )
        recorded_future = exists().where(
            FutureStamp.user_id == User.id, FutureStamp.source == StampSource.CREATED_ON, FutureStamp.recorded == User.created_on
        )
        counts["created_on"] = _rowcount(
            connection.execute(
                update(UserActivity)
                .where(
                    exists().where(
                        User.id == UserActivity.user_id,
                        User.created_on.is_distinct_from(UserActivity.created_on),
                        ~recorded_future,
                    )
                )
                .values(created_on=select(User.created_on).where(User.id == UserActivity.user_id).scalar_subquery())
            )
        )
        counts["removed"] = _rowcount(
            connection.execute(
                delete(UserActivity)
                .where(~exists().where(User.id == UserActivity.user_id))
            )
        )
        self.session.commit()
        if any(counts.values()):
            logger.warning(
                "the view of users differed from OPS's rows (a trigger met an error): %s rows added, %s statuses, "
                "%s creation dates corrected, %s rows of deleted users removed",
                counts["added"],
                counts["status"],
                counts["created_on"],
                counts["removed"],
                extra={"event": "view_reconciled", **counts},
            )
        return counts

    def housekeeping_owed(self, now: datetime, *, dry_run: bool = False) -> HousekeepingOwed:
        """Which of a run's steps before its search have anything to do, asked in one statement.

        Most hours owe none of them. Asking costs four index or small-table
        probes in one round trip; running the steps costs a dozen statements
        and a commit. A date ahead counts from where each run looks: a real
        run's correction past FUTURE_ACTIVITY_ALLOWANCE (nearer is clock
        skew), a dry run's warning past ``now``. An ACTIVE view row without a
        date counts whatever OPS's status, so the answer errs only towards work.
        """
        future_after = now if dry_run else now + FUTURE_ACTIVITY_ALLOWANCE
        in_range = UserActivity.is_active.in_([True, False])
        last_reconciled, future, moved, undatable = self.session.execute(
            select(
                select(func.max(JobRun.started_at)).where(JobRun.reconciled.is_(True)).scalar_subquery(),
                exists().where(in_range, activity_watermark() > future_after),
                exists().where(MovedSession.reported_at.is_(None)),
                exists().where(UserActivity.is_active == true(), activity_watermark().is_(None)),
            )
        ).one()
        return HousekeepingOwed(
            reconcile=last_reconciled is None or now - last_reconciled >= RECONCILE_EVERY,
            future_dates=bool(future),
            moved_sessions=bool(moved),
            undatable=bool(undatable),
        )

    def correct_future_dates(self, now: datetime) -> CorrectionReport:
        """Record every date of the view later than now + FUTURE_ACTIVITY_ALLOWANCE, count it as first seen; commit.

        The rule counts such a date as now, but if it stayed in the view it
        would count as now again at every run and keep the account safe until
        real time caught up, perhaps for years. Each is recorded once in
        ``future_stamp`` (user, where it was found, the original value, when
        first seen) and the view counts it as that moment, so it exempts the
        account for one window at most. OPS's own rows are never changed: the
        original stays there. The same stamp seen again (a session deleted,
        say, whose activity the view keeps) counts from its first sighting.
        A handful of set-based statements, whatever the number of users.
        """
        limit = now + FUTURE_ACTIVITY_ALLOWANCE
        in_future = activity_watermark() > limit
        in_range = UserActivity.is_active.in_([True, False])
        report = CorrectionReport()
        for source, column in _VIEW_COLUMNS.items():
            candidates = select(UserActivity.user_id, literal(source.name), column, literal(now, UserActivity.created_on.type)).where(
                in_range, in_future, column > limit
            )
            unseen = candidates.where(
                ~exists().where(
                    FutureStamp.user_id == UserActivity.user_id,
                    FutureStamp.source == source,
                    FutureStamp.recorded == column,
                )
            )
            self.session.execute(
                insert(FutureStamp).from_select(
                    [FutureStamp.user_id, FutureStamp.source, FutureStamp.recorded, FutureStamp.first_seen_at], unseen
                )
            )
            first_seen = (
                select(FutureStamp.first_seen_at)
                .where(
                    FutureStamp.user_id == UserActivity.user_id,
                    FutureStamp.source == source,
                    FutureStamp.recorded == column,
                )
                .scalar_subquery()
            )
            self.session.execute(
                update(UserActivity)
                .where(in_range, in_future, column > limit)
                .values({column.key: first_seen})
                .execution_options(synchronize_session=False)
            )
        # First seen by this run: recorded at its "now" (a moment no earlier run can have had).
        report.recorded = {
            source: count
            for source, count in self.session.execute(
                select(FutureStamp.source, func.count()).where(FutureStamp.first_seen_at == now).group_by(FutureStamp.source)
            )
        }
        report.sample = list(
            self.session.execute(
                select(FutureStamp.user_id, User.email, FutureStamp.source, FutureStamp.recorded)
                .outerjoin(User, User.id == FutureStamp.user_id)
                .where(FutureStamp.first_seen_at == now)
                .order_by(FutureStamp.user_id, FutureStamp.id)
                .limit(LOG_SAMPLE)
            ).all()
        )
        moved = select(MovedSession).where(MovedSession.reported_at.is_(None))
        report.moved_count = self.session.scalar(select(func.count()).select_from(moved.subquery())) or 0
        report.moved_sample = list(self.session.scalars(moved.order_by(MovedSession.id).limit(LOG_SAMPLE)))
        if report.moved_count:
            self.session.execute(
                update(MovedSession).where(MovedSession.reported_at.is_(None)).values(reported_at=now),
                execution_options={"synchronize_session": False},
            )
        self.session.commit()
        _log_correction(report, now)
        return report

    def acting_system_admin(self) -> User:
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

    def disable_one(self, user_id: int, *, actor: User) -> InactiveUser | None:
        """Lock the user (sessions, user, view) if still due, and disable them. The caller commits.

        The rows are locked only if the rule still holds for the user. Held
        until commit, so a concurrent run, login or request serialises with
        us: if one of them recorded activity while we waited for the lock,
        PostgreSQL re-reads the view's row, which the triggers have raised,
        and the user is no longer due. A lock held elsewhere for longer than
        the connection's lock_timeout fails this user, not the run.
        """
        now = self.clock()
        user = lock_for_status_change(self.session, user_id, *self._due_conditions(now))
        if user is None:
            return None
        row: Any = self.session.execute(
            select(UserActivity, self._latest_session_expression(now)).join(User, User.id == UserActivity.user_id).where(
                UserActivity.user_id == user_id
            )
        ).one()
        view, latest_session = row
        last_seen = inactivity.last_seen(now=now, latest_session=latest_session, **_view_dates(view))
        if last_seen is None:  # the locking read found the user due, so they have a date
            raise ValueError(f"user {user_id} has no date to measure inactivity from")
        current = InactiveUser(user_id, user.email, last_seen, (now - last_seen).days)
        reason = (
            f"Automatically disabled: inactive for {current.days_inactive} days "
            f"(last seen {current.last_seen.isoformat()}; threshold {self.inactive_days} days)"
        )
        event = deactivate_user(self.session, user, actor=actor, reason=reason)
        self.last_event_id = event.id if event is not None else None
        return current

    def _due_conditions(self, now: datetime) -> list[Any]:
        """The rule at ``now`` as conditions on ops_user and the view, sessions included (for the locking read)."""
        cutoff = now - self.threshold
        conditions = [
            User.status == UserStatus.ACTIVE,
            activity_watermark() <= cutoff,
            self._last_seen_expression(now) <= cutoff,
        ]
        if self.excluded_oidc_ids:
            conditions.append(or_(User.oidc_id.is_(None), User.oidc_id.not_in(sorted(self.excluded_oidc_ids))))
        return conditions



# The view's dates, by where a date later than now came from.
_VIEW_COLUMNS = {
    StampSource.CREATED_ON: UserActivity.created_on,
    StampSource.REACTIVATED_ON: UserActivity.reactivated_on,
    StampSource.SESSION: UserActivity.last_active_at,
}


def _view_dates(view: UserActivity) -> dict[str, datetime | None]:
    """The view's dates as the domain's ``last_seen`` names them."""
    return {"activity": view.last_active_at, "reactivated_on": view.reactivated_on, "created_on": view.created_on}


@dataclass(frozen=True)
class HousekeepingOwed:
    """What a run owes before its search: the daily reconciliation, the future-date correction, the undatable list."""

    reconcile: bool
    future_dates: bool
    moved_sessions: bool
    undatable: bool

    @property
    def correction(self) -> bool:
        """Whether the correction may have anything to record (a future date or an unreported moved session)."""
        return self.future_dates or self.moved_sessions


@dataclass(frozen=True)
class FutureDate:
    """A date of a user later than now, as the view holds it."""

    user_id: int
    email: str | None
    source: str  # "activity", "reactivated_on" or "created_on"
    value: datetime


@dataclass
class CorrectionReport:
    """What a real run's correction found: dates first seen in the future, and sessions moved to another user."""

    recorded: dict[StampSource, int] = field(default_factory=dict)
    sample: list[Any] = field(default_factory=list)  # (user_id, email, source, recorded) rows, at most LOG_SAMPLE
    moved_count: int = 0
    moved_sample: list[MovedSession] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(self.recorded.values())


_SOURCE_WORDS = {
    StampSource.CREATED_ON: "creation date",
    StampSource.REACTIVATED_ON: "reactivation date",
    StampSource.SESSION: "session activity",
}


def _log_correction(report: CorrectionReport, now: datetime) -> None:
    """One warning for the run's newly found future dates, one for moved sessions: counts and a bounded sample."""
    if report.count:
        named = "; ".join(
            f"user {user_id} ({email}): {_SOURCE_WORDS[source]} {recorded.isoformat()}"
            for user_id, email, source, recorded in report.sample[:10]
        )
        logger.warning(
            "%s dates later than now found (%s); each counts from now, %s: %s%s",
            report.count,
            ", ".join(f"{count} {_SOURCE_WORDS[source]}" for source, count in report.recorded.items() if count),
            now.isoformat(),
            named,
            "; ..." if report.count > 10 else "",
            extra={
                "event": "future_dates_recorded",
                "count": report.count,
                "by_source": {source.value: count for source, count in report.recorded.items()},
                "first_seen_at": now.isoformat(),
                "sample": [
                    {"user_id": user_id, "email": email, "source": source.value, "recorded": recorded.isoformat()}
                    for user_id, email, source, recorded in report.sample
                ],
            },
        )
    if report.moved_count:
        named = "; ".join(
            f"session {moved.session_id} from user {moved.from_user_id} to user {moved.to_user_id}"
            for moved in report.moved_sample[:10]
        )
        logger.warning(
            "%s sessions were moved to another user, whose activity they now count as: %s%s",
            report.moved_count,
            named,
            "; ..." if report.moved_count > 10 else "",
            extra={
                "event": "sessions_moved",
                "count": report.moved_count,
                "sample": [
                    {
                        "session_id": moved.session_id,
                        "from_user_id": moved.from_user_id,
                        "to_user_id": moved.to_user_id,
                        "last_active_at": moved.last_active_at.isoformat() if moved.last_active_at else None,
                        "moved_at": moved.moved_at.isoformat(),
                    }
                    for moved in report.moved_sample
                ],
            },
        )


def _log_future_dates(count: int, sample: list[FutureDate]) -> None:
    """A dry run's warning: dates later than now that a real run would record; they count as now."""
    if not count:
        return
    logger.warning(
        "%s users have a date later than now, which counts as now: %s%s",
        count,
        "; ".join(f"user {d.user_id} ({d.email}): {d.source} {d.value.isoformat()}" for d in sample[:10]),
        "; ..." if count > 10 else "",
        extra={
            "event": "future_dates",
            "count": count,
            "sample": [
                {"user_id": d.user_id, "email": d.email, "source": d.source, "value": d.value.isoformat()} for d in sample
            ],
        },
    )


def _rowcount(result: Any) -> int:
    return max(int(getattr(result, "rowcount", 0) or 0), 0)


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
