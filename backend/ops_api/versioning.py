"""OPS's version trail: the rows SQLAlchemy-Continuum writes in OPS, written for this project's changes.

In OPS, SQLAlchemy-Continuum hooks into OPS's models and, for every committed
transaction that changes a versioned row, writes one ``transaction`` row and
a copy of each changed row in ``<table>_version`` (see
:mod:`ops_api.models.versions`). This project's models are its own, so it
writes those rows itself, in the same transaction as the change: a status
change by the job leaves the same trail as a System Admin's change in OPS.

How:

* Every ORM flush notes the versioned rows it inserted, updated (only when a
  column OPS versions changed, as Continuum does) or deleted. Statements
  written in Core note theirs with :func:`note_change`.
* Just before the session commits, the notes become one ``transaction`` row
  (``issued_at``: the first change noted, as Continuum stamps its first
  versioned flush), a copy of each noted row as committed (read back with
  ``INSERT ... SELECT``, so every column is the database's), and the closing
  of each row's previous version (``end_transaction_id``, Continuum's
  validity strategy).
* A rollback drops the notes; rolling back to a savepoint drops those made
  since. A database without a ``transaction`` table (neither OPS's nor made by
  this project's migrations) gets no version rows, and a warning says so.

One difference from Continuum: a ``user_role`` version copies the whole row
and is closed by the next one, where Continuum's association versions carry
only what the ORM's statement named and stay open.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Insert,
    SmallInteger,
    Table,
    Update,
    event,
    insert,
    inspect,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction

from ops_api.clock import utcnow
from ops_api.models import Base, User, user_role
from ops_api.models.versions import (
    END_TRANSACTION_ID,
    OPERATION_TYPE,
    TRANSACTION_ID,
    VERSION_TABLES,
    VersionOperation,
    transaction,
    versioned_columns,
)
from ops_api.sql import batched, schema_of

_NOTES = "ops_version_notes"
_FIRST_NOTED = "ops_version_first_noted"
_SAVEPOINTS = "ops_version_savepoint_notes"
_KNOWN_TRAIL = "ops_version_trail_schemas"
_WARNED_NO_TRAIL = "ops_version_trail_warned"
_BATCH = 1000  # rows per statement, far below any driver's parameter limit

logger = logging.getLogger(__name__)

Key = tuple[Any, ...]
T = TypeVar("T")
# Per base table: row key -> (operation, the row's columns for a delete, else None).
Notes = dict[str, dict[Key, tuple[VersionOperation, dict[str, Any] | None]]]


def note_change(
    session: Session, table_name: str, keys: Iterable[Key], operation: VersionOperation, snapshot: dict[str, Any] | None = None
) -> None:
    """Note that the current transaction changed the rows ``keys`` (primary key tuples) of ``table_name``.

    For a delete, ``snapshot`` holds the row's columns (the row is gone by
    commit time). Several changes to one row in one transaction make one
    version, as in Continuum: the latest change names it (inserted, then
    updated by a later flush: an update), and a row deleted and inserted
    again was updated.
    """
    if table_name not in VERSION_TABLES:
        return
    session.info.setdefault(_FIRST_NOTED, utcnow())
    rows = session.info.setdefault(_NOTES, {}).setdefault(table_name, {})
    for key in keys:
        earlier = rows.get(key)
        if earlier is not None and earlier[0] is VersionOperation.DELETE and operation is VersionOperation.INSERT:
            rows[key] = (VersionOperation.UPDATE, None)
        else:
            rows[key] = (operation, snapshot)


def _table_of(obj: object) -> Table | None:
    table = getattr(type(obj), "__table__", None)
    return table if isinstance(table, Table) and table.name in VERSION_TABLES else None


def _key(obj: object) -> Key:
    return tuple(inspect(obj).mapper.primary_key_from_instance(obj))


def _changed_versioned_column(obj: object, table_name: str) -> bool:
    state = inspect(obj)
    columns = versioned_columns(table_name)
    return any(
        state.attrs[attr.key].history.has_changes() for attr in state.mapper.column_attrs if attr.columns[0].name in columns
    )


def _note_roles(session: Session, user: User, added: Sequence[Any], deleted: Sequence[Any]) -> None:
    # user_role is a plain association table: the ORM writes it for User.roles.
    note_change(session, user_role.name, [(user.id, role.id) for role in added], VersionOperation.INSERT)
    for role in deleted:
        note_change(
            session, user_role.name, [(user.id, role.id)], VersionOperation.DELETE, {"user_id": user.id, "role_id": role.id}
        )


@event.listens_for(Session, "after_flush")
def _note_flushed_changes(session: Session, flush_context: UOWTransaction) -> None:
    # In after_flush the session still shows the pre-flush new, dirty and
    # deleted sets and attribute histories, and new rows have their keys.
    for obj in session.new:
        table = _table_of(obj)
        if table is not None:
            note_change(session, table.name, [_key(obj)], VersionOperation.INSERT)
        if isinstance(obj, User) and "roles" in inspect(obj).dict:
            _note_roles(session, obj, obj.roles, [])
    for obj in session.dirty:
        table = _table_of(obj)
        if table is None:
            continue
        if _changed_versioned_column(obj, table.name):
            note_change(session, table.name, [_key(obj)], VersionOperation.UPDATE)
        if isinstance(obj, User):
            roles = inspect(obj).attrs.roles.history
            _note_roles(session, obj, roles.added or [], roles.deleted or [])
    for obj in session.deleted:
        table = _table_of(obj)
        if table is None:
            continue
        state = inspect(obj)
        columns = versioned_columns(table.name)
        snapshot = {attr.columns[0].name: state.dict.get(attr.key) for attr in state.mapper.column_attrs if attr.columns[0].name in columns}
        note_change(session, table.name, [_key(obj)], VersionOperation.DELETE, snapshot)


@event.listens_for(Session, "before_commit")
def _write_noted_versions(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: its notes wait for the real commit
    # Flush until nothing is left (a flush's listeners may add objects), so
    # every change is noted and every noted row holds its committed values.
    for _ in range(100):
        if not (session.new or session.dirty or session.deleted):
            break
        session.flush()
    notes: Notes | None = session.info.pop(_NOTES, None)
    issued_at = session.info.pop(_FIRST_NOTED, None) or utcnow()
    if notes:
        write_versions(session.connection(), notes, schema=schema_of(session), issued_at=issued_at)


@event.listens_for(Session, "after_commit")
def _check_nothing_left(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: its notes are the real commit's
    if session.info.get(_NOTES):
        logger.error(
            "changes noted after the version trail was written are not in OPS's version tables",
            extra={"event": "version_trail_incomplete", "tables": sorted(session.info[_NOTES])},
        )


@event.listens_for(Session, "after_transaction_create")
def _remember_notes_at_savepoint(session: Session, started: SessionTransaction) -> None:
    if started.nested:
        saved = {table: dict(rows) for table, rows in session.info.get(_NOTES, {}).items()}
        session.info.setdefault(_SAVEPOINTS, {})[id(started)] = saved


@event.listens_for(Session, "after_soft_rollback")
def _restore_notes_of_savepoint(session: Session, rolled_back: SessionTransaction) -> None:
    # Fired after the savepoint's after_transaction_end; a released savepoint's
    # copy is dropped with the rest when the whole transaction ends.
    saved = session.info.get(_SAVEPOINTS, {}).pop(id(rolled_back), None)
    if rolled_back.nested and saved is not None:
        session.info[_NOTES] = saved


@event.listens_for(Session, "after_transaction_end")
def _forget_notes(session: Session, ended: SessionTransaction) -> None:
    if ended.parent is None and not ended.nested:  # the whole transaction, committed or rolled back
        for key in (_NOTES, _FIRST_NOTED, _SAVEPOINTS):
            session.info.pop(key, None)


def has_version_trail(connection: Connection, schema: str | None) -> bool:
    """Whether the database keeps Continuum's trail (has its ``transaction`` table); remembered once seen."""
    known: set[str | None] = connection.info.setdefault(_KNOWN_TRAIL, set())
    if schema in known:
        return True
    if inspect(connection).has_table(transaction.name, schema=schema):
        known.add(schema)
        return True
    warned: set[str | None] = connection.info.setdefault(_WARNED_NO_TRAIL, set())
    if schema not in warned:
        warned.add(schema)
        logger.warning(
            "no %s table: changes are committed without OPS's version trail (run flask db upgrade)",
            transaction.name,
            extra={"event": "version_trail_missing", "schema": schema},
        )
    return False


def _key_condition(table: Table, key_columns: Sequence[str], keys: Sequence[Key]) -> Any:
    if len(key_columns) == 1:
        return table.c[key_columns[0]].in_([key[0] for key in keys])
    return tuple_(*[table.c[name] for name in key_columns]).in_(list(keys))


def _trail_statements(notes: Notes, transaction_id: ColumnElement[Any]) -> list[Insert | Update]:
    """The statements that write ``notes`` as versions of transaction ``transaction_id`` (an SQL expression)."""
    statements: list[Insert | Update] = []
    # Tables in name order: one statement shape (one compiled-cache entry) per kind of change.
    for table_name, rows in sorted(notes.items()):
        if not rows:
            continue
        base = Base.metadata.tables[table_name]
        shadow = VERSION_TABLES[table_name]
        columns = [column.name for column in shadow.columns if column.name in versioned_columns(table_name)]
        key_columns = [column.name for column in base.primary_key.columns]
        copied: dict[VersionOperation, list[Key]] = defaultdict(list)
        snapshots = []
        for key, (operation, snapshot) in rows.items():
            if snapshot is None:
                copied[operation].append(key)
            else:
                snapshots.append({**dict.fromkeys(columns), **snapshot, TRANSACTION_ID: transaction_id, OPERATION_TYPE: int(operation)})
        for operation, keys in copied.items():
            for batch in batched(keys, _BATCH):
                statements.append(
                    insert(shadow).from_select(
                        [*columns, TRANSACTION_ID, OPERATION_TYPE],
                        select(
                            *[base.c[name] for name in columns], transaction_id, literal(int(operation), SmallInteger())
                        ).where(_key_condition(base, key_columns, batch)),
                    )
                )
        for chunk in batched(snapshots, _BATCH):
            statements.append(insert(shadow).values(list(chunk)))
        if all(operation is VersionOperation.INSERT for operation, _ in rows.values()):
            continue  # new keys: no earlier version to close
        # Close each row's previous version.
        for batch in batched(list(rows), _BATCH):
            statements.append(
                update(shadow)
                .where(
                    _key_condition(shadow, key_columns, batch),
                    shadow.c[END_TRANSACTION_ID].is_(None),
                    shadow.c[TRANSACTION_ID] != transaction_id,
                )
                .values({END_TRANSACTION_ID: transaction_id})
            )
    return statements


def write_versions(connection: Connection, notes: Notes, *, schema: str | None, issued_at: datetime) -> int | None:
    """Write one Continuum transaction for ``notes`` on ``connection``, inside its open transaction.

    Returns the transaction's id, or None when the database keeps no trail.
    The caller commits. On PostgreSQL a transaction of up to _BATCH rows is
    written in one statement (data-modifying CTEs), so the job's per-user
    transactions pay one round trip for their trail.
    """
    if not any(notes.values()) or not has_version_trail(connection, schema):
        return None
    new_transaction = insert(transaction).values(issued_at=issued_at, remote_addr=None).returning(transaction.c.id)
    if connection.dialect.name == "postgresql" and sum(len(rows) for rows in notes.values()) <= _BATCH:
        created = new_transaction.cte("new_transaction")
        steps = [
            statement.cte(f"version_{number}")
            for number, statement in enumerate(_trail_statements(notes, select(created.c.id).scalar_subquery()))
        ]
        written: int = connection.execute(select(created.c.id).add_cte(*steps)).scalar_one()
        return written
    transaction_id: int = connection.execute(new_transaction).scalar_one()
    for statement in _trail_statements(notes, literal(transaction_id, BigInteger())):
        connection.execute(statement)
    return transaction_id
