"""SQLAlchemy-Continuum's tables in OPS: ``transaction`` and a ``<table>_version`` shadow per table.

OPS versions every model with SQLAlchemy-Continuum (validity strategy, no
user class, no plugins). Each committed database transaction that changes a
versioned row gets one ``transaction`` row; each row it inserted, updated or
deleted gets a copy of its columns in ``<table>_version`` with that
transaction's id, the kind of change (``operation_type``), and an open
``end_transaction_id`` that the row's next version closes.

These are OPS's definitions of the shadows of the six tables this project
writes. This project's own tables (:mod:`ops_api.models.state`) are not
OPS's and have no shadows.
"""

import enum
from functools import cache
from typing import cast

from sqlalchemy import BigInteger, Column, Index, Integer, PrimaryKeyConstraint, SmallInteger, String, Table

from ops_api.models.base import Base, UTCDateTime
from ops_api.models.events import OpsDBHistory, OpsEvent
from ops_api.models.users import Role, User, UserSession, user_role


class VersionOperation(enum.IntEnum):
    """Continuum's ``operation_type``."""

    INSERT = 0
    UPDATE = 1
    DELETE = 2


# Continuum's own columns on every shadow table.
TRANSACTION_ID = "transaction_id"
END_TRANSACTION_ID = "end_transaction_id"
OPERATION_TYPE = "operation_type"

transaction = Table(
    "transaction",
    Base.metadata,
    # BIGSERIAL as OPS has it; SQLite allocates row ids only for INTEGER PRIMARY KEY.
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("remote_addr", String(50)),
    Column("issued_at", UTCDateTime()),
)


def _shadow(base: Table) -> Table:
    """``base``'s Continuum shadow: its columns, all nullable but the key, plus Continuum's three."""
    copied = [Column(column.name, column.type, nullable=not column.primary_key, autoincrement=False) for column in base.columns]
    name = f"{base.name}_version"
    return Table(
        name,
        Base.metadata,
        *copied,
        Column(TRANSACTION_ID, BigInteger(), nullable=False, autoincrement=False),
        Column(END_TRANSACTION_ID, BigInteger()),
        Column(OPERATION_TYPE, SmallInteger(), nullable=False),
        PrimaryKeyConstraint(*[column.name for column in base.primary_key.columns], TRANSACTION_ID),
        Index(f"ix_{name}_{TRANSACTION_ID}", TRANSACTION_ID),
        Index(f"ix_{name}_{END_TRANSACTION_ID}", END_TRANSACTION_ID),
        Index(f"ix_{name}_{OPERATION_TYPE}", OPERATION_TYPE),
    )


# The shadow of each table this project writes, by the base table's name.
VERSION_TABLES: dict[str, Table] = {
    base.name: _shadow(base)
    for base in (
        cast(Table, User.__table__),
        cast(Table, Role.__table__),
        user_role,
        cast(Table, UserSession.__table__),
        cast(Table, OpsEvent.__table__),
        cast(Table, OpsDBHistory.__table__),
    )
}


@cache
def versioned_columns(table_name: str) -> frozenset[str]:
    """The columns of base table ``table_name`` that OPS's shadow copies."""
    shadow = VERSION_TABLES[table_name]
    return frozenset(column.name for column in shadow.columns) - {TRANSACTION_ID, END_TRANSACTION_ID, OPERATION_TYPE}
