"""Declarative base, column types and the audit columns every model carries."""

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, registry
from sqlalchemy.types import TypeDecorator

from ops_api.clock import ensure_utc, utcnow


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always an aware UTC datetime in Python.

    PostgreSQL stores it as ``timestamptz``. SQLite has no time zones, so the
    value is stored as naive UTC text and made aware again when read; naive
    datetimes are refused on the way in so local time can never slip through.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = ensure_utc(value)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

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
    """created_by/updated_by/created_on/updated_on, as on every OPS model.

    The defaults are computed in Python (``utcnow``) so a frozen clock controls
    them. The audit listener fills created_by/updated_by from the acting user.
    """

    created_by: Mapped[int | None] = mapped_column(ForeignKey("ops_user.id"))
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("ops_user.id"))
    created_on: Mapped[datetime] = mapped_column(default=utcnow)
    updated_on: Mapped[datetime] = mapped_column(default=utcnow)
