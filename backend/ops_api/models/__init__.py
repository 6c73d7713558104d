"""The models: OPS's tables with OPS's names (users, events), and this project's own state (state)."""

from ops_api.models.base import Base, UTCDateTime
from ops_api.models.events import OpsDBHistory, OpsDBHistoryType, OpsEvent, OpsEventStatus, OpsEventType
from ops_api.models.state import (
    EmailRecord,
    FutureStamp,
    JobRun,
    MovedSession,
    RecordStatus,
    StampSource,
    UserActivity,
)
from ops_api.models.users import Role, RoleName, User, UserSession, UserStatus, user_role

__all__ = [
    "Base",
    "EmailRecord",
    "FutureStamp",
    "JobRun",
    "MovedSession",
    "OpsDBHistory",
    "OpsDBHistoryType",
    "OpsEvent",
    "OpsEventStatus",
    "OpsEventType",
    "RecordStatus",
    "Role",
    "RoleName",
    "StampSource",
    "User",
    "UserActivity",
    "UserSession",
    "UserStatus",
    "UTCDateTime",
    "user_role",
]
