"""Users, their roles and their sessions (tables ops_user, role, user_role, user_session)."""

import enum
import uuid
from datetime import datetime

from sqlalchemy import Column, Enum, ForeignKey, Index, String, Table, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ops_api.models.base import AuditColumns, Base


class UserStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"  # a disabled account
    LOCKED = "LOCKED"


class RoleName(enum.Enum):
    USER_ADMIN = "USER_ADMIN"
    SYSTEM_OWNER = "SYSTEM_OWNER"
    VIEWER_EDITOR = "VIEWER_EDITOR"
    REVIEWER_APPROVER = "REVIEWER_APPROVER"
    BUDGET_TEAM = "BUDGET_TEAM"
    PROCUREMENT_TEAM = "PROCUREMENT_TEAM"


user_role = Table(
    "user_role",
    Base.metadata,
    Column("user_id", ForeignKey("ops_user.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("role.id", ondelete="CASCADE"), primary_key=True),
)


class Role(AuditColumns, Base):
    __tablename__ = "role"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)

    def __repr__(self) -> str:
        return f"<Role {self.name}>"


class User(AuditColumns, Base):
    __tablename__ = "ops_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    oidc_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, unique=True)
    email: Mapped[str | None] = mapped_column(String(255))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[UserStatus] = mapped_column(
        Enum(
            UserStatus,
            name="user_status",
            native_enum=False,
            length=16,
            create_constraint=True,
            validate_strings=True,
        ),
        default=UserStatus.ACTIVE,
    )
    # When the account was last made ACTIVE by a reactivation (None if never).
    # The inactivity rule starts a fresh window here; updated_on cannot serve,
    # because any edit of the user (name, roles) bumps it.
    reactivated_on: Mapped[datetime | None] = mapped_column()

    roles: Mapped[list[Role]] = relationship(secondary=user_role, lazy="selectin")

    @property
    def role_names(self) -> list[str]:
        return sorted(role.name for role in self.roles)

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.status.name}>"


class UserSession(AuditColumns, Base):
    __tablename__ = "user_session"
    __table_args__ = (
        # The inactivity query asks "latest activity of this user" and
        # "any activity after the cutoff": both are range scans of this index.
        Index("ix_user_session_user_id_last_active_at", "user_id", "last_active_at"),
        # "Who was active after this instant": the users seen after the cutoff
        # (PostgreSQL's hash anti-join reads them index-only) and the hourly
        # check for activity stamped in the future. Migration 0002.
        Index("ix_user_session_last_active_at_user_id", "last_active_at", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ops_user.id", ondelete="CASCADE"))
    is_active: Mapped[bool] = mapped_column(default=True)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    access_token: Mapped[str | None] = mapped_column(Text)
    refresh_token: Mapped[str | None] = mapped_column(Text)
    # The user's own last activity in this session. Ending a session (logout,
    # deactivation) must leave it alone: it is evidence, not bookkeeping.
    last_active_at: Mapped[datetime | None] = mapped_column()

    def __repr__(self) -> str:
        return f"<UserSession {self.id} user={self.user_id} active={self.is_active}>"
