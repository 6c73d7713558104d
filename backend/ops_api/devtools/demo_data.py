"""Demo data for a fresh database: roles, the System Admin, FakeAuth users and a mix of ordinary users.

Idempotent: users are keyed by e-mail and roles by name, so running it again
adds only what is missing. Times are relative to ``now``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ops_api.audit import acting_as
from ops_api.domain.defaults import FAKEAUTH_OIDC_IDS
from ops_api.models import Role, RoleName, User, UserActivity, UserSession, UserStatus
from ops_api.services.users.accounts import get_or_create_system_admin

# A demo profile for each FakeAuth user (their ids have one home: domain.defaults.FAKEAUTH_OIDC_IDS),
# in that order: (e-mail, first name, last name, role).
FAKEAUTH_PROFILES = (
    ("admin.demo@email.com", "Admin", "Demo", RoleName.USER_ADMIN),
    ("user.demo@email.com", "User", "Demo", RoleName.VIEWER_EDITOR),
    ("director.demo@email.com", "Director", "Demo", RoleName.REVIEWER_APPROVER),
    ("budget.team@email.com", "Budget", "Team", RoleName.BUDGET_TEAM),
    ("system.owner@email.com", "System", "Owner", RoleName.SYSTEM_OWNER),
    ("procurement.team@email.com", "Procurement", "Team", RoleName.PROCUREMENT_TEAM),
    ("basic.user@email.com", "Basic", "User", RoleName.VIEWER_EDITOR),
    ("randy.readonly@email.com", "Randy", "Readonly", RoleName.READ_ONLY),
)
FAKEAUTH_USERS = tuple(zip(FAKEAUTH_OIDC_IDS, FAKEAUTH_PROFILES, strict=True))


@dataclass(frozen=True)
class DemoUser:
    email: str
    first_name: str
    last_name: str
    created_days_ago: int
    last_active_days_ago: int | None  # None: never logged in
    status: UserStatus = UserStatus.ACTIVE
    reactivated_days_ago: int | None = None


ORDINARY_USERS = (
    DemoUser("amelia.recent@example.gov", "Amelia", "Recent", 300, 1),
    DemoUser("bruno.sixtyone@example.gov", "Bruno", "Sixtyone", 500, 61),
    DemoUser("chloe.ninety@example.gov", "Chloe", "Ninety", 500, 90),
    DemoUser("dmitri.longgone@example.gov", "Dmitri", "Longgone", 800, 400),
    DemoUser("esther.neverlogged@example.gov", "Esther", "Neverlogged", 70, None),
    DemoUser("farid.returned@example.gov", "Farid", "Returned", 800, 400, reactivated_days_ago=5),
    DemoUser("greta.locked@example.gov", "Greta", "Locked", 400, 100, UserStatus.LOCKED),
    DemoUser("hugo.disabled@example.gov", "Hugo", "Disabled", 400, 200, UserStatus.INACTIVE),
)


def seed_demo(session: Session, *, now: datetime) -> int:
    """Create whatever demo rows are missing; return how many users were added. Flushes, does not commit."""
    system_admin = get_or_create_system_admin(session)
    added = 0
    with acting_as(session, system_admin):
        roles = {role.name: role for role in session.scalars(select(Role))}
        for name in RoleName:
            if name.value not in roles:
                roles[name.value] = Role(name=name.value)
                session.add(roles[name.value])
        existing = set(session.scalars(select(User.email)))

        for oidc_id, (email, first, last, role) in FAKEAUTH_USERS:
            if email in existing:
                continue
            session.add(
                User(
                    oidc_id=oidc_id,
                    email=email,
                    first_name=first,
                    last_name=last,
                    status=UserStatus.ACTIVE,
                    roles=[roles[role.value]],
                )
            )
            added += 1

        for demo in ORDINARY_USERS:
            if demo.email in existing:
                continue
            user = User(
                oidc_id=uuid.uuid4(),
                email=demo.email,
                first_name=demo.first_name,
                last_name=demo.last_name,
                status=demo.status,
                roles=[roles[RoleName.VIEWER_EDITOR.value]],
                created_on=now - timedelta(days=demo.created_days_ago),
                updated_on=now - timedelta(days=demo.created_days_ago),
            )
            session.add(user)
            session.flush()
            if demo.reactivated_days_ago is not None:
                # Made ACTIVE again by an admin: the moment lives in this project's view of the user.
                session.execute(
                    update(UserActivity)
                    .where(UserActivity.user_id == user.id)
                    .values(reactivated_on=now - timedelta(days=demo.reactivated_days_ago)),
                    execution_options={"synchronize_session": False},
                )
            if demo.last_active_days_ago is not None:
                last_active = now - timedelta(days=demo.last_active_days_ago)
                session.add(
                    UserSession(
                        user_id=user.id,
                        is_active=demo.status is UserStatus.ACTIVE and demo.last_active_days_ago < 1,
                        ip_address="127.0.0.1",
                        last_active_at=last_active,
                        created_on=last_active - timedelta(hours=1),
                    )
                )
            added += 1
        session.flush()
    return added
