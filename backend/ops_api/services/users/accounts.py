"""The one path for changes of account status: deactivate, reactivate, lock.

Used by the admin API and by the inactive-account job alike, so a change made
by the job is recorded exactly like one made by a System Admin: the status
change, every active session ended, one UPDATE_USER ops_event, and the
ops_db_history rows written by the audit listener. Below them are the admin
API's reads and profile edits.

Authority: every change checks its actor once, in :func:`_lock_and_authorize`,
after the rows are locked and the actor's row is read afresh, so an actor
disabled by a concurrent request can no longer act. That is the check that
counts; the API's ``admin_only`` is only a cheap early refusal at the edge.
The reads (``list_users``, ``get_user``) check the actor as they start, since
they lock nothing.

Transactions: these functions flush but never commit. The caller owns the
transaction and commits (or rolls back) when its unit of work is done.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, lazyload, selectinload

from ops_api.audit import acting_as
from ops_api.clock import utcnow
from ops_api.domain.defaults import SYSTEM_ADMIN_OIDC_ID
from ops_api.models import (
    OpsEvent,
    OpsEventStatus,
    OpsEventType,
    Role,
    RoleName,
    User,
    UserActivity,
    UserSession,
    UserStatus,
)
from ops_api.transactions import transaction_scoped

SYSTEM_ADMIN_EMAIL = "system.admin@email.com"


class UserAdminError(Exception):
    """An administrative change or read that was refused; nothing was changed."""


class NotAuthorizedError(UserAdminError):
    """The actor may not change this user's status (the API answers 403)."""


class InvalidStatusChangeError(UserAdminError):
    """The change itself is not allowed, e.g. deactivating oneself (the API answers 400)."""


def get_or_create_system_admin(session: Session) -> User:
    """Return OPS's System Admin user, creating it LOCKED if missing (flushes, does not commit).

    OPS keeps it LOCKED so that nobody can sign in as it; its scripts (and
    this job) still act as it.
    """
    user = session.scalar(select(User).where(User.oidc_id == SYSTEM_ADMIN_OIDC_ID))
    if user is None:
        user = User(
            oidc_id=SYSTEM_ADMIN_OIDC_ID,
            email=SYSTEM_ADMIN_EMAIL,
            first_name="System",
            last_name="Admin",
            status=UserStatus.LOCKED,
        )
        session.add(user)
        with acting_as(session, None):
            session.flush()
    return user


def select_user_for_update(session: Session, *conditions: Any) -> User | None:
    """Load the user matching ``conditions`` and hold their row until the transaction ends.

    Whoever changes a user's status or opens a session for them takes this
    lock first, so a login and the inactivity job serialise: each sees what
    the other committed. PostgreSQL locks the row (SELECT ... FOR UPDATE);
    SQLite locks the whole file, so a no-op write takes its write lock before
    the read.
    """
    _take_sqlite_write_lock(session, *conditions)
    query = select(User).where(*conditions)
    if session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update()
    # Roles stay unloaded unless asked for: a status change never reads them.
    query = query.options(lazyload(User.roles))
    return session.scalars(query.execution_options(populate_existing=True)).first()


def _take_sqlite_write_lock(session: Session, *conditions: Any) -> None:
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(User).where(*conditions).values(status=User.status),
            execution_options={"synchronize_session": False},
        )


def _lock_user_and_view(session: Session, user_id: int, conditions: tuple[Any, ...]) -> User | None:
    """Lock ``ops_user``'s row, then this project's view of it (``user_activity``), if ``conditions`` hold.

    With conditions (the job's re-check of the rule, which reads the view) one
    statement locks both rows of a user who still matches, ops_user's first,
    and none of one who does not. Without them (an administrator's change)
    the user is locked alone, then the view's row if there is one.
    """
    if conditions:
        _take_sqlite_write_lock(session, User.id == user_id)
        query = (
            select(User)
            .join(UserActivity, UserActivity.user_id == User.id)
            .where(User.id == user_id, *conditions)
            .options(lazyload(User.roles))
            .execution_options(populate_existing=True)
        )
        if session.get_bind().dialect.name != "sqlite":
            query = query.with_for_update(of=[User.__table__, UserActivity.__table__])
        return session.scalars(query).first()
    user = select_user_for_update(session, User.id == user_id)
    if user is not None and session.get_bind().dialect.name != "sqlite":
        session.execute(select(UserActivity.user_id).where(UserActivity.user_id == user_id).with_for_update())
    return user


@dataclass
class StatusChangeLock:
    """What a transaction holds for a change of one user's status."""

    user: User
    # The user's sessions that were active when locked (PostgreSQL), or None:
    # read them when needed (SQLite, where the user's lock is the file's).
    active_sessions: list[UserSession] | None


def _held_locks(session: Session) -> dict[int, StatusChangeLock]:
    # Row locks last until the outermost transaction ends, and so does this record of them.
    return transaction_scoped(session, "status_change_locks")


def _lock_active_sessions(session: Session, user_id: int) -> list[UserSession] | None:
    """PostgreSQL: lock and load the user's active sessions (the first lock of a status change).

    None on SQLite, whose file lock covers them; they are read when needed.
    """
    if session.get_bind().dialect.name != "postgresql":
        return None
    return list(
        session.scalars(
            select(UserSession)
            .where(UserSession.user_id == user_id, UserSession.is_active.is_(True))
            .order_by(UserSession.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


def lock_for_status_change(session: Session, user_id: int, *conditions: Any) -> User | None:
    """Lock the user's active sessions, then the user's row, then the view's row, for a change of status.

    The order matters on PostgreSQL: activity is recorded by writing a
    session row, whose trigger then locks the view's row (session first, view
    second); a change of status fires the account trigger under the user's
    row lock (user first, view second). Taking the locks in another order here
    would let a request and a status change each wait for the other: a
    deadlock. SQLite locks the whole file, so there only the user's row is
    "locked".

    Extra ``conditions`` (on User and UserActivity) must hold too, else None
    is returned and nothing is locked but the sessions. Locks already taken in
    this transaction are not taken again.
    """
    held = _held_locks(session)
    if user_id in held:
        return held[user_id].user
    active_sessions = _lock_active_sessions(session, user_id)
    user = _lock_user_and_view(session, user_id, conditions)
    if user is not None:
        held[user_id] = StatusChangeLock(user, active_sessions)
    return user


def lock_with_actor(session: Session, user_id: int, actor_id: int) -> tuple[User | None, User | None]:
    """Lock for a change of ``user_id``'s status made by ``actor_id``; return (user, actor) as read under the lock.

    Order: the target's active sessions (as lock_for_status_change), then both
    user rows in ascending id, so two admins acting on each other at once wait
    for one another instead of deadlocking, then the target's view row. The actor's row is loaded afresh
    (populate_existing), so a status another request committed meanwhile is
    what the caller then checks. A row this transaction locked already is not
    read again.
    """
    held = _held_locks(session)
    if user_id in held:
        if actor_id in held:
            return held[user_id].user, held[actor_id].user
        if actor_id == user_id:
            return held[user_id].user, held[user_id].user
        return held[user_id].user, select_user_for_update(session, User.id == actor_id)
    active_sessions = _lock_active_sessions(session, user_id)
    locked = {locked_id: select_user_for_update(session, User.id == locked_id) for locked_id in sorted({user_id, actor_id})}
    user = locked[user_id]
    if user is not None:
        if session.get_bind().dialect.name != "sqlite":
            session.execute(select(UserActivity.user_id).where(UserActivity.user_id == user_id).with_for_update())
        held[user_id] = StatusChangeLock(user, active_sessions)
    return user, locked[actor_id]


def is_system_admin(user: User) -> bool:
    return user.oidc_id == SYSTEM_ADMIN_OIDC_ID


def can_administer_users(actor: User) -> bool:
    """ACTIVE user admins may; so may the System Admin, which OPS keeps LOCKED (but not INACTIVE)."""
    if is_system_admin(actor):
        return actor.status in (UserStatus.ACTIVE, UserStatus.LOCKED)
    return actor.status is UserStatus.ACTIVE and RoleName.USER_ADMIN.value in actor.role_names


def deactivate_user(session: Session, user: User, *, actor: User, reason: str) -> OpsEvent | None:
    """Make ``user`` INACTIVE and end all of their active sessions.

    Returns the UPDATE_USER event, or None when the user was not ACTIVE (then
    nothing is changed or written). Flushes; the caller commits.
    """
    return _change_status(session, user, UserStatus.INACTIVE, actor=actor, reason=reason)


def lock_user(session: Session, user: User, *, actor: User, reason: str) -> OpsEvent | None:
    """Make ``user`` LOCKED and end all of their active sessions (None if already LOCKED)."""
    return _change_status(session, user, UserStatus.LOCKED, actor=actor, reason=reason)


def reactivate_user(session: Session, user: User, *, actor: User, reason: str) -> OpsEvent | None:
    """Make an INACTIVE or LOCKED ``user`` ACTIVE again (None if already ACTIVE).

    Records the moment in this project's view (``UserActivity.reactivated_on``):
    the inactivity rule gives a reactivated account a fresh window from then.
    """
    return _change_status(session, user, UserStatus.ACTIVE, actor=actor, reason=reason)


# Which current statuses each target status may be reached from.
_ALLOWED_FROM = {
    UserStatus.INACTIVE: {UserStatus.ACTIVE},
    UserStatus.LOCKED: {UserStatus.ACTIVE, UserStatus.INACTIVE},
    UserStatus.ACTIVE: {UserStatus.INACTIVE, UserStatus.LOCKED},
}


def _change_status(
    session: Session, user: User, new_status: UserStatus, *, actor: User, reason: str
) -> OpsEvent | None:
    _check_status_change(user, new_status, actor=actor, reason=reason)
    _lock_and_authorize(session, user, actor)
    return _apply_status(session, user, new_status, actor=actor, reason=reason)


def _lock_and_authorize(session: Session, user: User, actor: User) -> None:
    """Lock ``user`` for a change by ``actor`` (their rows read afresh), then check the actor's authority.

    The one authority check of every change. Under the lock, another admin or
    the job cannot change either account until this transaction ends, and
    the actor's status and roles are the committed ones: two admins disabling
    each other serialise, and the second finds it may no longer act.
    """
    _, current_actor = lock_with_actor(session, user.id, actor.id)
    if current_actor is not None and not is_system_admin(current_actor):
        # The roles as committed, read under the lock (the System Admin's authority needs none).
        session.refresh(current_actor, ["roles"])
    if current_actor is None or not can_administer_users(current_actor):
        raise NotAuthorizedError(f"user {actor.id} may not administer users")


def _apply_status(session: Session, user: User, new_status: UserStatus, *, actor: User, reason: str) -> OpsEvent | None:
    """Change the locked ``user``'s status, or return None if the status read under the lock does not allow it."""
    # The status was read afresh under the lock: another admin or the job may
    # have changed it since this session loaded the user. Without this, both
    # would record the same change.
    old_status = user.status
    if old_status not in _ALLOWED_FROM[new_status]:
        return None

    # One flush for the whole change: one UPDATE per table, one batch of history rows.
    with acting_as(session, actor), session.no_autoflush:
        user.status = new_status
        if new_status is not UserStatus.ACTIVE:
            _end_sessions(session, user)
        event = OpsEvent(
            event_type=OpsEventType.UPDATE_USER,
            event_status=OpsEventStatus.SUCCESS,
            created_by=actor.id,
            event_details={
                "user_id": user.id,
                "old_status": old_status.name,
                "new_status": new_status.name,
                "reason": reason,
                "actor_id": actor.id,
            },
        )
        session.add(event)
        session.flush()
    if new_status is UserStatus.ACTIVE:
        # The account trigger has just stamped the view from the database's
        # clock; this project's own changes keep to the application's clock.
        session.execute(
            update(UserActivity).where(UserActivity.user_id == user.id).values(reactivated_on=utcnow()),
            execution_options={"synchronize_session": False},
        )
        session.expire(user, ["activity"])
    return event


def _check_status_change(user: User, new_status: UserStatus, *, actor: User, reason: str) -> None:
    """The change itself, whoever asks: nobody disables themselves or the System Admin, and a reason is given."""
    if new_status is not UserStatus.ACTIVE:
        if actor.id == user.id:
            raise InvalidStatusChangeError("you cannot deactivate or lock your own account")
        if is_system_admin(user):
            raise InvalidStatusChangeError("the System Admin account cannot be deactivated or locked")
    if not reason or not reason.strip():
        raise InvalidStatusChangeError("a reason is required for a change of account status")


def _end_sessions(session: Session, user: User) -> None:
    # Only is_active changes: last_active_at records the user's own activity.
    lock = _held_locks(session).get(user.id)
    active: Iterable[UserSession] | None = lock.active_sessions if lock is not None else None
    if active is None:
        active = session.scalars(
            select(UserSession).where(UserSession.user_id == user.id, UserSession.is_active.is_(True))
        )
    for user_session in active:
        user_session.is_active = False


# --- The admin API's reads and edits -------------------------------------------

# The profile fields an administrator may edit; status has its own path above.
PROFILE_FIELDS = ("first_name", "last_name", "email", "roles")


class UserNotFoundError(UserAdminError):
    """No user has the requested id (the API answers 404)."""


class InvalidProfileChangeError(UserAdminError):
    """A profile edit names a value the application cannot accept (the API answers 400)."""

    def __init__(self, message: str, fields: dict[str, list[str]]):
        super().__init__(message)
        self.fields = fields


def require_user_admin(actor: User) -> None:
    """Raise NotAuthorizedError unless ``actor`` may administer users."""
    if not can_administer_users(actor):
        raise NotAuthorizedError(f"user {actor.id} may not administer users")


def list_users(session: Session, *, actor: User, status: UserStatus | None = None) -> list[User]:
    """Every user (optionally only those with ``status``), ordered by id."""
    require_user_admin(actor)
    query = select(User).options(selectinload(User.activity)).order_by(User.id)
    if status is not None:
        query = query.where(User.status == status)
    return list(session.scalars(query))


def get_user(session: Session, user_id: int, *, actor: User) -> User:
    """The user with this id, for an administrator's read."""
    require_user_admin(actor)
    return find_user(session, user_id)


def find_user(session: Session, user_id: int) -> User:
    """The user with this id, to change: the change checks its actor under the lock."""
    user = session.get(User, user_id)
    if user is None:
        raise UserNotFoundError(f"no user has id {user_id}")
    return user


def update_user_profile(
    session: Session, user: User, *, actor: User, changes: Mapping[str, Any]
) -> OpsEvent | None:
    """Apply edits of first_name, last_name, email and roles (role names).

    Returns one UPDATE_USER event listing what changed, or None if nothing did.
    The audit listener records the same change, roles included, in
    ops_db_history. ``reactivated_on`` is never touched: an edit is not a
    reactivation. Raises NotAuthorizedError or InvalidProfileChangeError
    before changing anything. Flushes; the caller commits.
    """
    _lock_and_authorize(session, user, actor)
    return _apply_profile(session, user, actor=actor, changes=changes)


def _apply_profile(session: Session, user: User, *, actor: User, changes: Mapping[str, Any]) -> OpsEvent | None:
    unknown = sorted(set(changes) - set(PROFILE_FIELDS))
    if unknown:
        raise InvalidProfileChangeError(
            "unknown profile fields", {key: ["not a profile field"] for key in unknown}
        )
    problems: dict[str, list[str]] = {}
    new_roles: list[Role] | None = None
    if "email" in changes:
        taken = session.scalar(
            select(User.id).where(func.lower(User.email) == changes["email"].lower(), User.id != user.id)
        )
        if taken is not None:
            problems["email"] = ["another user has this e-mail address"]
    if "roles" in changes:
        wanted = list(dict.fromkeys(changes["roles"]))
        found = {role.name: role for role in session.scalars(select(Role).where(Role.name.in_(wanted)))}
        missing = [name for name in wanted if name not in found]
        if missing:
            problems["roles"] = [f"no role named {name!r}" for name in missing]
        elif (
            actor.id == user.id
            and not is_system_admin(actor)
            and RoleName.USER_ADMIN.value in user.role_names
            and RoleName.USER_ADMIN.value not in wanted
        ):
            problems["roles"] = ["you cannot remove your own USER_ADMIN role"]
        new_roles = [found[name] for name in wanted] if not missing else None
    if problems:
        raise InvalidProfileChangeError("the profile change is not valid", problems)

    diff: dict[str, dict[str, Any]] = {}
    # One flush for the whole edit (reading the old roles must not flush the names first): one history row.
    with acting_as(session, actor), session.no_autoflush:
        for key in ("first_name", "last_name", "email"):
            if key in changes and getattr(user, key) != changes[key]:
                diff[key] = {"old": getattr(user, key), "new": changes[key]}
                setattr(user, key, changes[key])
        if new_roles is not None:
            old_names = user.role_names
            new_names = sorted(role.name for role in new_roles)
            if old_names != new_names:
                diff["roles"] = {"old": old_names, "new": new_names}
                user.roles = new_roles
        if not diff:
            return None
        event = OpsEvent(
            event_type=OpsEventType.UPDATE_USER,
            event_status=OpsEventStatus.SUCCESS,
            created_by=actor.id,
            event_details={"user_id": user.id, "changes": diff, "actor_id": actor.id},
        )
        session.add(event)
        session.flush()
    return event


def update_user(
    session: Session,
    user: User,
    *,
    actor: User,
    profile: Mapping[str, Any],
    status: UserStatus | None,
    reason: str,
) -> list[OpsEvent]:
    """An administrator's edit of one user: profile fields, then status.

    The status goes through deactivate_user, lock_user or reactivate_user, so
    it is recorded exactly as the inactivity job records it. Asking for a
    status the user cannot reach from the current one (e.g. LOCKED to
    INACTIVE) raises InvalidStatusChangeError. On any error the caller must
    roll back: the profile part may already be flushed. Returns the events written.
    """
    if is_system_admin(user):
        raise NotAuthorizedError("the System Admin's account cannot be changed through user administration")
    if actor.id == user.id and not is_system_admin(actor):
        if status is not None:
            raise InvalidStatusChangeError("you cannot change the status of your own account")
        if "roles" in profile:
            raise InvalidProfileChangeError(
                "you cannot change your own roles", {"roles": ["you cannot change your own roles"]}
            )
    if status is not None:
        _check_status_change(user, status, actor=actor, reason=reason)
    _lock_and_authorize(session, user, actor)
    events = []
    if profile:
        event = _apply_profile(session, user, actor=actor, changes=profile)
        if event is not None:
            events.append(event)
    if status is not None and status is not user.status:
        event = _apply_status(session, user, status, actor=actor, reason=reason)
        if event is None:
            raise InvalidStatusChangeError(f"a {user.status.name} account cannot be made {status.name}")
        events.append(event)
    return events
