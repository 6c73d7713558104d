"""Application events (ops_event) and the row-level audit trail (ops_db_history), as OPS defines them."""

import enum
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ops_api.models.base import AuditColumns, Base, ops_enum


class OpsEventType(enum.Enum):
    """OPS's ``opseventtype``: every value OPS defines, so rows written by OPS load too.

    This project adds none: its run and e-mail records live in its own schema
    (:mod:`ops_api.models.state`), so OPS's own enum migrations never meet a
    value they do not know.
    """

    CREATE_BLI = "CREATE_BLI"
    UPDATE_BLI = "UPDATE_BLI"
    DELETE_BLI = "DELETE_BLI"
    SEND_BLI_FOR_APPROVAL = "SEND_BLI_FOR_APPROVAL"
    CREATE_PROJECT = "CREATE_PROJECT"
    UPDATE_PROJECT = "UPDATE_PROJECT"
    GET_AGREEMENT = "GET_AGREEMENT"
    CREATE_NEW_AGREEMENT = "CREATE_NEW_AGREEMENT"
    UPDATE_AGREEMENT = "UPDATE_AGREEMENT"
    DELETE_AGREEMENT = "DELETE_AGREEMENT"
    CREATE_NEW_CAN = "CREATE_NEW_CAN"
    UPDATE_CAN = "UPDATE_CAN"
    DELETE_CAN = "DELETE_CAN"
    CREATE_CAN_FUNDING_RECEIVED = "CREATE_CAN_FUNDING_RECEIVED"
    UPDATE_CAN_FUNDING_RECEIVED = "UPDATE_CAN_FUNDING_RECEIVED"
    DELETE_CAN_FUNDING_RECEIVED = "DELETE_CAN_FUNDING_RECEIVED"
    CREATE_CAN_FUNDING_BUDGET = "CREATE_CAN_FUNDING_BUDGET"
    UPDATE_CAN_FUNDING_BUDGET = "UPDATE_CAN_FUNDING_BUDGET"
    DELETE_CAN_FUNDING_BUDGET = "DELETE_CAN_FUNDING_BUDGET"
    CREATE_CAN_FUNDING_DETAILS = "CREATE_CAN_FUNDING_DETAILS"
    UPDATE_CAN_FUNDING_DETAILS = "UPDATE_CAN_FUNDING_DETAILS"
    DELETE_CAN_FUNDING_DETAILS = "DELETE_CAN_FUNDING_DETAILS"
    ACKNOWLEDGE_NOTIFICATION = "ACKNOWLEDGE_NOTIFICATION"
    CREATE_BLI_PACKAGE = "CREATE_BLI_PACKAGE"
    UPDATE_BLI_PACKAGE = "UPDATE_BLI_PACKAGE"
    CREATE_SERVICES_COMPONENT = "CREATE_SERVICES_COMPONENT"
    UPDATE_SERVICES_COMPONENT = "UPDATE_SERVICES_COMPONENT"
    DELETE_SERVICES_COMPONENT = "DELETE_SERVICES_COMPONENT"
    CREATE_GRANT_NUMBER = "CREATE_GRANT_NUMBER"
    UPDATE_GRANT_NUMBER = "UPDATE_GRANT_NUMBER"
    DELETE_GRANT_NUMBER = "DELETE_GRANT_NUMBER"
    CREATE_PROCUREMENT_ACQUISITION_PLANNING = "CREATE_PROCUREMENT_ACQUISITION_PLANNING"
    UPDATE_PROCUREMENT_ACQUISITION_PLANNING = "UPDATE_PROCUREMENT_ACQUISITION_PLANNING"
    DELETE_PROCUREMENT_ACQUISITION_PLANNING = "DELETE_PROCUREMENT_ACQUISITION_PLANNING"
    CREATE_DOCUMENT = "CREATE_DOCUMENT"
    UPDATE_DOCUMENT = "UPDATE_DOCUMENT"
    LOGIN_ATTEMPT = "LOGIN_ATTEMPT"
    LOGOUT = "LOGOUT"
    IDLE_LOGOUT = "IDLE_LOGOUT"
    GET_USER_DETAILS = "GET_USER_DETAILS"
    CREATE_USER = "CREATE_USER"
    UPDATE_USER = "UPDATE_USER"
    DEACTIVATE_USER = "DEACTIVATE_USER"
    CREATE_PORTFOLIO_URL = "CREATE_PORTFOLIO_URL"
    UPDATE_PORTFOLIO_URL = "UPDATE_PORTFOLIO_URL"
    DELETE_PORTFOLIO_URL = "DELETE_PORTFOLIO_URL"
    CREATE_CHANGE_REQUEST = "CREATE_CHANGE_REQUEST"
    UPDATE_CHANGE_REQUEST = "UPDATE_CHANGE_REQUEST"
    DELETE_CHANGE_REQUEST = "DELETE_CHANGE_REQUEST"
    CREATE_PROCUREMENT_SHOP = "CREATE_PROCUREMENT_SHOP"
    UPDATE_PROCUREMENT_SHOP = "UPDATE_PROCUREMENT_SHOP"
    DELETE_PROCUREMENT_SHOP = "DELETE_PROCUREMENT_SHOP"
    CREATE_ROLE = "CREATE_ROLE"
    UPDATE_ROLE = "UPDATE_ROLE"
    DELETE_ROLE = "DELETE_ROLE"
    CREATE_USER_SESSION = "CREATE_USER_SESSION"
    UPDATE_USER_SESSION = "UPDATE_USER_SESSION"
    DELETE_USER_SESSION = "DELETE_USER_SESSION"
    CREATE_PROCUREMENT_TRACKER = "CREATE_PROCUREMENT_TRACKER"
    UPDATE_PROCUREMENT_TRACKER = "UPDATE_PROCUREMENT_TRACKER"
    DELETE_PROCUREMENT_TRACKER = "DELETE_PROCUREMENT_TRACKER"
    UPDATE_PROCUREMENT_TRACKER_STEP = "UPDATE_PROCUREMENT_TRACKER_STEP"
    CREATE_PROCUREMENT_ACTION = "CREATE_PROCUREMENT_ACTION"
    UPDATE_PROCUREMENT_ACTION = "UPDATE_PROCUREMENT_ACTION"
    DELETE_PROCUREMENT_ACTION = "DELETE_PROCUREMENT_ACTION"


class OpsEventStatus(enum.Enum):
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"


class OpsDBHistoryType(enum.Enum):
    NEW = "NEW"
    UPDATED = "UPDATED"
    DELETED = "DELETED"
    ERROR = "ERROR"


class OpsEvent(AuditColumns, Base):
    __tablename__ = "ops_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_type: Mapped[OpsEventType | None] = mapped_column(ops_enum(OpsEventType, "opseventtype"))
    event_status: Mapped[OpsEventStatus | None] = mapped_column(ops_enum(OpsEventStatus, "opseventstatus"))
    event_details: Mapped[dict[str, Any] | None] = mapped_column()

    def __repr__(self) -> str:
        kind = self.event_type.name if self.event_type else None
        status = self.event_status.name if self.event_status else None
        return f"<OpsEvent {self.id} {kind} {status}>"


class OpsDBHistory(AuditColumns, Base):
    __tablename__ = "ops_db_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_type: Mapped[OpsDBHistoryType | None] = mapped_column(ops_enum(OpsDBHistoryType, "opsdbhistorytype"))
    event_details: Mapped[dict[str, Any] | None] = mapped_column()
    class_name: Mapped[str | None] = mapped_column(String)
    row_key: Mapped[str | None] = mapped_column(String)
    changes: Mapped[dict[str, Any] | None] = mapped_column()

    def __repr__(self) -> str:
        kind = self.event_type.name if self.event_type else None
        return f"<OpsDBHistory {self.id} {kind} {self.class_name}:{self.row_key}>"


# OPS's index for "the changes of one record, latest first".
Index(
    "idx_ops_db_history_class_name_row_key_created_on",
    OpsDBHistory.class_name,
    OpsDBHistory.row_key,
    OpsDBHistory.created_on.desc(),
)
