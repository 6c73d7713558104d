"""Users, their roles and their sessions (OPS's tables ops_user, role, user_role, user_session).

Columns, indexes and types are OPS's own, with OPS's nullability: this project
adds nothing to OPS's tables (its own view of each user is
:class:`ops_api.models.state.UserActivity`, in a schema of its own).
"""

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, Sequence, String, Table, Text, Uuid
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ops_api.clock import utcnow
from ops_api.models.base import AuditColumns, Base, UTCDateTime, ops_enum

if TYPE_CHECKING:
    from ops_api.models.state import UserActivity


class UserStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"  # a disabled account
    LOCKED = "LOCKED"


class RoleName(enum.Enum):
    """OPS's seed roles (role.name is free text in OPS; these are the names it ships)."""

    SYSTEM_OWNER = "SYSTEM_OWNER"
    VIEWER_EDITOR = "VIEWER_EDITOR"
    REVIEWER_APPROVER = "REVIEWER_APPROVER"
    USER_ADMIN = "USER_ADMIN"
    BUDGET_TEAM = "BUDGET_TEAM"
    PROCUREMENT_TEAM = "PROCUREMENT_TEAM"
    SUPER_USER = "SUPER_USER"
    READ_ONLY = "READ_ONLY"


user_role = Table(
    "user_role",
    Base.metadata,
    Column("user_id", ForeignKey("ops_user.id"), primary_key=True),
    Column("role_id", ForeignKey("role.id"), primary_key=True),
    Column("created_by", ForeignKey("ops_user.id")),
    Column("updated_by", ForeignKey("ops_user.id")),
    Column("created_on", UTCDateTime(), default=utcnow),
    Column("updated_on", UTCDateTime(), default=utcnow),
)


class Role(AuditColumns, Base):
    __tablename__ = "role"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String, index=True)
    permissions: Mapped[list[str]] = mapped_column(
        ARRAY(String).with_variant(JSON(), "sqlite"), default=list, server_default="{}"
    )

    def __repr__(self) -> str:
        return f"<Role {self.name}>"


class User(AuditColumns, Base):
    __tablename__ = "ops_user"

    id: Mapped[int] = mapped_column(Integer, Sequence("ops_user_id_seq", start=500), primary_key=True)
    oidc_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, unique=True, index=True)
    hhs_id: Mapped[str | None] = mapped_column(String)
    email: Mapped[str] = mapped_column(String, index=True)
    first_name: Mapped[str | None] = mapped_column(String)
    last_name: Mapped[str | None] = mapped_column(String)
    division: Mapped[int | None] = mapped_column(Integer)  # OPS's division id; not read here
    status: Mapped[UserStatus] = mapped_column(ops_enum(UserStatus, "userstatus"), server_default="INACTIVE")

    roles: Mapped[list[Role]] = relationship(
        secondary=user_role,
        primaryjoin=lambda: User.id == user_role.c.user_id,
        secondaryjoin=lambda: Role.id == user_role.c.role_id,
        lazy="selectin",
    )
    # This project's view of the user, in its own schema (read only here: triggers and the job keep it).
    activity: Mapped["UserActivity | None"] = relationship(
        primaryjoin="User.id == foreign(UserActivity.user_id)", viewonly=True, uselist=False
    )

    @property
    def reactivated_on(self) -> datetime | None:
        """When the account was last made ACTIVE again, as this project recorded it (None if never)."""
        return self.activity.reactivated_on if self.activity is not None else None

    @property
    def role_names(self) -> list[str]:
        return sorted(role.name for role in self.roles)

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    @property
    def display_name(self) -> str:
        """What OPS shows for a user: the full name, else the e-mail address."""
        return self.full_name or self.email

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.status.name}>"


class UserSession(AuditColumns, Base):
    __tablename__ = "user_session"
    __table_args__ = (
        Index("ix_user_session_user_id_is_active", "user_id", "is_active"),
        Index("ix_user_session_user_id_created_on", "user_id", "created_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ops_user.id"))
    is_active: Mapped[bool | None] = mapped_column()
    ip_address: Mapped[str] = mapped_column(String)
    access_token: Mapped[str] = mapped_column(Text, default="")
    refresh_token: Mapped[str] = mapped_column(Text, default="")
    # The user's own last activity in this session. Ending a session (logout,
    # deactivation) must leave it alone: it is evidence, not bookkeeping.
    last_active_at: Mapped[datetime] = mapped_column()

    def __repr__(self) -> str:
        return f"<UserSession {self.id} user={self.user_id} active={self.is_active}>"
