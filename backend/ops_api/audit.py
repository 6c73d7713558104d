"""The row-level audit trail: one ops_db_history row per inserted, updated or deleted model row.

The acting user is handed over explicitly with :func:`acting_as` on the
SQLAlchemy session, never read from Flask globals, so a web request, a CLI job
and a test record history the same way. History rows are written on the same
connection, in the same transaction, as the change they describe.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, insert, inspect, select, update
from sqlalchemy.orm import Session, UOWTransaction

from ops_api.clock import utcnow
from ops_api.models import OpsDBHistory, OpsDBHistoryType, OpsEvent, User, UserSession, user_role
from ops_api.models.base import AuditColumns
from ops_api.models.versions import VersionOperation
from ops_api.versioning import note_change

_ACTOR_KEY = "ops_actor_id"
_UPDATES_KEY = "ops_audit_updates"
_UNSET = object()

# Bookkeeping columns: they change with every edit and say nothing on their own.
_BOOKKEEPING = frozenset({"updated_on", "updated_by"})
# Moving these is the user's own activity, not an administrative change.
_ACTIVITY_ONLY: dict[type, frozenset[str]] = {UserSession: frozenset({"last_active_at"})}
_NOT_AUDITED = (OpsEvent, OpsDBHistory)


@contextmanager
def acting_as(session: Session, actor: User | None) -> Iterator[None]:
    """Attribute every change flushed inside the block to ``actor`` (None: no acting user)."""
    previous = session.info.get(_ACTOR_KEY, _UNSET)
    session.info[_ACTOR_KEY] = actor.id if actor is not None else None
    try:
        yield
    finally:
        if previous is _UNSET:
            session.info.pop(_ACTOR_KEY, None)
        else:
            session.info[_ACTOR_KEY] = previous


def current_actor_id(session: Session) -> int | None:
    return session.info.get(_ACTOR_KEY)


def to_json_value(value: Any) -> Any:
    """Render a column value for a JSON document: enums by name, datetimes in ISO 8601."""
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, Decimal)):
        return str(value)
    return value


def _is_audited(obj: object) -> bool:
    return isinstance(obj, AuditColumns) and not isinstance(obj, _NOT_AUDITED)


def _column_changes(session: Session, obj: object) -> dict[str, dict[str, Any]]:
    """Old and new values of every changed column (and of User.roles), before the flush."""
    state = inspect(obj)
    changed: dict[str, tuple[Any, Any]] = {}
    old_unknown = []
    for attr in state.mapper.column_attrs:
        if attr.key in _BOOKKEEPING:
            continue
        history = state.attrs[attr.key].history
        if not history.has_changes():
            continue
        if not history.deleted:
            # The attribute was expired (e.g. by a commit) and set without being
            # loaded, so the session never saw its old value: read it below.
            old_unknown.append(attr)
        changed[attr.key] = (history.deleted[0] if history.deleted else None, history.added[0] if history.added else None)
    if old_unknown and state.key is not None:
        table = state.mapper.local_table
        keys = state.mapper.primary_key_from_instance(obj)
        condition = [column == value for column, value in zip(state.mapper.primary_key, keys, strict=True)]
        row = session.connection().execute(
            select(*[attr.columns[0] for attr in old_unknown]).select_from(table).where(*condition)
        ).one()
        for attr, old in zip(old_unknown, row, strict=True):
            changed[attr.key] = (old, changed[attr.key][1])

    changes = {
        key: {"old": to_json_value(old), "new": to_json_value(new)}
        for key, (old, new) in changed.items()
        if old != new
    }
    if isinstance(obj, User):
        roles = state.attrs.roles.history
        if roles.added or roles.deleted:
            # OPS's shape for a collection: which members came and went.
            changes["roles"] = {
                "collection_of": "Role",
                "added": [_role_summary(role) for role in roles.added],
                "deleted": [_role_summary(role) for role in roles.deleted],
            }
    return changes


def _role_summary(role: Any) -> dict[str, Any]:
    return {"id": role.id, "name": role.name}


def _is_meaningful(obj: object, changes: dict[str, Any]) -> bool:
    if not changes:
        return False
    activity_only = _ACTIVITY_ONLY.get(type(obj), frozenset())
    return not set(changes) <= activity_only


def row_document(obj: object) -> dict[str, Any]:
    """The whole row as JSON, as OPS fills ``event_details``: every column, and the display name."""
    state = inspect(obj)
    document = {attr.key: to_json_value(state.dict.get(attr.key)) for attr in state.mapper.column_attrs}
    if isinstance(obj, User):
        if "roles" in state.dict:  # never load them just for this: a status change does not read roles
            document["roles"] = [_role_summary(role) for role in obj.roles]
        document["display_name"] = obj.display_name
    else:
        document["display_name"] = f"{type(obj).__name__}#{document.get('id')}"
    return document


def _new_row_changes(obj: object) -> dict[str, dict[str, Any]]:
    """OPS's shape for an insert: ``{"new": value}`` for every column given a value."""
    state = inspect(obj)
    changes = {}
    for attr in state.mapper.column_attrs:
        value = to_json_value(state.dict.get(attr.key))
        if value is not None and value != "":
            changes[attr.key] = {"new": value}
    if isinstance(obj, User) and obj.roles:
        changes["roles"] = {"collection_of": "Role", "added": [_role_summary(role) for role in obj.roles]}
    return changes


def row_key(obj: object) -> str:
    """OPS's ``row_key``: the primary key values joined with ``|``."""
    # New rows have no identity key yet in after_flush, but their primary key is set.
    state = inspect(obj)
    return "|".join(str(part) for part in state.mapper.primary_key_from_instance(obj))


@event.listens_for(Session, "before_flush")
def _collect_changes(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    # Updates are diffed here, while the database still holds the old values;
    # inserts and deletes are recorded after the flush, when keys are known.
    actor_id = current_actor_id(session)
    now = utcnow()
    for obj in session.new:
        if isinstance(obj, AuditColumns):
            if obj.created_by is None:
                obj.created_by = actor_id
            if obj.updated_by is None:
                obj.updated_by = actor_id
    updates = []
    for obj in session.dirty:
        if _is_audited(obj):
            changes = _column_changes(session, obj)
            if _is_meaningful(obj, changes):
                obj.updated_on = now
                obj.updated_by = actor_id
                updates.append((obj, changes))
    session.info[_UPDATES_KEY] = updates


def _stamp_granted_roles(session: Session, actor_id: int | None) -> None:
    """Give the user_role rows this flush inserted their acting user, as OPS's UserRole model gets one.

    user_role is a plain association table that the ORM writes for User.roles,
    so no model default can know who granted the role.
    """
    if actor_id is None:
        return
    granted: dict[int, list[int]] = {}
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, User) and "roles" in inspect(obj).dict:
            added = inspect(obj).attrs.roles.history.added or []
            if added:
                granted[obj.id] = [role.id for role in added]
    for user_id, role_ids in granted.items():
        session.connection().execute(
            update(user_role)
            .where(user_role.c.user_id == user_id, user_role.c.role_id.in_(role_ids))
            .values(created_by=actor_id, updated_by=actor_id)
        )


@event.listens_for(Session, "after_flush")
def _write_history(session: Session, flush_context: UOWTransaction) -> None:
    # In after_flush the session still shows the pre-flush new and deleted
    # sets, and primary keys are assigned.
    actor_id = current_actor_id(session)
    now = utcnow()
    rows: list[dict[str, Any]] = []

    def add(obj: object, kind: OpsDBHistoryType, changes: dict[str, Any]) -> None:
        rows.append(
            {
                "event_type": kind,
                "class_name": type(obj).__name__,
                "row_key": row_key(obj),
                "changes": changes,
                "event_details": row_document(obj),
                "created_by": actor_id,
                "updated_by": actor_id,
                "created_on": now,
                "updated_on": now,
            }
        )

    for obj in session.new:
        if _is_audited(obj):
            add(obj, OpsDBHistoryType.NEW, _new_row_changes(obj))
    for obj, changes in session.info.pop(_UPDATES_KEY, []):
        add(obj, OpsDBHistoryType.UPDATED, changes)
    for obj in session.deleted:
        if _is_audited(obj):
            add(obj, OpsDBHistoryType.DELETED, {})

    _stamp_granted_roles(session, actor_id)
    if rows:
        written = session.connection().execute(insert(OpsDBHistory).returning(OpsDBHistory.id), rows).scalars().all()
        note_change(session, OpsDBHistory.__tablename__, [(history_id,) for history_id in written], VersionOperation.INSERT)
