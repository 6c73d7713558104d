"""The one path for changes of account status: deactivate, reactivate, lock.

Used by the admin API and by the inactive-account job alike, so a change made
by the job is recorded exactly like one made by a System Admin: the status
change, every active session ended, one UPDATE_USER ops_event, and the
ops_db_history rows written by the audit listener.

Transactions: these functions flush but never commit. The caller owns the
transaction and commits (or rolls back) when its unit of work is done.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from ops_api.audit import acting_as
from ops_api.clock import utcnow
from ops_api.models import OpsEvent, OpsEventStatus, OpsEventType, RoleName, User, UserSession, UserStatus

SYSTEM_ADMIN_OIDC_ID = uuid.UUID("00000000-0000-1111-a111-000000000026")
SYSTEM_ADMIN_EMAIL = "system.admin@email.com"


class UserAdminError(Exception):
    """A status change that was refused; nothing was changed."""


class NotAuthorizedError(UserAdminError):
    """The actor may not change this user's status (the API answers 403)."""


class InvalidStatusChangeError(UserAdminError):
    """The change itself is not allowed, e.g. deactivating oneself (the API answers 400)."""


def get_or_create_system_admin(session: Session) -> User:
    """Return OPS's System Admin user, creating it if missing (flushes, does not commit)."""
    user = session.scalar(select(User).where(User.oidc_id == SYSTEM_ADMIN_OIDC_ID))
    if user is None:
        user = User(
            oidc_id=SYSTEM_ADMIN_OIDC_ID,
            email=SYSTEM_ADMIN_EMAIL,
            first_name="System",
            last_name="Admin",
            status=UserStatus.ACTIVE,
        )
        session.add(user)
        with acting_as(session, None):
            session.flush()
    return user


def is_system_admin(user: User) -> bool:
    return user.oidc_id == SYSTEM_ADMIN_OIDC_ID


def can_administer_users(actor: User) -> bool:
    return actor.status is UserStatus.ACTIVE and (
        is_system_admin(actor) or RoleName.USER_ADMIN.value in actor.role_names
    )


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

    Records the moment in ``user.reactivated_on``: the inactivity rule gives a
    reactivated account a fresh window from then.
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
    _check_allowed(user, new_status, actor=actor, reason=reason)
    old_status = user.status
    if old_status not in _ALLOWED_FROM[new_status]:
        return None

    with acting_as(session, actor):
        user.status = new_status
        if new_status is UserStatus.ACTIVE:
            user.reactivated_on = utcnow()
        else:
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
    return event


def _check_allowed(user: User, new_status: UserStatus, *, actor: User, reason: str) -> None:
    if not can_administer_users(actor):
        raise NotAuthorizedError(f"user {actor.id} may not change the status of other users")
    if new_status is not UserStatus.ACTIVE:
        if actor.id == user.id:
            raise InvalidStatusChangeError("you cannot deactivate or lock your own account")
        if is_system_admin(user):
            raise InvalidStatusChangeError("the System Admin account cannot be deactivated or locked")
    if not reason or not reason.strip():
        raise InvalidStatusChangeError("a reason is required for a change of account status")


def _end_sessions(session: Session, user: User) -> None:
    # Only is_active changes: last_active_at records the user's own activity.
    active = session.scalars(
        select(UserSession).where(UserSession.user_id == user.id, UserSession.is_active.is_(True))
    )
    for user_session in active:
        user_session.is_active = False
