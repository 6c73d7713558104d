"""OPS models, with OPS's table and column names."""

from ops_api.models.base import Base, UTCDateTime
from ops_api.models.events import OpsDBHistory, OpsDBHistoryType, OpsEvent, OpsEventStatus, OpsEventType
from ops_api.models.users import Role, RoleName, User, UserSession, UserStatus, user_role

__all__ = [
    "Base",
    "OpsDBHistory",
    "OpsDBHistoryType",
    "OpsEvent",
    "OpsEventStatus",
    "OpsEventType",
    "Role",
    "RoleName",
    "User",
    "UserSession",
    "UserStatus",
    "UTCDateTime",
    "user_role",
]
