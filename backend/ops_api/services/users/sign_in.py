"""Sign-in and sessions: who may log in, and whether a session may still be used.

A login provider only answers "which OIDC subject is this?"; everything after
that (the account's status, the user_session row, the LOGIN_ATTEMPT event) is
decided here, the same for every provider. FakeAuth is the one provider so far;
an OpenID Connect provider (HHS AMS) would implement ``AuthProvider`` too.

Like the other services, these functions take a Session, flush but never
commit, and never read Flask globals. Tokens are the API layer's business: a
token names a user_session row, and this module decides whether that row is
still good.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, cast

from sqlalchemy import or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ops_api.audit import acting_as
from ops_api.clock import utcnow
from ops_api.models import OpsEvent, OpsEventStatus, OpsEventType, User, UserSession, UserStatus
from ops_api.models.versions import VersionOperation
from ops_api.services.users.accounts import select_user_for_update
from ops_api.versioning import note_change

# A session's last_active_at is moved forward at most this often, so that
# reading the API does not write to the database on every request.
ACTIVITY_RESOLUTION = timedelta(minutes=1)


class LoginRequestError(Exception):
    """The login payload is malformed; ``fields`` maps each bad field to its problems."""

    def __init__(self, message: str, fields: Mapping[str, list[str]]):
        super().__init__(message)
        self.fields = dict(fields)


class AuthProvider(Protocol):
    """Turns a login payload into the OIDC subject (``oidc_id``) it proves.

    ``identify`` raises LoginRequestError for a payload it cannot read. A real
    OpenID Connect provider would exchange an authorization code here and
    verify the ID token's signature before returning its ``sub``.
    """

    name: str

    def identify(self, payload: Mapping[str, Any]) -> uuid.UUID: ...


class FakeAuthProvider:
    """Development and test sign-in: the payload simply names the oidc_id. Never for production."""

    name = "fakeauth"

    def identify(self, payload: Mapping[str, Any]) -> uuid.UUID:
        unknown = sorted(set(payload) - {"oidc_id"})
        fields: dict[str, list[str]] = {key: ["unknown field"] for key in unknown}
        raw = payload.get("oidc_id")
        oidc_id = None
        if raw is None:
            fields["oidc_id"] = ["required"]
        else:
            try:
                oidc_id = uuid.UUID(raw) if isinstance(raw, str) else None
            except ValueError:
                pass
            if oidc_id is None:
                fields["oidc_id"] = ["must be a UUID"]
        if fields or oidc_id is None:
            raise LoginRequestError("the fakeauth login payload is not valid", fields)
        return oidc_id


def enabled_providers(*, fakeauth_enabled: bool) -> dict[str, AuthProvider]:
    """The providers this deployment accepts, by name."""
    providers: dict[str, AuthProvider] = {}
    if fakeauth_enabled:
        providers[FakeAuthProvider.name] = FakeAuthProvider()
    return providers


class LoginFailure(enum.Enum):
    UNKNOWN_USER = "UNKNOWN_USER"
    ACCOUNT_INACTIVE = "ACCOUNT_INACTIVE"
    ACCOUNT_LOCKED = "ACCOUNT_LOCKED"


@dataclass(frozen=True)
class LoginOutcome:
    """A login's result: a new session, or the reason it was refused (the FAILED event is written either way)."""

    user: User | None
    user_session: UserSession | None
    failure: LoginFailure | None
    event: OpsEvent


def log_in(
    session: Session,
    provider: AuthProvider,
    payload: Mapping[str, Any],
    *,
    ip_address: str | None = None,
) -> LoginOutcome:
    """Identify the caller through ``provider`` and open a session for an ACTIVE account.

    Raises LoginRequestError (nothing written) for a malformed payload. Any
    other attempt writes a LOGIN_ATTEMPT event: SUCCESS with a new
    user_session, or FAILED for an unknown, INACTIVE or LOCKED account (no
    session). Flushes; the caller commits in both cases.
    """
    oidc_id = provider.identify(payload)
    # Locked until the caller commits: a login racing the inactivity job either
    # lands first (the job's re-check then sees the new session) or waits and
    # finds the account INACTIVE.
    user = select_user_for_update(session, User.oidc_id == oidc_id)
    details: dict[str, Any] = {
        "provider": provider.name,
        "oidc_id": str(oidc_id),
        "user_id": user.id if user is not None else None,
    }
    failure = None
    if user is None:
        failure = LoginFailure.UNKNOWN_USER
    elif user.status is UserStatus.INACTIVE:
        failure = LoginFailure.ACCOUNT_INACTIVE
    elif user.status is UserStatus.LOCKED:
        failure = LoginFailure.ACCOUNT_LOCKED

    with acting_as(session, user):
        user_session = None
        if failure is None:
            assert user is not None
            user_session = UserSession(
                user_id=user.id,
                is_active=True,
                # OPS's column is NOT NULL: a caller that cannot tell the address says so.
                ip_address=ip_address or "unknown",
                last_active_at=utcnow(),
            )
            session.add(user_session)
            session.flush()
            details["session_id"] = user_session.id
        else:
            details["reason"] = failure.name
        event = OpsEvent(
            event_type=OpsEventType.LOGIN_ATTEMPT,
            event_status=OpsEventStatus.FAILED if failure else OpsEventStatus.SUCCESS,
            event_details=details,
        )
        session.add(event)
        session.flush()
    return LoginOutcome(user=user, user_session=user_session, failure=failure, event=event)


class SessionRefusedError(Exception):
    """A token's session may not be used any more."""


class SessionEndedError(SessionRefusedError):
    """The session is unknown, was ended (logout, deactivation), or is not the token's user's."""


class AccountNotActiveError(SessionRefusedError):
    """The session's user is INACTIVE or LOCKED."""


@dataclass(frozen=True)
class ResumedSession:
    user: User
    user_session: UserSession
    touched: bool  # last_active_at was moved: the caller has a write to commit


def resume_session(
    session: Session, *, session_id: Any, user_id: Any, mark_activity: bool = True
) -> ResumedSession:
    """Return the user and session a token names, if both may still be used; mark the activity.

    Raises SessionEndedError when the session is unknown, ended or someone
    else's, AccountNotActiveError when its user is not ACTIVE. With
    ``mark_activity``, moves ``last_active_at`` to now when it is
    ACTIVITY_RESOLUTION or more behind, with a conditional UPDATE (no ORM
    flush, hence no ops_db_history row and no ``updated_on`` change); the
    caller commits when the result says ``touched``.
    """
    if not isinstance(session_id, int) or isinstance(session_id, bool):
        raise SessionEndedError("the token names no session")
    row = session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.id == session_id)
        .execution_options(populate_existing=True)
    ).one_or_none()
    if row is None:
        raise SessionEndedError("the session does not exist")
    user_session, user = row
    if str(user.id) != str(user_id):
        raise SessionEndedError("the token does not belong to this session")
    if not user_session.is_active:
        raise SessionEndedError("the session has ended; log in again")
    if user.status is not UserStatus.ACTIVE:
        raise AccountNotActiveError(f"the account is {user.status.name}")

    touched = False
    now = utcnow()
    cutoff = now - ACTIVITY_RESOLUTION
    due = user_session.last_active_at is None or user_session.last_active_at <= cutoff
    if mark_activity and due:
        result = session.execute(
            update(UserSession)
            .where(
                UserSession.id == user_session.id,
                UserSession.is_active.is_(True),
                or_(UserSession.last_active_at.is_(None), UserSession.last_active_at <= cutoff),
            )
            .values(last_active_at=now)
            .execution_options(synchronize_session=False)
        )
        moved = cast("CursorResult[Any]", result).rowcount
        if moved:
            # Keep the loaded object in step without marking it dirty.
            set_committed_value(user_session, "last_active_at", now)
            note_change(session, UserSession.__tablename__, [(user_session.id,)], VersionOperation.UPDATE)
            touched = True
        else:
            # Another request moved it first, or the session ended meanwhile.
            session.refresh(user_session)
            if not user_session.is_active:
                raise SessionEndedError("the session has ended; log in again")
    return ResumedSession(user=user, user_session=user_session, touched=touched)


def log_out(session: Session, user: User, user_session: UserSession) -> OpsEvent:
    """End ``user_session`` and record a LOGOUT event. Flushes; the caller commits."""
    with acting_as(session, user):
        user_session.is_active = False
        event = OpsEvent(
            event_type=OpsEventType.LOGOUT,
            event_status=OpsEventStatus.SUCCESS,
            event_details={"user_id": user.id, "session_id": user_session.id},
        )
        session.add(event)
        session.flush()
    return event
