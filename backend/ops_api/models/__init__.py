"""The models: OPS's tables with OPS's names (users, events), and this project's own state (state).

Owns the tables as SQLAlchemy classes (``base``, ``users``, ``events``,
``state``), the shadow tables of OPS's version trail (``versions``) and the SQL
of the triggers that keep this project's view of OPS's tables (``triggers``).

May import: SQLAlchemy, the domain, and the shared helpers at the package's
root that need nothing above them (``clock``, ``sql``). Never a service, an
adapter or an entry point. Entry points never import a model: they name the
types a service hands back (``ops_api.services.users``).
"""

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
