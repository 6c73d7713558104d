"""Declarative base, column types and the audit columns every OPS model carries.

The models carry no schema. On PostgreSQL the engine translates the absent
schema into ``OPS_DB_SCHEMA`` (default ``ops``, where OPS keeps its tables), so
every statement names its tables in full whatever the connection's
search_path; SQLite, the embedded default, has no schemas.
"""

import enum
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, Enum, ForeignKey, MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, registry
from sqlalchemy.types import TypeDecorator

from ops_api.clock import ensure_utc, utcnow


class UTCDateTime(TypeDecorator[datetime]):
    """A ``timestamp without time zone`` holding UTC, seen in Python as an aware UTC datetime.

    OPS stores its timestamps without a time zone, UTC by convention. Aware
    values are converted to UTC and stored naive; naive values are refused on
    the way in, so local time can never slip through. Values read back are
    made aware again.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return ensure_utc(value).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


# JSONB where PostgreSQL offers it, plain JSON on SQLite.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def ops_enum(enum_class: type[enum.Enum], name: str) -> Enum:
    """OPS's native PostgreSQL enum type ``name``, holding member names (plain text on SQLite).

    The type already exists in an OPS database; the migration creates it only
    where it is missing, so the model never creates or drops it.
    """
    return Enum(
        enum_class,
        name=name,
        native_enum=True,
        create_constraint=False,
        validate_strings=True,
        length=max(len(member.name) for member in enum_class),
    )


class Base(DeclarativeBase):
    # One registry carries both, so Flask-SQLAlchemy's subclass of this base
    # inherits them unchanged.
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={
            datetime: UTCDateTime(),
            dict[str, Any]: JSONDocument,
        },
    )


class AuditColumns:
    """created_by/updated_by/created_on/updated_on, as on every OPS model (all nullable there).

    The defaults are computed in Python (``utcnow``) so a frozen clock controls
    them. The audit listener fills created_by/updated_by from the acting user.
    """

    created_by: Mapped[int | None] = mapped_column(ForeignKey("ops_user.id"))
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("ops_user.id"))
    created_on: Mapped[datetime | None] = mapped_column(default=utcnow)
    updated_on: Mapped[datetime | None] = mapped_column(default=utcnow)
