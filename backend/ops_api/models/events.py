"""Application events (ops_event) and the row-level audit trail (ops_db_history)."""

import enum
from typing import Any

from sqlalchemy import Enum, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ops_api.models.base import AuditColumns, Base


class OpsEventType(enum.Enum):
    CREATE_USER = "CREATE_USER"
    UPDATE_USER = "UPDATE_USER"
    LOGIN_ATTEMPT = "LOGIN_ATTEMPT"
    LOGOUT = "LOGOUT"
    # One per finished run of the inactive-account job (counts and outcome).
    DISABLE_INACTIVE_USERS = "DISABLE_INACTIVE_USERS"
    # One per e-mail the job sent or tried to send: an inactivity warning, a
    # deactivation notice, or the user admins' summary (SUCCESS or FAILED).
    INACTIVITY_NOTIFICATION = "INACTIVITY_NOTIFICATION"


class OpsEventStatus(enum.Enum):
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"


class OpsDBHistoryType(enum.Enum):
    NEW = "NEW"
    UPDATED = "UPDATED"
    DELETED = "DELETED"
    ERROR = "ERROR"


def _enum_by_name(enum_class: type[enum.Enum], name: str) -> Enum:
    # Stored by name as text, not as a native PostgreSQL enum, so a new member
    # needs no migration; the application validates values on the way in.
    return Enum(enum_class, name=name, native_enum=False, length=64, validate_strings=True)


class OpsEvent(AuditColumns, Base):
    __tablename__ = "ops_event"
    __table_args__ = (Index("ix_ops_event_event_type_created_on", "event_type", "created_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_type: Mapped[OpsEventType] = mapped_column(_enum_by_name(OpsEventType, "ops_event_type"))
    event_status: Mapped[OpsEventStatus] = mapped_column(
        _enum_by_name(OpsEventStatus, "ops_event_status")
    )
    event_details: Mapped[dict[str, Any] | None] = mapped_column()

    def __repr__(self) -> str:
        return f"<OpsEvent {self.id} {self.event_type.name} {self.event_status.name}>"


class OpsDBHistory(AuditColumns, Base):
    __tablename__ = "ops_db_history"
    __table_args__ = (Index("ix_ops_db_history_class_name_row_key", "class_name", "row_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_type: Mapped[OpsDBHistoryType] = mapped_column(
        _enum_by_name(OpsDBHistoryType, "ops_db_history_type")
    )
    class_name: Mapped[str] = mapped_column(String(255))
    row_key: Mapped[str] = mapped_column(String(255))
    changes: Mapped[dict[str, Any] | None] = mapped_column()
    event_details: Mapped[dict[str, Any] | None] = mapped_column()

    def __repr__(self) -> str:
        return f"<OpsDBHistory {self.id} {self.event_type.name} {self.class_name}:{self.row_key}>"
